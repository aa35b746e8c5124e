import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import { QB_STATUSES } from "./constants";

/**
 * Named counters. One document per name keeps status counts and the event
 * sequence readable in O(1) instead of counting a growing table.
 */
export async function readCounter(db: DatabaseReader, name: string): Promise<number> {
  const row = await db
    .query("inventory_counters")
    .withIndex("by_name", (q) => q.eq("name", name))
    .unique();
  return row?.value ?? 0;
}

export async function addToCounter(
  db: DatabaseWriter,
  name: string,
  delta: number,
): Promise<number> {
  const row = await db
    .query("inventory_counters")
    .withIndex("by_name", (q) => q.eq("name", name))
    .unique();
  if (row === null) {
    await db.insert("inventory_counters", { name, value: delta });
    return delta;
  }
  const value = row.value + delta;
  await db.patch(row._id, { value });
  return value;
}

export const EVENT_SEQUENCE = "events:sequence";
export const qbStatusCounter = (status: string) => `qbStatus:${status}`;

/** Events per qbStatus, from the counters (one read each, whatever the table's size). */
export async function qbStatusCounts(db: DatabaseReader): Promise<Record<string, number>> {
  return Object.fromEntries(await Promise.all(QB_STATUSES.map(async (s) => [s, await readCounter(db, qbStatusCounter(s))] as const)));
}
