import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { api, internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { MAX_RETRIES, RETRY_DELAYS_SECONDS } from "../../convex/lib/constants";
import type { EventPayload, FoundTxn, Outcome } from "../../convex/lib/contract";
import { eventGuid } from "../../convex/lib/lookup";
import {
  type T,
  actualQbStatusCounts,
  allApplied,
  answer,
  asEmployee,
  dumpAll,
  expectCode,
  expectRejectedWithoutWrites,
  getEvent,
  getSession,
  newTest,
  openSession,
  seedWorld,
  sendNext,
  stock,
} from "./setup";

const T0 = new Date("2025-06-02T08:00:00Z").getTime();
const MAIN = "ticket-main";
/** The longest TTL allowed (a day): the back-off test's retry schedule (~7 hours) fits in it. */
const MAIN_TTL_MS = 24 * 3600 * 1000;

let t: T;
let mainSession: Id<"qb_sync_sessions"> | null;

beforeEach(async () => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
  t = newTest();
  await seedWorld(t);
  mainSession = null;
});

afterEach(() => {
  vi.useRealTimers();
});

const at = (ms: number) => vi.setSystemTime(T0 + ms);
const next = () => t.query(internal.qbQueue.getNextPendingQbEvent, {});

/**
 * The main Web Connector session, opened on first use. Authenticate opens a
 * session only when something is due, so tests create their events first.
 */
async function session() {
  if (mainSession === null) mainSession = await openSession(t, MAIN, MAIN_TTL_MS);
  return mainSession;
}

const claim = async (eventId: Id<"inventory_events">) =>
  t.mutation(internal.qbQueue.markEventInFlight, { eventId, sessionId: await session() });
/** sendRequestXML on the main session (or another ticket): the claimed events. */
const send = async (limit: number, ticket = MAIN) => {
  if (ticket === MAIN) await session();
  return await sendNext(t, ticket, limit);
};
const apply = (eventId: Id<"inventory_events">, claimToken: string, outcome: Outcome) =>
  t.mutation(internal.qbQueue.applyQbResult, { eventId, claimToken, outcome });
