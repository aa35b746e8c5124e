import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";
import {
  ADJUSTMENT_MODES,
  EVENT_STATUSES,
  EVENT_TYPES,
  QB_STATUSES,
  SESSION_STATUSES,
} from "./lib/constants";
import { qbTables, vQueryRequest } from "./lib/qbTables";
import { adminTables } from "./lib/adminTables";

const literals = <T extends string>(values: readonly T[]) =>
  v.union(...values.map((value) => v.literal(value)));

export const vEventType = literals(EVENT_TYPES);
export const vEventStatus = literals(EVENT_STATUSES);
export const vQbStatus = literals(QB_STATUSES);
export const vAdjustmentMode = literals(ADJUSTMENT_MODES);
export const vSessionStatus = literals(SESSION_STATUSES);

/** A part's fields; the importer's batch upsert takes exactly these. */
export const partFields = {
  sku: v.string(),
  name: v.optional(v.string()),
  description: v.optional(v.string()),
  cost: v.optional(v.number()),
  price: v.optional(v.number()),
  active: v.optional(v.boolean()),
  qbItemListId: v.optional(v.string()),
  qbItemFullName: v.optional(v.string()),
};

export default defineSchema({
  // The user's existing parts table, extended with optional QuickBooks mapping.
  inventory_parts: defineTable(partFields).index("by_sku", ["sku"]).index("by_qbItemListId", ["qbItemListId"]),

  inventory_locations: defineTable({
    code: v.string(),
    name: v.string(),
    active: v.boolean(),
    qbSiteListId: v.optional(v.string()),
    qbSiteFullName: v.optional(v.string()),
  }).index("by_code", ["code"]),

  inventory_reason_accounts: defineTable({
    reasonCode: v.string(),
    description: v.optional(v.string()),
    active: v.boolean(),
    qbAccountListId: v.optional(v.string()),
    qbAccountFullName: v.optional(v.string()),
  }).index("by_reasonCode", ["reasonCode"]),

  // Materialized on-hand per (part, location), written only alongside events.
  inventory_balances: defineTable({
    partId: v.id("inventory_parts"),
    locationId: v.id("inventory_locations"),
    onHand: v.number(),
  })
    .index("by_part_location", ["partId", "locationId"])
    .index("by_location_onHand", ["locationId", "onHand"]),

  inventory_events: defineTable({
    type: vEventType,
    status: vEventStatus,
    qbStatus: vQbStatus,
    refNumber: v.string(),
    occurredAt: v.number(),
    memo: v.optional(v.string()),
    createdBy: v.string(),
    createdByName: v.optional(v.string()),
    lineCount: v.number(),
    // transfer
    fromLocationId: v.optional(v.id("inventory_locations")),
    toLocationId: v.optional(v.id("inventory_locations")),
    // adjustment
    locationId: v.optional(v.id("inventory_locations")),
    reasonCode: v.optional(v.string()),
    reasonAccountId: v.optional(v.id("inventory_reason_accounts")),
    mode: v.optional(vAdjustmentMode),
    // queue
    retryCount: v.number(),
    nextAttemptAt: v.number(),
    claimCount: v.number(),
    claimToken: v.optional(v.string()),
    claimSessionId: v.optional(v.id("qb_sync_sessions")),
    // Written by releases before claims belonged to their session; read by nothing.
    leaseExpiresAt: v.optional(v.number()),
    // Set when a claim was lost with the outcome unknown: QuickBooks may hold
    // the transaction, so the next claim (in a later session) must look it up
    // before anything is sent again.
    qbLookupRequired: v.optional(v.boolean()),
    // qbStatus "held": why (shown by `qbwc-bridge status`). "mapping": it waits for
    // a mapping and moves on by itself once fixed; "conflict": a person decides.
    holdReason: v.optional(v.string()),
    holdKind: v.optional(v.union(v.literal("mapping"), v.literal("conflict"))),
    // What a mapping hold waits for, e.g. "item:<partId>", "site:<locationId>", "account:<reasonId>".
    holdKeys: v.optional(v.array(v.string())),
    lastError: v.optional(v.string()),
    lastStatusCode: v.optional(v.string()),
    qbTxnId: v.optional(v.string()),
    appliedAt: v.optional(v.number()),
    // void
    voidedAt: v.optional(v.number()),
    voidedBy: v.optional(v.string()),
    voidReason: v.optional(v.string()),
  })
    .index("by_refNumber", ["refNumber"])
    .index("by_qbStatus_nextAttemptAt", ["qbStatus", "nextAttemptAt"])
    .index("by_claimSession_qbStatus", ["claimSessionId", "qbStatus"])
    .index("by_lookup_qbStatus", ["qbLookupRequired", "qbStatus"])
    .index("by_qbStatus_appliedAt", ["qbStatus", "appliedAt"])
    .index("by_type", ["type"])
    .index("by_status", ["status"]),

  inventory_event_lines: defineTable({
    eventId: v.id("inventory_events"),
    lineNo: v.number(),
    partId: v.id("inventory_parts"),
    // Transfer: units moved (> 0). Adjustment: signed delta sent to QuickBooks.
    quantity: v.number(),
    // Adjustment in set mode: the count the employee entered, and what was on
    // hand before, so the delta can be explained later.
    requestedQuantity: v.optional(v.number()),
    previousOnHand: v.optional(v.number()),
  })
    .index("by_event", ["eventId", "lineNo"])
    .index("by_part", ["partId"]),

  // One per QBWC session (authenticate .. closeConnection). At most one is
  // "open" and live at a time: the company file's only writer (lib/sessions.ts).
  qb_sync_sessions: defineTable({
    ticketHash: v.string(),
    userName: v.string(),
    // "refused": an authenticate answered busy, kept a day for getLastError.
    status: vSessionStatus,
    companyFile: v.optional(v.string()),
    qbXmlVersion: v.optional(v.string()),
    openedAt: v.number(),
    lastSeenAt: v.number(),
    // lastSeenAt + ttlMs: silent past this, the session is over.
    expiresAt: v.number(),
    ttlMs: v.optional(v.number()),
    closedAt: v.optional(v.number()),
    closeReason: v.optional(v.string()),
    claimed: v.number(),
    applied: v.number(),
    failed: v.number(),
    dead: v.number(),
    held: v.optional(v.number()),
    lastError: v.optional(v.string()),
    // The message sent and not answered yet: its answer must carry these requestIDs.
    outstanding: v.optional(
      v.object({
        messageId: v.string(),
        requestIds: v.array(v.string()),
        sentAt: v.number(),
        // The reads among them (company facts, list pages), so their answers find their way.
        reads: v.optional(v.array(vQueryRequest)),
      }),
    ),
    // The last send/receive call, so a transport retry of it returns the same answer.
    lastCall: v.optional(
      v.object({
        callId: v.string(),
        kind: v.union(v.literal("send"), v.literal("receive")),
        percent: v.optional(v.number()),
      }),
    ),
  })
    .index("by_ticketHash", ["ticketHash"])
    .index("by_status_lastSeenAt", ["status", "lastSeenAt"]),

  // Named counters: event sequence (refNumbers) and per-qbStatus counts, so
  // status reporting never scans the events table.
  ...qbTables,

  ...adminTables,

  inventory_counters: defineTable({
    name: v.string(),
    value: v.number(),
  }).index("by_name", ["name"]),
});
