import { paginationOptsValidator } from "convex/server";
import { v } from "convex/values";
import type { Doc, Id } from "./_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "./_generated/server";
import { adminMutation, employeeMutation, employeeQuery } from "./lib/auth";
import { ERROR_CODES, VOIDABLE_QB_STATUSES } from "./lib/constants";
import { fail } from "./lib/errors";
import {
  changeBalance,
  collectLines,
  eventLines,
  findLocationByCode,
  insertEvent,
  onHand,
  requireActiveLocation,
  requireActiveReason,
  requirePart,
  reverseEvent,
  resolveLineParts,
  increaseCannotFall,
  sameQbSite,
  type LineInput,
  type NewLine,
} from "./lib/ledger";
import { wakeHolds } from "./lib/mapping";
import { type MappingChange, mappingRef, recordMappingChange } from "./lib/mappingLog";
import { queueState, transition } from "./lib/queue";
import { isAdmin, mayVoid } from "./lib/roles";
import {
  codeText,
  fullNameText,
  listIdText,
  memoText,
  occurredAtOrNow,
  optionalText,
  reasonText,
  requireQuantity,
  siteNameText,
  skuText,
} from "./lib/validate";
import { vAdjustmentMode, vEventStatus, vEventType, vQbStatus } from "./schema";

const vLine = v.object({
  sku: v.optional(v.string()),
  partId: v.optional(v.id("inventory_parts")),
  quantity: v.number(),
});

/** Every line's quantity and SKU checked before anything is read or written. */
function checkLines(lines: LineInput[], quantityRule: Parameters<typeof requireQuantity>[2] = {}) {
  for (const line of lines) {
    requireQuantity(line.quantity, "quantity", quantityRule);
    if (line.sku !== undefined) skuText(line.sku);
  }
}

const singleLine = (args: { sku?: string; partId?: Id<"inventory_parts">; quantity?: number }) =>
  args.sku === undefined && args.partId === undefined && args.quantity === undefined
    ? null
    : { sku: args.sku, partId: args.partId, quantity: args.quantity ?? Number.NaN };

/**
 * Moves stock between two locations. Single line: {sku, quantity}; several
 * parts at once: {lines}. Everything (balances, event, lines) is one
 * transaction, so a rejected line leaves no trace.
 */
export const createTransferEvent = employeeMutation({
  args: {
    sku: v.optional(v.string()),
    partId: v.optional(v.id("inventory_parts")),
    quantity: v.optional(v.number()),
    lines: v.optional(v.array(vLine)),
    fromLocation: v.string(),
    toLocation: v.string(),
    memo: v.optional(v.string()),
    occurredAt: v.optional(v.number()),
  },
  handler: async (ctx, args) => {
    const now = Date.now();
    const lines = collectLines(singleLine(args), args.lines);
    checkLines(lines);
    const memo = memoText(args.memo);
    const occurredAt = occurredAtOrNow(args.occurredAt, now);
    const fromCode = codeText(args.fromLocation, "fromLocation");
    const toCode = codeText(args.toLocation, "toLocation");
    if (fromCode === toCode) {
      fail(ERROR_CODES.SAME_LOCATION, "From and to locations must differ.", { location: fromCode });
    }
    const from = await requireActiveLocation(ctx.db, fromCode);
    const to = await requireActiveLocation(ctx.db, toCode);
    const resolved = await resolveLineParts(ctx.db, lines);
    for (const { part, quantity } of resolved) {
      await changeBalance(ctx.db, part._id, from._id, -quantity, (available) =>
        fail(ERROR_CODES.INSUFFICIENT_STOCK, `Only ${available} of ${part.sku} at ${from.code}; cannot move ${quantity}.`, {
          sku: part.sku,
          location: from.code,
          available,
          requested: quantity,
        }),
      );
      await changeBalance(ctx.db, part._id, to._id, quantity, increaseCannotFall);
    }
    const event = await insertEvent(
      ctx.db,
      ctx.actor,
      {
        type: "transfer",
        qbStatus: sameQbSite(from, to) ? "not_required" : "pending",
        occurredAt,
        memo,
        fromLocationId: from._id,
        toLocationId: to._id,
      },
      resolved.map(({ part, quantity }) => ({ partId: part._id, quantity })),
      now,
    );
    return { eventId: event._id, refNumber: event.refNumber, qbStatus: event.qbStatus };
  },
});

