import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { DEFAULT_SESSION_TTL_MS } from "../../convex/lib/constants";
import { type T, dumpAll, expectRejectedWithoutWrites, getEvent, newTest, openSession, seedWorld, stock } from "./setup";

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
const session = (sessionId: Id<"qb_sync_sessions">) => t.run(async (ctx) => await ctx.db.get(sessionId));
const resume = (ticketHash: string, extra: { companyFile?: string; qbXmlVersion?: string } = {}) =>
  t.mutation(internal.qbQueue.resumeSession, { ticketHash, ...extra });

describe("openSession / resumeSession", () => {
  test("opens with the hash only, the default TTL and zero tallies", async () => {
    const result = await t.mutation(internal.qbQueue.openSession, { ticketHash: "h-1", userName: "qbwc", companyFile: "C:\\Books\\co.qbw" });
    expect(result.expiresAt).toBe(T0 + DEFAULT_SESSION_TTL_MS);
    expect(await session(result.sessionId)).toMatchObject({
      ticketHash: "h-1",
      userName: "qbwc",
      status: "open",
      companyFile: "C:\\Books\\co.qbw",
      openedAt: T0,
      lastSeenAt: T0,
      expiresAt: T0 + DEFAULT_SESSION_TTL_MS,
      claimed: 0,
      applied: 0,
      failed: 0,
      dead: 0,
    });
  });

  test("an empty ticket hash or user name is refused", async () => {
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => t.mutation(internal.qbQueue.openSession, { ticketHash: " ", userName: "qbwc" }));
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => t.mutation(internal.qbQueue.openSession, { ticketHash: "h", userName: "" }));
  });

  test("resume marks the session seen and records company file and qbXML version", async () => {
    const sessionId = await openSession(t, "h-1");
    at(30_000);
    const result = await resume("h-1", { companyFile: "C:\\co.qbw", qbXmlVersion: "13.0" });
    expect(result.ok).toBe(true);
    expect(await session(sessionId)).toMatchObject({ lastSeenAt: T0 + 30_000, companyFile: "C:\\co.qbw", qbXmlVersion: "13.0" });
    // QBWC sends an empty company file when the open one is meant: keep what we have.
    await resume("h-1", { companyFile: "" });
    expect((await session(sessionId))?.companyFile).toBe("C:\\co.qbw");
  });

  test("unknown, closed and expired tickets answer with distinct reasons", async () => {
    expect(await resume("nope")).toEqual({ ok: false, reason: "unknown" });

    await openSession(t, "closed");
    await t.mutation(internal.qbQueue.closeSession, { ticketHash: "closed", reason: "done" });
    expect(await resume("closed")).toEqual({ ok: false, reason: "closed" });

    const expiring = await openSession(t, "expiring", 60_000);
    at(60_000);
    expect(await resume("expiring")).toEqual({ ok: false, reason: "expired" });
    expect(await session(expiring)).toMatchObject({ status: "closed", closeReason: "expired", closedAt: T0 + 60_000 });
    // Once closed for expiry it stays closed.
    expect(await resume("expiring")).toEqual({ ok: false, reason: "closed" });
  });

  test("the session a ticket names is read without touching it", async () => {
    const sessionId = await openSession(t, "h-1");
    const before = await dumpAll(t);
    expect(await t.query(internal.qbQueue.getSessionByTicket, { ticketHash: "h-1" })).toMatchObject({
      sessionId,
      status: "open",
      expired: false,
      lastError: null,
    });
    expect(await t.query(internal.qbQueue.getSessionByTicket, { ticketHash: "other" })).toBeNull();
    expect(await dumpAll(t)).toEqual(before);
  });
});

describe("closeSession / recordSessionError", () => {
  test("closing twice is harmless: the second call writes nothing and returns the same tallies", async () => {
    const sessionId = await openSession(t, "h-1");
    at(1000);
    const first = await t.mutation(internal.qbQueue.closeSession, { ticketHash: "h-1", reason: "closeConnection" });
    expect(first).toMatchObject({ sessionId, claimed: 0, applied: 0, failed: 0, dead: 0, lastError: null });
    expect(await session(sessionId)).toMatchObject({ status: "closed", closedAt: T0 + 1000, closeReason: "closeConnection" });

    const before = await dumpAll(t);
    at(2000);
    expect(await t.mutation(internal.qbQueue.closeSession, { ticketHash: "h-1", reason: "again" })).toEqual(first);
    expect(await dumpAll(t)).toEqual(before);
    expect(await t.mutation(internal.qbQueue.closeSession, { ticketHash: "unknown", reason: "x" })).toBeNull();
  });

  test("recordSessionError keeps the last error for getLastError", async () => {
    const sessionId = await openSession(t, "h-1");
    at(5000);
    expect(await t.mutation(internal.qbQueue.recordSessionError, { ticketHash: "h-1", message: "QBWC1012" })).toBe(true);
    expect(await session(sessionId)).toMatchObject({ lastError: "QBWC1012", lastSeenAt: T0 + 5000 });
    expect(await t.mutation(internal.qbQueue.recordSessionError, { ticketHash: "nope", message: "x" })).toBe(false);
    expect((await t.mutation(internal.qbQueue.closeSession, { ticketHash: "h-1", reason: "done" }))?.lastError).toBe("QBWC1012");
  });
});

