/**
 * Mapping against QuickBooks' pulled lists (issue 11): the verdict taken
 * before an event is claimed (send / not_required / held for mapping), how
 * held events move on by themselves, and the operator's mapping commands
 * (qbMapping:*) that validate against the lists.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { api, internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { DEFAULT_SESSION_TTL_MS, MAPPING_RECHECK_MS } from "../../convex/lib/constants";
import { recheckHolds, wakeHolds } from "../../convex/lib/mapping";
import { NEVER } from "../../convex/lib/queue";
import {
  type QbLists,
  closeSession,
  company,
  entry,
  expectFields,
  mappingChanges,
  patchCompany,
  pullLists,
  standardLists,
} from "./lists.support";
import {
  type T,
  allApplied,
  answer,
  asAdmin,
  asEmployee,
  balance,
  dumpAll,
  expectCode,
  expectRejectedWithoutWrites,
  getEvent,
  newTest,
  seedWorld,
  sendNext,
  stock,
} from "./setup";

const T0 = new Date("2025-12-02T08:00:00Z").getTime();
const HOUR = 3_600_000;

let t: T;

beforeEach(async () => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
  t = newTest();
  await seedWorld(t);
});

afterEach(() => {
  vi.useRealTimers();
});

const at = (ms: number) => vi.setSystemTime(T0 + ms);

const authenticate = (ticketHash: string) =>
  t.mutation(internal.qbSessions.authenticate, { ticketHash, userName: "qbwc", ttlMs: DEFAULT_SESSION_TTL_MS });

let rounds = 0;
/** One whole QBWC session: authenticate, one message (answered as applied), close. */
async function syncRound() {
  const ticketHash = `round-${++rounds}`;
  const opened = await authenticate(ticketHash);
  if (opened.status !== "open") return { status: opened.status, events: [] };
  const events = await sendNext(t, ticketHash, 50);
  if (events.length > 0) await answer(t, ticketHash, allApplied(events));
  await closeSession(t, ticketHash);
  return { status: opened.status, events };
}

/** Pulls `lists` (standard ones by default) at T0 + 1s. */
async function pulled(lists: QbLists = standardLists()) {
  at(1000);
  return await pullLists(t, lists);
}

async function idOf<Table extends "inventory_locations" | "inventory_parts" | "inventory_reason_accounts">(table: Table, key: string) {
  return await t.run(async (ctx) => {
    const doc =
      table === "inventory_locations"
        ? await ctx.db.query("inventory_locations").withIndex("by_code", (q) => q.eq("code", key)).unique()
        : table === "inventory_parts"
          ? await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", key)).unique()
          : await ctx.db.query("inventory_reason_accounts").withIndex("by_reasonCode", (q) => q.eq("reasonCode", key)).unique();
    if (doc === null) throw new Error(`no ${key}`);
    return doc._id as Id<Table>;
  });
}

