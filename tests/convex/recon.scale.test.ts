/**
 * Reconciliation at scale: what each call that builds and reads the drift
 * report (`qbRecon:buildReport`, `qbRecon:reportRows`) reads, against
 * Convex's per-function limits. tests/bench/bench_reconcile.py runs this file
 * for its documents-read figures (the local runtime does not report them).
 *
 * The shape is the benchmark's: PARTS parts mapped to QuickBooks items,
 * stock at the 3 QuickBooks sites' locations (a 4th location shares the
 * first site, with no stock), a finished ItemSites snapshot with a row per
 * (item, site) of which DRIFT differ from Convex, and 3 one-line events
 * created after it (pending: in transit). Inserted directly (fast); the
 * functions are measured as registered functions inside `t.run`, like
 * scale.test.ts: the nested call's usage folds into the outer transaction,
 * so the difference of `ctx.meta.getTransactionMetrics()` is what the call
 * itself used.
 *
 * convex-test answers an index range by scanning every document, so a call
 * costs time in proportion to the database: with PARTS above FULL_BUILD_MAX
 * only sampled calls are measured (every transit call, then parts and orphan
 * pages at the start, middle and end of their phases, reached by moving the
 * report's cursor as earlier pages would have). A page reads a bounded
 * amount whatever the tables hold, so samples and a full build at a smaller
 * size give the same figures.
 *
 * A second test measures the transit phase's worst page: a backlog of
 * 100-line transfers between two sites still pending when the report is
 * built (each line is two (part, site) effects).
 *
 * Env: RECON_SCALE_PARTS (the suite is skipped without it: a page costs
 * seconds to minutes here), RECON_SCALE_DRIFT (default 10). The figures go
 * to stdout as one `RECON_METRICS {json}` line:
 *   RECON_SCALE_PARTS=2000 npx vitest run tests/convex/recon.scale.test.ts
 */
import { afterAll, afterEach, beforeEach, expect, test, vi } from "vitest";
import { internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { RECON_PAGE } from "../../convex/lib/reconcile";
import { type T, newTest } from "./setup";

const T0 = new Date("2026-01-31T18:00:00Z").getTime();
const RUN = process.env.RECON_SCALE_PARTS !== undefined;
const PARTS = Number(process.env.RECON_SCALE_PARTS ?? 600);
const DRIFT = Number(process.env.RECON_SCALE_DRIFT ?? 10);
const FULL_BUILD_MAX = 3_000;
const IN_TRANSIT = 3;
/** Convex's per-function limits (https://docs.convex.dev/production/state/limits). */
const LIMITS = { documentsRead: 32_000, bytesRead: 16 * 1024 * 1024, documentsWritten: 16_000, databaseQueries: 4_096 };
const SITES = [
  { code: "WH", listId: "S-1", name: "Main Warehouse" },
  { code: "TRUCK-1", listId: "S-2", name: "Truck 1" },
  { code: "STORE", listId: "S-3", name: "Store" },
];
const DRIFT_DELTAS = [-7, 3, -1, 12, -5, 2, -9, 4, -2, 6];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T0);
});

afterEach(() => {
  vi.useRealTimers();
});

const sku = (n: number) => `RB-${String(n).padStart(5, "0")}`;
const quantity = (n: number, site: number) => 10 + ((n * 7 + site * 13) % 40);

type Ctx = Parameters<Parameters<T["run"]>[0]>[0];
type Usage = { read: number; bytesRead: number; written: number; queries: number; ms: number };

async function usage<R>(t: T, call: (ctx: Ctx) => Promise<R>): Promise<{ result: R } & Usage> {
  const started = performance.now();
  const measured = await t.run(async (ctx) => {
    const before = await ctx.meta.getTransactionMetrics();
    const result = await call(ctx);
    const after = await ctx.meta.getTransactionMetrics();
    return {
      result,
      read: after.documentsRead.used - before.documentsRead.used,
      bytesRead: after.bytesRead.used - before.bytesRead.used,
      written: after.documentsWritten.used - before.documentsWritten.used,
      queries: after.databaseQueries.used - before.databaseQueries.used,
    };
  });
  return { ...measured, ms: Math.round(performance.now() - started) };
}

type World = {
  t: T;
  locations: Id<"inventory_locations">[];
  parts: Id<"inventory_parts">[];
  account: Id<"inventory_reason_accounts">;
  drifted: Map<string, number>;
};

