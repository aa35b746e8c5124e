/**
 * Documents read and written by the bridge's hot paths must not grow with
 * the backlog. Backlogs are inserted directly (fast) with a mix that makes
 * the index ranges matter: most events are applied, dead or failed-but-not-
 * due, and only a slice is actually due. Every backlog also holds the same
 * fixed handful of unknown outcomes: lookups left by a session that is over
 * (due first), and claims of a session that went silent past its TTL (ended,
 * and its claims released, by the next authenticate).
 *
 * Reads are measured on the registered functions themselves: a nested
 * `ctx.runQuery` / `ctx.runMutation` inside `t.run` folds its usage into the
 * outer transaction, so the difference of `ctx.meta.getTransactionMetrics()`
 * before and after is exactly what the function read and wrote.
 */
import { afterAll, afterEach, beforeEach, expect, test, vi } from "vitest";
import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { MAX_CLAIM_BATCH, MAX_RETRIES, QB_STATUSES, type QbStatus } from "../../convex/lib/constants";
import { qbStatusCounter } from "../../convex/lib/counters";
import { type T, newTest, seedWorld } from "./setup";

const T0 = new Date("2025-11-03T10:00:00Z").getTime();
const BATCH = 25;
const SIZES = [1_000, 20_000];
/** Lookups left by a closed session: the same number in every backlog, due before everything else. */
const LOOKUPS = 5;
/** Claims of a session that went silent past its TTL: the same number in every backlog. */
const LOST = 5;
const HOUR = 3_600_000;

beforeEach(() => {
  // Only Date is faked: performance.now() must stay real to time the build.
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
});

afterEach(() => {
  vi.useRealTimers();
});

type Status = "pending" | "failed-due" | "failed-later" | "applied" | "dead";

/**
 * Share of the backlog per state; due work (pending + failed-due) is 35%, so
 * even the 1,000-event backlog fills every capped index read the hot paths
 * make (a claim reads up to limit + MAX_CLAIM_BATCH per due range, a percent
 * counts up to 100 failed-due events): equal figures then mean "flat".
 */
const MIX: [Status, number][] = [
  ["applied", 0.35],
  ["failed-later", 0.2],
  ["dead", 0.1],
  ["pending", 0.2],
  ["failed-due", 0.15],
];