/**
 * Corrects a count. `delta` adds or removes units; `set` records the counted
 * quantity and stores the computed delta, which is what QuickBooks receives, so
 * the order events reach QuickBooks in cannot change its final QOH. On-hand
 * may not go below zero: a count below zero is not a count.
 */
export const createAdjustmentEvent = employeeMutation({
  args: {
    sku: v.optional(v.string()),
    partId: v.optional(v.id("inventory_parts")),
    quantity: v.optional(v.number()),
    lines: v.optional(v.array(vLine)),
    location: v.string(),
    mode: vAdjustmentMode,
    reasonCode: v.string(),
    memo: v.optional(v.string()),
    occurredAt: v.optional(v.number()),
  },
  handler: async (ctx, args) => {
    const now = Date.now();
    const lines = collectLines(singleLine(args), args.lines);
    checkLines(lines, args.mode === "set" ? { allowZero: true } : { allowNegative: true });
    const memo = memoText(args.memo);
    const occurredAt = occurredAtOrNow(args.occurredAt, now);
    const location = await requireActiveLocation(ctx.db, codeText(args.location, "location"));
    const reasonCode = codeText(args.reasonCode, "reasonCode");
    const reason = await requireActiveReason(ctx.db, reasonCode);
    const resolved = await resolveLineParts(ctx.db, lines);
    const newLines: NewLine[] = [];
    for (const { part, quantity } of resolved) {
      const previous = await onHand(ctx.db, part._id, location._id);
      const delta = args.mode === "set" ? quantity - previous : quantity;
      if (delta === 0) continue;
      await changeBalance(ctx.db, part._id, location._id, delta, (available) =>
        fail(ERROR_CODES.INSUFFICIENT_STOCK, `Only ${available} of ${part.sku} at ${location.code}; cannot remove ${-delta}.`, {
          sku: part.sku,
          location: location.code,
          available,
          requested: -delta,
        }),
      );
      newLines.push(
        args.mode === "set"
          ? { partId: part._id, quantity: delta, requestedQuantity: quantity, previousOnHand: previous }
          : { partId: part._id, quantity: delta },
      );
    }
    if (newLines.length === 0) {
      fail(ERROR_CODES.NO_CHANGE, "The counted quantity equals what is on hand; nothing to adjust.");
    }
    const event = await insertEvent(
      ctx.db,
      ctx.actor,
      {
        type: "adjustment",
        qbStatus: "pending",
        occurredAt,
        memo,
        locationId: location._id,
        reasonCode,
        reasonAccountId: reason._id,
        mode: args.mode,
      },
      newLines,
      now,
    );
    return {
      eventId: event._id,
      refNumber: event.refNumber,
      qbStatus: event.qbStatus,
      lines: newLines.map((line) => ({ quantity: line.quantity, requestedQuantity: line.requestedQuantity ?? null })),
    };
  },
});

/**
 * Cancels an event QuickBooks never saw, reversing its balance effect exactly.
 * Once QuickBooks has it (or may have it: in flight) only a compensating event
 * is honest, so those are refused with their own codes. Employees void their
 * own events; voiding someone else's takes an admin (FORBIDDEN otherwise,
 * checked before anything else about the event is revealed).
 */
