/**
 * Mapping parts, locations and reason codes to what QuickBooks has, at
 * scale, for the operator CLI (`qbwc-bridge map ...`, `unmapped`,
 * `refresh-lists`). Internal: the deploy key only. Every mapping is checked
 * against the lists last pulled from QuickBooks and stored as ListID +
 * FullName; the qbXML refers by ListID, so a rename in QuickBooks changes
 * nothing (the name is refreshed at the next pull).
 */
import { paginationOptsValidator } from "convex/server";
import { v } from "convex/values";
import type { Doc } from "./_generated/dataModel";
import { internalMutation, internalQuery, type DatabaseReader } from "./_generated/server";
import { ERROR_CODES } from "./lib/constants";
import { type Company, currentCompany, findEntry } from "./lib/company";
import { fail } from "./lib/errors";
import { findLocationByCode, findPartBySku } from "./lib/ledger";
import { wakeHolds } from "./lib/mapping";
import { mappingRef, recordMappingChange } from "./lib/mappingLog";
import { closestNames } from "./lib/names";
import { companyView, groupMappingHolds, vCompanyView, vUnmappedRow } from "./lib/views";

/** Who the mapping log names for changes made through these commands (the deploy key). */
const MAPPED_BY = "deploy-key:map";

type ListName = Doc<"qb_list_entries">["list"];

async function requireLists(db: DatabaseReader): Promise<Company & { listsGeneration: number }> {
  const company = await currentCompany(db);
  if (company === null || company.listsGeneration === undefined) {
    fail(
      ERROR_CODES.LISTS_NOT_PULLED,
      "QuickBooks' lists have not been pulled yet: run `qbwc-bridge refresh-lists`, then let the Web Connector run once.",
    );
  }
  return company as Company & { listsGeneration: number };
}

/** The list entry an operator named (ListID or full name), or a clear error with the closest names. */
async function requireEntry(db: DatabaseReader, company: Company, list: ListName, text: string, what: string) {
  const wanted = text.trim();
  const entry =
    (await findEntry(db, company, list, { listId: wanted })) ?? (await findEntry(db, company, list, { fullName: wanted }));
  if (entry === null) {
    const near = await closestNames(db, company, list, wanted);
    fail(ERROR_CODES.NOT_IN_QUICKBOOKS, `QuickBooks has no ${what} "${wanted}".${near.length ? ` Closest: ${near.map((n) => `"${n}"`).join(", ")}.` : ""}`, {
      closest: near.join("\n"),
    });
  }
  if (!entry.isActive) fail(ERROR_CODES.NOT_IN_QUICKBOOKS, `The QuickBooks ${what} "${entry.fullName}" is inactive; reactivate it in QuickBooks or pick another.`);
  return entry;
}

const vMapped = v.object({ listId: v.string(), fullName: v.string(), previous: v.union(v.string(), v.null()), heldEventsWoken: v.number() });

/** `map item SKU QB_ITEM`. */
export const mapItem = internalMutation({
  args: { sku: v.string(), qbItem: v.string() },
  returns: vMapped,
  handler: async (ctx, args) => {
    const company = await requireLists(ctx.db);
    const part = await findPartBySku(ctx.db, args.sku);
    if (part === null) fail(ERROR_CODES.PART_NOT_FOUND, `No part with SKU "${args.sku}".`, { sku: args.sku });
    const entry = await requireEntry(ctx.db, company, "items", args.qbItem, "item");
    const now = Date.now();
    await ctx.db.patch(part._id, { qbItemListId: entry.listId, qbItemFullName: entry.fullName });
    await recordMappingChange(ctx.db, {
      kind: "item",
      key: part.sku,
      changedBy: MAPPED_BY,
      source: "qbMapping:mapItem",
      old: mappingRef(part.qbItemListId, part.qbItemFullName),
      new: mappingRef(entry.listId, entry.fullName),
      at: now,
    });
    return { listId: entry.listId, fullName: entry.fullName, previous: part.qbItemFullName ?? null, heldEventsWoken: await wakeHolds(ctx.db, part._id, now) };
  },
});

