/**
 * Documents read and written by the list and mapping paths must stay within
 * Convex's per-transaction limits and (where the work is a page) not grow
 * with the size of QuickBooks' item list or of the parts table.
 *
 * convex-test evaluates every index range by walking every document of the
 * database, so 1,000 index lookups over 40,000 documents take minutes. The
 * default run therefore compares 1,000 with 2,500 items and parts (a scan
 * would show as growth just the same) and completes a pull (the last page)
 * at the smaller size only; LISTS_SCALE_FULL=1 runs the 1,000 vs 20,000
 * comparison with both pages at both sizes (several minutes):
 *   LISTS_SCALE_FULL=1 npx vitest run tests/convex/lists.scale.test.ts
 * The did-you-mean and the last-page tests always run at 20,000 / 50,000
 * items: they make only a handful of index lookups.
 *
 * Lists and parts are inserted directly (fast); the functions are measured
 * as registered functions inside `t.run`, like scale.test.ts: the nested
 * call's usage folds into the outer transaction, so the difference of
 * `ctx.meta.getTransactionMetrics()` is what the function itself used.
 */
import { afterAll, afterEach, beforeEach, expect, test, vi } from "vitest";
import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { DEFAULT_SESSION_TTL_MS, LIST_PAGE_SIZE } from "../../convex/lib/constants";
import type { ListEntryIn } from "../../convex/lib/contract";
import { closestNames } from "../../convex/lib/names";
import { type T, newTest, seedWorld } from "./setup";

const T0 = new Date("2025-12-03T07:00:00Z").getTime();
const FULL = process.env.LISTS_SCALE_FULL === "1";
const SIZES = FULL ? [1_000, 20_000] : [1_000, 2_500];
const AUTO_PAGE = 200;
/** Convex's per-transaction limits (https://docs.convex.dev/production/state/limits). */
const LIMITS = { documentsRead: 32_000, documentsWritten: 16_000, databaseQueries: 4_096 };
/** Parts mapped by ListID that the measured list page renames (present in every size). */
const RENAMED = { from: 500, to: 1_000 };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
});

afterEach(() => {
  vi.useRealTimers();
});

const pad = (i: number) => String(i).padStart(6, "0");
const sku = (i: number) => `P-${pad(i)}`;
const itemEntry = (i: number, parent = "Parts"): ListEntryIn => ({ listId: `I-${i}`, name: sku(i), fullName: `${parent}:${sku(i)}`, isActive: true });

type Usage = { read: number; written: number; queries: number };

type Failed = { failed: string };
const isFailed = (value: unknown): value is Failed => typeof value === "object" && value !== null && "failed" in value;

/** Runs one registered function inside `t.run`; a thrown error is returned as `{failed: code or message}`. */
async function usage<R>(t: T, call: (ctx: Parameters<Parameters<T["run"]>[0]>[0]) => Promise<R>): Promise<{ result: R | Failed } & Usage> {
  return await t.run(async (ctx) => {
    const before = await ctx.meta.getTransactionMetrics();
    let result: R | Failed;
    try {
      result = await call(ctx);
    } catch (error) {
      const e = error as { data?: { code?: string }; message?: string };
      result = { failed: e.data?.code ?? e.message ?? String(error) };
    }
    const after = await ctx.meta.getTransactionMetrics();
    return {
      result,
      read: after.documentsRead.used - before.documentsRead.used,
      written: after.documentsWritten.used - before.documentsWritten.used,
      queries: after.databaseQueries.used - before.databaseQueries.used,
    };
  });
}

const strip = ({ read, written, queries }: Usage): Usage => ({ read, written, queries });

async function companyId(t: T) {
  return await t.run(async (ctx) => (await ctx.db.query("qb_companies").first())!._id);
}

async function insertItems(t: T, company: Id<"qb_companies">, generation: number, indexes: number[], parent = "Parts") {
  const CHUNK = 2_500;
  for (let start = 0; start < indexes.length; start += CHUNK) {
    await t.run(async (ctx) => {
      for (const i of indexes.slice(start, start + CHUNK)) {
        const e = itemEntry(i, parent);
        await ctx.db.insert("qb_list_entries", {
          companyId: company,
          generation,
          list: "items",
          listId: e.listId,
          name: e.name,
          fullName: e.fullName,
          fullNameKey: e.fullName.toLowerCase(),
          isActive: true,
          itemType: "inventory",
        });
      }
    });
  }
}

