/**
 * The QuickBooks sync queue for operators and scripts. Every function here is
 * internal: only a caller holding the deploy key (the bridge's CLI, `npx
 * convex run`) can reach them, so nobody with just the deployment URL can
 * change sync state.
 *
 * The bridge itself talks to `qbSessions.ts` (one call per QBWC call). The
 * four single-event functions below are the original contract and stay for
 * scripts and tests that drive the queue by hand:
 *   getNextPendingQbEvent  what would be claimed next (a read; claims nothing)
 *   markEventInFlight      claim one event for a live session
 *   applyQbResult          record QuickBooks' answer for one claim
 *   retryFailedEvent       an admin's retry of a failed or dead event
 */
import { v } from "convex/values";
import { internalMutation, internalQuery } from "./_generated/server";
import { ERROR_CODES, MAX_CLAIM_BATCH } from "./lib/constants";
import { vClaimResult, vEventPayload, vOutcome, vQueueState, vSessionView } from "./lib/contract";
import { qbStatusCounts } from "./lib/counters";
import { fail } from "./lib/errors";
import {
  applyOutcome,
  claimEvent,
  claimableEvents,
  clampBatch,
  countClaimable,
  dueEvents,
  eventPayload,
  queueState,
  resolveHeld,
  retryEvent,
} from "./lib/queue";
import { countOnSession, isOver, openSessions, seen, sessionView } from "./lib/sessions";
import { endSession } from "./lib/sync";
import { txnIdText } from "./lib/validate";
import { latestInStatus } from "./lib/views";

/** The event the next claim would take (waiting lookups first in due order), or null. */
export const getNextPendingQbEvent = internalQuery({
  args: {},
  returns: v.union(v.null(), vEventPayload),
  handler: async (ctx) => {
    const [next] = await claimableEvents(ctx.db, Date.now(), 1);
    return next === undefined ? null : await eventPayload(ctx.db, next);
  },
});

/** Claims one event for a live session and adds it to the session's outstanding message. */
export const markEventInFlight = internalMutation({
  args: { eventId: v.id("inventory_events"), sessionId: v.id("qb_sync_sessions") },
  returns: vEventPayload,
  handler: async (ctx, args) => {
    const now = Date.now();
    const session = await ctx.db.get(args.sessionId);
    if (session === null) fail(ERROR_CODES.SESSION_NOT_FOUND, "Unknown sync session.");
    if (isOver(session, now)) fail(ERROR_CODES.SESSION_CLOSED, "This sync session is closed or expired.");
    const event = await ctx.db.get(args.eventId);
    if (event === null) fail(ERROR_CODES.EVENT_NOT_FOUND, `No event ${args.eventId}.`, { eventId: args.eventId });
    const claimed = await claimEvent(ctx.db, event, session._id, now);
    const token = claimed.claimToken as string;
    const outstanding = session.outstanding ?? { messageId: `manual:${token}`, requestIds: [], sentAt: now };
    await ctx.db.patch(session._id, {
      ...seen(session, now),
      claimed: session.claimed + 1,
      outstanding: { ...outstanding, requestIds: [...outstanding.requestIds, token] },
    });
    return await eventPayload(ctx.db, claimed);
  },
});

/** Records QuickBooks' answer for one claim. Repeating it, or answering a stale claim, changes nothing. */
export const applyQbResult = internalMutation({
  args: { eventId: v.id("inventory_events"), claimToken: v.string(), outcome: vOutcome },
  returns: vClaimResult,
  handler: async (ctx, args) => {
    const now = Date.now();
    const event = await ctx.db.get(args.eventId);
    if (event === null) fail(ERROR_CODES.EVENT_NOT_FOUND, `No event ${args.eventId}.`, { eventId: args.eventId });
    const applied = await applyOutcome(ctx.db, event, args.claimToken, args.outcome, now);
    const session = event.claimSessionId === undefined ? null : await ctx.db.get(event.claimSessionId);
    if (applied.result.changed && session?.outstanding !== undefined) {
      const requestIds = session.outstanding.requestIds.filter((id) => id !== args.claimToken);
      await ctx.db.patch(session._id, { outstanding: requestIds.length === 0 ? undefined : { ...session.outstanding, requestIds } });
    }
    await countOnSession(ctx.db, event.claimSessionId, [applied.tally], applied.error);
    return applied.result;
  },
});

