/**
 * QBWC sessions: the rules of lib/sessions.ts on their own, and the seam the
 * bridge calls (qbSessions:*), one mutation per SOAP call.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import {
  DEFAULT_SESSION_TTL_MS,
  IDLE_SESSION_MS,
  MAX_SESSION_TTL_MS,
  MIN_SESSION_TTL_MS,
  REFUSED_SESSION_KEEP_MS,
} from "../../convex/lib/constants";
import { describeWriter, holdsWriter, isExpired, isOver, percentDone, seen, sessionView, ttlOf, type Session } from "../../convex/lib/sessions";
import { NOTHING_DUE, UNKNOWN_TICKET } from "../../convex/lib/sync";
import {
  type Answer,
  type T,
  allApplied,
  answer,
  dumpAll,
  expectRejectedWithoutWrites,
  getEvent,
  getSession,
  knownCompany,
  newCallId,
  newTest,
  openSession,
  seedWorld,
  sendNext,
  stock,
} from "./setup";

const T0 = new Date("2025-09-01T12:00:00Z").getTime();

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
const authenticate = (ticketHash: string, extra: { userName?: string; ttlMs?: number; companyFile?: string } = {}) =>
  t.mutation(internal.qbSessions.authenticate, { ticketHash, userName: "qbwc", ttlMs: DEFAULT_SESSION_TTL_MS, ...extra });
const nextMessage = (ticketHash: string, limit = 10, extra: { callId?: string; companyFile?: string; qbXmlVersion?: string } = {}) =>
  t.mutation(internal.qbSessions.nextMessage, { ticketHash, limit, callId: newCallId("send"), ...extra });
const close = (ticketHash: string, reason = "closeConnection", error?: string) =>
  t.mutation(internal.qbSessions.close, { ticketHash, reason, error });
const lastError = (ticketHash: string) => t.query(internal.qbSessions.getLastError, { ticketHash });
const sessions = () => t.run(async (ctx) => await ctx.db.query("qb_sync_sessions").collect());
const events = () => t.run(async (ctx) => await ctx.db.query("inventory_events").collect());

/** n pending adjustments, one second apart (so their order is known). */
async function pendingEvents(n: number) {
  const ids: Id<"inventory_events">[] = [];
  for (let i = 0; i < n; i++) ids.push((await stock(t, "WID-1", "MAIN", 1)).eventId);
  return ids;
}

// ---- lib/sessions.ts ---------------------------------------------------------------

function session(overrides: Partial<Session> = {}): Session {
  return {
    _id: "s1" as Id<"qb_sync_sessions">,
    _creationTime: T0,
    ticketHash: "h",
    userName: "qbwc",
    status: "open",
    openedAt: T0,
    lastSeenAt: T0,
    expiresAt: T0 + 600_000,
    ttlMs: 600_000,
    claimed: 0,
    applied: 0,
    failed: 0,
    dead: 0,
    held: 0,
    ...overrides,
  };
}

const outstanding = { messageId: "m1", requestIds: ["e1:1", "e2:1"], sentAt: T0 };

describe("lib/sessions rules", () => {
  test("isExpired: open and silent up to expiresAt; closed or refused sessions are not 'expired'", () => {
    expect(isExpired(session(), T0 + 599_999)).toBe(false);
    expect(isExpired(session(), T0 + 600_000)).toBe(true);
    expect(isExpired(session({ status: "closed" }), T0 + 10 * 600_000)).toBe(false);
    expect(isExpired(session({ status: "refused" }), T0 + 10 * 600_000)).toBe(false);
  });

  test("isOver: missing, closed, refused or expired; an open live session is not over", () => {
    expect(isOver(null, T0)).toBe(true);
    expect(isOver(session(), T0 + 599_999)).toBe(false);
    expect(isOver(session(), T0 + 600_000)).toBe(true);
    expect(isOver(session({ status: "closed" }), T0)).toBe(true);
    expect(isOver(session({ status: "refused" }), T0)).toBe(true);
  });

  test("holdsWriter: an idle session gives way after IDLE_SESSION_MS; one with a message outstanding holds until its TTL", () => {
    expect(holdsWriter(session(), T0 + IDLE_SESSION_MS - 1)).toBe(true);
    expect(holdsWriter(session(), T0 + IDLE_SESSION_MS)).toBe(false);
    const waiting = session({ outstanding });
    expect(holdsWriter(waiting, T0 + IDLE_SESSION_MS)).toBe(true);
    expect(holdsWriter(waiting, T0 + 599_999)).toBe(true);
    expect(holdsWriter(waiting, T0 + 600_000)).toBe(false);
    expect(holdsWriter(session({ status: "closed", outstanding }), T0)).toBe(false);
    expect(holdsWriter(session({ status: "refused" }), T0)).toBe(false);
    // Idle is measured from the last call, not from the opening.
    expect(holdsWriter(session({ lastSeenAt: T0 + 100_000 }), T0 + IDLE_SESSION_MS + 99_999)).toBe(true);
  });

  test("the TTL slides: every call keeps the session alive for another TTL", () => {
    expect(seen(session(), T0 + 5000)).toEqual({ lastSeenAt: T0 + 5000, expiresAt: T0 + 605_000 });
    expect(ttlOf(session({ ttlMs: undefined }))).toBe(DEFAULT_SESSION_TTL_MS);
  });

  test.each([
    [0, 0, 100],
    [25, 0, 100],
    [0, 10, 1],
    [1, 1000, 1],
    [25, 75, 25],
    [2, 1, 66],
    [999, 1, 99],
    [1_000_000, 1, 99],
  ])("percentDone(handled %i, remaining %i) = %i", (handled, remaining, percent) => {
    expect(percentDone(handled, remaining)).toBe(percent);
    expect(Number.isInteger(percentDone(handled, remaining))).toBe(true);
  });

  test("describeWriter names the user, the company file and how long it has been quiet", () => {
    const text = describeWriter(session({ userName: "alice-pc", companyFile: "C:\\Books\\Acme.QBW", lastSeenAt: T0 + 30_000 }), T0 + 72_000);
    expect(text).toBe("user alice-pc, company file C:\\Books\\Acme.QBW, opened 72 s ago, last call 42 s ago");
    expect(describeWriter(session({ outstanding }), T0 + 1000)).toBe(
      "user qbwc, the company file open in QuickBooks, opened 1 s ago, last call 1 s ago, waiting for QuickBooks to answer a message",
    );
  });

  test("sessionView reports liveness and the outstanding message's size", () => {
    expect(sessionView(session({ outstanding }), T0)).toMatchObject({ live: true, outstanding: 2, companyFile: null, lastError: null });
    expect(sessionView(session(), T0 + 600_000)).toMatchObject({ live: false, outstanding: 0 });
  });
});

