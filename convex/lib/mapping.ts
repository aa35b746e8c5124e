/**
 * Nothing is sent that QuickBooks cannot post. Before an event is claimed
 * for sending, its mapping is checked against what QuickBooks reported:
 *
 * - multi-location inventory OFF: QuickBooks keeps one quantity per item, so
 *   a transfer between locations changes nothing there (`not_required`) and
 *   adjustments go without a site;
 * - multi-location inventory ON: every location an event touches needs a
 *   QuickBooks site;
 * - with the lists pulled: every item, site and account must be in them and
 *   active. A part without a mapping goes by its SKU as the item's full name
 *   (very often the QuickBooks name IS the SKU), and whatever resolves is
 *   stored as ListID + FullName, so later renames in QuickBooks change nothing.
 *
 * An event that fails the check is `held` with holdKind "mapping": it never
 * reaches QuickBooks, consumes no retry, and is checked again by itself
 * (after a mapping change at once, otherwise every MAPPING_RECHECK_MS).
 */
import type { Doc, Id } from "../_generated/dataModel";
import type { DatabaseWriter } from "../_generated/server";
import { MAPPING_RECHECK_BATCH, MAPPING_RECHECK_MS } from "./constants";
import { type Company, findEntry, multiLocation } from "./company";
import { eventLines } from "./ledger";
import { mappingRef, recordMappingChange } from "./mappingLog";
import { transition } from "./queue";

type Event = Doc<"inventory_events">;
export type Problem = { key: string; reason: string };
export type MappingVerdict =
  | { kind: "send" }
  | { kind: "not_required"; reason: string }
  | { kind: "hold"; problems: Problem[] };

export const NO_SITES_REASON =
  "QuickBooks keeps one quantity per item in this company (multi-location inventory is off): a transfer between locations changes nothing there.";

type Checked = { listId?: string; fullName?: string };

/** Stores the ListID + FullName a reference resolved to, and logs it as a mapping change. */
export async function storeResolved(
  db: DatabaseWriter,
  kind: "item" | "site" | "account",
  key: string,
  old: Checked,
  entry: Doc<"qb_list_entries">,
  write: () => Promise<void>,
) {
  if (old.listId === entry.listId && old.fullName === entry.fullName) return;
  await write();
  await recordMappingChange(db, {
    kind,
    key,
    changedBy: RESOLVED_BY,
    source: "mapping check against QuickBooks' lists",
    old: mappingRef(old.listId, old.fullName),
    new: mappingRef(entry.listId, entry.fullName),
    at: Date.now(),
  });
}

/** The mapping log's "who" when the bridge completes a mapping from QuickBooks' own lists. */
const RESOLVED_BY = "bridge:lists";

/** Resolves a reference against a list; null + a reason when QuickBooks cannot take it. */
async function resolve(
  db: DatabaseWriter,
  company: Company | null,
  list: "items" | "sites" | "accounts",
  ref: Checked,
  what: string,
): Promise<{ entry: Doc<"qb_list_entries"> | null; problem: string | null }> {
  if (company?.listsGeneration === undefined) return { entry: null, problem: null };
  const entry = await findEntry(db, company, list, ref);
  const shown = ref.fullName ?? ref.listId ?? "?";
  if (entry === null) return { entry, problem: `${what} "${shown}" is not in QuickBooks' ${list} list` };
  if (!entry.isActive) return { entry, problem: `${what} "${entry.fullName}" is inactive in QuickBooks` };
  return { entry, problem: null };
}

async function checkSite(db: DatabaseWriter, company: Company | null, locationId: Id<"inventory_locations"> | undefined, problems: Problem[]) {
  if (locationId === undefined) return;
  const location = await db.get(locationId);
  if (location === null) return;
  const key = `site:${location._id}`;
  if (location.qbSiteListId === undefined && location.qbSiteFullName === undefined) {
    problems.push({ key, reason: `location ${location.code} has no QuickBooks site mapped (qbwc-bridge map location ${location.code} "SITE")` });
    return;
  }
  // Sites are only pulled when QuickBooks says it has them; otherwise the mapping goes as it is.
  if (multiLocation(company) !== true) return;
  const { entry, problem } = await resolve(db, company, "sites", { listId: location.qbSiteListId, fullName: location.qbSiteFullName }, `the site of location ${location.code}`);
  if (problem !== null) problems.push({ key, reason: problem });
  else if (entry !== null) {
    await storeResolved(db, "site", location.code, { listId: location.qbSiteListId, fullName: location.qbSiteFullName }, entry, () =>
      db.patch(location._id, { qbSiteListId: entry.listId, qbSiteFullName: entry.fullName }),
    );
  }
}

async function checkAccount(db: DatabaseWriter, company: Company | null, event: Event, problems: Problem[]) {
  const reason = event.reasonAccountId === undefined ? null : await db.get(event.reasonAccountId);
  const code = reason?.reasonCode ?? event.reasonCode ?? "?";
  const key = `account:${reason?._id ?? code}`;
  if (reason === null || (reason.qbAccountListId === undefined && reason.qbAccountFullName === undefined)) {
    problems.push({ key, reason: `reason code ${code} has no QuickBooks account mapped (qbwc-bridge map reason ${code} "ACCOUNT")` });
    return;
  }
  const { entry, problem } = await resolve(db, company, "accounts", { listId: reason.qbAccountListId, fullName: reason.qbAccountFullName }, `the account of reason code ${code}`);
  if (problem !== null) problems.push({ key, reason: problem });
  else if (entry !== null) {
    await storeResolved(db, "account", reason.reasonCode, { listId: reason.qbAccountListId, fullName: reason.qbAccountFullName }, entry, () =>
      db.patch(reason._id, { qbAccountListId: entry.listId, qbAccountFullName: entry.fullName }),
    );
  }
}