const part = (sku: string) => t.run(async (ctx) => await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", sku)).unique());
const location = (code: string) =>
  t.run(async (ctx) => await ctx.db.query("inventory_locations").withIndex("by_code", (q) => q.eq("code", code)).unique());
const reason = (code: string) =>
  t.run(async (ctx) => await ctx.db.query("inventory_reason_accounts").withIndex("by_reasonCode", (q) => q.eq("reasonCode", code)).unique());

const transfer = (sku: string, quantity: number, fromLocation: string, toLocation: string) =>
  asEmployee(t).mutation(api.inventory.createTransferEvent, { sku, quantity, fromLocation, toLocation });
const adjustLines = (location: string, reasonCode: string, lines: { sku: string; quantity: number }[]) =>
  asEmployee(t).mutation(api.inventory.createAdjustmentEvent, { lines, location, mode: "delta", reasonCode });

const itemsWith = (...extra: ReturnType<typeof entry>[]) => ({ ...standardLists(), items: [...standardLists().items, ...extra] });

// ---- verdicts --------------------------------------------------------------------------------------

describe("mapping verdicts against the pulled lists", () => {
  test("a part mapped by ListID that is in the list: sent by ListID", async () => {
    await pulled();
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    const { events } = await syncRound();
    expect(events.map((e) => [e.eventId, e.lines[0].item])).toEqual([[eventId, { listId: "10000001-1", fullName: "Widgets:Widget" }]]);
    expect((await getEvent(t, eventId)).qbStatus).toBe("applied");
  });

  test("a part mapped by ListID whose item is inactive: held for mapping", async () => {
    await pulled({ ...standardLists(), items: [entry("10000001-1", "Widgets:Widget", { isActive: false }), entry("10000002-1", "Gadget")] });
    const wid = await idOf("inventory_parts", "WID-1");
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    expect((await syncRound()).events).toEqual([]);
    const event = await getEvent(t, eventId);
    expect(event).toMatchObject({ qbStatus: "held", holdKind: "mapping", holdKeys: [`item:${wid}`], retryCount: 0, claimCount: 0 });
    expect(event.holdReason).toContain('the item of SKU WID-1 "Widgets:Widget" is inactive in QuickBooks');
  });

  test("a part mapped by ListID that is not in the list: held, even if another item has its old name", async () => {
    await pulled({ ...standardLists(), items: [entry("10000099-1", "Widgets:Widget"), entry("10000002-1", "Gadget")] });
    const wid = await idOf("inventory_parts", "WID-1");
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    expect((await syncRound()).events).toEqual([]);
    const event = await getEvent(t, eventId);
    expect(event).toMatchObject({ qbStatus: "held", holdKeys: [`item:${wid}`] });
    expect(event.holdReason).toContain(`the item of SKU WID-1 "Widgets:Widget" is not in QuickBooks' items list`);
    expect(event.holdReason).not.toContain("no mapping");
    expect(await part("WID-1")).toMatchObject({ qbItemListId: "10000001-1", qbItemFullName: "Widgets:Widget" });
  });

  test("an unmapped part whose SKU is an item's FullName (any case): ListID + FullName stored, logged as bridge:lists, sent by ListID", async () => {
    await pulled(itemsWith(entry("10000003-1", "bolt-3")));
    const { eventId } = await stock(t, "BOLT-3", "MAIN", 5);
    at(5000);
    const { events } = await syncRound();
    expect(events.map((e) => [e.eventId, e.lines[0].item])).toEqual([[eventId, { listId: "10000003-1", fullName: "bolt-3" }]]);
    expect(await part("BOLT-3")).toMatchObject({ qbItemListId: "10000003-1", qbItemFullName: "bolt-3" });
    const log = (await mappingChanges(t)).filter((c) => c.key === "BOLT-3");
    expect(log.map((c) => [c.kind, c.changedBy, c.old, c.new, c.changedAt])).toEqual([
      ["item", "bridge:lists", {}, { listId: "10000003-1", fullName: "bolt-3" }, T0 + 5000],
    ]);
    // Resolved once: the next event changes and logs nothing more.
    await stock(t, "BOLT-3", "MAIN", 1);
    await syncRound();
    expect((await mappingChanges(t)).filter((c) => c.key === "BOLT-3")).toHaveLength(1);
  });

  test("an unmapped part no item is named like: held, with the command that fixes it", async () => {
    await pulled();
    const bolt = await idOf("inventory_parts", "BOLT-3");
    const { eventId } = await stock(t, "BOLT-3", "MAIN", 5);
    await syncRound();
    const event = await getEvent(t, eventId);
    expect(event).toMatchObject({ qbStatus: "held", holdKeys: [`item:${bolt}`] });
    expect(event.holdReason).toContain('no item is named like the SKU: qbwc-bridge map item BOLT-3 "QB ITEM"');
  });

  test("a part mapped by FullName only gets its ListID completed (bridge:lists)", async () => {
    await pulled();
    await stock(t, "GAD-2", "MAIN", 5);
    const { events } = await syncRound();
    expect(events[0].lines[0].item).toEqual({ listId: "10000002-1", fullName: "Gadget" });
    expect(await part("GAD-2")).toMatchObject({ qbItemListId: "10000002-1", qbItemFullName: "Gadget" });
    const log = (await mappingChanges(t)).filter((c) => c.key === "GAD-2" && c.changedBy === "bridge:lists");
    expect(log.map((c) => [c.changedBy, c.old, c.new])).toEqual([["bridge:lists", { fullName: "Gadget" }, { listId: "10000002-1", fullName: "Gadget" }]]);
  });

  test("accounts: by ListID; by FullName (ListID completed, logged); missing, inactive and unmapped ones hold the event", async () => {
    await pulled({
      ...standardLists(),
      accounts: [entry("90000002-1", "Shrinkage"), entry("90000003-1", "Old account", { isActive: false })],
    });
    const damage = await syncAfter(() => adjustLines("MAIN", "DAMAGE", [{ sku: "WID-1", quantity: 2 }]));
    expect(damage.sent[0].account).toEqual({ listId: "90000002-1", fullName: "Shrinkage" });
    expect(await reason("DAMAGE")).toMatchObject({ qbAccountListId: "90000002-1", qbAccountFullName: "Shrinkage" });
    expect((await mappingChanges(t)).filter((c) => c.kind === "account" && c.changedBy === "bridge:lists").map((c) => [c.key, c.changedBy, c.new])).toEqual([
      ["DAMAGE", "bridge:lists", { listId: "90000002-1", fullName: "Shrinkage" }],
    ]);

    // COUNT's account (90000001-1) is not in the list.
    const countId = await idOf("inventory_reason_accounts", "COUNT");
    const count = await syncAfter(() => adjustLines("MAIN", "COUNT", [{ sku: "WID-1", quantity: 2 }]));
    expect(count.sent).toEqual([]);
    expect(count.event).toMatchObject({ qbStatus: "held", holdKeys: [`account:${countId}`] });
    expect(count.event.holdReason).toContain(`the account of reason code COUNT "Inventory Adjustments" is not in QuickBooks' accounts list`);

    // A reason mapped to an inactive account; and one with no account at all (data from before validation).
    const [staleId, bareId] = await t.run(async (ctx) => [
      await ctx.db.insert("inventory_reason_accounts", { reasonCode: "STALE", active: true, qbAccountListId: "90000003-1", qbAccountFullName: "Old account" }),
      await ctx.db.insert("inventory_reason_accounts", { reasonCode: "BARE", active: true }),
    ]);
    const stale = await syncAfter(() => adjustLines("MAIN", "STALE", [{ sku: "WID-1", quantity: 1 }]));
    expect(stale.event).toMatchObject({ qbStatus: "held", holdKeys: [`account:${staleId}`] });
    expect(stale.event.holdReason).toContain('"Old account" is inactive in QuickBooks');
    const bare = await syncAfter(() => adjustLines("MAIN", "BARE", [{ sku: "WID-1", quantity: 1 }]));
    expect(bare.event).toMatchObject({ qbStatus: "held", holdKeys: [`account:${bareId}`] });
    expect(bare.event.holdReason).toContain("reason code BARE has no QuickBooks account mapped");
  });

  test("sites (multi-location on): found, missing, inactive, and a site mapped by name only gets its ListID", async () => {
    await patchCompany(t, { multiLocationEnabled: true });
    await pulled({ ...standardLists(), sites: [entry("80000001-1", "Main WH"), entry("80000003-1", "Dock", { isActive: false })] });
    const main = await syncAfter(() => stock(t, "WID-1", "MAIN", 5));
    expect(main.sent.map((e) => e.site)).toEqual([{ listId: "80000001-1", fullName: "Main WH" }]);

    const truck = await idOf("inventory_locations", "TRUCK");
    const missing = await syncAfter(() => stock(t, "WID-1", "TRUCK", 5));
    expect(missing.event).toMatchObject({ qbStatus: "held", holdKeys: [`site:${truck}`] });
    expect(missing.event.holdReason).toContain(`the site of location TRUCK "Truck 1" is not in QuickBooks' sites list`);

    await asAdmin(t).mutation(api.inventory.upsertLocation, { code: "DOCK", qbSiteFullName: "Dock" });
    const dock = await idOf("inventory_locations", "DOCK");
    const inactive = await syncAfter(() => stock(t, "WID-1", "DOCK", 5));
    expect(inactive.event).toMatchObject({ qbStatus: "held", holdKeys: [`site:${dock}`] });
    expect(inactive.event.holdReason).toContain('"Dock" is inactive in QuickBooks');

    await asAdmin(t).mutation(api.inventory.upsertLocation, { code: "BAY", qbSiteFullName: "main wh" });
    const bay = await syncAfter(() => stock(t, "WID-1", "BAY", 5));
    expect(bay.sent.map((e) => e.site)).toEqual([{ listId: "80000001-1", fullName: "Main WH" }]);
    expect(await location("BAY")).toMatchObject({ qbSiteListId: "80000001-1", qbSiteFullName: "Main WH" });
    expect((await mappingChanges(t)).filter((c) => c.key === "BAY" && c.changedBy === "bridge:lists")).toHaveLength(1);
  });

  test("multi-location off with lists pulled: sites are neither checked nor sent", async () => {
    await patchCompany(t, { multiLocationEnabled: false });
    await pulled();
    const { sent } = await syncAfter(() => stock(t, "WID-1", "BIN-A", 5));
    expect(sent.map((e) => [e.locationCode, e.site])).toEqual([["BIN-A", null]]);
  });

  test("multi-location unknown with lists pulled (no sites list was pulled): a transfer between mapped sites is sent as mapped, not held", async () => {
    // The pull skips InventorySiteQuery unless multi-location is known to be on, so the sites list is empty.
    await pulled();
    expect((await company(t)).listCounts).toEqual({ items: 3, sites: 0, accounts: 2 });
    await stock(t, "WID-1", "MAIN", 5);
    await syncRound();
    const { event, sent } = await syncAfter(() => transfer("WID-1", 2, "MAIN", "TRUCK"));
    expect(event.holdReason).toBeUndefined();
    expect(sent.map((e) => [e.fromSite, e.toSite])).toEqual([[{ listId: "80000001-1", fullName: "Main WH" }, { listId: "80000002-1", fullName: "Truck 1" }]]);
  });

  test("every problem is collected: account, site, and each item; the reason lists three and counts the rest", async () => {
    await patchCompany(t, { multiLocationEnabled: true });
    await pulled({ ...standardLists(), accounts: [entry("90000002-1", "Shrinkage")], items: [entry("10000002-1", "Gadget")] });
    const [countId, binA, wid, bolt] = [
      await idOf("inventory_reason_accounts", "COUNT"),
      await idOf("inventory_locations", "BIN-A"),
      await idOf("inventory_parts", "WID-1"),
      await idOf("inventory_parts", "BOLT-3"),
    ];
    const { event } = await syncAfter(() =>
      adjustLines("BIN-A", "COUNT", [
        { sku: "WID-1", quantity: 1 },
        { sku: "BOLT-3", quantity: 1 },
        { sku: "GAD-2", quantity: 1 },
      ]),
    );
    expect(event).toMatchObject({ qbStatus: "held", holdKind: "mapping", retryCount: 0 });
    expect(event.holdKeys).toEqual([`account:${countId}`, `site:${binA}`, `item:${wid}`, `item:${bolt}`]);
    expect(event.holdReason).toMatch(/^Waiting for a mapping: .*COUNT.*; .*BIN-A.*; .*WID-1.* \(\+1 more\)\.$/);
  });
});

/** Creates an event, runs one sync round, and returns the event as it then is and what was sent. */
async function syncAfter(create: () => Promise<{ eventId: Id<"inventory_events"> }>) {
  const { eventId } = await create();
  const { events } = await syncRound();
  return { event: await getEvent(t, eventId), sent: events.filter((e) => e.eventId === eventId) };
}

// ---- held events move on by themselves ----------------------------------------------------------------

describe("held for mapping: rechecks and wakes", () => {
  test("recheckHolds: nothing before nextAttemptAt; then a fixed event goes pending (due now) and an unfixed one waits another MAPPING_RECHECK_MS", async () => {
    await pulled({ ...standardLists(), items: [entry("10000001-1", "Widgets:Widget", { isActive: false }), entry("10000002-1", "Gadget")] });
    at(2000);
    const fixed = await syncAfter(() => stock(t, "BOLT-3", "MAIN", 1));
    const unfixed = await syncAfter(() => stock(t, "WID-1", "MAIN", 1));
    expect([fixed.event.qbStatus, unfixed.event.qbStatus]).toEqual(["held", "held"]);
    expect(fixed.event.nextAttemptAt).toBe(T0 + 2000 + MAPPING_RECHECK_MS);

    // Fixed behind the queue's back (no wake): only the recheck can notice.
    const bolt = await idOf("inventory_parts", "BOLT-3");
    await t.run(async (ctx) => await ctx.db.patch(bolt, { qbItemListId: "10000002-1", qbItemFullName: "Gadget" }));
    const recheck = (now: number) =>
      t.run(async (ctx) => {
        const c = (await ctx.db.query("qb_companies").withIndex("by_lastSeenAt").order("desc").first())!;
        return await recheckHolds(ctx.db, c, now);
      });
    const before = await dumpAll(t);
    expect(await recheck(T0 + 2000 + MAPPING_RECHECK_MS - 1)).toBe(0);
    expect(await dumpAll(t)).toEqual(before);

    const now = T0 + 2000 + MAPPING_RECHECK_MS;
    expect(await recheck(now)).toBe(1);
    expectFields(await getEvent(t, fixed.event._id), {
      qbStatus: "pending",
      nextAttemptAt: now,
      holdKind: undefined,
      holdKeys: undefined,
      holdReason: undefined,
      lastError: undefined,
      retryCount: 0,
    });
    expect(await getEvent(t, unfixed.event._id)).toMatchObject({ qbStatus: "held", holdKind: "mapping", nextAttemptAt: now + MAPPING_RECHECK_MS });
    expect((await t.query(internal.qbQueue.getQueueStatus, {})).counts).toMatchObject({ held: 1, pending: 1 });
  });

  test("the recheck runs in nextMessage too: once due, a fixed event is claimed in the same message", async () => {
    await pulled();
    const held = await syncAfter(() => stock(t, "BOLT-3", "MAIN", 1));
    const bolt = await idOf("inventory_parts", "BOLT-3");
    await t.run(async (ctx) => await ctx.db.patch(bolt, { qbItemFullName: "Gadget" }));
    at(1000 + MAPPING_RECHECK_MS);
    await stock(t, "WID-1", "MAIN", 1); // so the session opens even before the recheck
    const { events } = await syncRound();
    expect(events.map((e) => e.eventId)).toContain(held.event._id);
    expect(await getEvent(t, held.event._id)).toMatchObject({ qbStatus: "applied", retryCount: 0 });
  });

  test("wakeHolds by part wakes that part's holds only; for all, every mapping hold but no conflict hold", async () => {
    await patchCompany(t, { multiLocationEnabled: true });
    await pulled();
    const boltHold = await syncAfter(() => stock(t, "BOLT-3", "MAIN", 1));
    const siteHold = await syncAfter(() => stock(t, "WID-1", "BIN-A", 1));
    const conflict = await syncAfter(() => stock(t, "GAD-2", "BIN-B", 1));
    await t.run(async (ctx) =>
      ctx.db.patch(conflict.event._id, { holdKind: "conflict", qbLookupRequired: true, nextAttemptAt: NEVER, holdKeys: undefined }),
    );
    const bolt = await idOf("inventory_parts", "BOLT-3");
    at(5000);
    expect(await t.run(async (ctx) => await wakeHolds(ctx.db, bolt, T0 + 5000))).toBe(1);
    expect((await getEvent(t, boltHold.event._id)).nextAttemptAt).toBe(T0 + 5000);
    expect((await getEvent(t, siteHold.event._id)).nextAttemptAt).toBe(T0 + 1000 + MAPPING_RECHECK_MS);

    at(6000);
    expect(await t.run(async (ctx) => await wakeHolds(ctx.db, null, T0 + 6000))).toBe(1);
    expect((await getEvent(t, siteHold.event._id)).nextAttemptAt).toBe(T0 + 6000);
    expect((await getEvent(t, conflict.event._id)).nextAttemptAt).toBe(NEVER);
  });

  test("authenticate rechecks: a held event fixed by a mapping makes it 'open' instead of 'none'", async () => {
    await pulled(itemsWith(entry("10000003-1", "Hardware:Bolt")));
    const held = await syncAfter(() => stock(t, "BOLT-3", "MAIN", 1));
    expect(held.event.qbStatus).toBe("held");
    at(2000);
    expect(await authenticate("a-1")).toEqual({ status: "none" });
    const mapped = await t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "Hardware:Bolt" });
    expect(mapped.heldEventsWoken).toBe(1);
    expect(await authenticate("a-2")).toMatchObject({ status: "open" });
    expect(await getEvent(t, held.event._id)).toMatchObject({ qbStatus: "pending", nextAttemptAt: T0 + 2000 });
    const [payload] = await sendNext(t, "a-2", 10);
    expect(payload).toMatchObject({ eventId: held.event._id, lines: [{ sku: "BOLT-3", item: { listId: "10000003-1", fullName: "Hardware:Bolt" } }] });
  });

  test("an admin's upsertLocation that maps the missing site wakes the held event: the next session sends it", async () => {
    await patchCompany(t, { multiLocationEnabled: true });
    await pulled();
    const held = await syncAfter(() => stock(t, "WID-1", "BIN-A", 1));
    expect(held.event).toMatchObject({ qbStatus: "held", nextAttemptAt: T0 + 1000 + MAPPING_RECHECK_MS });
    at(5000);
    await asAdmin(t).mutation(api.inventory.upsertLocation, { code: "BIN-A", name: "Bin A" });
    expect((await getEvent(t, held.event._id)).nextAttemptAt).toBe(T0 + 1000 + MAPPING_RECHECK_MS); // no mapping change
    await asAdmin(t).mutation(api.inventory.upsertLocation, { code: "BIN-A", qbSiteListId: "80000002-1", qbSiteFullName: "Truck 1" });
    expect((await getEvent(t, held.event._id)).nextAttemptAt).toBe(T0 + 5000);
    const { events } = await syncRound();
    expect(events.map((e) => [e.eventId, e.site])).toEqual([[held.event._id, { listId: "80000002-1", fullName: "Truck 1" }]]);
  });

  test("an admin's upsertReasonAccount that maps a listed account wakes the held event: the next session sends it", async () => {
    await pulled({ ...standardLists(), accounts: [entry("90000001-1", "Inventory Adjustments"), entry("90000005-1", "Damaged Goods")] });
    const held = await syncAfter(() => adjustLines("MAIN", "DAMAGE", [{ sku: "WID-1", quantity: 1 }]));
    expect(held.event.qbStatus).toBe("held");
    at(5000);
    await asAdmin(t).mutation(api.inventory.upsertReasonAccount, { reasonCode: "DAMAGE", qbAccountFullName: "Damaged Goods" });
    expect((await getEvent(t, held.event._id)).nextAttemptAt).toBe(T0 + 5000);
    const { events } = await syncRound();
    expect(events.map((e) => [e.eventId, e.account])).toEqual([[held.event._id, { listId: "90000005-1", fullName: "Damaged Goods" }]]);
  });

  test("the importer's parts:upsertBatch that maps the part wakes its held event (a batch changing no mapping wakes nothing)", async () => {
    await pulled();
    const held = await syncAfter(() => stock(t, "BOLT-3", "MAIN", 1));
    expect(held.event).toMatchObject({ qbStatus: "held", nextAttemptAt: T0 + 1000 + MAPPING_RECHECK_MS });
    at(4000);
    await t.mutation(internal.parts.upsertBatch, { parts: [{ sku: "BOLT-3", name: "Bolt 3" }, { sku: "NEW-1", qbItemFullName: "Gadget" }] });
    expect((await getEvent(t, held.event._id)).nextAttemptAt).toBe(T0 + 1000 + MAPPING_RECHECK_MS);
    at(5000);
    await t.mutation(internal.parts.upsertBatch, { parts: [{ sku: "BOLT-3", qbItemFullName: "Gadget" }] });
    expect((await getEvent(t, held.event._id)).nextAttemptAt).toBe(T0 + 5000);
    const { events } = await syncRound();
    expect(events.map((e) => [e.eventId, e.lines[0].item])).toEqual([[held.event._id, { listId: "10000002-1", fullName: "Gadget" }]]);
  });

  test("a held-for-mapping event can be voided by its creator (balance reversed); a conflict hold cannot", async () => {
    await pulled();
    const held = await syncAfter(() => stock(t, "BOLT-3", "MAIN", 4));
    expect(await balance(t, "BOLT-3", "MAIN")).toBe(4);
    const voided = await asEmployee(t).mutation(api.inventory.voidEvent, { eventId: held.event._id, reason: "wrong part" });
    expect(voided).toMatchObject({ status: "voided", qbStatus: "cancelled" });
    expect(await balance(t, "BOLT-3", "MAIN")).toBe(0);
    expect((await t.query(internal.qbQueue.getQueueStatus, {})).counts).toMatchObject({ held: 0, cancelled: 1 });

    const other = await syncAfter(() => stock(t, "BOLT-3", "MAIN", 2));
    await t.run(async (ctx) => ctx.db.patch(other.event._id, { holdKind: "conflict", qbLookupRequired: true, nextAttemptAt: NEVER }));
    await expectRejectedWithoutWrites(t, "VOID_IN_FLIGHT", () =>
      asEmployee(t).mutation(api.inventory.voidEvent, { eventId: other.event._id, reason: "no" }),
    );
  });

  test("resolveHeldEvent refuses a mapping hold (NOT_HELD) and writes nothing", async () => {
    await pulled();
    const held = await syncAfter(() => stock(t, "BOLT-3", "MAIN", 1));
    for (const args of [{ send: true }, { txnId: "TX-1" }]) {
      const data = await expectCode(t.mutation(internal.qbQueue.resolveHeldEvent, { eventId: held.event._id, ...args }), "NOT_HELD");
      expect(data.message).toContain("held for a mapping");
    }
    await expectRejectedWithoutWrites(t, "NOT_HELD", () => t.mutation(internal.qbQueue.resolveHeldEvent, { eventId: held.event._id, send: true }));
  });
});