/**
 * `size` items in the current generation (1) and `size` parts whose SKU is
 * each item's Name; parts RENAMED.from..to are already mapped by ListID.
 */
async function build(size: number, withParts = true) {
  const t = newTest();
  await seedWorld(t);
  const company = await companyId(t);
  const started = performance.now();
  const all = Array.from({ length: size }, (_, i) => i);
  await insertItems(t, company, 1, all);
  const CHUNK = 2_500;
  for (let start = 0; start < (withParts ? size : 0); start += CHUNK) {
    await t.run(async (ctx) => {
      for (let i = start; i < Math.min(start + CHUNK, size); i++) {
        const mapped = i >= RENAMED.from && i < RENAMED.to;
        await ctx.db.insert("inventory_parts", {
          sku: sku(i),
          name: `Part ${i}`,
          ...(mapped ? { qbItemListId: `I-${i}`, qbItemFullName: `Parts:${sku(i)}` } : {}),
        });
      }
    });
  }
  await t.run(async (ctx) => ctx.db.patch(company, { listsGeneration: 1, listsPulledAt: T0, listCounts: { items: size, sites: 0, accounts: 0 } }));
  return { t, company, buildMs: Math.round(performance.now() - started) };
}

type Figures = {
  size: number;
  buildMs: number;
  auto: Usage;
  autoDry: Usage;
  typo: Usage;
  middlePage: Usage;
  lastPage: Usage | null;
};
const figures: Figures[] = [];

