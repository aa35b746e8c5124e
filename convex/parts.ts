import { v } from "convex/values";
import type { Doc } from "./_generated/dataModel";
import { internalMutation, type DatabaseReader } from "./_generated/server";
import { DESCRIPTION_MAX, ERROR_CODES, IMPORTER_ACTOR, MAX_PART_UPSERT_BATCH, NAME_MAX } from "./lib/constants";
import { fail } from "./lib/errors";
import { findPartBySku } from "./lib/ledger";
import { wakeHolds } from "./lib/mapping";
import { mappingRef, recordMappingChange } from "./lib/mappingLog";
import { fullNameText, listIdText, optionalText, skuText } from "./lib/validate";
import { partFields } from "./schema";

const vPartInput = v.object(partFields);

/**
 * Finds existing parts for a batch. The importer sends batches in SKU order,
 * so one bounded range read over `by_sku` usually holds every part the batch
 * touches: one index read instead of one per SKU. A SKU the range does not
 * hold is looked up on its own, unless the range was read completely and
 * string order is unambiguous (no surrogate pairs, where UTF-16 and UTF-8
 * orders differ), in which case its absence is certain.
 */
async function partLookup(db: DatabaseReader, skus: string[]) {
  if (skus.length === 0) return async () => null;
  const sorted = [...skus].sort();
  const cap = skus.length * 2 + 50;
  const inRange = await db
    .query("inventory_parts")
    .withIndex("by_sku", (q) => q.gte("sku", sorted[0]).lte("sku", sorted[sorted.length - 1]))
    .take(cap + 1);
  const complete = inRange.length <= cap && !skus.some((sku) => /[\uD800-\uDFFF]/.test(sku));
  const bySku = new Map(inRange.map((part) => [part.sku, part]));
  return async (sku: string): Promise<Doc<"inventory_parts"> | null> =>
    bySku.get(sku) ?? (complete ? null : await findPartBySku(db, sku));
}

type PartFields = Omit<Doc<"inventory_parts">, "_id" | "_creationTime" | "sku">;

/**
 * Batch upsert for the CSV importer, keyed by SKU. The SKU is stored exactly
 * as given (the importer has already trimmed it); other fields that are
 * omitted are left as they are. Rows that would not change write nothing, so
 * re-importing the same file is free. With dryRun the same report comes back
 * and nothing is written.
 */
export const upsertBatch = internalMutation({
  args: { parts: v.array(vPartInput), dryRun: v.optional(v.boolean()) },
  handler: async (ctx, args) => {
    if (args.parts.length > MAX_PART_UPSERT_BATCH) {
      fail(ERROR_CODES.INVALID_ARGUMENT, `At most ${MAX_PART_UPSERT_BATCH} parts per call.`, { field: "parts" });
    }
    const seen = new Set<string>();
    const inputs = args.parts.map((input) => {
      skuText(input.sku);
      if (seen.has(input.sku)) {
        fail(ERROR_CODES.DUPLICATE_SKU, `SKU "${input.sku}" appears twice in one batch.`, { sku: input.sku });
      }
      seen.add(input.sku);
      for (const field of ["cost", "price"] as const) {
        const value = input[field];
        if (value !== undefined && (!Number.isFinite(value) || value < 0)) {
          fail(ERROR_CODES.INVALID_ARGUMENT, `${field} of "${input.sku}" must be a non-negative number.`, { sku: input.sku, field });
        }
      }
      const fields: PartFields = {
        name: optionalText(input.name, "name", NAME_MAX),
        description: optionalText(input.description, "description", DESCRIPTION_MAX),
        cost: input.cost,
        price: input.price,
        active: input.active,
        qbItemListId: listIdText(input.qbItemListId, "qbItemListId"),
        qbItemFullName: fullNameText(input.qbItemFullName, "qbItemFullName"),
      };
      return { sku: input.sku, fields };
    });

    const lookup = await partLookup(ctx.db, inputs.map((input) => input.sku));
    const now = Date.now();
    // The deploy key carries no identity: the importer is "who" in the mapping log.
    const recordItemMapping = async (sku: string, existing: Doc<"inventory_parts"> | null, fields: PartFields) =>
      await recordMappingChange(ctx.db, {
        kind: "item",
        key: sku,
        changedBy: IMPORTER_ACTOR,
        source: "parts:upsertBatch",
        old: mappingRef(existing?.qbItemListId, existing?.qbItemFullName),
        new: mappingRef(fields.qbItemListId ?? existing?.qbItemListId, fields.qbItemFullName ?? existing?.qbItemFullName),
        at: now,
      });
    let created = 0;
    let updated = 0;
    let unchanged = 0;
    let remapped = false;
    const changes: { sku: string; action: "create" | "update"; fields: string[] }[] = [];
    for (const { sku, fields } of inputs) {
      const given = Object.entries(fields).filter(([, value]) => value !== undefined);
      const existing = await lookup(sku);
      if (existing === null) {
        created += 1;
        changes.push({ sku, action: "create", fields: given.map(([key]) => key).sort() });
        if (!args.dryRun) {
          await ctx.db.insert("inventory_parts", { sku, ...Object.fromEntries(given) });
          await recordItemMapping(sku, null, fields);
        }
        continue;
      }
      const changed = given.filter(([key, value]) => existing[key as keyof PartFields] !== value);
      if (changed.length === 0) {
        unchanged += 1;
        continue;
      }
      updated += 1;
      changes.push({ sku, action: "update", fields: changed.map(([key]) => key).sort() });
      if (!args.dryRun) {
        await ctx.db.patch(existing._id, Object.fromEntries(changed));
        if ((await recordItemMapping(sku, existing, fields)) !== null) remapped = true;
      }
    }
    // A part's events held for its mapping are checked again at once (lib/mapping.ts).
    if (remapped) await wakeHolds(ctx.db, null, now);
    changes.sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
    return { created, updated, unchanged, changes };
  },
});
