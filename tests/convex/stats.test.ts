/**
 * Hourly figures for the operator page (lib/stats.ts): transitions counted per
 * hour (applied / failed / dead only), the queue sampled at authenticate (max
 * depth and max oldest-due age per hour, no write when an idle poll changes no
 * figure), rows pruned after STATS_KEEP_MS, and the recentHours window.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { internal } from "../../convex/_generated/api";
import { DEFAULT_SESSION_TTL_MS, QB_STATUSES } from "../../convex/lib/constants";
import { HOUR_MS, STATS_KEEP_MS, countTransition, recentHours, sampleQueue } from "../../convex/lib/stats";
import { type T, allApplied, answer, documentsWrittenBy, newTest, openSession, seedWorld, sendNext, stock } from "./setup";

// 09:20 into an hour, so "the same hour" and "the next hour" are both reachable.
const T0 = new Date("2026-03-03T09:20:00Z").getTime();
const HOUR0 = new Date("2026-03-03T09:00:00Z").getTime();
const MINUTE = 60_000;

let t: T;

beforeEach(async () => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
  t = newTest();
  await seedWorld(t);
});

afterEach(() => {
  vi.useRealTimers();
});

const at = (ms: number) => vi.setSystemTime(T0 + ms);
const hours = () => t.run(async (ctx) => await ctx.db.query("sync_stats_hourly").withIndex("by_hour").collect());
const figures = (row: { hour: number; applied: number; failed: number; dead: number; samples: number; depthMax: number; oldestDueAgeMaxSec: number }) => ({
  hour: row.hour,
  applied: row.applied,
  failed: row.failed,
  dead: row.dead,
  samples: row.samples,
  depthMax: row.depthMax,
  oldestDueAgeMaxSec: row.oldestDueAgeMaxSec,
});
const emptyHour = (hour: number) => ({ hour, applied: 0, failed: 0, dead: 0, samples: 0, depthMax: 0, oldestDueAgeMaxSec: 0 });

/** Sets the pending / failed counters sampleQueue reads, as the queue's transitions would. */
async function setCounters(pending: number, failed: number) {
  await t.run(async (ctx) => {
    for (const [name, value] of [
      ["qbStatus:pending", pending],
      ["qbStatus:failed", failed],
    ] as const) {
      const row = await ctx.db
        .query("inventory_counters")
        .withIndex("by_name", (q) => q.eq("name", name))
        .unique();
      if (row === null) await ctx.db.insert("inventory_counters", { name, value });
      else await ctx.db.patch(row._id, { value });
    }
  });
}

describe("countTransition", () => {
  test("counts applied, failed and dead in the hour's row; every other status writes nothing", async () => {
    for (const status of QB_STATUSES) {
      if (status === "applied" || status === "failed" || status === "dead") continue;
      expect(await documentsWrittenBy(t, (ctx) => countTransition(ctx.db, status, T0))).toBe(0);
    }
    expect(await hours()).toEqual([]);

    await t.run(async (ctx) => {
      await countTransition(ctx.db, "applied", T0);
      await countTransition(ctx.db, "applied", T0 + 39 * MINUTE); // 09:59, the same hour
      await countTransition(ctx.db, "failed", HOUR0);
      await countTransition(ctx.db, "dead", T0);
      await countTransition(ctx.db, "applied", HOUR0 + HOUR_MS); // 10:00, the next hour
      await countTransition(ctx.db, "dead", HOUR0 - 1); // 08:59, the hour before
    });
    expect((await hours()).map(figures)).toEqual([
      { ...emptyHour(HOUR0 - HOUR_MS), dead: 1 },
      { ...emptyHour(HOUR0), applied: 2, failed: 1, dead: 1 },
      { ...emptyHour(HOUR0 + HOUR_MS), applied: 1 },
    ]);
  });

  test("through the queue: an answer's applied / retryable / permanent outcomes land in the hour they happen; claims do not count", async () => {
    await stock(t, "WID-1", "MAIN", 1);
    await stock(t, "WID-1", "MAIN", 2);
    await stock(t, "WID-1", "MAIN", 3);
    await openSession(t, "s1");
    const events = await sendNext(t, "s1", 3);
    expect(events).toHaveLength(3);
    // Claimed (in flight): not a figure.
    expect((await hours()).map((h) => [h.applied, h.failed, h.dead])).toEqual([[0, 0, 0]]);
    at(50 * MINUTE); // 10:10
    const [a, b, c] = events;
    await answer(t, "s1", [
      ...allApplied([a]),
      { requestId: b.claimToken as string, outcome: { kind: "retryable", message: "busy", statusCode: "3180" } },
      { requestId: c.claimToken as string, outcome: { kind: "permanent", message: "bad", statusCode: "3140" } },
    ]);
    const rows = (await hours()).map(figures);
    expect(rows.find((r) => r.hour === HOUR0 + HOUR_MS)).toMatchObject({ applied: 1, failed: 1, dead: 1 });
    expect(rows.find((r) => r.hour === HOUR0)).toMatchObject({ applied: 0, failed: 0, dead: 0 });
  });
});

