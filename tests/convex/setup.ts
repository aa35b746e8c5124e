/**
 * Shared fixtures for the convex-test suites: a fresh mock backend per test,
 * seed helpers that go through the real functions (so seeds obey the same
 * rules as production data), and a full-database dump for "no writes" checks.
 */
import { convexTest } from "convex-test";
import { ConvexError } from "convex/values";
import { expect } from "vitest";
import { api, internal } from "../../convex/_generated/api";
import type { Id, TableNames } from "../../convex/_generated/dataModel";
import { DEFAULT_SESSION_TTL_MS } from "../../convex/lib/constants";
import type { Outcome } from "../../convex/lib/contract";
import schema from "../../convex/schema";

export const modules = import.meta.glob("../../convex/**/*.*s");

export function newTest() {
  return convexTest(schema, modules);
}

export type T = ReturnType<typeof newTest>;

export const EMPLOYEE = { subject: "emp-1", name: "Employee One" };

/** The accessor employees use: signed in, so the event records who acted. */
export const asEmployee = (t: T) => t.withIdentity(EMPLOYEE);

/** An identity an operator made admin (seedWorld grants it): configures locations, reasons, mappings. */
export const ADMIN = { subject: "adm-1", name: "Admin One" };
export const asAdmin = (t: T) => t.withIdentity(ADMIN);

/** What `qbwc-bridge grant-admin SUBJECT` does: the internal grant, with the deploy key. */
export async function grantAdmin(t: T, subject: string) {
  return await t.mutation(internal.admins.grant, { subject });
}

const TABLES = Object.keys(schema.tables) as TableNames[];

/**
 * Every document of every table, `_creationTime` included. Two equal dumps
 * mean nothing was inserted, patched or deleted in between.
 */
export async function dumpAll(t: T) {
  return await t.run(async (ctx) => {
    const out: Record<string, unknown[]> = {};
    for (const table of TABLES) out[table] = await ctx.db.query(table).collect();
    return out;
  });
}

/**
 * Documents written by one call of a registered function. A dump cannot see a
 * patch that rewrites equal values; the transaction metrics can: the nested
 * call's usage folds into the `run` transaction around it.
 */
export async function documentsWrittenBy(
  t: T | ReturnType<T["withIdentity"]>,
  call: (ctx: Parameters<Parameters<T["run"]>[0]>[0]) => Promise<unknown>,
): Promise<number> {
  return await t.run(async (ctx) => {
    const before = await ctx.meta.getTransactionMetrics();
    await call(ctx);
    return (await ctx.meta.getTransactionMetrics()).documentsWritten.used - before.documentsWritten.used;
  });
}

/** Runs `fn`, which must fail with `code`, and asserts the database is untouched. */
export async function expectRejectedWithoutWrites(t: T, code: string, fn: () => Promise<unknown>) {
  const before = await dumpAll(t);
  await expectCode(fn(), code);
  expect(await dumpAll(t)).toEqual(before);
}

/** Asserts a ConvexError whose data carries the machine-readable `code`. */
export async function expectCode(promise: Promise<unknown>, code: string) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `expected ConvexError ${code}, but the call succeeded`).not.toBeNull();
  expect(error).toBeInstanceOf(ConvexError);
  const data = (error as ConvexError<{ code: string; message: string }>).data;
  expect(data.code).toBe(code);
  expect(typeof data.message).toBe("string");
  return data;
}

/**
 * The standard world: two QB sites (MAIN-WH, TRUCK-1), two locations sharing
 * no site (BIN-A, BIN-B), one location sharing MAIN's site (MAIN-2), one
 * inactive location, reason codes (one inactive) and a few parts.
 */
/**
 * QuickBooks as already read: capabilities known (multi-location inventory as
 * given; undefined = not reported) and lists never pulled automatically, so
 * events go out as mapped. Tests about reading QuickBooks set up their own.
 */
export async function knownCompany(t: T, opts: { multiLocation?: boolean; companyFile?: string } = {}) {
  return await t.run(
    async (ctx) =>
      await ctx.db.insert("qb_companies", {
        companyFile: opts.companyFile ?? "",
        lastSeenAt: 0,
        hostReadAt: 0,
        preferencesReadAt: 0,
        multiLocationEnabled: opts.multiLocation,
        listMaxAgeMs: 0,
      }),
  );
}