async function checkItem(db: DatabaseWriter, company: Company | null, partId: Id<"inventory_parts">, problems: Problem[]) {
  const part = await db.get(partId);
  if (part === null) return;
  const mapped = part.qbItemListId !== undefined || part.qbItemFullName !== undefined;
  const ref = mapped ? { listId: part.qbItemListId, fullName: part.qbItemFullName } : { fullName: part.sku };
  const { entry, problem } = await resolve(db, company, "items", ref, `the item of SKU ${part.sku}`);
  if (problem !== null) {
    const hint = mapped ? "" : ` (no mapping, and no item is named like the SKU: qbwc-bridge map item ${part.sku} "QB ITEM")`;
    problems.push({ key: `item:${part._id}`, reason: `${problem}${hint}` });
  } else if (entry !== null) {
    await storeResolved(db, "item", part.sku, { listId: part.qbItemListId, fullName: part.qbItemFullName }, entry, () =>
      db.patch(part._id, { qbItemListId: entry.listId, qbItemFullName: entry.fullName }),
    );
  }
}

/** Whether `event` can be sent as it stands; storing the ListIDs that resolve on the way. */
export async function mappingVerdict(db: DatabaseWriter, event: Event, company: Company | null): Promise<MappingVerdict> {
  const ml = multiLocation(company);
  const problems: Problem[] = [];
  if (event.type === "transfer") {
    if (ml === false) return { kind: "not_required", reason: NO_SITES_REASON };
    await checkSite(db, company, event.fromLocationId, problems);
    await checkSite(db, company, event.toLocationId, problems);
  } else {
    await checkAccount(db, company, event, problems);
    if (ml === true) await checkSite(db, company, event.locationId, problems);
  }
  for (const line of await eventLines(db, event._id)) await checkItem(db, company, line.partId, problems);
  return problems.length === 0 ? { kind: "send" } : { kind: "hold", problems };
}

/** Applies a verdict that is not "send"; returns the event as it now is. */
export async function setAside(db: DatabaseWriter, event: Event, verdict: Exclude<MappingVerdict, { kind: "send" }>, now: number): Promise<Event> {
  if (verdict.kind === "not_required") {
    return await transition(db, event, "not_required", { lastError: verdict.reason, ...clearedHold });
  }
  const reasons = verdict.problems.map((p) => p.reason);
  const holdReason = `Waiting for a mapping: ${reasons.slice(0, 3).join("; ")}${reasons.length > 3 ? ` (+${reasons.length - 3} more)` : ""}.`;
  return await transition(db, event, "held", {
    holdKind: "mapping",
    holdReason: holdReason.slice(0, 2000),
    holdKeys: [...new Set(verdict.problems.map((p) => p.key))].slice(0, 50),
    lastError: holdReason.slice(0, 2000),
    nextAttemptAt: now + MAPPING_RECHECK_MS,
  });
}

const clearedHold = { holdKind: undefined, holdReason: undefined, holdKeys: undefined };

/**
 * Checks held-for-mapping events that are due for it again; the fixed ones
 * go back to `pending`, due now. Bounded per call.
 */
export async function recheckHolds(db: DatabaseWriter, company: Company | null, now: number): Promise<number> {
  const due = await db
    .query("inventory_events")
    .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", "held").lte("nextAttemptAt", now))
    .take(MAPPING_RECHECK_BATCH);
  let released = 0;
  for (const event of due) {
    if (event.holdKind !== "mapping") continue;
    const verdict = await mappingVerdict(db, event, company);
    if (verdict.kind === "send") {
      await transition(db, event, "pending", { ...clearedHold, lastError: undefined, nextAttemptAt: now });
      released += 1;
    } else {
      await setAside(db, event, verdict, now);
    }
  }
  return released;
}

/** After a mapping change (qbMapping map*, the admin upserts, the importer): the held events it may free are checked at the next chance. */
export async function wakeHolds(db: DatabaseWriter, partId: Id<"inventory_parts"> | null, now: number, limit = 500): Promise<number> {
  const held: Event[] = [];
  if (partId !== null) {
    const lines = await db
      .query("inventory_event_lines")
      .withIndex("by_part", (q) => q.eq("partId", partId))
      .order("desc")
      .take(limit);
    for (const line of lines) {
      const event = await db.get(line.eventId);
      if (event !== null && event.qbStatus === "held" && event.holdKind === "mapping") held.push(event);
    }
  } else {
    held.push(
      ...(await db
        .query("inventory_events")
        .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", "held").gt("nextAttemptAt", now))
        .take(limit)).filter((e) => e.holdKind === "mapping"),
    );
  }
  for (const event of held) await db.patch(event._id, { nextAttemptAt: now });
  return held.length;
}