// ---- qbMapping: map item / location / reason ------------------------------------------------------------

describe("qbMapping: mapItem, mapLocation, mapReason", () => {
  test("before any pull: LISTS_NOT_PULLED, nothing written (with a company row and without one)", async () => {
    const calls = () => [
      () => t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "Gadget" }),
      () => t.mutation(internal.qbMapping.mapLocation, { code: "BIN-A", qbSite: "Main WH" }),
      () => t.mutation(internal.qbMapping.mapReason, { code: "DAMAGE", qbAccount: "Shrinkage" }),
      () => t.mutation(internal.qbMapping.mapItemsAuto, { match: "name", dryRun: false, force: false, paginationOpts: { numItems: 10, cursor: null } }),
    ];
    for (const call of calls()) await expectRejectedWithoutWrites(t, "LISTS_NOT_PULLED", call);
    await t.run(async (ctx) => {
      for (const c of await ctx.db.query("qb_companies").collect()) await ctx.db.delete(c._id);
    });
    for (const call of calls()) await expectRejectedWithoutWrites(t, "LISTS_NOT_PULLED", call);
  });

  test("mapItem by FullName (any case) or by ListID: stores ListID + FullName, logs deploy-key:map, reports the previous name", async () => {
    await pulled(itemsWith(entry("10000003-1", "Hardware:Bolt")));
    at(3000);
    expect(await t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "  hardware:BOLT " })).toEqual({
      listId: "10000003-1",
      fullName: "Hardware:Bolt",
      previous: null,
      heldEventsWoken: 0,
    });
    expect(await part("BOLT-3")).toMatchObject({ qbItemListId: "10000003-1", qbItemFullName: "Hardware:Bolt" });
    expect(await t.mutation(internal.qbMapping.mapItem, { sku: "WID-1", qbItem: "10000002-1" })).toMatchObject({
      listId: "10000002-1",
      fullName: "Gadget",
      previous: "Widgets:Widget",
    });
    const log = (await mappingChanges(t)).filter((c) => c.changedBy === "deploy-key:map");
    expect(log.map((c) => [c.kind, c.key, c.source, c.old, c.new, c.changedAt])).toEqual([
      ["item", "BOLT-3", "qbMapping:mapItem", {}, { listId: "10000003-1", fullName: "Hardware:Bolt" }, T0 + 3000],
      ["item", "WID-1", "qbMapping:mapItem", { listId: "10000001-1", fullName: "Widgets:Widget" }, { listId: "10000002-1", fullName: "Gadget" }, T0 + 3000],
    ]);
  });

  test("mapItem with a typo: NOT_IN_QUICKBOOKS naming the closest items, nothing written", async () => {
    await pulled(itemsWith(entry("10000003-1", "Widgets:Widget Large"), entry("10000004-1", "Zebra")));
    const data = await expectCode(t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "Widgets:Widgt" }), "NOT_IN_QUICKBOOKS");
    const closest = (data as unknown as { closest: string }).closest.split("\n");
    expect(closest[0]).toBe("Widgets:Widget");
    expect(closest).toContain("Widgets:Widget Large");
    expect(data.message).toContain('QuickBooks has no item "Widgets:Widgt". Closest: "Widgets:Widget"');
    await expectRejectedWithoutWrites(t, "NOT_IN_QUICKBOOKS", () => t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "Widgets:Widgt" }));
  });

  test("mapItem to an inactive item, or for an unknown SKU, is refused without writes", async () => {
    await pulled(itemsWith(entry("10000003-1", "Old Bolt", { isActive: false })));
    const data = await expectCode(t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "Old Bolt" }), "NOT_IN_QUICKBOOKS");
    expect(data.message).toContain("inactive");
    await expectRejectedWithoutWrites(t, "NOT_IN_QUICKBOOKS", () => t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "Old Bolt" }));
    await expectRejectedWithoutWrites(t, "PART_NOT_FOUND", () => t.mutation(internal.qbMapping.mapItem, { sku: "NOPE", qbItem: "Gadget" }));
  });

  test("mapItem wakes the part's held events: the next session sends them", async () => {
    await pulled(itemsWith(entry("10000003-1", "Hardware:Bolt")));
    const a = await syncAfter(() => stock(t, "BOLT-3", "MAIN", 1));
    const b = await syncAfter(() => stock(t, "BOLT-3", "TRUCK", 1));
    const other = await syncAfter(() => adjustLines("MAIN", "COUNT", [{ sku: "WID-1", quantity: 1 }]));
    expect([a.event.qbStatus, b.event.qbStatus, other.event.qbStatus]).toEqual(["held", "held", "applied"]);
    at(4000);
    expect((await t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "Hardware:Bolt" })).heldEventsWoken).toBe(2);
    for (const e of [a, b]) expect((await getEvent(t, e.event._id)).nextAttemptAt).toBe(T0 + 4000);
    const { events } = await syncRound();
    expect(events.map((e) => e.eventId).sort()).toEqual([a.event._id, b.event._id].sort());
  });

  test("mapLocation: NO_SITES when multi-location is off; stores the site, logs, wakes held events when on", async () => {
    await patchCompany(t, { multiLocationEnabled: false });
    await pulled();
    await expectRejectedWithoutWrites(t, "NO_SITES", () => t.mutation(internal.qbMapping.mapLocation, { code: "BIN-A", qbSite: "Main WH" }));

    await patchCompany(t, { multiLocationEnabled: true });
    at(HOUR);
    await pullLists(t, standardLists());
    const held = await syncAfter(() => stock(t, "WID-1", "BIN-A", 1));
    expect(held.event.qbStatus).toBe("held");
    await expectRejectedWithoutWrites(t, "LOCATION_NOT_FOUND", () => t.mutation(internal.qbMapping.mapLocation, { code: "NOPE", qbSite: "Main WH" }));
    const typo = await expectCode(t.mutation(internal.qbMapping.mapLocation, { code: "BIN-A", qbSite: "Truck" }), "NOT_IN_QUICKBOOKS");
    expect(typo.message).toContain('"Truck 1"');
    at(HOUR + 5000);
    expect(await t.mutation(internal.qbMapping.mapLocation, { code: " BIN-A ", qbSite: "truck 1" })).toEqual({
      listId: "80000002-1",
      fullName: "Truck 1",
      previous: null,
      heldEventsWoken: 1,
    });
    expect(await location("BIN-A")).toMatchObject({ qbSiteListId: "80000002-1", qbSiteFullName: "Truck 1" });
    expect((await mappingChanges(t)).filter((c) => c.changedBy === "deploy-key:map").map((c) => [c.kind, c.key, c.source, c.new])).toEqual([
      ["site", "BIN-A", "qbMapping:mapLocation", { listId: "80000002-1", fullName: "Truck 1" }],
    ]);
    const { events } = await syncRound();
    expect(events.map((e) => [e.eventId, e.site])).toEqual([[held.event._id, { listId: "80000002-1", fullName: "Truck 1" }]]);
  });

  test("mapReason: by ListID or name, logged; unknown code or account refused without writes; wakes held events", async () => {
    await pulled({ ...standardLists(), accounts: [entry("90000001-1", "Inventory Adjustments"), entry("90000005-1", "Damaged Goods")] });
    const held = await syncAfter(() => adjustLines("MAIN", "DAMAGE", [{ sku: "WID-1", quantity: 1 }]));
    expect(held.event.qbStatus).toBe("held"); // "Shrinkage" is not in this list
    await expectRejectedWithoutWrites(t, "REASON_NOT_FOUND", () => t.mutation(internal.qbMapping.mapReason, { code: "NOPE", qbAccount: "Damaged Goods" }));
    await expectRejectedWithoutWrites(t, "NOT_IN_QUICKBOOKS", () => t.mutation(internal.qbMapping.mapReason, { code: "DAMAGE", qbAccount: "Damaged" }));
    expect(await t.mutation(internal.qbMapping.mapReason, { code: "DAMAGE", qbAccount: "90000005-1" })).toEqual({
      listId: "90000005-1",
      fullName: "Damaged Goods",
      previous: "Shrinkage",
      heldEventsWoken: 1,
    });
    expect(await reason("DAMAGE")).toMatchObject({ qbAccountListId: "90000005-1", qbAccountFullName: "Damaged Goods" });
    expect((await mappingChanges(t)).filter((c) => c.changedBy === "deploy-key:map").map((c) => [c.kind, c.key, c.old, c.new])).toEqual([
      ["account", "DAMAGE", { fullName: "Shrinkage" }, { listId: "90000005-1", fullName: "Damaged Goods" }],
    ]);
    const { events } = await syncRound();
    expect(events.map((e) => [e.eventId, e.account])).toEqual([[held.event._id, { listId: "90000005-1", fullName: "Damaged Goods" }]]);
  });
});

