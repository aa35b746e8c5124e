import type { Doc, Id } from "../_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import {
  ERROR_CODES,
  MAX_CLAIM_BATCH,
  MAX_RETRIES,
  RETRY_DELAYS_SECONDS,
  type QbStatus,
} from "./constants";
import { addToCounter, qbStatusCounter } from "./counters";
import { fail } from "./errors";
import { eventLines } from "./ledger";

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

export function isLeaseExpired(event: Event, now: number): boolean {
  return event.qbStatus === "in_flight" && (event.leaseExpiresAt ?? 0) <= now;
}

/** In-flight events whose session died: their outcome in QuickBooks is unknown. */
export async function expiredLeases(db: DatabaseReader, now: number, limit: number): Promise<Event[]> {
  return await db
    .query("inventory_events")
    .withIndex("by_qbStatus_leaseExpiresAt", (q) => q.eq("qbStatus", "in_flight").lte("leaseExpiresAt", now))
    .take(limit);
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

export function clampBatch(limit: number | undefined): number {
  const value = limit ?? 1;
  if (!Number.isInteger(value) || value < 1 || value > MAX_CLAIM_BATCH) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `limit must be 1..${MAX_CLAIM_BATCH}.`, { field: "limit" });
  }
  return value;
}

export async function requireOpenSession(db: DatabaseReader, sessionId: Id<"qb_sync_sessions">, now: number) {
  const session = await db.get(sessionId);
  if (session === null) {
    fail(ERROR_CODES.SESSION_NOT_FOUND, "Unknown sync session.");
  }
  if (session.status !== "open" || session.expiresAt <= now) {
    fail(ERROR_CODES.SESSION_CLOSED, "This sync session is closed or expired.");
  }
  return session;
}

/**
 * Compare-and-set claim. The token names the event and the attempt
 * (`<eventId>:<claimCount>`), so it is unique per claim and the bridge can use
 * it as the qbXML requestID without keeping any state of its own.
 */
export async function claimEvent(
  db: DatabaseWriter,
  event: Event,
  sessionId: Id<"qb_sync_sessions">,
  now: number,
  leaseMs: number,
): Promise<Event> {
  const reclaim = isLeaseExpired(event, now);
  if (!reclaim && !isClaimable(event, now)) {
    fail(ERROR_CODES.NOT_CLAIMABLE, `Event ${event.refNumber} is ${event.qbStatus} and cannot be claimed now.`, {
      eventId: event._id,
      qbStatus: event.qbStatus,
    });
  }
  const claimCount = event.claimCount + 1;
  return await transition(db, event, "in_flight", {
    claimCount,
    claimToken: `${event._id}:${claimCount}`,
    claimSessionId: sessionId,
    leaseExpiresAt: now + leaseMs,
    // A lapsed lease means QuickBooks may already hold this transaction.
    qbLookupRequired: reclaim ? true : event.qbLookupRequired,
  });
}

/** Reference as QuickBooks needs it: by ListID when known, else by full name. */
type QbRef = { listId: string | null; fullName: string | null };

const ref = (listId: string | undefined, fullName: string | undefined): QbRef | null =>
  listId === undefined && fullName === undefined ? null : { listId: listId ?? null, fullName: fullName ?? null };

const siteRef = (location: Doc<"inventory_locations"> | null) =>
  location === null ? null : ref(location.qbSiteListId, location.qbSiteFullName);

