/**
 * The audit trail of QuickBooks mappings: which part maps to which item, which
 * location to which site, which reason code to which account. A mapping
 * decides where stock and money land in the books, so every change records
 * who made it, when, and the mapping before and after. Written in the same
 * mutation as the change itself, so a change without a record cannot exist.
 */
import type { Id } from "../_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import type { PaginationOptions } from "convex/server";
import { MAX_MAPPING_CHANGES_LIST, type MappingKind } from "./constants";

/** One side of a mapping: a ListID and/or a FullName; absent = not mapped. */
export type MappingRef = { listId?: string; fullName?: string };

export type MappingChange = {
  kind: MappingKind;
  /** SKU (item), location code (site) or reason code (account). */
  key: string;
  /** The identity's subject, or DEPLOY_KEY_ACTOR / IMPORTER_ACTOR for deploy-key callers. */
  changedBy: string;
  /** What made the change: "inventory:upsertLocation", "parts:upsertBatch", ... */
  source: string;
  old: MappingRef;
  new: MappingRef;
  /** ms since epoch; the caller's `Date.now()`. */
  at: number;
};

/** Drops absent fields, so `{listId: undefined}` and `{}` are the same mapping. */
export function mappingRef(listId: string | undefined, fullName: string | undefined): MappingRef {
  return { ...(listId !== undefined && { listId }), ...(fullName !== undefined && { fullName }) };
}

export function sameMapping(a: MappingRef, b: MappingRef): boolean {
  return a.listId === b.listId && a.fullName === b.fullName;
}

/**
 * Records one mapping change. Returns the record's id, or null (and writes
 * nothing) when old and new are the same mapping, so callers may call it for
 * every upsert without checking first.
 */
export async function recordMappingChange(
  db: DatabaseWriter,
  change: MappingChange,
): Promise<Id<"inventory_mapping_changes"> | null> {
  const old = mappingRef(change.old.listId, change.old.fullName);
  const next = mappingRef(change.new.listId, change.new.fullName);
  if (sameMapping(old, next)) return null;
  return await db.insert("inventory_mapping_changes", {
    kind: change.kind,
    key: change.key,
    changedBy: change.changedBy,
    changedAt: change.at,
    source: change.source,
    old,
    new: next,
  });
}

/**
 * Newest first, one page at a time (at most MAX_MAPPING_CHANGES_LIST per
 * page). With `kind` (and optionally `key`) only that kind (or that one
 * part, location or reason code), through its index.
 */
export async function listMappingChanges(
  db: DatabaseReader,
  filter: { kind?: MappingKind; key?: string },
  paginationOpts: PaginationOptions,
) {
  const bounded = { ...paginationOpts, numItems: Math.max(1, Math.min(Math.floor(paginationOpts.numItems), MAX_MAPPING_CHANGES_LIST)) };
  const changes = db.query("inventory_mapping_changes");
  const { kind, key } = filter;
  const indexed =
    kind === undefined
      ? changes.withIndex("by_changedAt")
      : key === undefined
        ? changes.withIndex("by_kind_changedAt", (q) => q.eq("kind", kind))
        : changes.withIndex("by_kind_key_changedAt", (q) => q.eq("kind", kind).eq("key", key));
  return await indexed.order("desc").paginate(bounded);
}
