/**
 * Hourly figures for the operator page's chart: events applied / failed /
 * dead per hour, and the queue's depth and oldest due age as sampled at each
 * authenticate (QBWC polls every few minutes, so every hour gets samples
 * while the Web Connector runs). One small row per hour, kept STATS_KEEP_MS.
 */
import type { Doc } from "../_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import type { QbStatus } from "./constants";
import { qbStatusCounter, readCounter } from "./counters";

export const HOUR_MS = 60 * 60 * 1000;
export const STATS_KEEP_MS = 14 * 24 * HOUR_MS;
type Hour = Doc<"sync_stats_hourly">;

const hourOf = (now: number) => Math.floor(now / HOUR_MS) * HOUR_MS;

async function hourRow(db: DatabaseWriter, now: number): Promise<Hour> {
  const hour = hourOf(now);
  const existing = await db
    .query("sync_stats_hourly")
    .withIndex("by_hour", (q) => q.eq("hour", hour))
    .first();
  if (existing !== null) return existing;
  const id = await db.insert("sync_stats_hourly", { hour, applied: 0, failed: 0, dead: 0, samples: 0, depthMax: 0, oldestDueAgeMaxSec: 0 });
  return (await db.get(id)) as Hour;
}

/** Counts an event that just became applied, failed or dead. */
export async function countTransition(db: DatabaseWriter, to: QbStatus, now: number): Promise<void> {
  if (to !== "applied" && to !== "failed" && to !== "dead") return;
  const row = await hourRow(db, now);
  await db.patch(row._id, { [to]: row[to] + 1 });
}

/** Samples the queue (waiting events, oldest due age) into this hour's row; drops rows past keeping. */
export async function sampleQueue(db: DatabaseWriter, oldestDueAt: number | null, now: number): Promise<void> {
  const depth = (await readCounter(db, qbStatusCounter("pending"))) + (await readCounter(db, qbStatusCounter("failed")));
  const age = oldestDueAt === null ? 0 : Math.max(0, Math.round((now - oldestDueAt) / 1000));
  const row = await hourRow(db, now);
  // An idle poll that changes no figure writes nothing more than the hour's first row.
  if (row.samples === 0 || depth > row.depthMax || age > row.oldestDueAgeMaxSec) {
    await db.patch(row._id, { samples: row.samples + 1, depthMax: Math.max(row.depthMax, depth), oldestDueAgeMaxSec: Math.max(row.oldestDueAgeMaxSec, age) });
  }
  const old = await db
    .query("sync_stats_hourly")
    .withIndex("by_hour", (q) => q.lt("hour", now - STATS_KEEP_MS))
    .take(10);
  for (const stale of old) await db.delete(stale._id);
}

/** The last `hours` hours, oldest first (hours without a row are absent). */
export async function recentHours(db: DatabaseReader, hours: number, now: number): Promise<Hour[]> {
  return await db
    .query("sync_stats_hourly")
    .withIndex("by_hour", (q) => q.gte("hour", hourOf(now) - (hours - 1) * HOUR_MS))
    .take(hours);
}
