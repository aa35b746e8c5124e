import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { api, internal } from "../../convex/_generated/api";
import type { Id } from "../../convex/_generated/dataModel";
import { MAX_QUANTITY, MEMO_MAX } from "../../convex/lib/constants";
import {
  EMPLOYEE,
  type T,
  asAdmin,
  asEmployee,
  balance,
  documentsWrittenBy,
  dumpAll,
  eventLinesOf,
  expectCode,
  expectRejectedWithoutWrites,
  getEvent,
  modules,
  newTest,
  openSession,
  seedWorld,
  sendNext,
  stock,
} from "./setup";

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

const transfer = (args: { sku: string; quantity: number; fromLocation: string; toLocation: string; memo?: string; occurredAt?: number }) =>
  asEmployee(t).mutation(api.inventory.createTransferEvent, args);

const adjust = (args: Omit<Parameters<typeof adjustRaw>[0], "reasonCode"> & { reasonCode?: string }) =>
  adjustRaw({ reasonCode: "COUNT", ...args });

function adjustRaw(args: {
  sku?: string;
  partId?: Id<"inventory_parts">;
  quantity?: number;
  lines?: { sku?: string; quantity: number }[];
  location: string;
  mode: "delta" | "set";
  reasonCode: string;
  memo?: string;
  occurredAt?: number;
}) {
  return asEmployee(t).mutation(api.inventory.createAdjustmentEvent, args);
}