// ---- authenticate -----------------------------------------------------------------------

describe("qbSessions:authenticate", () => {
  test("'none' when nothing is due, and nothing is stored but the hour's queue sample", async () => {
    const before = await dumpAll(t);
    expect(await authenticate("h-1")).toEqual({ status: "none" });
    const after = await dumpAll(t);
    expect({ ...after, sync_stats_hourly: [] }).toEqual({ ...before, sync_stats_hourly: [] });
    expect(after.sync_stats_hourly).toHaveLength(1);
    // Another idle poll in the same hour changes nothing at all.
    expect(await authenticate("h-1b")).toEqual({ status: "none" });
    expect(await dumpAll(t)).toEqual(after);
    // Work that is not due yet is not work now either.
    const [eventId] = await pendingEvents(1);
    const ticket = "h-2";
    await openSession(t, ticket);
    const [c] = await sendNext(t, ticket, 1);
    await answer(t, ticket, [{ requestId: c.claimToken!, outcome: { kind: "retryable", message: "busy" } }]);
    await close(ticket);
    at(59_999);
    expect(await authenticate("h-3")).toEqual({ status: "none" });
    at(60_000);
    expect(await authenticate("h-4")).toMatchObject({ status: "open" });
    expect((await getEvent(t, eventId)).qbStatus).toBe("failed");
  });

  test("'open' stores the ticket's hash, user, company file, TTL and zero tallies", async () => {
    await pendingEvents(1);
    const result = await authenticate("h-1", { companyFile: "C:\\Books\\co.qbw", ttlMs: 120_000 });
    expect(result).toMatchObject({ status: "open", expiresAt: T0 + 120_000 });
    if (result.status !== "open") return;
    expect(await getSession(t, result.sessionId)).toMatchObject({
      ticketHash: "h-1",
      userName: "qbwc",
      status: "open",
      companyFile: "C:\\Books\\co.qbw",
      openedAt: T0,
      lastSeenAt: T0,
      expiresAt: T0 + 120_000,
      ttlMs: 120_000,
      claimed: 0,
      applied: 0,
      failed: 0,
      dead: 0,
      held: 0,
    });
    expect(await sessions()).toHaveLength(1);
  });

  test.each<[string, { ticketHash?: string; userName?: string; ttlMs?: number; companyFile?: string }]>([
    ["an empty ticket hash", { ticketHash: "  " }],
    ["an empty user name", { userName: "" }],
    ["a TTL below the minimum", { ttlMs: MIN_SESSION_TTL_MS - 1 }],
    ["a TTL above the maximum", { ttlMs: MAX_SESSION_TTL_MS + 1 }],
    ["a fractional TTL", { ttlMs: 60_000.5 }],
    ["a company file path over 1000 characters", { companyFile: "C".repeat(1001) }],
  ])("%s is INVALID_ARGUMENT and writes nothing", async (_label, args) => {
    await pendingEvents(1);
    const { ticketHash = "h-1", ...extra } = args;
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => authenticate(ticketHash, extra));
  });

  test("the same ticket twice (a retry after a lost reply) gives the same answer and ONE session", async () => {
    await pendingEvents(1);
    const first = await authenticate("h-1");
    at(10_000);
    const before = await dumpAll(t);
    const again = await authenticate("h-1");
    expect(again).toEqual(first);
    expect(await dumpAll(t)).toEqual(before);
    expect((await sessions()).filter((s) => s.ticketHash === "h-1")).toHaveLength(1);
    // The retry is not a second Web Connector: it was not refused as busy.
    expect(again.status).toBe("open");
  });

  test("a second Web Connector right after the first is 'busy', told who is syncing", async () => {
    await pendingEvents(2);
    await knownCompany(t, { companyFile: "C:\\Books\\Acme.QBW" });
    const first = await authenticate("h-1", { userName: "alice-pc", companyFile: "C:\\Books\\Acme.QBW" });
    expect(first.status).toBe("open");
    at(3000);
    const second = await authenticate("h-2", { userName: "bob-pc" });
    expect(second.status).toBe("busy");
    if (second.status !== "busy") return;
    expect(second.message).toContain("Another Web Connector is syncing");
    expect(second.message).toContain("user alice-pc");
    expect(second.message).toContain("C:\\Books\\Acme.QBW");
    expect(second.message).not.toContain("bob-pc");

    const refused = (await sessions()).find((s) => s.ticketHash === "h-2");
    expect(refused).toMatchObject({ status: "refused", userName: "bob-pc", closeReason: "busy", closedAt: T0 + 3000, lastError: second.message });
    expect(await lastError("h-2")).toBe(second.message);
    // The refused ticket opens nothing: its calls are answered as unknown.
    expect(await nextMessage("h-2")).toEqual({ status: "rejected", reason: "unknown", message: UNKNOWN_TICKET });
    // Its retry is busy again, with no second row.
    expect(await authenticate("h-2", { userName: "bob-pc" })).toEqual(second);
    expect((await sessions()).filter((s) => s.ticketHash === "h-2")).toHaveLength(1);
    // The first one is untouched and keeps working.
    expect(await sendNext(t, "h-1", 10)).toHaveLength(2);
  });

  test("busy rows are kept a day for getLastError, then pruned", async () => {
    await pendingEvents(1);
    await authenticate("h-1");
    expect((await authenticate("h-2")).status).toBe("busy");
    // A day on, h-1 has expired (its TTL is an hour) and gives way; h-2's row is exactly a day old.
    at(REFUSED_SESSION_KEEP_MS);
    expect((await authenticate("h-3")).status).toBe("open");
    expect((await sessions()).map((s) => [s.ticketHash, s.status]).sort()).toEqual([
      ["h-1", "closed"],
      ["h-2", "refused"],
      ["h-3", "open"],
    ]);
    at(REFUSED_SESSION_KEEP_MS + 1);
    expect((await authenticate("h-4")).status).toBe("busy");
    expect((await sessions()).map((s) => [s.ticketHash, s.status]).sort()).toEqual([
      ["h-1", "closed"],
      ["h-3", "open"],
      ["h-4", "refused"],
    ]);
    expect(await lastError("h-2")).toBe(UNKNOWN_TICKET);
  });

  test("an idle session (no message outstanding) gives way after IDLE_SESSION_MS of silence", async () => {
    await pendingEvents(3);
    const a = await openSession(t, "h-a");
    const message = await sendNext(t, "h-a", 2);
    at(20_000);
    expect((await answer(t, "h-a", allApplied(message))).status).toBe("ok");
    // Silent since 20 s, nothing outstanding.
    at(20_000 + IDLE_SESSION_MS - 1);
    expect((await authenticate("h-b")).status).toBe("busy");
    at(20_000 + IDLE_SESSION_MS);
    const c = await authenticate("h-c");
    expect(c.status).toBe("open");
    expect(await getSession(t, a)).toMatchObject({ status: "closed", closeReason: "superseded", closedAt: T0 + 20_000 + IDLE_SESSION_MS });
    // The superseded Web Connector is told why if it calls again.
    const rejected = await nextMessage("h-a");
    expect(rejected).toMatchObject({ status: "rejected", reason: "closed" });
    expect(rejected.status === "rejected" && rejected.message).toContain("took over");
    expect(await lastError("h-a")).toContain("took over");
    // h-b was refused earlier; its retry stays refused rather than opening a second writer.
    expect((await authenticate("h-b")).status).toBe("busy");
    expect((await sessions()).filter((s) => s.status === "open").map((s) => s.ticketHash)).toEqual(["h-c"]);
  });

  test("a session with a message outstanding does NOT give way until its TTL, then its claims become lookups", async () => {
    const ids = await pendingEvents(2);
    const ttlMs = 20 * 60_000;
    const a = await openSession(t, "h-a", ttlMs);
    at(1000);
    const sent = await sendNext(t, "h-a", 1);
    expect(sent.map((e) => e.eventId)).toEqual([ids[0]]);
    // QuickBooks is still working on it (a modal dialog, say): nobody else may claim, look up or resend.
    for (const when of [IDLE_SESSION_MS, IDLE_SESSION_MS * 2, 1000 + ttlMs - 1]) {
      at(when);
      const busy = await authenticate(`h-busy-${when}`);
      expect(busy.status).toBe("busy");
      expect(busy.status === "busy" && busy.message).toContain("waiting for QuickBooks to answer a message");
    }
    expect((await getEvent(t, ids[0])).qbStatus).toBe("in_flight");

    at(1000 + ttlMs);
    expect((await authenticate("h-c")).status).toBe("open");
    expect(await getSession(t, a)).toMatchObject({ status: "closed", closeReason: "expired" });
    expect((await getSession(t, a)).outstanding).toBeUndefined();
    expect(await getEvent(t, ids[0])).toMatchObject({ qbStatus: "failed", qbLookupRequired: true, claimSessionId: a, retryCount: 1 });
  });

  test("the TTL slides with every call", async () => {
    await pendingEvents(3);
    const a = await openSession(t, "h-a", 10 * 60_000);
    at(8 * 60_000);
    await answer(t, "h-a", allApplied(await sendNext(t, "h-a", 1)));
    expect((await getSession(t, a)).expiresAt).toBe(T0 + 18 * 60_000);
    at(17 * 60_000);
    expect(await sendNext(t, "h-a", 1)).toHaveLength(1);
  });

  test("an expired session's claims are released at the next authenticate, and looked up only in a later session", async () => {
    const [e1, e2] = await pendingEvents(2);
    const a = await openSession(t, "h-a", 60_000);
    const sent = await sendNext(t, "h-a", 10);
    expect(sent.map((e) => [e.eventId, e.mode])).toEqual([
      [e1, "send"],
      [e2, "send"],
    ]);
    at(59_999);
    // Still live: its claims stay in flight and are not work for anyone else.
    expect((await authenticate("h-early")).status).toBe("none");
    expect((await getEvent(t, e1)).qbStatus).toBe("in_flight");
    at(60_000);
    // Ended by the next authenticate: what it held is an unknown outcome, due for a lookup at once.
    expect((await authenticate("h-c")).status).toBe("open");
    expect(await getSession(t, a)).toMatchObject({ status: "closed", closeReason: "expired" });
    for (const eventId of [e1, e2]) {
      expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "failed", qbLookupRequired: true, nextAttemptAt: T0 + 60_000, claimSessionId: a });
    }
    expect(await nextMessage("h-a")).toMatchObject({ status: "rejected", reason: "closed" });
    const lookups = await sendNext(t, "h-c", 10);
    expect(lookups.map((e) => [e.eventId, e.mode, e.claimToken])).toEqual([
      [e1, "lookup", `${e1}:2`],
      [e2, "lookup", `${e2}:2`],
    ]);
  });

  test("an expired session is ended by any call on its own ticket too", async () => {
    const [e1] = await pendingEvents(1);
    const a = await openSession(t, "h-a", 60_000);
    await sendNext(t, "h-a", 10);
    at(60_000);
    expect(await lastError("h-a")).toContain("expired");
    const rejected = await nextMessage("h-a");
    expect(rejected).toMatchObject({ status: "rejected", reason: "expired" });
    expect(await getSession(t, a)).toMatchObject({ status: "closed", closeReason: "expired", closedAt: T0 + 60_000 });
    expect(await getEvent(t, e1)).toMatchObject({ qbStatus: "failed", qbLookupRequired: true });
    // Once ended, it stays ended.
    expect(await nextMessage("h-a")).toMatchObject({ status: "rejected", reason: "closed" });
  });

  test("claims orphaned by a session that is no longer open are released at authenticate", async () => {
    const [e1] = await pendingEvents(1);
    const a = await openSession(t, "h-a");
    await sendNext(t, "h-a", 1);
    // A session closed by something that did not release its claims (older releases, a crash in between).
    await t.run(async (ctx) => await ctx.db.patch(a, { status: "closed", closedAt: T0, outstanding: undefined }));
    await stock(t, "WID-1", "MAIN", 1);
    expect((await authenticate("h-b")).status).toBe("open");
    expect(await getEvent(t, e1)).toMatchObject({ qbStatus: "failed", qbLookupRequired: true });
  });
});

