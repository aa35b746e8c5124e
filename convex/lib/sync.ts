/**
 * What each QBWC call means for sessions and the queue: one plain function
 * per queue-touching SOAP call, each run as ONE mutation by `qbSessions.ts`
 * (so a crash can never leave half a step behind), and each safe to run
 * twice with the same call id (the bridge retries a call whose reply was lost).
 *
 *   authenticate        -> openSession       one writer at a time; "none" when idle
 *   sendRequestXML      -> nextRequest       claim a batch, remember it as THE outstanding message
 *   receiveResponseXML  -> recordResponse    apply answers that belong to that message
 *   closeConnection /
 *   connectionError     -> endSession        release what was never answered, close
 */
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import {
  DEFAULT_LIST_MAX_AGE_MS,
  ERROR_CODES,
  MAX_SESSION_TTL_MS,
  MIN_SESSION_TTL_MS,
  REFUSED_SESSION_KEEP_MS,
} from "./constants";
import {
  applyListPage,
  companyFor,
  currentCompany,
  factPatch,
  failPull,
  listsDue,
  multiLocation,
  nextReads,
  pruneLists,
  restartListStep,
  type Company,
} from "./company";
import type { CompanyFact, Outcome, QueryRequest, Response } from "./contract";
import { fail } from "./errors";
import { mappingVerdict, recheckHolds, setAside } from "./mapping";
import { sampleQueue } from "./stats";
import {
  applySnapshotPage,
  failSnapshotPage,
  isSnapshotRead,
  pruneSnapshots,
  restartSnapshotStep,
  runningSnapshot,
  snapshotDue,
  snapshotRead,
  startSnapshot,
} from "./snapshot";
import {
  applyOutcome,
  claimEvent,
  claimableEvents,
  clampBatch,
  countClaimable,
  dueEvents,
  eventPayload,
  queueState as queueStateOf,
  releaseClaims,
  type Applied,
} from "./queue";
import {
  countOnSession,
  describeWriter,
  holdsWriter,
  isExpired,
  openSessions,
  percentDone,
  seen,
  sessionByTicket,
  sessionView,
  type Session,
} from "./sessions";
import { optionalText, requiredText } from "./validate";

export const NOTHING_DUE = "Nothing left to send: every due event has been handled.";
export const UNKNOWN_TICKET =
  "This Web Connector session is unknown or has expired. Nothing was lost: the Web Connector starts a new session at its next scheduled run.";
const EXPIRED =
  "This Web Connector session expired (no call for longer than its lifetime); what it had sent will be looked up in QuickBooks before anything is sent again.";

// ---- authenticate ---------------------------------------------------------------

export type OpenArgs = {
  ticketHash: string;
  userName: string;
  ttlMs: number;
  companyFile?: string;
  // The bridge's schedules, so an idle install still wakes up for a due list pull or snapshot.
  listMaxAgeMs?: number;
  reconcileEveryMs?: number;
};

/**
 * Opens the session for a ticket the bridge just made, unless nothing is due
 * ("none", nothing stored) or another Web Connector is the live writer
 * ("busy": stored as refused, so getLastError can name the other one).
 * Sessions that are over are ended first, releasing what they held.
 */