describe("createTransferEvent", () => {
  test("moves stock, posts a pending event with a qbXML-sized refNumber and records who acted", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    vi.setSystemTime(NOW + 1000);
    const result = await transfer({ sku: "WID-1", quantity: 4, fromLocation: "MAIN", toLocation: "TRUCK", memo: "  for job 12  " });

    expect(result.qbStatus).toBe("pending");
    expect(result.refNumber).toMatch(/^TR-\d{6,8}$/);
    expect(result.refNumber.length).toBeLessThanOrEqual(11);
    expect(await balance(t, "WID-1", "MAIN")).toBe(6);
    expect(await balance(t, "WID-1", "TRUCK")).toBe(4);

    const event = await getEvent(t, result.eventId);
    expect(event).toMatchObject({
      type: "transfer",
      status: "posted",
      qbStatus: "pending",
      createdBy: EMPLOYEE.subject,
      createdByName: EMPLOYEE.name,
      memo: "for job 12",
      occurredAt: NOW + 1000,
      nextAttemptAt: NOW + 1000,
      retryCount: 0,
      lineCount: 1,
    });
    const lines = await eventLinesOf(t, result.eventId);
    expect(lines.map((l) => [l.lineNo, l.quantity])).toEqual([[1, 4]]);
  });

  test("refNumbers are unique and sequential across event types", async () => {
    const first = await stock(t, "WID-1", "MAIN", 10);
    const second = await transfer({ sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK" });
    expect(first.refNumber).toBe("AD-000001");
    expect(second.refNumber).toBe("TR-000002");
  });

  test("moving exactly what is on hand leaves zero", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    await transfer({ sku: "WID-1", quantity: 10, fromLocation: "MAIN", toLocation: "TRUCK" });
    expect(await balance(t, "WID-1", "MAIN")).toBe(0);
    expect(await balance(t, "WID-1", "TRUCK")).toBe(10);
  });

  test("back-dated occurredAt is kept; the event is still due now", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    const past = NOW - 86_400_000;
    const { eventId } = await transfer({ sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK", occurredAt: past });
    expect(await getEvent(t, eventId)).toMatchObject({ occurredAt: past, nextAttemptAt: NOW });
  });

  test("insufficient on-hand is INSUFFICIENT_STOCK and writes nothing at all", async () => {
    await stock(t, "WID-1", "MAIN", 3);
    await expectRejectedWithoutWrites(t, "INSUFFICIENT_STOCK", () =>
      transfer({ sku: "WID-1", quantity: 4, fromLocation: "MAIN", toLocation: "TRUCK" }),
    );
    expect(await balance(t, "WID-1", "MAIN")).toBe(3);
  });

  test("the error names what was available and requested", async () => {
    await stock(t, "WID-1", "MAIN", 3);
    const data = await expectCode(transfer({ sku: "WID-1", quantity: 4, fromLocation: "MAIN", toLocation: "TRUCK" }), "INSUFFICIENT_STOCK");
    expect(data).toMatchObject({ sku: "WID-1", location: "MAIN", available: 3, requested: 4 });
  });

  test("a part never stocked at the source cannot be moved", async () => {
    await expectRejectedWithoutWrites(t, "INSUFFICIENT_STOCK", () =>
      transfer({ sku: "GAD-2", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK" }),
    );
  });

  test("a part can be named by id instead of SKU", async () => {
    await stock(t, "WID-1", "MAIN", 5);
    const partId = await t.run(async (ctx) => (await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", "WID-1")).unique())!._id);
    await asEmployee(t).mutation(api.inventory.createTransferEvent, { partId, quantity: 2, fromLocation: "MAIN", toLocation: "TRUCK" });
    expect(await balance(t, "WID-1", "TRUCK")).toBe(2);
  });

  describe("QuickBooks relevance", () => {
    test.each([
      ["same QB site", "MAIN", "MAIN-2", "not_required"],
      ["both without a site", "BIN-A", "BIN-B", "not_required"],
      ["different sites", "MAIN", "TRUCK", "pending"],
      ["site to no site", "MAIN", "BIN-A", "pending"],
    ])("%s -> %s", async (_label, from, to, expected) => {
      await stock(t, "WID-1", from, 5);
      const result = await transfer({ sku: "WID-1", quantity: 2, fromLocation: from, toLocation: to });
      expect(result.qbStatus).toBe(expected);
      expect(await balance(t, "WID-1", from)).toBe(3);
      expect(await balance(t, "WID-1", to)).toBe(2);
    });

    test("a not_required transfer is never offered to the bridge", async () => {
      await t.run(async (ctx) => {
        // Stock without an event, so the only event is the not_required transfer.
        const part = (await ctx.db.query("inventory_parts").withIndex("by_sku", (q) => q.eq("sku", "WID-1")).unique())!;
        const loc = (await ctx.db.query("inventory_locations").withIndex("by_code", (q) => q.eq("code", "BIN-A")).unique())!;
        await ctx.db.insert("inventory_balances", { partId: part._id, locationId: loc._id, onHand: 5 });
      });
      await transfer({ sku: "WID-1", quantity: 2, fromLocation: "BIN-A", toLocation: "BIN-B" });
      expect(await t.query(internal.qbQueue.getNextPendingQbEvent, {})).toBeNull();
      // Nothing to send: authenticate answers "none" and opens no session.
      expect(await t.mutation(internal.qbSessions.authenticate, { ticketHash: "h", userName: "qbwc", ttlMs: 60_000 })).toEqual({ status: "none" });
      expect(await t.run(async (ctx) => await ctx.db.query("qb_sync_sessions").collect())).toEqual([]);
    });
  });

  describe("multi-line", () => {
    test("moves several parts in one event with numbered lines", async () => {
      await stock(t, "WID-1", "MAIN", 10);
      await stock(t, "GAD-2", "MAIN", 10);
      const { eventId } = await asEmployee(t).mutation(api.inventory.createTransferEvent, {
        lines: [
          { sku: "WID-1", quantity: 3 },
          { sku: "GAD-2", quantity: 7 },
        ],
        fromLocation: "MAIN",
        toLocation: "TRUCK",
      });
      expect((await getEvent(t, eventId)).lineCount).toBe(2);
      const lines = await eventLinesOf(t, eventId);
      expect(lines.map((l) => [l.lineNo, l.quantity])).toEqual([
        [1, 3],
        [2, 7],
      ]);
      expect(await balance(t, "WID-1", "TRUCK")).toBe(3);
      expect(await balance(t, "GAD-2", "TRUCK")).toBe(7);
      expect(await balance(t, "GAD-2", "MAIN")).toBe(3);
    });

    test("one short line rejects the whole event without writes", async () => {
      await stock(t, "WID-1", "MAIN", 10);
      await stock(t, "GAD-2", "MAIN", 1);
      await expectRejectedWithoutWrites(t, "INSUFFICIENT_STOCK", () =>
        asEmployee(t).mutation(api.inventory.createTransferEvent, {
          lines: [
            { sku: "WID-1", quantity: 3 },
            { sku: "GAD-2", quantity: 2 },
          ],
          fromLocation: "MAIN",
          toLocation: "TRUCK",
        }),
      );
    });

    test("the queue payload carries every line with its QB item ref", async () => {
      await stock(t, "WID-1", "MAIN", 10);
      await stock(t, "GAD-2", "MAIN", 10);
      // Take the two stocking adjustments out of the way so the transfer is next.
      await openSession(t, "ticket-lines");
      const claimed = await sendNext(t, "ticket-lines", 10);
      expect(claimed).toHaveLength(2);
      for (const c of claimed) {
        await t.mutation(internal.qbQueue.applyQbResult, { eventId: c.eventId, claimToken: c.claimToken!, outcome: { kind: "success", qbTxnId: "X" } });
      }
      await asEmployee(t).mutation(api.inventory.createTransferEvent, {
        lines: [
          { sku: "GAD-2", quantity: 1 },
          { sku: "WID-1", quantity: 2 },
        ],
        fromLocation: "MAIN",
        toLocation: "TRUCK",
      });
      const next = await t.query(internal.qbQueue.getNextPendingQbEvent, {});
      expect(next?.lines).toEqual([
        { sku: "GAD-2", item: { listId: null, fullName: "Gadget" }, quantity: 1 },
        { sku: "WID-1", item: { listId: "10000001-1", fullName: "Widgets:Widget" }, quantity: 2 },
      ]);
    });
  });
});

describe("validation: every rule is a ConvexError with a code and leaves no write", () => {
  beforeEach(async () => {
    await stock(t, "WID-1", "MAIN", 10);
  });

  test.each<[string, string, Record<string, unknown>]>([
    ["unknown SKU", "PART_NOT_FOUND", { sku: "NOPE", quantity: 1 }],
    ["unknown from-location", "LOCATION_NOT_FOUND", { sku: "WID-1", quantity: 1, fromLocation: "NOWHERE" }],
    ["unknown to-location", "LOCATION_NOT_FOUND", { sku: "WID-1", quantity: 1, toLocation: "NOWHERE" }],
    ["inactive to-location", "LOCATION_INACTIVE", { sku: "WID-1", quantity: 1, toLocation: "OLD" }],
    ["same from and to", "SAME_LOCATION", { sku: "WID-1", quantity: 1, toLocation: "MAIN" }],
    ["same from and to, padded", "SAME_LOCATION", { sku: "WID-1", quantity: 1, toLocation: " MAIN " }],
    ["quantity zero", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 0 }],
    ["quantity negative", "INVALID_ARGUMENT", { sku: "WID-1", quantity: -1 }],
    ["quantity fractional", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 1.5 }],
    ["quantity NaN", "INVALID_ARGUMENT", { sku: "WID-1", quantity: Number.NaN }],
    ["quantity beyond the maximum", "INVALID_ARGUMENT", { sku: "WID-1", quantity: MAX_QUANTITY + 1 }],
    ["sku without quantity", "INVALID_ARGUMENT", { sku: "WID-1" }],
    ["sku and lines both", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 1, lines: [{ sku: "WID-1", quantity: 1 }] }],
    ["neither sku nor lines", "INVALID_ARGUMENT", {}],
    ["empty lines", "INVALID_ARGUMENT", { lines: [] }],
    ["duplicate SKU across lines", "INVALID_ARGUMENT", { lines: [{ sku: "WID-1", quantity: 1 }, { sku: "WID-1", quantity: 2 }] }],
    ["a bad line among good ones", "INVALID_ARGUMENT", { lines: [{ sku: "WID-1", quantity: 1 }, { sku: "GAD-2", quantity: 0 }] }],
    ["memo too long", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 1, memo: "x".repeat(MEMO_MAX + 1) }],
    ["occurredAt in the future", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 1, occurredAt: NOW + 10 * 60_000 }],
    ["occurredAt zero", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 1, occurredAt: 0 }],
  ])("transfer: %s -> %s", async (_label, code, overrides) => {
    await expectRejectedWithoutWrites(t, code, () =>
      asEmployee(t).mutation(api.inventory.createTransferEvent, {
        fromLocation: "MAIN",
        toLocation: "TRUCK",
        ...overrides,
        // The cases include argument shapes the types forbid (sku with lines, no quantity).
      } as never),
    );
  });

  test("transfer from an inactive location", async () => {
    await expectRejectedWithoutWrites(t, "LOCATION_INACTIVE", () => transfer({ sku: "WID-1", quantity: 1, fromLocation: "OLD", toLocation: "MAIN" }));
  });

  test("sku and partId both", async () => {
    const partId = await t.run(async (ctx) => (await ctx.db.query("inventory_parts").first())!._id);
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () =>
      asEmployee(t).mutation(api.inventory.createTransferEvent, { sku: "WID-1", partId, quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK" }),
    );
  });

  test("a little clock skew on occurredAt is tolerated", async () => {
    const { eventId } = await transfer({ sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK", occurredAt: NOW + 60_000 });
    expect((await getEvent(t, eventId)).occurredAt).toBe(NOW + 60_000);
  });

  test.each<[string, string, Parameters<typeof adjustRaw>[0]]>([
    ["unknown SKU", "PART_NOT_FOUND", { sku: "NOPE", quantity: 1, location: "MAIN", mode: "delta", reasonCode: "COUNT" }],
    ["unknown location", "LOCATION_NOT_FOUND", { sku: "WID-1", quantity: 1, location: "NOWHERE", mode: "delta", reasonCode: "COUNT" }],
    ["inactive location", "LOCATION_INACTIVE", { sku: "WID-1", quantity: 1, location: "OLD", mode: "delta", reasonCode: "COUNT" }],
    ["unknown reason code", "REASON_NOT_FOUND", { sku: "WID-1", quantity: 1, location: "MAIN", mode: "delta", reasonCode: "NOPE" }],
    ["inactive reason code", "REASON_INACTIVE", { sku: "WID-1", quantity: 1, location: "MAIN", mode: "delta", reasonCode: "RETIRED" }],
    ["delta zero", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 0, location: "MAIN", mode: "delta", reasonCode: "COUNT" }],
    ["delta fractional", "INVALID_ARGUMENT", { sku: "WID-1", quantity: -0.5, location: "MAIN", mode: "delta", reasonCode: "COUNT" }],
    ["set negative", "INVALID_ARGUMENT", { sku: "WID-1", quantity: -1, location: "MAIN", mode: "set", reasonCode: "COUNT" }],
    ["set fractional", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 2.5, location: "MAIN", mode: "set", reasonCode: "COUNT" }],
    ["delta below zero on hand", "INSUFFICIENT_STOCK", { sku: "WID-1", quantity: -11, location: "MAIN", mode: "delta", reasonCode: "COUNT" }],
    ["set equal to on hand", "NO_CHANGE", { sku: "WID-1", quantity: 10, location: "MAIN", mode: "set", reasonCode: "COUNT" }],
    ["sku and lines both", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 1, lines: [{ sku: "GAD-2", quantity: 1 }], location: "MAIN", mode: "delta", reasonCode: "COUNT" }],
    ["neither sku nor lines", "INVALID_ARGUMENT", { location: "MAIN", mode: "delta", reasonCode: "COUNT" }],
    ["duplicate SKU across lines", "INVALID_ARGUMENT", { lines: [{ sku: "GAD-2", quantity: 1 }, { sku: "GAD-2", quantity: 1 }], location: "MAIN", mode: "delta", reasonCode: "COUNT" }],
    ["memo too long", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 1, location: "MAIN", mode: "delta", reasonCode: "COUNT", memo: "m".repeat(MEMO_MAX + 1) }],
    ["occurredAt in the future", "INVALID_ARGUMENT", { sku: "WID-1", quantity: 1, location: "MAIN", mode: "delta", reasonCode: "COUNT", occurredAt: NOW + 3_600_000 }],
  ])("adjustment: %s -> %s", async (_label, code, args) => {
    await expectRejectedWithoutWrites(t, code, () => adjustRaw(args));
  });
});

