/**
 * Reading QuickBooks back (issue 11), through the seam the bridge calls:
 * capabilities (HCP facts or HostQuery / PreferencesQuery reads), what
 * multi-location inventory on / off / unknown means for what is sent, list
 * pulls in generations with qbXML iterators, pruning, listsDue, and renames
 * followed by ListID.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { api, internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { type Company as CompanyDoc, listsDue, pruneLists } from "../../convex/lib/company";
import {
  DEFAULT_LIST_MAX_AGE_MS,
  DEFAULT_SESSION_TTL_MS,
  LIST_PAGE_SIZE,
  LIST_PRUNE_BATCH,
  MAPPING_RECHECK_MS,
  PULL_RETRY_MS,
} from "../../convex/lib/constants";
import type { CompanyFact } from "../../convex/lib/contract";
import { NO_SITES_REASON } from "../../convex/lib/mapping";
import {
  FakeQuickBooks,
  authenticateOpen,
  closeSession,
  company,
  entry,
  expectFields,
  listRows,
  mappingChanges,
  nextMessageRaw,
  nextQueries,
  patchCompany,
  pullLists,
  standardLists,
} from "./lists.support";
import {
  type T,
  actualQbStatusCounts,
  allApplied,
  answer,
  asEmployee,
  expectCode,
  getEvent,
  getSession,
  knownCompany,
  newTest,
  openSession,
  seedWorld,
  sendNext,
  stock,
} from "./setup";

const T0 = new Date("2025-12-01T09:00:00Z").getTime();
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

const HOST: CompanyFact = {
  kind: "host",
  productName: "Intuit QuickBooks Pro 2014",
  majorVersion: 24,
  minorVersion: 0,
  country: "US",
  supportedQbxmlVersions: ["1.0", "2.0", "12.0", "13.0"],
  fileMode: "SingleUser",
};
const COMPANY: CompanyFact = { kind: "company", companyName: "Acme Widgets LLC" };
const PREFS_OFF: CompanyFact = { kind: "preferences", multiLocationAvailable: false, multiLocationEnabled: false };
const PREFS_ON: CompanyFact = { kind: "preferences", multiLocationAvailable: true, multiLocationEnabled: true };

const authenticate = (ticketHash: string, companyFile?: string) =>
  t.mutation(internal.qbSessions.authenticate, { ticketHash, userName: "qbwc", ttlMs: DEFAULT_SESSION_TTL_MS, companyFile });
const companies = () => t.run(async (ctx) => await ctx.db.query("qb_companies").collect());
/** No company read yet: the world as it is before the first QBWC session. */
const forgetCompanies = () =>
  t.run(async (ctx) => {
    for (const c of await ctx.db.query("qb_companies").collect()) await ctx.db.delete(c._id);
  });

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

const transfer = (sku: string, quantity: number, fromLocation: string, toLocation: string) =>
  asEmployee(t).mutation(api.inventory.createTransferEvent, { sku, quantity, fromLocation, toLocation });

// ---- capabilities ---------------------------------------------------------------------------