describe("sampleQueue", () => {
  const sample = (oldestDueAt: number | null, now: number) => documentsWrittenBy(t, (ctx) => sampleQueue(ctx.db, oldestDueAt, now));

  test("keeps the hour's maximum depth (pending + failed) and maximum oldest-due age; an idle poll that changes no figure writes nothing", async () => {
    await t.run(async (ctx) => {
      for (const row of await ctx.db.query("sync_stats_hourly").collect()) await ctx.db.delete(row._id);
    });
    await setCounters(3, 2);
    // The hour's first sample: its row, with the figures.
    expect(await sample(T0 - 90_000, T0)).toBeGreaterThan(0);
    expect((await hours()).map(figures)).toEqual([{ ...emptyHour(HOUR0), samples: 1, depthMax: 5, oldestDueAgeMaxSec: 90 }]);

    // Lower depth, lower age: nothing written.
    await setCounters(1, 0);
    expect(await sample(T0 + 5 * MINUTE - 10_000, T0 + 5 * MINUTE)).toBe(0);
    // The same figures again: nothing written. Nothing due (null): nothing written.
    await setCounters(3, 2);
    expect(await sample(T0 + 6 * MINUTE - 90_000, T0 + 6 * MINUTE)).toBe(0);
    expect(await sample(null, T0 + 7 * MINUTE)).toBe(0);
    expect((await hours()).map(figures)).toEqual([{ ...emptyHour(HOUR0), samples: 1, depthMax: 5, oldestDueAgeMaxSec: 90 }]);

    // A deeper queue raises depthMax only; an older due event raises the age only.
    await setCounters(7, 0);
    expect(await sample(T0 + 8 * MINUTE - 1_000, T0 + 8 * MINUTE)).toBe(1);
    await setCounters(0, 1);
    expect(await sample(T0 + 9 * MINUTE - 600_000, T0 + 9 * MINUTE)).toBe(1);
    expect((await hours()).map(figures)).toEqual([{ ...emptyHour(HOUR0), samples: 3, depthMax: 7, oldestDueAgeMaxSec: 600 }]);

    // A due time in the future is age 0, never negative; the next hour starts afresh.
    await setCounters(0, 0);
    expect(await sample(HOUR0 + HOUR_MS + 5 * MINUTE, HOUR0 + HOUR_MS)).toBeGreaterThan(0);
    expect((await hours()).map(figures)).toEqual([
      { ...emptyHour(HOUR0), samples: 3, depthMax: 7, oldestDueAgeMaxSec: 600 },
      { ...emptyHour(HOUR0 + HOUR_MS), samples: 1 },
    ]);
  });

  test("authenticate samples the queue: its depth from the status counters, its age from the oldest due event", async () => {
    await stock(t, "WID-1", "MAIN", 1);
    at(30_000);
    await stock(t, "WID-1", "MAIN", 1);
    at(2 * MINUTE);
    expect(await t.mutation(internal.qbSessions.authenticate, { ticketHash: "a1", userName: "qbwc", ttlMs: DEFAULT_SESSION_TTL_MS })).toMatchObject({ status: "open" });
    expect((await hours()).map(figures)).toEqual([{ ...emptyHour(HOUR0), samples: 1, depthMax: 2, oldestDueAgeMaxSec: 120 }]);
    // Idle (nothing due, no session): the poll still answers "none", and writes nothing.
    await t.mutation(internal.qbSessions.close, { ticketHash: "a1", reason: "closeConnection" });
    await t.run(async (ctx) => {
      for (const e of await ctx.db.query("inventory_events").collect()) await ctx.db.patch(e._id, { qbStatus: "applied", appliedAt: Date.now() });
    });
    await setCounters(0, 0);
    at(3 * MINUTE);
    const written = await documentsWrittenBy(t, (ctx) =>
      ctx.runMutation(internal.qbSessions.authenticate, { ticketHash: "a2", userName: "qbwc", ttlMs: DEFAULT_SESSION_TTL_MS }),
    );
    expect(written).toBe(0);
  });

  test(`drops rows older than STATS_KEEP_MS (${STATS_KEEP_MS / HOUR_MS} h), a bounded batch per call`, async () => {
    const now = HOUR0 + 30 * MINUTE;
    await t.run(async (ctx) => {
      for (let h = 1; h <= 12; h++) await ctx.db.insert("sync_stats_hourly", { ...emptyHour(now - STATS_KEEP_MS - h * HOUR_MS), applied: h });
      // Exactly at the edge (an hour that started STATS_KEEP_MS - 30 min ago): kept.
      await ctx.db.insert("sync_stats_hourly", { ...emptyHour(HOUR0 - STATS_KEEP_MS + HOUR_MS), applied: 99 });
    });
    await t.run(async (ctx) => await sampleQueue(ctx.db, null, now));
    const after1 = await hours();
    expect(after1.filter((r) => r.hour < now - STATS_KEEP_MS).length).toBeLessThan(12);
    await t.run(async (ctx) => await sampleQueue(ctx.db, null, now));
    await t.run(async (ctx) => await sampleQueue(ctx.db, null, now));
    const left = await hours();
    expect(left.filter((r) => r.hour < now - STATS_KEEP_MS)).toEqual([]);
    expect(left.map((r) => r.hour)).toEqual([HOUR0 - STATS_KEEP_MS + HOUR_MS, HOUR0]);
  });
});

describe("recentHours", () => {
  test("the last N hours, oldest first, the current one included; hours without a row are absent", async () => {
    const now = HOUR0 + 45 * MINUTE;
    await t.run(async (ctx) => {
      for (let h = 0; h <= 30; h++) {
        if (h % 5 === 2) continue; // hours with nothing
        await ctx.db.insert("sync_stats_hourly", { ...emptyHour(HOUR0 - h * HOUR_MS), applied: h });
      }
    });
    const rows = await t.run(async (ctx) => await recentHours(ctx.db, 24, now));
    const expected = [];
    for (let h = 23; h >= 0; h--) if (h % 5 !== 2) expected.push(HOUR0 - h * HOUR_MS);
    expect(rows.map((r) => r.hour)).toEqual(expected);
    expect(rows.map((r) => r.applied)).toEqual(expected.map((hour) => (HOUR0 - hour) / HOUR_MS));
    expect((await t.run(async (ctx) => await recentHours(ctx.db, 1, now))).map((r) => r.hour)).toEqual([HOUR0]);
  });
});
