import type { Doc, Id } from "../_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import type { EventPayload, Outcome, QbRef } from "./contract";
import { ERROR_CODES, MAX_CLAIM_BATCH, MAX_RETRIES, RETRY_DELAYS_SECONDS, type QbStatus } from "./constants";
import { addToCounter, qbStatusCounter, readCounter } from "./counters";
import { fail } from "./errors";
import { eventLines } from "./ledger";
import { currentCompany } from "./company";
import { eventGuid, lookupVerdict } from "./lookup";
import { countTransition } from "./stats";
import { isOver, type SessionId, type Tally } from "./sessions";

type Event = Doc<"inventory_events">;

/** Seconds to wait before the n-th retry (1-based); the last delay repeats. */
export function retryDelaySeconds(retryNumber: number): number {
  const index = Math.min(Math.max(retryNumber, 1), RETRY_DELAYS_SECONDS.length) - 1;
  return RETRY_DELAYS_SECONDS[index];
}

/**
 * The single door through which qbStatus changes, so the per-status counters
 * read by `getQueueStatus` can never disagree with the events.
 */
export async function transition(
  db: DatabaseWriter,
  event: Event,
  qbStatus: QbStatus,
  patch: Partial<Omit<Event, "_id" | "_creationTime" | "qbStatus">> = {},
): Promise<Event> {
  await db.patch(event._id, { ...patch, qbStatus });
  if (qbStatus !== event.qbStatus) {
    await addToCounter(db, qbStatusCounter(event.qbStatus), -1);
    await addToCounter(db, qbStatusCounter(qbStatus), 1);
    await countTransition(db, qbStatus, Date.now());
  }
  return (await db.get(event._id)) as Event;
}

export function isClaimable(event: Event, now: number): boolean {
  return (
    event.status === "posted" &&
    (event.qbStatus === "pending" || event.qbStatus === "failed") &&
    event.nextAttemptAt <= now
  );
}

/**
 * The oldest due events: pending and failed-and-due, merged by due time.
 * Each status is read through its own index range, so cost is bounded by
 * `limit`, not by the size of the backlog.
 */
export async function dueEvents(db: DatabaseReader, now: number, limit: number): Promise<Event[]> {
  const range = (status: "pending" | "failed") =>
    db
      .query("inventory_events")
      .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", status).lte("nextAttemptAt", now))
      .take(limit);
  const [pending, failed] = await Promise.all([range("pending"), range("failed")]);
  return [...pending, ...failed]
    .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a._creationTime - b._creationTime)
    .slice(0, limit);
}

/**
 * A claim whose outcome is unknown may be looked up only once the session
 * that sent it is over: until then QuickBooks may still post the original,
 * and a lookup that finds nothing would lead to a second posting.
 */
async function lookupMustWait(db: DatabaseReader, event: Event, now: number): Promise<boolean> {
  if (!event.qbLookupRequired || event.claimSessionId === undefined) return false;
  return !isOver(await db.get(event.claimSessionId), now);
}

/** Due events a session may claim now, oldest first. */
export async function claimableEvents(db: DatabaseReader, now: number, limit: number): Promise<Event[]> {
  // Waiting lookups come from one message (at most MAX_CLAIM_BATCH events): read past them.
  const due = await dueEvents(db, now, limit + MAX_CLAIM_BATCH);
  const claimable: Event[] = [];
  for (const event of due) {
    if (claimable.length === limit) break;
    if (!(await lookupMustWait(db, event, now))) claimable.push(event);
  }
  return claimable;
}

const DUE_COUNT_CAP = 100;

/**
 * How much claimable work is left, for percent-done and status. Pending
 * events are always claimable, so their counter answers in one read;
 * failed-and-due events are counted through their index range up to a cap.
 */
