/**
 * The QuickBooks sync queue, as the bridge sees it. Every function here is
 * internal: only a caller holding the deploy key (the bridge, the CLI) can
 * reach them, so nobody with just the deployment URL can change sync state.
 */
import { v } from "convex/values";
import type { Doc } from "./_generated/dataModel";
import { internalMutation, internalQuery, type DatabaseReader, type DatabaseWriter } from "./_generated/server";
import { DEFAULT_LEASE_MS, DEFAULT_SESSION_TTL_MS, ERROR_CODES, MAX_CLAIM_BATCH, QB_STATUSES } from "./lib/constants";
import { qbStatusCounter, readCounter } from "./lib/counters";
import { fail } from "./lib/errors";
import {
  applyOutcome,
  claimEvent,
  clampBatch,
  dueEvents,
  eventPayload,
  expiredLeases,
  queueState,
  requireOpenSession,
  retryEvent,
  type Outcome,
} from "./lib/queue";
import { optionalText, requiredText } from "./lib/validate";

const vOutcome = v.union(
  v.object({
    kind: v.literal("success"),
    qbTxnId: v.string(),
    statusCode: v.optional(v.string()),
    message: v.optional(v.string()),
  }),
  v.object({ kind: v.literal("not_found") }),
  v.object({
    kind: v.literal("retryable"),
    message: v.string(),
    statusCode: v.optional(v.string()),
    lookupRequired: v.optional(v.boolean()),
  }),
  v.object({ kind: v.literal("permanent"), message: v.string(), statusCode: v.optional(v.string()) }),
);

const vLeaseMs = v.optional(v.number());

function leaseOf(leaseMs: number | undefined): number {
  const lease = leaseMs ?? DEFAULT_LEASE_MS;
  if (!Number.isFinite(lease) || lease < 1000 || lease > 24 * 3600 * 1000) {
    fail(ERROR_CODES.INVALID_ARGUMENT, "leaseMs must be between 1 second and 24 hours.", { field: "leaseMs" });
  }
  return lease;
}

/** The oldest event the bridge should handle next (lookups of lapsed claims first), or null. */
export const getNextPendingQbEvent = internalQuery({
  args: {},
  handler: async (ctx) => {
    const now = Date.now();
    const [next] = [...(await expiredLeases(ctx.db, now, 1)), ...(await dueEvents(ctx.db, now, 1))];
    return next === undefined ? null : await eventPayload(ctx.db, next);
  },
});

/** Claims one event for a session; a second claim of the same event fails and changes nothing. */
export const markEventInFlight = internalMutation({
  args: { eventId: v.id("inventory_events"), sessionId: v.id("qb_sync_sessions"), leaseMs: vLeaseMs },
  handler: async (ctx, args) => {
    const now = Date.now();
    await requireOpenSession(ctx.db, args.sessionId, now);
    const event = await ctx.db.get(args.eventId);
    if (event === null) {
      fail(ERROR_CODES.EVENT_NOT_FOUND, `No event ${args.eventId}.`, { eventId: args.eventId });
    }
    const claimed = await claimEvent(ctx.db, event, args.sessionId, now, leaseOf(args.leaseMs));
    await bumpSession(ctx.db, args.sessionId, 1);
    return { ...(await eventPayload(ctx.db, claimed)), leaseExpiresAt: claimed.leaseExpiresAt as number };
  },
});

/**
 * Claims up to `limit` events in one transaction: lapsed claims first (they
 * come back as lookups), then the oldest due events.
 */