export const voidEvent = employeeMutation({
  args: { eventId: v.id("inventory_events"), reason: v.string() },
  handler: async (ctx, args) => {
    const reason = reasonText(args.reason);
    const event = await ctx.db.get(args.eventId);
    if (event === null) {
      fail(ERROR_CODES.EVENT_NOT_FOUND, `No event ${args.eventId}.`, { eventId: args.eventId });
    }
    // The admin lookup is only needed when the caller is not the creator.
    const own = event.createdBy === ctx.actor.subject;
    if (!mayVoid(ctx.actor.subject, !own && (await isAdmin(ctx.db, ctx.actor.subject)), event)) {
      fail(ERROR_CODES.FORBIDDEN, `Only the employee who recorded ${event.refNumber}, or an admin, may void it.`, {
        eventId: event._id,
      });
    }
    if (event.status === "voided") {
      fail(ERROR_CODES.ALREADY_VOIDED, `Event ${event.refNumber} is already voided.`, { eventId: event._id });
    }
    // A lapsed claim (lookup pending) may already be in QuickBooks: as unsafe to void as in flight.
    if (event.qbStatus === "in_flight" || event.qbLookupRequired) {
      fail(ERROR_CODES.VOID_IN_FLIGHT, `Event ${event.refNumber} is (or may already be) in QuickBooks; try again after the sync.`, {
        eventId: event._id,
      });
    }
    if (!VOIDABLE_QB_STATUSES.includes(event.qbStatus)) {
      fail(ERROR_CODES.VOID_APPLIED, `Event ${event.refNumber} is already in QuickBooks; record a compensating event instead.`, {
        eventId: event._id,
        qbTxnId: event.qbTxnId ?? null,
      });
    }
    await reverseEvent(ctx.db, event);
    await transition(ctx.db, event, "cancelled", {
      status: "voided",
      voidedAt: Date.now(),
      voidedBy: ctx.actor.subject,
      voidReason: reason,
    });
    return { eventId: event._id, refNumber: event.refNumber, status: "voided" as const, qbStatus: "cancelled" as const };
  },
});

/**
 * Creates or updates a location by code (admins only). Repeating the same call
 * writes nothing; a change of its QuickBooks site is recorded in the mapping log.
 */
export const upsertLocation = adminMutation({
  args: {
    code: v.string(),
    name: v.optional(v.string()),
    active: v.optional(v.boolean()),
    qbSiteListId: v.optional(v.string()),
    qbSiteFullName: v.optional(v.string()),
  },
  handler: async (ctx, args) => {
    const code = codeText(args.code, "code");
    const fields = {
      name: optionalText(args.name, "name", 200),
      active: args.active,
      qbSiteListId: listIdText(args.qbSiteListId, "qbSiteListId"),
      qbSiteFullName: siteNameText(args.qbSiteFullName, "qbSiteFullName"),
    };
    const existing = await findLocationByCode(ctx.db, code);
    const siteChange = {
      kind: "site" as const,
      key: code,
      changedBy: ctx.actor.subject,
      source: "inventory:upsertLocation",
      old: mappingRef(existing?.qbSiteListId, existing?.qbSiteFullName),
      new: mappingRef(fields.qbSiteListId ?? existing?.qbSiteListId, fields.qbSiteFullName ?? existing?.qbSiteFullName),
      at: Date.now(),
    };
    if (existing === null) {
      const id = await ctx.db.insert("inventory_locations", {
        code,
        name: fields.name ?? code,
        active: fields.active ?? true,
        qbSiteListId: fields.qbSiteListId,
        qbSiteFullName: fields.qbSiteFullName,
      });
      await recordMappingChange(ctx.db, siteChange);
      return { locationId: id, result: "created" as const };
    }
    if (fields.active === false && existing.active) {
      const stocked = await ctx.db
        .query("inventory_balances")
        .withIndex("by_location_onHand", (q) => q.eq("locationId", existing._id).gt("onHand", 0))
        .first();
      if (stocked !== null) {
        fail(ERROR_CODES.LOCATION_HAS_STOCK, `Location "${code}" still holds stock; move it out before deactivating.`, {
          location: code,
        });
      }
    }
    const result = await patchChanged(ctx, existing, fields);
    await recordRemap(ctx.db, siteChange);
    return { locationId: existing._id, result };
  },
});

/**
 * Creates or updates the QuickBooks account a reason code posts to (admins
 * only). A change of the account is recorded in the mapping log.
 */