/** Everything the bridge needs to render one event's qbXML, in one read. */
export async function eventPayload(db: DatabaseReader, event: Event, now: number = Date.now()) {
  const lapsed = isLeaseExpired(event, now);
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
    // A lapsed claim's token is dead, and its next claim will be a lookup.
    claimToken: event.qbStatus === "in_flight" && !lapsed ? (event.claimToken ?? null) : null,
    mode: event.qbLookupRequired || lapsed ? ("lookup" as const) : ("send" as const),
    type: event.type,
    refNumber: event.refNumber,
    occurredAt: event.occurredAt,
    memo: event.memo ?? null,
    retryCount: event.retryCount,
    fromLocationCode: from?.code ?? null,
    toLocationCode: to?.code ?? null,
    locationCode: location?.code ?? null,
    reasonCode: event.reasonCode ?? null,
    fromSite: siteRef(from),
    toSite: siteRef(to),
    site: siteRef(location),
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

export type Outcome =
  | { kind: "success"; qbTxnId: string; statusCode?: string; message?: string }
  | { kind: "not_found" }
  | { kind: "retryable"; message: string; statusCode?: string; lookupRequired?: boolean }
  | { kind: "permanent"; message: string; statusCode?: string };

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
  };
}

async function countOnSession(db: DatabaseWriter, sessionId: Id<"qb_sync_sessions"> | undefined, field: "applied" | "failed" | "dead", lastError?: string) {
  if (sessionId === undefined) return;
  const session = await db.get(sessionId);
  if (session === null) return;
  await db.patch(sessionId, { [field]: session[field] + 1, ...(lastError ? { lastError } : {}) });
}

/**
 * Records what QuickBooks said about a claim. Idempotent per claim token: the
 * bridge retries on network errors, so a repeat of an already-recorded result
 * returns the current state and changes nothing.
 */
export async function applyOutcome(
  db: DatabaseWriter,
  eventId: Id<"inventory_events">,
  claimToken: string,
  outcome: Outcome,
  now: number,
) {
  const event = await db.get(eventId);
  if (event === null) {
    fail(ERROR_CODES.EVENT_NOT_FOUND, `No event ${eventId}.`, { eventId });
  }
  if (event.claimToken !== claimToken) {
    fail(ERROR_CODES.STALE_CLAIM, `Claim ${claimToken} no longer holds event ${event.refNumber}.`, {
      eventId,
      qbStatus: event.qbStatus,
    });
  }
  if (event.qbStatus !== "in_flight") {
    return { ...queueState(event), changed: false };
  }
  const released = { leaseExpiresAt: undefined };
  let next: Event;
  switch (outcome.kind) {
    case "success":
      next = await transition(db, event, "applied", {
        ...released,
        qbTxnId: outcome.qbTxnId,
        appliedAt: now,
        qbLookupRequired: undefined,
        lastStatusCode: outcome.statusCode,
      });
      await countOnSession(db, event.claimSessionId, "applied");
      break;
    case "not_found":
      if (!event.qbLookupRequired) {
        fail(ERROR_CODES.INVALID_ARGUMENT, "not_found only answers a lookup claim.", { eventId });
      }
      // QuickBooks has no such transaction: safe to send, and due at once.
      next = await transition(db, event, "pending", { ...released, qbLookupRequired: undefined, nextAttemptAt: now });
      break;
    case "retryable": {
      const failures = event.retryCount + 1;
      const exhausted = failures > MAX_RETRIES;
      const message = exhausted ? `Gave up after ${MAX_RETRIES} retries: ${outcome.message}` : outcome.message;
      next = await transition(db, event, exhausted ? "dead" : "failed", {
        ...released,
        retryCount: failures,
        nextAttemptAt: exhausted ? event.nextAttemptAt : now + retryDelaySeconds(failures) * 1000,
        lastError: message,
        lastStatusCode: outcome.statusCode,
        qbLookupRequired: outcome.lookupRequired || event.qbLookupRequired ? true : undefined,
      });
      await countOnSession(db, event.claimSessionId, exhausted ? "dead" : "failed", message);
      break;
    }
    case "permanent":
      next = await transition(db, event, "dead", {
        ...released,
        lastError: outcome.message,
        lastStatusCode: outcome.statusCode,
      });
      await countOnSession(db, event.claimSessionId, "dead", outcome.message);
      break;
  }
  return { ...queueState(next), changed: true };
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
