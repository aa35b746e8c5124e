/**
 * Reading the audit trail of QuickBooks mapping changes (written by
 * lib/mappingLog.ts alongside each change). Internal: operators read it with
 * the deploy key, e.g.
 *   npx convex run mappingLog:listRecent '{"paginationOpts":{"numItems":50,"cursor":null}}'
 */
import { paginationOptsValidator, paginationResultValidator } from "convex/server";
import { v } from "convex/values";
import { internalQuery } from "./_generated/server";
import { vMappingKind, vMappingRef } from "./lib/adminTables";
import { ERROR_CODES } from "./lib/constants";
import { fail } from "./lib/errors";
import { listMappingChanges } from "./lib/mappingLog";

const vMappingChange = v.object({
  kind: vMappingKind,
  key: v.string(),
  changedBy: v.string(),
  changedAt: v.number(),
  source: v.string(),
  old: vMappingRef,
  new: vMappingRef,
});

/** Newest first, paginated (at most 200 per page); optionally one kind, or one part/location/reason. */
export const listRecent = internalQuery({
  args: { paginationOpts: paginationOptsValidator, kind: v.optional(vMappingKind), key: v.optional(v.string()) },
  returns: paginationResultValidator(vMappingChange),
  handler: async (ctx, args) => {
    if (args.key !== undefined && args.kind === undefined) {
      fail(ERROR_CODES.INVALID_ARGUMENT, "Give kind (item, site or account) with key.", { field: "kind" });
    }
    const page = await listMappingChanges(ctx.db, { kind: args.kind, key: args.key }, args.paginationOpts);
    return {
      ...page,
      page: page.page.map((c) => ({
        kind: c.kind,
        key: c.key,
        changedBy: c.changedBy,
        changedAt: c.changedAt,
        source: c.source,
        old: c.old,
        new: c.new,
      })),
    };
  },
});