/** Parts, stock, a finished snapshot with DRIFT rows off, and 3 events after it. */
async function build(parts: number, drift: number): Promise<World> {
  const t = newTest();
  const CHUNK = 2_500;
  const base = await t.run(async (ctx) => {
    const session = await ctx.db.insert("qb_sync_sessions", {
      ticketHash: "snap",
      userName: "qbwc",
      status: "closed",
      openedAt: T0 - 120_000,
      lastSeenAt: T0 - 60_000,
      expiresAt: T0,
      claimed: 0,
      applied: 0,
      failed: 0,
      dead: 0,
    });
    const locations: Id<"inventory_locations">[] = [];
    for (const site of SITES) {
      locations.push(
        await ctx.db.insert("inventory_locations", { code: site.code, name: site.code, active: true, qbSiteListId: site.listId, qbSiteFullName: site.name }),
      );
    }
    // A second location at the first site, no stock: its balances would be summed into that site.
    await ctx.db.insert("inventory_locations", { code: "WH-DOCK", name: "WH-DOCK", active: true, qbSiteListId: "S-1", qbSiteFullName: "Main Warehouse" });
    const account = await ctx.db.insert("inventory_reason_accounts", { reasonCode: "DAMAGE", active: true, qbAccountListId: "A-1", qbAccountFullName: "Shrinkage" });
    return { session, locations, account };
  });
  const partIds: Id<"inventory_parts">[] = [];
  for (let start = 0; start < parts; start += CHUNK) {
    partIds.push(
      ...(await t.run(async (ctx) => {
        const ids: Id<"inventory_parts">[] = [];
        for (let n = start; n < Math.min(start + CHUNK, parts); n++) {
          const partId = await ctx.db.insert("inventory_parts", { sku: sku(n), name: `Bench part ${n}`, qbItemListId: `I-${n}`, qbItemFullName: `Bench ${String(n % 50).padStart(2, "0")}:${sku(n)}` });
          ids.push(partId);
          for (let s = 0; s < SITES.length; s++) {
            await ctx.db.insert("inventory_balances", { partId, locationId: base.locations[s], onHand: quantity(n, s) });
          }
        }
        return ids;
      })),
    );
  }
  // The snapshot, taken before the 3 events below: QuickBooks' QOH equals Convex's but for DRIFT cells.
  const drifted = new Map<string, number>();
  const step = Math.max(Math.floor(parts / Math.max(drift, 1)), 1);
  for (let k = 0; k < drift; k++) drifted.set(`${Math.min(k * step + k, parts - 1)}:${k % SITES.length}`, DRIFT_DELTAS[k % DRIFT_DELTAS.length]);
  const snapshotId = await t.run(async (ctx) =>
    ctx.db.insert("qb_snapshots", {
      companyId: (await ctx.db.insert("qb_companies", { companyFile: "", lastSeenAt: T0, multiLocationEnabled: true, listsGeneration: 1, listsPulledAt: T0 - 3_600_000 })),
      status: "done",
      mode: "sites",
      requestedAt: T0 - 60_000,
      startedAt: T0 - 60_000,
      takenAt: T0 - 60_000,
      finishedAt: T0 - 30_000,
      steps: ["ItemSitesQuery"],
      step: 0,
      page: 0,
      sessionId: base.session,
      rows: parts * SITES.length,
    }),
  );
  const ROWS_CHUNK = 5_000;
  for (let start = 0; start < parts * SITES.length; start += ROWS_CHUNK) {
    await t.run(async (ctx) => {
      for (let r = start; r < Math.min(start + ROWS_CHUNK, parts * SITES.length); r++) {
        const n = Math.floor(r / SITES.length);
        const s = r % SITES.length;
        await ctx.db.insert("qb_snapshot_rows", {
          snapshotId,
          rowId: `IS-${r}`,
          itemListId: `I-${n}`,
          siteListId: SITES[s].listId,
          quantityOnHand: quantity(n, s) + (drifted.get(`${n}:${s}`) ?? 0),
        });
      }
    });
  }
  await t.run(async (ctx) => {
    const company = (await ctx.db.query("qb_companies").first())!;
    await ctx.db.patch(company._id, { lastSnapshotId: snapshotId, lastSnapshotAt: T0 - 60_000 });
    // Events after the snapshot, not sent yet: their effect is in the balances and in transit.
    for (let k = 0; k < IN_TRANSIT; k++) {
      const n = k * 3 + 1;
      const s = k % SITES.length;
      const eventId = await ctx.db.insert("inventory_events", {
        type: "adjustment",
        status: "posted",
        qbStatus: "pending",
        refNumber: `AD-${String(900_000 + k)}`,
        occurredAt: T0 - 1_000,
        createdBy: "emp",
        lineCount: 1,
        locationId: base.locations[s],
        reasonCode: "DAMAGE",
        reasonAccountId: base.account,
        mode: "delta",
        retryCount: 0,
        nextAttemptAt: T0 - 1_000,
        claimCount: 0,
      });
      await ctx.db.insert("inventory_event_lines", { eventId, lineNo: 1, partId: partIds[n], quantity: -(k + 1) });
      const balance = (await ctx.db
        .query("inventory_balances")
        .withIndex("by_part_location", (q) => q.eq("partId", partIds[n]).eq("locationId", base.locations[s]))
        .unique())!;
      await ctx.db.patch(balance._id, { onHand: balance.onHand - (k + 1) });
    }
  });
  return { t, locations: base.locations, parts: partIds, account: base.account, drifted };
}

