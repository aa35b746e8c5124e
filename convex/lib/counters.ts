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

/**
 * Events per qbStatus, from the counters: one index range over the "qbStatus:"
 * names (a handful of documents, whatever the events table's size), not one
 * lookup per status.
 */
export async function qbStatusCounts(db: DatabaseReader): Promise<Record<string, number>> {
  const prefix = qbStatusCounter("");
  // ";" sorts right after ":", so the range holds exactly the names that start with the prefix.
  const rows = await db
    .query("inventory_counters")
    .withIndex("by_name", (q) => q.gte("name", prefix).lt("name", `${prefix.slice(0, -1)};`))
    .take(QB_STATUSES.length * 2);
  const values = new Map(rows.map((row) => [row.name, row.value]));
  return Object.fromEntries(QB_STATUSES.map((s) => [s, values.get(qbStatusCounter(s)) ?? 0]));
}
