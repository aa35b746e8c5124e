/**
 * Documents read by the bridge's hot paths must not grow with the backlog.
 * Backlogs are inserted directly (fast) with a mix that makes the index
 * ranges matter: most events are applied, dead, failed-but-not-due or in
 * flight with a live lease, and only a slice is actually eligible.
 *
 * Reads are measured on the registered functions themselves: a nested
 * `ctx.runQuery` / `ctx.runMutation` inside `t.run` folds its usage into the
 * outer transaction, so the difference of `ctx.meta.getTransactionMetrics()`
 * before and after is exactly what the function read.
 */
import { afterAll, afterEach, beforeEach, expect, test, vi } from "vitest";
import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { MAX_RETRIES } from "../../convex/lib/constants";
import { type T, newTest, openSession, seedWorld } from "./setup";

const T0 = new Date("2025-11-03T10:00:00Z").getTime();
const BATCH = 25;
const SIZES = [1_000, 20_000];
/** Claims whose lease lapsed: a fixed number in every backlog (they are claimed first). */
const LAPSED = 5;

beforeEach(() => {
  // Only Date is faked: performance.now() must stay real to time the build.
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
});

afterEach(() => {
  vi.useRealTimers();
});

type Status = "pending" | "failed-due" | "failed-later" | "in_flight" | "applied" | "dead";

/** Share of the backlog per state; eligible work (pending + failed-due) is 15%. */
const MIX: [Status, number][] = [
  ["applied", 0.4],
  ["failed-later", 0.25],
  ["dead", 0.1],
  ["in_flight", 0.1],
  ["pending", 0.1],
  ["failed-due", 0.05],
];

