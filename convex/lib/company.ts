/**
 * What Convex knows about the QuickBooks company file, and which reads the
 * next message must carry before any event is sent.
 *
 * Capabilities come from the HCP response QBWC sends with the first
 * sendRequestXML (HostQuery, CompanyQuery, PreferencesQuery answers); when it
 * is missing or unreadable, the bridge is asked to send those queries itself.
 * Lists (items, sites, accounts) are pulled page by page with qbXML
 * iterators into a new generation, which replaces the current one only once
 * the whole pull is done (a half-finished pull never replaces a good one).
 * An iterator lives only as long as QuickBooks' connection, i.e. one QBWC
 * session: a pull interrupted mid-list restarts that list in the next session.
 */
import type { Doc, Id } from "../_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import { LIST_PAGE_SIZE, LIST_PRUNE_BATCH, PULL_RETRY_MS } from "./constants";
import type { CompanyFact, ListEntryIn, ListPageIn, QueryRequest } from "./contract";
import { mappingRef, recordMappingChange } from "./mappingLog";

export type Company = Doc<"qb_companies">;
export type CompanyId = Id<"qb_companies">;
type ListName = Doc<"qb_list_entries">["list"];
type QueryKind = QueryRequest["kind"];

/** The row for the company file a session opened, made on first sight. */
export async function companyFor(db: DatabaseWriter, companyFile: string, now: number): Promise<Company> {
  const existing = await db
    .query("qb_companies")
    .withIndex("by_companyFile", (q) => q.eq("companyFile", companyFile))
    .first();
  if (existing !== null) {
    if (existing.lastSeenAt !== now) await db.patch(existing._id, { lastSeenAt: now });
    return { ...existing, lastSeenAt: now };
  }
  const id = await db.insert("qb_companies", { companyFile, lastSeenAt: now });
  return (await db.get(id)) as Company;
}

/** The company file QBWC worked with last (what the CLI and new sessions go by). */
export async function currentCompany(db: DatabaseReader): Promise<Company | null> {
  return await db.query("qb_companies").withIndex("by_lastSeenAt").order("desc").first();
}

/** Records one fact QuickBooks told about itself. */
export function factPatch(fact: CompanyFact, now: number): Partial<Company> {
  const text = (value: string | null) => (value === null ? undefined : value.slice(0, 200));
  switch (fact.kind) {
    case "host":
      return {
        productName: text(fact.productName),
        majorVersion: fact.majorVersion ?? undefined,
        minorVersion: fact.minorVersion ?? undefined,
        country: text(fact.country),
        supportedQbxmlVersions: fact.supportedQbxmlVersions.slice(0, 40).map((v) => v.slice(0, 10)),
        fileMode: text(fact.fileMode),
        hostReadAt: now,
      };
    case "company":
      return { companyName: text(fact.companyName) };
    case "preferences":
      return {
        multiLocationAvailable: fact.multiLocationAvailable ?? undefined,
        multiLocationEnabled: fact.multiLocationEnabled ?? undefined,
        preferencesReadAt: now,
      };
  }
}

/** true / false as QuickBooks said; null while unknown (then events go out as before: sites if mapped). */
export function multiLocation(company: Company | null): boolean | null {
  return company?.multiLocationEnabled ?? null;
}

/** The queries that fill each list, in pull order; sites only exist with multi-location inventory. */
export function pullSteps(company: Company): QueryKind[] {
  const steps: QueryKind[] = ["AccountQuery"];
  if (company.multiLocationEnabled === true) steps.push("InventorySiteQuery");
  steps.push("ItemInventoryQuery", "ItemInventoryAssemblyQuery");
  return steps;
}

const ITERATED: ReadonlySet<QueryKind> = new Set(["ItemInventoryQuery", "ItemInventoryAssemblyQuery"]);
const LIST_OF: Record<string, ListName> = {
  AccountQuery: "accounts",
  InventorySiteQuery: "sites",
  ItemInventoryQuery: "items",
  ItemInventoryAssemblyQuery: "items",
  accounts: "accounts",
  sites: "sites",
  items: "items",
  assemblies: "items",
};

/** Whether the lists should be pulled in this session (stale, asked for, or a pull under way). */
export function listsDue(company: Company, now: number, maxAgeMs: number): boolean {
  if (company.pull !== undefined) return true;
  if (company.pullRetryAt !== undefined && company.pullRetryAt > now) return false;
  if (company.refreshRequestedAt !== undefined && company.refreshRequestedAt > (company.listsPulledAt ?? -1)) return true;
  // maxAgeMs 0: only when an operator asks (`qbwc-bridge refresh-lists`).
  if (maxAgeMs <= 0) return false;
  return company.listsPulledAt === undefined || now - company.listsPulledAt >= maxAgeMs;
}

/**
 * The reads the next message carries before any event: the capabilities
 * QuickBooks has not told us yet, else the next page of a list pull.
 * Starting (or restarting in a new session) a pull is recorded here.
 */