// ---- qbMapping: mapItemsAuto --------------------------------------------------------------------------

describe("qbMapping: mapItemsAuto", () => {
  const AUTO_ITEMS = [
    entry("10000001-1", "Widgets:Widget"),
    entry("10000002-1", "Gadget"),
    entry("I-A1", "Cat1:A-1"),
    entry("I-B2X", "X:B-2"),
    entry("I-B2Y", "Y:B-2"),
    entry("I-D4", "D-4"),
    entry("I-E5", "E-5"),
    entry("I-WID", "WID-1"),
  ];

  beforeEach(async () => {
    await t.mutation(internal.parts.upsertBatch, {
      parts: ["A-1", "B-2", "C-3", "D-4", "e-5"].map((sku) => ({ sku, name: sku })),
    });
    await pulled({ ...standardLists(), items: AUTO_ITEMS });
    at(10_000);
  });

  const auto = (args: Partial<{ match: "name" | "fullname"; dryRun: boolean; force: boolean; numItems: number; cursor: string | null }> = {}) =>
    t.mutation(internal.qbMapping.mapItemsAuto, {
      match: args.match ?? "name",
      dryRun: args.dryRun ?? false,
      force: args.force ?? false,
      paginationOpts: { numItems: args.numItems ?? 100, cursor: args.cursor ?? null },
    });

  test("by Name: matched, unmatched, ambiguous (same Name under two parents), already mapped kept", async () => {
    const result = await auto();
    expect(result.matched).toEqual([
      { sku: "A-1", fullNames: ["Cat1:A-1"] },
      { sku: "D-4", fullNames: ["D-4"] },
    ]);
    expect(result.ambiguous).toEqual([{ sku: "B-2", fullNames: expect.arrayContaining(["X:B-2", "Y:B-2"]) }]);
    expect(result.ambiguous[0].fullNames).toHaveLength(2);
    // Exact and case-sensitive: "e-5" is not "E-5".
    expect(result.unmatched.sort()).toEqual(["BOLT-3", "C-3", "e-5"]);
    expect(result.alreadyMapped).toBe(2); // WID-1 and GAD-2
    expect(result.isDone).toBe(true);

    expect(await part("A-1")).toMatchObject({ qbItemListId: "I-A1", qbItemFullName: "Cat1:A-1" });
    expect(await part("D-4")).toMatchObject({ qbItemListId: "I-D4", qbItemFullName: "D-4" });
    expectFields(await part("B-2"), { qbItemListId: undefined, qbItemFullName: undefined });
    expect(await part("WID-1")).toMatchObject({ qbItemListId: "10000001-1", qbItemFullName: "Widgets:Widget" });
    const log = (await mappingChanges(t)).filter((c) => c.changedBy === "deploy-key:map");
    expect(log.map((c) => [c.key, c.source, c.new, c.changedAt])).toEqual([
      ["A-1", "qbMapping:mapItemsAuto (name)", { listId: "I-A1", fullName: "Cat1:A-1" }, T0 + 10_000],
      ["D-4", "qbMapping:mapItemsAuto (name)", { listId: "I-D4", fullName: "D-4" }, T0 + 10_000],
    ]);

    // Run again: what was mapped is now already mapped, and nothing more is written.
    const before = await dumpAll(t);
    const again = await auto();
    expect(again).toMatchObject({ matched: [], alreadyMapped: 4 });
    expect(await dumpAll(t)).toEqual(before);
  });

  test("force remaps an existing mapping that matches; a part that matches nothing keeps its mapping", async () => {
    const result = await auto({ force: true });
    expect(result.alreadyMapped).toBe(0);
    expect(result.matched.map((m) => m.sku)).toEqual(["A-1", "D-4", "WID-1"]);
    expect(result.unmatched).toContain("GAD-2");
    expect(await part("WID-1")).toMatchObject({ qbItemListId: "I-WID", qbItemFullName: "WID-1" });
    expect(await part("GAD-2")).toMatchObject({ qbItemFullName: "Gadget" });
    const widLog = (await mappingChanges(t)).filter((c) => c.key === "WID-1" && c.changedBy === "deploy-key:map");
    expect(widLog.map((c) => [c.changedBy, c.old, c.new])).toEqual([
      ["deploy-key:map", { listId: "10000001-1", fullName: "Widgets:Widget" }, { listId: "I-WID", fullName: "WID-1" }],
    ]);
  });

  test("dryRun reports the same and writes nothing", async () => {
    const before = await dumpAll(t);
    const dry = await auto({ dryRun: true, force: true });
    expect(await dumpAll(t)).toEqual(before);
    const real = await auto({ force: true });
    expect(dry).toEqual(real);
  });

  test('match "fullname" is exact and case-sensitive', async () => {
    const result = await auto({ match: "fullname" });
    expect(result.matched).toEqual([{ sku: "D-4", fullNames: ["D-4"] }]);
    expect(result.unmatched.sort()).toEqual(["A-1", "B-2", "BOLT-3", "C-3", "e-5"]);
    expect(result.ambiguous).toEqual([]);
    expectFields(await part("e-5"), { qbItemListId: undefined });
  });

  test("pages: the cursor walks every part once; the totals are the single-page totals", async () => {
    const totals = { matched: 0, unmatched: 0, ambiguous: 0, alreadyMapped: 0, pages: 0 };
    let cursor: string | null = null;
    for (;;) {
      const page = await auto({ numItems: 3, cursor, dryRun: true });
      totals.matched += page.matched.length;
      totals.unmatched += page.unmatched.length;
      totals.ambiguous += page.ambiguous.length;
      totals.alreadyMapped += page.alreadyMapped;
      totals.pages += 1;
      if (page.isDone) break;
      cursor = page.continueCursor;
    }
    expect(totals).toEqual({ matched: 2, unmatched: 3, ambiguous: 1, alreadyMapped: 2, pages: 3 });
  });

  test("auto-mapping wakes the part's held events", async () => {
    const held = await syncAfter(() => stock(t, "A-1", "MAIN", 1));
    expect(held.event.qbStatus).toBe("held"); // "A-1" is not a FullName, so the check cannot resolve it
    at(20_000);
    await auto();
    expect((await getEvent(t, held.event._id)).nextAttemptAt).toBe(T0 + 20_000);
    const { events } = await syncRound();
    expect(events.map((e) => [e.eventId, e.lines[0].item.listId])).toEqual([[held.event._id, "I-A1"]]);
  });

  test("an inactive QuickBooks item is never auto-mapped (mapItem refuses it too)", async () => {
    at(HOUR);
    await t.mutation(internal.parts.upsertBatch, { parts: [{ sku: "F-6" }] });
    await pullLists(t, { ...standardLists(), items: [...AUTO_ITEMS, entry("I-F6", "F-6", { isActive: false })] });
    const result = await auto();
    expect(result.matched.map((m) => m.sku)).not.toContain("F-6");
    expectFields(await part("F-6"), { qbItemListId: undefined, qbItemFullName: undefined });
  });
});