export const upsertReasonAccount = adminMutation({
  args: {
    reasonCode: v.string(),
    description: v.optional(v.string()),
    active: v.optional(v.boolean()),
    qbAccountListId: v.optional(v.string()),
    qbAccountFullName: v.optional(v.string()),
  },
  handler: async (ctx, args) => {
    const reasonCode = codeText(args.reasonCode, "reasonCode");
    const fields = {
      description: optionalText(args.description, "description", 500),
      active: args.active,
      qbAccountListId: listIdText(args.qbAccountListId, "qbAccountListId"),
      qbAccountFullName: fullNameText(args.qbAccountFullName, "qbAccountFullName"),
    };
    const existing = await ctx.db
      .query("inventory_reason_accounts")
      .withIndex("by_reasonCode", (q) => q.eq("reasonCode", reasonCode))
      .unique();
    const accountChange = {
      kind: "account" as const,
      key: reasonCode,
      changedBy: ctx.actor.subject,
      source: "inventory:upsertReasonAccount",
      old: mappingRef(existing?.qbAccountListId, existing?.qbAccountFullName),
      new: mappingRef(fields.qbAccountListId ?? existing?.qbAccountListId, fields.qbAccountFullName ?? existing?.qbAccountFullName),
      at: Date.now(),
    };
    if (existing === null) {
      if (fields.qbAccountListId === undefined && fields.qbAccountFullName === undefined) {
        fail(ERROR_CODES.INVALID_ARGUMENT, "A reason code needs a QuickBooks account (qbAccountListId or qbAccountFullName).", {
          field: "qbAccountFullName",
        });
      }
      const id = await ctx.db.insert("inventory_reason_accounts", { reasonCode, ...fields, active: fields.active ?? true });
      await recordMappingChange(ctx.db, accountChange);
      return { reasonAccountId: id, result: "created" as const };
    }
    const result = await patchChanged(ctx, existing, fields);
    await recordRemap(ctx.db, accountChange);
    return { reasonAccountId: existing._id, result };
  },
});

/**
 * Logs a changed mapping of an existing location or reason code; the events
 * held for a mapping are checked again at once (one it held may be fixed).
 */
async function recordRemap(db: DatabaseWriter, change: MappingChange) {
  if ((await recordMappingChange(db, change)) !== null) await wakeHolds(db, null, change.at);
}

/** Patches only fields that were given and differ; "unchanged" writes nothing. */
async function patchChanged<T extends Doc<"inventory_locations"> | Doc<"inventory_reason_accounts">>(
  ctx: { db: DatabaseWriter },
  existing: T,
  fields: Record<string, string | boolean | undefined>,
): Promise<"updated" | "unchanged"> {
  const changes = Object.fromEntries(
    Object.entries(fields).filter(([key, value]) => value !== undefined && (existing as Record<string, unknown>)[key] !== value),
  );
  if (Object.keys(changes).length === 0) return "unchanged";
  await ctx.db.patch(existing._id, changes);
  return "updated";
}

async function balancesOf(ctx: { db: DatabaseReader }, partId: Id<"inventory_parts">) {
  const balances = await ctx.db
    .query("inventory_balances")
    .withIndex("by_part_location", (q) => q.eq("partId", partId))
    .take(500);
  const locations = await Promise.all(balances.map((b) => ctx.db.get(b.locationId)));
  return balances.map((b, i) => ({ locationId: b.locationId, locationCode: locations[i]?.code ?? "?", onHand: b.onHand }));
}