export async function nextReads(
  db: DatabaseWriter,
  company: Company,
  sessionId: Id<"qb_sync_sessions">,
  callId: string,
  now: number,
  listMaxAgeMs: number,
): Promise<QueryRequest[]> {
  const tag = callId.slice(0, 16);
  if (company.hostReadAt === undefined || company.preferencesReadAt === undefined) {
    const reads: QueryRequest[] = [];
    if (company.hostReadAt === undefined) reads.push({ requestId: `host:${tag}`, kind: "HostQuery" });
    if (company.preferencesReadAt === undefined) reads.push({ requestId: `prefs:${tag}`, kind: "PreferencesQuery" });
    return reads;
  }
  if (!listsDue(company, now, listMaxAgeMs)) return [];
  let pull = company.pull;
  if (pull === undefined) {
    pull = { generation: nextGeneration(company), startedAt: now, steps: pullSteps(company), step: 0, page: 0, entries: 0, sessionId };
  } else if (pull.sessionId !== sessionId) {
    // The iterator died with the last session's connection: this list starts over.
    pull = { ...pull, sessionId, iteratorId: undefined, page: 0 };
  }
  if (pull !== company.pull) await db.patch(company._id, { pull, pullError: undefined });
  const kind = pull.steps[pull.step] as QueryKind;
  const request: QueryRequest = { requestId: `list:${pull.generation}.${pull.step}.${pull.page}:${tag}`, kind };
  if (ITERATED.has(kind)) {
    request.maxReturned = LIST_PAGE_SIZE;
    request.iterator = pull.iteratorId === undefined ? "Start" : "Continue";
    if (pull.iteratorId !== undefined) request.iteratorId = pull.iteratorId;
  }
  return [request];
}

function nextGeneration(company: Company): number {
  return Math.max(company.listsGeneration ?? 0, company.pull?.generation ?? 0, ...(company.abandonedGenerations ?? [])) + 1;
}

/** One page of the pull in progress. Pages that do not belong to it (a replay) change nothing. */
export async function applyListPage(db: DatabaseWriter, company: Company, page: ListPageIn, now: number): Promise<void> {
  const pull = company.pull;
  if (pull === undefined) return;
  const kind = pull.steps[pull.step];
  if (LIST_OF[kind] !== LIST_OF[page.list]) return;
  const list = LIST_OF[page.list];
  let added = 0;
  for (const entry of page.entries) added += (await upsertEntry(db, company._id, pull.generation, list, page.list, entry)) ? 1 : 0;
  await followRenames(db, list, page.entries, now);
  const entries = pull.entries + page.entries.length;
  const before = pull.counts ?? { items: 0, sites: 0, accounts: 0 };
  const counts = { ...before, [list]: before[list] + added };
  if (page.remaining > 0 && page.iteratorId !== undefined && ITERATED.has(kind as QueryKind)) {
    await db.patch(company._id, { pull: { ...pull, entries, counts, page: pull.page + 1, iteratorId: page.iteratorId } });
    return;
  }
  const step = pull.step + 1;
  if (step < pull.steps.length) {
    await db.patch(company._id, { pull: { ...pull, entries, counts, step, page: 0, iteratorId: undefined } });
    return;
  }
  // The whole pull is in: it becomes the lists every check reads, in this one transaction.
  await db.patch(company._id, {
    pull: undefined,
    pullError: undefined,
    pullRetryAt: undefined,
    listsGeneration: pull.generation,
    listsPulledAt: now,
    listCounts: counts,
  });
}

const RENAMED_BY = "quickbooks:rename";

/**
 * Mappings go by ListID, which QuickBooks never changes; the FullName kept
 * beside it (for people) follows a rename as soon as a page shows it.
 */
async function followRenames(db: DatabaseWriter, list: ListName, entries: ListEntryIn[], now: number) {
  const log = async (kind: "item" | "site" | "account", key: string, listId: string, before: string | undefined, after: string) =>
    await recordMappingChange(db, {
      kind,
      key,
      changedBy: RENAMED_BY,
      source: "list pull: renamed in QuickBooks",
      old: mappingRef(listId, before),
      new: mappingRef(listId, after),
      at: now,
    });
  if (list === "items") {
    for (const entry of entries) {
      const parts = await db
        .query("inventory_parts")
        .withIndex("by_qbItemListId", (q) => q.eq("qbItemListId", entry.listId))
        .take(20);
      for (const part of parts) {
        if (part.qbItemFullName === entry.fullName) continue;
        await db.patch(part._id, { qbItemFullName: entry.fullName });
        await log("item", part.sku, entry.listId, part.qbItemFullName, entry.fullName);
      }
    }
    return;
  }
  const byId = new Map(entries.map((e) => [e.listId, e.fullName]));
  if (list === "sites") {
    for (const location of await db.query("inventory_locations").take(1000)) {
      const name = location.qbSiteListId === undefined ? undefined : byId.get(location.qbSiteListId);
      if (name === undefined || name === location.qbSiteFullName) continue;
      await db.patch(location._id, { qbSiteFullName: name });
      await log("site", location.code, location.qbSiteListId as string, location.qbSiteFullName, name);
    }
    return;
  }
  for (const reason of await db.query("inventory_reason_accounts").take(1000)) {
    const name = reason.qbAccountListId === undefined ? undefined : byId.get(reason.qbAccountListId);
    if (name === undefined || name === reason.qbAccountFullName) continue;
    await db.patch(reason._id, { qbAccountFullName: name });
    await log("account", reason.reasonCode, reason.qbAccountListId as string, reason.qbAccountFullName, name);
  }
}