const close = (ticketHash: string) => t.mutation(internal.qbSessions.close, { ticketHash, reason: "closeConnection" });
const voidIt = (eventId: Id<"inventory_events">) => asEmployee(t).mutation(api.inventory.voidEvent, { eventId, reason: "test" });

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

    const batch = await send(10);
    expect(batch.map((c) => c.eventId)).toEqual([e2, e3]);
    at(4000);
    for (const c of batch) await apply(c.eventId, c.claimToken!, { kind: "retryable", message: "busy" }); // due at 64 s

    at(62_999);
    expect(await next()).toBeNull();
    expect(await send(10)).toEqual([]);
    at(63_000);
    expect((await next())?.eventId).toBe(e1);
    at(64_000);
    expect((await send(10)).map((c) => c.eventId)).toEqual([e1, e2, e3]);
  });

  test("a pending event that became due earlier goes before a failed one due later", async () => {
    const e1 = await newEvent();
    const c1 = await claim(e1);
    at(500);
    await apply(e1, c1.claimToken!, { kind: "retryable", message: "busy" }); // due at 60.5 s
    at(10_000);
    const e2 = await newEvent(); // due at 10 s
    at(61_000);
    expect((await send(5)).map((c) => c.eventId)).toEqual([e2, e1]);
  });

  test("applied, dead, cancelled and not_required events are never eligible", async () => {
    const applied = await newEvent();
    const dead = await newEvent();
    const [ca, cd] = await send(2);
    await apply(applied, ca.claimToken!, { kind: "success", qbTxnId: "TX-1" });
    await apply(dead, cd.claimToken!, { kind: "permanent", message: "nope" });
    const voided = await newEvent();
    await voidIt(voided);
    const { eventId: notRequired } = await asEmployee(t).mutation(api.inventory.createTransferEvent, {
      sku: "WID-1",
      quantity: 1,
      fromLocation: "MAIN",
      toLocation: "MAIN-2",
    });
    for (const eventId of [applied, dead, voided, notRequired]) {
      await expectRejectedWithoutWrites(t, "NOT_CLAIMABLE", () => claim(eventId));
    }

    at(365 * 24 * 3600 * 1000);
    expect(await next()).toBeNull();
    // A year on, a Web Connector is told there is nothing to do.
    expect(await t.mutation(internal.qbSessions.authenticate, { ticketHash: "ticket-next-year", userName: "qbwc", ttlMs: 60_000 })).toEqual({
      status: "none",
    });
  });

  test("authenticate says whether there is anything to do", async () => {
    const auth = (ticketHash: string) => t.mutation(internal.qbSessions.authenticate, { ticketHash, userName: "qbwc", ttlMs: 60_000 });
    expect(await auth("t-1")).toEqual({ status: "none" });
    await newEvent();
    expect((await auth("t-2")).status).toBe("open");
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
      externalGuid: eventGuid(eventId),
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

  test("a claimed event's payload carries its claim token, which is the requestID", async () => {
    const eventId = await newEvent();
    const [sent] = await send(1);
    expect(sent).toMatchObject({ eventId, claimToken: `${eventId}:1`, mode: "send", externalGuid: eventGuid(eventId) });
  });

  test("a transfer to a location without a QB site has a null site ref", async () => {
    await stock(t, "WID-1", "MAIN", 5);
    const [c] = await send(1);
    await apply(c.eventId, c.claimToken!, { kind: "success", qbTxnId: "TX" });
    await asEmployee(t).mutation(api.inventory.createTransferEvent, { sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "BIN-A" });
    expect(await next()).toMatchObject({ fromSite: { listId: "80000001-1" }, toSite: null, toLocationCode: "BIN-A" });
  });

  test("an empty queue answers null", async () => {
    expect(await next()).toBeNull();
  });
});

describe("claims", () => {
  test("markEventInFlight claims with a token for as long as its session lives; the session counts it", async () => {
    const eventId = await newEvent();
    const sessionId = await session();
    at(5000);
    const claimed = await claim(eventId);
    expect(claimed).toMatchObject({ eventId, claimToken: `${eventId}:1`, mode: "send" });
    const event = await getEvent(t, eventId);
    expect(event).toMatchObject({ qbStatus: "in_flight", claimCount: 1, claimToken: `${eventId}:1`, claimSessionId: sessionId });
    expect(event.leaseExpiresAt).toBeUndefined();
    expect(await getSession(t, sessionId)).toMatchObject({ claimed: 1, lastSeenAt: T0 + 5000, outstanding: { requestIds: [`${eventId}:1`] } });
    // No lease: hours later, while its session lives, the claim still holds and nobody else may claim.
    at(5000 + MAIN_TTL_MS - 1);
    expect(await next()).toBeNull();
    expect((await getEvent(t, eventId)).qbStatus).toBe("in_flight");
  });

  test("a second claim of the same event is NOT_CLAIMABLE with no side effects; a second Web Connector cannot even start", async () => {
    const eventId = await newEvent();
    await newEvent();
    await claim(eventId);
    await expectRejectedWithoutWrites(t, "NOT_CLAIMABLE", () => claim(eventId));
    expect((await t.mutation(internal.qbSessions.authenticate, { ticketHash: "ticket-other", userName: "qbwc-2", ttlMs: 60_000 })).status).toBe("busy");
  });

  test("nextMessage takes up to limit in order and never hands an event out twice", async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) {
      at(i * 1000);
      ids.push(await newEvent());
    }
    const first = await send(3);
    expect(first.map((c) => c.eventId)).toEqual(ids.slice(0, 3));
    expect(first.every((c) => c.claimToken === `${c.eventId}:1`)).toBe(true);
    await answer(t, MAIN, allApplied(first));
    const second = await send(3);
    expect(second.map((c) => c.eventId)).toEqual(ids.slice(3));
    await answer(t, MAIN, allApplied(second));
    expect(await send(3)).toEqual([]);
    expect((await getSession(t, await session())).claimed).toBe(5);
    for (const eventId of ids) expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "applied", claimCount: 1 });
  });

  test("a lookup whose sending session is still live cannot be claimed by hand either", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    await apply(eventId, claimToken!, { kind: "retryable", message: "connection lost", lookupRequired: true });
    // Due at once, but QuickBooks may still be posting it under this session.
    await expectRejectedWithoutWrites(t, "NOT_CLAIMABLE", () => claim(eventId));
  });
});

