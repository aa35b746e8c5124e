/**
 * The mapping audit trail (issue 10, item 8): every change of an item, site
 * or account mapping is recorded with who, when, old and new; nothing else is.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { api, internal } from "../../convex/_generated/api";
import { IMPORTER_ACTOR, MAX_MAPPING_CHANGES_LIST } from "../../convex/lib/constants";
import { recordMappingChange } from "../../convex/lib/mappingLog";
import { ADMIN, type T, asAdmin, dumpAll, expectRejectedWithoutWrites, newTest, seedWorld } from "./setup";

const NOW = new Date("2025-03-03T09:00:00Z").getTime();

let t: T;

beforeEach(async () => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
  t = newTest();
  await seedWorld(t);
});

afterEach(() => {
  vi.useRealTimers();
});

const page = (args: { kind?: "item" | "site" | "account"; key?: string; numItems?: number; cursor?: string | null } = {}) =>
  t.query(internal.mappingLog.listRecent, {
    paginationOpts: { numItems: args.numItems ?? 50, cursor: args.cursor ?? null },
    ...(args.kind !== undefined && { kind: args.kind }),
    ...(args.key !== undefined && { key: args.key }),
  });

const strip = <X extends { changedAt: number }>(rows: X[]) => rows.map(({ changedAt: _, ...rest }) => rest);

describe("recordMappingChange (the function)", () => {
  test("records who, when, old and new; the same mapping writes nothing and returns null", async () => {
    const ids = await t.run(async (ctx) => {
      const same = await recordMappingChange(ctx.db, {
        kind: "site",
        key: "X",
        changedBy: "someone",
        source: "test",
        old: { fullName: "A", listId: undefined },
        new: { fullName: "A" },
        at: NOW,
      });
      const changed = await recordMappingChange(ctx.db, {
        kind: "site",
        key: "X",
        changedBy: "someone",
        source: "test",
        old: { fullName: "A" },
        new: { listId: "80000009-1", fullName: "B" },
        at: NOW + 5,
      });
      return { same, changed };
    });
    expect(ids.same).toBeNull();
    const row = await t.run(async (ctx) => await ctx.db.get(ids.changed!));
    expect(row).toMatchObject({
      kind: "site",
      key: "X",
      changedBy: "someone",
      changedAt: NOW + 5,
      source: "test",
      old: { fullName: "A" },
      new: { listId: "80000009-1", fullName: "B" },
    });
  });
});

describe("through the functions that change mappings", () => {
  test("seeding recorded each mapping it set up: sites, accounts (by the admin) and items (by the importer)", async () => {
    const all = (await page({ numItems: 100 })).page;
    const summary = all.map((c) => `${c.kind}:${c.key}:${c.changedBy}`).sort();
    expect(summary).toEqual(
      [
        "account:COUNT:adm-1",
        "account:DAMAGE:adm-1",
        "account:RETIRED:adm-1",
        "item:GAD-2:deploy-key:importer",
        "item:WID-1:deploy-key:importer",
        "site:MAIN-2:adm-1",
        "site:MAIN:adm-1",
        "site:TRUCK:adm-1",
      ].sort(),
    );
    // BOLT-3, BIN-A, BIN-B and OLD were created without a mapping: nothing to record.
    expect(all.find((c) => c.key === "WID-1")).toMatchObject({
      source: "parts:upsertBatch",
      old: {},
      new: { listId: "10000001-1", fullName: "Widgets:Widget" },
    });
  });

  test("upsertLocation: a site change is recorded with old and new; other changes and repeats are not", async () => {
    vi.setSystemTime(NOW + 1000);
    await asAdmin(t).mutation(api.inventory.upsertLocation, { code: "MAIN", name: "Renamed" });
    await asAdmin(t).mutation(api.inventory.upsertLocation, { code: "MAIN", qbSiteFullName: "Main WH" });
    expect((await page({ kind: "site", key: "MAIN" })).page).toHaveLength(1);

    await asAdmin(t).mutation(api.inventory.upsertLocation, { code: "MAIN", qbSiteFullName: "Main Warehouse" });
    const [latest] = (await page({ kind: "site", key: "MAIN" })).page;
    expect(latest).toEqual({
      kind: "site",
      key: "MAIN",
      changedBy: ADMIN.subject,
      changedAt: NOW + 1000,
      source: "inventory:upsertLocation",
      old: { listId: "80000001-1", fullName: "Main WH" },
      new: { listId: "80000001-1", fullName: "Main Warehouse" },
    });
  });

  test("upsertReasonAccount: an account change is recorded", async () => {
    await asAdmin(t).mutation(api.inventory.upsertReasonAccount, { reasonCode: "DAMAGE", qbAccountListId: "90000002-1" });
    const [latest] = (await page({ kind: "account", key: "DAMAGE" })).page;
    expect(latest).toMatchObject({
      changedBy: ADMIN.subject,
      old: { fullName: "Shrinkage" },
      new: { listId: "90000002-1", fullName: "Shrinkage" },
    });
  });

  test("parts:upsertBatch: item mapping changes are recorded as the importer; dry runs, unchanged rows and other fields are not", async () => {
    const before = await dumpAll(t);
    await t.mutation(internal.parts.upsertBatch, { parts: [{ sku: "WID-1", qbItemFullName: "Widgets:Big widget" }], dryRun: true });
    await t.mutation(internal.parts.upsertBatch, { parts: [{ sku: "WID-1", qbItemFullName: "Widgets:Widget", name: "Widget" }] });
    expect(await dumpAll(t)).toEqual(before);

    await t.mutation(internal.parts.upsertBatch, { parts: [{ sku: "BOLT-3", name: "Bolt M8" }] });
    expect((await page({ kind: "item", key: "BOLT-3" })).page).toEqual([]);

    await t.mutation(internal.parts.upsertBatch, {
      parts: [
        { sku: "BOLT-3", qbItemFullName: "Hardware:Bolt" },
        { sku: "WID-1", qbItemFullName: "Widgets:Big widget" },
      ],
    });
    expect(strip((await page({ kind: "item", key: "WID-1" })).page)[0]).toEqual({
      kind: "item",
      key: "WID-1",
      changedBy: IMPORTER_ACTOR,
      source: "parts:upsertBatch",
      old: { listId: "10000001-1", fullName: "Widgets:Widget" },
      new: { listId: "10000001-1", fullName: "Widgets:Big widget" },
    });
    expect((await page({ kind: "item", key: "BOLT-3" })).page[0]).toMatchObject({ old: {}, new: { fullName: "Hardware:Bolt" } });
  });

  test("a refused change leaves no record", async () => {
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () =>
      asAdmin(t).mutation(api.inventory.upsertLocation, { code: "MAIN", qbSiteFullName: "s".repeat(32) }),
    );
  });
});

describe("mappingLog:listRecent", () => {
  test("newest first, paginated, filtered by kind or by kind and key", async () => {
    for (const [i, name] of ["One", "Two", "Three"].entries()) {
      vi.setSystemTime(NOW + 1000 * (i + 1));
      await asAdmin(t).mutation(api.inventory.upsertLocation, { code: "BIN-A", qbSiteFullName: name });
    }
    const first = await page({ numItems: 2 });
    expect(first.page.map((c) => c.new.fullName)).toEqual(["Three", "Two"]);
    expect(first.isDone).toBe(false);
    const second = await page({ numItems: 2, cursor: first.continueCursor });
    expect(second.page.map((c) => c.new.fullName)).toEqual(["One", expect.any(String)]);

    expect((await page({ kind: "site", key: "BIN-A" })).page.map((c) => c.new.fullName)).toEqual(["Three", "Two", "One"]);
    const sites = (await page({ kind: "site" })).page;
    expect(sites.every((c) => c.kind === "site")).toBe(true);
    expect(sites[0].new.fullName).toBe("Three");
  });

  test("a page is never larger than the limit, whatever is asked", async () => {
    await t.run(async (ctx) => {
      for (let i = 0; i < MAX_MAPPING_CHANGES_LIST + 5; i++) {
        await recordMappingChange(ctx.db, { kind: "item", key: `P-${i}`, changedBy: "x", source: "test", old: {}, new: { fullName: `I-${i}` }, at: NOW + i });
      }
    });
    const rows = await page({ numItems: 1e6 });
    expect(rows.page).toHaveLength(MAX_MAPPING_CHANGES_LIST);
    expect(rows.isDone).toBe(false);
  });

  test("key without kind is INVALID_ARGUMENT", async () => {
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => page({ key: "MAIN" }));
  });
});