export async function openSession(db: DatabaseWriter, args: OpenArgs, now: number) {
  const ticketHash = requiredText(args.ticketHash, "ticketHash", 200);
  const existing = await sessionByTicket(db, ticketHash);
  if (existing !== null) {
    // The same authenticate again (its reply was lost): the same answer.
    return existing.status === "refused"
      ? { status: "busy" as const, message: existing.lastError ?? "Another Web Connector is syncing." }
      : { status: "open" as const, sessionId: existing._id, expiresAt: existing.expiresAt };
  }
  if (!Number.isInteger(args.ttlMs) || args.ttlMs < MIN_SESSION_TTL_MS || args.ttlMs > MAX_SESSION_TTL_MS) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `ttlMs must be ${MIN_SESSION_TTL_MS}..${MAX_SESSION_TTL_MS}.`, { field: "ttlMs" });
  }
  const userName = requiredText(args.userName, "userName", 200);
  const companyFile = optionalText(args.companyFile, "companyFile", 1000);
  const open = await openSessions(db);
  for (const session of open) if (isExpired(session, now)) await finish(db, session, now, "expired", EXPIRED);
  await releaseOrphans(db, now);
  await pruneRefused(db, now);
  const company = await withSchedules(db, await currentCompany(db), args);
  // Mapping fixes need no QuickBooks: held events they free are pending before the answer.
  await recheckHolds(db, company, now);
  const [oldest] = await dueEvents(db, now, 1);
  await sampleQueue(db, oldest?.nextAttemptAt ?? null, now);
  if (!readsDue(company, now) && (await claimableEvents(db, now, 1)).length === 0) return { status: "none" as const };
  const writer = open.find((session) => holdsWriter(session, now));
  const fields = {
    ticketHash,
    userName,
    companyFile,
    openedAt: now,
    lastSeenAt: now,
    expiresAt: now + args.ttlMs,
    ttlMs: args.ttlMs,
    claimed: 0,
    applied: 0,
    failed: 0,
    dead: 0,
    held: 0,
  };
  if (writer !== undefined) {
    const message = `Another Web Connector is syncing this company file (${describeWriter(writer, now)}). This one waits for its next scheduled run. If the Web Connector is installed on two machines, remove the application from one of them.`;
    await db.insert("qb_sync_sessions", { ...fields, status: "refused", closedAt: now, closeReason: "busy", lastError: message });
    return { status: "busy" as const, message };
  }
  // Idle sessions that cannot post anything more give way to the new one.
  for (const session of open) {
    if (session.status === "open" && !isExpired(session, now)) {
      await finish(db, session, now, "superseded", "Another Web Connector session took over after this one went quiet.");
    }
  }
  const sessionId = await db.insert("qb_sync_sessions", { ...fields, status: "open" });
  return { status: "open" as const, sessionId, expiresAt: fields.expiresAt };
}

/** The company with the bridge's current schedules stored (written only when they change). */
async function withSchedules(db: DatabaseWriter, company: Company | null, args: { listMaxAgeMs?: number; reconcileEveryMs?: number }) {
  if (company === null) return null;
  const patch: Partial<Company> = {};
  if (args.listMaxAgeMs !== undefined && args.listMaxAgeMs !== company.listMaxAgeMs) patch.listMaxAgeMs = Math.max(0, args.listMaxAgeMs);
  if (args.reconcileEveryMs !== undefined && args.reconcileEveryMs !== company.reconcileEveryMs) {
    patch.reconcileEveryMs = Math.max(0, args.reconcileEveryMs);
  }
  if (Object.keys(patch).length === 0) return company;
  await db.patch(company._id, patch);
  return { ...company, ...patch };
}

/** QuickBooks must be read before events go out: capabilities unknown, lists stale or asked for. */
function readsDue(company: Company | null, now: number): boolean {
  if (company === null) return true;
  if (company.hostReadAt === undefined || company.preferencesReadAt === undefined) return true;
  return listsDue(company, now, company.listMaxAgeMs ?? DEFAULT_LIST_MAX_AGE_MS) || company.snapshotId !== undefined || snapshotDue(company, now);
}

/** Claims left in flight by sessions that are over (a crash, data from older releases). */
async function releaseOrphans(db: DatabaseWriter, now: number) {
  const inFlight = await db
    .query("inventory_events")
    .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", "in_flight"))
    .take(200);
  for (const event of inFlight) {
    const session = event.claimSessionId === undefined ? null : await db.get(event.claimSessionId);
    if (session === null || session.status !== "open") {
      await applyOutcome(db, event, event.claimToken as string, {
        kind: "retryable",
        message: "Its session ended before QuickBooks answered; it will be looked up first.",
        lookupRequired: true,
      }, now);
    }
  }
}

async function pruneRefused(db: DatabaseWriter, now: number) {
  const old = await db
    .query("qb_sync_sessions")
    .withIndex("by_status_lastSeenAt", (q) => q.eq("status", "refused").lt("lastSeenAt", now - REFUSED_SESSION_KEEP_MS))
    .take(20);
  for (const session of old) await db.delete(session._id);
}

// ---- every later call: find the session ----------------------------------------------

type Rejected = { status: "rejected"; reason: "unknown" | "closed" | "expired"; message: string };

/** The session a ticket opened, if it can still act; an expired one is ended on the spot. */
async function liveSession(db: DatabaseWriter, ticketHash: string, now: number): Promise<Session | Rejected> {
  const session = await sessionByTicket(db, ticketHash);
  if (session === null || session.status === "refused") return { status: "rejected", reason: "unknown", message: UNKNOWN_TICKET };
  if (session.status === "closed") {
    return {
      status: "rejected",
      reason: "closed",
      message: session.closeReason === "superseded" ? (session.lastError ?? UNKNOWN_TICKET) : UNKNOWN_TICKET,
    };
  }
  if (isExpired(session, now)) {
    await finish(db, session, now, "expired", EXPIRED);
    return { status: "rejected", reason: "expired", message: EXPIRED };
  }
  return session;
}