async function buildBacklog(t: T, size: number, sessionId: Id<"qb_sync_sessions">) {
  const refs = await t.run(async (ctx) => {
    const part = (await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", "WID-1")).unique())!;
    const location = (await ctx.db.query("inventory_locations").withIndex("by_code", (q) => q.eq("code", "TRUCK")).unique())!;
    const account = (await ctx.db.query("inventory_reason_accounts").withIndex("by_reasonCode", (q) => q.eq("reasonCode", "COUNT")).unique())!;
    return { partId: part._id, locationId: location._id, reasonAccountId: account._id };
  });
  const plan: Status[] = [];
  for (const [status, share] of MIX) for (let i = 0; i < Math.round(size * share); i++) plan.push(status);
  // Interleave states (a fixed permutation: 7919 is prime) so each index
  // range is scattered through creation order.
  const shuffled = plan.map((status, i) => ({ status, key: (i * 7919) % plan.length })).sort((a, b) => a.key - b.key);

  const CHUNK = 2_500;
  for (let start = 0; start < shuffled.length; start += CHUNK) {
    await t.run(async (ctx) => {
      for (let i = start; i < Math.min(start + CHUNK, shuffled.length); i++) {
        const { status } = shuffled[i];
        const age = shuffled.length - i; // older events first
        const base = {
          type: "adjustment" as const,
          status: "posted" as const,
          refNumber: `AD-${String(i + 1).padStart(6, "0")}`,
          occurredAt: T0 - age * 1000,
          createdBy: "bulk",
          lineCount: 1,
          locationId: refs.locationId,
          reasonCode: "COUNT",
          reasonAccountId: refs.reasonAccountId,
          mode: "delta" as const,
          retryCount: 0,
          nextAttemptAt: T0 - age * 1000,
          claimCount: 0,
        };
        const fields =
          status === "pending"
            ? { qbStatus: "pending" as const }
            : status === "failed-due"
              ? { qbStatus: "failed" as const, retryCount: 2, lastError: "busy" }
              : status === "failed-later"
                ? { qbStatus: "failed" as const, retryCount: 4, nextAttemptAt: T0 + 3_600_000 + i, lastError: "busy" }
                : status === "in_flight"
                  ? { qbStatus: "in_flight" as const, claimCount: 1, claimToken: `bulk:${i}`, claimSessionId: sessionId, leaseExpiresAt: T0 + 600_000 + i }
                  : status === "applied"
                    ? { qbStatus: "applied" as const, qbTxnId: `TX-${i}`, appliedAt: T0 - age * 500 }
                    : { qbStatus: "dead" as const, retryCount: MAX_RETRIES + 1, lastError: "gave up" };
        const eventId = await ctx.db.insert("inventory_events", { ...base, ...fields });
        await ctx.db.insert("inventory_event_lines", { eventId, lineNo: 1, partId: refs.partId, quantity: 1 });
      }
    });
  }
  // A fixed handful of lapsed claims, the same in every backlog.
  return await t.run(async (ctx) => {
    const live = await ctx.db
      .query("inventory_events")
      .withIndex("by_qbStatus_leaseExpiresAt", (q) => q.eq("qbStatus", "in_flight"))
      .take(LAPSED);
    for (const event of live) await ctx.db.patch(event._id, { leaseExpiresAt: T0 - 1000 });
    return live.map((event) => event._id);
  });
}

type Figures = { size: number; buildMs: number; nextRead: number; nextQueries: number; claimRead: number; claimWritten: number; claimed: number; statusRead: number; applyRead: number };
const figures: Figures[] = [];

async function measure(size: number): Promise<Figures> {
  const t = newTest();
  await seedWorld(t);
  const bulkSession = await openSession(t, "bulk-session", 30 * 24 * 3600 * 1000);
  const started = performance.now();
  const lapsed = await buildBacklog(t, size, bulkSession);
  const buildMs = Math.round(performance.now() - started);
  const sessionId = await openSession(t, "measure-session");

  const next = await t.run(async (ctx) => {
    const before = await ctx.meta.getTransactionMetrics();
    const payload = await ctx.runQuery(internal.qbQueue.getNextPendingQbEvent, {});
    const after = await ctx.meta.getTransactionMetrics();
    return { payload, read: after.documentsRead.used - before.documentsRead.used, queries: after.databaseQueries.used - before.databaseQueries.used };
  });
  expect(lapsed).toContain(next.payload?.eventId); // lapsed claims come first

  const claim = await t.run(async (ctx) => {
    const before = await ctx.meta.getTransactionMetrics();
    const claimed = await ctx.runMutation(internal.qbQueue.claimBatch, { sessionId, limit: BATCH });
    const after = await ctx.meta.getTransactionMetrics();
    return {
      claimed,
      read: after.documentsRead.used - before.documentsRead.used,
      written: after.documentsWritten.used - before.documentsWritten.used,
    };
  });
  expect(claim.claimed).toHaveLength(BATCH);
  expect(claim.claimed.filter((c) => c.mode === "lookup")).toHaveLength(LAPSED);

  // Not required to be flat: these count due work up to a cap, so they must stay under it.
  const statusRead = await t.run(async (ctx) => {
    const before = await ctx.meta.getTransactionMetrics();
    await ctx.runQuery(internal.qbQueue.getQueueStatus, {});
    return (await ctx.meta.getTransactionMetrics()).documentsRead.used - before.documentsRead.used;
  });
  const applyRead = await t.run(async (ctx) => {
    const before = await ctx.meta.getTransactionMetrics();
    await ctx.runMutation(internal.qbQueue.applyQbResults, {
      results: claim.claimed.map((c, i) => ({ eventId: c.eventId, claimToken: c.claimToken!, outcome: { kind: "success" as const, qbTxnId: `NEW-${i}` } })),
    });
    return (await ctx.meta.getTransactionMetrics()).documentsRead.used - before.documentsRead.used;
  });

  return { size, buildMs, nextRead: next.read, nextQueries: next.queries, claimRead: claim.read, claimWritten: claim.written, claimed: claim.claimed.length, statusRead, applyRead };
}

afterAll(() => {
  if (figures.length === 0) return;
  const header = "| backlog | build ms | getNextPendingQbEvent docs read | claimBatch(25) docs read | claimBatch(25) docs written | getQueueStatus docs read | applyQbResults(25) docs read |";
  const rows = figures.map(
    (f) => `| ${f.size.toLocaleString("en-US")} | ${f.buildMs} | ${f.nextRead} | ${f.claimRead} | ${f.claimWritten} | ${f.statusRead} | ${f.applyRead} |`,
  );
  console.log(["", header, "|---|---|---|---|---|---|---|", ...rows].join("\n"));
});

test(
  "documents read by getNextPendingQbEvent and claimBatch(25) do not grow from 1,000 to 20,000 events",
  async () => {
    for (const size of SIZES) figures.push(await measure(size));
    const [small, large] = figures;
    expect(large.nextRead).toBe(small.nextRead);
    expect(large.claimRead).toBe(small.claimRead);
    expect(large.claimWritten).toBe(small.claimWritten);
    // Absolute bounds, so a handler that reads a fixed but huge amount also fails.
    expect(small.nextRead).toBeLessThanOrEqual(10);
    expect(small.claimRead).toBeLessThanOrEqual(BATCH * 16);
    // Capped counts: at most DUE_COUNT_CAP (1000) per index range read (lapsed,
    // pending, failed), never the backlog itself.
    for (const f of figures) {
      expect(f.statusRead).toBeLessThanOrEqual(3 * 1000 + 200);
      expect(f.applyRead).toBeLessThanOrEqual(3 * 1000 + BATCH * 16);
    }
  },
  120_000,
);