export const claimBatch = internalMutation({
  args: { sessionId: v.id("qb_sync_sessions"), limit: v.number(), leaseMs: vLeaseMs },
  handler: async (ctx, args) => {
    const now = Date.now();
    const limit = clampBatch(args.limit);
    const lease = leaseOf(args.leaseMs);
    await requireOpenSession(ctx.db, args.sessionId, now);
    const lapsed = await expiredLeases(ctx.db, now, limit);
    const due = lapsed.length < limit ? await dueEvents(ctx.db, now, limit - lapsed.length) : [];
    const claimed = [];
    for (const event of [...lapsed, ...due]) {
      claimed.push(await eventPayload(ctx.db, await claimEvent(ctx.db, event, args.sessionId, now, lease)));
    }
    await bumpSession(ctx.db, args.sessionId, claimed.length);
    return claimed;
  },
});

async function bumpSession(db: DatabaseWriter, sessionId: Doc<"qb_sync_sessions">["_id"], claimed: number) {
  const session = (await db.get(sessionId)) as Doc<"qb_sync_sessions">;
  await db.patch(sessionId, { claimed: session.claimed + claimed, lastSeenAt: Date.now() });
}

/** Records QuickBooks' answer for one claim. Repeating it with the same token is a no-op. */
export const applyQbResult = internalMutation({
  args: { eventId: v.id("inventory_events"), claimToken: v.string(), outcome: vOutcome },
  handler: async (ctx, args) => await applyOutcome(ctx.db, args.eventId, args.claimToken, args.outcome as Outcome, Date.now()),
});

/**
 * All results of one QuickBooks response in one transaction. A claim that no
 * longer holds its event is reported per item rather than failing the batch,
 * so one stale answer cannot block the others. Also answers how many events
 * are still due, which the bridge turns into QBWC's percent-done.
 */
export const applyQbResults = internalMutation({
  args: {
    results: v.array(v.object({ eventId: v.id("inventory_events"), claimToken: v.string(), outcome: vOutcome })),
  },
  handler: async (ctx, args) => {
    const now = Date.now();
    const results = [];
    for (const result of args.results) {
      const event = await ctx.db.get(result.eventId);
      if (event !== null && event.claimToken !== result.claimToken) {
        results.push({ ...queueState(event), changed: false, stale: true });
        continue;
      }
      results.push({ ...(await applyOutcome(ctx.db, result.eventId, result.claimToken, result.outcome as Outcome, now)), stale: false });
    }
    return { results, remainingDue: await countDue(ctx.db, now) };
  },
});

const DUE_COUNT_CAP = 100;

/**
 * How much work is due, for percent-done and status. Pending events are
 * always due, so their counter answers in one read; failed-and-due events and
 * lapsed claims are counted through their index ranges up to a cap.
 */
async function countDue(db: DatabaseReader, now: number) {
  const failedDue = await db
    .query("inventory_events")
    .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", "failed").lte("nextAttemptAt", now))
    .take(DUE_COUNT_CAP);
  const pending = await readCounter(db, qbStatusCounter("pending"));
  return pending + failedDue.length + (await expiredLeases(db, now, DUE_COUNT_CAP)).length;
}

/** Admin retry: failed or dead back to pending, due now, retry budget reset. */
export const retryFailedEvent = internalMutation({
  args: { eventId: v.id("inventory_events") },
  handler: async (ctx, args) => await retryEvent(ctx.db, args.eventId, Date.now()),
});

/** Retries every dead event (up to `limit` per call; call again while `more` is true). */
export const retryAllDead = internalMutation({
  args: { limit: v.optional(v.number()) },
  handler: async (ctx, args) => {
    const limit = clampBatch(args.limit ?? 100);
    const dead = await ctx.db
      .query("inventory_events")
      .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", "dead"))
      .take(limit + 1);
    const now = Date.now();
    const retried = [];
    for (const event of dead.slice(0, limit)) retried.push(await retryEvent(ctx.db, event._id, now));
    return { retried, more: dead.length > limit };
  },
});

