import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { api, internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { DEFAULT_LEASE_MS, MAX_RETRIES, RETRY_DELAYS_SECONDS } from "../../convex/lib/constants";
import {
  type T,
  actualQbStatusCounts,
  asEmployee,
  dumpAll,
  expectCode,
  expectRejectedWithoutWrites,
  getEvent,
  newTest,
  openSession,
  seedWorld,
  stock,
} from "./setup";

const T0 = new Date("2025-06-02T08:00:00Z").getTime();

let t: T;
let sessionId: Id<"qb_sync_sessions">;

beforeEach(async () => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
  t = newTest();
  await seedWorld(t);
  // A long-lived session so the retry schedule (hours) never outlives it.
  sessionId = await openSession(t, "ticket-main", 7 * 24 * 3600 * 1000);
});

afterEach(() => {
  vi.useRealTimers();
});

const at = (ms: number) => vi.setSystemTime(T0 + ms);
const next = () => t.query(internal.qbQueue.getNextPendingQbEvent, {});
const claim = (eventId: Id<"inventory_events">, leaseMs?: number) =>
  t.mutation(internal.qbQueue.markEventInFlight, { eventId, sessionId, leaseMs });
const claimBatch = (limit: number, leaseMs?: number, session = sessionId) =>
  t.mutation(internal.qbQueue.claimBatch, { sessionId: session, limit, leaseMs });
const apply = (
  eventId: Id<"inventory_events">,
  claimToken: string,
  outcome:
    | { kind: "success"; qbTxnId: string; statusCode?: string }
    | { kind: "not_found" }
    | { kind: "retryable"; message: string; statusCode?: string; lookupRequired?: boolean }
    | { kind: "permanent"; message: string; statusCode?: string },
) => t.mutation(internal.qbQueue.applyQbResult, { eventId, claimToken, outcome });

/** A pending adjustment event; each one is a separate QuickBooks transaction. */
async function newEvent(quantity = 1) {
  return (await stock(t, "WID-1", "MAIN", quantity)).eventId;
}

describe("eligibility and order", () => {
  test("the oldest eligible event comes first; a failed event waits for its retry time", async () => {
    const e1 = await newEvent();
    at(1000);
    const e2 = await newEvent();
    at(2000);
    const e3 = await newEvent();

    at(3000);
    expect((await next())?.eventId).toBe(e1);
    const c1 = await claim(e1);
    await apply(e1, c1.claimToken!, { kind: "retryable", message: "busy" }); // due at 63 s
    expect((await next())?.eventId).toBe(e2);

    const batch = await claimBatch(10);
    expect(batch.map((c) => c.eventId)).toEqual([e2, e3]);
    at(4000);
    for (const c of batch) await apply(c.eventId, c.claimToken!, { kind: "retryable", message: "busy" }); // due at 64 s

    at(62_999);
    expect(await next()).toBeNull();
    expect(await claimBatch(10)).toEqual([]);
    at(63_000);
    expect((await next())?.eventId).toBe(e1);
    at(64_000);
    expect((await claimBatch(10)).map((c) => c.eventId)).toEqual([e1, e2, e3]);
  });

  test("a pending event that became due earlier goes before a failed one due later", async () => {
    const e1 = await newEvent();
    const c1 = await claim(e1);
    at(500);
    await apply(e1, c1.claimToken!, { kind: "retryable", message: "busy" }); // due at 60.5 s
    at(10_000);
    const e2 = await newEvent(); // due at 10 s
    at(61_000);
    expect((await claimBatch(5)).map((c) => c.eventId)).toEqual([e2, e1]);
  });

  test("applied, dead, cancelled and not_required events are never eligible", async () => {
    const applied = await newEvent();
    const dead = await newEvent();
    const [ca, cd] = await claimBatch(2);
    await apply(applied, ca.claimToken!, { kind: "success", qbTxnId: "TX-1" });
    await apply(dead, cd.claimToken!, { kind: "permanent", message: "nope" });
    const voided = await newEvent();
    await asEmployee(t).mutation(api.inventory.voidEvent, { eventId: voided, reason: "test" });
    await asEmployee(t).mutation(api.inventory.createTransferEvent, { sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "MAIN-2" });

    at(365 * 24 * 3600 * 1000);
    expect(await next()).toBeNull();
    expect(await t.query(internal.qbQueue.hasWork, {})).toBe(false);
    const later = await openSession(t, "ticket-next-year");
    expect(await claimBatch(10, undefined, later)).toEqual([]);
    for (const eventId of [applied, dead, voided]) {
      await expectRejectedWithoutWrites(t, "NOT_CLAIMABLE", () =>
        t.mutation(internal.qbQueue.markEventInFlight, { eventId, sessionId: later }),
      );
    }
  });

  test("hasWork tells authenticate whether there is anything to do", async () => {
    expect(await t.query(internal.qbQueue.hasWork, {})).toBe(false);
    await newEvent();
    expect(await t.query(internal.qbQueue.hasWork, {})).toBe(true);
  });
});