type Call = { phase: string; read: number; bytesRead: number; written: number; queries: number; ms: number };

/** A paginate cursor `skip` documents into `index` (what the pages before it would have returned). */
async function cursorAt(t: T, table: "inventory_parts" | "qb_snapshot_rows", skip: number, reportId: Id<"qb_recon_reports">) {
  return await t.run(async (ctx) => {
    const report = (await ctx.db.get(reportId))!;
    const page =
      table === "inventory_parts"
        ? await ctx.db.query("inventory_parts").withIndex("by_sku").paginate({ numItems: skip, cursor: null })
        : await ctx.db
            .query("qb_snapshot_rows")
            .withIndex("by_snapshot_row", (q) => q.eq("snapshotId", report.snapshotId))
            .paginate({ numItems: skip, cursor: null });
    return page.continueCursor;
  });
}

/** The pages measured when sampling: the first two of a phase, one in the middle, the last. */
const samples = (pages: number) => [...new Set([0, 1, Math.floor(pages / 2), pages - 1].filter((p) => p >= 0 && p < pages))];

async function buildReport(world: World, full: boolean): Promise<{ calls: Call[]; reportId: Id<"qb_recon_reports"> }> {
  const { t } = world;
  const calls: Call[] = [];
  let reportId: Id<"qb_recon_reports"> | undefined;
  const pageOf = { parts: 0, orphans: 0 };
  const plan = {
    parts: { table: "inventory_parts" as const, size: RECON_PAGE.parts, pages: samples(Math.ceil(world.parts.length / RECON_PAGE.parts)) },
    orphans: { table: "qb_snapshot_rows" as const, size: RECON_PAGE.orphans, pages: samples(Math.ceil((world.parts.length * SITES.length) / RECON_PAGE.orphans)) },
  };
  for (;;) {
    const phase = reportId === undefined ? "transit" : (await t.run(async (ctx) => (await ctx.db.get(reportId!))!.phase));
    if (!full && (phase === "parts" || phase === "orphans")) {
      // Sampled: skip to the next page to measure, as the pages before it would have moved the cursor.
      const { table, size, pages } = plan[phase];
      const next = pages.find((p) => p >= pageOf[phase]);
      if (next !== undefined && next !== pageOf[phase]) {
        const cursor = await cursorAt(t, table, next * size, reportId!);
        await t.run(async (ctx) => ctx.db.patch(reportId!, { cursor }));
        pageOf[phase] = next;
      }
    }
    const step = await usage(t, (ctx) => ctx.runMutation(internal.qbRecon.buildReport, reportId === undefined ? {} : { reportId }));
    reportId = step.result.reportId;
    calls.push({ phase, read: step.read, bytesRead: step.bytesRead, written: step.written, queries: step.queries, ms: step.ms });
    if (phase === "parts" || phase === "orphans") pageOf[phase]++;
    if (step.result.done) break;
  }
  return { calls, reportId: reportId! };
}

function summarize(calls: Call[]) {
  const phases: Record<string, { calls: number; readMin: number; readMax: number; bytesMax: number; writtenMax: number; queriesMax: number; msMax: number }> = {};
  for (const c of calls) {
    const p = (phases[c.phase] ??= { calls: 0, readMin: Infinity, readMax: 0, bytesMax: 0, writtenMax: 0, queriesMax: 0, msMax: 0 });
    p.calls++;
    p.readMin = Math.min(p.readMin, c.read);
    p.readMax = Math.max(p.readMax, c.read);
    p.bytesMax = Math.max(p.bytesMax, c.bytesRead);
    p.writtenMax = Math.max(p.writtenMax, c.written);
    p.queriesMax = Math.max(p.queriesMax, c.queries);
    p.msMax = Math.max(p.msMax, c.ms);
  }
  return phases;
}

const metrics: Record<string, unknown> = { parts: PARTS, drift: DRIFT };