// ---- sendRequestXML ---------------------------------------------------------------------

describe("qbSessions:nextMessage", () => {
  test("claims the oldest due events up to the limit and records them as the outstanding message", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) {
      at(i * 1000);
      ids.push(...(await pendingEvents(1)));
    }
    const sessionId = await openSession(t, "h-1");
    at(5000);
    await knownCompany(t, { companyFile: "C:\\co.qbw" });
    const result = await nextMessage("h-1", 2, { callId: "send-A", companyFile: "C:\\co.qbw", qbXmlVersion: "13.0" });
    expect(result.status).toBe("events");
    if (result.status !== "events") return;
    expect(result.messageId).toBe("send-A");
    expect(result.events.map((e) => [e.eventId, e.claimToken, e.mode])).toEqual([
      [ids[0], `${ids[0]}:1`, "send"],
      [ids[1], `${ids[1]}:1`, "send"],
    ]);
    expect(await getSession(t, sessionId)).toMatchObject({
      claimed: 2,
      lastSeenAt: T0 + 5000,
      companyFile: "C:\\co.qbw",
      qbXmlVersion: "13.0",
      outstanding: { messageId: "send-A", requestIds: [`${ids[0]}:1`, `${ids[1]}:1`], sentAt: T0 + 5000 },
    });
    expect(await getEvent(t, ids[0])).toMatchObject({ qbStatus: "in_flight", claimSessionId: sessionId, claimCount: 1 });
    expect((await getEvent(t, ids[2])).qbStatus).toBe("pending");
    // QBWC sends an empty company file when the open one is meant: keep what we have.
    await answer(t, "h-1", allApplied(result.events));
    await nextMessage("h-1", 2, { companyFile: "" });
    expect((await getSession(t, sessionId)).companyFile).toBe("C:\\co.qbw");
  });

  test("the same callId twice (a retry after a lost reply) returns the same events and claims nothing twice", async () => {
    const ids = await pendingEvents(3);
    const sessionId = await openSession(t, "h-1");
    const first = await nextMessage("h-1", 2, { callId: "send-1" });
    const before = await dumpAll(t);
    at(4000);
    const again = await nextMessage("h-1", 2, { callId: "send-1" });
    expect(again).toEqual(first);
    expect(await dumpAll(t)).toEqual(before);
    expect((await getEvent(t, ids[2])).qbStatus).toBe("pending");
    expect((await getSession(t, sessionId)).claimed).toBe(2);
    for (const eventId of ids.slice(0, 2)) expect((await getEvent(t, eventId)).claimCount).toBe(1);
  });

  test("a repeat of a send that found nothing is nothing again", async () => {
    await pendingEvents(1);
    await openSession(t, "h-1");
    await answer(t, "h-1", allApplied(await sendNext(t, "h-1", 5)));
    const empty = await nextMessage("h-1", 5, { callId: "send-empty" });
    expect(empty).toMatchObject({ status: "nothing", message: NOTHING_DUE });
    await pendingEvents(1); // new work arrives between the call and its retry
    expect(await nextMessage("h-1", 5, { callId: "send-empty" })).toEqual(empty);
  });

  test("a new send while a message is outstanding makes its claims unknown: looked up once this session is over", async () => {
    const ids = await pendingEvents(3);
    const a = await openSession(t, "h-a");
    const first = await sendNext(t, "h-a", 2);
    // QBWC moved on without delivering QuickBooks' answer to `first`.
    const second = await sendNext(t, "h-a", 2);
    expect(second.map((e) => e.eventId)).toEqual([ids[2]]);
    for (const e of first) {
      expect(await getEvent(t, e.eventId)).toMatchObject({ qbStatus: "failed", qbLookupRequired: true, claimSessionId: a });
    }
    expect((await getSession(t, a)).outstanding?.requestIds).toEqual([`${ids[2]}:1`]);
    // Due at once, but this session may still be posting them: not offered to it.
    at(60_000);
    const result = await answer(t, "h-a", allApplied(second));
    expect(result).toMatchObject({ status: "ok", percent: 100 });
    expect(await sendNext(t, "h-a", 10)).toEqual([]);
    expect(await t.query(internal.qbQueue.getNextPendingQbEvent, {})).toBeNull();
    await close("h-a");
    await openSession(t, "h-b");
    expect((await sendNext(t, "h-b", 10)).map((e) => [e.eventId, e.mode])).toEqual(first.map((e) => [e.eventId, "lookup"]));
  });

  test("nothing due: 'nothing', remembered for getLastError", async () => {
    await pendingEvents(1);
    const sessionId = await openSession(t, "h-1");
    await answer(t, "h-1", allApplied(await sendNext(t, "h-1", 5)));
    expect(await nextMessage("h-1")).toEqual({ status: "nothing", sessionId, message: NOTHING_DUE });
    expect(await lastError("h-1")).toBe(NOTHING_DUE);
    expect((await getSession(t, sessionId)).outstanding).toBeUndefined();
  });

  test.each([0, -1, 1.5, 101])("limit %s is INVALID_ARGUMENT and writes nothing", async (limit) => {
    await pendingEvents(1);
    await openSession(t, "h-1");
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => nextMessage("h-1", limit));
  });

  test("unknown, closed and expired tickets are rejected with distinct reasons", async () => {
    await pendingEvents(1);
    expect(await nextMessage("nope")).toEqual({ status: "rejected", reason: "unknown", message: UNKNOWN_TICKET });
    await openSession(t, "closed");
    await close("closed");
    expect(await nextMessage("closed")).toEqual({ status: "rejected", reason: "closed", message: UNKNOWN_TICKET });
    await openSession(t, "expiring", 60_000);
    at(60_000);
    const expired = await nextMessage("expiring");
    expect(expired).toMatchObject({ status: "rejected", reason: "expired" });
    expect(await nextMessage("expiring")).toMatchObject({ status: "rejected", reason: "closed" });
  });
});

