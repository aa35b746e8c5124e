/**
 * Rules for QBWC sessions: when one is live, when it is over, and what it
 * has done. One company file takes one writer at a time, because a second
 * Web Connector (the .qwc installed on two machines) would otherwise claim,
 * look up and resend events while the first one's QuickBooks is still
 * working through a message it holds.
 *
 * A session is over when it was closed (closeConnection, connectionError, an
 * operator) or when it has been silent for its TTL. Only then are its
 * unanswered claims looked up and, if QuickBooks has nothing, sent again.
 * A session with no message outstanding can post nothing more, so after
 * IDLE_SESSION_MS of silence it no longer keeps another Web Connector out.
 */
import type { Doc, Id } from "../_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import { DEFAULT_SESSION_TTL_MS, IDLE_SESSION_MS } from "./constants";

export type Session = Doc<"qb_sync_sessions">;
export type SessionId = Id<"qb_sync_sessions">;

/** What one answered claim did to its session's tally. */
export type Tally = "applied" | "failed" | "dead" | "held";

export function ttlOf(session: Session): number {
  return session.ttlMs ?? DEFAULT_SESSION_TTL_MS;
}

/** Open, but silent past its TTL: its ticket is dead and its claims are unknown outcomes. */
export function isExpired(session: Session, now: number): boolean {
  return session.status === "open" && session.expiresAt <= now;
}

/** Over: nothing sent under this session can still reach QuickBooks through it. */
export function isOver(session: Session | null, now: number): boolean {
  return session === null || session.status !== "open" || isExpired(session, now);
}

/** True while this session keeps every other Web Connector out. */
export function holdsWriter(session: Session, now: number): boolean {
  if (isOver(session, now)) return false;
  return session.outstanding !== undefined || now - session.lastSeenAt < IDLE_SESSION_MS;
}

/** Every session still marked open (live, idle or expired): at most a handful. */
export async function openSessions(db: DatabaseReader, limit = 20): Promise<Session[]> {
  return await db
    .query("qb_sync_sessions")
    .withIndex("by_status_lastSeenAt", (q) => q.eq("status", "open"))
    .take(limit);
}

export async function sessionByTicket(db: DatabaseReader, ticketHash: string): Promise<Session | null> {
  // `first`, not `unique`: a lookup must never fail on data, whatever happened before.
  return await db
    .query("qb_sync_sessions")
    .withIndex("by_ticketHash", (q) => q.eq("ticketHash", ticketHash))
    .first();
}

/** The patch that records a call: seen now, alive for another TTL. */
export function seen(session: Session, now: number): Pick<Session, "lastSeenAt" | "expiresAt"> {
  return { lastSeenAt: now, expiresAt: now + ttlOf(session) };
}

/** Adds answered claims to the session's tally (one patch for a whole message). */
export async function countOnSession(
  db: DatabaseWriter,
  sessionId: SessionId | undefined,
  tallies: (Tally | null)[],
  lastError?: string,
): Promise<void> {
  if (sessionId === undefined) return;
  const counted = tallies.filter((t): t is Tally => t !== null);
  if (counted.length === 0 && lastError === undefined) return;
  const session = await db.get(sessionId);
  if (session === null) return;
  const bump = (field: Tally) => counted.filter((t) => t === field).length;
  await db.patch(sessionId, {
    applied: session.applied + bump("applied"),
    failed: session.failed + bump("failed"),
    dead: session.dead + bump("dead"),
    held: (session.held ?? 0) + bump("held"),
    ...(lastError !== undefined ? { lastError: lastError.slice(0, 2000) } : {}),
  });
}

/**
 * QBWC's percent done: 100 only when nothing claimable is left, otherwise
 * the share handled so far, kept within 1..99 so QBWC neither stops early
 * nor reads it as an error.
 */
export function percentDone(handled: number, remaining: number): number {
  if (remaining <= 0) return 100;
  return Math.max(1, Math.min(99, Math.floor((handled * 100) / (handled + remaining))));
}

/** "user qbwc, company file C:\...\Acme.QBW, last call 42 s ago": for the one kept waiting. */
export function describeWriter(session: Session, now: number): string {
  const file = session.companyFile ? `company file ${session.companyFile}` : "the company file open in QuickBooks";
  const quiet = Math.max(0, Math.round((now - session.lastSeenAt) / 1000));
  const waiting = session.outstanding !== undefined ? ", waiting for QuickBooks to answer a message" : "";
  return `user ${session.userName}, ${file}, opened ${Math.round((now - session.openedAt) / 1000)} s ago, last call ${quiet} s ago${waiting}`;
}

/** The summary `status`, `getLastError` and the close answer show. */
export function sessionView(session: Session, now: number) {
  return {
    sessionId: session._id,
    status: session.status,
    userName: session.userName,
    companyFile: session.companyFile ?? null,
    openedAt: session.openedAt,
    lastSeenAt: session.lastSeenAt,
    expiresAt: session.expiresAt,
    live: !isOver(session, now),
    outstanding: session.outstanding?.requestIds.length ?? 0,
    claimed: session.claimed,
    applied: session.applied,
    failed: session.failed,
    dead: session.dead,
    held: session.held ?? 0,
    lastError: session.lastError ?? null,
    closeReason: session.closeReason ?? null,
  };
}
