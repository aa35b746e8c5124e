/**
 * Does QuickBooks agree with Convex? A drift report against one snapshot.
 *
 * The rule, per part and QuickBooks site (per part alone without sites):
 *
 *   in transit = the effect on Convex balances of every event QuickBooks had
 *                not seen when the snapshot was taken: posted events not
 *                applied (pending, in flight, failed, held, dead) and events
 *                applied after the snapshot;
 *   drift      = QuickBooks QOH - (Convex QOH - in transit)
 *
 * Convex QOH sums the balances of every location mapped to that site. An
 * event on its way is therefore never drift, and one applied after the
 * snapshot is counted once (as in transit, not in QuickBooks' figure).
 * Voided and not_required events have no effect on QuickBooks and none here.
 *
 * Built one page per call (Convex's limits per function hold whatever the
 * size): first the in-transit effects, then every part, then QuickBooks
 * items with stock that no part maps to.
 */
import type { Doc, Id } from "../_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import type { Company } from "./company";
import { findEntry } from "./company";
import { eventLines } from "./ledger";
import { storeResolved } from "./mapping";

type Report = Doc<"qb_recon_reports">;
type Event = Doc<"inventory_events">;

// Per call, against Convex's limits per function (32,000 documents read, 4,096 index ranges):
// 10 transfers of 100 lines touch at most 2,000 (part, site) pairs; a part costs about 5 index
// ranges and 7 documents (2,500 / 3,500 for 500); a snapshot row at most 2 ranges (2,000 for 1,000).
export const RECON_PAGE = { events: 10, parts: 500, orphans: 1000 } as const;
const EPSILON = 1e-9;

/** Statuses whose events QuickBooks has not seen, in the order the transit phase reads them. */
const UNAPPLIED = ["pending", "in_flight", "failed", "held", "dead"] as const;
const NO_SITE = "";

const emptyTotals = () => ({ rows: 0, driftRows: 0, convexQoh: 0, qbQoh: 0, inTransit: 0, drift: 0, onlyInQuickBooks: 0, notInQuickBooks: 0 });

export async function startReport(db: DatabaseWriter, company: Company, snapshot: Doc<"qb_snapshots">, now: number): Promise<Id<"qb_recon_reports">> {
  return await db.insert("qb_recon_reports", {
    companyId: company._id,
    snapshotId: snapshot._id,
    snapshotAt: snapshot.takenAt ?? snapshot.startedAt,
    status: "building",
    phase: "transit",
    transitSource: 0,
    startedAt: now,
    multiLocation: snapshot.mode === "sites",
    totals: emptyTotals(),
  });
}

type Sites = Map<Id<"inventory_locations">, { key: string; name: string | undefined; code: string }>;

/** Where each location's stock sits in QuickBooks: its site's ListID, or "" without sites. */
async function locationSites(db: DatabaseReader, report: Report): Promise<Sites> {
  const sites: Sites = new Map();
  for (const location of await db.query("inventory_locations").take(2000)) {
    const key = !report.multiLocation ? NO_SITE : (location.qbSiteListId ?? `unmapped:${location.code}`);
    sites.set(location._id, { key, name: report.multiLocation ? location.qbSiteFullName : undefined, code: location.code });
  }
  return sites;
}

/** One page of work; returns true once the report is done. */
export async function buildStep(db: DatabaseWriter, report: Report, company: Company, now: number): Promise<boolean> {
  if (report.phase === "done") return true;
  const sites = await locationSites(db, report);
  if (report.phase === "transit") await transitStep(db, report, sites);
  else if (report.phase === "parts") await partsStep(db, report, company, sites);
  else await orphansStep(db, report, company, now);
  return (await db.get(report._id))?.phase === "done";
}

/**
 * Phase 1: the effect of events QuickBooks had not seen, summed per (part,
 * site). Only events created before the report (its document's creation
 * time: Convex orders those exactly): later ones are found per part in
 * phase 2, when its balances are read. An event counted once
 * is never counted again, even if it moves from one scanned status to
 * another while the report is being built.
 */