describe("payload", () => {
  test("getNextPendingQbEvent carries everything needed to render a transfer", async () => {
    await t.run(async (ctx) => {
      // Stock without an event so the transfer is the only queued event.
      const part = (await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", "WID-1")).unique())!;
      const loc = (await ctx.db.query("inventory_locations").withIndex("by_code", (q) => q.eq("code", "MAIN")).unique())!;
      await ctx.db.insert("inventory_balances", { partId: part._id, locationId: loc._id, onHand: 9 });
    });
    at(1000);
    const { eventId, refNumber } = await asEmployee(t).mutation(api.inventory.createTransferEvent, {
      sku: "WID-1",
      quantity: 3,
      fromLocation: "MAIN",
      toLocation: "TRUCK",
      memo: "to the job",
      occurredAt: T0 - 3600_000,
    });
    expect(await next()).toEqual({
      eventId,
      claimToken: null,
      mode: "send",
      type: "transfer",
      refNumber,
      occurredAt: T0 - 3600_000,
      memo: "to the job",
      retryCount: 0,
      fromLocationCode: "MAIN",
      toLocationCode: "TRUCK",
      locationCode: null,
      reasonCode: null,
      fromSite: { listId: "80000001-1", fullName: "Main WH" },
      toSite: { listId: "80000002-1", fullName: "Truck 1" },
      site: null,
      account: null,
      lines: [{ sku: "WID-1", item: { listId: "10000001-1", fullName: "Widgets:Widget" }, quantity: 3 }],
    });
  });

  test("a transfer to a location without a QB site has a null site ref", async () => {
    await stock(t, "WID-1", "MAIN", 5);
    const [c] = await claimBatch(1);
    await apply(c.eventId, c.claimToken!, { kind: "success", qbTxnId: "TX" });
    await asEmployee(t).mutation(api.inventory.createTransferEvent, { sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "BIN-A" });
    expect(await next()).toMatchObject({ fromSite: { listId: "80000001-1" }, toSite: null, toLocationCode: "BIN-A" });
  });

  test("an empty queue answers null", async () => {
    expect(await next()).toBeNull();
  });
});

describe("claims", () => {
  test("markEventInFlight claims with a token and a lease; the session counts it", async () => {
    const eventId = await newEvent();
    at(5000);
    const claimed = await claim(eventId);
    expect(claimed).toMatchObject({ eventId, claimToken: `${eventId}:1`, mode: "send", leaseExpiresAt: T0 + 5000 + DEFAULT_LEASE_MS });
    expect(await getEvent(t, eventId)).toMatchObject({
      qbStatus: "in_flight",
      claimCount: 1,
      claimToken: `${eventId}:1`,
      claimSessionId: sessionId,
      leaseExpiresAt: T0 + 5000 + DEFAULT_LEASE_MS,
    });
    const session = await t.run(async (ctx) => await ctx.db.get(sessionId));
    expect(session).toMatchObject({ claimed: 1, lastSeenAt: T0 + 5000 });
  });

  test("a second claim of the same event is NOT_CLAIMABLE with no side effects", async () => {
    const eventId = await newEvent();
    await claim(eventId);
    await expectRejectedWithoutWrites(t, "NOT_CLAIMABLE", () => claim(eventId));
    const other = await openSession(t, "ticket-other");
    await expectRejectedWithoutWrites(t, "NOT_CLAIMABLE", () =>
      t.mutation(internal.qbQueue.markEventInFlight, { eventId, sessionId: other }),
    );
  });

  test("claimBatch takes up to limit in order and never hands an event out twice", async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) {
      at(i * 1000);
      ids.push(await newEvent());
    }
    const first = await claimBatch(3);
    expect(first.map((c) => c.eventId)).toEqual(ids.slice(0, 3));
    expect(first.every((c) => c.claimToken === `${c.eventId}:1`)).toBe(true);
    const second = await claimBatch(3);
    expect(second.map((c) => c.eventId)).toEqual(ids.slice(3));
    expect(await claimBatch(3)).toEqual([]);
    expect((await t.run(async (ctx) => await ctx.db.get(sessionId)))?.claimed).toBe(5);
  });

  test.each([0, -1, 1.5, 101])("claimBatch limit %s is INVALID_ARGUMENT", async (limit) => {
    await newEvent();
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => claimBatch(limit));
  });

  test.each([0, 999, 25 * 3600 * 1000])("leaseMs %s is INVALID_ARGUMENT", async (leaseMs) => {
    const eventId = await newEvent();
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => claim(eventId, leaseMs));
  });
});

