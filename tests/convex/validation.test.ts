/**
 * Validation at the Convex boundary (issue 10, item 10): values the bridge
 * would later refuse or send wrongly are refused when they are entered, with
 * INVALID_ARGUMENT and no write, instead of killing an event at sync time.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { api, internal } from "../../convex/_generated/api";
import { OCCURRED_AT_FLOOR_MS, OCCURRED_AT_MAX_SKEW_MS } from "../../convex/lib/constants";
import { type T, asAdmin, asEmployee, expectCode, expectRejectedWithoutWrites, getEvent, newTest, seedWorld, stock } from "./setup";

const NOW = new Date("2025-03-03T09:00:00Z").getTime();

let t: T;

beforeEach(async () => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
  t = newTest();
  await seedWorld(t);
  await stock(t, "WID-1", "MAIN", 10);
});

afterEach(() => {
  vi.useRealTimers();
});

// C0, DEL and C1 controls, each somewhere inside an otherwise good value.
const CONTROLS = ["\u0000", "\t", "\n", "\r", "\u001b", "\u007f", "\u0085", "\u009f"];
const withControl = (good: string) => CONTROLS.map((c) => [JSON.stringify(c), good.slice(0, 2) + c + good.slice(2)] as const);

const BAD_LIST_IDS = [
  ["a space", "80000001 1234567890"],
  ["a control character", "80000001-\u00011"],
  ["a non-ASCII letter", "80000001-12345é"],
  ["37 characters", "8".repeat(37)],
] as const;

const location = (args: Record<string, unknown>) => asAdmin(t).mutation(api.inventory.upsertLocation, { code: "NEW", ...args } as never);
const reason = (args: Record<string, unknown>) =>
  asAdmin(t).mutation(api.inventory.upsertReasonAccount, { reasonCode: "NEW", qbAccountFullName: "Acct", ...args } as never);
const parts = (part: Record<string, unknown>) => t.mutation(internal.parts.upsertBatch, { parts: [{ sku: "NEW-1", ...part } as never] });
const transfer = (args: Record<string, unknown>) =>
  asEmployee(t).mutation(api.inventory.createTransferEvent, { sku: "WID-1", quantity: 1, fromLocation: "MAIN", toLocation: "TRUCK", ...args } as never);
const adjust = (args: Record<string, unknown>) =>
  asEmployee(t).mutation(api.inventory.createAdjustmentEvent, { sku: "WID-1", quantity: 1, location: "MAIN", mode: "delta", reasonCode: "COUNT", ...args } as never);

describe("control characters in codes, QuickBooks names and SKUs are INVALID_ARGUMENT with no writes", () => {
  const cases: [string, (value: string) => Promise<unknown>, string][] = [
    ["upsertLocation code", (value) => location({ code: value }), "DOCK-1"],
    ["upsertLocation qbSiteFullName", (value) => location({ qbSiteFullName: value }), "Dock site"],
    ["upsertReasonAccount reasonCode", (value) => reason({ reasonCode: value }), "SCRAP"],
    ["upsertReasonAccount qbAccountFullName", (value) => reason({ qbAccountFullName: value }), "Expenses:Shrinkage"],
    ["parts:upsertBatch sku", (value) => parts({ sku: value }), "SKU-77"],
    ["parts:upsertBatch qbItemFullName", (value) => parts({ qbItemFullName: value }), "Hardware:Bolt"],
    ["createTransferEvent sku", (value) => transfer({ sku: value }), "WID-1"],
    ["createTransferEvent lines[].sku", (value) => transfer({ sku: undefined, quantity: undefined, lines: [{ sku: value, quantity: 1 }] }), "WID-1"],
    ["createTransferEvent fromLocation", (value) => transfer({ fromLocation: value }), "MAIN"],
    ["createTransferEvent toLocation", (value) => transfer({ toLocation: value }), "TRUCK"],
    ["createAdjustmentEvent location", (value) => adjust({ location: value }), "MAIN"],
    ["createAdjustmentEvent reasonCode", (value) => adjust({ reasonCode: value }), "COUNT"],
  ];
  for (const [name, call, good] of cases) {
    test.each(withControl(good))(`${name} with %s`, async (_label, value) => {
      const data = await expectCode(call(value), "INVALID_ARGUMENT");
      expect(typeof (data as Record<string, unknown>).field).toBe("string");
      await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => call(value));
    });
  }
});

describe("ListIDs must be in QuickBooks' format", () => {
  const cases: [string, (value: string) => Promise<unknown>][] = [
    ["upsertLocation qbSiteListId", (value) => location({ qbSiteListId: value })],
    ["upsertReasonAccount qbAccountListId", (value) => reason({ qbAccountListId: value })],
    ["parts:upsertBatch qbItemListId", (value) => parts({ qbItemListId: value })],
  ];
  for (const [name, call] of cases) {
    test.each(BAD_LIST_IDS)(`${name} with %s is INVALID_ARGUMENT with no writes`, async (_label, value) => {
      await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => call(value));
    });

    test(`${name}: a real ListID (and one of 36 characters) is accepted`, async () => {
      await call("80000001-1234567890");
      await call("8000000A-1234567890-ABCDEF-12345678");
    });
  }
});

describe("good values stay good", () => {
  test("QuickBooks names with colons, punctuation and Latin-1 letters are accepted and stored trimmed", async () => {
    await location({ code: " DOCK-2 ", qbSiteFullName: "  Müller's Dock " });
    await reason({ reasonCode: "SCRAP", qbAccountFullName: "Cost of Goods Sold:Shrinkage & Waste" });
    await parts({ sku: "GSK-9", qbItemFullName: "Gaskets:Gasket set Müller & Söhne" });
    const doc = await t.run(
      async (ctx) =>
        await ctx.db
          .query("inventory_locations")
          .withIndex("by_code", (q) => q.eq("code", "DOCK-2"))
          .unique(),
    );
    expect(doc).toMatchObject({ code: "DOCK-2", qbSiteFullName: "Müller's Dock" });
  });
});

describe("occurredAt between the floor and now (+ skew)", () => {
  const cases: [string, number][] = [
    ["1 ms after the epoch", 1],
    ["seconds sent as milliseconds (2025 in seconds = January 1970)", Math.floor(NOW / 1000)],
    ["1 ms before the floor (1999-12-31T23:59:59.999Z)", OCCURRED_AT_FLOOR_MS - 1],
    ["negative", -NOW],
    ["beyond the skew", NOW + OCCURRED_AT_MAX_SKEW_MS + 1],
  ];
  test.each(cases)("transfer: %s is INVALID_ARGUMENT with no writes", async (_name, occurredAt) => {
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => transfer({ occurredAt }));
  });
  test.each(cases)("adjustment: %s is INVALID_ARGUMENT with no writes", async (_name, occurredAt) => {
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => adjust({ occurredAt }));
  });

  test("the floor itself and the edge of the skew are accepted", async () => {
    expect(OCCURRED_AT_FLOOR_MS).toBe(Date.parse("2000-01-01T00:00:00Z"));
    const floor = await transfer({ occurredAt: OCCURRED_AT_FLOOR_MS });
    expect((await getEvent(t, floor.eventId)).occurredAt).toBe(OCCURRED_AT_FLOOR_MS);
    const edge = await adjust({ occurredAt: NOW + OCCURRED_AT_MAX_SKEW_MS });
    expect((await getEvent(t, edge.eventId)).occurredAt).toBe(NOW + OCCURRED_AT_MAX_SKEW_MS);
  });
});