async function transitStep(db: DatabaseWriter, report: Report, sites: Sites) {
  const source = report.transitSource;
  const query =
    source < UNAPPLIED.length
      ? db.query("inventory_events").withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", UNAPPLIED[source]))
      : db.query("inventory_events").withIndex("by_qbStatus_appliedAt", (q) => q.eq("qbStatus", "applied").gt("appliedAt", report.snapshotAt));
  const page = await query.paginate({ numItems: RECON_PAGE.events, cursor: report.cursor ?? null });
  const effects = new Map<string, { partId: Id<"inventory_parts">; siteKey: string; quantity: number }>();
  for (const event of page.page) {
    if (event.status !== "posted" || event._creationTime > report._creationTime) continue;
    const counted = await db
      .query("qb_recon_counted")
      .withIndex("by_report_event", (q) => q.eq("reportId", report._id).eq("eventId", event._id))
      .first();
    if (counted !== null) continue;
    await db.insert("qb_recon_counted", { reportId: report._id, eventId: event._id });
    for (const effect of await eventEffects(db, event, sites)) {
      const key = `${effect.partId}|${effect.siteKey}`;
      const sum = effects.get(key);
      if (sum === undefined) effects.set(key, { ...effect });
      else sum.quantity += effect.quantity;
    }
  }
  // One read and one write per (part, site) of the page, however many lines its events have.
  for (const effect of effects.values()) {
    const existing = await db
      .query("qb_recon_transit")
      .withIndex("by_report_part_site", (q) => q.eq("reportId", report._id).eq("partId", effect.partId).eq("siteKey", effect.siteKey))
      .first();
    if (existing === null) await db.insert("qb_recon_transit", { reportId: report._id, ...effect });
    else await db.patch(existing._id, { quantity: existing.quantity + effect.quantity });
  }
  if (!page.isDone) {
    await db.patch(report._id, { cursor: page.continueCursor });
  } else if (source < UNAPPLIED.length) {
    await db.patch(report._id, { transitSource: source + 1, cursor: undefined });
  } else {
    await db.patch(report._id, { phase: "parts", cursor: undefined });
  }
}

/** What an event did to balances, per part and QuickBooks site. */
async function eventEffects(db: DatabaseReader, event: Event, sites: Sites, onlyPart?: Id<"inventory_parts">) {
  const effects: { partId: Id<"inventory_parts">; siteKey: string; quantity: number }[] = [];
  for (const line of await eventLines(db, event._id)) {
    if (onlyPart !== undefined && line.partId !== onlyPart) continue;
    const moves: [Id<"inventory_locations"> | undefined, number][] =
      event.type === "transfer"
        ? [
            [event.fromLocationId, -line.quantity],
            [event.toLocationId, line.quantity],
          ]
        : [[event.locationId, line.quantity]];
    for (const [locationId, quantity] of moves) {
      const site = locationId === undefined ? undefined : sites.get(locationId);
      if (site !== undefined) effects.push({ partId: line.partId, siteKey: site.key, quantity });
    }
  }
  return effects;
}

/** Events on `partId` created since the report started: in balances now, so in transit too. */
async function recentEffects(db: DatabaseReader, report: Report, partId: Id<"inventory_parts">, sites: Sites) {
  const lines = await db
    .query("inventory_event_lines")
    .withIndex("by_part", (q) => q.eq("partId", partId).gt("_creationTime", report._creationTime))
    .take(200);
  const effects = [];
  const seen = new Set<string>();
  for (const line of lines) {
    if (seen.has(line.eventId)) continue;
    seen.add(line.eventId);
    const event = await db.get(line.eventId);
    if (event === null || event.status !== "posted" || event._creationTime <= report._creationTime) continue;
    effects.push(...(await eventEffects(db, event, sites, partId)));
  }
  return effects;
}

/**
 * The ListID a part's item resolves to by name (its mapping, else its SKU),
 * stored as the claim path does. An inactive item resolves to nothing, as
 * there: the part stays unmapped (its events are held), and the item's stock
 * is reported once, as only in QuickBooks.
 */
async function resolveItem(db: DatabaseWriter, company: Company, part: Doc<"inventory_parts">): Promise<string | undefined> {
  const entry = await findEntry(db, company, "items", { fullName: part.qbItemFullName ?? part.sku });
  if (entry === null || !entry.isActive) return undefined;
  await storeResolved(db, "item", part.sku, { listId: part.qbItemListId, fullName: part.qbItemFullName }, entry, () =>
    db.patch(part._id, { qbItemListId: entry.listId, qbItemFullName: entry.fullName }),
  );
  return entry.listId;
}

type Cell = { convex: number; qb: number; transit: number; siteName?: string; locationCode?: string };