describe("createAdjustmentEvent", () => {
  test("delta adds and removes; the line stores the signed delta", async () => {
    const up = await adjust({ sku: "WID-1", quantity: 12, location: "MAIN", mode: "delta", memo: "found a box" });
    expect(await balance(t, "WID-1", "MAIN")).toBe(12);
    const down = await adjust({ sku: "WID-1", quantity: -5, location: "MAIN", mode: "delta", reasonCode: "DAMAGE" });
    expect(await balance(t, "WID-1", "MAIN")).toBe(7);

    expect(up.refNumber).toMatch(/^AD-\d{6,8}$/);
    expect(up.qbStatus).toBe("pending");
    expect(down.lines).toEqual([{ quantity: -5, requestedQuantity: null }]);
    const event = await getEvent(t, down.eventId);
    expect(event).toMatchObject({ type: "adjustment", mode: "delta", reasonCode: "DAMAGE", createdBy: "emp-1", status: "posted" });
    const [line] = await eventLinesOf(t, down.eventId);
    expect(line.quantity).toBe(-5);
    expect(line.requestedQuantity).toBeUndefined();
    expect(line.previousOnHand).toBeUndefined();
  });

  test("delta may take on-hand to exactly zero", async () => {
    await stock(t, "WID-1", "MAIN", 4);
    await adjust({ sku: "WID-1", quantity: -4, location: "MAIN", mode: "delta" });
    expect(await balance(t, "WID-1", "MAIN")).toBe(0);
  });

  test("set overwrites on-hand and records requested quantity, previous on-hand and the computed delta", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    const down = await adjust({ sku: "WID-1", quantity: 7, location: "MAIN", mode: "set" });
    expect(await balance(t, "WID-1", "MAIN")).toBe(7);
    expect(down.lines).toEqual([{ quantity: -3, requestedQuantity: 7 }]);
    const [line] = await eventLinesOf(t, down.eventId);
    expect(line).toMatchObject({ quantity: -3, requestedQuantity: 7, previousOnHand: 10 });

    const up = await adjust({ sku: "WID-1", quantity: 15, location: "MAIN", mode: "set" });
    expect(await balance(t, "WID-1", "MAIN")).toBe(15);
    const [upLine] = await eventLinesOf(t, up.eventId);
    expect(upLine).toMatchObject({ quantity: 8, requestedQuantity: 15, previousOnHand: 7 });
  });

  test("set to zero empties the location", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    const { eventId } = await adjust({ sku: "WID-1", quantity: 0, location: "MAIN", mode: "set" });
    expect(await balance(t, "WID-1", "MAIN")).toBe(0);
    expect((await eventLinesOf(t, eventId))[0]).toMatchObject({ quantity: -10, requestedQuantity: 0, previousOnHand: 10 });
  });

  test("set on a part never stocked there counts from zero", async () => {
    const { eventId } = await adjust({ sku: "BOLT-3", quantity: 6, location: "TRUCK", mode: "set" });
    expect(await balance(t, "BOLT-3", "TRUCK")).toBe(6);
    expect((await eventLinesOf(t, eventId))[0]).toMatchObject({ quantity: 6, requestedQuantity: 6, previousOnHand: 0 });
  });

  test("set with zero change is NO_CHANGE and writes nothing", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    await expectRejectedWithoutWrites(t, "NO_CHANGE", () => adjust({ sku: "WID-1", quantity: 10, location: "MAIN", mode: "set" }));
  });

  test("multi-line set keeps only the lines that change", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    const result = await adjust({
      lines: [
        { sku: "WID-1", quantity: 10 },
        { sku: "GAD-2", quantity: 3 },
      ],
      location: "MAIN",
      mode: "set",
    });
    expect(result.lines).toEqual([{ quantity: 3, requestedQuantity: 3 }]);
    expect((await getEvent(t, result.eventId)).lineCount).toBe(1);
    expect(await eventLinesOf(t, result.eventId)).toHaveLength(1);
  });

  test("the queue payload carries site and account refs", async () => {
    await adjust({ sku: "WID-1", quantity: 2, location: "TRUCK", mode: "delta", reasonCode: "DAMAGE", memo: "dropped" });
    const payload = await t.query(internal.qbQueue.getNextPendingQbEvent, {});
    expect(payload).toMatchObject({
      type: "adjustment",
      mode: "send",
      memo: "dropped",
      locationCode: "TRUCK",
      reasonCode: "DAMAGE",
      site: { listId: "80000002-1", fullName: "Truck 1" },
      account: { listId: null, fullName: "Shrinkage" },
      fromSite: null,
      toSite: null,
    });
  });
});