describe("capabilities", () => {
  test("an unknown company file: authenticate opens even with nothing due, and the first message is HostQuery + PreferencesQuery, no event", async () => {
    await forgetCompanies();
    expect(await authenticate("cap-0")).toMatchObject({ status: "open" });
    await closeSession(t, "cap-0");

    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    await authenticateOpen(t, "cap-1");
    const first = await nextMessageRaw(t, "cap-1");
    if (first.status !== "events") throw new Error(first.status);
    expect(first.events).toEqual([]);
    expect(first.queries.map((q) => q.kind)).toEqual(["HostQuery", "PreferencesQuery"]);
    expect(first.queries[0].requestId).toMatch(/^host:/);
    expect(first.queries[1].requestId).toMatch(/^prefs:/);
    for (const q of first.queries) expect(q).not.toHaveProperty("iterator");
    expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "pending", claimCount: 0 });
    // The company file QBWC did not name ("" = the one open in QuickBooks) now has its row.
    expect((await companies()).map((c) => [c.companyFile, c.lastSeenAt, c.hostReadAt])).toEqual([["", T0, undefined]]);

    const receipt = await answer(t, "cap-1", [
      { requestId: first.queries[0].requestId, outcome: HOST },
      { requestId: first.queries[1].requestId, outcome: PREFS_OFF },
    ]);
    expect(receipt).toMatchObject({ status: "ok", results: [] });
    if (receipt.status === "ok") expect(receipt.percent).toBeLessThan(100);
    expect(await company(t)).toMatchObject({
      productName: "Intuit QuickBooks Pro 2014",
      majorVersion: 24,
      minorVersion: 0,
      country: "US",
      supportedQbxmlVersions: ["1.0", "2.0", "12.0", "13.0"],
      fileMode: "SingleUser",
      hostReadAt: T0,
      multiLocationAvailable: false,
      multiLocationEnabled: false,
      preferencesReadAt: T0,
    });

    // Lists were never pulled and the default max age applies: they come next, still before any event.
    const second = await nextQueries(t, "cap-1");
    expect(second.map((q) => q.kind)).toEqual(["AccountQuery"]);
    expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "pending", claimCount: 0 });
  });

  test("capabilities are asked once: answered, the next message asks neither again", async () => {
    await forgetCompanies();
    await stock(t, "WID-1", "MAIN", 5);
    await authenticateOpen(t, "cap-1");
    const [host, prefs] = await nextQueries(t, "cap-1");
    await answer(t, "cap-1", [
      { requestId: host.requestId, outcome: HOST },
      { requestId: prefs.requestId, outcome: PREFS_ON },
    ]);
    const next = await nextMessageRaw(t, "cap-1", { listMaxAgeMs: 0 });
    expect(next).toMatchObject({ status: "events", queries: [] });
    if (next.status === "events") expect(next.events.map((e) => [e.type, e.site])).toEqual([["adjustment", { listId: "80000001-1", fullName: "Main WH" }]]);
  });

  test("HCP facts passed to nextMessage make both reads unnecessary; with listMaxAgeMs 0 the first message carries events", async () => {
    await forgetCompanies();
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    await authenticateOpen(t, "hcp-1");
    const result = await nextMessageRaw(t, "hcp-1", { hcp: [HOST, COMPANY, PREFS_OFF], listMaxAgeMs: 0 });
    if (result.status !== "events") throw new Error(result.status);
    expect(result.queries).toEqual([]);
    expect(result.events.map((e) => [e.eventId, e.site])).toEqual([[eventId, null]]);
    expect(await company(t)).toMatchObject({
      companyName: "Acme Widgets LLC",
      productName: "Intuit QuickBooks Pro 2014",
      hostReadAt: T0,
      preferencesReadAt: T0,
      multiLocationEnabled: false,
      listMaxAgeMs: 0,
    });
  });

  test("HCP with the host facts only: only PreferencesQuery is asked", async () => {
    await forgetCompanies();
    await stock(t, "WID-1", "MAIN", 5);
    await authenticateOpen(t, "hcp-2");
    const result = await nextMessageRaw(t, "hcp-2", { hcp: [HOST], listMaxAgeMs: 0 });
    expect(result).toMatchObject({ status: "events", events: [] });
    if (result.status === "events") expect(result.queries.map((q) => q.kind)).toEqual(["PreferencesQuery"]);
    expectFields(await company(t), { hostReadAt: T0, preferencesReadAt: undefined });
  });

  test("HCP facts of a later session replace what was known (multi-location turned on)", async () => {
    await patchCompany(t, { multiLocationEnabled: false, multiLocationAvailable: false });
    await stock(t, "WID-1", "BIN-A", 5);
    await authenticateOpen(t, "hcp-3");
    at(1000);
    const result = await nextMessageRaw(t, "hcp-3", { hcp: [PREFS_ON] });
    expect(await company(t)).toMatchObject({ multiLocationEnabled: true, multiLocationAvailable: true, preferencesReadAt: T0 + 1000 });
    // And it counts at once: BIN-A has no site, so the adjustment is held rather than sent.
    expect(result).toMatchObject({ status: "nothing" });
  });

  test("a refused PreferencesQuery does not make the bridge ask forever: the company goes on as unknown", async () => {
    await forgetCompanies();
    await stock(t, "WID-1", "MAIN", 5);
    await authenticateOpen(t, "cap-f");
    const [host, prefs] = await nextQueries(t, "cap-f");
    at(500);
    await answer(t, "cap-f", [
      { requestId: host.requestId, outcome: HOST },
      { requestId: prefs.requestId, outcome: { kind: "permanent", message: "Feature not supported", statusCode: "0x80040400" } },
    ]);
    expectFields(await company(t), { preferencesReadAt: T0 + 500, multiLocationEnabled: undefined });
    const next = await nextMessageRaw(t, "cap-f", { listMaxAgeMs: 0 });
    if (next.status !== "events") throw new Error(next.status);
    expect(next.queries).toEqual([]);
    // Unknown: sites go as mapped.
    expect(next.events.map((e) => e.site)).toEqual([{ listId: "80000001-1", fullName: "Main WH" }]);
  });

  test("a failed HostQuery (retryable) is not asked again either", async () => {
    await forgetCompanies();
    await authenticateOpen(t, "cap-h");
    const [host, prefs] = await nextQueries(t, "cap-h");
    await answer(t, "cap-h", [
      { requestId: host.requestId, outcome: { kind: "retryable", message: "QuickBooks busy" } },
      { requestId: prefs.requestId, outcome: PREFS_OFF },
    ]);
    expectFields(await company(t), { hostReadAt: T0, productName: undefined, multiLocationEnabled: false });
    const next = await nextMessageRaw(t, "cap-h", { listMaxAgeMs: 0 });
    expect(next).toMatchObject({ status: "nothing" });
  });

  test("a capability read the bridge refuses to render counts as answered (refuse), and leaves the other outstanding", async () => {
    await forgetCompanies();
    const sessionId = await authenticateOpen(t, "cap-r");
    const [host, prefs] = await nextQueries(t, "cap-r");
    await t.mutation(internal.qbSessions.refuse, { ticketHash: "cap-r", refusals: [{ claimToken: prefs.requestId, reason: "cannot render" }] });
    expectFields(await company(t), { preferencesReadAt: T0, hostReadAt: undefined });
    expect((await getSession(t, sessionId)).outstanding?.requestIds).toEqual([host.requestId]);
    expect(await answer(t, "cap-r", [{ requestId: host.requestId, outcome: HOST }])).toMatchObject({ status: "ok" });
    expect(await company(t)).toMatchObject({ hostReadAt: T0 });
  });

  test("a read answered with nothing for it is asked again in the next message", async () => {
    await forgetCompanies();
    await authenticateOpen(t, "cap-s");
    const [host] = await nextQueries(t, "cap-s");
    await answer(t, "cap-s", [{ requestId: host.requestId, outcome: HOST }]);
    const again = await nextQueries(t, "cap-s");
    expect(again.map((q) => q.kind)).toEqual(["PreferencesQuery"]);
  });

  test("an empty companyFile means the company seen last; no new company row", async () => {
    const other = await knownCompany(t, { companyFile: "C:\\Books\\A.QBW", multiLocation: false });
    await t.run(async (ctx) => await ctx.db.patch(other, { lastSeenAt: T0 - 5000 }));
    await stock(t, "WID-1", "MAIN", 5);
    const { eventId } = await transfer("WID-1", 2, "MAIN", "TRUCK");
    await authenticateOpen(t, "empty-1");
    const result = await nextMessageRaw(t, "empty-1", { companyFile: "" });
    if (result.status !== "events") throw new Error(result.status);
    // A.QBW's facts apply: multi-location off, so no site and the transfer is not required.
    expect(result.queries).toEqual([]);
    expect(result.events.map((e) => [e.type, e.site])).toEqual([["adjustment", null]]);
    expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "not_required" });
    expect((await companies()).map((c) => c.companyFile).sort()).toEqual(["", "C:\\Books\\A.QBW"]);
  });

  test("a company file named for the first time gets its own row and its own capability reads", async () => {
    await stock(t, "WID-1", "MAIN", 5);
    await authenticateOpen(t, "named-1");
    at(2000);
    const result = await nextMessageRaw(t, "named-1", { companyFile: "C:\\Books\\B.QBW" });
    expect(result).toMatchObject({ status: "events", events: [] });
    if (result.status === "events") expect(result.queries.map((q) => q.kind)).toEqual(["HostQuery", "PreferencesQuery"]);
    const rows = await companies();
    expectFields(rows.find((c) => c.companyFile === "C:\\Books\\B.QBW"), { lastSeenAt: T0 + 2000, hostReadAt: undefined });
    expect((await company(t)).companyFile).toBe("C:\\Books\\B.QBW");
  });
});

// ---- multi-location inventory ------------------------------------------------------------

