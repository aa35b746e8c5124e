/**
 * ops:overview, the operator page's one read: what it shows after real
 * sessions (dead events with QuickBooks' message, held-for-mapping groups,
 * sessions, hourly figures, the drift report and the report still to build),
 * and what it costs: documents read stay under OVERVIEW_MAX_READS and do not
 * grow from 2,000 to 10,000 events (500 of them dead).
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { MAX_RETRIES, QB_STATUSES, type QbStatus } from "../../convex/lib/constants";
import { qbStatusCounter } from "../../convex/lib/counters";
import { OPS_LIMITS, OVERVIEW_MAX_READS } from "../../convex/ops";
import { type T, answer, newTest, openSession, seedWorld, sendNext, stock } from "./setup";

const T0 = new Date("2026-02-02T08:00:00Z").getTime();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const MESSAGE_3140 =
  'QuickBooks error 3140: There is an invalid reference to QuickBooks Item "Widgets:Widget" in the Inventory Adjustment. -> Map the item so it matches QuickBooks exactly';

let t: T;

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
  t = newTest();
  await seedWorld(t);
});

afterEach(() => {
  vi.useRealTimers();
});

const at = (ms: number) => vi.setSystemTime(T0 + ms);
const overview = () => t.query(internal.ops.overview, {});

async function ids(t: T) {
  return await t.run(async (ctx) => {
    const part = async (sku: string) => (await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", sku)).unique())!._id;
    const location = (await ctx.db.query("inventory_locations").withIndex("by_code", (q) => q.eq("code", "MAIN")).unique())!._id;
    const reason = (await ctx.db.query("inventory_reason_accounts").withIndex("by_reasonCode", (q) => q.eq("reasonCode", "COUNT")).unique())!._id;
    const company = (await ctx.db.query("qb_companies").first())!._id;
    return { widget: await part("WID-1"), bolt: await part("BOLT-3"), gadget: await part("GAD-2"), location, reason, company };
  });
}

type Refs = Awaited<ReturnType<typeof ids>>;

/** An adjustment inserted directly (fast), with the counters the real mutations keep left to the caller. */
function rawEvent(refs: Refs, n: number, fields: Record<string, unknown>) {
  return {
    type: "adjustment" as const,
    status: "posted" as const,
    qbStatus: "pending" as QbStatus,
    refNumber: `AD-${String(n).padStart(6, "0")}`,
    occurredAt: T0 - HOUR,
    createdBy: "bulk",
    lineCount: 1,
    locationId: refs.location,
    reasonCode: "COUNT",
    reasonAccountId: refs.reason,
    mode: "delta" as const,
    retryCount: 0,
    nextAttemptAt: T0 - HOUR + n,
    claimCount: 0,
    ...fields,
  };
}

/** Events held for a mapping of `partId` (inserted as lib/mapping.ts holds them). */
async function holdFor(refs: Refs, partId: Id<"inventory_parts">, sku: string, count: number, first: number) {
  await t.run(async (ctx) => {
    for (let k = 0; k < count; k++) {
      const eventId = await ctx.db.insert(
        "inventory_events",
        rawEvent(refs, first + k, {
          qbStatus: "held",
          holdKind: "mapping",
          holdKeys: [`item:${partId}`],
          holdReason: `Waiting for a mapping: QuickBooks has no item "${sku}".`,
          nextAttemptAt: T0 + 10 * MINUTE + k,
        }),
      );
      await ctx.db.insert("inventory_event_lines", { eventId, lineNo: 1, partId, quantity: 1 });
    }
  });
}