describe("voidEvent", () => {
  const voidIt = (eventId: Id<"inventory_events">, reason = "entered by mistake") =>
    asEmployee(t).mutation(api.inventory.voidEvent, { eventId, reason });

  // One Web Connector session per test, opened at the first claim (only one can be live).
  let ticket: string | null = null;
  beforeEach(() => {
    ticket = null;
  });

  async function claimAll() {
    if (ticket === null) {
      ticket = `ticket-${Math.random()}`;
      await openSession(t, ticket);
    }
    return await sendNext(t, ticket, 100);
  }

  async function settleAdjustments() {
    for (const c of await claimAll()) {
      await t.mutation(internal.qbQueue.applyQbResult, { eventId: c.eventId, claimToken: c.claimToken!, outcome: { kind: "success", qbTxnId: `T-${c.refNumber}` } });
    }
  }

  test("voiding a pending transfer reverses both balances and cancels it", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    const { eventId } = await transfer({ sku: "WID-1", quantity: 4, fromLocation: "MAIN", toLocation: "TRUCK" });
    vi.setSystemTime(NOW + 5000);
    const result = await voidIt(eventId, "  wrong truck  ");
    expect(result).toMatchObject({ status: "voided", qbStatus: "cancelled" });
    expect(await balance(t, "WID-1", "MAIN")).toBe(10);
    expect(await balance(t, "WID-1", "TRUCK")).toBe(0);
    expect(await getEvent(t, eventId)).toMatchObject({
      status: "voided",
      qbStatus: "cancelled",
      voidedAt: NOW + 5000,
      voidedBy: "emp-1",
      voidReason: "wrong truck",
    });
  });

  test("voiding a set adjustment reverses the computed delta, not the requested count", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    const { eventId } = await adjust({ sku: "WID-1", quantity: 7, location: "MAIN", mode: "set" });
    await stock(t, "WID-1", "MAIN", 5); // 12 now
    await voidIt(eventId);
    expect(await balance(t, "WID-1", "MAIN")).toBe(15);
  });

  test("voiding a not_required transfer", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    const { eventId, qbStatus } = await transfer({ sku: "WID-1", quantity: 4, fromLocation: "MAIN", toLocation: "MAIN-2" });
    expect(qbStatus).toBe("not_required");
    await voidIt(eventId);
    expect(await balance(t, "WID-1", "MAIN")).toBe(10);
    expect(await balance(t, "WID-1", "MAIN-2")).toBe(0);
    expect((await getEvent(t, eventId)).qbStatus).toBe("cancelled");
  });

  test("voiding a failed event (retry scheduled) and a dead event", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    await settleAdjustments();
    const a = await transfer({ sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK" });
    const b = await transfer({ sku: "WID-1", quantity: 2, fromLocation: "MAIN", toLocation: "TRUCK" });
    const [ca, cb] = await claimAll();
    await t.mutation(internal.qbQueue.applyQbResult, { eventId: ca.eventId, claimToken: ca.claimToken!, outcome: { kind: "retryable", message: "QB busy" } });
    await t.mutation(internal.qbQueue.applyQbResult, { eventId: cb.eventId, claimToken: cb.claimToken!, outcome: { kind: "permanent", message: "bad ref", statusCode: "3140" } });
    expect((await getEvent(t, a.eventId)).qbStatus).toBe("failed");
    expect((await getEvent(t, b.eventId)).qbStatus).toBe("dead");

    await voidIt(a.eventId);
    await voidIt(b.eventId);
    expect(await balance(t, "WID-1", "MAIN")).toBe(10);
    expect(await balance(t, "WID-1", "TRUCK")).toBe(0);
    expect((await getEvent(t, a.eventId)).qbStatus).toBe("cancelled");
    expect((await getEvent(t, b.eventId)).qbStatus).toBe("cancelled");
    // A cancelled event is never offered again, even when its retry falls due.
    vi.setSystemTime(NOW + 3_600_000);
    expect(await t.query(internal.qbQueue.getNextPendingQbEvent, {})).toBeNull();
  });

  test("in_flight is VOID_IN_FLIGHT, applied is VOID_APPLIED, twice is ALREADY_VOIDED; none writes", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    await settleAdjustments();
    const inFlight = await transfer({ sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK" });
    const [claim] = await claimAll();
    expect(claim.eventId).toBe(inFlight.eventId);
    await expectRejectedWithoutWrites(t, "VOID_IN_FLIGHT", () => voidIt(inFlight.eventId));

    await t.mutation(internal.qbQueue.applyQbResult, { eventId: claim.eventId, claimToken: claim.claimToken!, outcome: { kind: "success", qbTxnId: "TXN-1" } });
    await expectRejectedWithoutWrites(t, "VOID_APPLIED", () => voidIt(inFlight.eventId));

    const pending = await transfer({ sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK" });
    await voidIt(pending.eventId);
    await expectRejectedWithoutWrites(t, "ALREADY_VOIDED", () => voidIt(pending.eventId));
  });

  test("VOID_WOULD_GO_NEGATIVE when the stock has moved on, with no writes", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    const first = await transfer({ sku: "WID-1", quantity: 5, fromLocation: "MAIN", toLocation: "TRUCK" });
    await transfer({ sku: "WID-1", quantity: 5, fromLocation: "TRUCK", toLocation: "BIN-A" });
    await expectRejectedWithoutWrites(t, "VOID_WOULD_GO_NEGATIVE", () => voidIt(first.eventId));
  });

  test("voiding a positive adjustment whose units were moved away is VOID_WOULD_GO_NEGATIVE", async () => {
    const { eventId } = await stock(t, "WID-1", "MAIN", 3);
    await transfer({ sku: "WID-1", quantity: 2, fromLocation: "MAIN", toLocation: "TRUCK" });
    await expectRejectedWithoutWrites(t, "VOID_WOULD_GO_NEGATIVE", () => voidIt(eventId));
  });

  test("an empty reason and an unknown event are refused", async () => {
    const { eventId } = await stock(t, "WID-1", "MAIN", 3);
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => voidIt(eventId, "   "));
    await t.run(async (ctx) => await ctx.db.delete(eventId));
    await expectRejectedWithoutWrites(t, "EVENT_NOT_FOUND", () => voidIt(eventId));
  });

  test("an event QuickBooks may already hold (failed, lookup pending) cannot be voided", async () => {
    // A lost response releases the claim as failed with qbLookupRequired: the
    // transaction may exist in QuickBooks, so reversing it here would leave
    // the two books apart. DESIGN: "Nothing is ever posted to QuickBooks twice"
    // and a void is allowed only "before the event reached QuickBooks".
    await stock(t, "WID-1", "MAIN", 10);
    await settleAdjustments();
    const { eventId } = await transfer({ sku: "WID-1", quantity: 4, fromLocation: "MAIN", toLocation: "TRUCK" });
    const [claim] = await claimAll();
    await t.mutation(internal.qbQueue.applyQbResult, {
      eventId,
      claimToken: claim.claimToken!,
      outcome: { kind: "retryable", message: "response lost", lookupRequired: true },
    });
    expect(await getEvent(t, eventId)).toMatchObject({ qbStatus: "failed", qbLookupRequired: true });
    await expectRejectedWithoutWrites(t, "VOID_IN_FLIGHT", () => voidIt(eventId));
  });
});