describe("claims need an open session", () => {
  test("claims against a closed or expired session are SESSION_CLOSED and write nothing", async () => {
    const { eventId } = await stock(t, "WID-1", "MAIN", 1);
    const closed = await openSession(t, "closed");
    await t.mutation(internal.qbQueue.closeSession, { ticketHash: "closed", reason: "done" });
    await expectRejectedWithoutWrites(t, "SESSION_CLOSED", () => t.mutation(internal.qbQueue.markEventInFlight, { eventId, sessionId: closed }));
    await expectRejectedWithoutWrites(t, "SESSION_CLOSED", () => t.mutation(internal.qbQueue.claimBatch, { sessionId: closed, limit: 5 }));

    const expiring = await openSession(t, "expiring", 60_000);
    at(60_000);
    await expectRejectedWithoutWrites(t, "SESSION_CLOSED", () => t.mutation(internal.qbQueue.markEventInFlight, { eventId, sessionId: expiring }));
    await expectRejectedWithoutWrites(t, "SESSION_CLOSED", () => t.mutation(internal.qbQueue.claimBatch, { sessionId: expiring, limit: 5 }));
  });

  test("a session id that does not exist is SESSION_NOT_FOUND", async () => {
    const sessionId = await openSession(t, "gone");
    await t.run(async (ctx) => await ctx.db.delete(sessionId));
    await expectRejectedWithoutWrites(t, "SESSION_NOT_FOUND", () => t.mutation(internal.qbQueue.claimBatch, { sessionId, limit: 1 }));
  });

  test("tallies follow claims and results", async () => {
    for (let i = 0; i < 3; i++) await stock(t, "WID-1", "MAIN", 1);
    const sessionId = await openSession(t, "h-1");
    const claimed = await t.mutation(internal.qbQueue.claimBatch, { sessionId, limit: 3 });
    const outcomes = [
      { kind: "success" as const, qbTxnId: "A" },
      { kind: "retryable" as const, message: "busy" },
      { kind: "permanent" as const, message: "bad item" },
    ];
    for (const [i, c] of claimed.entries()) {
      await t.mutation(internal.qbQueue.applyQbResult, { eventId: c.eventId, claimToken: c.claimToken!, outcome: outcomes[i] });
    }
    expect(await t.mutation(internal.qbQueue.closeSession, { ticketHash: "h-1", reason: "done" })).toMatchObject({
      claimed: 3,
      applied: 1,
      failed: 1,
      dead: 1,
      lastError: "bad item",
    });
  });
});

describe("listSessionClaims / releaseSessionClaims", () => {
  test("a lost response releases the session's claims as retryable, to be looked up first", async () => {
    const a = (await stock(t, "WID-1", "MAIN", 1)).eventId;
    const b = (await stock(t, "WID-1", "MAIN", 1)).eventId;
    const sessionId = await openSession(t, "h-1");
    const claimed = await t.mutation(internal.qbQueue.claimBatch, { sessionId, limit: 5 });
    const held = await t.query(internal.qbQueue.listSessionClaims, { sessionId });
    expect(held.map((h) => [h.eventId, h.claimToken])).toEqual(claimed.map((c) => [c.eventId, c.claimToken]));

    at(1000);
    const released = await t.mutation(internal.qbQueue.releaseSessionClaims, {
      sessionId,
      message: "response lost",
      lookupRequired: true,
      statusCode: "0x80040408",
    });
    expect(released.map((r) => [r.eventId, r.qbStatus, r.qbLookupRequired, r.nextAttemptAt])).toEqual([
      [a, "failed", true, T0 + 61_000],
      [b, "failed", true, T0 + 61_000],
    ]);
    expect(await t.query(internal.qbQueue.listSessionClaims, { sessionId })).toEqual([]);
    expect(await getEvent(t, a)).toMatchObject({ lastError: "response lost", lastStatusCode: "0x80040408" });

    at(61_000);
    const again = await t.mutation(internal.qbQueue.claimBatch, { sessionId, limit: 5 });
    expect(again.map((c) => c.mode)).toEqual(["lookup", "lookup"]);
  });

  test("released without a lookup when QuickBooks never ran the request", async () => {
    await stock(t, "WID-1", "MAIN", 1);
    const sessionId = await openSession(t, "h-1");
    await t.mutation(internal.qbQueue.claimBatch, { sessionId, limit: 5 });
    const [released] = await t.mutation(internal.qbQueue.releaseSessionClaims, { sessionId, message: "QB not open", lookupRequired: false });
    expect(released.qbLookupRequired).toBe(false);
    at(60_000);
    expect((await t.mutation(internal.qbQueue.claimBatch, { sessionId, limit: 5 }))[0].mode).toBe("send");
  });
});