const isRejected = (value: Session | Rejected): value is Rejected => "reason" in value && value.status === "rejected";

// ---- sendRequestXML ---------------------------------------------------------------------

export type NextArgs = {
  ticketHash: string;
  callId: string;
  limit: number;
  companyFile?: string;
  qbXmlVersion?: string;
  // What QuickBooks said about itself in the HCP response (first sendRequestXML only).
  hcp?: CompanyFact[];
  listMaxAgeMs?: number;
  reconcileEveryMs?: number;
};

/**
 * Builds the next message and records it as the session's one outstanding
 * message: QuickBooks is read first when needed (capabilities, list pages),
 * otherwise a batch of events is claimed, each checked against its mapping
 * first (held or not_required instead of sent when QuickBooks could not post
 * it). If a message is still outstanding, QBWC has moved past it without
 * delivering its answer (QBWC never sends twice without a receive): its
 * claims become unknown outcomes, looked up once this session is over.
 */
export async function nextRequest(db: DatabaseWriter, args: NextArgs, now: number) {
  const limit = clampBatch(args.limit);
  const found = await liveSession(db, args.ticketHash, now);
  if (isRejected(found)) return found;
  const session = found;
  if (session.lastCall?.callId === args.callId && session.lastCall.kind === "send") {
    return await repeatSend(db, session);
  }
  const tallies: Applied[] = [];
  const companyFile = optionalText(args.companyFile, "companyFile", 1000) ?? session.companyFile;
  let company = await sessionCompany(db, companyFile, now);
  if (session.outstanding !== undefined) {
    tallies.push(...(await releaseClaims(db, session._id, "The Web Connector moved on without delivering QuickBooks' answer.", now)));
    const lostReads = (session.outstanding.reads ?? []).map((r) => r.requestId);
    if (lostReads.length > 0) {
      await restartReads(db, company, lostReads);
      company = (await db.get(company._id)) as Company;
    }
  }
  const facts: Partial<Company> = {};
  for (const fact of args.hcp ?? []) Object.assign(facts, factPatch(fact, now));
  if (Object.keys(facts).length > 0) {
    await db.patch(company._id, facts);
    company = { ...company, ...facts };
  }
  company = (await withSchedules(db, company, args)) as Company;
  await pruneLists(db, company);
  await pruneSnapshots(db, company);
  const base = {
    ...seen(session, now),
    companyFile,
    qbXmlVersion: optionalText(args.qbXmlVersion, "qbXmlVersion", 10) ?? session.qbXmlVersion,
    lastCall: { callId: args.callId, kind: "send" as const },
  };
  const sendReads = async (reads: QueryRequest[]) => {
    const requestIds = reads.map((r) => r.requestId);
    await db.patch(session._id, { ...base, outstanding: { messageId: args.callId, requestIds, sentAt: now, reads } });
    await countOnSession(db, session._id, tallies.map((t) => t.tally));
    return { status: "events" as const, sessionId: session._id, messageId: args.callId, queries: reads, events: [] };
  };
  const reads = await nextReads(db, company, session._id, args.callId, now, company.listMaxAgeMs ?? DEFAULT_LIST_MAX_AGE_MS);
  if (reads.length > 0) return await sendReads(reads);
  // A snapshot under way is finished before any new event goes out, so none lands in the middle of it.
  const snapshot = await runningSnapshot(db, company, session._id, now);
  if (snapshot !== null) return await sendReads([snapshotRead(snapshot, args.callId)]);
  // An abandoned snapshot is asked for again: read the company as it now is.
  if (company.snapshotId !== undefined) company = (await db.get(company._id)) as Company;
  await recheckHolds(db, company, now);
  const claimed = await claimChecked(db, session, company, limit, now, tallies);
  if (claimed.length === 0 && snapshotDue(company, now) && !(await outcomeUnknown(db))) {
    return await sendReads([snapshotRead(await startSnapshot(db, company, session._id, now), args.callId)]);
  }
  const patch = {
    ...base,
    claimed: session.claimed + claimed.length,
    outstanding:
      claimed.length === 0
        ? undefined
        : { messageId: args.callId, requestIds: claimed.map((e) => e.claimToken as string), sentAt: now },
  };
  await db.patch(session._id, claimed.length === 0 ? { ...patch, lastError: NOTHING_DUE } : patch);
  await countOnSession(db, session._id, tallies.map((t) => t.tally));
  if (claimed.length === 0) return { status: "nothing" as const, sessionId: session._id, message: NOTHING_DUE };
  const ml = multiLocation(company);
  return {
    status: "events" as const,
    sessionId: session._id,
    messageId: args.callId,
    queries: [],
    events: await Promise.all(claimed.map((event) => eventPayload(db, event, ml))),
  };
}