describe("multi-location inventory OFF", () => {
  beforeEach(async () => {
    await patchCompany(t, { multiLocationEnabled: false, multiLocationAvailable: false });
  });

  test("a pending transfer becomes not_required at claim, with the reason, and is never sent", async () => {
    await stock(t, "WID-1", "MAIN", 5);
    const { eventId, qbStatus } = await transfer("WID-1", 2, "MAIN", "TRUCK");
    expect(qbStatus).toBe("pending");
    const sessionId = await openSession(t, "off-1");
    const events = await sendNext(t, "off-1", 10);
    expect(events.map((e) => e.type)).toEqual(["adjustment"]);
    expectFields(await getEvent(t, eventId), {
      qbStatus: "not_required",
      lastError: NO_SITES_REASON,
      retryCount: 0,
      claimCount: 0,
      holdKind: undefined,
    });
    const counts = (await t.query(internal.qbQueue.getQueueStatus, {})).counts;
    expect(counts).toMatchObject({ not_required: 1, in_flight: 1, pending: 0, held: 0 });
    expect(await actualQbStatusCounts(t)).toEqual({ not_required: 1, in_flight: 1 });
    await answer(t, "off-1", allApplied(events));
    expect(await getSession(t, sessionId)).toMatchObject({ claimed: 1, applied: 1, held: 0, dead: 0 });
  });

  test("an adjustment at a location with a site is sent with site, fromSite and toSite null", async () => {
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    await openSession(t, "off-2");
    const [payload] = await sendNext(t, "off-2", 10);
    expect(payload).toMatchObject({
      eventId,
      type: "adjustment",
      locationCode: "MAIN",
      site: null,
      fromSite: null,
      toSite: null,
      account: { listId: "90000001-1", fullName: "Inventory Adjustments" },
      lines: [{ sku: "WID-1", item: { listId: "10000001-1", fullName: "Widgets:Widget" }, quantity: 5 }],
    });
    // getNextPendingQbEvent (the payload built without a company passed in) agrees.
    await stock(t, "WID-1", "TRUCK", 1);
    expect(await t.query(internal.qbQueue.getNextPendingQbEvent, {})).toMatchObject({ locationCode: "TRUCK", site: null });
  });

  test("nothing is held for sites: a location without a site is fine", async () => {
    await stock(t, "WID-1", "BIN-A", 5);
    const { eventId: toMain } = await transfer("WID-1", 2, "BIN-A", "MAIN");
    await openSession(t, "off-3");
    const events = await sendNext(t, "off-3", 10);
    expect(events.map((e) => [e.type, e.locationCode, e.site])).toEqual([["adjustment", "BIN-A", null]]);
    expect(await getEvent(t, toMain)).toMatchObject({ qbStatus: "not_required" });
    expect((await actualQbStatusCounts(t)).held).toBeUndefined();
  });
});

describe("multi-location inventory ON", () => {
  beforeEach(async () => {
    await patchCompany(t, { multiLocationEnabled: true, multiLocationAvailable: true });
  });

  test("an adjustment at a location without a site is held for mapping: key site:<id>, no retry used, never sent", async () => {
    const binA = await idOf("inventory_locations", "BIN-A");
    const { eventId } = await stock(t, "WID-1", "BIN-A", 5);
    const sessionId = await openSession(t, "on-1");
    expect(await sendNext(t, "on-1", 10)).toEqual([]);
    const event = await getEvent(t, eventId);
    expect(event).toMatchObject({
      qbStatus: "held",
      holdKind: "mapping",
      holdKeys: [`site:${binA}`],
      retryCount: 0,
      claimCount: 0,
      nextAttemptAt: T0 + MAPPING_RECHECK_MS,
    });
    expect(event.holdReason).toContain("location BIN-A has no QuickBooks site mapped");
    expect(event.lastError).toBe(event.holdReason);
    expect(await getSession(t, sessionId)).toMatchObject({ held: 1, claimed: 0 });
    const status = await t.query(internal.qbQueue.getQueueStatus, {});
    expect(status.counts).toMatchObject({ held: 1, pending: 0 });
    expect(status.held.map((e) => [e.eventId, e.holdReason])).toEqual([[eventId, event.holdReason]]);
    // Not claimed again before its recheck.
    at(MAPPING_RECHECK_MS - 1);
    expect(await sendNext(t, "on-1", 10)).toEqual([]);
    expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "held", retryCount: 0, claimCount: 0 });
  });

  test("a transfer from a location without a site is held on that location only; mapped ones are sent with their sites", async () => {
    const binA = await idOf("inventory_locations", "BIN-A");
    await stock(t, "WID-1", "BIN-A", 5);
    await stock(t, "WID-1", "MAIN", 5);
    const held = await transfer("WID-1", 2, "BIN-A", "MAIN");
    const sent = await transfer("WID-1", 1, "MAIN", "TRUCK");
    await openSession(t, "on-2");
    const events = await sendNext(t, "on-2", 10);
    expect(events.map((e) => [e.type, e.site, e.fromSite, e.toSite])).toEqual([
      ["adjustment", { listId: "80000001-1", fullName: "Main WH" }, null, null],
      ["transfer", null, { listId: "80000001-1", fullName: "Main WH" }, { listId: "80000002-1", fullName: "Truck 1" }],
    ]);
    expect(events[1].eventId).toBe(sent.eventId);
    expect(await getEvent(t, held.eventId)).toMatchObject({ qbStatus: "held", holdKind: "mapping", holdKeys: [`site:${binA}`] });
  });
});

describe("multi-location inventory unknown (null)", () => {
  test("as before: sites go as mapped, a location without one goes without, nothing is held", async () => {
    await stock(t, "WID-1", "MAIN", 5);
    await stock(t, "WID-1", "BIN-A", 5);
    await transfer("WID-1", 1, "MAIN", "TRUCK");
    await openSession(t, "unk-1");
    const events = await sendNext(t, "unk-1", 10);
    expect(events.map((e) => [e.type, e.site, e.fromSite, e.toSite])).toEqual([
      ["adjustment", { listId: "80000001-1", fullName: "Main WH" }, null, null],
      ["adjustment", null, null, null],
      ["transfer", null, { listId: "80000001-1", fullName: "Main WH" }, { listId: "80000002-1", fullName: "Truck 1" }],
    ]);
    expect((await actualQbStatusCounts(t)).held).toBeUndefined();
  });
});

// ---- list pull ------------------------------------------------------------------------------------

const fiveItems = () => [
  entry("I-1", "Widgets:W-1", { quantityOnHand: 1 }),
  entry("I-2", "Widgets:W-2", { quantityOnHand: 2 }),
  entry("I-3", "Widgets:W-3", { quantityOnHand: 3 }),
  entry("I-4", "W-4", { quantityOnHand: 4, isActive: false }),
  entry("I-5", "W-5", { quantityOnHand: 5 }),
];