async function buildBacklog(t: T, size: number) {
  const refs = await t.run(async (ctx) => {
    const part = (await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", "WID-1")).unique())!;
    const location = (await ctx.db.query("inventory_locations").withIndex("by_code", (q) => q.eq("code", "TRUCK")).unique())!;
    const account = (await ctx.db.query("inventory_reason_accounts").withIndex("by_reasonCode", (q) => q.eq("reasonCode", "COUNT")).unique())!;
    const session = {
      userName: "qbwc",
      claimed: 0,
      applied: 0,
      failed: 0,
      dead: 0,
      held: 0,
      ttlMs: HOUR,
    };
    // An earlier session, closed properly: what it left unanswered is a lookup now.
    const closed = await ctx.db.insert("qb_sync_sessions", {
      ...session,
      ticketHash: "closed-earlier",
      status: "closed",
      openedAt: T0 - 5 * HOUR,
      lastSeenAt: T0 - 4 * HOUR,
      expiresAt: T0 - 3 * HOUR,
      closedAt: T0 - 4 * HOUR,
      closeReason: "closeConnection",
    });
    // A session whose Web Connector went silent with a message outstanding; its TTL ran out an hour ago.
    const silent = await ctx.db.insert("qb_sync_sessions", {
      ...session,
      ticketHash: "silent-earlier",
      status: "open",
      openedAt: T0 - 2 * HOUR - 1000,
      lastSeenAt: T0 - 2 * HOUR,
      expiresAt: T0 - HOUR,
    });
    return { partId: part._id, locationId: location._id, reasonAccountId: account._id, closed, silent };
  });
  const plan: Status[] = [];
  for (const [status, share] of MIX) for (let i = 0; i < Math.round(size * share); i++) plan.push(status);
  // Interleave states (a fixed permutation: 7919 is prime) so each index
  // range is scattered through creation order.
  const shuffled = plan.map((status, i) => ({ status, key: (i * 7919) % plan.length })).sort((a, b) => a.key - b.key);
  const counts: Partial<Record<QbStatus, number>> = {};

  const base = (i: number, age: number) => ({
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
  });

  const CHUNK = 2_500;
  for (let start = 0; start < shuffled.length; start += CHUNK) {
    await t.run(async (ctx) => {
      for (let i = start; i < Math.min(start + CHUNK, shuffled.length); i++) {
        const { status } = shuffled[i];
        const age = shuffled.length - i; // older events first
        const fields =
          status === "pending"
            ? { qbStatus: "pending" as const }
            : status === "failed-due"
              ? { qbStatus: "failed" as const, retryCount: 2, lastError: "busy" }
              : status === "failed-later"
                ? { qbStatus: "failed" as const, retryCount: 4, nextAttemptAt: T0 + HOUR + i, lastError: "busy" }
                : status === "applied"
                  ? { qbStatus: "applied" as const, qbTxnId: `TX-${i}`, appliedAt: T0 - age * 500 }
                  : { qbStatus: "dead" as const, retryCount: MAX_RETRIES + 1, lastError: "gave up" };
        const eventId = await ctx.db.insert("inventory_events", { ...base(i, age), ...fields });
        await ctx.db.insert("inventory_event_lines", { eventId, lineNo: 1, partId: refs.partId, quantity: 1 });
        counts[fields.qbStatus] = (counts[fields.qbStatus] ?? 0) + 1;
      }
    });
  }
  // The fixed handful of unknown outcomes, the same in every backlog.
  const special = await t.run(async (ctx) => {
    const lookups: Id<"inventory_events">[] = [];
    const lost: string[] = [];
    for (let k = 0; k < LOOKUPS + LOST; k++) {
      const i = shuffled.length + k;
      const claim = { claimCount: 1, claimToken: "", claimSessionId: k < LOOKUPS ? refs.closed : refs.silent };
      const eventId = await ctx.db.insert("inventory_events", {
        ...base(i, size + 100 - k),
        ...claim,
        ...(k < LOOKUPS
          ? { qbStatus: "failed" as const, retryCount: 1, qbLookupRequired: true, lastError: "Session ended before QuickBooks answered." }
          : { qbStatus: "in_flight" as const }),
      });
      await ctx.db.patch(eventId, { claimToken: `${eventId}:1` });
      await ctx.db.insert("inventory_event_lines", { eventId, lineNo: 1, partId: refs.partId, quantity: 1 });
      if (k < LOOKUPS) lookups.push(eventId);
      else lost.push(`${eventId}:1`);
      const status = k < LOOKUPS ? "failed" : "in_flight";
      counts[status] = (counts[status] ?? 0) + 1;
    }
    await ctx.db.patch(refs.silent, { claimed: LOST, outstanding: { messageId: "send-old", requestIds: lost, sentAt: T0 - 2 * HOUR } });
    // The per-status counters the real mutations keep, so percent and status read what production would.
    for (const status of QB_STATUSES) {
      await ctx.db.insert("inventory_counters", { name: qbStatusCounter(status), value: counts[status] ?? 0 });
    }
    return { lookups, silent: refs.silent };
  });
  return special;
}

type Usage = { read: number; written: number };
type Figures = {
  size: number;
  buildMs: number;
  authenticate: Usage;
  next: Usage;
  send: Usage;
  receive: Usage;
  status: Usage;
  percent: number;
};
const figures: Figures[] = [];

/** Runs one registered function inside `t.run` and returns its result and its document usage. */
async function usage<R>(t: T, call: (ctx: Parameters<Parameters<T["run"]>[0]>[0]) => Promise<R>): Promise<{ result: R } & Usage> {
  return await t.run(async (ctx) => {
    const before = await ctx.meta.getTransactionMetrics();
    const result = await call(ctx);
    const after = await ctx.meta.getTransactionMetrics();
    return {
      result,
      read: after.documentsRead.used - before.documentsRead.used,
      written: after.documentsWritten.used - before.documentsWritten.used,
    };
  });
}

async function measure(size: number): Promise<Figures> {
  const t = newTest();
  await seedWorld(t);
  const started = performance.now();
  const { lookups, silent } = await buildBacklog(t, size);
  const buildMs = Math.round(performance.now() - started);
  const ticketHash = "measure-session";

  const auth = await usage(t, (ctx) =>
    ctx.runMutation(internal.qbSessions.authenticate, { ticketHash, userName: "qbwc", ttlMs: HOUR }),
  );
  expect(auth.result.status).toBe("open"); // the silent session was over: it gave way and was ended

  const next = await usage(t, (ctx) => ctx.runQuery(internal.qbQueue.getNextPendingQbEvent, {}));
  expect(next.result).toMatchObject({ eventId: lookups[0], mode: "lookup" });

  const send = await usage(t, (ctx) => ctx.runMutation(internal.qbSessions.nextMessage, { ticketHash, callId: "send-1", limit: BATCH }));
  if (send.result.status !== "events") throw new Error(`nextMessage answered ${send.result.status}`);
  const events = send.result.events;
  expect(events).toHaveLength(BATCH);
  expect(events.filter((e) => e.mode === "lookup").map((e) => e.eventId)).toEqual(lookups);

  // Not required to be flat: status reads capped ranges, so it must stay under its caps.
  const status = await usage(t, (ctx) => ctx.runQuery(internal.qbQueue.getQueueStatus, {}));
  // The silent session was ended by authenticate and its claims released as lookups.
  const released = await t.run(async (ctx) =>
    (await ctx.db.query("inventory_events").withIndex("by_claimSession_qbStatus", (q) => q.eq("claimSessionId", silent)).collect()).map(
      (e) => [e.qbStatus, e.qbLookupRequired],
    ),
  );
  expect(released).toEqual(Array.from({ length: LOST }, () => ["failed", true]));

  const receive = await usage(t, (ctx) =>
    ctx.runMutation(internal.qbSessions.recordAnswer, {
      ticketHash,
      callId: "receive-1",
      response: {
        kind: "answers",
        answers: events.map((e, i) =>
          e.mode === "lookup"
            ? { requestId: e.claimToken!, outcome: { kind: "not_found" as const } }
            : { requestId: e.claimToken!, outcome: { kind: "success" as const, qbTxnId: `NEW-${i}` } },
        ),
      },
    }),
  );
  if (receive.result.status !== "ok") throw new Error(`recordAnswer answered ${receive.result.status}`);
  expect(receive.result.percent).toBeLessThan(100);

  const strip = ({ read, written }: Usage) => ({ read, written });
  return {
    size,
    buildMs,
    authenticate: strip(auth),
    next: strip(next),
    send: strip(send),
    receive: strip(receive),
    status: strip(status),
    percent: receive.result.percent,
  };
}

afterAll(() => {
  if (figures.length === 0) return;
  const header =
    `| backlog | build ms | authenticate docs read / written | getNextPendingQbEvent docs read | nextMessage(${BATCH}) docs read / written | ` +
    `recordAnswer(${BATCH}) docs read / written | getQueueStatus docs read | percent after one message |`;
  const rows = figures.map(
    (f) =>
      `| ${f.size.toLocaleString("en-US")} | ${f.buildMs} | ${f.authenticate.read} / ${f.authenticate.written} | ${f.next.read} | ` +
      `${f.send.read} / ${f.send.written} | ${f.receive.read} / ${f.receive.written} | ${f.status.read} | ${f.percent} |`,
  );
  console.log(["", header, "|---|---|---|---|---|---|---|---|", ...rows].join("\n"));
});

test(
  `documents read and written by authenticate, nextMessage(${BATCH}) and recordAnswer(${BATCH}) do not grow from 1,000 to 20,000 events`,
  async () => {
    for (const size of SIZES) figures.push(await measure(size));
    const [small, large] = figures;
    expect(large.authenticate).toEqual(small.authenticate);
    expect(large.next).toEqual(small.next);
    expect(large.send).toEqual(small.send);
    expect(large.receive).toEqual(small.receive);
    // Absolute bounds, so a handler that reads a fixed but huge amount also fails.
    // A claim reads at most limit + MAX_CLAIM_BATCH events per due range, plus a few documents per
    // claimed event: its lines, parts, location(s), reason (the mapping check), and the payload's reads.
    const claimRange = 2 * (BATCH + MAX_CLAIM_BATCH);
    expect(small.next.read).toBeLessThanOrEqual(2 * (1 + MAX_CLAIM_BATCH) + 10);
    expect(small.send.read).toBeLessThanOrEqual(claimRange + BATCH * 14);
    // Per claim: the event and the two status counters it moves between; plus the session.
    expect(small.send.written).toBeLessThanOrEqual(BATCH * 3 + 10);
    // Percent counts failed-and-due events up to a cap of 100.
    expect(small.receive.read).toBeLessThanOrEqual(100 * 2 + BATCH * 12);
    // Per answer: the event, the two status counters and the hour's stats row (lib/stats.ts).
    expect(small.receive.written).toBeLessThanOrEqual(BATCH * 4 + 10);
    expect(small.authenticate.read).toBeLessThanOrEqual(claimRange + LOST * 10 + 50);
    for (const f of figures) expect(f.status.read).toBeLessThanOrEqual(claimRange + 2 * MAX_CLAIM_BATCH + 100 * 2 + 100);
  },
  180_000,
);