describe("applyQbResult", () => {
  test("success -> applied with the TxnID; the claim leaves the outstanding message; the session counts it", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    at(2000);
    const result = await apply(eventId, claimToken!, { kind: "success", qbTxnId: "1A2B-1234", statusCode: "0" });
    expect(result).toMatchObject({ changed: true, stale: false, qbStatus: "applied", qbTxnId: "1A2B-1234", lastError: null });
    expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "applied", qbTxnId: "1A2B-1234", appliedAt: T0 + 2000, lastStatusCode: "0" });
    const s = await getSession(t, await session());
    expect(s.applied).toBe(1);
    expect(s.outstanding).toBeUndefined();
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
    expect(contradicting).toMatchObject({ changed: false, stale: false, qbStatus: "applied", qbTxnId: "TX-1" });
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
    expect(await getSession(t, await session())).toMatchObject({ failed: MAX_RETRIES, dead: 1, claimed: MAX_RETRIES + 1 });
  });

  test("a permanent error is dead at once", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    const result = await apply(eventId, claimToken!, { kind: "permanent", message: "Invalid reference to item", statusCode: "3140" });
    expect(result).toMatchObject({ changed: true, qbStatus: "dead", retryCount: 0, lastError: "Invalid reference to item" });
    expect(await getEvent(t, eventId)).toMatchObject({ lastStatusCode: "3140" });
    expect(await getSession(t, await session())).toMatchObject({ dead: 1, lastError: "Invalid reference to item" });
  });

  test("a token that no longer holds the event is reported stale and writes nothing", async () => {
    const eventId = await newEvent();
    const old = await claim(eventId);
    // Its session ends unanswered; the next session looks the event up under a new claim.
    await close(MAIN);
    await openSession(t, "ticket-2");
    const [renewed] = await send(1, "ticket-2");
    expect(renewed).toMatchObject({ eventId, claimToken: `${eventId}:2`, mode: "lookup" });
    // The ended session's late answer must not overwrite the new claim.
    const before = await dumpAll(t);
    expect(await apply(eventId, old.claimToken!, { kind: "success", qbTxnId: "LATE" })).toMatchObject({
      changed: false,
      stale: true,
      qbStatus: "in_flight",
      qbTxnId: null,
    });
    expect(await apply(eventId, "made-up", { kind: "success", qbTxnId: "X" })).toMatchObject({ changed: false, stale: true });
    expect(await dumpAll(t)).toEqual(before);
  });

  test("a result for an event never claimed is stale and writes nothing", async () => {
    const eventId = await newEvent();
    await expectStaleWithoutWrites(eventId, `${eventId}:1`);
  });

  async function expectStaleWithoutWrites(eventId: Id<"inventory_events">, claimToken: string) {
    const before = await dumpAll(t);
    expect(await apply(eventId, claimToken, { kind: "success", qbTxnId: "X" })).toMatchObject({ changed: false, stale: true, qbStatus: "pending" });
    expect(await dumpAll(t)).toEqual(before);
  }

  test("a result for an unknown event is EVENT_NOT_FOUND", async () => {
    const eventId = await newEvent();
    await t.run(async (ctx) => await ctx.db.delete(eventId));
    await expectRejectedWithoutWrites(t, "EVENT_NOT_FOUND", () => apply(eventId, `${eventId}:1`, { kind: "success", qbTxnId: "X" }));
  });

  test("not_found answering a send is not its answer: the outcome is unknown and it is looked up in a later session", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    const result = await apply(eventId, claimToken!, { kind: "not_found" });
    expect(result).toMatchObject({ changed: true, qbStatus: "failed", qbLookupRequired: true });
    expect(result.lastError).toContain("query result");
    expect(await send(5)).toEqual([]);
    await close(MAIN);
    await openSession(t, "ticket-2");
    expect((await send(5, "ticket-2")).map((e) => [e.eventId, e.mode])).toEqual([[eventId, "lookup"]]);
  });

  test("recordAnswer records a whole message, treats a skipped request as unknown, and reports what is still due", async () => {
    const ids = [await newEvent(), await newEvent(), await newEvent(), await newEvent()];
    const claimed = await send(3);
    expect(claimed.map((c) => c.eventId)).toEqual(ids.slice(0, 3));
    const out = await answer(t, MAIN, [
      { requestId: claimed[0].claimToken!, outcome: { kind: "success", qbTxnId: "TX-A" } },
      { requestId: claimed[2].claimToken!, outcome: { kind: "retryable", message: "busy" } },
    ]);
    expect(out.status).toBe("ok");
    if (out.status !== "ok") return;
    expect(out.results.map((r) => [r.eventId, r.qbStatus, r.changed, r.stale, r.qbLookupRequired])).toEqual([
      [ids[0], "applied", true, false, false],
      [ids[2], "failed", true, false, false],
      [ids[1], "failed", true, false, true],
    ]);
    // Handled 3; left: ids[3]. The busy one is not due yet, the unknown one waits for this session's end.
    expect(out.percent).toBe(75);
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
    expect((await send(5)).map((x) => x.eventId).sort()).toEqual([failed, dead].sort());
  });

  test.each(["pending", "in_flight", "applied", "not_required", "cancelled", "held"])("a %s event is NOT_RETRYABLE", async (status) => {
    // A held event comes from a lookup of its own; every other case starts from a pending event.
    let eventId = status === "held" ? (await heldEvent()).eventId : await newEvent();
    if (status === "in_flight" || status === "applied") {
      const { claimToken } = await claim(eventId);
      if (status === "applied") await apply(eventId, claimToken!, { kind: "success", qbTxnId: "TX" });
    } else if (status === "not_required") {
      eventId = (await asEmployee(t).mutation(api.inventory.createTransferEvent, { sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "MAIN-2" })).eventId;
    } else if (status === "cancelled") {
      const dead = await deadEvent();
      await voidIt(dead);
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

// ---- unknown outcomes: QuickBooks is asked before any resend ------------------------------------

/**
 * An event sent by a session that then went silent past its TTL (QBWC
 * crashed, the machine slept): whether QuickBooks saved it is unknown.
 */
async function lostEvent() {
  const eventId = await newEvent();
  await openSession(t, "ticket-lost", 60_000);
  const [sent] = await sendNext(t, "ticket-lost", 1);
  expect(sent).toMatchObject({ eventId, mode: "send" });
  at(59_999);
  // Still live: not work for anybody, not even as a lookup.
  expect(await next()).toBeNull();
  at(60_000);
  return { eventId, oldToken: sent.claimToken! };
}

/** A lost event, claimed for its lookup by the main session. */
async function lookupClaim() {
  const { eventId } = await lostEvent();
  const [lookup] = await send(1);
  expect(lookup).toMatchObject({ eventId, mode: "lookup", claimToken: `${eventId}:2` });
  return { eventId, lookup };
}

/** What QuickBooks would report for `payload` had it saved it, with overrides. */
function foundTxn(payload: EventPayload, overrides: Partial<FoundTxn> = {}): FoundTxn {
  return {
    txnId: "QB-TXN-7",
    refNumber: payload.refNumber,
    externalGuid: payload.externalGuid,
    account: payload.account,
    site: payload.site,
    fromSite: payload.fromSite,
    toSite: payload.toSite,
    lines: payload.lines.map((l) => ({ item: l.item, quantity: l.quantity })),
    ...overrides,
  };
}

/** A lookup that found someone else's transaction under the event's RefNumber. */
async function heldEvent() {
  const { eventId, lookup } = await lookupClaim();
  const result = await apply(eventId, lookup.claimToken!, {
    kind: "found",
    transactions: [foundTxn(lookup, { txnId: "QB-OTHER", externalGuid: eventGuid("another-app") })],
  });
  return { eventId, lookup, result };
}

describe("a session that is over: its unanswered claims are looked up first", () => {
  test("an expired session's claim is released at the next authenticate and claimed as a lookup", async () => {
    const { eventId } = await lostEvent();
    const before = await t.query(internal.qbQueue.getQueueStatus, {});
    expect(before.openSessions.map((s) => [s.userName, s.live, s.outstanding])).toEqual([["qbwc", false, 1]]);
    expect(before.lookups).toEqual([]);

    const sessionId = await session();
    const status = await t.query(internal.qbQueue.getQueueStatus, {});
    expect(status.lookups.map((e) => [e.eventId, e.qbStatus])).toEqual([[eventId, "failed"]]);
    expect(status.openSessions.map((s) => s.sessionId)).toEqual([sessionId]);

    const [reclaimed] = await send(5);
    expect(reclaimed).toMatchObject({ eventId, mode: "lookup", claimToken: `${eventId}:2` });
    expect(await getEvent(t, eventId)).toMatchObject({ qbLookupRequired: true, claimSessionId: sessionId });
  });

  test("getQueueStatus lists the live lookups (failed, then pending) however many dead lookups sort before them", async () => {
    const { eventId } = await lostEvent();
    await session();
    const pendingLookup = await newEvent();
    await t.run(async (ctx) => {
      await ctx.db.patch(pendingLookup, { qbLookupRequired: true });
      const template = (await ctx.db.get(pendingLookup))!;
      const { _id, _creationTime, ...fields } = template;
      for (let k = 0; k < 200; k++) await ctx.db.insert("inventory_events", { ...fields, qbStatus: "dead", refNumber: `DEAD-${k}` });
    });
    const status = await t.query(internal.qbQueue.getQueueStatus, {});
    expect(status.lookups.map((e) => [e.eventId, e.qbStatus])).toEqual([
      [eventId, "failed"],
      [pendingLookup, "pending"],
    ]);
  });

  test("lookups and sends travel in one message, in due order, each marked by its mode", async () => {
    const { eventId } = await lostEvent();
    const fresh = await newEvent();
    expect((await send(5)).map((c) => [c.eventId, c.mode])).toEqual([
      [eventId, "lookup"],
      [fresh, "send"],
    ]);
  });

  test("getNextPendingQbEvent shows a released claim as a lookup, without a usable token", async () => {
    const { eventId } = await lostEvent();
    // Until something ends the silent session, its claim is in flight, not due.
    expect(await next()).toBeNull();
    await session();
    expect(await next()).toMatchObject({ eventId, mode: "lookup", claimToken: null });
  });

  test("lookup not_found -> pending due now; the next claim sends", async () => {
    const { eventId, lookup } = await lookupClaim();
    at(61_000);
    const result = await apply(eventId, lookup.claimToken!, { kind: "not_found" });
    expect(result).toMatchObject({ changed: true, qbStatus: "pending", nextAttemptAt: T0 + 61_000, qbLookupRequired: false });
    const [resend] = await send(1);
    expect(resend).toMatchObject({ eventId, mode: "send", claimToken: `${eventId}:3` });
  });

  test("lookup found with no transaction under exactly this RefNumber is not_found", async () => {
    const { eventId, lookup } = await lookupClaim();
    const result = await apply(eventId, lookup.claimToken!, { kind: "found", transactions: [foundTxn(lookup, { refNumber: `${lookup.refNumber}0` })] });
    expect(result).toMatchObject({ qbStatus: "pending", qbLookupRequired: false });
  });

  test("lookup found carrying our ExternalGUID -> applied with the TxnID QuickBooks already had", async () => {
    const { eventId, lookup } = await lookupClaim();
    const result = await apply(eventId, lookup.claimToken!, { kind: "found", transactions: [foundTxn(lookup, { txnId: "FOUND-7" })] });
    expect(result).toMatchObject({ changed: true, qbStatus: "applied", qbTxnId: "FOUND-7", qbLookupRequired: false, holdReason: null });
    expect(await getSession(t, await session())).toMatchObject({ applied: 1, held: 0 });
  });

  test("lookup found without a GUID but with the event's content -> applied", async () => {
    const { eventId, lookup } = await lookupClaim();
    const result = await apply(eventId, lookup.claimToken!, {
      kind: "found",
      transactions: [foundTxn(lookup, { txnId: "HAND-1", externalGuid: null })],
    });
    expect(result).toMatchObject({ qbStatus: "applied", qbTxnId: "HAND-1" });
  });

  test("a success answering a lookup is accepted as applied too", async () => {
    const { eventId, lookup } = await lookupClaim();
    expect(await apply(eventId, lookup.claimToken!, { kind: "success", qbTxnId: "FOUND-8" })).toMatchObject({
      qbStatus: "applied",
      qbTxnId: "FOUND-8",
      qbLookupRequired: false,
    });
  });

  test("a retryable failure of a lookup keeps the next claim a lookup, also after an admin retry", async () => {
    const { eventId, lookup } = await lookupClaim();
    await apply(eventId, lookup.claimToken!, { kind: "retryable", message: "QB busy" });
    // Its second failure: due after the second back-off step.
    expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "failed", qbLookupRequired: true, retryCount: 2, nextAttemptAt: T0 + 60_000 + 300_000 });
    at(60_000 + 300_000);
    await close(MAIN);
    await openSession(t, "ticket-3");
    const [again] = await send(1, "ticket-3");
    expect(again).toMatchObject({ eventId, mode: "lookup" });
    await apply(eventId, again.claimToken!, { kind: "permanent", message: "query failed" });
    await close("ticket-3");
    await t.mutation(internal.qbQueue.retryFailedEvent, { eventId });
    await openSession(t, "ticket-4");
    expect((await send(1, "ticket-4"))[0]).toMatchObject({ eventId, mode: "lookup" });
  });

  test("a send that failed with the outcome unknown (lookupRequired) is looked up, once its session is over", async () => {
    const eventId = await newEvent();
    const { claimToken } = await claim(eventId);
    const state = await apply(eventId, claimToken!, { kind: "retryable", message: "connection lost", lookupRequired: true });
    expect(state).toMatchObject({ qbStatus: "failed", qbLookupRequired: true });
    at(60_000);
    expect(await next()).toBeNull();
    expect(await send(1)).toEqual([]);
    await close(MAIN);
    await openSession(t, "ticket-2");
    expect((await send(1, "ticket-2"))[0]).toMatchObject({ eventId, mode: "lookup" });
  });

  test("markEventInFlight also claims a released claim, as a lookup", async () => {
    const { eventId } = await lostEvent();
    await session();
    expect(await claim(eventId)).toMatchObject({ mode: "lookup", claimToken: `${eventId}:2` });
  });

  test("endOpenSessions ends live sessions at once: what they had sent becomes a lookup", async () => {
    const eventId = await newEvent();
    const sessionId = await session();
    await send(1);
    const ended = await t.mutation(internal.qbQueue.endOpenSessions, {});
    expect(ended.map((s) => [s.sessionId, s.status, s.closeReason])).toEqual([[sessionId, "closed", "ended by an operator"]]);
    expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "failed", qbLookupRequired: true });
    expect(await t.mutation(internal.qbQueue.endOpenSessions, {})).toEqual([]);
    await openSession(t, "ticket-2");
    expect((await send(1, "ticket-2"))[0]).toMatchObject({ eventId, mode: "lookup" });
  });
});