async function measure(size: number, withLastPage: boolean): Promise<Figures> {
  const { t, company, buildMs } = await build(size);

  // map items --auto: one page of AUTO_PAGE parts.
  const autoArgs = { match: "name" as const, force: false, paginationOpts: { numItems: AUTO_PAGE, cursor: null } };
  const autoDry = await usage(t, (ctx) => ctx.runMutation(internal.qbMapping.mapItemsAuto, { ...autoArgs, dryRun: true }));
  const auto = await usage(t, (ctx) => ctx.runMutation(internal.qbMapping.mapItemsAuto, { ...autoArgs, dryRun: false }));
  if (isFailed(auto.result)) throw new Error(auto.result.failed);
  // The page (in SKU order) starts with seedWorld's BOLT-3 (no item) and GAD-2 (mapped), then P-000000...
  expect(auto.result).toMatchObject({ unmatched: ["BOLT-3"], ambiguous: [], alreadyMapped: 1 });
  expect(auto.result.matched).toHaveLength(AUTO_PAGE - 2);
  expect(auto.result.matched[0]).toEqual({ sku: sku(0), fullNames: [`Parts:${sku(0)}`] });

  // map item with a typo: refused, with the closest names.
  const typo = await usage(t, (ctx) => ctx.runMutation(internal.qbMapping.mapItem, { sku: sku(3), qbItem: "Parts:P-0123456" }));
  expect(typo.result).toEqual({ failed: "NOT_IN_QUICKBOOKS" });

  // A list pull under way (generation 2), answered through the seam.
  const ticketHash = `scale-${size}`;
  await t.run(async (ctx) =>
    ctx.db.patch(company, {
      pull: { generation: 2, startedAt: T0, steps: ["AccountQuery", "ItemInventoryQuery", "ItemInventoryAssemblyQuery"], step: 1, page: 0, entries: 0 },
    }),
  );
  const opened = await t.mutation(internal.qbSessions.authenticate, { ticketHash, userName: "qbwc", ttlMs: DEFAULT_SESSION_TTL_MS });
  expect(opened.status).toBe("open");
  const ask = async (callId: string) => {
    const message = await t.mutation(internal.qbSessions.nextMessage, { ticketHash, callId, limit: 10 });
    if (message.status !== "events" || message.queries.length !== 1) throw new Error(`expected one read, got ${JSON.stringify(message)}`);
    return message.queries[0];
  };

  // A middle page of LIST_PAGE_SIZE items, renaming the mapped parts (the worst case for followRenames).
  const itemsQuery = await ask("send-items");
  expect(itemsQuery).toMatchObject({ kind: "ItemInventoryQuery", iterator: "Start", maxReturned: LIST_PAGE_SIZE });
  const renamedPage: ListEntryIn[] = [];
  for (let i = RENAMED.from; i < RENAMED.to; i++) renamedPage.push(itemEntry(i, "Renamed"));
  expect(renamedPage).toHaveLength(LIST_PAGE_SIZE);
  const middlePage = await usage(t, (ctx) =>
    ctx.runMutation(internal.qbSessions.recordAnswer, {
      ticketHash,
      callId: "recv-items",
      response: {
        kind: "answers",
        answers: [{ requestId: itemsQuery.requestId, outcome: { kind: "listPage", list: "items", entries: renamedPage, iteratorId: "IT-1", remaining: size } }],
      },
    }),
  );
  expect(middlePage.result).toMatchObject({ status: "ok" });
  const renamed = await t.run(async (ctx) => await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", sku(RENAMED.from))).unique());
  expect(renamed?.qbItemFullName).toBe(`Renamed:${sku(RENAMED.from)}`);

  if (!withLastPage) return { size, buildMs, auto: strip(auto), autoDry: strip(autoDry), typo: strip(typo), middlePage: strip(middlePage), lastPage: null };

  // The rest of generation 2's items (as later pages would bring them), then the last step's last page.
  const rest = Array.from({ length: size }, (_, i) => i).filter((i) => i < RENAMED.from || i >= RENAMED.to);
  await insertItems(t, company, 2, rest, "Renamed");
  await t.run(async (ctx) => {
    const c = (await ctx.db.get(company))!;
    // Counted as the pages bringing them would have counted them.
    await ctx.db.patch(company, { pull: { ...c.pull!, step: 2, page: 0, iteratorId: undefined, counts: { items: size, sites: 0, accounts: 0 } } });
  });
  const assemblyQuery = await ask("send-assemblies");
  expect(assemblyQuery).toMatchObject({ kind: "ItemInventoryAssemblyQuery", iterator: "Start" });
  const assemblies: ListEntryIn[] = Array.from({ length: LIST_PAGE_SIZE }, (_, i) => ({
    listId: `A-${i}`,
    name: `KIT-${pad(i)}`,
    fullName: `Kits:KIT-${pad(i)}`,
    isActive: true,
  }));
  const lastPage = await usage(t, (ctx) =>
    ctx.runMutation(internal.qbSessions.recordAnswer, {
      ticketHash,
      callId: "recv-assemblies",
      response: {
        kind: "answers",
        answers: [{ requestId: assemblyQuery.requestId, outcome: { kind: "listPage", list: "assemblies", entries: assemblies, iteratorId: "IT-2", remaining: 0 } }],
      },
    }),
  );
  expect(lastPage.result).toMatchObject({ status: "ok" });
  const done = await t.run(async (ctx) => (await ctx.db.get(company))!);
  expect(done).toMatchObject({ listsGeneration: 2, listCounts: { items: size + LIST_PAGE_SIZE, sites: 0, accounts: 0 } });

  return {
    size,
    buildMs,
    auto: strip(auto),
    autoDry: strip(autoDry),
    typo: strip(typo),
    middlePage: strip(middlePage),
    lastPage: strip(lastPage),
  };
}

afterAll(() => {
  if (figures.length === 0) return;
  const cell = (u: Usage | null) => (u === null ? "(not measured)" : `${u.read} / ${u.written} / ${u.queries}`);
  const header =
    `| items = parts | build ms | mapItemsAuto(${AUTO_PAGE}) | mapItemsAuto(${AUTO_PAGE}) dry run | mapItem typo (refused) | ` +
    `list page of ${LIST_PAGE_SIZE} (middle, renames ${LIST_PAGE_SIZE}) | last list page of ${LIST_PAGE_SIZE} (completes the pull) |`;
  const rows = figures.map(
    (f) =>
      `| ${f.size.toLocaleString("en-US")} | ${f.buildMs} | ${cell(f.auto)} | ${cell(f.autoDry)} | ${cell(f.typo)} | ${cell(f.middlePage)} | ${cell(f.lastPage)} |`,
  );
  console.log(
    ["", "documents read / documents written / index ranges read", header, "|---|---|---|---|---|---|---|", ...rows].join("\n"),
  );
});

test(
  `mapItemsAuto(${AUTO_PAGE}), a refused mapItem and a ${LIST_PAGE_SIZE}-entry list page: bounded, flat from ${SIZES.map((n) => n.toLocaleString("en-US")).join(" to ")} items and parts`,
  async () => {
    for (const size of SIZES) figures.push(await measure(size, FULL || size === SIZES[0]));
    const [small, large] = figures;
    for (const f of figures) {
      // Every transaction within Convex's limits.
      for (const u of [f.auto, f.autoDry, f.typo, f.middlePage, f.lastPage ?? f.middlePage]) {
        expect(u.read).toBeLessThan(LIMITS.documentsRead);
        expect(u.written).toBeLessThan(LIMITS.documentsWritten);
        expect(u.queries).toBeLessThan(LIMITS.databaseQueries);
      }
    }
    // A page of parts: the page, one candidate lookup per part, the company; writes: the part and its log row.
    expect(large.auto).toEqual(small.auto);
    expect(large.autoDry).toEqual(small.autoDry);
    expect(small.auto.read).toBeLessThanOrEqual(AUTO_PAGE * 3 + 20);
    expect(small.auto.written).toBeLessThanOrEqual(AUTO_PAGE * 2 + 5);
    expect(small.autoDry.written).toBe(0);
    // Did-you-mean: index ranges around the name, never the list.
    expect(large.typo).toEqual(small.typo);
    expect(small.typo.read).toBeLessThanOrEqual(250);
    expect(small.typo.written).toBe(0);
    // A middle page: per entry an upsert (lookup + insert) and a rename (part + patch + log row).
    expect(large.middlePage).toEqual(small.middlePage);
    expect(small.middlePage.written).toBeLessThanOrEqual(LIST_PAGE_SIZE * 3 + 10);
  },
  1_200_000,
);

test(
  "with 20,000 items, a one-character typo is answered with the intended item among the closest names",
  async () => {
    const { t, company } = await build(20_000, false);
    const refusal = await usage(t, (ctx) => ctx.runMutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "Parts:P-0123456" }));
    console.log(`mapItem refused with did-you-mean, 20,000 items: ${refusal.read} documents read / ${refusal.written} written / ${refusal.queries} index ranges`);
    expect(refusal.result).toEqual({ failed: "NOT_IN_QUICKBOOKS" });
    expect(refusal.read).toBeLessThanOrEqual(250);
    const closest = await t.run(async (ctx) => await closestNames(ctx.db, (await ctx.db.get(company))!, "items", "Parts:P-0123456"));
    console.log(`closest names to "Parts:P-0123456" among 20,000 items: ${closest.join(", ")}`);
    expect(closest).toContain("Parts:P-012345");
    // What the operator sees.
    const refused = await t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "Parts:P-0123456" }).then(
      () => null,
      (e: { data?: { message?: string } }) => e.data?.message ?? "",
    );
    expect(refused).toContain('"Parts:P-012345"');
  },
  120_000,
);