export async function countClaimable(db: DatabaseReader, now: number): Promise<number> {
  const failedDue = await db
    .query("inventory_events")
    .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", "failed").lte("nextAttemptAt", now))
    .take(DUE_COUNT_CAP);
  let failed = 0;
  for (const event of failedDue) if (!(await lookupMustWait(db, event, now))) failed += 1;
  return (await readCounter(db, qbStatusCounter("pending"))) + failed;
}

export function clampBatch(limit: number | undefined): number {
  const value = limit ?? 1;
  if (!Number.isInteger(value) || value < 1 || value > MAX_CLAIM_BATCH) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `limit must be 1..${MAX_CLAIM_BATCH}.`, { field: "limit" });
  }
  return value;
}

/**
 * Compare-and-set claim. The token names the event and the attempt
 * (`<eventId>:<claimCount>`), so it is unique per claim and the bridge can use
 * it as the qbXML requestID without keeping any state of its own.
 */
export async function claimEvent(db: DatabaseWriter, event: Event, sessionId: SessionId, now: number): Promise<Event> {
  if (!isClaimable(event, now)) {
    fail(ERROR_CODES.NOT_CLAIMABLE, `Event ${event.refNumber} is ${event.qbStatus} and cannot be claimed now.`, {
      eventId: event._id,
      qbStatus: event.qbStatus,
    });
  }
  // The same rule as claimableEvents, for claims made by hand (markEventInFlight).
  if (await lookupMustWait(db, event, now)) {
    fail(ERROR_CODES.NOT_CLAIMABLE, `Event ${event.refNumber} must be looked up, and the session that sent it may still post it.`, {
      eventId: event._id,
      qbStatus: event.qbStatus,
    });
  }
  const claimCount = event.claimCount + 1;
  return await transition(db, event, "in_flight", {
    claimCount,
    claimToken: `${event._id}:${claimCount}`,
    claimSessionId: sessionId,
  });
}

const ref = (listId: string | undefined, fullName: string | undefined): QbRef | null =>
  listId === undefined && fullName === undefined ? null : { listId: listId ?? null, fullName: fullName ?? null };

const siteRef = (location: Doc<"inventory_locations"> | null) =>
  location === null ? null : ref(location.qbSiteListId, location.qbSiteFullName);

/**
 * Everything the bridge needs to render one event's qbXML, in one read.
 * Without multi-location inventory (`multiLocation` false) QuickBooks takes
 * no site references, so none are sent (null: unknown, sites go as mapped).
 */
export async function eventPayload(db: DatabaseReader, event: Event, multiLocation?: boolean | null): Promise<EventPayload> {
  const sites = (multiLocation === undefined ? (await currentCompany(db))?.multiLocationEnabled : multiLocation) !== false;
  const lines = await eventLines(db, event._id);
  const parts = await Promise.all(lines.map((line) => db.get(line.partId)));
  const get = async <T extends "inventory_locations" | "inventory_reason_accounts">(id: Id<T> | undefined) =>
    id === undefined ? null : await db.get(id);
  const [from, to, location, account] = await Promise.all([
    get(event.fromLocationId),
    get(event.toLocationId),
    get(event.locationId),
    get(event.reasonAccountId),
  ]);
  return {
    eventId: event._id,
    claimToken: event.qbStatus === "in_flight" ? (event.claimToken ?? null) : null,
    mode: event.qbLookupRequired ? "lookup" : "send",
    type: event.type,
    refNumber: event.refNumber,
    externalGuid: eventGuid(event._id),
    occurredAt: event.occurredAt,
    memo: event.memo ?? null,
    retryCount: event.retryCount,
    fromLocationCode: from?.code ?? null,
    toLocationCode: to?.code ?? null,
    locationCode: location?.code ?? null,
    reasonCode: event.reasonCode ?? null,
    fromSite: sites ? siteRef(from) : null,
    toSite: sites ? siteRef(to) : null,
    site: sites ? siteRef(location) : null,
    account: account === null ? null : ref(account.qbAccountListId, account.qbAccountFullName),
    lines: lines.map((line, index) => {
      const part = parts[index] as Doc<"inventory_parts">;
      return {
        sku: part.sku,
        item: { listId: part.qbItemListId ?? null, fullName: part.qbItemFullName ?? null },
        quantity: line.quantity,
      };
    }),
  };
}

