/**
 * Reconciliation for the operator CLI (`qbwc-bridge reconcile`): ask for a
 * quantity snapshot of QuickBooks (taken in the next QBWC session), then
 * build and read the drift report against it. Internal: the deploy key only.
 * The rule is in lib/reconcile.ts; each call here does one bounded page.
 */
import { paginationOptsValidator } from "convex/server";
import { v } from "convex/values";
import type { Id } from "./_generated/dataModel";
import { internalMutation, internalQuery, type DatabaseWriter } from "./_generated/server";
import { ERROR_CODES } from "./lib/constants";
import { type Company, currentCompany } from "./lib/company";
import { fail } from "./lib/errors";
import { vReconTotals } from "./lib/qbTables";
import { buildStep, startReport } from "./lib/reconcile";
import { driftRowView, vDriftRow } from "./lib/views";

async function requireCompany(db: DatabaseWriter): Promise<Company> {
  const company = await currentCompany(db);
  if (company === null) {
    fail(ERROR_CODES.NO_SNAPSHOT, "QuickBooks has not been read yet: let the Web Connector run once first.");
  }
  return company;
}

/** `reconcile`: the next QBWC session takes a quantity snapshot after its events. */
export const requestSnapshot = internalMutation({
  args: {},
  returns: v.object({ companyFile: v.string(), requestedAt: v.number(), lastSnapshotAt: v.union(v.number(), v.null()) }),
  handler: async (ctx) => {
    const company = await requireCompany(ctx.db);
    const now = Date.now();
    await ctx.db.patch(company._id, { snapshotRequestedAt: now, snapshotRetryAt: undefined });
    return { companyFile: company.companyFile, requestedAt: now, lastSnapshotAt: company.lastSnapshotAt ?? null };
  },
});

const KEEP_REPORTS = 2;
const PRUNE_BATCH = 500;

/** Deletes rows of reports older than the last few, a bounded batch per call. */
async function pruneReports(db: DatabaseWriter, company: Company) {
  const reports = await db
    .query("qb_recon_reports")
    .withIndex("by_company_startedAt", (q) => q.eq("companyId", company._id))
    .order("desc")
    .take(KEEP_REPORTS + 5);
  let budget = PRUNE_BATCH;
  for (const report of reports.slice(KEEP_REPORTS)) {
    for (const table of ["qb_recon_rows", "qb_recon_transit", "qb_recon_counted"] as const) {
      const rows =
        table === "qb_recon_rows"
          ? await db.query(table).withIndex("by_report_drifting", (q) => q.eq("reportId", report._id)).take(budget)
          : table === "qb_recon_transit"
            ? await db.query(table).withIndex("by_report_part_site", (q) => q.eq("reportId", report._id)).take(budget)
            : await db.query(table).withIndex("by_report_event", (q) => q.eq("reportId", report._id)).take(budget);
      for (const row of rows) await db.delete(row._id);
      budget -= rows.length;
      if (budget <= 0) return;
    }
    await db.delete(report._id);
  }
}

/**
 * `reconcile --report`: one page of building. Without `reportId` a new report
 * starts against the last snapshot QuickBooks finished; call again with the
 * returned id until `done`.
 */
export const buildReport = internalMutation({
  args: { reportId: v.optional(v.id("qb_recon_reports")) },
  returns: v.object({ reportId: v.id("qb_recon_reports"), done: v.boolean(), phase: v.string(), snapshotAt: v.number() }),
  handler: async (ctx, args) => {
    const now = Date.now();
    const company = await requireCompany(ctx.db);
    let reportId: Id<"qb_recon_reports">;
    if (args.reportId === undefined) {
      const snapshot = company.lastSnapshotId === undefined ? null : await ctx.db.get(company.lastSnapshotId);
      if (snapshot === null) {
        fail(ERROR_CODES.NO_SNAPSHOT, "No quantity snapshot of QuickBooks yet: run `qbwc-bridge reconcile`, then let the Web Connector run once.");
      }
      reportId = await startReport(ctx.db, company, snapshot, now);
    } else {
      reportId = args.reportId;
    }
    const report = await ctx.db.get(reportId);
    if (report === null) fail(ERROR_CODES.INVALID_ARGUMENT, "No such report.", { field: "reportId" });
    const done = await buildStep(ctx.db, report, company, now);
    await pruneReports(ctx.db, company);
    const after = (await ctx.db.get(reportId)) ?? report;
    return { reportId, done, phase: after.phase, snapshotAt: after.snapshotAt };
  },
});

/** A report's rows, one page at a time (only drifting ones with `onlyDrift`), with its totals. */
export const reportRows = internalQuery({
  args: { reportId: v.id("qb_recon_reports"), onlyDrift: v.boolean(), paginationOpts: paginationOptsValidator },
  returns: v.object({
    snapshotAt: v.number(),
    finishedAt: v.union(v.number(), v.null()),
    multiLocation: v.boolean(),
    totals: vReconTotals,
    rows: v.array(vDriftRow),
    continueCursor: v.string(),
    isDone: v.boolean(),
  }),
  handler: async (ctx, args) => {
    const report = await ctx.db.get(args.reportId);
    if (report === null) fail(ERROR_CODES.INVALID_ARGUMENT, "No such report.", { field: "reportId" });
    const rows = ctx.db.query("qb_recon_rows");
    const page = await (args.onlyDrift
      ? rows.withIndex("by_report_drifting", (q) => q.eq("reportId", report._id).eq("drifting", true))
      : rows.withIndex("by_report_drifting", (q) => q.eq("reportId", report._id))
    ).paginate(args.paginationOpts);
    return {
      snapshotAt: report.snapshotAt,
      finishedAt: report.finishedAt ?? null,
      multiLocation: report.multiLocation,
      totals: report.totals,
      rows: page.page.map(driftRowView),
      continueCursor: page.continueCursor,
      isDone: page.isDone,
    };
  },
});