describe("upsertLocation / upsertReasonAccount", () => {
  test("create, update, and an identical repeat is 'unchanged' with no write", async () => {
    const admin = asAdmin(t);
    const created = await admin.mutation(api.inventory.upsertLocation, { code: "DOCK", name: "Dock", qbSiteFullName: "Dock" });
    expect(created.result).toBe("created");
    const before = await dumpAll(t);
    const again = await admin.mutation(api.inventory.upsertLocation, { code: "DOCK", name: "Dock", qbSiteFullName: "Dock" });
    expect(again).toEqual({ locationId: created.locationId, result: "unchanged" });
    expect(await dumpAll(t)).toEqual(before);
    expect(
      await documentsWrittenBy(admin, (ctx) => ctx.runMutation(api.inventory.upsertLocation, { code: "DOCK", name: "Dock", qbSiteFullName: "Dock" })),
    ).toBe(0);
    // Omitted fields are left alone, so a partial call is also unchanged.
    expect((await admin.mutation(api.inventory.upsertLocation, { code: "DOCK" })).result).toBe("unchanged");

    const updated = await admin.mutation(api.inventory.upsertLocation, { code: "DOCK", name: "Loading dock" });
    expect(updated.result).toBe("updated");
    const doc = await t.run(async (ctx) => await ctx.db.get(created.locationId));
    expect(doc).toMatchObject({ code: "DOCK", name: "Loading dock", active: true, qbSiteFullName: "Dock" });
  });

  test("a new location without a name is named by its code", async () => {
    const { locationId } = await asAdmin(t).mutation(api.inventory.upsertLocation, { code: "SHELF-9" });
    expect(await t.run(async (ctx) => (await ctx.db.get(locationId))?.name)).toBe("SHELF-9");
  });

  test("deactivating a location that holds stock is LOCATION_HAS_STOCK; once empty it works", async () => {
    await stock(t, "WID-1", "BIN-A", 2);
    await expectRejectedWithoutWrites(t, "LOCATION_HAS_STOCK", () =>
      asAdmin(t).mutation(api.inventory.upsertLocation, { code: "BIN-A", active: false }),
    );
    await transfer({ sku: "WID-1", quantity: 2, fromLocation: "BIN-A", toLocation: "BIN-B" });
    const result = await asAdmin(t).mutation(api.inventory.upsertLocation, { code: "BIN-A", active: false });
    expect(result.result).toBe("updated");
    await expectCode(transfer({ sku: "WID-1", quantity: 1, fromLocation: "BIN-B", toLocation: "BIN-A" }), "LOCATION_INACTIVE");
  });

  test("location text limits", async () => {
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => asAdmin(t).mutation(api.inventory.upsertLocation, { code: "  " }));
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () =>
      asAdmin(t).mutation(api.inventory.upsertLocation, { code: "X", qbSiteFullName: "s".repeat(32) }),
    );
  });

  test("reason account: idempotent, needs an account when created, can be deactivated", async () => {
    const admin = asAdmin(t);
    const before = await dumpAll(t);
    const again = await admin.mutation(api.inventory.upsertReasonAccount, {
      reasonCode: "COUNT",
      description: "Cycle count",
      qbAccountListId: "90000001-1",
      qbAccountFullName: "Inventory Adjustments",
    });
    expect(again.result).toBe("unchanged");
    expect(await dumpAll(t)).toEqual(before);
    expect(
      await documentsWrittenBy(admin, (ctx) =>
        ctx.runMutation(api.inventory.upsertReasonAccount, { reasonCode: "DAMAGE", qbAccountFullName: "Shrinkage" }),
      ),
    ).toBe(0);

    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => admin.mutation(api.inventory.upsertReasonAccount, { reasonCode: "NEW" }));

    expect((await admin.mutation(api.inventory.upsertReasonAccount, { reasonCode: "COUNT", active: false })).result).toBe("updated");
    await expectCode(adjust({ sku: "WID-1", quantity: 1, location: "MAIN", mode: "delta" }), "REASON_INACTIVE");
  });
});

