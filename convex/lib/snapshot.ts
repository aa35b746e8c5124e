/**
 * Quantity snapshots of QuickBooks, for reconciliation.
 *
 * A snapshot is taken inside one QBWC session, after that session's events
 * have been sent (so it sees them) and with no event sent while it runs, so
 * every applied event is either before it (in it) or after it (in transit).
 * With multi-location inventory it reads ItemSitesQuery (quantity per item
 * and site), without it ItemInventoryQuery and ItemInventoryAssemblyQuery
 * (quantity per item), page by page with qbXML iterators. An iterator and the
 * "no event in between" guarantee last only as long as the session, so a
 * snapshot the session did not finish is abandoned, and the next session
 * takes a new one.
 */
import type { Doc, Id } from "../_generated/dataModel";
import type { DatabaseWriter } from "../_generated/server";
import { LIST_PAGE_SIZE, PULL_RETRY_MS } from "./constants";
import type { Company } from "./company";
import type { ListPageIn, QueryRequest, SiteQuantityPageIn } from "./contract";

export type Snapshot = Doc<"qb_snapshots">;
type QueryKind = QueryRequest["kind"];

/** Whether a snapshot should be taken: asked for and not yet served, or due by the schedule. */
export function snapshotDue(company: Company, now: number): boolean {
  if (company.snapshotRetryAt !== undefined && company.snapshotRetryAt > now) return false;
  if (company.snapshotRequestedAt !== undefined && company.snapshotRequestedAt > (company.snapshotServedAt ?? -1)) return true;
  const every = company.reconcileEveryMs ?? 0;
  return every > 0 && (company.lastSnapshotAt === undefined || now - company.lastSnapshotAt >= every);
}

/** The snapshot this session is taking, if any (one from another session is abandoned). */
export async function runningSnapshot(db: DatabaseWriter, company: Company, sessionId: Id<"qb_sync_sessions">, now: number): Promise<Snapshot | null> {
  if (company.snapshotId === undefined) return null;
  const snapshot = await db.get(company.snapshotId);
  if (snapshot === null || snapshot.status !== "running") {
    await db.patch(company._id, { snapshotId: undefined });
    return null;
  }
  if (snapshot.sessionId !== sessionId) {
    await abandon(db, company, snapshot, "its Web Connector session ended before the last page; a new snapshot is taken", now);
    return null;
  }
  return snapshot;
}

async function abandon(db: DatabaseWriter, company: Company, snapshot: Snapshot, why: string, now: number) {
  await db.patch(snapshot._id, { status: "abandoned", error: why.slice(0, 2000), finishedAt: now });
  // Asked again, so the next session takes a fresh one.
  await db.patch(company._id, { snapshotId: undefined, snapshotServedAt: undefined });
}

/** Starts a snapshot in this session. */
export async function startSnapshot(db: DatabaseWriter, company: Company, sessionId: Id<"qb_sync_sessions">, now: number): Promise<Snapshot> {
  const sites = company.multiLocationEnabled === true;
  const id = await db.insert("qb_snapshots", {
    companyId: company._id,
    status: "running",
    mode: sites ? "sites" : "items",
    requestedAt: company.snapshotRequestedAt ?? now,
    startedAt: now,
    steps: sites ? ["ItemSitesQuery"] : ["ItemInventoryQuery", "ItemInventoryAssemblyQuery"],
    step: 0,
    page: 0,
    sessionId,
    rows: 0,
  });
  await db.patch(company._id, { snapshotId: id, snapshotServedAt: company.snapshotRequestedAt ?? now });
  return (await db.get(id)) as Snapshot;
}

/** The read for the snapshot's next page. */
export function snapshotRead(snapshot: Snapshot, callId: string): QueryRequest {
  const kind = snapshot.steps[snapshot.step] as QueryKind;
  const request: QueryRequest = {
    requestId: `snap:${snapshot.step}.${snapshot.page}:${callId.slice(0, 16)}`,
    kind,
    maxReturned: LIST_PAGE_SIZE,
    iterator: snapshot.iteratorId === undefined ? "Start" : "Continue",
  };
  if (snapshot.iteratorId !== undefined) request.iteratorId = snapshot.iteratorId;
  return request;
}

export const isSnapshotRead = (requestId: string) => requestId.startsWith("snap:");