describe("list pull", () => {
  test("steps, iterators, reads before events, and the new generation replacing nothing until the last step (multi-location on)", async () => {
    await patchCompany(t, { multiLocationEnabled: true });
    // Lists are not due (listMaxAgeMs 0) and nothing is pending: nothing to do.
    expect(await authenticate("p-0")).toEqual({ status: "none" });
    at(1000);
    expect(await t.mutation(internal.qbMapping.requestListRefresh, {})).toEqual({ companyFile: "", requestedAt: T0 + 1000 });
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    // WID-1's item (10000001-1) and Gadget, then five more: 7 items, 4 pages of 2.
    const qb = new FakeQuickBooks({ ...standardLists(), items: [...standardLists().items, ...fiveItems()] }, 2);
    const sessionId = await authenticateOpen(t, "p-1");

    const ask = async (expected: { kind: string; id: RegExp; iterator?: "Start" | "Continue"; iteratorId?: string }) => {
      const queries = await nextQueries(t, "p-1");
      expect(queries).toHaveLength(1);
      const [q] = queries;
      expect(q.kind).toBe(expected.kind);
      expect(q.requestId).toMatch(expected.id);
      if (expected.iterator === undefined) {
        expect(q.iterator).toBeUndefined();
        expect(q.maxReturned).toBeUndefined();
      } else {
        expect(q.iterator).toBe(expected.iterator);
        expect(q.maxReturned).toBe(LIST_PAGE_SIZE);
      }
      expect(q.iteratorId).toBe(expected.iteratorId);
      expect((await getEvent(t, eventId)).qbStatus).toBe("pending");
      return await answer(t, "p-1", [{ requestId: q.requestId, outcome: qb.answerOf(q) }]);
    };

    await ask({ kind: "AccountQuery", id: /^list:1\.0\.0:/ });
    expect((await company(t)).pull).toMatchObject({
      generation: 1,
      startedAt: T0 + 1000,
      steps: ["AccountQuery", "InventorySiteQuery", "ItemInventoryQuery", "ItemInventoryAssemblyQuery"],
      step: 1,
      page: 0,
      entries: 2,
      sessionId,
    });
    await ask({ kind: "InventorySiteQuery", id: /^list:1\.1\.0:/ });
    await ask({ kind: "ItemInventoryQuery", id: /^list:1\.2\.0:/, iterator: "Start" });
    expect((await company(t)).pull).toMatchObject({ step: 2, page: 1, iteratorId: "{ITER-1}", entries: 6 });
    await ask({ kind: "ItemInventoryQuery", id: /^list:1\.2\.1:/, iterator: "Continue", iteratorId: "{ITER-1}" });
    await ask({ kind: "ItemInventoryQuery", id: /^list:1\.2\.2:/, iterator: "Continue", iteratorId: "{ITER-1}" });
    await ask({ kind: "ItemInventoryQuery", id: /^list:1\.2\.3:/, iterator: "Continue", iteratorId: "{ITER-1}" });
    // Before the last step completes, the old (absent) lists are what every check reads.
    const midway = await company(t);
    expectFields(midway, { listsGeneration: undefined, listsPulledAt: undefined, listCounts: undefined });
    expectFields(midway.pull, { step: 3, page: 0, iteratorId: undefined, entries: 11 });
    at(2000);
    const last = await ask({ kind: "ItemInventoryAssemblyQuery", id: /^list:1\.3\.0:/, iterator: "Start" });
    // Only the event is left now.
    expect(last).toMatchObject({ status: "ok" });

    const done = await company(t);
    expectFields(done, {
      listsGeneration: 1,
      listsPulledAt: T0 + 2000,
      listCounts: { items: 8, sites: 2, accounts: 2 },
      pull: undefined,
      pullError: undefined,
    });
    const items = await listRows(t, "items");
    expect(items.map((r) => [r.listId, r.itemType, r.isActive, r.quantityOnHand]).sort()).toEqual([
      ["10000001-1", "inventory", true, 12],
      ["10000002-1", "inventory", true, 3],
      ["20000001-1", "assembly", true, 1],
      ["I-1", "inventory", true, 1],
      ["I-2", "inventory", true, 2],
      ["I-3", "inventory", true, 3],
      ["I-4", "inventory", false, 4],
      ["I-5", "inventory", true, 5],
    ]);
    expect(items.find((r) => r.listId === "I-1")).toMatchObject({ name: "W-1", fullName: "Widgets:W-1", fullNameKey: "widgets:w-1", generation: 1 });
    expect((await listRows(t, "accounts")).map((r) => [r.fullName, r.accountType])).toEqual([
      ["Inventory Adjustments", "CostOfGoodsSold"],
      ["Shrinkage", "Expense"],
    ]);
    expect((await t.query(internal.qbMapping.getCompany, {}))?.refreshRequested).toBe(false);

    // Now the event goes out.
    const next = await nextMessageRaw(t, "p-1");
    expect(next).toMatchObject({ status: "events", queries: [] });
    if (next.status === "events") expect(next.events.map((e) => e.eventId)).toEqual([eventId]);
  });

  test("percent stays below 100 while list pages remain and reaches 100 with the last page when nothing else is due", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    const qb = new FakeQuickBooks({ ...standardLists(), items: fiveItems() }, 2);
    await authenticateOpen(t, "pct");
    const percents: number[] = [];
    for (;;) {
      const [q] = await nextQueries(t, "pct");
      const receipt = await answer(t, "pct", [{ requestId: q.requestId, outcome: qb.answerOf(q) }]);
      if (receipt.status !== "ok") throw new Error(receipt.status);
      percents.push(receipt.percent);
      if ((await company(t)).pull === undefined) break;
    }
    expect(percents.at(-1)).toBe(100);
    expect(percents.slice(0, -1).every((p) => p < 100)).toBe(true);
    expect(percents).toHaveLength(1 + 3 + 1); // accounts, 3 item pages, assemblies
  });

  test.each([
    ["off", false],
    ["unknown", undefined],
  ] as const)("multi-location %s: no InventorySiteQuery step", async (_label, ml) => {
    await patchCompany(t, { multiLocationEnabled: ml });
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    const { asked } = await pullLists(t, standardLists(), { request: false });
    expect([...new Set(asked.map((q) => q.kind))]).toEqual(["AccountQuery", "ItemInventoryQuery", "ItemInventoryAssemblyQuery"]);
    expect((await company(t)).listCounts).toEqual({ items: 3, sites: 0, accounts: 2 });
  });

  test("an answer for a different list than the step asks for changes nothing; the step is asked again", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    await authenticateOpen(t, "wrong");
    const [q] = await nextQueries(t, "wrong");
    expect(q.kind).toBe("AccountQuery");
    await answer(t, "wrong", [{ requestId: q.requestId, outcome: { kind: "listPage", list: "items", entries: fiveItems(), remaining: 0 } }]);
    expect((await company(t)).pull).toMatchObject({ step: 0, entries: 0 });
    expect(await listRows(t, "items", 1)).toEqual([]);
    const [again] = await nextQueries(t, "wrong");
    expect(again.kind).toBe("AccountQuery");
  });

  test("until the last step completes, mapping checks read the old generation", async () => {
    at(1000);
    await pullLists(t, standardLists());
    const before = await company(t);
    expect(before).toMatchObject({ listsGeneration: 1, listCounts: { items: 3, sites: 0, accounts: 2 } });

    at(HOUR);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    const qb = new FakeQuickBooks({ ...standardLists(), items: [...standardLists().items, entry("I-BOLT", "Hardware:Bolt 3")] }, 2);
    await authenticateOpen(t, "gen-2");
    for (let i = 0; i < 2; i++) {
      const [q] = await nextQueries(t, "gen-2");
      await answer(t, "gen-2", [{ requestId: q.requestId, outcome: qb.answerOf(q) }]);
    }
    // Accounts and the first item page (with the new item) are in generation 2; generation 1 is still current.
    expect(await listRows(t, "items", 2)).toHaveLength(2);
    await expectCode(t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "Hardware:Bolt 3" }), "NOT_IN_QUICKBOOKS");
    const during = await t.query(internal.qbMapping.getCompany, {});
    expect(during).toMatchObject({
      listsPulledAt: T0 + 1000,
      listCounts: { items: 3, sites: 0, accounts: 2 },
      pullInProgress: { step: "ItemInventoryQuery", entries: 4, startedAt: T0 + HOUR },
    });

    for (;;) {
      const [q] = await nextQueries(t, "gen-2");
      await answer(t, "gen-2", [{ requestId: q.requestId, outcome: qb.answerOf(q) }]);
      if ((await company(t)).pull === undefined) break;
    }
    expect(await company(t)).toMatchObject({ listsGeneration: 2, listsPulledAt: T0 + HOUR, listCounts: { items: 4, sites: 0, accounts: 2 } });
    expect(await t.mutation(internal.qbMapping.mapItem, { sku: "BOLT-3", qbItem: "hardware:bolt 3" })).toMatchObject({
      listId: "I-BOLT",
      fullName: "Hardware:Bolt 3",
    });
  });

  test("a new session restarts the current list from Start (the iterator died with the connection); earlier steps are kept; no duplicates", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    const qb = new FakeQuickBooks({ ...standardLists(), items: fiveItems() }, 2);
    await authenticateOpen(t, "r-1");
    for (let i = 0; i < 3; i++) {
      const [q] = await nextQueries(t, "r-1");
      await answer(t, "r-1", [{ requestId: q.requestId, outcome: qb.answerOf(q) }]);
    }
    expect((await company(t)).pull).toMatchObject({ step: 1, page: 2, iteratorId: "{ITER-1}", entries: 6 });
    await closeSession(t, "r-1");
    qb.closeConnection();

    at(2000);
    const s2 = await authenticateOpen(t, "r-2");
    const [q] = await nextQueries(t, "r-2");
    expect(q).toMatchObject({ kind: "ItemInventoryQuery", iterator: "Start", maxReturned: LIST_PAGE_SIZE });
    expect(q.iteratorId).toBeUndefined();
    expect(q.requestId).toMatch(/^list:1\.1\.0:/);
    expectFields((await company(t)).pull, { generation: 1, step: 1, page: 0, iteratorId: undefined, sessionId: s2 });
    // The first pages come again: upserted, not duplicated.
    await answer(t, "r-2", [{ requestId: q.requestId, outcome: qb.answerOf(q) }]);
    for (;;) {
      const [next] = await nextQueries(t, "r-2");
      expect(next.kind).not.toBe("AccountQuery");
      await answer(t, "r-2", [{ requestId: next.requestId, outcome: qb.answerOf(next) }]);
      if ((await company(t)).pull === undefined) break;
    }
    const items = await listRows(t, "items");
    expect(items.map((r) => r.listId).sort()).toEqual(["20000001-1", "I-1", "I-2", "I-3", "I-4", "I-5"]);
    expect((await company(t)).listCounts).toEqual({ items: 6, sites: 0, accounts: 2 });
  });

  test("a repeated page (same entries again) adds no rows and updates the entries", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    await authenticateOpen(t, "rep");
    const [accounts] = await nextQueries(t, "rep");
    await answer(t, "rep", [{ requestId: accounts.requestId, outcome: { kind: "listPage", list: "accounts", entries: standardLists().accounts, remaining: 0 } }]);
    const page = (qoh: number) => ({ kind: "listPage" as const, list: "items" as const, entries: [entry("I-1", "W-1", { quantityOnHand: qoh })], iteratorId: "IT", remaining: 3 });
    const [first] = await nextQueries(t, "rep");
    await answer(t, "rep", [{ requestId: first.requestId, outcome: page(1) }]);
    const [second] = await nextQueries(t, "rep");
    expect(second).toMatchObject({ iterator: "Continue", iteratorId: "IT" });
    await answer(t, "rep", [{ requestId: second.requestId, outcome: page(7) }]);
    const rows = await listRows(t, "items", 1);
    expect(rows.map((r) => [r.listId, r.quantityOnHand])).toEqual([["I-1", 7]]);
  });

  test("a repeated page with a ListID longer than the 40 characters stored adds no second row", async () => {
    const longId = `8000${"0".repeat(40)}-1234567890`;
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    await authenticateOpen(t, "long");
    const [accounts] = await nextQueries(t, "long");
    await answer(t, "long", [{ requestId: accounts.requestId, outcome: { kind: "listPage", list: "accounts", entries: standardLists().accounts, remaining: 0 } }]);
    const page = (qoh: number) => ({ kind: "listPage" as const, list: "items" as const, entries: [entry(longId, "W-1", { quantityOnHand: qoh })], iteratorId: "IT", remaining: 3 });
    const [first] = await nextQueries(t, "long");
    await answer(t, "long", [{ requestId: first.requestId, outcome: page(1) }]);
    const [second] = await nextQueries(t, "long");
    await answer(t, "long", [{ requestId: second.requestId, outcome: page(7) }]);
    expect((await listRows(t, "items", 1)).map((r) => [r.listId, r.quantityOnHand])).toEqual([[longId.slice(0, 40), 7]]);
    expect((await company(t)).pull?.counts).toMatchObject({ items: 1 });
  });

  test("a list page whose answer never reached Convex is not skipped: QuickBooks' iterator moved on, so the pull must not Continue past it", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    const qb = new FakeQuickBooks({ ...standardLists(), items: fiveItems() }, 2);
    await authenticateOpen(t, "lost");
    for (let i = 0; i < 2; i++) {
      const [q] = await nextQueries(t, "lost");
      await answer(t, "lost", [{ requestId: q.requestId, outcome: qb.answerOf(q) }]);
    }
    // QuickBooks answers items page 2 (its iterator moves on), but the answer is lost on the
    // way to Convex: QBWC goes on with the next sendRequestXML.
    const [lostPage] = await nextQueries(t, "lost");
    expect(lostPage).toMatchObject({ kind: "ItemInventoryQuery", iterator: "Continue" });
    qb.answerOf(lostPage);
    for (;;) {
      const [q] = await nextQueries(t, "lost");
      await answer(t, "lost", [{ requestId: q.requestId, outcome: qb.answerOf(q) }]);
      if ((await company(t)).pull === undefined) break;
    }
    // A half-seen list must never become the current one.
    expect((await listRows(t, "items")).map((r) => r.listId).sort()).toEqual(["20000001-1", "I-1", "I-2", "I-3", "I-4", "I-5"]);
  });

  test("a refused list query stops the pull (pullError, pullRetryAt, generation abandoned); no retry before pullRetryAt", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    const qb = new FakeQuickBooks({ ...standardLists(), items: fiveItems() }, 2);
    await authenticateOpen(t, "f-1");
    const [accounts] = await nextQueries(t, "f-1");
    await answer(t, "f-1", [{ requestId: accounts.requestId, outcome: qb.answerOf(accounts) }]);
    const [items] = await nextQueries(t, "f-1");
    at(1500);
    await answer(t, "f-1", [{ requestId: items.requestId, outcome: { kind: "permanent", message: "There was an error when parsing", statusCode: "-1" } }]);
    expectFields(await company(t), {
      pull: undefined,
      pullError: "QuickBooks refused ItemInventoryQuery: There was an error when parsing",
      pullRetryAt: T0 + 1500 + PULL_RETRY_MS,
      abandonedGenerations: [1],
      listsGeneration: undefined,
    });
    expect((await t.query(internal.qbMapping.getCompany, {}))?.pullError).toContain("ItemInventoryQuery");
    // The same session goes on with events.
    const next = await nextMessageRaw(t, "f-1");
    expect(next).toMatchObject({ status: "events", queries: [] });
    if (next.status === "events") {
      expect(next.events.map((e) => e.eventId)).toEqual([eventId]);
      await answer(t, "f-1", allApplied(next.events));
    }
    await closeSession(t, "f-1");

    at(1500 + PULL_RETRY_MS - 1);
    expect(await authenticate("f-2")).toEqual({ status: "none" });
    at(1500 + PULL_RETRY_MS);
    await authenticateOpen(t, "f-3");
    const [retry] = await nextQueries(t, "f-3");
    // From the first step again; the abandoned attempt's rows are gone (pruned by the messages since).
    expect(retry.kind).toBe("AccountQuery");
    expect(retry.requestId).toMatch(/^list:\d+\.0\.0:/);
    const { pull } = await company(t);
    expect(await listRows(t, "accounts", pull?.generation)).toEqual([]);
    expect((await company(t)).pullError).toBeUndefined();
  });

  test("a transient (retryable, not 3391) refusal also stops the pull until pullRetryAt", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    await authenticateOpen(t, "f-4");
    const [accounts] = await nextQueries(t, "f-4");
    await answer(t, "f-4", [{ requestId: accounts.requestId, outcome: { kind: "retryable", message: "busy", statusCode: "3175" } }]);
    expectFields(await company(t), { pull: undefined, pullRetryAt: T0 + 1000 + PULL_RETRY_MS, abandonedGenerations: [1] });
    expect(await nextMessageRaw(t, "f-4")).toMatchObject({ status: "nothing" });
  });

  test("requestListRefresh after a refusal clears pullRetryAt: the next session pulls at once", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    await authenticateOpen(t, "f-5");
    const [accounts] = await nextQueries(t, "f-5");
    await answer(t, "f-5", [{ requestId: accounts.requestId, outcome: { kind: "permanent", message: "no" } }]);
    await closeSession(t, "f-5");
    at(2000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    expect((await company(t)).pullRetryAt).toBeUndefined();
    const { generation } = await pullLists(t, standardLists(), { request: false });
    expect(generation).toBe(2);
  });

  test("a refused list read the bridge cannot render (refuse) stops the pull the same way", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    await authenticateOpen(t, "f-6");
    const [accounts] = await nextQueries(t, "f-6");
    await t.mutation(internal.qbSessions.refuse, { ticketHash: "f-6", refusals: [{ claimToken: accounts.requestId, reason: "unknown query" }] });
    expectFields(await company(t), { pull: undefined, pullRetryAt: T0 + 1000 + PULL_RETRY_MS });
    expect((await company(t)).pullError).toContain("unknown query");
  });

  test("status 3391 (iterator gone) restarts the current list from Start without failing the pull", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    const qb = new FakeQuickBooks({ ...standardLists(), items: fiveItems() }, 2);
    await authenticateOpen(t, "it-1");
    for (let i = 0; i < 2; i++) {
      const [q] = await nextQueries(t, "it-1");
      await answer(t, "it-1", [{ requestId: q.requestId, outcome: qb.answerOf(q) }]);
    }
    const [cont] = await nextQueries(t, "it-1");
    expect(cont).toMatchObject({ iterator: "Continue", iteratorId: "{ITER-1}" });
    qb.closeConnection(); // QuickBooks forgot it
    const outcome = qb.answerOf(cont);
    expect(outcome).toMatchObject({ kind: "retryable", statusCode: "3391" });
    await answer(t, "it-1", [{ requestId: cont.requestId, outcome }]);
    expectFields(await company(t), { pullError: undefined, pullRetryAt: undefined });
    expectFields((await company(t)).pull, { step: 1, page: 0, iteratorId: undefined });
    const [restart] = await nextQueries(t, "it-1");
    expect(restart).toMatchObject({ kind: "ItemInventoryQuery", iterator: "Start" });
    expect(restart.iteratorId).toBeUndefined();
    await answer(t, "it-1", [{ requestId: restart.requestId, outcome: qb.answerOf(restart) }]);
    for (;;) {
      const [q] = await nextQueries(t, "it-1");
      await answer(t, "it-1", [{ requestId: q.requestId, outcome: qb.answerOf(q) }]);
      if ((await company(t)).pull === undefined) break;
    }
    expect((await company(t)).listCounts).toEqual({ items: 6, sites: 0, accounts: 2 });
    expect(await listRows(t, "items")).toHaveLength(6);
  });
});