/** Queue health for `qbwc-bridge status`: counts, oldest due, lapsed claims, dead events. */
export const getQueueStatus = internalQuery({
  args: { deadLimit: v.optional(v.number()) },
  handler: async (ctx, args) => {
    const now = Date.now();
    const counts = Object.fromEntries(
      await Promise.all(QB_STATUSES.map(async (s) => [s, await readCounter(ctx.db, qbStatusCounter(s))] as const)),
    );
    const [oldest] = await dueEvents(ctx.db, now, 1);
    const dead = await ctx.db
      .query("inventory_events")
      .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", "dead"))
      .order("desc")
      .take(clampBatch(args.deadLimit ?? 20));
    return {
      serverTime: now,
      counts,
      dueCount: await countDue(ctx.db, now),
      oldestDueAt: oldest?.nextAttemptAt ?? null,
      oldestDueAgeSeconds: oldest === undefined ? null : Math.max(0, Math.round((now - oldest.nextAttemptAt) / 1000)),
      expiredLeases: (await expiredLeases(ctx.db, now, 100)).map(queueState),
      dead: dead.map(queueState),
    };
  },
});

/** In-flight events whose lease lapsed: QuickBooks must be asked before any resend. */
export const listExpiredLeases = internalQuery({
  args: { limit: v.optional(v.number()) },
  handler: async (ctx, args) => (await expiredLeases(ctx.db, Date.now(), clampBatch(args.limit ?? 100))).map(queueState),
});

/** True when authenticate should answer "work to do" rather than "none". */
export const hasWork = internalQuery({
  args: {},
  handler: async (ctx) => {
    const now = Date.now();
    return (await expiredLeases(ctx.db, now, 1)).length + (await dueEvents(ctx.db, now, 1)).length > 0;
  },
});

/** One event's queue state by id or refNumber (for the CLI). */
export const getEventState = internalQuery({
  args: { eventId: v.optional(v.id("inventory_events")), refNumber: v.optional(v.string()) },
  handler: async (ctx, args) => {
    const event =
      args.eventId !== undefined
        ? await ctx.db.get(args.eventId)
        : await ctx.db
            .query("inventory_events")
            .withIndex("by_refNumber", (q) => q.eq("refNumber", args.refNumber ?? ""))
            .unique();
    return event === null ? null : queueState(event);
  },
});

/** Events a session claimed and has not answered yet (bounded by the batch sizes it used). */
async function sessionClaims(db: DatabaseReader, sessionId: Doc<"qb_sync_sessions">["_id"]) {
  return await db
    .query("inventory_events")
    .withIndex("by_claimSession_qbStatus", (q) => q.eq("claimSessionId", sessionId).eq("qbStatus", "in_flight"))
    .take(MAX_CLAIM_BATCH * 10);
}

export const listSessionClaims = internalQuery({
  args: { sessionId: v.id("qb_sync_sessions") },
  handler: async (ctx, args) => (await sessionClaims(ctx.db, args.sessionId)).map((e) => ({ ...queueState(e), claimToken: e.claimToken as string })),
});

/**
 * Gives back every claim a session still holds, as retryable failures. Used
 * when a whole QuickBooks response is lost or unusable and when a session
 * ends with claims unanswered. `lookupRequired` says whether QuickBooks may
 * have saved them anyway (then the next attempt asks before resending).
 */
export const releaseSessionClaims = internalMutation({
  args: { sessionId: v.id("qb_sync_sessions"), message: v.string(), lookupRequired: v.boolean(), statusCode: v.optional(v.string()) },
  handler: async (ctx, args) => {
    const now = Date.now();
    const released = [];
    for (const event of await sessionClaims(ctx.db, args.sessionId)) {
      released.push(
        await applyOutcome(ctx.db, event._id, event.claimToken as string, {
          kind: "retryable",
          message: args.message,
          statusCode: args.statusCode,
          lookupRequired: args.lookupRequired,
        }, now),
      );
    }
    return released;
  },
});

// ---- sessions -------------------------------------------------------------

async function sessionByTicket(db: DatabaseReader, ticketHash: string) {
  return await db
    .query("qb_sync_sessions")
    .withIndex("by_ticketHash", (q) => q.eq("ticketHash", ticketHash))
    .unique();
}