test.skipIf(!RUN)(
  `buildReport and reportRows over ${PARTS.toLocaleString("en-US")} parts x 3 sites: every call within Convex's per-function limits`,
  async () => {
    const started = performance.now();
    const world = await build(PARTS, DRIFT);
    const buildMs = Math.round(performance.now() - started);
    const full = PARTS <= FULL_BUILD_MAX;
    const { calls, reportId } = await buildReport(world, full);

    // Reading the report back, as the CLI does: every row, 500 a page, then the drifting ones.
    const rowCalls: Call[] = [];
    const driftRows: { sku: string; site: string | null; drift: number }[] = [];
    for (const onlyDrift of [false, true]) {
      let cursor: string | null = null;
      for (;;) {
        const page = await usage(world.t, (ctx) => ctx.runQuery(internal.qbRecon.reportRows, { reportId, onlyDrift, paginationOpts: { numItems: 500, cursor } }));
        rowCalls.push({ phase: onlyDrift ? "rows (drift)" : "rows", read: page.read, bytesRead: page.bytesRead, written: page.written, queries: page.queries, ms: page.ms });
        if (onlyDrift) driftRows.push(...page.result.rows.map((r) => ({ sku: r.sku, site: r.site, drift: r.drift })));
        if (page.result.isDone) break;
        cursor = page.result.continueCursor;
        // Sampled: the first two pages and the last of the full listing are enough.
        if (!full && !onlyDrift && rowCalls.length === 2) break;
      }
    }

    const all = [...calls, ...rowCalls];
    const worst = calls.reduce((a, b) => (b.read > a.read ? b : a));
    Object.assign(metrics, {
      sampled: !full,
      buildMs,
      buildReportCalls: calls.length,
      expectedBuildReportCalls: full ? calls.length : null,
      maxRead: { read: worst.read, phase: worst.phase, queries: worst.queries },
      maxBytesRead: Math.max(...calls.map((c) => c.bytesRead)),
      maxRowsRead: Math.max(...rowCalls.map((c) => c.read)),
      maxQueries: Math.max(...all.map((c) => c.queries)),
      maxWritten: Math.max(...all.map((c) => c.written)),
      phases: summarize(all),
    });

    // Only the drifted cells drift (when every page ran), and every call stays within the limits.
    if (full) {
      const expected = [...world.drifted].map(([key, delta]) => {
        const [n, s] = key.split(":").map(Number);
        return { sku: sku(n), site: SITES[s].name, drift: delta };
      });
      const bySku = (a: { sku: string; site: string | null }, b: { sku: string; site: string | null }) => `${a.sku}${a.site}`.localeCompare(`${b.sku}${b.site}`);
      expect(driftRows.sort(bySku)).toEqual(expected.sort(bySku));
    }
    for (const c of all) {
      expect(c.read).toBeLessThan(LIMITS.documentsRead);
      expect(c.bytesRead).toBeLessThan(LIMITS.bytesRead);
      expect(c.written).toBeLessThan(LIMITS.documentsWritten);
      expect(c.queries).toBeLessThan(LIMITS.databaseQueries);
    }
  },
  6 * 3_600_000,
);

test.skipIf(!RUN)(
  "the transit phase's worst page: 100-line transfers between two sites still pending",
  async () => {
    // 100 parts moved WH -> TRUCK-1 by RECON_PAGE.events transfers of 100 lines each, none sent yet
    // (a truck restocked daily while the Web Connector did not run): one transit page reads them all.
    const world = await build(100, 0);
    await world.t.run(async (ctx) => {
      for (let e = 0; e < RECON_PAGE.events; e++) {
        const eventId = await ctx.db.insert("inventory_events", {
          type: "transfer",
          status: "posted",
          qbStatus: "pending",
          refNumber: `TR-${String(800_000 + e)}`,
          occurredAt: T0 - 500,
          createdBy: "emp",
          lineCount: 100,
          fromLocationId: world.locations[0],
          toLocationId: world.locations[1],
          retryCount: 0,
          nextAttemptAt: T0 - 500,
          claimCount: 0,
        });
        for (let l = 0; l < 100; l++) await ctx.db.insert("inventory_event_lines", { eventId, lineNo: l + 1, partId: world.parts[l], quantity: 1 });
      }
    });
    const first = await usage(world.t, (ctx) => ctx.runMutation(internal.qbRecon.buildReport, {}));
    metrics.transitBacklog = {
      events: RECON_PAGE.events,
      linesPerEvent: 100,
      read: first.read,
      bytesRead: first.bytesRead,
      written: first.written,
      queries: first.queries,
      ms: first.ms,
    };
    // Reported, not asserted here: the bench holds it against the limits.
  },
  6 * 3_600_000,
);

afterAll(() => {
  if (RUN) console.log(`RECON_METRICS ${JSON.stringify(metrics)}`);
});