// ---- listUnmapped, requestListRefresh, getCompany -----------------------------------------------------

describe("qbMapping: listUnmapped", () => {
  test("held events grouped by what they wait for, with counts and names (SKU, location code, reason code)", async () => {
    await patchCompany(t, { multiLocationEnabled: true });
    await pulled({ ...standardLists(), accounts: [entry("90000001-1", "Inventory Adjustments")] });
    const [bolt, binA, damage] = [
      await idOf("inventory_parts", "BOLT-3"),
      await idOf("inventory_locations", "BIN-A"),
      await idOf("inventory_reason_accounts", "DAMAGE"),
    ];
    await syncAfter(() => stock(t, "BOLT-3", "MAIN", 1));
    await syncAfter(() => stock(t, "BOLT-3", "TRUCK", 1));
    await syncAfter(() => stock(t, "WID-1", "BIN-A", 1));
    await syncAfter(() => adjustLines("MAIN", "DAMAGE", [{ sku: "BOLT-3", quantity: 1 }]));

    const result = await t.query(internal.qbMapping.listUnmapped, { paginationOpts: { numItems: 100, cursor: null } });
    expect(result.isDone).toBe(true);
    const rows = Object.fromEntries(result.rows.map((r) => [r.key, [r.kind, r.name, r.events]]));
    expect(rows).toEqual({
      [`item:${bolt}`]: ["part", "BOLT-3", 3],
      [`site:${binA}`]: ["location", "BIN-A", 1],
      [`account:${damage}`]: ["reason", "DAMAGE", 1],
    });
    for (const row of result.rows) expect(row.reason).toMatch(/^Waiting for a mapping: /);
  });

  test("conflict holds are left out", async () => {
    await pulled();
    const held = await syncAfter(() => stock(t, "BOLT-3", "MAIN", 1));
    await t.run(async (ctx) => ctx.db.patch(held.event._id, { holdKind: "conflict", qbLookupRequired: true, nextAttemptAt: NEVER }));
    const result = await t.query(internal.qbMapping.listUnmapped, { paginationOpts: { numItems: 100, cursor: null } });
    expect(result.rows).toEqual([]);
  });
});