describe("applyQbResult", () => {
  test("success -> applied with the TxnID; the lease is released; the session counts it", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    at(2000);
    const result = await apply(eventId, claimToken!, { kind: "success", qbTxnId: "1A2B-1234", statusCode: "0" });
    expect(result).toMatchObject({ changed: true, qbStatus: "applied", qbTxnId: "1A2B-1234", lastError: null });
    const event = await getEvent(t, eventId);
    expect(event).toMatchObject({ qbStatus: "applied", qbTxnId: "1A2B-1234", appliedAt: T0 + 2000, lastStatusCode: "0" });
    expect(event.leaseExpiresAt).toBeUndefined();
    expect((await t.run(async (ctx) => await ctx.db.get(sessionId)))?.applied).toBe(1);
  });

  test("repeating a result with the same token changes nothing and returns the current state", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    const first = await apply(eventId, claimToken!, { kind: "success", qbTxnId: "TX-1" });
    const before = await dumpAll(t);
    at(9000);
    const again = await apply(eventId, claimToken!, { kind: "success", qbTxnId: "TX-1" });
    expect(again).toEqual({ ...first, changed: false });
    // Even a contradicting repeat cannot change a recorded result.
    const contradicting = await apply(eventId, claimToken!, { kind: "permanent", message: "late" });
    expect(contradicting).toMatchObject({ changed: false, qbStatus: "applied", qbTxnId: "TX-1" });
    expect(await dumpAll(t)).toEqual(before);
  });

  test("a repeated retryable result does not count a second failure", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    await apply(eventId, claimToken!, { kind: "retryable", message: "busy" });
    const before = await dumpAll(t);
    expect(await apply(eventId, claimToken!, { kind: "retryable", message: "busy" })).toMatchObject({ changed: false, retryCount: 1 });
    expect(await dumpAll(t)).toEqual(before);
  });

  test("retryable failures back off 60, 300, 900, 3600, 3600... s and the 11th is dead", async () => {
    const eventId = await newEvent();
    let now = 0;
    for (let failure = 1; failure <= MAX_RETRIES; failure++) {
      const { claimToken } = await claim(eventId);
      const result = await apply(eventId, claimToken!, { kind: "retryable", message: `busy ${failure}`, statusCode: "3175" });
      const delayMs = RETRY_DELAYS_SECONDS[Math.min(failure, RETRY_DELAYS_SECONDS.length) - 1] * 1000;
      expect(delayMs).toBe([60, 300, 900, 3600, 3600, 3600, 3600, 3600, 3600, 3600][failure - 1] * 1000);
      expect(result).toMatchObject({ changed: true, qbStatus: "failed", retryCount: failure, nextAttemptAt: T0 + now + delayMs, lastError: `busy ${failure}` });
      expect((await getEvent(t, eventId)).lastStatusCode).toBe("3175");

      at(now + delayMs - 1);
      expect(await next()).toBeNull();
      await expectRejectedWithoutWrites(t, "NOT_CLAIMABLE", () => claim(eventId));
      now += delayMs;
      at(now);
      expect((await next())?.eventId).toBe(eventId);
      expect((await next())?.retryCount).toBe(failure);
    }
    const { claimToken } = await claim(eventId);
    const last = await apply(eventId, claimToken!, { kind: "retryable", message: "still busy" });
    expect(last).toMatchObject({ changed: true, qbStatus: "dead", retryCount: MAX_RETRIES + 1 });
    expect(last.lastError).toContain("still busy");
    at(now + 365 * 24 * 3600 * 1000);
    expect(await next()).toBeNull();
    const session = await t.run(async (ctx) => await ctx.db.get(sessionId));
    expect(session).toMatchObject({ failed: MAX_RETRIES, dead: 1, claimed: MAX_RETRIES + 1 });
  });

  test("a permanent error is dead at once", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    const result = await apply(eventId, claimToken!, { kind: "permanent", message: "Invalid reference to item", statusCode: "3140" });
    expect(result).toMatchObject({ changed: true, qbStatus: "dead", retryCount: 0, lastError: "Invalid reference to item" });
    expect(await getEvent(t, eventId)).toMatchObject({ lastStatusCode: "3140" });
    const session = await t.run(async (ctx) => await ctx.db.get(sessionId));
    expect(session).toMatchObject({ dead: 1, lastError: "Invalid reference to item" });
  });

  test("a token that no longer holds the event is STALE_CLAIM and writes nothing", async () => {
    const eventId = await newEvent();
    const old = await claim(eventId, 60_000);
    at(60_000);
    const renewed = await claimBatch(1);
    expect(renewed[0].claimToken).toBe(`${eventId}:2`);
    // The lapsed session's late answer must not overwrite the new claim.
    await expectRejectedWithoutWrites(t, "STALE_CLAIM", () => apply(eventId, old.claimToken!, { kind: "success", qbTxnId: "LATE" }));
    await expectRejectedWithoutWrites(t, "STALE_CLAIM", () => apply(eventId, "made-up", { kind: "success", qbTxnId: "X" }));
  });

  test("a result for an event never claimed is STALE_CLAIM", async () => {
    const eventId = await newEvent();
    await expectRejectedWithoutWrites(t, "STALE_CLAIM", () => apply(eventId, `${eventId}:1`, { kind: "success", qbTxnId: "X" }));
  });

  test("not_found answers only a lookup claim", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => apply(eventId, claimToken!, { kind: "not_found" }));
  });

  test("applyQbResults records a batch, reports a stale item instead of failing, and counts what is still due", async () => {
    const ids = [await newEvent(), await newEvent(), await newEvent(), await newEvent()];
    const claimed = await claimBatch(3);
    expect(claimed.map((c) => c.eventId)).toEqual(ids.slice(0, 3));
    const out = await t.mutation(internal.qbQueue.applyQbResults, {
      results: [
        { eventId: ids[0], claimToken: claimed[0].claimToken!, outcome: { kind: "success", qbTxnId: "TX-A" } },
        { eventId: ids[1], claimToken: "not-the-token", outcome: { kind: "success", qbTxnId: "TX-B" } },
        { eventId: ids[2], claimToken: claimed[2].claimToken!, outcome: { kind: "retryable", message: "busy" } },
      ],
    });
    expect(out.results.map((r) => [r.qbStatus, r.changed, r.stale])).toEqual([
      ["applied", true, false],
      ["in_flight", false, true],
      ["failed", true, false],
    ]);
    expect(out.remainingDue).toBe(1); // ids[3]; the failed one is not due yet, the stale one is held
    expect((await getEvent(t, ids[1])).qbStatus).toBe("in_flight");
    expect((await getEvent(t, ids[0])).qbTxnId).toBe("TX-A");
  });
});