/** `map location CODE QB_SITE`: only where QuickBooks has inventory sites. */
export const mapLocation = internalMutation({
  args: { code: v.string(), qbSite: v.string() },
  returns: vMapped,
  handler: async (ctx, args) => {
    const company = await requireLists(ctx.db);
    if (company.multiLocationEnabled === false) {
      fail(ERROR_CODES.NO_SITES, "This QuickBooks company has no inventory sites (multi-location inventory is off): locations need no site.");
    }
    const location = await findLocationByCode(ctx.db, args.code.trim());
    if (location === null) fail(ERROR_CODES.LOCATION_NOT_FOUND, `No location with code "${args.code}".`, { location: args.code });
    const entry = await requireEntry(ctx.db, company, "sites", args.qbSite, "inventory site");
    const now = Date.now();
    await ctx.db.patch(location._id, { qbSiteListId: entry.listId, qbSiteFullName: entry.fullName });
    await recordMappingChange(ctx.db, {
      kind: "site",
      key: location.code,
      changedBy: MAPPED_BY,
      source: "qbMapping:mapLocation",
      old: mappingRef(location.qbSiteListId, location.qbSiteFullName),
      new: mappingRef(entry.listId, entry.fullName),
      at: now,
    });
    return { listId: entry.listId, fullName: entry.fullName, previous: location.qbSiteFullName ?? null, heldEventsWoken: await wakeHolds(ctx.db, null, now) };
  },
});

/** `map reason CODE QB_ACCOUNT`. */
export const mapReason = internalMutation({
  args: { code: v.string(), qbAccount: v.string() },
  returns: vMapped,
  handler: async (ctx, args) => {
    const company = await requireLists(ctx.db);
    const reason = await ctx.db
      .query("inventory_reason_accounts")
      .withIndex("by_reasonCode", (q) => q.eq("reasonCode", args.code.trim()))
      .unique();
    if (reason === null) fail(ERROR_CODES.REASON_NOT_FOUND, `No reason code "${args.code}".`, { reasonCode: args.code });
    const entry = await requireEntry(ctx.db, company, "accounts", args.qbAccount, "account");
    const now = Date.now();
    await ctx.db.patch(reason._id, { qbAccountListId: entry.listId, qbAccountFullName: entry.fullName });
    await recordMappingChange(ctx.db, {
      kind: "account",
      key: reason.reasonCode,
      changedBy: MAPPED_BY,
      source: "qbMapping:mapReason",
      old: mappingRef(reason.qbAccountListId, reason.qbAccountFullName),
      new: mappingRef(entry.listId, entry.fullName),
      at: now,
    });
    return { listId: entry.listId, fullName: entry.fullName, previous: reason.qbAccountFullName ?? null, heldEventsWoken: await wakeHolds(ctx.db, null, now) };
  },
});

const vSample = v.object({ sku: v.string(), fullNames: v.array(v.string()) });

/**
 * `map items --auto`, one page of parts per call (the CLI calls again with
 * the cursor until `isDone`): a part whose SKU equals exactly one QuickBooks
 * item's Name (or FullName) is mapped to it; none is unmatched, several
 * (the same name under different parents) ambiguous. Existing mappings stay
 * unless `force`. `dryRun` writes nothing.
 */