describe("qbSessions:refuse", () => {
  test("events the bridge cannot render are dead and leave the outstanding message; the rest are answered as usual", async () => {
    const ids = await pendingEvents(3);
    const sessionId = await openSession(t, "h-1");
    const sent = await sendNext(t, "h-1", 3);
    const results = await t.mutation(internal.qbSessions.refuse, {
      ticketHash: "h-1",
      refusals: [{ claimToken: sent[1].claimToken!, reason: "Item name has characters QuickBooks cannot store" }],
    });
    expect(results.map((r) => [r.eventId, r.qbStatus, r.changed])).toEqual([[ids[1], "dead", true]]);
    expect(await getSession(t, sessionId)).toMatchObject({
      dead: 1,
      lastError: "Item name has characters QuickBooks cannot store",
      outstanding: { requestIds: [sent[0].claimToken, sent[2].claimToken] },
    });
    // QuickBooks never saw the refused one, so the answer need not (and must not) carry it.
    expect(await answer(t, "h-1", allApplied([sent[0], sent[2]]))).toMatchObject({ status: "ok", percent: 100 });
    expect((await events()).map((e) => e.qbStatus).sort()).toEqual(["applied", "applied", "dead"]);
  });

  test("refusing the whole message leaves nothing outstanding, so the next send releases nothing", async () => {
    const ids = await pendingEvents(3);
    const sessionId = await openSession(t, "h-1");
    const sent = await sendNext(t, "h-1", 2);
    await t.mutation(internal.qbSessions.refuse, {
      ticketHash: "h-1",
      refusals: sent.map((e) => ({ claimToken: e.claimToken!, reason: "cannot render" })),
    });
    expect((await getSession(t, sessionId)).outstanding).toBeUndefined();
    expect((await sendNext(t, "h-1", 2)).map((e) => e.eventId)).toEqual([ids[2]]);
    for (const eventId of ids.slice(0, 2)) expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "dead", retryCount: 0 });
  });

  test("a refusal on an unknown ticket changes nothing", async () => {
    const [eventId] = await pendingEvents(1);
    await openSession(t, "h-1");
    const [sent] = await sendNext(t, "h-1", 1);
    const before = await dumpAll(t);
    expect(await t.mutation(internal.qbSessions.refuse, { ticketHash: "nope", refusals: [{ claimToken: sent.claimToken!, reason: "x" }] })).toEqual([]);
    expect(await dumpAll(t)).toEqual(before);
    expect((await getEvent(t, eventId)).qbStatus).toBe("in_flight");
  });
});