describe("what the page shows", () => {
  test("a fresh deployment: zeros, the company as known, nothing to attend to", async () => {
    const view = await overview();
    expect(view.counts).toEqual(Object.fromEntries(QB_STATUSES.map((s) => [s, 0])));
    expect(view).toMatchObject({
      serverTime: T0,
      dueCount: 0,
      oldestDueAt: null,
      openSessions: [],
      lastSession: null,
      dead: [],
      held: { groups: [], conflicts: [], scanned: 0, more: false },
      report: null,
      reportToBuild: null,
      hours: [],
    });
    expect(view.company).toMatchObject({ companyFile: "", lastReport: null, snapshotRequested: false });
  });

  test("after a session: dead events with QuickBooks' message, the session's tally, the hour's figures, what is due", async () => {
    const applied = await stock(t, "WID-1", "MAIN", 10);
    const dead = await stock(t, "WID-1", "MAIN", 2);
    at(MINUTE);
    const waiting = await stock(t, "GAD-2", "MAIN", 1);
    at(2 * MINUTE);
    await openSession(t, "ops-session");
    const events = await sendNext(t, "ops-session", 2);
    expect(events.map((e) => e.eventId)).toEqual([applied.eventId, dead.eventId]);
    at(3 * MINUTE);
    await answer(t, "ops-session", [
      { requestId: events[0].claimToken!, outcome: { kind: "success", qbTxnId: "TX-1" } },
      { requestId: events[1].claimToken!, outcome: { kind: "permanent", message: MESSAGE_3140, statusCode: "3140" } },
    ]);

    const during = await overview();
    expect(during.openSessions).toHaveLength(1);
    expect(during.openSessions[0]).toMatchObject({ live: true, applied: 1, dead: 1, openedAt: T0 + 2 * MINUTE });
    expect(during.lastSession).toBeNull();

    at(4 * MINUTE);
    await t.mutation(internal.qbSessions.close, { ticketHash: "ops-session", reason: "closeConnection" });
    at(10 * MINUTE);
    const view = await overview();
    expect(view.openSessions).toEqual([]);
    expect(view.lastSession).toMatchObject({ status: "closed", applied: 1, dead: 1, failed: 0, held: 0, openedAt: T0 + 2 * MINUTE });
    expect(view.counts).toMatchObject({ applied: 1, dead: 1, pending: 1 });
    expect(view.dead).toEqual([expect.objectContaining({ eventId: dead.eventId, refNumber: dead.refNumber, lastError: MESSAGE_3140, qbStatus: "dead" })]);
    expect(view.dueCount).toBe(1);
    expect(view.oldestDueAt).toBe(T0 + MINUTE);
    expect(waiting.eventId).toBeDefined();
    // One hour row: the transitions counted, and the queue sampled at authenticate.
    expect(view.hours).toHaveLength(1);
    expect(view.hours[0]).toMatchObject({ hour: T0, applied: 1, dead: 1 });
    expect(view.hours[0].samples).toBeGreaterThanOrEqual(1);
  });

  test("held events grouped by what they wait for, conflicts apart, and `more` past the page", async () => {
    const refs = await ids(t);
    await holdFor(refs, refs.bolt, "BOLT-3", 3, 1);
    await holdFor(refs, refs.gadget, "GAD-2", 1, 10);
    await t.run(async (ctx) => {
      await ctx.db.insert(
        "inventory_events",
        rawEvent(refs, 20, { qbStatus: "held", holdKind: "conflict", holdReason: "QuickBooks has TxnID 1-99 under this RefNumber", qbLookupRequired: true }),
      );
    });
    let view = await overview();
    expect(view.held.groups).toEqual([
      { key: `item:${refs.bolt}`, kind: "part", name: "BOLT-3", events: 3, reason: 'Waiting for a mapping: QuickBooks has no item "BOLT-3".' },
      { key: `item:${refs.gadget}`, kind: "part", name: "GAD-2", events: 1, reason: 'Waiting for a mapping: QuickBooks has no item "GAD-2".' },
    ]);
    expect(view.held.conflicts.map((e) => e.refNumber)).toEqual(["AD-000020"]);
    expect(view.held).toMatchObject({ scanned: 5, more: false });

    await holdFor(refs, refs.bolt, "BOLT-3", OPS_LIMITS.held, 100);
    view = await overview();
    expect(view.held).toMatchObject({ scanned: OPS_LIMITS.held, more: true });
  });

  test("the drift report: none until built, then its totals and drifting rows; the next snapshot is to be built", async () => {
    const refs = await ids(t);
    const event = await stock(t, "WID-1", "MAIN", 10);
    await openSession(t, "s1");
    const [claimed] = await sendNext(t, "s1", 1);
    await answer(t, "s1", [{ requestId: claimed.claimToken!, outcome: { kind: "success", qbTxnId: "TX-1" } }]);
    expect(claimed.eventId).toBe(event.eventId);
    at(10 * MINUTE);
    const snapshot = async (qoh: number) =>
      await t.run(async (ctx) => {
        const session = (await ctx.db.query("qb_sync_sessions").first())!._id;
        const id = await ctx.db.insert("qb_snapshots", {
          companyId: refs.company,
          status: "done",
          mode: "sites",
          requestedAt: Date.now(),
          startedAt: Date.now(),
          takenAt: Date.now(),
          finishedAt: Date.now(),
          steps: ["ItemSitesQuery"],
          step: 0,
          page: 0,
          sessionId: session,
          rows: 1,
        });
        await ctx.db.insert("qb_snapshot_rows", { snapshotId: id, rowId: "IS-1", itemListId: "10000001-1", siteListId: "80000001-1", quantityOnHand: qoh });
        await ctx.db.patch(refs.company, { lastSnapshotId: id, lastSnapshotAt: Date.now() });
        return id;
      });
    await snapshot(7);
    let view = await overview();
    expect(view.report).toBeNull();
    expect(view.reportToBuild).toEqual({ snapshotAt: T0 + 10 * MINUTE, reportId: null });

    const first = await t.mutation(internal.qbRecon.buildReport, {});
    if (!first.done) {
      view = await overview();
      expect(view.reportToBuild).toEqual({ snapshotAt: T0 + 10 * MINUTE, reportId: first.reportId });
    }
    for (let step = first; !step.done; ) step = await t.mutation(internal.qbRecon.buildReport, { reportId: first.reportId });
    view = await overview();
    expect(view.reportToBuild).toBeNull();
    expect(view.report).toMatchObject({ reportId: first.reportId, snapshotAt: T0 + 10 * MINUTE, multiLocation: true });
    expect(view.report!.driftRows).toContainEqual(
      expect.objectContaining({ sku: "WID-1", site: "Main WH", convexQoh: 10, qbQoh: 7, inTransit: 0, drift: -3 }),
    );
    expect(view.report!.driftRows.every((row) => row.drift !== 0 || row.note !== null)).toBe(true);
    expect(view.report!.totals.driftRows).toBe(view.report!.driftRows.length);
    expect(view.company?.lastReport?.reportId).toBe(first.reportId);

    at(20 * MINUTE);
    await snapshot(10);
    view = await overview();
    expect(view.report?.reportId).toBe(first.reportId);
    expect(view.reportToBuild).toEqual({ snapshotAt: T0 + 20 * MINUTE, reportId: null });
  });
});