export function queueState(event: Event) {
  return {
    eventId: event._id,
    refNumber: event.refNumber,
    qbStatus: event.qbStatus,
    retryCount: event.retryCount,
    nextAttemptAt: event.nextAttemptAt,
    qbTxnId: event.qbTxnId ?? null,
    lastError: event.lastError ?? null,
    qbLookupRequired: event.qbLookupRequired ?? false,
    holdReason: event.holdReason ?? null,
  };
}

export type ClaimResult = ReturnType<typeof queueState> & { changed: boolean; stale: boolean };
export type Applied = { result: ClaimResult; tally: Tally | null; error?: string };

const unchanged = (event: Event, stale: boolean): Applied => ({
  result: { ...queueState(event), changed: false, stale },
  tally: null,
});

/**
 * Records what QuickBooks said about a claim. Idempotent per claim token: a
 * repeat of an already-recorded answer returns the current state and changes
 * nothing, and an answer for a claim that no longer holds the event (a late
 * or replayed answer) is reported as stale and changes nothing.
 */
export async function applyOutcome(db: DatabaseWriter, event: Event, claimToken: string, outcome: Outcome, now: number): Promise<Applied> {
  if (event.claimToken !== claimToken) return unchanged(event, true);
  if (event.qbStatus !== "in_flight") return unchanged(event, false);
  const done = async (qbStatus: QbStatus, patch: Partial<Event>, tally: Tally | null, error?: string): Promise<Applied> => ({
    result: { ...queueState(await transition(db, event, qbStatus, patch)), changed: true, stale: false },
    tally,
    error,
  });
  switch (outcome.kind) {
    case "success":
      return await done(
        "applied",
        { qbTxnId: outcome.qbTxnId, appliedAt: now, qbLookupRequired: undefined, lastStatusCode: outcome.statusCode },
        "applied",
      );
    case "found": {
      const verdict = lookupVerdict(await eventPayload(db, event), outcome.transactions);
      if (verdict.kind === "match") {
        return await done("applied", { qbTxnId: verdict.txnId, appliedAt: now, qbLookupRequired: undefined }, "applied");
      }
      if (verdict.kind === "conflict") {
        // Still "may be in QuickBooks": qbLookupRequired stays set, so it cannot be voided;
        // never due again by itself: a person resolves it.
        return await done(
          "held",
          { holdKind: "conflict", holdReason: verdict.reason, lastError: verdict.reason, nextAttemptAt: NEVER },
          "held",
          verdict.reason,
        );
      }
      return await notFound(event, now, done);
    }
    case "not_found":
      return await notFound(event, now, done);
    case "retryable": {
      const failures = event.retryCount + 1;
      const exhausted = failures > MAX_RETRIES;
      const message = exhausted ? `Gave up after ${MAX_RETRIES} retries: ${outcome.message}` : outcome.message;
      const lookup = outcome.lookupRequired || event.qbLookupRequired ? true : undefined;
      // An unknown outcome is settled by a lookup, which waits for the session to be over, not for a backoff.
      const due = outcome.lookupRequired ? now : now + retryDelaySeconds(failures) * 1000;
      return await done(
        exhausted ? "dead" : "failed",
        {
          retryCount: failures,
          nextAttemptAt: exhausted ? event.nextAttemptAt : due,
          lastError: message,
          lastStatusCode: outcome.statusCode,
          qbLookupRequired: lookup,
        },
        exhausted ? "dead" : "failed",
        message,
      );
    }
    case "permanent":
      return await done("dead", { lastError: outcome.message, lastStatusCode: outcome.statusCode }, "dead", outcome.message);
    default: {
      // A read's answer (host, list page...) names no event: nothing to record here.
      const message = `an answer of kind ${outcome.kind} cannot settle event ${event.refNumber}; it will be looked up.`;
      return await done("failed", { lastError: message, qbLookupRequired: true, nextAttemptAt: now }, "failed", message);
    }
  }
}