// ---- listsDue ----------------------------------------------------------------------------------------

describe("listsDue", () => {
  const base = { _id: "c" as Id<"qb_companies">, _creationTime: 0, companyFile: "", lastSeenAt: 0, hostReadAt: 0, preferencesReadAt: 0 };
  const c = (over: Partial<CompanyDoc>): CompanyDoc => ({ ...base, ...over }) as CompanyDoc;
  const DAY = DEFAULT_LIST_MAX_AGE_MS;
  const NOW = 10 * DAY;

  test("never pulled: due with a max age, not with 0 (only on request)", () => {
    expect(listsDue(c({}), NOW, DAY)).toBe(true);
    expect(listsDue(c({}), NOW, 0)).toBe(false);
  });

  test("by age: due from maxAge on", () => {
    expect(listsDue(c({ listsPulledAt: NOW - DAY + 1 }), NOW, DAY)).toBe(false);
    expect(listsDue(c({ listsPulledAt: NOW - DAY }), NOW, DAY)).toBe(true);
    expect(listsDue(c({ listsPulledAt: NOW - 100 * DAY }), NOW, 0)).toBe(false);
  });

  test("a refresh asked after the last pull makes them due, whatever the max age", () => {
    expect(listsDue(c({ listsPulledAt: NOW - 10, refreshRequestedAt: NOW - 5 }), NOW, 0)).toBe(true);
    expect(listsDue(c({ listsPulledAt: NOW - 10, refreshRequestedAt: NOW - 5 }), NOW, DAY)).toBe(true);
    expect(listsDue(c({ refreshRequestedAt: NOW - 5 }), NOW, 0)).toBe(true);
    // Asked before (or at) the last pull: already satisfied.
    expect(listsDue(c({ listsPulledAt: NOW - 5, refreshRequestedAt: NOW - 5 }), NOW, 0)).toBe(false);
    expect(listsDue(c({ listsPulledAt: NOW - 5, refreshRequestedAt: NOW - 10 }), NOW, 0)).toBe(false);
  });

  test("pullRetryAt in the future holds everything back; reached, the usual rules apply", () => {
    expect(listsDue(c({ pullRetryAt: NOW + 1, refreshRequestedAt: NOW - 5 }), NOW, DAY)).toBe(false);
    expect(listsDue(c({ pullRetryAt: NOW + 1 }), NOW, DAY)).toBe(false);
    expect(listsDue(c({ pullRetryAt: NOW, refreshRequestedAt: NOW - 5 }), NOW, 0)).toBe(true);
    expect(listsDue(c({ pullRetryAt: NOW }), NOW, DAY)).toBe(true);
  });

  test("a pull under way is always due", () => {
    const pull = { generation: 1, startedAt: 0, steps: ["AccountQuery"], step: 0, page: 0, entries: 0 };
    expect(listsDue(c({ pull, listsPulledAt: NOW, pullRetryAt: NOW + DAY }), NOW, 0)).toBe(true);
  });

  test("through the seam: listMaxAgeMs passed by the bridge is stored and decides", async () => {
    at(1000);
    await pullLists(t, standardLists());
    expect(await authenticate("age-0")).toEqual({ status: "none" });
    // A bridge with QB_LIST_MAX_AGE_HOURS=1 says so in nextMessage; a session needs something due to open, so stock one.
    await stock(t, "WID-1", "MAIN", 1);
    await authenticateOpen(t, "age-1");
    // Within the session's TTL (an hour), half an hour after the pull.
    at(1000 + HOUR / 2);
    const result = await nextMessageRaw(t, "age-1", { listMaxAgeMs: HOUR / 2 });
    expect((await company(t)).listMaxAgeMs).toBe(HOUR / 2);
    expect(result).toMatchObject({ status: "events", events: [] });
    if (result.status === "events") expect(result.queries.map((q) => q.kind)).toEqual(["AccountQuery"]);
  });

  test("through the seam: authenticate opens for stale lists with nothing pending (default max age)", async () => {
    await patchCompany(t, { listMaxAgeMs: undefined, listsPulledAt: T0 - DEFAULT_LIST_MAX_AGE_MS, listsGeneration: 1 });
    expect(await authenticate("stale")).toMatchObject({ status: "open" });
  });
});

