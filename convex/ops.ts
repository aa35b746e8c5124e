/**
 * The operator page (`/ops` on the bridge) in one read. Internal: only the
 * bridge, holding the deploy key, can call it; the page itself sits behind
 * OPS_PASSWORD_HASH.
 *
 * Every part is read through an index range with a fixed cap, so a page
 * load costs the same few hundred documents with 1,000 events or 1,000,000
 * (tests/convex/ops.test.ts holds it to OVERVIEW_MAX_READS). The buttons on
 * the page call the same functions as the CLI (qbQueue:retryFailedEvent,
 * qbQueue:retryAllDead, qbMapping:map*, qbRecon:requestSnapshot, ...); nothing
 * here writes.
 */
import { v } from "convex/values";
import type { Doc } from "./_generated/dataModel";
import { internalQuery, type DatabaseReader } from "./_generated/server";
import { currentCompany } from "./lib/company";
import { QB_STATUSES } from "./lib/constants";
import { vQueueState, vSessionView } from "./lib/contract";
import { qbStatusCounts } from "./lib/counters";
import { vReconTotals } from "./lib/qbTables";
import { countClaimable, dueEvents, queueState } from "./lib/queue";
import { openSessions, sessionView } from "./lib/sessions";
import { recentHours } from "./lib/stats";
import { companyView, driftRowView, groupMappingHolds, latestInStatus, vCompanyView, vDriftRow, vUnmappedRow } from "./lib/views";

/** How much of each list one page load shows. */
export const OPS_LIMITS = {
  dead: 50,
  // Held events read to group what they wait for (the CLI's `unmapped` reads them all, page by page).
  held: 100,
  heldGroups: 50,
  conflicts: 20,
  driftRows: 50,
  hours: 72,
  openSessions: 5,
} as const;

/**
 * The most documents one overview may read, from the caps above: the status
 * counters and the company; countClaimable's failed-and-due events (up to 100)
 * with each one's session; the two due ranges; the sessions; dead events; held
 * events and one part, location or reason per group; the last report, the one
 * being built and the drifting rows; the hours.
 */
export const OVERVIEW_MAX_READS =
  QB_STATUSES.length +
  1 +
  2 * 100 +
  2 +
  (OPS_LIMITS.openSessions + 1) +
  OPS_LIMITS.dead +
  (OPS_LIMITS.held + 1) +
  OPS_LIMITS.heldGroups +
  2 +
  OPS_LIMITS.driftRows +
  OPS_LIMITS.hours;

const vHour = v.object({
  hour: v.number(),
  applied: v.number(),
  failed: v.number(),
  dead: v.number(),
  samples: v.number(),
  depthMax: v.number(),
  oldestDueAgeMaxSec: v.number(),
});

const vReport = v.object({
  reportId: v.id("qb_recon_reports"),
  snapshotAt: v.number(),
  builtAt: v.union(v.number(), v.null()),
  multiLocation: v.boolean(),
  totals: vReconTotals,
  driftRows: v.array(vDriftRow),
});

/** The last closed session (the open ones come from lib/sessions.ts). */
async function lastClosedSession(db: DatabaseReader): Promise<Doc<"qb_sync_sessions"> | null> {
  return await db
    .query("qb_sync_sessions")
    .withIndex("by_status_lastSeenAt", (q) => q.eq("status", "closed"))
    .order("desc")
    .first();
}

/**
 * The report the page shows (the company's last one) and, when QuickBooks has
 * a finished snapshot that no report covers yet, the report being built for
 * it (or null: none started), so the bridge can build it as `reconcile --report` does.
 */