/**
 * Claims up to `limit` due events that QuickBooks can post. A send whose
 * mapping QuickBooks would refuse is held (or not_required) instead, and the
 * next due event takes its place. Lookups are not checked: they post nothing.
 */
async function claimChecked(db: DatabaseWriter, session: Session, company: Company, limit: number, now: number, tallies: Applied[]) {
  const claimed = [];
  for (let round = 0; round < 4 && claimed.length < limit; round++) {
    const due = await claimableEvents(db, now, limit - claimed.length);
    if (due.length === 0) break;
    for (const event of due) {
      const verdict = event.qbLookupRequired ? { kind: "send" as const } : await mappingVerdict(db, event, company);
      if (verdict.kind === "send") {
        claimed.push(await claimEvent(db, event, session._id, now));
      } else {
        const set = await setAside(db, event, verdict, now);
        tallies.push({ result: { ...queueStateOf(set), changed: true, stale: false }, tally: verdict.kind === "hold" ? "held" : null });
      }
    }
  }
  return claimed;
}

/** The answer a send already gave, rebuilt from the outstanding message. */
async function repeatSend(db: DatabaseReader, session: Session) {
  const outstanding = session.outstanding;
  if (outstanding === undefined) return { status: "nothing" as const, sessionId: session._id, message: NOTHING_DUE };
  const reads = outstanding.reads ?? [];
  const events = [];
  for (const token of outstanding.requestIds) {
    if (reads.some((r) => r.requestId === token)) continue;
    const event = await eventOfToken(db, token);
    if (event !== null) events.push(await eventPayload(db, event));
  }
  return { status: "events" as const, sessionId: session._id, messageId: outstanding.messageId, queries: reads, events };
}

/** The event a claim token (`<eventId>:<n>`, the qbXML requestID) names, if it names one. */
async function eventOfToken(db: DatabaseReader, token: string) {
  const id = db.normalizeId("inventory_events", token.slice(0, Math.max(0, token.lastIndexOf(":"))));
  return id === null ? null : await db.get(id);
}

/** Marks events the bridge could not render as dead and drops them from the outstanding message. */
export async function refuseClaims(
  db: DatabaseWriter,
  ticketHash: string,
  refusals: { claimToken: string; reason: string }[],
  now: number,
) {
  const found = await liveSession(db, ticketHash, now);
  if (isRejected(found)) return [];
  const applied: Applied[] = [];
  const outstanding = new Set(found.outstanding?.requestIds ?? []);
  const reads = new Map((found.outstanding?.reads ?? []).map((r) => [r.requestId, r]));
  for (const refusal of refusals) {
    // Only what this session's own outstanding message holds can be refused through it.
    if (!outstanding.has(refusal.claimToken)) continue;
    const read = reads.get(refusal.claimToken);
    if (read !== undefined) {
      const company = await sessionCompany(db, found.companyFile, now);
      await recordRead(db, company, read, { kind: "permanent", message: `the bridge cannot send it: ${refusal.reason}` }, now);
      continue;
    }
    const event = await eventOfToken(db, refusal.claimToken);
    if (event === null) continue;
    applied.push(await applyOutcome(db, event, refusal.claimToken, { kind: "permanent", message: refusal.reason }, now));
  }
  const refused = new Set(refusals.map((r) => r.claimToken));
  const remaining = found.outstanding?.requestIds.filter((id) => !refused.has(id)) ?? [];
  await db.patch(found._id, {
    ...seen(found, now),
    outstanding: found.outstanding === undefined || remaining.length === 0 ? undefined : { ...found.outstanding, requestIds: remaining },
  });
  await countOnSession(db, found._id, applied.map((a) => a.tally), applied.at(-1)?.error);
  return applied.map((a) => a.result);
}