// ---- receiveResponseXML ------------------------------------------------------------------

describe("qbSessions:recordAnswer", () => {
  test("answers to the outstanding message are applied, tallied and cleared from it", async () => {
    const ids = await pendingEvents(3);
    const sessionId = await openSession(t, "h-1");
    const sent = await sendNext(t, "h-1", 3);
    at(2000);
    const result = await answer(t, "h-1", [
      { requestId: sent[0].claimToken!, outcome: { kind: "success", qbTxnId: "TX-A", statusCode: "0" } },
      { requestId: sent[1].claimToken!, outcome: { kind: "retryable", message: "busy", statusCode: "3175" } },
      { requestId: sent[2].claimToken!, outcome: { kind: "permanent", message: "bad item", statusCode: "3140" } },
    ]);
    expect(result.status).toBe("ok");
    if (result.status !== "ok") return;
    expect(result.results.map((r) => [r.eventId, r.qbStatus, r.changed, r.stale])).toEqual([
      [ids[0], "applied", true, false],
      [ids[1], "failed", true, false],
      [ids[2], "dead", true, false],
    ]);
    expect(await getEvent(t, ids[0])).toMatchObject({ qbTxnId: "TX-A", appliedAt: T0 + 2000, lastStatusCode: "0" });
    expect(await getEvent(t, ids[1])).toMatchObject({ retryCount: 1, nextAttemptAt: T0 + 62_000, lastStatusCode: "3175" });
    expect(await getSession(t, sessionId)).toMatchObject({
      claimed: 3,
      applied: 1,
      failed: 1,
      dead: 1,
      lastError: "bad item",
      lastSeenAt: T0 + 2000,
    });
    expect((await getSession(t, sessionId)).outstanding).toBeUndefined();
    expect(await close("h-1")).toMatchObject({ claimed: 3, applied: 1, failed: 1, dead: 1, held: 0, lastError: "bad item" });
  });

  test("a request the answer skipped is an unknown outcome: retried as a lookup, in a later session", async () => {
    const ids = await pendingEvents(2);
    await openSession(t, "h-1");
    const sent = await sendNext(t, "h-1", 2);
    const result = await answer(t, "h-1", [{ requestId: sent[0].claimToken!, outcome: { kind: "success", qbTxnId: "TX-A" } }]);
    expect(result.status === "ok" && result.results.map((r) => [r.eventId, r.qbStatus, r.qbLookupRequired])).toEqual([
      [ids[0], "applied", false],
      [ids[1], "failed", true],
    ]);
    expect((await getEvent(t, ids[1])).lastError).toContain("no answer");
  });

  test("a requestID outside the outstanding message is a 'mismatch' and changes no event", async () => {
    const ids = await pendingEvents(3);
    const sessionId = await openSession(t, "h-1");
    const sent = await sendNext(t, "h-1", 2);
    const eventsBefore = await events();
    const stranger = `${ids[2]}:1`;
    const result = await answer(t, "h-1", [
      { requestId: sent[0].claimToken!, outcome: { kind: "success", qbTxnId: "TX-A" } },
      { requestId: stranger, outcome: { kind: "success", qbTxnId: "TX-LATE" } },
    ]);
    expect(result).toMatchObject({ status: "mismatch", sessionId });
    expect(result.status === "mismatch" && result.message).toContain(stranger);
    expect(await events()).toEqual(eventsBefore);
    // The message still waits for its own answer, which is then applied.
    expect((await getSession(t, sessionId)).outstanding?.requestIds).toEqual(sent.map((e) => e.claimToken));
    expect((await answer(t, "h-1", allApplied(sent))).status).toBe("ok");
    expect((await getEvent(t, ids[0])).qbStatus).toBe("applied");
  });

  test("an answer when no message is outstanding, or one with no answers at all, is a 'mismatch'", async () => {
    const ids = await pendingEvents(2);
    await openSession(t, "h-1");
    const eventsBefore = await events();
    expect(await answer(t, "h-1", [{ requestId: `${ids[0]}:1`, outcome: { kind: "success", qbTxnId: "X" } }])).toMatchObject({ status: "mismatch" });
    await sendNext(t, "h-1", 2);
    const claimedEvents = await events();
    expect(await answer(t, "h-1", [])).toMatchObject({ status: "mismatch" });
    expect(await events()).toEqual(claimedEvents);
    expect(eventsBefore.every((e) => e.qbStatus === "pending")).toBe(true);
  });

  test("a failure that carries no requestIDs changes no event and is kept for getLastError", async () => {
    const ids = await pendingEvents(2);
    const sessionId = await openSession(t, "h-1");
    const sent = await sendNext(t, "h-1", 2);
    const eventsBefore = await events();
    at(3000);
    const result = await t.mutation(internal.qbSessions.recordAnswer, {
      ticketHash: "h-1",
      callId: newCallId("receive"),
      response: { kind: "failed", message: "0x80040400: QuickBooks found an error when parsing the provided XML text stream.", statusCode: "0x80040400" },
    });
    expect(result).toMatchObject({ status: "failed", sessionId });
    expect(await events()).toEqual(eventsBefore);
    expect(await getSession(t, sessionId)).toMatchObject({ lastSeenAt: T0 + 3000, outstanding: { requestIds: sent.map((e) => e.claimToken) } });
    expect(await lastError("h-1")).toContain("0x80040400");
    // Those claims are not given up: when the session ends they are looked up.
    await close("h-1", "connectionError");
    for (const eventId of ids) expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "failed", qbLookupRequired: true });
  });

  test("the same callId twice returns the same percent and changes nothing", async () => {
    const ids = await pendingEvents(3);
    await openSession(t, "h-1");
    const sent = await sendNext(t, "h-1", 2);
    const first = await answer(t, "h-1", allApplied(sent), "receive-1");
    expect(first).toMatchObject({ status: "ok", percent: 66 });
    const before = await dumpAll(t);
    at(9000);
    // Even a retry whose body differs cannot change what was recorded.
    const again = await answer(t, "h-1", [{ requestId: sent[0].claimToken!, outcome: { kind: "permanent", message: "late" } }], "receive-1");
    expect(again).toMatchObject({ status: "ok", percent: 66 });
    expect(await dumpAll(t)).toEqual(before);
    expect((await getEvent(t, ids[0])).qbStatus).toBe("applied");
  });

  test("percent stays below 100 while claimable work remains and is 100 when none does", async () => {
    await pendingEvents(5);
    await openSession(t, "h-1");
    const percents = [];
    for (let i = 0; i < 3; i++) {
      const result = await answer(t, "h-1", allApplied(await sendNext(t, "h-1", 2)));
      percents.push(result.status === "ok" ? result.percent : -1);
    }
    expect(percents).toEqual([40, 80, 100]);
  });

  test("a failure due for retry counts as remaining work; one not yet due does not", async () => {
    await pendingEvents(2);
    await openSession(t, "h-1");
    const sent = await sendNext(t, "h-1", 1);
    const later = await answer(t, "h-1", [{ requestId: sent[0].claimToken!, outcome: { kind: "retryable", message: "busy" } }]);
    expect(later).toMatchObject({ status: "ok", percent: 50 });
    at(60_000);
    const last = await answer(t, "h-1", allApplied(await sendNext(t, "h-1", 1)));
    // The other event was claimed; the failed one is due again: still work left.
    expect(last.status === "ok" && last.percent).toBeLessThan(100);
    const retried = await sendNext(t, "h-1", 5);
    expect(retried).toHaveLength(1);
    expect(await answer(t, "h-1", allApplied(retried))).toMatchObject({ status: "ok", percent: 100 });
  });
});