test(
  "the last page of a 50,000-item pull completes within Convex's 32,000 documents-read limit",
  async () => {
    const SIZE = 50_000;
    const t = newTest();
    await seedWorld(t);
    const company = await companyId(t);
    // Generation 2 holds the items already pulled; the last step (assemblies) is answered now.
    await insertItems(
      t,
      company,
      2,
      Array.from({ length: SIZE }, (_, i) => i),
    );
    await t.run(async (ctx) =>
      ctx.db.patch(company, {
        pull: { generation: 2, startedAt: T0, steps: ["AccountQuery", "ItemInventoryQuery", "ItemInventoryAssemblyQuery"], step: 2, page: 0, entries: SIZE },
      }),
    );
    const ticketHash = "scale-50k";
    expect((await t.mutation(internal.qbSessions.authenticate, { ticketHash, userName: "qbwc", ttlMs: DEFAULT_SESSION_TTL_MS })).status).toBe("open");
    const message = await t.mutation(internal.qbSessions.nextMessage, { ticketHash, callId: "send-last", limit: 10 });
    if (message.status !== "events") throw new Error(message.status);
    const [query] = message.queries;
    expect(query.kind).toBe("ItemInventoryAssemblyQuery");
    const last = await usage(t, (ctx) =>
      ctx.runMutation(internal.qbSessions.recordAnswer, {
        ticketHash,
        callId: "recv-last",
        response: {
          kind: "answers",
          answers: [{ requestId: query.requestId, outcome: { kind: "listPage", list: "assemblies", entries: [{ listId: "A-1", name: "KIT", fullName: "KIT", isActive: true }], remaining: 0 } }],
        },
      }),
    );
    console.log(`last page (1 entry) of a ${SIZE.toLocaleString("en-US")}-item pull: ${last.read} documents read / ${last.written} written / ${last.queries} index ranges`);
    expect(last.read).toBeLessThan(LIMITS.documentsRead);
  },
  300_000,
);