// ---- receiveResponseXML -------------------------------------------------------------------

export type RecordArgs = { ticketHash: string; callId: string; response: Response };

/**
 * Applies QuickBooks' answers to the outstanding message. An answer must
 * carry the message's requestIDs: one that names anything else (a replay, a
 * late answer to an older message) changes nothing. A failure that carries
 * no requestIDs (an HRESULT, an unreadable or empty response) is recorded
 * for getLastError and changes no event: it cannot prove which message it
 * answers, so the claims stay outstanding until their own answer arrives or
 * the session ends (then they are looked up).
 */
export async function recordResponse(db: DatabaseWriter, args: RecordArgs, now: number) {
  const found = await liveSession(db, args.ticketHash, now);
  if (isRejected(found)) return found;
  const session = found;
  if (session.lastCall?.callId === args.callId && session.lastCall.kind === "receive" && session.lastCall.percent !== undefined) {
    return { status: "ok" as const, sessionId: session._id, percent: session.lastCall.percent, results: [] };
  }
  const response = args.response;
  const outstanding = session.outstanding;
  if (response.kind === "failed") {
    const message = response.message.slice(0, 2000);
    await db.patch(session._id, { ...seen(session, now), lastError: message });
    return { status: "failed" as const, sessionId: session._id, message };
  }
  const wanted = new Set(outstanding?.requestIds ?? []);
  const strangers = response.answers.filter((a) => !wanted.has(a.requestId));
  if (outstanding === undefined || response.answers.length === 0 || strangers.length > 0) {
    const message =
      outstanding === undefined
        ? "An answer arrived, but no request is waiting for one; nothing was recorded."
        : `This answer does not belong to the request the bridge sent last (requestIDs ${strangers.slice(0, 3).map((a) => a.requestId).join(", ") || "none"}); nothing was recorded.`;
    await db.patch(session._id, { ...seen(session, now), lastError: message });
    return { status: "mismatch" as const, sessionId: session._id, message };
  }
  const applied: Applied[] = [];
  const answered = new Set<string>();
  const reads = new Map((outstanding.reads ?? []).map((r) => [r.requestId, r]));
  let company: Company | null = await sessionCompany(db, session.companyFile, now);
  for (const { requestId, outcome } of response.answers) {
    if (answered.has(requestId)) continue;
    answered.add(requestId);
    const read = reads.get(requestId);
    if (read !== undefined) {
      if (company !== null) company = await recordRead(db, company, read, outcome, now);
      continue;
    }
    const event = await eventOfToken(db, requestId);
    if (event !== null) applied.push(await applyOutcome(db, event, requestId, outcome, now));
  }
  // A read the answer skipped: its iterator may have moved on, so that list starts over.
  const skippedReads = [...reads.keys()].filter((id) => !answered.has(id));
  if (company !== null && skippedReads.length > 0) await restartReads(db, company, skippedReads);
  // Requests the answer skipped: QuickBooks may or may not have run them.
  for (const token of outstanding.requestIds.filter((id) => !answered.has(id) && !reads.has(id))) {
    const event = await eventOfToken(db, token);
    if (event === null) continue;
    applied.push(
      await applyOutcome(db, event, token, { kind: "retryable", message: "QuickBooks returned no answer for this request.", lookupRequired: true }, now),
    );
  }
  const readsLeft = readsDue(company, now) ? 1 : 0;
  const percent = percentDone(session.claimed, (await countClaimable(db, now)) + readsLeft);
  await db.patch(session._id, {
    ...seen(session, now),
    outstanding: undefined,
    lastCall: { callId: args.callId, kind: "receive" as const, percent },
  });
  const errors = applied.filter((a) => a.error !== undefined);
  await countOnSession(db, session._id, applied.map((a) => a.tally), errors.at(-1)?.error);
  return { status: "ok" as const, sessionId: session._id, percent, results: applied.map((a) => a.result) };
}

/**
 * True while any event may or may not be in QuickBooks (its lookup is still
 * to come): a snapshot then could not say whether that event is in it.
 */
async function outcomeUnknown(db: DatabaseReader): Promise<boolean> {
  for (const qbStatus of ["pending", "in_flight", "failed"] as const) {
    const found = await db
      .query("inventory_events")
      .withIndex("by_lookup_qbStatus", (q) => q.eq("qbLookupRequired", true).eq("qbStatus", qbStatus))
      .first();
    if (found !== null) return true;
  }
  return false;
}