/** One page of the running snapshot; rows are keyed by QuickBooks' own record ids, so a repeat adds nothing. */
export async function applySnapshotPage(
  db: DatabaseWriter,
  company: Company,
  page: SiteQuantityPageIn | ListPageIn,
  now: number,
): Promise<void> {
  if (company.snapshotId === undefined) return;
  const snapshot = await db.get(company.snapshotId);
  if (snapshot === null || snapshot.status !== "running") return;
  const rows =
    page.kind === "siteQuantities"
      ? page.rows.map((r) => ({
          rowId: r.rowId,
          itemListId: r.itemListId,
          siteListId: r.siteListId ?? "",
          quantityOnHand: r.quantityOnHand,
          itemName: r.itemName?.slice(0, 500),
          siteName: r.siteName?.slice(0, 500),
        }))
      : page.entries.map((e) => ({
          rowId: e.listId,
          itemListId: e.listId,
          siteListId: "",
          quantityOnHand: e.quantityOnHand ?? 0,
          itemName: e.fullName.slice(0, 500),
          siteName: undefined,
        }));
  let added = 0;
  for (const row of rows) {
    const existing = await db
      .query("qb_snapshot_rows")
      .withIndex("by_snapshot_row", (q) => q.eq("snapshotId", snapshot._id).eq("rowId", row.rowId))
      .first();
    if (existing === null) {
      await db.insert("qb_snapshot_rows", { snapshotId: snapshot._id, ...row });
      added += 1;
    } else {
      await db.patch(existing._id, row);
    }
  }
  const progress = { rows: snapshot.rows + added, takenAt: snapshot.takenAt ?? now };
  if (page.remaining > 0 && page.iteratorId !== undefined) {
    await db.patch(snapshot._id, { ...progress, page: snapshot.page + 1, iteratorId: page.iteratorId });
    return;
  }
  if (snapshot.step + 1 < snapshot.steps.length) {
    await db.patch(snapshot._id, { ...progress, step: snapshot.step + 1, page: 0, iteratorId: undefined });
    return;
  }
  await db.patch(snapshot._id, { ...progress, status: "done", finishedAt: now, iteratorId: undefined });
  await db.patch(company._id, { snapshotId: undefined, lastSnapshotId: snapshot._id, lastSnapshotAt: progress.takenAt });
}

/** A snapshot query QuickBooks refused: the snapshot is abandoned (3391: the list starts over). */
export async function failSnapshotPage(db: DatabaseWriter, company: Company, statusCode: string | undefined, message: string, now: number) {
  if (company.snapshotId === undefined) return;
  const snapshot = await db.get(company.snapshotId);
  if (snapshot === null || snapshot.status !== "running") return;
  if (statusCode === "3391") {
    await db.patch(snapshot._id, { iteratorId: undefined, page: 0 });
    return;
  }
  await db.patch(snapshot._id, { status: "abandoned", error: `QuickBooks refused the snapshot: ${message}`.slice(0, 2000), finishedAt: now });
  // Not again before an hour: a refusal would otherwise repeat at every message of the session.
  await db.patch(company._id, { snapshotId: undefined, snapshotRetryAt: now + PULL_RETRY_MS });
}

const KEEP_SNAPSHOTS = 2;
const PRUNE_BATCH = 500;

/**
 * Deletes rows of snapshots no report needs (older than the last few done,
 * and every abandoned one), a bounded batch per call. The latest abandoned
 * snapshot's record stays, without rows: its error is what an operator asks about.
 */
export async function pruneSnapshots(db: DatabaseWriter, company: Company): Promise<void> {
  const done = await db
    .query("qb_snapshots")
    .withIndex("by_company_status", (q) => q.eq("companyId", company._id).eq("status", "done"))
    .order("desc")
    .take(KEEP_SNAPSHOTS + 3);
  const abandoned = await db
    .query("qb_snapshots")
    .withIndex("by_company_status", (q) => q.eq("companyId", company._id).eq("status", "abandoned"))
    .order("desc")
    .take(4);
  const stale = [...done.slice(KEEP_SNAPSHOTS), ...abandoned];
  for (const snapshot of stale) {
    const rows = await db
      .query("qb_snapshot_rows")
      .withIndex("by_snapshot_row", (q) => q.eq("snapshotId", snapshot._id))
      .take(PRUNE_BATCH);
    for (const row of rows) await db.delete(row._id);
    if (rows.length === PRUNE_BATCH) return;
    if (snapshot !== abandoned[0]) await db.delete(snapshot._id);
  }
}

/** A snapshot page whose answer never reached Convex: the current step starts over. */
export async function restartSnapshotStep(db: DatabaseWriter, company: Company): Promise<void> {
  if (company.snapshotId === undefined) return;
  const snapshot = await db.get(company.snapshotId);
  if (snapshot === null || snapshot.status !== "running") return;
  await db.patch(snapshot._id, { iteratorId: undefined, page: 0 });
}