// -- cost -------------------------------------------------------------------------------

const DEAD = 500;
const HELD = 150;

/** `size` events: DEAD dead, HELD held on 3 parts, 150 failed and due, the rest applied or pending; 72 hours of figures; 30 closed sessions. */
async function backlog(t: T, size: number) {
  const refs = await ids(t);
  const counts: Partial<Record<QbStatus, number>> = {};
  const parts = [refs.widget, refs.bolt, refs.gadget];
  const CHUNK = 2_500;
  for (let start = 0; start < size; start += CHUNK) {
    await t.run(async (ctx) => {
      for (let i = start; i < Math.min(start + CHUNK, size); i++) {
        const n = i + 1;
        const fields =
          i < DEAD
            ? { qbStatus: "dead" as const, retryCount: MAX_RETRIES + 1, lastError: `${MESSAGE_3140} (${n})` }
            : i < DEAD + HELD
              ? {
                  qbStatus: "held" as const,
                  holdKind: "mapping" as const,
                  holdKeys: [`item:${parts[i % 3]}`],
                  holdReason: "Waiting for a mapping.",
                  nextAttemptAt: T0 + 10 * MINUTE + i,
                }
              : i < DEAD + HELD + 150
                ? { qbStatus: "failed" as const, retryCount: 2, lastError: "busy" }
                : i % 2 === 0
                  ? { qbStatus: "applied" as const, qbTxnId: `TX-${n}`, appliedAt: T0 - HOUR }
                  : { qbStatus: "pending" as const };
        const eventId = await ctx.db.insert("inventory_events", rawEvent(refs, n, fields));
        await ctx.db.insert("inventory_event_lines", { eventId, lineNo: 1, partId: parts[i % 3], quantity: 1 });
        counts[fields.qbStatus] = (counts[fields.qbStatus] ?? 0) + 1;
      }
    });
  }
  await t.run(async (ctx) => {
    for (const status of QB_STATUSES) await ctx.db.insert("inventory_counters", { name: qbStatusCounter(status), value: counts[status] ?? 0 });
    for (let h = 0; h < 100; h++) {
      await ctx.db.insert("sync_stats_hourly", { hour: T0 - h * HOUR, applied: h, failed: 0, dead: h % 3, samples: 12, depthMax: 40 + h, oldestDueAgeMaxSec: 60 * h });
    }
    // The last drift report: 80 QuickBooks items no part maps to, and 20 parts that drift.
    const session = await ctx.db.insert("qb_sync_sessions", {
      ticketHash: "snapshot-session",
      userName: "qbwc",
      status: "closed",
      openedAt: T0 - 40 * HOUR,
      lastSeenAt: T0 - 40 * HOUR,
      expiresAt: T0,
      claimed: 0,
      applied: 0,
      failed: 0,
      dead: 0,
    });
    const snapshotId = await ctx.db.insert("qb_snapshots", {
      companyId: refs.company,
      status: "done",
      mode: "sites",
      requestedAt: T0 - 2 * HOUR,
      startedAt: T0 - 2 * HOUR,
      takenAt: T0 - 2 * HOUR,
      steps: ["ItemSitesQuery"],
      step: 0,
      page: 0,
      sessionId: session,
      rows: 100,
    });
    const totals = { rows: 100, driftRows: 100, convexQoh: 0, qbQoh: 0, inTransit: 0, drift: 0, onlyInQuickBooks: 80, notInQuickBooks: 0 };
    const reportId = await ctx.db.insert("qb_recon_reports", {
      companyId: refs.company,
      snapshotId,
      snapshotAt: T0 - 2 * HOUR,
      status: "done",
      phase: "done",
      transitSource: 0,
      startedAt: T0 - HOUR,
      finishedAt: T0 - HOUR,
      multiLocation: true,
      totals,
    });
    for (let r = 0; r < 100; r++) {
      const orphan = r < 80;
      await ctx.db.insert("qb_recon_rows", {
        reportId,
        sku: orphan ? "" : `P-${String(r).padStart(3, "0")}`,
        itemName: `Item ${r}`,
        siteKey: "80000001-1",
        convexQoh: orphan ? 0 : 5,
        qbQoh: 3,
        inTransit: 0,
        drift: orphan ? 3 : -2,
        drifting: true,
      });
    }
    await ctx.db.patch(refs.company, {
      lastSnapshotId: snapshotId,
      lastSnapshotAt: T0 - 2 * HOUR,
      lastReport: { reportId, builtAt: T0 - HOUR, snapshotAt: T0 - 2 * HOUR, rows: 100, driftRows: 100, totalDrift: 0 },
    });
    for (let s = 0; s < 30; s++) {
      await ctx.db.insert("qb_sync_sessions", {
        ticketHash: `old-${s}`,
        userName: "qbwc",
        status: "closed",
        openedAt: T0 - (s + 1) * HOUR,
        lastSeenAt: T0 - (s + 1) * HOUR + MINUTE,
        expiresAt: T0,
        closedAt: T0 - (s + 1) * HOUR + MINUTE,
        claimed: 25,
        applied: 25,
        failed: 0,
        dead: 0,
      });
    }
  });
}