/** Per SKU: total on hand and the split by location; optionally one location only. */
export const getInventoryOverview = employeeQuery({
  args: { paginationOpts: paginationOptsValidator, location: v.optional(v.string()) },
  handler: async (ctx, args) => {
    const location = args.location === undefined ? null : await findLocationByCode(ctx.db, args.location);
    if (args.location !== undefined && location === null) {
      fail(ERROR_CODES.LOCATION_NOT_FOUND, `No location with code "${args.location}".`, { location: args.location });
    }
    const page = await ctx.db.query("inventory_parts").withIndex("by_sku").paginate(args.paginationOpts);
    const rows = await Promise.all(
      page.page.map(async (part) => {
        const all = await balancesOf(ctx, part._id);
        const balances = location === null ? all : all.filter((b) => b.locationId === location._id);
        return {
          partId: part._id,
          sku: part.sku,
          name: part.name ?? null,
          total: balances.reduce((sum, b) => sum + b.onHand, 0),
          balances: balances.map(({ locationCode, onHand }) => ({ location: locationCode, onHand })),
        };
      }),
    );
    return { ...page, page: rows };
  },
});

const RECENT_EVENTS = 20;

/** One part: its mapping, balances, and its latest events with lines and sync state. */
export const getItemDetail = employeeQuery({
  args: { sku: v.optional(v.string()), partId: v.optional(v.id("inventory_parts")) },
  handler: async (ctx, args) => {
    const part = await requirePart(ctx.db, args);
    const balances = await balancesOf(ctx, part._id);
    const myLines = await ctx.db
      .query("inventory_event_lines")
      .withIndex("by_part", (q) => q.eq("partId", part._id))
      .order("desc")
      .take(RECENT_EVENTS);
    const recentEvents = await Promise.all(
      myLines.map(async (line) => {
        const event = (await ctx.db.get(line.eventId)) as Doc<"inventory_events">;
        return { ...eventSummary(event), lines: await linesWithSku(ctx, event._id) };
      }),
    );
    return {
      part,
      balances: balances.map(({ locationCode, onHand }) => ({ location: locationCode, onHand })),
      total: balances.reduce((sum, b) => sum + b.onHand, 0),
      recentEvents,
    };
  },
});

function eventSummary(event: Doc<"inventory_events">) {
  return {
    ...queueState(event),
    type: event.type,
    status: event.status,
    occurredAt: event.occurredAt,
    createdAt: event._creationTime,
    createdBy: event.createdBy,
    memo: event.memo ?? null,
    reasonCode: event.reasonCode ?? null,
    mode: event.mode ?? null,
    lastStatusCode: event.lastStatusCode ?? null,
    voidReason: event.voidReason ?? null,
  };
}

async function linesWithSku(ctx: { db: DatabaseReader }, eventId: Id<"inventory_events">) {
  const lines = await eventLines(ctx.db, eventId);
  const parts = await Promise.all(lines.map((l) => ctx.db.get(l.partId)));
  return lines.map((line, i) => ({
    sku: parts[i]?.sku ?? "?",
    quantity: line.quantity,
    requestedQuantity: line.requestedQuantity ?? null,
    previousOnHand: line.previousOnHand ?? null,
  }));
}

/** Newest first; at most one filter applies through its index (type, status or qbStatus). */
export const listRecentEvents = employeeQuery({
  args: {
    paginationOpts: paginationOptsValidator,
    type: v.optional(vEventType),
    status: v.optional(vEventStatus),
    qbStatus: v.optional(vQbStatus),
  },
  handler: async (ctx, args) => {
    const filters = [args.type, args.status, args.qbStatus].filter((f) => f !== undefined);
    if (filters.length > 1) {
      fail(ERROR_CODES.INVALID_ARGUMENT, "Filter by one of type, status or qbStatus.", { field: "type" });
    }
    const events = ctx.db.query("inventory_events");
    const indexed =
      args.type !== undefined
        ? events.withIndex("by_type", (q) => q.eq("type", args.type!))
        : args.status !== undefined
          ? events.withIndex("by_status", (q) => q.eq("status", args.status!))
          : args.qbStatus !== undefined
            ? events.withIndex("by_qbStatus_nextAttemptAt", (q) => q.eq("qbStatus", args.qbStatus!))
            : events;
    const page = await indexed.order("desc").paginate(args.paginationOpts);
    return {
      ...page,
      page: await Promise.all(page.page.map(async (e) => ({ ...eventSummary(e), lines: await linesWithSku(ctx, e._id) }))),
    };
  },
});