// ---- closeConnection / connectionError / getLastError -----------------------------------

describe("qbSessions:close / getLastError", () => {
  test("close releases unanswered claims as lookups and is idempotent", async () => {
    const ids = await pendingEvents(2);
    const sessionId = await openSession(t, "h-1");
    await sendNext(t, "h-1", 2);
    at(1000);
    const first = await close("h-1", "closeConnection");
    expect(first).toMatchObject({ sessionId, status: "closed", live: false, outstanding: 0, claimed: 2, failed: 2, closeReason: "closeConnection" });
    for (const eventId of ids) {
      expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "failed", qbLookupRequired: true, nextAttemptAt: T0 + 1000 });
    }
    expect(await getSession(t, sessionId)).toMatchObject({ status: "closed", closedAt: T0 + 1000 });

    const before = await dumpAll(t);
    at(2000);
    expect(await close("h-1", "again")).toEqual(first);
    expect(await dumpAll(t)).toEqual(before);
    expect(await close("unknown")).toBeNull();
  });

  test("connectionError keeps QBWC's message for getLastError", async () => {
    await pendingEvents(1);
    await openSession(t, "h-1");
    const view = await close("h-1", "connectionError", "0x80040408: Could not start QuickBooks.");
    expect(view).toMatchObject({ closeReason: "connectionError", lastError: "0x80040408: Could not start QuickBooks." });
    expect(await lastError("h-1")).toBe("0x80040408: Could not start QuickBooks.");
  });

  test("getLastError texts, read without writing anything", async () => {
    await pendingEvents(2);
    expect(await lastError("nope")).toBe(UNKNOWN_TICKET);
    await openSession(t, "h-1", 60_000);
    expect(await lastError("h-1")).toBe("No error.");
    const busy = await authenticate("h-2", { userName: "other" });
    if (busy.status !== "busy") throw new Error(`expected busy, got ${busy.status}`);
    expect(await lastError("h-2")).toBe(busy.message);
    at(60_000);
    const before = await dumpAll(t);
    expect(await lastError("h-1")).toContain("expired");
    expect(await dumpAll(t)).toEqual(before);
    await openSession(t, "h-3");
    await close("h-3");
    expect(await lastError("h-3")).toBe(UNKNOWN_TICKET);
  });
});