/** Phase 2: every part, against the snapshot, per site. */
async function partsStep(db: DatabaseWriter, report: Report, company: Company, sites: Sites) {
  const page = await db.query("inventory_parts").withIndex("by_sku").paginate({ numItems: RECON_PAGE.parts, cursor: report.cursor ?? null });
  const totals = { ...report.totals };
  for (const part of page.page) {
    const cells = new Map<string, Cell>();
    const cell = (key: string) => {
      let found = cells.get(key);
      if (found === undefined) {
        found = { convex: 0, qb: 0, transit: 0 };
        cells.set(key, found);
      }
      return found;
    };
    const balances = await db
      .query("inventory_balances")
      .withIndex("by_part_location", (q) => q.eq("partId", part._id))
      .take(500);
    for (const balance of balances) {
      const site = sites.get(balance.locationId);
      if (site === undefined) continue;
      const c = cell(site.key);
      c.convex += balance.onHand;
      c.siteName ??= site.name;
      if (balance.onHand !== 0 || c.locationCode === undefined) c.locationCode = site.code;
    }
    for (const transit of await db
      .query("qb_recon_transit")
      .withIndex("by_report_part_site", (q) => q.eq("reportId", report._id).eq("partId", part._id))
      .take(500)) {
      cell(transit.siteKey).transit += transit.quantity;
    }
    for (const effect of await recentEffects(db, report, part._id, sites)) cell(effect.siteKey).transit += effect.quantity;
    // Events go to QuickBooks by name when a part has no ListID yet: compare it the same way.
    const listId = part.qbItemListId ?? (await resolveItem(db, company, part));
    let note: string | undefined;
    if (listId !== undefined) {
      const rows = await db
        .query("qb_snapshot_rows")
        .withIndex("by_snapshot_item", (q) => q.eq("snapshotId", report.snapshotId).eq("itemListId", listId))
        .take(500);
      for (const row of rows) cell(report.multiLocation ? row.siteListId : NO_SITE).qb += row.quantityOnHand;
      if (rows.length === 0 && (await findEntry(db, company, "items", { listId })) === null) note = "not in QuickBooks (its item is gone)";
    } else {
      note = "not mapped to a QuickBooks item";
    }
    for (const [siteKey, c] of cells) {
      if (Math.abs(c.convex) < EPSILON && Math.abs(c.qb) < EPSILON && Math.abs(c.transit) < EPSILON) continue;
      const drift = c.qb - (c.convex - c.transit);
      const drifting = Math.abs(drift) > EPSILON;
      const siteName = c.siteName ?? (siteKey && !siteKey.startsWith("unmapped:") ? (await findEntry(db, company, "sites", { listId: siteKey }))?.fullName : undefined);
      await db.insert("qb_recon_rows", {
        reportId: report._id,
        sku: part.sku,
        itemListId: listId,
        itemName: part.qbItemFullName,
        siteKey,
        siteName: siteName ?? (siteKey.startsWith("unmapped:") ? `(no site: ${siteKey.slice(9)})` : undefined),
        locationCode: c.locationCode,
        convexQoh: c.convex,
        qbQoh: c.qb,
        inTransit: c.transit,
        drift,
        drifting,
        note,
      });
      totals.rows += 1;
      totals.driftRows += drifting ? 1 : 0;
      totals.convexQoh += c.convex;
      totals.qbQoh += c.qb;
      totals.inTransit += c.transit;
      totals.drift += drift;
      totals.notInQuickBooks += note !== undefined ? 1 : 0;
    }
  }
  await db.patch(report._id, page.isDone ? { phase: "orphans", cursor: undefined, totals } : { cursor: page.continueCursor, totals });
}

/** Phase 3: QuickBooks items with stock that no part maps to. */
async function orphansStep(db: DatabaseWriter, report: Report, company: Company, now: number) {
  const page = await db
    .query("qb_snapshot_rows")
    .withIndex("by_snapshot_row", (q) => q.eq("snapshotId", report.snapshotId))
    .paginate({ numItems: RECON_PAGE.orphans, cursor: report.cursor ?? null });
  const totals = { ...report.totals };
  for (const row of page.page) {
    if (Math.abs(row.quantityOnHand) < EPSILON) continue;
    const mapped = await db
      .query("inventory_parts")
      .withIndex("by_qbItemListId", (q) => q.eq("qbItemListId", row.itemListId))
      .first();
    if (mapped !== null) continue;
    // Bins of one item and site make one row.
    const same = await db
      .query("qb_recon_rows")
      .withIndex("by_report_item_site", (q) => q.eq("reportId", report._id).eq("itemListId", row.itemListId).eq("siteKey", row.siteListId))
      .first();
    if (same !== null) {
      await db.patch(same._id, { qbQoh: same.qbQoh + row.quantityOnHand, drift: same.drift + row.quantityOnHand });
      totals.qbQoh += row.quantityOnHand;
      totals.drift += row.quantityOnHand;
      continue;
    }
    const item = row.itemName !== undefined ? null : await findEntry(db, company, "items", { listId: row.itemListId });
    const site = row.siteListId === "" || row.siteName !== undefined ? null : await findEntry(db, company, "sites", { listId: row.siteListId });
    await db.insert("qb_recon_rows", {
      reportId: report._id,
      sku: "",
      itemListId: row.itemListId,
      itemName: row.itemName ?? item?.fullName ?? row.itemListId,
      siteKey: row.siteListId,
      siteName: row.siteName ?? site?.fullName,
      convexQoh: 0,
      qbQoh: row.quantityOnHand,
      inTransit: 0,
      drift: row.quantityOnHand,
      drifting: true,
      note: "only in QuickBooks (no part maps to this item)",
    });
    totals.rows += 1;
    totals.driftRows += 1;
    totals.qbQoh += row.quantityOnHand;
    totals.drift += row.quantityOnHand;
    totals.onlyInQuickBooks += 1;
  }
  if (!page.isDone) {
    await db.patch(report._id, { cursor: page.continueCursor, totals });
    return;
  }
  await db.patch(report._id, { phase: "done", status: "done", cursor: undefined, finishedAt: now, totals });
  await db.patch(company._id, {
    lastReport: {
      reportId: report._id,
      builtAt: now,
      snapshotAt: report.snapshotAt,
      rows: totals.rows,
      driftRows: totals.driftRows,
      totalDrift: totals.drift,
    },
  });
}