/** Admin retry: failed or dead back to pending, due now, retry budget reset. */
export const retryFailedEvent = internalMutation({
  args: { eventId: v.id("inventory_events") },
  returns: vQueueState,
  handler: async (ctx, args) => await retryEvent(ctx.db, args.eventId, Date.now()),
});

/** Retries every dead event (up to `limit` per call; call again while `more` is true). */
export const retryAllDead = internalMutation({
  args: { limit: v.optional(v.number()) },
  returns: v.object({ retried: v.array(vQueueState), more: v.boolean() }),
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

/**
 * Settles a held event: `send` when QuickBooks does not have it (the
 * transaction under its RefNumber is someone else's), `txnId` when that
 * transaction is this event.
 */
export const resolveHeldEvent = internalMutation({
  args: { eventId: v.id("inventory_events"), send: v.optional(v.boolean()), txnId: v.optional(v.string()) },
  returns: vQueueState,
  handler: async (ctx, args) => {
    if ((args.send === true) === (args.txnId !== undefined)) {
      fail(ERROR_CODES.INVALID_ARGUMENT, "Give either send: true or txnId.", { field: "txnId" });
    }
    const resolution = args.txnId !== undefined ? { txnId: txnIdText(args.txnId) } : { send: true as const };
    return await resolveHeld(ctx.db, args.eventId, resolution, Date.now());
  },
});

/**
 * Ends every open session now, as if its Web Connector had closed it: what
 * it had sent becomes a lookup. For an operator who knows the Web Connector
 * is gone (closed, rebooted) and does not want to wait for the TTL.
 */
export const endOpenSessions = internalMutation({
  args: {},
  returns: v.array(vSessionView),
  handler: async (ctx) => {
    const now = Date.now();
    const ended = [];
    for (const session of await openSessions(ctx.db)) {
      const view = await endSession(ctx.db, { ticketHash: session.ticketHash, reason: "ended by an operator" }, now);
      if (view !== null) ended.push(view);
    }
    return ended;
  },
});

const LOOKUPS_SHOWN = MAX_CLAIM_BATCH * 2;

/** Queue health for `qbwc-bridge status`: counts, oldest due, sessions, lookups, held and dead events. */
export const getQueueStatus = internalQuery({
  args: { deadLimit: v.optional(v.number()) },
  returns: v.object({
    serverTime: v.number(),
    counts: v.record(v.string(), v.number()),
    dueCount: v.number(),
    oldestDueAt: v.union(v.number(), v.null()),
    oldestDueAgeSeconds: v.union(v.number(), v.null()),
    openSessions: v.array(vSessionView),
    lookups: v.array(vQueueState),
    held: v.array(vQueueState),
    dead: v.array(vQueueState),
  }),
  handler: async (ctx, args) => {
    const now = Date.now();
    const limit = clampBatch(args.deadLimit ?? 20);
    const [oldest] = await dueEvents(ctx.db, now, 1);
    // Each live status through its own range: dead lookups (which sort first) cannot crowd them out.
    const lookups = [];
    for (const qbStatus of ["failed", "pending"] as const) {
      lookups.push(
        ...(await ctx.db
          .query("inventory_events")
          .withIndex("by_lookup_qbStatus", (q) => q.eq("qbLookupRequired", true).eq("qbStatus", qbStatus))
          .take(LOOKUPS_SHOWN - lookups.length)),
      );
    }
    return {
      serverTime: now,
      counts: await qbStatusCounts(ctx.db),
      dueCount: await countClaimable(ctx.db, now),
      oldestDueAt: oldest?.nextAttemptAt ?? null,
      oldestDueAgeSeconds: oldest === undefined ? null : Math.max(0, Math.round((now - oldest.nextAttemptAt) / 1000)),
      openSessions: (await openSessions(ctx.db)).map((s) => sessionView(s, now)),
      lookups: lookups.map(queueState),
      held: await latestInStatus(ctx.db, "held", limit),
      dead: await latestInStatus(ctx.db, "dead", limit),
    };
  },
});

/** One event's queue state by id or refNumber (for the CLI). */
export const getEventState = internalQuery({
  args: { eventId: v.optional(v.id("inventory_events")), refNumber: v.optional(v.string()) },
  returns: v.union(v.null(), vQueueState),
  handler: async (ctx, args) => {
    const event =
      args.eventId !== undefined
        ? await ctx.db.get(args.eventId)
        : await ctx.db
            .query("inventory_events")
            .withIndex("by_refNumber", (q) => q.eq("refNumber", args.refNumber ?? ""))
            .first();
    return event === null ? null : queueState(event);
  },
});