describe("retryFailedEvent / retryAllDead", () => {
  async function deadEvent() {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    await apply(eventId, claimToken!, { kind: "permanent", message: "bad" });
    return eventId;
  }

  test("failed and dead go back to pending, due now, with the retry budget reset", async () => {
    const failed = await newEvent();
    const c = await claim(failed);
    await apply(failed, c.claimToken!, { kind: "retryable", message: "busy" });
    await expectCode(claim(failed), "NOT_CLAIMABLE"); // not due yet
    const dead = await deadEvent();

    at(10_000);
    for (const eventId of [failed, dead]) {
      const state = await t.mutation(internal.qbQueue.retryFailedEvent, { eventId });
      expect(state).toMatchObject({ qbStatus: "pending", retryCount: 0, nextAttemptAt: T0 + 10_000 });
    }
    expect((await claimBatch(5)).map((x) => x.eventId).sort()).toEqual([failed, dead].sort());
  });

  test.each(["pending", "in_flight", "applied", "not_required", "cancelled"])("a %s event is NOT_RETRYABLE", async (status) => {
    let eventId = await newEvent();
    if (status === "in_flight" || status === "applied") {
      const { claimToken } = await claim(eventId);
      if (status === "applied") await apply(eventId, claimToken!, { kind: "success", qbTxnId: "TX" });
    } else if (status === "not_required") {
      eventId = (await asEmployee(t).mutation(api.inventory.createTransferEvent, { sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "MAIN-2" })).eventId;
    } else if (status === "cancelled") {
      const dead = await deadEvent();
      await asEmployee(t).mutation(api.inventory.voidEvent, { eventId: dead, reason: "gone" });
      eventId = dead;
    }
    expect((await getEvent(t, eventId)).qbStatus).toBe(status);
    await expectRejectedWithoutWrites(t, "NOT_RETRYABLE", () => t.mutation(internal.qbQueue.retryFailedEvent, { eventId }));
  });

  test("retryAllDead works through the dead events in bounded batches", async () => {
    const dead = [await deadEvent(), await deadEvent(), await deadEvent()];
    const first = await t.mutation(internal.qbQueue.retryAllDead, { limit: 2 });
    expect(first.retried).toHaveLength(2);
    expect(first.more).toBe(true);
    const second = await t.mutation(internal.qbQueue.retryAllDead, { limit: 2 });
    expect(second.retried).toHaveLength(1);
    expect(second.more).toBe(false);
    for (const eventId of dead) expect((await getEvent(t, eventId)).qbStatus).toBe("pending");
    expect((await t.mutation(internal.qbQueue.retryAllDead, {})).retried).toEqual([]);
  });
});

