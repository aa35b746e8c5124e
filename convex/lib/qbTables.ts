/**
 * Tables that hold what the bridge READ from QuickBooks: the company's
 * capabilities and its lists. Kept apart from the inventory tables because
 * nothing here is a source of truth: each is a copy of QuickBooks, replaced
 * by the next read.
 */
import { defineTable } from "convex/server";
import { v } from "convex/values";

export const vListName = v.union(v.literal("items"), v.literal("sites"), v.literal("accounts"));

/** A read the bridge is asked to send (rendered before any event in the message). */
export const vQueryRequest = v.object({
  requestId: v.string(),
  kind: v.union(
    v.literal("HostQuery"),
    v.literal("CompanyQuery"),
    v.literal("PreferencesQuery"),
    v.literal("ItemInventoryQuery"),
    v.literal("ItemInventoryAssemblyQuery"),
    v.literal("InventorySiteQuery"),
    v.literal("AccountQuery"),
    v.literal("ItemSitesQuery"),
  ),
  iterator: v.optional(v.union(v.literal("Start"), v.literal("Continue"))),
  iteratorId: v.optional(v.string()),
  maxReturned: v.optional(v.number()),
});

/** A list pull in progress: which query step, which QuickBooks iterator, in which session. */
const vPull = v.object({
  generation: v.number(),
  startedAt: v.number(),
  steps: v.array(v.string()),
  step: v.number(),
  page: v.number(),
  iteratorId: v.optional(v.string()),
  sessionId: v.optional(v.id("qb_sync_sessions")),
  entries: v.number(),
  // Entries new to this generation, per list: the counts without a read of the whole list.
  counts: v.optional(v.object({ items: v.number(), sites: v.number(), accounts: v.number() })),
});

/** What `status` shows of the last reconciliation report. */
export const vReportSummary = v.object({
  reportId: v.id("qb_recon_reports"),
  builtAt: v.number(),
  snapshotAt: v.number(),
  rows: v.number(),
  driftRows: v.number(),
  totalDrift: v.number(),
});

export const vReconTotals = v.object({
  rows: v.number(),
  driftRows: v.number(),
  convexQoh: v.number(),
  qbQoh: v.number(),
  inTransit: v.number(),
  drift: v.number(),
  onlyInQuickBooks: v.number(),
  notInQuickBooks: v.number(),
});