describe("held: a lookup found a transaction under the RefNumber that is not this event", () => {
  test("a mismatching transaction holds the event: never sent, never voided, shown to operators", async () => {
    const { eventId, result } = await heldEvent();
    expect(result).toMatchObject({ changed: true, qbStatus: "held", qbLookupRequired: true });
    expect(result.holdReason).toContain("QB-OTHER");
    expect(result.holdReason).toContain("different ExternalGUID");
    expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "held", qbLookupRequired: true, lastError: result.holdReason });
    expect(await getSession(t, await session())).toMatchObject({ held: 1, lastError: result.holdReason });

    // QuickBooks may still hold it: not voidable, not retried by itself, not offered to anyone.
    await expectRejectedWithoutWrites(t, "VOID_IN_FLIGHT", () => voidIt(eventId));
    at(365 * 24 * 3600 * 1000);
    expect(await next()).toBeNull();
    const status = await t.query(internal.qbQueue.getQueueStatus, {});
    expect(status.counts.held).toBe(1);
    expect(status.held.map((e) => [e.eventId, e.holdReason])).toEqual([[eventId, result.holdReason]]);
  });

  test("a transaction with different content and no GUID holds it too, naming the difference", async () => {
    const { eventId, lookup } = await lookupClaim();
    const result = await apply(eventId, lookup.claimToken!, {
      kind: "found",
      transactions: [foundTxn(lookup, { externalGuid: null, lines: [{ item: lookup.lines[0].item, quantity: 99 }] })],
    });
    expect(result.qbStatus).toBe("held");
    expect(result.holdReason).toContain("no line of 1 x Widgets:Widget");
  });

  test("held through the seam: recordAnswer tallies it and close reports it", async () => {
    const { eventId } = await lostEvent();
    const [lookup] = await send(1);
    const out = await answer(t, MAIN, [
      { requestId: lookup.claimToken!, outcome: { kind: "found", transactions: [foundTxn(lookup, { externalGuid: eventGuid("x") })] } },
    ]);
    expect(out).toMatchObject({ status: "ok", percent: 100 });
    expect(out.status === "ok" && out.results.map((r) => [r.eventId, r.qbStatus])).toEqual([[eventId, "held"]]);
    expect(await close(MAIN)).toMatchObject({ held: 1, applied: 0 });
  });

  test("resolveHeldEvent with send: pending, due now, lookup cleared; the next claim sends", async () => {
    const { eventId } = await heldEvent();
    at(70_000);
    const state = await t.mutation(internal.qbQueue.resolveHeldEvent, { eventId, send: true });
    expect(state).toMatchObject({ qbStatus: "pending", qbLookupRequired: false, holdReason: null, retryCount: 0, nextAttemptAt: T0 + 70_000 });
    const [resend] = await send(1);
    expect(resend).toMatchObject({ eventId, mode: "send", claimToken: `${eventId}:3` });
  });

  test("resolveHeldEvent with txnId: applied with that TxnID, then only a compensating event can undo it", async () => {
    const { eventId } = await heldEvent();
    at(70_000);
    const state = await t.mutation(internal.qbQueue.resolveHeldEvent, { eventId, txnId: " QB-OTHER " });
    expect(state).toMatchObject({ qbStatus: "applied", qbTxnId: "QB-OTHER", qbLookupRequired: false, holdReason: null });
    expect(await getEvent(t, eventId)).toMatchObject({ appliedAt: T0 + 70_000 });
    await expectRejectedWithoutWrites(t, "VOID_APPLIED", () => voidIt(eventId));
    const counts = (await t.query(internal.qbQueue.getQueueStatus, {})).counts;
    expect([counts.held, counts.applied]).toEqual([0, 1]);
  });

  test("resolveHeldEvent on an event that is not held is NOT_HELD and writes nothing", async () => {
    const eventId = await newEvent();
    await expectRejectedWithoutWrites(t, "NOT_HELD", () => t.mutation(internal.qbQueue.resolveHeldEvent, { eventId, send: true }));
    const { claimToken } = await claim(eventId);
    await apply(eventId, claimToken!, { kind: "success", qbTxnId: "TX" });
    await expectRejectedWithoutWrites(t, "NOT_HELD", () => t.mutation(internal.qbQueue.resolveHeldEvent, { eventId, txnId: "TX-2" }));
  });

  test.each<[string, { send?: boolean; txnId?: string }]>([
    ["neither send nor txnId", {}],
    ["both send and txnId", { send: true, txnId: "TX" }],
    ["send: false", { send: false }],
    ["an empty txnId", { txnId: "  " }],
    ["a txnId with spaces inside", { txnId: "A B" }],
  ])("resolveHeldEvent with %s is INVALID_ARGUMENT and writes nothing", async (_label, args) => {
    const { eventId } = await heldEvent();
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => t.mutation(internal.qbQueue.resolveHeldEvent, { eventId, ...args }));
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
    const claimed = await send(6);
    await apply(claimed[0].eventId, claimed[0].claimToken!, { kind: "success", qbTxnId: "A" });
    await apply(claimed[1].eventId, claimed[1].claimToken!, { kind: "success", qbTxnId: "B" });
    await apply(claimed[2].eventId, claimed[2].claimToken!, { kind: "retryable", message: "busy" });
    await apply(claimed[3].eventId, claimed[3].claimToken!, { kind: "permanent", message: "bad" });
    await apply(claimed[4].eventId, claimed[4].claimToken!, { kind: "permanent", message: "bad" });
    await t.mutation(internal.qbQueue.retryFailedEvent, { eventId: claimed[4].eventId });
    await voidIt(ids[7]);
    // claimed[5] stays in flight.

    at(20_000);
    const status = await t.query(internal.qbQueue.getQueueStatus, {});
    // Signed in: without an identity health carries no counts.
    const health = await asEmployee(t).query(api.functions.health, {});
    const actual = await actualQbStatusCounts(t);
    const expected = { pending: 0, in_flight: 0, applied: 0, failed: 0, dead: 0, not_required: 0, cancelled: 0, held: 0, ...actual };
    expect(expected).toEqual({ pending: 3, in_flight: 1, applied: 2, failed: 1, dead: 1, not_required: 1, cancelled: 1, held: 0 });
    expect(status.counts).toEqual(expected);
    expect(health.qbStatusCounts).toEqual(expected);
    expect(health.eventsCreated).toBe(10);
    expect(status.serverTime).toBe(T0 + 20_000);
    expect(status.dueCount).toBe(3);
    // Oldest due: ids[6], created at 6 s and never claimed.
    expect(status.oldestDueAt).toBe(T0 + 6000);
    expect(status.oldestDueAgeSeconds).toBe(14);
    expect(status.dead.map((d) => d.eventId)).toEqual([claimed[3].eventId]);
    expect(status.held).toEqual([]);
    expect(status.lookups).toEqual([]);
    expect(status.openSessions).toHaveLength(1);
    expect(status.openSessions[0]).toMatchObject({ live: true, outstanding: 1, claimed: 6, applied: 2, failed: 1, dead: 2 });
  });
});

describe("getEventState", () => {
  test("finds an event by id or refNumber", async () => {
    const eventId = await newEvent();
    const { refNumber } = await getEvent(t, eventId);
    expect(await t.query(internal.qbQueue.getEventState, { refNumber })).toMatchObject({ eventId, qbStatus: "pending", holdReason: null });
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