/** nextAttemptAt of an event nothing but a person moves on. */
export const NEVER = Number.MAX_SAFE_INTEGER;

async function notFound(
  event: Event,
  now: number,
  done: (qbStatus: QbStatus, patch: Partial<Event>, tally: Tally | null, error?: string) => Promise<Applied>,
): Promise<Applied> {
  if (!event.qbLookupRequired) {
    // A query answer for a claim that sent an Add: not this claim's answer. Treat as unknown.
    const message = "QuickBooks answered a send with a query result; it will be looked up.";
    return await done("failed", { lastError: message, qbLookupRequired: true, nextAttemptAt: now }, "failed", message);
  }
  // The session that sent it is over and QuickBooks has no such transaction: safe to send, due at once.
  return await done("pending", { qbLookupRequired: undefined, nextAttemptAt: now }, null);
}

/**
 * Gives back every claim a session still holds, as retryable failures whose
 * outcome is unknown: QuickBooks may have saved them, so each one's next
 * attempt asks QuickBooks first (and only once this session is over).
 */
export async function releaseClaims(db: DatabaseWriter, sessionId: SessionId, message: string, now: number): Promise<Applied[]> {
  const claims = await db
    .query("inventory_events")
    .withIndex("by_claimSession_qbStatus", (q) => q.eq("claimSessionId", sessionId).eq("qbStatus", "in_flight"))
    .take(MAX_CLAIM_BATCH * 10);
  const released: Applied[] = [];
  for (const event of claims) {
    released.push(
      await applyOutcome(db, event, event.claimToken as string, { kind: "retryable", message, lookupRequired: true }, now),
    );
  }
  return released;
}

/** Admin retry: a fresh start, due now, with the retry budget reset. */
export async function retryEvent(db: DatabaseWriter, eventId: Id<"inventory_events">, now: number) {
  const event = await db.get(eventId);
  if (event === null) {
    fail(ERROR_CODES.EVENT_NOT_FOUND, `No event ${eventId}.`, { eventId });
  }
  if (event.status !== "posted" || (event.qbStatus !== "failed" && event.qbStatus !== "dead")) {
    fail(ERROR_CODES.NOT_RETRYABLE, `Event ${event.refNumber} is ${event.qbStatus}; only failed or dead events can be retried.`, {
      eventId,
      qbStatus: event.qbStatus,
    });
  }
  const next = await transition(db, event, "pending", { retryCount: 0, nextAttemptAt: now });
  return queueState(next);
}

/**
 * A person settles a held event: QuickBooks does not have it (`send`), or
 * the transaction `txnId` found under its RefNumber is it (applied).
 */
export async function resolveHeld(
  db: DatabaseWriter,
  eventId: Id<"inventory_events">,
  resolution: { send: true } | { txnId: string },
  now: number,
) {
  const event = await db.get(eventId);
  if (event === null) {
    fail(ERROR_CODES.EVENT_NOT_FOUND, `No event ${eventId}.`, { eventId });
  }
  if (event.qbStatus !== "held" || event.holdKind === "mapping") {
    const why = event.qbStatus === "held" ? "held for a mapping; it moves on by itself once the mapping is fixed" : `${event.qbStatus}, not held`;
    fail(ERROR_CODES.NOT_HELD, `Event ${event.refNumber} is ${why}; nothing to resolve.`, { eventId, qbStatus: event.qbStatus });
  }
  const cleared = { holdReason: undefined, holdKind: undefined, holdKeys: undefined, qbLookupRequired: undefined };
  const next =
    "txnId" in resolution
      ? await transition(db, event, "applied", { ...cleared, qbTxnId: resolution.txnId, appliedAt: now })
      : await transition(db, event, "pending", { ...cleared, retryCount: 0, nextAttemptAt: now });
  return queueState(next);
}