async function reports(db: DatabaseReader, company: Doc<"qb_companies"> | null) {
  const summary = company?.lastReport;
  const last = summary === undefined ? null : await db.get(summary.reportId);
  let toBuild = null;
  if (company !== null && company.lastSnapshotId !== undefined && last?.snapshotId !== company.lastSnapshotId) {
    const newest = await db
      .query("qb_recon_reports")
      .withIndex("by_company_startedAt", (q) => q.eq("companyId", company._id))
      .order("desc")
      .first();
    const building = newest !== null && newest.status === "building" && newest.snapshotId === company.lastSnapshotId;
    toBuild = { snapshotAt: company.lastSnapshotAt ?? 0, reportId: building ? newest._id : null };
  }
  if (last === null || summary === undefined) return { report: null, reportToBuild: toBuild };
  // Parts first, then QuickBooks items no part maps to (sku ""): a long tail of those must not
  // push the parts that drift off the page.
  const drifting = () => db.query("qb_recon_rows");
  const parts = await drifting()
    .withIndex("by_report_drifting", (q) => q.eq("reportId", last._id).eq("drifting", true).gt("sku", ""))
    .take(OPS_LIMITS.driftRows);
  const orphans =
    parts.length < OPS_LIMITS.driftRows
      ? await drifting()
          .withIndex("by_report_drifting", (q) => q.eq("reportId", last._id).eq("drifting", true).eq("sku", ""))
          .take(OPS_LIMITS.driftRows - parts.length)
      : [];
  const rows = [...parts, ...orphans];
  return {
    report: {
      reportId: last._id,
      snapshotAt: last.snapshotAt,
      builtAt: last.finishedAt ?? null,
      multiLocation: last.multiLocation,
      totals: last.totals,
      driftRows: rows.map(driftRowView),
    },
    reportToBuild: toBuild,
  };
}

export const overview = internalQuery({
  args: {},
  returns: v.object({
    serverTime: v.number(),
    counts: v.record(v.string(), v.number()),
    dueCount: v.number(),
    oldestDueAt: v.union(v.number(), v.null()),
    openSessions: v.array(vSessionView),
    lastSession: v.union(vSessionView, v.null()),
    company: v.union(vCompanyView, v.null()),
    dead: v.array(vQueueState),
    held: v.object({
      groups: v.array(vUnmappedRow),
      conflicts: v.array(vQueueState),
      // Events read to make the groups; `more`: held events or groups beyond those shown.
      scanned: v.number(),
      more: v.boolean(),
    }),
    report: v.union(vReport, v.null()),
    reportToBuild: v.union(v.object({ snapshotAt: v.number(), reportId: v.union(v.id("qb_recon_reports"), v.null()) }), v.null()),
    hours: v.array(vHour),
  }),
  handler: async (ctx) => {
    const now = Date.now();
    const db = ctx.db;
    const company = await currentCompany(db);
    const [oldest] = await dueEvents(db, now, 1);
    const held = await db
      .query("inventory_events")
      .withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", "held"))
      .take(OPS_LIMITS.held + 1);
    const scanned = held.slice(0, OPS_LIMITS.held);
    const groups = await groupMappingHolds(db, scanned, OPS_LIMITS.heldGroups);
    const open = await openSessions(db, OPS_LIMITS.openSessions);
    const closed = await lastClosedSession(db);
    const hours = await recentHours(db, OPS_LIMITS.hours, now);
    return {
      serverTime: now,
      counts: await qbStatusCounts(db),
      dueCount: await countClaimable(db, now),
      oldestDueAt: oldest?.nextAttemptAt ?? null,
      openSessions: open.sort((a, b) => b.lastSeenAt - a.lastSeenAt).map((s) => sessionView(s, now)),
      lastSession: closed === null ? null : sessionView(closed, now),
      company: company === null ? null : companyView(company),
      dead: await latestInStatus(db, "dead", OPS_LIMITS.dead),
      held: {
        groups: groups.rows.sort((a, b) => b.events - a.events || a.name.localeCompare(b.name)),
        conflicts: scanned
          .filter((e) => e.holdKind !== "mapping")
          .slice(0, OPS_LIMITS.conflicts)
          .map(queueState),
        scanned: scanned.length,
        more: held.length > OPS_LIMITS.held || groups.truncated,
      },
      ...(await reports(db, company)),
      hours: hours.map(({ hour, applied, failed, dead, samples, depthMax, oldestDueAgeMaxSec }) => ({
        hour,
        applied,
        failed,
        dead,
        samples,
        depthMax,
        oldestDueAgeMaxSec,
      })),
    };
  },
});
