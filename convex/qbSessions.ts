/**
 * The bridge's seam: exactly one call per QBWC SOAP call that touches the
 * queue, each keyed by the ticket's hash and each a single transaction.
 * Internal: only the deploy key reaches them. The rules are in lib/sync.ts;
 * these wrappers only validate and pass the clock.
 */
import { v } from "convex/values";
import { internalMutation, internalQuery } from "./_generated/server";
import { vAuthenticateResult, vClaimResult, vCompanyFact, vReceiveResult, vResponse, vSendResult, vSessionView } from "./lib/contract";
import { endSession, lastError, nextRequest, openSession, recordResponse, refuseClaims } from "./lib/sync";

/** authenticate: open a session (or say "none" / "busy"). Repeating it with the same ticket repeats the answer. */
export const authenticate = internalMutation({
  args: {
    ticketHash: v.string(),
    userName: v.string(),
    ttlMs: v.number(),
    companyFile: v.optional(v.string()),
    listMaxAgeMs: v.optional(v.number()),
    reconcileEveryMs: v.optional(v.number()),
  },
  returns: vAuthenticateResult,
  handler: async (ctx, args) => await openSession(ctx.db, args, Date.now()),
});

/** sendRequestXML: the next batch of claimed events, recorded as the outstanding message. */
export const nextMessage = internalMutation({
  args: {
    ticketHash: v.string(),
    callId: v.string(),
    limit: v.number(),
    companyFile: v.optional(v.string()),
    qbXmlVersion: v.optional(v.string()),
    hcp: v.optional(v.array(vCompanyFact)),
    listMaxAgeMs: v.optional(v.number()),
    reconcileEveryMs: v.optional(v.number()),
  },
  returns: vSendResult,
  handler: async (ctx, args) => await nextRequest(ctx.db, args, Date.now()),
});

/** Events the bridge could not render (a bug or data it cannot send): dead, out of the message. */
export const refuse = internalMutation({
  args: { ticketHash: v.string(), refusals: v.array(v.object({ claimToken: v.string(), reason: v.string() })) },
  returns: v.array(vClaimResult),
  handler: async (ctx, args) => await refuseClaims(ctx.db, args.ticketHash, args.refusals, Date.now()),
});

/** receiveResponseXML: QuickBooks' answers to the outstanding message, and the percent done. */
export const recordAnswer = internalMutation({
  args: { ticketHash: v.string(), callId: v.string(), response: vResponse },
  returns: vReceiveResult,
  handler: async (ctx, args) => await recordResponse(ctx.db, args, Date.now()),
});

/** closeConnection / connectionError: release what was not answered, close. Null for an unknown ticket. */
export const close = internalMutation({
  args: { ticketHash: v.string(), reason: v.string(), error: v.optional(v.string()) },
  returns: v.union(v.null(), vSessionView),
  handler: async (ctx, args) => await endSession(ctx.db, args, Date.now()),
});

/** getLastError: the session's last problem, in words QBWC shows to its user. */
export const getLastError = internalQuery({
  args: { ticketHash: v.string() },
  returns: v.string(),
  handler: async (ctx, args) => await lastError(ctx.db, args.ticketHash, Date.now()),
});