describe("lease expiry: the outcome is unknown, so QuickBooks is asked before any resend", () => {
  async function lapsedEvent() {
    const eventId = await newEvent();
    const first = await claim(eventId, 60_000);
    expect(first.leaseExpiresAt).toBe(T0 + 60_000);
    at(59_999);
    expect(await t.query(internal.qbQueue.listExpiredLeases, {})).toEqual([]);
    at(60_000);
    return { eventId, oldToken: first.claimToken! };
  }

  test("a lapsed claim is listed, and the next claimBatch returns it as a lookup", async () => {
    const { eventId } = await lapsedEvent();
    const listed = await t.query(internal.qbQueue.listExpiredLeases, {});
    expect(listed.map((e) => [e.eventId, e.qbStatus])).toEqual([[eventId, "in_flight"]]);
    expect((await t.query(internal.qbQueue.getQueueStatus, {})).expiredLeases.map((e) => e.eventId)).toEqual([eventId]);

    const other = await openSession(t, "ticket-2");
    const [reclaimed] = await claimBatch(5, undefined, other);
    expect(reclaimed).toMatchObject({ eventId, mode: "lookup", claimToken: `${eventId}:2` });
    expect(await getEvent(t, eventId)).toMatchObject({ qbLookupRequired: true, claimSessionId: other });
    expect(await t.query(internal.qbQueue.listExpiredLeases, {})).toEqual([]);
  });

  test("lapsed claims go before due events in a batch", async () => {
    const { eventId } = await lapsedEvent();
    const fresh = await newEvent();
    expect((await claimBatch(5)).map((c) => [c.eventId, c.mode])).toEqual([
      [eventId, "lookup"],
      [fresh, "send"],
    ]);
  });

  test("getNextPendingQbEvent shows a lapsed claim as a lookup, not a send", async () => {
    const { eventId } = await lapsedEvent();
    // The lapsed claim's token is dead: the preview must not offer it for use.
    expect(await next()).toMatchObject({ eventId, mode: "lookup", claimToken: null });
  });

  test("lookup not_found -> pending due now; the next claim sends", async () => {
    const { eventId } = await lapsedEvent();
    const [lookup] = await claimBatch(1);
    at(61_000);
    const result = await apply(eventId, lookup.claimToken!, { kind: "not_found" });
    expect(result).toMatchObject({ changed: true, qbStatus: "pending", nextAttemptAt: T0 + 61_000, qbLookupRequired: false });
    const [send] = await claimBatch(1);
    expect(send).toMatchObject({ eventId, mode: "send", claimToken: `${eventId}:3` });
  });

  test("lookup found -> applied with the TxnID QuickBooks already had", async () => {
    const { eventId } = await lapsedEvent();
    const [lookup] = await claimBatch(1);
    const result = await apply(eventId, lookup.claimToken!, { kind: "success", qbTxnId: "FOUND-7" });
    expect(result).toMatchObject({ qbStatus: "applied", qbTxnId: "FOUND-7", qbLookupRequired: false });
  });

  test("a retryable failure of a lookup keeps the next claim a lookup, also after an admin retry", async () => {
    const { eventId } = await lapsedEvent();
    const [lookup] = await claimBatch(1);
    await apply(eventId, lookup.claimToken!, { kind: "retryable", message: "QB busy" });
    at(60_000 + 60_000);
    const [again] = await claimBatch(1);
    expect(again).toMatchObject({ eventId, mode: "lookup" });
    await apply(eventId, again.claimToken!, { kind: "permanent", message: "query failed" });
    await t.mutation(internal.qbQueue.retryFailedEvent, { eventId });
    expect((await claimBatch(1))[0]).toMatchObject({ eventId, mode: "lookup" });
  });

  test("a send that failed with the outcome unknown (lookupRequired) is looked up next time", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    const state = await apply(eventId, claimToken!, { kind: "retryable", message: "connection lost", lookupRequired: true });
    expect(state).toMatchObject({ qbStatus: "failed", qbLookupRequired: true });
    at(60_000);
    expect((await claimBatch(1))[0]).toMatchObject({ eventId, mode: "lookup" });
  });

  test("markEventInFlight also reclaims a lapsed claim, as a lookup", async () => {
    const { eventId } = await lapsedEvent();
    expect(await claim(eventId)).toMatchObject({ mode: "lookup", claimToken: `${eventId}:2` });
  });
});