/** A list query QuickBooks refused: the pull stops, and is tried again later. */
export async function failPull(db: DatabaseWriter, company: Company, message: string, now: number): Promise<void> {
  await db.patch(company._id, {
    pull: undefined,
    pullError: message.slice(0, 2000),
    pullRetryAt: now + PULL_RETRY_MS,
    abandonedGenerations:
      company.pull === undefined ? company.abandonedGenerations : [...(company.abandonedGenerations ?? []), company.pull.generation],
  });
}

async function upsertEntry(
  db: DatabaseWriter,
  companyId: CompanyId,
  generation: number,
  list: ListName,
  from: ListPageIn["list"],
  entry: ListEntryIn,
): Promise<boolean> {
  const fields = {
    name: entry.name.slice(0, 200),
    fullName: entry.fullName.slice(0, 500),
    fullNameKey: entry.fullName.slice(0, 500).toLowerCase(),
    isActive: entry.isActive,
    itemType: list === "items" ? (from === "assemblies" ? ("assembly" as const) : ("inventory" as const)) : undefined,
    quantityOnHand: entry.quantityOnHand,
    accountType: entry.accountType?.slice(0, 60),
  };
  // Looked up as stored, so a page seen twice updates its rows instead of adding them again.
  const listId = entry.listId.slice(0, 40);
  const existing = await db
    .query("qb_list_entries")
    .withIndex("by_list_listId", (q) => q.eq("companyId", companyId).eq("generation", generation).eq("list", list).eq("listId", listId))
    .first();
  if (existing === null) {
    await db.insert("qb_list_entries", { companyId, generation, list, listId, ...fields });
    return true;
  }
  await db.patch(existing._id, fields);
  return false;
}

/**
 * Deletes a bounded number of rows no check reads any more: generations
 * older than the current one, then those of abandoned pulls.
 */
export async function pruneLists(db: DatabaseWriter, company: Company): Promise<void> {
  const current = company.listsGeneration;
  if (current !== undefined) {
    const older = await db
      .query("qb_list_entries")
      .withIndex("by_generation", (q) => q.eq("companyId", company._id).lt("generation", current))
      .take(LIST_PRUNE_BATCH);
    for (const row of older) await db.delete(row._id);
    if (older.length === LIST_PRUNE_BATCH) return;
  }
  const [abandoned, ...rest] = company.abandonedGenerations ?? [];
  if (abandoned === undefined) return;
  const rows = await db
    .query("qb_list_entries")
    .withIndex("by_generation", (q) => q.eq("companyId", company._id).eq("generation", abandoned))
    .take(LIST_PRUNE_BATCH);
  for (const row of rows) await db.delete(row._id);
  if (rows.length < LIST_PRUNE_BATCH) await db.patch(company._id, { abandonedGenerations: rest.length === 0 ? undefined : rest });
}

/** One entry of the current lists by ListID, or by full name (QuickBooks ignores case). */
export async function findEntry(
  db: DatabaseReader,
  company: Company,
  list: ListName,
  ref: { listId?: string | null; fullName?: string | null },
): Promise<Doc<"qb_list_entries"> | null> {
  const generation = company.listsGeneration;
  if (generation === undefined) return null;
  if (ref.listId) {
    return await db
      .query("qb_list_entries")
      .withIndex("by_list_listId", (q) => q.eq("companyId", company._id).eq("generation", generation).eq("list", list).eq("listId", ref.listId as string))
      .first();
  }
  if (ref.fullName) {
    return await db
      .query("qb_list_entries")
      .withIndex("by_list_fullNameKey", (q) =>
        q.eq("companyId", company._id).eq("generation", generation).eq("list", list).eq("fullNameKey", (ref.fullName as string).toLowerCase()),
      )
      .first();
  }
  return null;
}

/**
 * A list read whose answer never reached Convex: QuickBooks' iterator has
 * moved past that page, so the list starts over (pages are upserted, so
 * nothing is counted twice).
 */
export async function restartListStep(db: DatabaseWriter, company: Company): Promise<void> {
  if (company.pull === undefined) return;
  await db.patch(company._id, { pull: { ...company.pull, iteratorId: undefined, page: 0 } });
}
