/**
 * Tables of who may configure the inventory and of what they changed:
 * the admin role, and the audit trail of QuickBooks mapping changes.
 * Spread into the schema (convex/schema.ts) like lib/qbTables.ts.
 */
import { defineTable } from "convex/server";
import { v } from "convex/values";
import { MAPPING_KINDS } from "./constants";

export const vMappingKind = v.union(...MAPPING_KINDS.map((kind) => v.literal(kind)));

/** One side of a mapping change; an absent field is "not mapped". */
export const vMappingRef = v.object({ listId: v.optional(v.string()), fullName: v.optional(v.string()) });

export const adminTables = {
  // One row per admin, by the identity's subject. Granted and revoked only
  // with the deploy key (convex/admins.ts), so no signed-in user can make
  // themselves admin.
  inventory_admins: defineTable({
    subject: v.string(),
    grantedAt: v.number(),
    grantedBy: v.string(),
    note: v.optional(v.string()),
  }).index("by_subject", ["subject"]),

  // Append-only: every change of an item, site or account mapping (lib/mappingLog.ts).
  inventory_mapping_changes: defineTable({
    kind: vMappingKind,
    // SKU, location code or reason code: stable, since records are upserted by it.
    key: v.string(),
    changedBy: v.string(),
    changedAt: v.number(),
    // The function (or tool) that made the change, e.g. "inventory:upsertLocation".
    source: v.string(),
    old: vMappingRef,
    new: vMappingRef,
  })
    .index("by_changedAt", ["changedAt"])
    .index("by_kind_changedAt", ["kind", "changedAt"])
    .index("by_kind_key_changedAt", ["kind", "key", "changedAt"]),
};