// ---- the operator's path (qbQueue:markEventInFlight / applyQbResult on a session) ---------------

describe("claims by hand need a live session", () => {
  test("claims against a closed or expired session are SESSION_CLOSED and write nothing", async () => {
    const [eventId] = await pendingEvents(1);
    const closed = await openSession(t, "closed");
    await close("closed");
    await expectRejectedWithoutWrites(t, "SESSION_CLOSED", () => t.mutation(internal.qbQueue.markEventInFlight, { eventId, sessionId: closed }));

    const expiring = await openSession(t, "expiring", 60_000);
    at(60_000);
    await expectRejectedWithoutWrites(t, "SESSION_CLOSED", () => t.mutation(internal.qbQueue.markEventInFlight, { eventId, sessionId: expiring }));
  });

  test("a session id that does not exist is SESSION_NOT_FOUND", async () => {
    const [eventId] = await pendingEvents(1);
    const sessionId = await openSession(t, "gone");
    await t.run(async (ctx) => await ctx.db.delete(sessionId));
    await expectRejectedWithoutWrites(t, "SESSION_NOT_FOUND", () => t.mutation(internal.qbQueue.markEventInFlight, { eventId, sessionId }));
  });

  test("a hand claim joins the outstanding message, and its answer through the seam is accepted", async () => {
    const [eventId] = await pendingEvents(1);
    const sessionId = await openSession(t, "h-1");
    const claimed = await t.mutation(internal.qbQueue.markEventInFlight, { eventId, sessionId });
    expect((await getSession(t, sessionId)).outstanding?.requestIds).toEqual([claimed.claimToken]);
    const answers: Answer[] = [{ requestId: claimed.claimToken!, outcome: { kind: "success", qbTxnId: "TX-1" } }];
    expect(await answer(t, "h-1", answers)).toMatchObject({ status: "ok", percent: 100 });
  });
});
