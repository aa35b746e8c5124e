/**
 * lib/lookup.ts on its own: the ExternalGUID every sent transaction carries,
 * and the verdict on what a RefNumber lookup found. No database involved.
 */
import { describe, expect, test } from "vitest";
import type { Id } from "../../convex/_generated/dataModel";
import type { EventPayload, FoundTxn } from "../../convex/lib/contract";
import { contentDifference, eventGuid, lookupVerdict, sameRef } from "../../convex/lib/lookup";

/** QuickBooks' GUIDTYPE, as the qbXML schema states it. */
const GUIDTYPE = /^\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}$/;

describe("eventGuid", () => {
  test("is in QuickBooks' GUIDTYPE form", () => {
    for (const id of ["k17abc", "jd7f9x2m1q8w3e4r5t6y7u8i9o0p", "", "ü-\u{1F527}", "x".repeat(200)]) {
      expect(eventGuid(id)).toMatch(GUIDTYPE);
    }
  });

  test("is stable: the same event id always gives the same GUID, today and after any release", () => {
    const id = "jd7f9x2m1q8w3e4r5t6y7u8i9o0p";
    expect(eventGuid(id)).toBe(eventGuid(id.slice(0)));
    // Pinned: changing the derivation would make every transaction already in
    // QuickBooks look foreign to its own event (a lookup would hold it).
    expect(eventGuid(id)).toBe("{7B7F2FA9-D0EE-1364-5295-36510AEDC3B1}");
    expect(eventGuid("a")).toBe("{AF63DC4C-8601-EC8C-27A4-0FB23259F6A3}");
  });

  test("differs between events, even ids one character apart", () => {
    const ids = Array.from({ length: 500 }, (_, i) => `jd7f9x2m1q8w3e4r5t6y7u8i${String(i).padStart(4, "0")}`);
    expect(new Set(ids.map(eventGuid)).size).toBe(ids.length);
    expect(eventGuid("abc")).not.toBe(eventGuid("abd"));
  });
});

describe("sameRef", () => {
  test("ListID decides when both sides carry one; otherwise the name, case-insensitively", () => {
    expect(sameRef({ listId: "1-1", fullName: "A" }, { listId: "1-1", fullName: "B" })).toBe(true);
    expect(sameRef({ listId: "1-1", fullName: "A" }, { listId: "2-2", fullName: "A" })).toBe(false);
    expect(sameRef({ listId: null, fullName: "Widgets:Widget" }, { listId: "9-9", fullName: "widgets:WIDGET" })).toBe(true);
    expect(sameRef({ listId: "1-1", fullName: null }, { listId: null, fullName: "A" })).toBe(false);
    expect(sameRef(null, null)).toBe(true);
    expect(sameRef({ listId: "1-1", fullName: null }, null)).toBe(false);
    expect(sameRef(null, { listId: "1-1", fullName: null })).toBe(false);
  });
});

const EVENT_ID = "jd7f9x2m1q8w3e4r5t6y7u8i9o0p" as Id<"inventory_events">;

function adjustment(overrides: Partial<EventPayload> = {}): EventPayload {
  return {
    eventId: EVENT_ID,
    claimToken: `${EVENT_ID}:2`,
    mode: "lookup",
    type: "adjustment",
    refNumber: "AD-000007",
    externalGuid: eventGuid(EVENT_ID),
    occurredAt: 0,
    memo: null,
    retryCount: 1,
    fromLocationCode: null,
    toLocationCode: null,
    locationCode: "TRUCK",
    reasonCode: "COUNT",
    fromSite: null,
    toSite: null,
    site: { listId: "80000002-1", fullName: "Truck 1" },
    account: { listId: "90000001-1", fullName: "Inventory Adjustments" },
    lines: [
      { sku: "WID-1", item: { listId: "10000001-1", fullName: "Widgets:Widget" }, quantity: 3 },
      { sku: "GAD-2", item: { listId: null, fullName: "Gadget" }, quantity: -2 },
    ],
    ...overrides,
  };
}

