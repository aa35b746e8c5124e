import { beforeEach, describe, expect, test } from "vitest";
import { internal } from "../../convex/_generated/api";
import { MAX_PART_UPSERT_BATCH } from "../../convex/lib/constants";
import { type T, documentsWrittenBy, dumpAll, expectRejectedWithoutWrites, newTest } from "./setup";

let t: T;

beforeEach(() => {
  t = newTest();
});

type PartInput = { sku: string; name?: string; cost?: number; price?: number; active?: boolean; qbItemListId?: string; qbItemFullName?: string };
const upsert = (parts: PartInput[], dryRun?: boolean) => t.mutation(internal.parts.upsertBatch, { parts, dryRun });
const allParts = () => t.run(async (ctx) => await ctx.db.query("inventory_parts").collect());

describe("parts:upsertBatch", () => {
  test("reports created / updated / unchanged and the fields that changed", async () => {
    const first = await upsert([
      { sku: "A-1", name: "Alpha", cost: 1.25 },
      { sku: "B-2", name: "Beta" },
    ]);
    expect(first).toEqual({
      created: 2,
      updated: 0,
      unchanged: 0,
      changes: [
        { sku: "A-1", action: "create", fields: ["cost", "name"] },
        { sku: "B-2", action: "create", fields: ["name"] },
      ],
    });
    const second = await upsert([
      { sku: "B-2", name: "Beta", price: 9.5 },
      { sku: "A-1", name: "Alpha", cost: 1.25 },
      { sku: "C-3" },
    ]);
    expect(second).toEqual({
      created: 1,
      updated: 1,
      unchanged: 1,
      changes: [
        { sku: "B-2", action: "update", fields: ["price"] },
        { sku: "C-3", action: "create", fields: [] },
      ],
    });
    const b = (await allParts()).find((p) => p.sku === "B-2");
    expect(b).toMatchObject({ name: "Beta", price: 9.5 });
  });

  test("unchanged rows write nothing: same documents, same _creationTime, no new docs", async () => {
    const rows = [
      { sku: "A-1", name: "Alpha", cost: 1.25, qbItemListId: "8000-1", qbItemFullName: "Parts:Alpha" },
      { sku: "B-2", name: "  Beta  " },
    ];
    await upsert(rows);
    const before = await dumpAll(t);
    const result = await upsert(rows);
    expect(result).toMatchObject({ created: 0, updated: 0, unchanged: 2, changes: [] });
    expect(await dumpAll(t)).toEqual(before);
    // Not even a patch with equal values.
    expect(await documentsWrittenBy(t, (ctx) => ctx.runMutation(internal.parts.upsertBatch, { parts: rows }))).toBe(0);
    expect(await documentsWrittenBy(t, (ctx) => ctx.runMutation(internal.parts.upsertBatch, { parts: [{ sku: "A-1", cost: 2 }] }))).toBe(1);
  });

  test("omitted fields are left as they are", async () => {
    await upsert([{ sku: "A-1", name: "Alpha", cost: 2 }]);
    expect((await upsert([{ sku: "A-1" }])).unchanged).toBe(1);
    expect((await allParts())[0]).toMatchObject({ name: "Alpha", cost: 2 });
  });

  test("SKUs are stored exactly as given, as strings", async () => {
    const skus = ["0001", "1", "1E5", "12.50", "-0001", "A  B", "ünïcode-1"];
    const result = await upsert(skus.map((sku) => ({ sku })));
    expect(result.created).toBe(skus.length);
    expect((await allParts()).map((p) => p.sku).sort()).toEqual([...skus].sort());
    for (const part of await allParts()) expect(typeof part.sku).toBe("string");
    // "0001" and "1" are different parts: nothing was normalised into a number.
    expect((await upsert([{ sku: "0001" }, { sku: "1" }])).unchanged).toBe(2);
  });

  test("a SKU twice in one batch is DUPLICATE_SKU and writes nothing", async () => {
    await upsert([{ sku: "A-1" }]);
    await expectRejectedWithoutWrites(t, "DUPLICATE_SKU", () => upsert([{ sku: "Z-9" }, { sku: "X" }, { sku: "X" }]));
  });

  test("SKUs that differ only in case or padding are different SKUs", async () => {
    expect((await upsert([{ sku: "abc" }, { sku: "ABC" }, { sku: "abc " }])).created).toBe(3);
  });

  test("dryRun reports the same counts and writes nothing", async () => {
    await upsert([{ sku: "A-1", name: "Alpha" }]);
    const rows = [{ sku: "A-1", name: "Alpha 2" }, { sku: "B-2" }];
    const before = await dumpAll(t);
    const dry = await upsert(rows, true);
    expect(await dumpAll(t)).toEqual(before);
    expect(await documentsWrittenBy(t, (ctx) => ctx.runMutation(internal.parts.upsertBatch, { parts: rows, dryRun: true }))).toBe(0);
    expect(dry).toEqual(await upsert(rows));
  });

  test(`more than ${MAX_PART_UPSERT_BATCH} parts in one call is INVALID_ARGUMENT`, async () => {
    const rows = Array.from({ length: MAX_PART_UPSERT_BATCH + 1 }, (_, i) => ({ sku: `S-${i}` }));
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => upsert(rows));
    expect((await upsert(rows.slice(0, MAX_PART_UPSERT_BATCH))).created).toBe(MAX_PART_UPSERT_BATCH);
  });

  test.each<[string, PartInput]>([
    ["empty SKU", { sku: "" }],
    ["SKU over 100 characters", { sku: "x".repeat(101) }],
    ["negative cost", { sku: "A", cost: -1 }],
    ["non-finite price", { sku: "A", price: Number.POSITIVE_INFINITY }],
    ["QB full name over 159 characters", { sku: "A", qbItemFullName: "n".repeat(160) }],
  ])("%s is INVALID_ARGUMENT and the whole batch writes nothing", async (_label, bad) => {
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => upsert([{ sku: "OK-1" }, bad]));
  });
});

describe("parts:upsertBatch lookups", () => {
  test("a sparse batch whose SKU range holds many other parts still finds its own (capped range falls back)", async () => {
    const filler = Array.from({ length: 200 }, (_, i) => ({ sku: `M-${String(i).padStart(4, "0")}`, name: "filler" }));
    await upsert([{ sku: "A", name: "first" }, { sku: "Z", name: "last" }]);
    await upsert(filler);
    const report = await upsert([{ sku: "A", name: "first" }, { sku: "Z", name: "LAST" }]);
    expect(report).toMatchObject({ created: 0, updated: 1, unchanged: 1 });
    expect((await allParts()).length).toBe(202);
  });

  test("SKUs with characters outside the BMP are looked up one by one, never duplicated", async () => {
    await upsert([{ sku: "\u{1F527}-WRENCH", name: "emoji" }, { sku: "\uFF21-WIDE", name: "wide" }]);
    const report = await upsert([{ sku: "\u{1F527}-WRENCH", name: "emoji" }, { sku: "\uFF21-WIDE", name: "wide" }]);
    expect(report).toMatchObject({ created: 0, unchanged: 2 });
    expect((await allParts()).length).toBe(2);
  });
});