/** A session's tallies and last error, read without touching it (getLastError, CLI). */
export const getSessionByTicket = internalQuery({
  args: { ticketHash: v.string() },
  handler: async (ctx, args) => {
    const session = await sessionByTicket(ctx.db, args.ticketHash);
    if (session === null) return null;
    const { _id, status, userName, claimed, applied, failed, dead, lastError, expiresAt } = session;
    return { sessionId: _id, status, userName, claimed, applied, failed, dead, lastError: lastError ?? null, expired: expiresAt <= Date.now() };
  },
});

/** Opens a QBWC session. Only the ticket's hash is stored: a database read never yields a usable ticket. */
export const openSession = internalMutation({
  args: { ticketHash: v.string(), userName: v.string(), ttlMs: v.optional(v.number()), companyFile: v.optional(v.string()) },
  handler: async (ctx, args) => {
    const now = Date.now();
    const ttl = args.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    const sessionId = await ctx.db.insert("qb_sync_sessions", {
      ticketHash: requiredText(args.ticketHash, "ticketHash", 200),
      userName: requiredText(args.userName, "userName", 200),
      status: "open",
      companyFile: optionalText(args.companyFile, "companyFile", 1000),
      openedAt: now,
      lastSeenAt: now,
      expiresAt: now + ttl,
      claimed: 0,
      applied: 0,
      failed: 0,
      dead: 0,
    });
    return { sessionId, expiresAt: now + ttl };
  },
});

/**
 * Finds the open session for a ticket and marks it seen. Unknown, closed and
 * expired tickets answer with a reason instead of a session, so the bridge can
 * tell QBWC something useful.
 */
export const resumeSession = internalMutation({
  args: {
    ticketHash: v.string(),
    companyFile: v.optional(v.string()),
    qbXmlVersion: v.optional(v.string()),
  },
  handler: async (ctx, args) => {
    const now = Date.now();
    const session = await sessionByTicket(ctx.db, args.ticketHash);
    if (session === null) return { ok: false as const, reason: "unknown" as const };
    if (session.status === "closed") return { ok: false as const, reason: "closed" as const };
    if (session.expiresAt <= now) {
      await ctx.db.patch(session._id, { status: "closed", closedAt: now, closeReason: "expired" });
      return { ok: false as const, reason: "expired" as const };
    }
    const patch: Partial<Doc<"qb_sync_sessions">> = { lastSeenAt: now };
    if (args.companyFile !== undefined && args.companyFile !== "") patch.companyFile = args.companyFile.slice(0, 1000);
    if (args.qbXmlVersion !== undefined) patch.qbXmlVersion = args.qbXmlVersion;
    await ctx.db.patch(session._id, patch);
    return { ok: true as const, session: { ...session, ...patch } };
  },
});

/** Notes the last error a session hit, for getLastError and the CLI. */
export const recordSessionError = internalMutation({
  args: { ticketHash: v.string(), message: v.string() },
  handler: async (ctx, args) => {
    const session = await sessionByTicket(ctx.db, args.ticketHash);
    if (session !== null) await ctx.db.patch(session._id, { lastError: args.message.slice(0, 2000), lastSeenAt: Date.now() });
    return session !== null;
  },
});

/** Closes a session; closing twice is harmless. Returns the session's tallies. */
export const closeSession = internalMutation({
  args: { ticketHash: v.string(), reason: v.string() },
  handler: async (ctx, args) => {
    const session = await sessionByTicket(ctx.db, args.ticketHash);
    if (session === null) return null;
    if (session.status === "open") {
      await ctx.db.patch(session._id, { status: "closed", closedAt: Date.now(), closeReason: args.reason.slice(0, 500) });
    }
    const { claimed, applied, failed, dead, lastError } = session;
    return { sessionId: session._id, claimed, applied, failed, dead, lastError: lastError ?? null };
  },
});