export async function seedWorld(t: T) {
  await knownCompany(t);
  await grantAdmin(t, ADMIN.subject);
  const admin = asAdmin(t);
  const locations = [
    { code: "MAIN", name: "Main warehouse", qbSiteListId: "80000001-1", qbSiteFullName: "Main WH" },
    { code: "MAIN-2", name: "Main annex", qbSiteListId: "80000001-1", qbSiteFullName: "Main WH" },
    { code: "TRUCK", name: "Truck 1", qbSiteListId: "80000002-1", qbSiteFullName: "Truck 1" },
    { code: "BIN-A", name: "Bin A" },
    { code: "BIN-B", name: "Bin B" },
    { code: "OLD", name: "Old shed", active: false },
  ];
  for (const location of locations) await admin.mutation(api.inventory.upsertLocation, location);
  await admin.mutation(api.inventory.upsertReasonAccount, {
    reasonCode: "COUNT",
    description: "Cycle count",
    qbAccountListId: "90000001-1",
    qbAccountFullName: "Inventory Adjustments",
  });
  await admin.mutation(api.inventory.upsertReasonAccount, {
    reasonCode: "DAMAGE",
    qbAccountFullName: "Shrinkage",
  });
  await admin.mutation(api.inventory.upsertReasonAccount, {
    reasonCode: "RETIRED",
    qbAccountFullName: "Old account",
    active: false,
  });
  await t.mutation(internal.parts.upsertBatch, {
    parts: [
      { sku: "WID-1", name: "Widget", qbItemListId: "10000001-1", qbItemFullName: "Widgets:Widget" },
      { sku: "GAD-2", name: "Gadget", qbItemFullName: "Gadget" },
      { sku: "BOLT-3", name: "Bolt" },
    ],
  });
}

/** Puts stock somewhere through a delta adjustment (the only way stock appears). */
export async function stock(t: T, sku: string, location: string, quantity: number) {
  return await asEmployee(t).mutation(api.inventory.createAdjustmentEvent, {
    sku,
    location,
    mode: "delta",
    quantity,
    reasonCode: "COUNT",
  });
}

export async function balance(t: T, sku: string, location: string): Promise<number> {
  return await t.run(async (ctx) => {
    const part = await ctx.db
      .query("inventory_parts")
      .withIndex("by_sku", (q) => q.eq("sku", sku))
      .unique();
    const loc = await ctx.db
      .query("inventory_locations")
      .withIndex("by_code", (q) => q.eq("code", location))
      .unique();
    if (part === null || loc === null) throw new Error(`no ${sku} or ${location}`);
    const row = await ctx.db
      .query("inventory_balances")
      .withIndex("by_part_location", (q) => q.eq("partId", part._id).eq("locationId", loc._id))
      .unique();
    return row?.onHand ?? 0;
  });
}

export async function getEvent(t: T, eventId: Id<"inventory_events">) {
  const event = await t.run(async (ctx) => await ctx.db.get(eventId));
  if (event === null) throw new Error(`no event ${eventId}`);
  return event;
}

export async function eventLinesOf(t: T, eventId: Id<"inventory_events">) {
  return await t.run(
    async (ctx) =>
      await ctx.db
        .query("inventory_event_lines")
        .withIndex("by_event", (q) => q.eq("eventId", eventId))
        .collect(),
  );
}

/**
 * Opens a QBWC session the way the bridge does at authenticate. Authenticate
 * opens nothing when no event is due ("none") or another Web Connector is the
 * live writer ("busy"): those are test-setup mistakes here, so they throw.
 */
export async function openSession(t: T, ticketHash = "ticket-hash-1", ttlMs = DEFAULT_SESSION_TTL_MS) {
  const result = await t.mutation(internal.qbSessions.authenticate, { ticketHash, userName: "qbwc", ttlMs });
  if (result.status !== "open") throw new Error(`authenticate(${ticketHash}) answered ${JSON.stringify(result)}, not open`);
  return result.sessionId;
}

let callCounter = 0;
/** A fresh call id, as the bridge makes one per SOAP call. */
export const newCallId = (kind = "call") => `${kind}-${++callCounter}`;

/** sendRequestXML: the events of the next message (empty when nothing is due). */
export async function sendNext(t: T, ticketHash: string, limit: number, callId = newCallId("send")) {
  const result = await t.mutation(internal.qbSessions.nextMessage, { ticketHash, callId, limit });
  if (result.status === "rejected") throw new Error(`nextMessage(${ticketHash}) rejected: ${result.message}`);
  return result.status === "events" ? result.events : [];
}

export type Answer = { requestId: string; outcome: Outcome };

/** receiveResponseXML carrying `answers` (one per requestID). */
export async function answer(t: T, ticketHash: string, answers: Answer[], callId = newCallId("receive")) {
  return await t.mutation(internal.qbSessions.recordAnswer, { ticketHash, callId, response: { kind: "answers", answers } });
}

/** A successful Add for every event of a message. */
export const allApplied = (events: { claimToken: string | null; refNumber: string }[]): Answer[] =>
  events.map((e) => ({ requestId: e.claimToken as string, outcome: { kind: "success", qbTxnId: `TX-${e.refNumber}` } }));

export async function getSession(t: T, sessionId: Id<"qb_sync_sessions">) {
  const session = await t.run(async (ctx) => await ctx.db.get(sessionId));
  if (session === null) throw new Error(`no session ${sessionId}`);
  return session;
}

/** qbStatus of every event, counted from the events themselves. */
export async function actualQbStatusCounts(t: T) {
  return await t.run(async (ctx) => {
    const counts: Record<string, number> = {};
    for (const event of await ctx.db.query("inventory_events").collect()) {
      counts[event.qbStatus] = (counts[event.qbStatus] ?? 0) + 1;
    }
    return counts;
  });
}