describe("auth", () => {
  test.each<[string, (t: T) => Promise<unknown>]>([
    ["createTransferEvent", (t) => t.mutation(api.inventory.createTransferEvent, { sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK" })],
    ["createAdjustmentEvent", (t) => t.mutation(api.inventory.createAdjustmentEvent, { sku: "WID-1", quantity: 1, location: "MAIN", mode: "delta", reasonCode: "COUNT" })],
    ["voidEvent", async (t) => t.mutation(api.inventory.voidEvent, { eventId: (await t.run(async (ctx) => (await ctx.db.query("inventory_events").first())!._id)), reason: "x" })],
    ["upsertLocation", (t) => t.mutation(api.inventory.upsertLocation, { code: "NEW" })],
    ["upsertReasonAccount", (t) => t.mutation(api.inventory.upsertReasonAccount, { reasonCode: "NEW", qbAccountFullName: "A" })],
    ["getInventoryOverview", (t) => t.query(api.inventory.getInventoryOverview, { paginationOpts: { numItems: 10, cursor: null } })],
    ["getItemDetail", (t) => t.query(api.inventory.getItemDetail, { sku: "WID-1" })],
    ["listRecentEvents", (t) => t.query(api.inventory.listRecentEvents, { paginationOpts: { numItems: 10, cursor: null } })],
  ])("%s without identity is UNAUTHENTICATED and writes nothing", async (_name, call) => {
    await stock(t, "WID-1", "MAIN", 5);
    await expectRejectedWithoutWrites(t, "UNAUTHENTICATED", () => call(t));
  });

  test("the only public functions are the employee inventory API and the read-only smoke endpoints", async () => {
    const visibility: Record<string, string> = {};
    for (const [path, load] of Object.entries(modules)) {
      const name = path.replace(/^.*\/convex\//, "").replace(/\.[jt]s$/, "");
      if (name.startsWith("_generated")) continue;
      for (const [exportName, value] of Object.entries((await load()) as Record<string, unknown>)) {
        const fn = value as { isPublic?: boolean; isInternal?: boolean } | null;
        if (fn?.isPublic) visibility[`${name}:${exportName}`] = "public";
        else if (fn?.isInternal) visibility[`${name}:${exportName}`] = "internal";
      }
    }
    const isPublic = Object.keys(visibility).filter((k) => visibility[k] === "public").sort();
    expect(isPublic).toEqual([
      "functions:health",
      "functions:ping",
      "inventory:createAdjustmentEvent",
      "inventory:createTransferEvent",
      "inventory:getInventoryOverview",
      "inventory:getItemDetail",
      "inventory:listRecentEvents",
      "inventory:upsertLocation",
      "inventory:upsertReasonAccount",
      "inventory:voidEvent",
    ]);
    for (const name of [
      "qbQueue:getNextPendingQbEvent",
      "qbQueue:markEventInFlight",
      "qbQueue:applyQbResult",
      "qbQueue:retryFailedEvent",
      "qbQueue:resolveHeldEvent",
      "qbQueue:getQueueStatus",
      "qbSessions:authenticate",
      "qbSessions:nextMessage",
      "qbSessions:refuse",
      "qbSessions:recordAnswer",
      "qbSessions:close",
      "qbSessions:getLastError",
      "parts:upsertBatch",
      "admins:grant",
      "admins:revoke",
      "admins:list",
      "mappingLog:listRecent",
    ]) {
      expect(visibility[name]).toBe("internal");
    }
  });

  test("the smoke endpoints answer without identity and only read", async () => {
    const before = await dumpAll(t);
    expect((await t.query(api.functions.ping, {})).serverTime).toBe(NOW);
    expect((await t.query(api.functions.health, {})).serverTime).toBe(NOW);
    expect(await dumpAll(t)).toEqual(before);
  });
});

describe("queries", () => {
  const emp = () => asEmployee(t);

  test("getInventoryOverview paginates by SKU with totals and per-location split", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    await transfer({ sku: "WID-1", quantity: 4, fromLocation: "MAIN", toLocation: "TRUCK" });
    await stock(t, "GAD-2", "TRUCK", 3);

    const first = await emp().query(api.inventory.getInventoryOverview, { paginationOpts: { numItems: 2, cursor: null } });
    expect(first.page.map((r) => r.sku)).toEqual(["BOLT-3", "GAD-2"]);
    expect(first.isDone).toBe(false);
    expect(first.page[0]).toMatchObject({ total: 0, balances: [] });
    expect(first.page[1]).toMatchObject({ total: 3, balances: [{ location: "TRUCK", onHand: 3 }] });

    const second = await emp().query(api.inventory.getInventoryOverview, { paginationOpts: { numItems: 2, cursor: first.continueCursor } });
    expect(second.page.map((r) => r.sku)).toEqual(["WID-1"]);
    expect(second.page[0].total).toBe(10);
    expect([...second.page[0].balances].sort((a, b) => a.location.localeCompare(b.location))).toEqual([
      { location: "MAIN", onHand: 6 },
      { location: "TRUCK", onHand: 4 },
    ]);
  });

  test("getInventoryOverview filtered by location shows only that location's stock", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    await transfer({ sku: "WID-1", quantity: 4, fromLocation: "MAIN", toLocation: "TRUCK" });
    const page = await emp().query(api.inventory.getInventoryOverview, { paginationOpts: { numItems: 10, cursor: null }, location: "TRUCK" });
    const widget = page.page.find((r) => r.sku === "WID-1");
    expect(widget).toMatchObject({ total: 4, balances: [{ location: "TRUCK", onHand: 4 }] });
    await expectCode(emp().query(api.inventory.getInventoryOverview, { paginationOpts: { numItems: 10, cursor: null }, location: "NOWHERE" }), "LOCATION_NOT_FOUND");
  });

  test("getItemDetail returns the part, balances and recent events (newest first) with lines and sync state", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    vi.setSystemTime(NOW + 1000);
    const moved = await transfer({ sku: "WID-1", quantity: 4, fromLocation: "MAIN", toLocation: "TRUCK", memo: "job" });
    vi.setSystemTime(NOW + 2000);
    await stock(t, "GAD-2", "MAIN", 1);

    const detail = await emp().query(api.inventory.getItemDetail, { sku: "WID-1" });
    expect(detail.part).toMatchObject({ sku: "WID-1", qbItemListId: "10000001-1" });
    expect(detail.total).toBe(10);
    expect(detail.recentEvents.map((e) => e.type)).toEqual(["transfer", "adjustment"]);
    expect(detail.recentEvents[0]).toMatchObject({
      eventId: moved.eventId,
      refNumber: moved.refNumber,
      qbStatus: "pending",
      createdBy: "emp-1",
      memo: "job",
      lines: [{ sku: "WID-1", quantity: 4, requestedQuantity: null, previousOnHand: null }],
    });
    await expectCode(emp().query(api.inventory.getItemDetail, { sku: "NOPE" }), "PART_NOT_FOUND");
  });

  test("listRecentEvents: newest first, paginated, one filter at a time", async () => {
    await stock(t, "WID-1", "MAIN", 10);
    vi.setSystemTime(NOW + 1000);
    const tr = await transfer({ sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK" });
    vi.setSystemTime(NOW + 2000);
    const same = await transfer({ sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "MAIN-2" });
    vi.setSystemTime(NOW + 3000);
    await asEmployee(t).mutation(api.inventory.voidEvent, { eventId: tr.eventId, reason: "oops" });

    const page = (args: Record<string, unknown>, numItems = 10) =>
      emp().query(api.inventory.listRecentEvents, { paginationOpts: { numItems, cursor: null }, ...args });

    const all = await page({});
    expect(all.page.map((e) => e.refNumber)).toEqual(["TR-000003", "TR-000002", "AD-000001"]);
    expect(all.page[0].lines).toEqual([{ sku: "WID-1", quantity: 1, requestedQuantity: null, previousOnHand: null }]);

    const firstTwo = await page({}, 2);
    expect(firstTwo.page).toHaveLength(2);
    const rest = await emp().query(api.inventory.listRecentEvents, { paginationOpts: { numItems: 2, cursor: firstTwo.continueCursor } });
    expect(rest.page.map((e) => e.refNumber)).toEqual(["AD-000001"]);

    expect((await page({ type: "adjustment" })).page.map((e) => e.refNumber)).toEqual(["AD-000001"]);
    expect((await page({ status: "voided" })).page.map((e) => e.eventId)).toEqual([tr.eventId]);
    expect((await page({ qbStatus: "not_required" })).page.map((e) => e.eventId)).toEqual([same.eventId]);
    expect((await page({ qbStatus: "cancelled" })).page[0]).toMatchObject({ status: "voided", voidReason: "oops" });

    await expectCode(page({ type: "transfer", qbStatus: "pending" }), "INVALID_ARGUMENT");
  });
});