// ---- pruning ---------------------------------------------------------------------------------------

describe("pruneLists", () => {
  async function rowsPerGeneration() {
    const rows = await t.run(async (ctx) => await ctx.db.query("qb_list_entries").collect());
    const counts: Record<number, number> = {};
    for (const r of rows) counts[r.generation] = (counts[r.generation] ?? 0) + 1;
    return counts;
  }

  async function insertRows(generation: number, n: number) {
    const { _id } = await company(t);
    await t.run(async (ctx) => {
      for (let i = 0; i < n; i++) {
        const name = `G${generation}-${i}`;
        await ctx.db.insert("qb_list_entries", {
          companyId: _id,
          generation,
          list: i % 2 === 0 ? "items" : "accounts",
          listId: name,
          name,
          fullName: name,
          fullNameKey: name.toLowerCase(),
          isActive: true,
        });
      }
    });
  }

  /** One pruneLists call as nextMessage makes it; returns documents read and written. */
  async function prune() {
    return await t.run(async (ctx) => {
      const before = await ctx.meta.getTransactionMetrics();
      const c = (await ctx.db.query("qb_companies").withIndex("by_lastSeenAt").order("desc").first())!;
      await pruneLists(ctx.db, c);
      const after = await ctx.meta.getTransactionMetrics();
      return { read: after.documentsRead.used - before.documentsRead.used, written: after.documentsWritten.used - before.documentsWritten.used };
    });
  }

  test("older generations first, then abandoned ones, in batches of LIST_PRUNE_BATCH; the current one stays", async () => {
    await insertRows(1, LIST_PRUNE_BATCH + 10);
    await insertRows(2, LIST_PRUNE_BATCH + 3);
    await insertRows(3, 4);
    await insertRows(4, 6); // a pull in progress after the current generation
    await patchCompany(t, { listsGeneration: 3, abandonedGenerations: [2] });

    const first = await prune();
    expect(await rowsPerGeneration()).toEqual({ 1: 10, 2: LIST_PRUNE_BATCH + 3, 3: 4, 4: 6 });
    expect(first.written).toBe(LIST_PRUNE_BATCH);

    const second = await prune();
    // The rest of generation 1, then a batch of the abandoned one.
    expect(await rowsPerGeneration()).toEqual({ 2: 13, 3: 4, 4: 6 });
    expect(second.written).toBeLessThanOrEqual(10 + LIST_PRUNE_BATCH + 1);
    expect((await company(t)).abandonedGenerations).toEqual([2]);

    await prune();
    expect(await rowsPerGeneration()).toEqual({ 3: 4, 4: 6 });
    expect((await company(t)).abandonedGenerations).toBeUndefined();

    const idle = await prune();
    expect(idle.written).toBe(0);
    expect(await rowsPerGeneration()).toEqual({ 3: 4, 4: 6 });
  });

  test("abandoned generations are pruned even before any pull completed", async () => {
    await insertRows(1, 5);
    await patchCompany(t, { abandonedGenerations: [1] });
    await prune();
    expect(await rowsPerGeneration()).toEqual({});
    expect((await company(t)).abandonedGenerations).toBeUndefined();
  });

  test("through the seam: after a second pull, the next message deletes the first generation", async () => {
    at(1000);
    await pullLists(t, standardLists());
    at(HOUR);
    await pullLists(t, standardLists());
    expect(await rowsPerGeneration()).toEqual({ 1: 5, 2: 5 });
    await stock(t, "WID-1", "MAIN", 1);
    await authenticateOpen(t, "prune");
    await nextMessageRaw(t, "prune");
    expect(await rowsPerGeneration()).toEqual({ 2: 5 });
  });

  test("through the seam: an abandoned pull's rows go once a later pull completes", async () => {
    at(1000);
    await t.mutation(internal.qbMapping.requestListRefresh, {});
    await authenticateOpen(t, "ab-1");
    const [accounts] = await nextQueries(t, "ab-1");
    await answer(t, "ab-1", [{ requestId: accounts.requestId, outcome: { kind: "listPage", list: "accounts", entries: standardLists().accounts, remaining: 0 } }]);
    const [items] = await nextQueries(t, "ab-1");
    await answer(t, "ab-1", [{ requestId: items.requestId, outcome: { kind: "permanent", message: "refused" } }]);
    await closeSession(t, "ab-1");
    expect(await rowsPerGeneration()).toEqual({ 1: 2 });
    at(2000);
    await pullLists(t, standardLists());
    await stock(t, "WID-1", "MAIN", 1);
    await authenticateOpen(t, "ab-2");
    await nextMessageRaw(t, "ab-2");
    expect(await rowsPerGeneration()).toEqual({ 2: 5 });
    expect((await company(t)).abandonedGenerations).toBeUndefined();
  });
});