describe("qbMapping: requestListRefresh and getCompany", () => {
  test("requestListRefresh with no company yet: nothing to mark", async () => {
    await t.run(async (ctx) => {
      for (const c of await ctx.db.query("qb_companies").collect()) await ctx.db.delete(c._id);
    });
    expect(await t.mutation(internal.qbMapping.requestListRefresh, {})).toEqual({ companyFile: null, requestedAt: T0 });
    expect(await t.query(internal.qbMapping.getCompany, {})).toBeNull();
  });

  test("requestListRefresh makes the lists due: authenticate opens with nothing pending and the first read is AccountQuery", async () => {
    await pulled();
    expect(await authenticate("rq-0")).toEqual({ status: "none" });
    at(HOUR);
    expect(await t.mutation(internal.qbMapping.requestListRefresh, {})).toEqual({ companyFile: "", requestedAt: T0 + HOUR });
    expect((await t.query(internal.qbMapping.getCompany, {}))?.refreshRequested).toBe(true);
    expect(await authenticate("rq-1")).toMatchObject({ status: "open" });
    const result = await t.mutation(internal.qbSessions.nextMessage, { ticketHash: "rq-1", callId: "rq-send", limit: 5 });
    expect(result).toMatchObject({ status: "events", events: [], queries: [{ kind: "AccountQuery" }] });
  });

  test("getCompany: capabilities, lists, pull in progress and its error", async () => {
    await t.run(async (ctx) => {
      const c = (await ctx.db.query("qb_companies").first())!;
      await ctx.db.patch(c._id, {
        companyFile: "C:\\Books\\Acme.QBW",
        productName: "QuickBooks Enterprise Solutions 24.0",
        majorVersion: 34,
        minorVersion: 1,
        supportedQbxmlVersions: ["13.0", "16.0"],
        fileMode: "MultiUser",
        companyName: "Acme",
        multiLocationAvailable: true,
        multiLocationEnabled: true,
        hostReadAt: T0 - 10,
        preferencesReadAt: T0 - 5,
      });
    });
    await pulled();
    // The fields issue 11 added (later issues add more; those are theirs to pin).
    expect(await t.query(internal.qbMapping.getCompany, {})).toMatchObject({
      companyFile: "C:\\Books\\Acme.QBW",
      companyName: "Acme",
      productName: "QuickBooks Enterprise Solutions 24.0",
      version: "34.1",
      supportedQbxmlVersions: ["13.0", "16.0"],
      fileMode: "MultiUser",
      multiLocationAvailable: true,
      multiLocationEnabled: true,
      capabilitiesReadAt: T0 - 5,
      listsPulledAt: T0 + 1000,
      listCounts: { items: 3, sites: 2, accounts: 2 },
      pullInProgress: null,
      pullError: null,
      refreshRequested: false,
    });

    at(HOUR);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    await authenticate("gc-1");
    const first = await t.mutation(internal.qbSessions.nextMessage, { ticketHash: "gc-1", callId: "gc-send", limit: 5 });
    if (first.status !== "events") throw new Error(first.status);
    expect(await t.query(internal.qbMapping.getCompany, {})).toMatchObject({
      pullInProgress: { step: "AccountQuery", entries: 0, startedAt: T0 + HOUR },
      refreshRequested: true,
      listsPulledAt: T0 + 1000,
    });
    await answer(t, "gc-1", [{ requestId: first.queries[0].requestId, outcome: { kind: "permanent", message: "nope" } }]);
    expect(await t.query(internal.qbMapping.getCompany, {})).toMatchObject({
      pullInProgress: null,
      pullError: "QuickBooks refused AccountQuery: nope",
      listCounts: { items: 3, sites: 2, accounts: 2 },
    });
  });

  test("getCompany before anything was read: nulls and empty lists", async () => {
    await t.run(async (ctx) => {
      for (const c of await ctx.db.query("qb_companies").collect()) await ctx.db.delete(c._id);
      await ctx.db.insert("qb_companies", { companyFile: "", lastSeenAt: 0 });
    });
    expect(await t.query(internal.qbMapping.getCompany, {})).toMatchObject({
      companyFile: "",
      companyName: null,
      productName: null,
      version: null,
      supportedQbxmlVersions: [],
      fileMode: null,
      multiLocationAvailable: null,
      multiLocationEnabled: null,
      capabilitiesReadAt: null,
      listsPulledAt: null,
      listCounts: null,
      pullInProgress: null,
      pullError: null,
      refreshRequested: false,
    });
  });
});