function transfer(overrides: Partial<EventPayload> = {}): EventPayload {
  return adjustment({
    type: "transfer",
    refNumber: "TR-000008",
    locationCode: null,
    reasonCode: null,
    site: null,
    account: null,
    fromLocationCode: "MAIN",
    toLocationCode: "TRUCK",
    fromSite: { listId: "80000001-1", fullName: "Main WH" },
    toSite: { listId: "80000002-1", fullName: "Truck 1" },
    lines: [{ sku: "WID-1", item: { listId: "10000001-1", fullName: "Widgets:Widget" }, quantity: 4 }],
    ...overrides,
  });
}

/** What QuickBooks would describe for `event` had it posted it without a GUID. */
function sameContent(event: EventPayload, overrides: Partial<FoundTxn> = {}): FoundTxn {
  return {
    txnId: "TXN-1",
    refNumber: event.refNumber,
    externalGuid: null,
    account: event.account,
    site: event.site,
    fromSite: event.fromSite,
    toSite: event.toSite,
    lines: event.lines.map((l) => ({ item: l.item, quantity: l.quantity })),
    ...overrides,
  };
}

describe("lookupVerdict", () => {
  test("absent when nothing was found, or nothing with exactly this RefNumber", () => {
    const event = adjustment();
    expect(lookupVerdict(event, [])).toEqual({ kind: "absent" });
    const near = ["AD-0000070", "ad-000007", "AD-00007", " AD-000007"].map((refNumber, i) =>
      sameContent(event, { refNumber, txnId: `T-${i}`, externalGuid: event.externalGuid }),
    );
    expect(lookupVerdict(event, near)).toEqual({ kind: "absent" });
    expect(lookupVerdict(event, [sameContent(event, { refNumber: null })])).toEqual({ kind: "absent" });
  });

  test("our ExternalGUID is a match, whatever the content (QuickBooks may have rounded or renamed)", () => {
    const event = adjustment();
    const found = sameContent(event, { txnId: "TXN-OURS", externalGuid: event.externalGuid, lines: [], account: null });
    expect(lookupVerdict(event, [found])).toEqual({ kind: "match", txnId: "TXN-OURS" });
    // QuickBooks may hand the GUID back in lower case.
    expect(lookupVerdict(event, [{ ...found, externalGuid: event.externalGuid.toLowerCase() }])).toEqual({ kind: "match", txnId: "TXN-OURS" });
  });

  test("a different ExternalGUID is a conflict, even with identical content", () => {
    const event = adjustment();
    const other = sameContent(event, { txnId: "TXN-X", externalGuid: eventGuid("some-other-event") });
    const verdict = lookupVerdict(event, [other]);
    expect(verdict.kind).toBe("conflict");
    expect(verdict.kind === "conflict" && verdict.reason).toContain("different ExternalGUID");
    expect(verdict.kind === "conflict" && verdict.reason).toContain("TXN-X");
    expect(verdict.kind === "conflict" && verdict.reason).toContain(event.refNumber);
  });

  test("no GUID but the same content is a match: adjustment (items by ListID, or by name in any case)", () => {
    const event = adjustment();
    expect(lookupVerdict(event, [sameContent(event)])).toEqual({ kind: "match", txnId: "TXN-1" });
    const renamed = sameContent(event, {
      // Line order does not matter; the Gadget line is known to QuickBooks by a ListID the event does not have.
      lines: [
        { item: { listId: "777-1", fullName: "GADGET" }, quantity: -2 },
        { item: { listId: "10000001-1", fullName: "Renamed in QB" }, quantity: 3 },
      ],
      account: { listId: "90000001-1", fullName: null },
      site: { listId: null, fullName: "TRUCK 1" },
    });
    expect(lookupVerdict(event, [renamed])).toEqual({ kind: "match", txnId: "TXN-1" });
  });

  test("no GUID but the same content is a match: transfer (from and to sites)", () => {
    const event = transfer();
    expect(lookupVerdict(event, [sameContent(event, { txnId: "TXN-T" })])).toEqual({ kind: "match", txnId: "TXN-T" });
  });

  test("an unmapped part is compared by its SKU, as the renderer sends it", () => {
    const event = adjustment({ lines: [{ sku: "BOLT-3", item: { listId: null, fullName: null }, quantity: 5 }] });
    expect(lookupVerdict(event, [sameContent(event, { lines: [{ item: { listId: null, fullName: "bolt-3" }, quantity: 5 }] })]).kind).toBe("match");
    expect(lookupVerdict(event, [sameContent(event, { lines: [{ item: { listId: null, fullName: "BOLT-4" }, quantity: 5 }] })]).kind).toBe("conflict");
  });

  const conflicts: [string, () => [EventPayload, FoundTxn], string][] = [
    [
      "another item",
      () => {
        const e = adjustment();
        return [e, sameContent(e, { lines: [{ item: { listId: "10000009-1", fullName: "Widgets:Widget" }, quantity: 3 }, e.lines[1]] })];
      },
      "no line of 3 x Widgets:Widget",
    ],
    [
      "another quantity",
      () => {
        const e = adjustment();
        return [e, sameContent(e, { lines: [{ item: e.lines[0].item, quantity: 4 }, e.lines[1]] })];
      },
      "no line of 3 x Widgets:Widget",
    ],
    [
      "a missing line",
      () => {
        const e = adjustment();
        return [e, sameContent(e, { lines: [e.lines[0]] })];
      },
      "no line of -2 x Gadget",
    ],
    [
      "an extra line",
      () => {
        const e = adjustment();
        return [e, sameContent(e, { lines: [...e.lines, { item: { listId: null, fullName: "Bolt" }, quantity: 1 }] })];
      },
      "1 line(s) the event does not (e.g. 1 x Bolt)",
    ],
    [
      "another account",
      () => {
        const e = adjustment();
        return [e, sameContent(e, { account: { listId: "90000002-1", fullName: "Shrinkage" } })];
      },
      "account is Shrinkage, the event's is Inventory Adjustments",
    ],
    [
      "no account",
      () => {
        const e = adjustment();
        return [e, sameContent(e, { account: null })];
      },
      "account is none",
    ],
    [
      "another site",
      () => {
        const e = adjustment();
        return [e, sameContent(e, { site: { listId: "80000001-1", fullName: "Main WH" } })];
      },
      "site is Main WH, the event's is Truck 1",
    ],
    [
      "a site where the event has none",
      () => {
        const e = adjustment({ site: null });
        return [e, sameContent(e, { site: { listId: null, fullName: "Truck 1" } })];
      },
      "site is Truck 1, the event's is none",
    ],
    [
      "another from-site",
      () => {
        const e = transfer();
        return [e, sameContent(e, { fromSite: { listId: "80000003-1", fullName: "Yard" } })];
      },
      "from site is Yard, the event's is Main WH",
    ],
    [
      "swapped from- and to-sites",
      () => {
        const e = transfer();
        return [e, sameContent(e, { fromSite: e.toSite, toSite: e.fromSite })];
      },
      "from site is Truck 1",
    ],
  ];

  test.each(conflicts)("no GUID and %s is a conflict whose reason names it", (_label, make, why) => {
    const [event, found] = make();
    expect(contentDifference(event, found)).toContain(why);
    const verdict = lookupVerdict(event, [found]);
    expect(verdict.kind).toBe("conflict");
    if (verdict.kind !== "conflict") return;
    expect(verdict.reason).toContain(why);
    expect(verdict.reason).toContain(`TxnID ${found.txnId}`);
    expect(verdict.reason).toContain(event.refNumber);
  });

  test("two transactions that both match is a conflict (it may have been posted twice)", () => {
    const event = adjustment();
    const verdict = lookupVerdict(event, [
      sameContent(event, { txnId: "TXN-A", externalGuid: event.externalGuid }),
      sameContent(event, { txnId: "TXN-B" }),
    ]);
    expect(verdict.kind).toBe("conflict");
    expect(verdict.kind === "conflict" && verdict.reason).toContain("2 transactions");
    expect(verdict.kind === "conflict" && verdict.reason).toContain("TXN-A, TXN-B");
  });

  test("ours among strangers is a match: a hand-made transaction under the same RefNumber does not hide it", () => {
    const event = adjustment();
    const verdict = lookupVerdict(event, [
      sameContent(event, { txnId: "TXN-HAND", lines: [{ item: { listId: null, fullName: "Bolt" }, quantity: 9 }] }),
      sameContent(event, { txnId: "TXN-OTHER-APP", externalGuid: eventGuid("x") }),
      sameContent(event, { txnId: "TXN-OURS", externalGuid: event.externalGuid }),
      sameContent(event, { txnId: "TXN-NEAR", refNumber: "AD-0000071" }),
    ]);
    expect(verdict).toEqual({ kind: "match", txnId: "TXN-OURS" });
  });
});
