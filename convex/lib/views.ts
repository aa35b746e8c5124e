/**
 * Read-only shapes that more than one reader shows: the company as
 * QuickBooks reported it, events held for a mapping grouped by what is
 * missing, drift report rows, and the latest events in one qbStatus. The CLI's
 * queries (qbMapping:getCompany, qbMapping:listUnmapped, qbRecon:reportRows,
 * qbQueue:getQueueStatus) and the operator page (ops:overview) build them
 * here, so `qbwc-bridge status` and /ops never describe the same row two ways.
 */
import { v, type Infer } from "convex/values";
import type { Doc } from "../_generated/dataModel";
import type { DatabaseReader } from "../_generated/server";
import type { Company } from "./company";
import type { QbStatus } from "./constants";
import { queueState } from "./queue";
import { vReportSummary } from "./qbTables";

type Event = Doc<"inventory_events">;

// -- the company ---------------------------------------------------------------------

export const vCompanyView = v.object({
  companyFile: v.string(),
  companyName: v.union(v.string(), v.null()),
  productName: v.union(v.string(), v.null()),
  version: v.union(v.string(), v.null()),
  supportedQbxmlVersions: v.array(v.string()),
  fileMode: v.union(v.string(), v.null()),
  multiLocationAvailable: v.union(v.boolean(), v.null()),
  multiLocationEnabled: v.union(v.boolean(), v.null()),
  capabilitiesReadAt: v.union(v.number(), v.null()),
  listsPulledAt: v.union(v.number(), v.null()),
  listCounts: v.union(v.object({ items: v.number(), sites: v.number(), accounts: v.number() }), v.null()),
  pullInProgress: v.union(v.object({ step: v.string(), entries: v.number(), startedAt: v.number() }), v.null()),
  pullError: v.union(v.string(), v.null()),
  refreshRequested: v.boolean(),
  snapshotRequested: v.boolean(),
  snapshotRunning: v.boolean(),
  lastSnapshotAt: v.union(v.number(), v.null()),
  reconcileEveryHours: v.union(v.number(), v.null()),
  lastReport: v.union(vReportSummary, v.null()),
});
export type CompanyView = Infer<typeof vCompanyView>;

/** What QuickBooks reported about itself, and the state of its lists and snapshots. */
export function companyView(company: Company): CompanyView {
  return {
    companyFile: company.companyFile,
    companyName: company.companyName ?? null,
    productName: company.productName ?? null,
    version: company.majorVersion === undefined ? null : `${company.majorVersion}.${company.minorVersion ?? 0}`,
    supportedQbxmlVersions: company.supportedQbxmlVersions ?? [],
    fileMode: company.fileMode ?? null,
    multiLocationAvailable: company.multiLocationAvailable ?? null,
    multiLocationEnabled: company.multiLocationEnabled ?? null,
    capabilitiesReadAt: company.preferencesReadAt ?? company.hostReadAt ?? null,
    listsPulledAt: company.listsPulledAt ?? null,
    listCounts: company.listCounts ?? null,
    pullInProgress:
      company.pull === undefined
        ? null
        : { step: company.pull.steps[company.pull.step] ?? "?", entries: company.pull.entries, startedAt: company.pull.startedAt },
    pullError: company.pullError ?? null,
    refreshRequested: company.refreshRequestedAt !== undefined && company.refreshRequestedAt > (company.listsPulledAt ?? -1),
    snapshotRequested: company.snapshotRequestedAt !== undefined && company.snapshotRequestedAt > (company.snapshotServedAt ?? -1),
    snapshotRunning: company.snapshotId !== undefined,
    lastSnapshotAt: company.lastSnapshotAt ?? null,
    reconcileEveryHours: company.reconcileEveryMs ? company.reconcileEveryMs / 3_600_000 : null,
    lastReport: company.lastReport ?? null,
  };
}

// -- events held for a mapping ---------------------------------------------------------

export const vUnmappedRow = v.object({ key: v.string(), kind: v.string(), name: v.string(), events: v.number(), reason: v.string() });
export type UnmappedRow = Infer<typeof vUnmappedRow>;

const KEY_KINDS = { item: "part", site: "location", account: "reason" } as const;

/** "item:<partId>" -> the part's SKU, "site:<locationId>" -> the location's code, "account:<reasonId>" -> the reason code. */
async function describeKey(db: DatabaseReader, key: string): Promise<{ kind: string; name: string }> {
  const [prefix, id] = key.split(":") as [keyof typeof KEY_KINDS, string];
  const kind = KEY_KINDS[prefix] ?? prefix;
  if (prefix === "item") {
    const partId = db.normalizeId("inventory_parts", id);
    return { kind, name: (partId && (await db.get(partId))?.sku) || id };
  }
  if (prefix === "site") {
    const locationId = db.normalizeId("inventory_locations", id);
    return { kind, name: (locationId && (await db.get(locationId))?.code) || id };
  }
  const reasonId = db.normalizeId("inventory_reason_accounts", id);
  return { kind, name: (reasonId && (await db.get(reasonId))?.reasonCode) || id };
}

/**
 * Held events grouped by what they wait for (a part, a location, a reason
 * code), with how many of `events` wait on each; conflict holds are skipped.
 * One read per distinct key, at most `maxKeys` of them (`truncated`: some
 * keys were left out), so the cost is bounded by the events given.
 */
export async function groupMappingHolds(
  db: DatabaseReader,
  events: Event[],
  maxKeys = Number.POSITIVE_INFINITY,
): Promise<{ rows: UnmappedRow[]; truncated: boolean }> {
  const rows = new Map<string, UnmappedRow>();
  let truncated = false;
  for (const event of events) {
    if (event.holdKind !== "mapping") continue;
    for (const key of event.holdKeys ?? []) {
      let row = rows.get(key);
      if (row === undefined) {
        if (rows.size >= maxKeys) {
          truncated = true;
          continue;
        }
        row = { key, ...(await describeKey(db, key)), events: 0, reason: event.holdReason ?? "" };
        rows.set(key, row);
      }
      row.events += 1;
    }
  }
  return { rows: [...rows.values()], truncated };
}

// -- drift report rows -----------------------------------------------------------------

export const vDriftRow = v.object({
  sku: v.string(),
  itemName: v.union(v.string(), v.null()),
  itemListId: v.union(v.string(), v.null()),
  site: v.union(v.string(), v.null()),
  location: v.union(v.string(), v.null()),
  convexQoh: v.number(),
  qbQoh: v.number(),
  inTransit: v.number(),
  drift: v.number(),
  note: v.union(v.string(), v.null()),
});

export function driftRowView(row: Doc<"qb_recon_rows">): Infer<typeof vDriftRow> {
  return {
    sku: row.sku,
    itemName: row.itemName ?? null,
    itemListId: row.itemListId ?? null,
    site: row.siteName ?? (row.siteKey === "" ? null : row.siteKey),
    location: row.locationCode ?? null,
    convexQoh: row.convexQoh,
    qbQoh: row.qbQoh,
    inTransit: row.inTransit,
    drift: row.drift,
    note: row.note ?? null,
  };
}

// -- the latest events in one state --------------------------------------------------------

/** The `limit` events of `status` with the latest nextAttemptAt (for dead and held: the latest to get there). */
export async function latestInStatus(db: DatabaseReader, status: QbStatus, limit: number) {
  const events = await db
    .query("inventory_events")
    .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", status))
    .order("desc")
    .take(limit);
  return events.map(queueState);
}