describe("status counters", () => {
  test("getQueueStatus and functions:health agree with the events after a mixed scenario", async () => {
    const ids = [];
    for (let i = 0; i < 8; i++) {
      at(i * 1000);
      ids.push(await newEvent(2));
    }
    await asEmployee(t).mutation(api.inventory.createTransferEvent, { sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "MAIN-2" });
    await asEmployee(t).mutation(api.inventory.createTransferEvent, { sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK" });
    at(10_000);
    const claimed = await claimBatch(6);
    await apply(claimed[0].eventId, claimed[0].claimToken!, { kind: "success", qbTxnId: "A" });
    await apply(claimed[1].eventId, claimed[1].claimToken!, { kind: "success", qbTxnId: "B" });
    await apply(claimed[2].eventId, claimed[2].claimToken!, { kind: "retryable", message: "busy" });
    await apply(claimed[3].eventId, claimed[3].claimToken!, { kind: "permanent", message: "bad" });
    await apply(claimed[4].eventId, claimed[4].claimToken!, { kind: "permanent", message: "bad" });
    await t.mutation(internal.qbQueue.retryFailedEvent, { eventId: claimed[4].eventId });
    await asEmployee(t).mutation(api.inventory.voidEvent, { eventId: ids[7], reason: "dup" });
    // claimed[5] stays in flight.

    at(20_000);
    const status = await t.query(internal.qbQueue.getQueueStatus, {});
    const health = await t.query(api.functions.health, {});
    const actual = await actualQbStatusCounts(t);
    const expected = { pending: 0, in_flight: 0, applied: 0, failed: 0, dead: 0, not_required: 0, cancelled: 0, ...actual };
    expect(expected).toEqual({ pending: 3, in_flight: 1, applied: 2, failed: 1, dead: 1, not_required: 1, cancelled: 1 });
    expect(status.counts).toEqual(expected);
    expect(health.qbStatusCounts).toEqual(expected);
    expect(health.eventsCreated).toBe(10);
    expect(status.serverTime).toBe(T0 + 20_000);
    expect(status.dueCount).toBe(3);
    // Oldest due: ids[6], created at 6 s and never claimed.
    expect(status.oldestDueAt).toBe(T0 + 6000);
    expect(status.oldestDueAgeSeconds).toBe(14);
    expect(status.dead.map((d) => d.eventId)).toEqual([claimed[3].eventId]);
  });
});

describe("getEventState", () => {
  test("finds an event by id or refNumber", async () => {
    const eventId = await newEvent();
    const { refNumber } = await getEvent(t, eventId);
    expect(await t.query(internal.qbQueue.getEventState, { refNumber })).toMatchObject({ eventId, qbStatus: "pending" });
    expect(await t.query(internal.qbQueue.getEventState, { eventId })).toMatchObject({ refNumber });
    expect(await t.query(internal.qbQueue.getEventState, { refNumber: "XX-1" })).toBeNull();
  });
});

test("convex-test honours fake timers (the queue tests depend on it)", async () => {
  at(123_456);
  expect(await t.query(api.functions.ping, {})).toEqual({ serverTime: T0 + 123_456 });
  const eventId = await newEvent();
  expect((await getEvent(t, eventId)).nextAttemptAt).toBe(T0 + 123_456);
});