async function measured(size: number) {
  const t = newTest();
  await seedWorld(t);
  await backlog(t, size);
  return await t.run(async (ctx) => {
    const before = await ctx.meta.getTransactionMetrics();
    const view = await ctx.runQuery(internal.ops.overview, {});
    const after = await ctx.meta.getTransactionMetrics();
    return { view, read: after.documentsRead.used - before.documentsRead.used };
  });
}

test(
  `overview with 10,000 events (${DEAD} dead): reads at most OVERVIEW_MAX_READS documents, the same as with 2,000`,
  async () => {
    const small = await measured(2_000);
    const large = await measured(10_000);
    console.log(`ops:overview documents read: ${small.read} (2,000 events), ${large.read} (10,000 events); bound ${OVERVIEW_MAX_READS}`);
    expect(large.read).toBe(small.read);
    expect(large.read).toBeLessThanOrEqual(OVERVIEW_MAX_READS);
    const { view } = large;
    expect(view.counts.dead).toBe(DEAD);
    expect(view.dead).toHaveLength(OPS_LIMITS.dead);
    // Latest first: the dead events with the latest nextAttemptAt.
    expect(view.dead[0].refNumber).toBe(`AD-${String(DEAD).padStart(6, "0")}`);
    expect(view.held.groups.map((g) => g.events)).toEqual([34, 33, 33]);
    expect(view.held).toMatchObject({ scanned: OPS_LIMITS.held, more: true });
    expect(view.hours).toHaveLength(OPS_LIMITS.hours);
    // The parts that drift come before the QuickBooks items no part maps to.
    expect(view.report!.driftRows).toHaveLength(OPS_LIMITS.driftRows);
    expect(view.report!.driftRows.slice(0, 20).every((row) => row.sku.startsWith("P-"))).toBe(true);
    expect(view.report!.driftRows.slice(20).every((row) => row.sku === "")).toBe(true);
    expect(view.reportToBuild).toBeNull();
    expect(view.lastSession?.openedAt).toBe(T0 - HOUR);
    expect(view.dueCount).toBeGreaterThan(100);
  },
  180_000,
);