/** Reads whose answers were lost: the list or snapshot step they belonged to starts over. */
async function restartReads(db: DatabaseWriter, company: Company, requestIds: string[]) {
  if (requestIds.some((id) => id.startsWith("list:"))) await restartListStep(db, company);
  if (requestIds.some(isSnapshotRead)) await restartSnapshotStep(db, company);
}

/** QuickBooks' status for an iteratorID it no longer knows. */
const ITERATOR_GONE = "3391";

/**
 * The company a session works on: the file QBWC named, else (no name: "the
 * one open in QuickBooks") the one QBWC worked with last.
 */
async function sessionCompany(db: DatabaseWriter, companyFile: string | undefined, now: number): Promise<Company> {
  if (companyFile === undefined || companyFile === "") {
    const current = await currentCompany(db);
    if (current !== null) return current;
  }
  return await companyFor(db, companyFile ?? "", now);
}

/** A read's answer: a fact about the company, a list page, or a refusal that stops the pull. */
async function recordRead(db: DatabaseWriter, company: Company, read: QueryRequest, outcome: Outcome, now: number): Promise<Company> {
  if (isSnapshotRead(read.requestId)) {
    if (outcome.kind === "siteQuantities" || outcome.kind === "listPage") await applySnapshotPage(db, company, outcome, now);
    else {
      const message = "message" in outcome ? outcome.message : `unexpected answer ${outcome.kind}`;
      await failSnapshotPage(db, company, "statusCode" in outcome ? outcome.statusCode : undefined, message, now);
    }
    return (await db.get(company._id)) as Company;
  }
  if (outcome.kind === "host" || outcome.kind === "company" || outcome.kind === "preferences") {
    const patch = factPatch(outcome, now);
    await db.patch(company._id, patch);
    return { ...company, ...patch };
  }
  if (outcome.kind === "listPage") {
    await applyListPage(db, company, outcome, now);
  } else if (read.kind === "HostQuery" || read.kind === "PreferencesQuery" || read.kind === "CompanyQuery") {
    // QuickBooks would not say: go on as if unknown rather than ask forever.
    const patch = read.kind === "HostQuery" ? { hostReadAt: now } : read.kind === "PreferencesQuery" ? { preferencesReadAt: now } : {};
    await db.patch(company._id, patch);
  } else if (outcome.kind === "retryable" && outcome.statusCode === ITERATOR_GONE && company.pull !== undefined) {
    // QuickBooks forgot the iterator (it lives only as long as its connection): this list starts over.
    await db.patch(company._id, { pull: { ...company.pull, iteratorId: undefined, page: 0 } });
  } else {
    const message = "message" in outcome ? outcome.message : `unexpected answer ${outcome.kind}`;
    await failPull(db, company, `QuickBooks refused ${read.kind}: ${message}`, now);
  }
  return (await db.get(company._id)) as Company;
}

// ---- closeConnection / connectionError --------------------------------------------------

/** Releases what the session never got an answer for, then closes it. */
async function finish(db: DatabaseWriter, session: Session, now: number, reason: string, error?: string) {
  const released = await releaseClaims(db, session._id, `Session ended before QuickBooks answered (${reason}).`, now);
  await db.patch(session._id, {
    status: "closed",
    closedAt: now,
    closeReason: reason.slice(0, 500),
    outstanding: undefined,
    ...(error !== undefined ? { lastError: error.slice(0, 2000) } : {}),
  });
  await countOnSession(db, session._id, released.map((r) => r.tally));
  return released;
}

/** closeConnection and connectionError: idempotent; returns the session's tallies (null: unknown ticket). */
export async function endSession(db: DatabaseWriter, args: { ticketHash: string; reason: string; error?: string }, now: number) {
  const session = await sessionByTicket(db, args.ticketHash);
  if (session === null) return null;
  if (session.status === "open") await finish(db, session, now, args.reason, args.error);
  return sessionView((await db.get(session._id)) as Session, now);
}

/** getLastError: what the session last ran into, or why the ticket opens nothing. */
export async function lastError(db: DatabaseReader, ticketHash: string, now: number): Promise<string> {
  const session = await sessionByTicket(db, ticketHash);
  if (session === null) return UNKNOWN_TICKET;
  if (session.status === "open" && isExpired(session, now)) return EXPIRED;
  if (session.lastError !== undefined) return session.lastError;
  return session.status === "open" ? "No error." : UNKNOWN_TICKET;
}