export const qbTables = {
  // One row per company file QBWC opened ("" = whichever file was open).
  qb_companies: defineTable({
    companyFile: v.string(),
    lastSeenAt: v.number(),
    productName: v.optional(v.string()),
    majorVersion: v.optional(v.number()),
    minorVersion: v.optional(v.number()),
    country: v.optional(v.string()),
    supportedQbxmlVersions: v.optional(v.array(v.string())),
    fileMode: v.optional(v.string()),
    companyName: v.optional(v.string()),
    hostReadAt: v.optional(v.number()),
    multiLocationAvailable: v.optional(v.boolean()),
    multiLocationEnabled: v.optional(v.boolean()),
    preferencesReadAt: v.optional(v.number()),
    // Lists: the generation every mapping check reads; a pull fills the next one.
    listsGeneration: v.optional(v.number()),
    listsPulledAt: v.optional(v.number()),
    listCounts: v.optional(v.object({ items: v.number(), sites: v.number(), accounts: v.number() })),
    refreshRequestedAt: v.optional(v.number()),
    pull: v.optional(vPull),
    pullError: v.optional(v.string()),
    pullRetryAt: v.optional(v.number()),
    // QB_LIST_MAX_AGE_HOURS as the bridge last passed it (0: only on request).
    listMaxAgeMs: v.optional(v.number()),
    // Reconciliation: an operator's request, the schedule (RECONCILE_EVERY_HOURS),
    // the snapshot being taken, the last one done, and the last report's summary.
    snapshotRequestedAt: v.optional(v.number()),
    snapshotServedAt: v.optional(v.number()),
    snapshotRetryAt: v.optional(v.number()),
    reconcileEveryMs: v.optional(v.number()),
    snapshotId: v.optional(v.id("qb_snapshots")),
    lastSnapshotId: v.optional(v.id("qb_snapshots")),
    lastSnapshotAt: v.optional(v.number()),
    lastReport: v.optional(vReportSummary),
    // Pulls that stopped half way: their rows are deleted a little at a time.
    abandonedGenerations: v.optional(v.array(v.number())),
  })
    .index("by_companyFile", ["companyFile"])
    .index("by_lastSeenAt", ["lastSeenAt"]),

  qb_list_entries: defineTable({
    companyId: v.id("qb_companies"),
    generation: v.number(),
    list: vListName,
    listId: v.string(),
    name: v.string(),
    fullName: v.string(),
    // QuickBooks compares names without regard to case.
    fullNameKey: v.string(),
    isActive: v.boolean(),
    itemType: v.optional(v.union(v.literal("inventory"), v.literal("assembly"))),
    quantityOnHand: v.optional(v.number()),
    accountType: v.optional(v.string()),
  })
    .index("by_list_listId", ["companyId", "generation", "list", "listId"])
    .index("by_list_fullNameKey", ["companyId", "generation", "list", "fullNameKey"])
    .index("by_list_name", ["companyId", "generation", "list", "name"])
    .index("by_generation", ["companyId", "generation"]),

  // Per hour: events applied/failed/dead, and the queue as sampled (the operator page's chart).
  sync_stats_hourly: defineTable({
    hour: v.number(),
    applied: v.number(),
    failed: v.number(),
    dead: v.number(),
    samples: v.number(),
    depthMax: v.number(),
    oldestDueAgeMaxSec: v.number(),
  }).index("by_hour", ["hour"]),

  // A quantity snapshot of QuickBooks (per item and site, or per item without sites).
  qb_snapshots: defineTable({
    companyId: v.id("qb_companies"),
    status: v.union(v.literal("running"), v.literal("done"), v.literal("abandoned")),
    mode: v.union(v.literal("sites"), v.literal("items")),
    requestedAt: v.number(),
    startedAt: v.number(),
    // When QuickBooks answered the first page: events applied before it are in the snapshot.
    takenAt: v.optional(v.number()),
    finishedAt: v.optional(v.number()),
    steps: v.array(v.string()),
    step: v.number(),
    page: v.number(),
    iteratorId: v.optional(v.string()),
    sessionId: v.id("qb_sync_sessions"),
    rows: v.number(),
    error: v.optional(v.string()),
  }).index("by_company_status", ["companyId", "status", "startedAt"]),

  qb_snapshot_rows: defineTable({
    snapshotId: v.id("qb_snapshots"),
    // The QuickBooks record's own ListID (ItemSites) or the item's (no sites).
    rowId: v.string(),
    itemListId: v.string(),
    siteListId: v.string(), // "" without sites
    quantityOnHand: v.number(),
    itemName: v.optional(v.string()),
    siteName: v.optional(v.string()),
  })
    .index("by_snapshot_row", ["snapshotId", "rowId"])
    .index("by_snapshot_item", ["snapshotId", "itemListId", "siteListId"]),

  // A drift report: Convex against one snapshot, built one page per call.
  qb_recon_reports: defineTable({
    companyId: v.id("qb_companies"),
    snapshotId: v.id("qb_snapshots"),
    snapshotAt: v.number(),
    status: v.union(v.literal("building"), v.literal("done")),
    phase: v.union(v.literal("transit"), v.literal("parts"), v.literal("orphans"), v.literal("done")),
    transitSource: v.number(),
    cursor: v.optional(v.string()),
    startedAt: v.number(),
    finishedAt: v.optional(v.number()),
    multiLocation: v.boolean(),
    totals: vReconTotals,
  }).index("by_company_startedAt", ["companyId", "startedAt"]),

  // Effect of events not in the snapshot, per (part, QuickBooks site): what QuickBooks has not seen yet.
  qb_recon_transit: defineTable({
    reportId: v.id("qb_recon_reports"),
    partId: v.id("inventory_parts"),
    siteKey: v.string(),
    quantity: v.number(),
  }).index("by_report_part_site", ["reportId", "partId", "siteKey"]),

  qb_recon_rows: defineTable({
    reportId: v.id("qb_recon_reports"),
    sku: v.string(),
    itemListId: v.optional(v.string()),
    itemName: v.optional(v.string()),
    siteKey: v.string(),
    siteName: v.optional(v.string()),
    // A location of this part at that site, for a proposed Convex adjustment.
    locationCode: v.optional(v.string()),
    convexQoh: v.number(),
    qbQoh: v.number(),
    inTransit: v.number(),
    drift: v.number(),
    drifting: v.boolean(),
    note: v.optional(v.string()),
  })
    .index("by_report_drifting", ["reportId", "drifting", "sku"])
    .index("by_report_item_site", ["reportId", "itemListId", "siteKey"]),

  // Events already counted as in transit by a report: a status change mid-build cannot count one twice.
  qb_recon_counted: defineTable({
    reportId: v.id("qb_recon_reports"),
    eventId: v.id("inventory_events"),
  }).index("by_report_event", ["reportId", "eventId"]),
};