// ---- renames -------------------------------------------------------------------------------------------

describe("renames in QuickBooks are followed by ListID", () => {
  test("an items page renaming a mapped ListID updates the part's FullName and logs quickbooks:rename", async () => {
    at(1000);
    const lists = standardLists();
    lists.items = [entry("10000001-1", "Gizmos:Widget"), entry("10000002-1", "Gadget")];
    await pullLists(t, lists);
    const part = await t.run(async (ctx) => await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", "WID-1")).unique());
    expect(part).toMatchObject({ qbItemListId: "10000001-1", qbItemFullName: "Gizmos:Widget" });
    const log = (await mappingChanges(t)).filter((c) => c.changedBy === "quickbooks:rename");
    expect(log.map((c) => [c.kind, c.key, c.old, c.new, c.changedAt])).toEqual([
      ["item", "WID-1", { listId: "10000001-1", fullName: "Widgets:Widget" }, { listId: "10000001-1", fullName: "Gizmos:Widget" }, T0 + 1000],
    ]);
    // GAD-2 is mapped by name only: a page cannot rename what no ListID ties to it.
    const gadget = await t.run(async (ctx) => await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", "GAD-2")).unique());
    expectFields(gadget, { qbItemListId: undefined, qbItemFullName: "Gadget" });

    // The qbXML refers by ListID, with the new name beside it.
    await stock(t, "WID-1", "MAIN", 2);
    await openSession(t, "after-rename");
    const [payload] = await sendNext(t, "after-rename", 5);
    expect(payload.lines[0].item).toEqual({ listId: "10000001-1", fullName: "Gizmos:Widget" });

    // The same names again: nothing more is logged.
    await closeSession(t, "after-rename");
    at(HOUR);
    await pullLists(t, lists);
    expect((await mappingChanges(t)).filter((c) => c.changedBy === "quickbooks:rename")).toHaveLength(1);
  });

  test("a sites page renaming a mapped site updates every location on it; an accounts page renames the account", async () => {
    await patchCompany(t, { multiLocationEnabled: true });
    at(1000);
    const lists = standardLists();
    lists.sites = [entry("80000001-1", "Main Warehouse"), entry("80000002-1", "Truck 1")];
    lists.accounts = [entry("90000001-1", "Inventory Adj"), entry("90000002-1", "Shrinkage")];
    await pullLists(t, lists);
    const locations = await t.run(async (ctx) => await ctx.db.query("inventory_locations").collect());
    expect(Object.fromEntries(locations.map((l) => [l.code, l.qbSiteFullName]))).toMatchObject({
      MAIN: "Main Warehouse",
      "MAIN-2": "Main Warehouse",
      TRUCK: "Truck 1",
      "BIN-A": undefined,
    });
    const reasons = await t.run(async (ctx) => await ctx.db.query("inventory_reason_accounts").collect());
    expect(Object.fromEntries(reasons.map((r) => [r.reasonCode, [r.qbAccountListId, r.qbAccountFullName]]))).toEqual({
      COUNT: ["90000001-1", "Inventory Adj"],
      DAMAGE: [undefined, "Shrinkage"],
      RETIRED: [undefined, "Old account"],
    });
    const log = (await mappingChanges(t)).filter((c) => c.changedBy === "quickbooks:rename");
    expect(log.map((c) => [c.kind, c.key, c.old.fullName, c.new.fullName]).sort()).toEqual([
      ["account", "COUNT", "Inventory Adjustments", "Inventory Adj"],
      ["site", "MAIN", "Main WH", "Main Warehouse"],
      ["site", "MAIN-2", "Main WH", "Main Warehouse"],
    ]);
    for (const c of log) expect(c.new.listId).toBe(c.old.listId);
  });
});