export const mapItemsAuto = internalMutation({
  args: {
    match: v.union(v.literal("name"), v.literal("fullname")),
    dryRun: v.boolean(),
    force: v.boolean(),
    paginationOpts: paginationOptsValidator,
  },
  returns: v.object({
    matched: v.array(vSample),
    unmatched: v.array(v.string()),
    ambiguous: v.array(vSample),
    alreadyMapped: v.number(),
    continueCursor: v.string(),
    isDone: v.boolean(),
  }),
  handler: async (ctx, args) => {
    const company = await requireLists(ctx.db);
    const generation = company.listsGeneration;
    const page = await ctx.db.query("inventory_parts").withIndex("by_sku").paginate(args.paginationOpts);
    const now = Date.now();
    const matched = [];
    const unmatched = [];
    const ambiguous = [];
    let alreadyMapped = 0;
    for (const part of page.page) {
      if (!args.force && (part.qbItemListId !== undefined || part.qbItemFullName !== undefined)) {
        alreadyMapped += 1;
        continue;
      }
      let candidates =
        args.match === "name"
          ? await ctx.db
              .query("qb_list_entries")
              .withIndex("by_list_name", (q) => q.eq("companyId", company._id).eq("generation", generation).eq("list", "items").eq("name", part.sku))
              .take(10)
          : (
              await ctx.db
                .query("qb_list_entries")
                .withIndex("by_list_fullNameKey", (q) =>
                  q.eq("companyId", company._id).eq("generation", generation).eq("list", "items").eq("fullNameKey", part.sku.toLowerCase()),
                )
                .take(10)
            ).filter((entry) => entry.fullName === part.sku);
      // An inactive item would only hold the part's events: never auto-mapped.
      candidates = candidates.filter((entry) => entry.isActive);
      if (candidates.length === 0) {
        unmatched.push(part.sku);
      } else if (candidates.length > 1) {
        ambiguous.push({ sku: part.sku, fullNames: candidates.map((c) => c.fullName) });
      } else {
        const [entry] = candidates;
        matched.push({ sku: part.sku, fullNames: [entry.fullName] });
        if (!args.dryRun && (part.qbItemListId !== entry.listId || part.qbItemFullName !== entry.fullName)) {
          await ctx.db.patch(part._id, { qbItemListId: entry.listId, qbItemFullName: entry.fullName });
          await recordMappingChange(ctx.db, {
            kind: "item",
            key: part.sku,
            changedBy: MAPPED_BY,
            source: `qbMapping:mapItemsAuto (${args.match})`,
            old: mappingRef(part.qbItemListId, part.qbItemFullName),
            new: mappingRef(entry.listId, entry.fullName),
            at: now,
          });
          await wakeHolds(ctx.db, part._id, now, 50);
        }
      }
    }
    return { matched, unmatched, ambiguous, alreadyMapped, continueCursor: page.continueCursor, isDone: page.isDone };
  },
});

/**
 * `unmapped`: what holds events back, one page of held events per call,
 * grouped by what is missing, with how many events wait on each.
 */
export const listUnmapped = internalQuery({
  args: { paginationOpts: paginationOptsValidator },
  returns: v.object({ rows: v.array(vUnmappedRow), continueCursor: v.string(), isDone: v.boolean() }),
  handler: async (ctx, args) => {
    const page = await ctx.db
      .query("inventory_events")
      .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", "held"))
      .paginate(args.paginationOpts);
    const { rows } = await groupMappingHolds(ctx.db, page.page);
    return { rows, continueCursor: page.continueCursor, isDone: page.isDone };
  },
});

/** `refresh-lists`: the next QBWC session pulls QuickBooks' lists before any event. */
export const requestListRefresh = internalMutation({
  args: {},
  returns: v.object({ companyFile: v.union(v.string(), v.null()), requestedAt: v.number() }),
  handler: async (ctx) => {
    const now = Date.now();
    const company = await currentCompany(ctx.db);
    if (company === null) {
      // Nothing read yet: the first session reads everything anyway.
      return { companyFile: null, requestedAt: now };
    }
    await ctx.db.patch(company._id, { refreshRequestedAt: now, pullRetryAt: undefined });
    return { companyFile: company.companyFile, requestedAt: now };
  },
});

/** What QuickBooks reported about itself, and the state of its lists, for `status`. */
export const getCompany = internalQuery({
  args: {},
  returns: v.union(v.null(), vCompanyView),
  handler: async (ctx) => {
    const company = await currentCompany(ctx.db);
    return company === null ? null : companyView(company);
  },
});
