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
};
