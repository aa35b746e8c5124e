import type { Doc, Id } from "../_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import { ERROR_CODES, MAX_EVENT_LINES, type EventType, type QbStatus } from "./constants";
import { EVENT_SEQUENCE, addToCounter, qbStatusCounter } from "./counters";
import { fail } from "./errors";
import type { Actor } from "./auth";

/** A part is named by SKU (exact string) or by document id. */
export type PartSelector = { sku?: string; partId?: Id<"inventory_parts"> };

export async function findPartBySku(db: DatabaseReader, sku: string) {
  return await db
    .query("inventory_parts")
    .withIndex("by_sku", (q) => q.eq("sku", sku))
    .unique();
}

export async function requirePart(db: DatabaseReader, selector: PartSelector): Promise<Doc<"inventory_parts">> {
  if ((selector.sku === undefined) === (selector.partId === undefined)) {
    fail(ERROR_CODES.INVALID_ARGUMENT, "Give exactly one of sku or partId.", { field: "sku" });
  }
  const part =
    selector.partId !== undefined
      ? await db.get(selector.partId)
      : await findPartBySku(db, selector.sku as string);
  if (part === null) {
    const name = selector.sku ?? selector.partId ?? "";
    fail(ERROR_CODES.PART_NOT_FOUND, `No part with SKU or id "${name}".`, { sku: selector.sku ?? null });
  }
  return part;
}

export async function findLocationByCode(db: DatabaseReader, code: string) {
  return await db
    .query("inventory_locations")
    .withIndex("by_code", (q) => q.eq("code", code))
    .unique();
}

/** Stock may only move to or from a location that exists and is in use. */
export async function requireActiveLocation(db: DatabaseReader, code: string): Promise<Doc<"inventory_locations">> {
  const location = await findLocationByCode(db, code);
  if (location === null) {
    fail(ERROR_CODES.LOCATION_NOT_FOUND, `No location with code "${code}".`, { location: code });
  }
  if (!location.active) {
    fail(ERROR_CODES.LOCATION_INACTIVE, `Location "${code}" is inactive.`, { location: code });
  }
  return location;
}

export async function findBalance(db: DatabaseReader, partId: Id<"inventory_parts">, locationId: Id<"inventory_locations">) {
  return await db
    .query("inventory_balances")
    .withIndex("by_part_location", (q) => q.eq("partId", partId).eq("locationId", locationId))
    .unique();
}

export async function onHand(db: DatabaseReader, partId: Id<"inventory_parts">, locationId: Id<"inventory_locations">) {
  return (await findBalance(db, partId, locationId))?.onHand ?? 0;
}

/**
 * Changes one balance. On-hand never goes below zero: `onShortfall` raises the
 * caller's own error so the message fits the operation (transfer, count, void).
 */
export async function changeBalance(
  db: DatabaseWriter,
  partId: Id<"inventory_parts">,
  locationId: Id<"inventory_locations">,
  delta: number,
  onShortfall: (available: number) => never,
): Promise<number> {
  const balance = await findBalance(db, partId, locationId);
  const current = balance?.onHand ?? 0;
  const next = current + delta;
  if (next < 0) onShortfall(current);
  if (balance === null) {
    await db.insert("inventory_balances", { partId, locationId, onHand: next });
  } else if (delta !== 0) {
    await db.patch(balance._id, { onHand: next });
  }
  return next;
}

/** The reason code an adjustment names, which must exist and be in use. */
export async function requireActiveReason(db: DatabaseReader, reasonCode: string): Promise<Doc<"inventory_reason_accounts">> {
  const reason = await db
    .query("inventory_reason_accounts")
    .withIndex("by_reasonCode", (q) => q.eq("reasonCode", reasonCode))
    .unique();
  if (reason === null) {
    fail(ERROR_CODES.REASON_NOT_FOUND, `No reason code "${reasonCode}".`, { reasonCode });
  }
  if (!reason.active) {
    fail(ERROR_CODES.REASON_INACTIVE, `Reason code "${reasonCode}" is inactive.`, { reasonCode });
  }
  return reason;
}

/**
 * Undoes an event's effect on balances exactly (a void). Refused when the
 * stock has moved on since, so no balance ever goes below zero.
 */
export async function reverseEvent(db: DatabaseWriter, event: Doc<"inventory_events">): Promise<void> {
  for (const line of await eventLines(db, event._id)) {
    const reversals: [Id<"inventory_locations"> | undefined, number][] =
      event.type === "transfer"
        ? [
            [event.toLocationId, -line.quantity],
            [event.fromLocationId, line.quantity],
          ]
        : [[event.locationId, -line.quantity]];
    for (const [locationId, delta] of reversals) {
      await changeBalance(db, line.partId, locationId as Id<"inventory_locations">, delta, (available) =>
        fail(ERROR_CODES.VOID_WOULD_GO_NEGATIVE, `Voiding ${event.refNumber} would leave a negative balance (only ${available} on hand); the stock has moved on since.`, {
          eventId: event._id,
          available,
        }),
      );
    }
  }
}

/** Shortfall handler for an increase, which cannot fall below zero. */
export function increaseCannotFall(): never {
  throw new Error("A balance increase cannot fall below zero.");
}

/** Lines as given by a caller: one SKU and a quantity, or several. */
export type LineInput = { sku?: string; partId?: Id<"inventory_parts">; quantity: number };

export function collectLines(single: LineInput | null, lines: LineInput[] | undefined): LineInput[] {
  if ((single === null) === (lines === undefined)) {
    fail(ERROR_CODES.INVALID_ARGUMENT, "Give either sku + quantity, or lines (not both).", { field: "lines" });
  }
  const all = lines ?? [single as LineInput];
  if (all.length === 0 || all.length > MAX_EVENT_LINES) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `An event has 1 to ${MAX_EVENT_LINES} lines.`, { field: "lines" });
  }
  return all;
}

/** Parts of an event must be distinct: one line per part keeps QuickBooks lines unambiguous. */
export async function resolveLineParts(db: DatabaseReader, lines: LineInput[]) {
  const seen = new Set<string>();
  const resolved: { part: Doc<"inventory_parts">; quantity: number }[] = [];
  for (const line of lines) {
    const part = await requirePart(db, line);
    if (seen.has(part._id)) {
      fail(ERROR_CODES.INVALID_ARGUMENT, `SKU "${part.sku}" appears on more than one line.`, { sku: part.sku });
    }
    seen.add(part._id);
    resolved.push({ part, quantity: line.quantity });
  }
  return resolved;
}

export function formatRefNumber(type: EventType, sequence: number): string {
  // "TR-" / "AD-" + up to 8 digits stays within qbXML's 11-character RefNumber.
  const prefix = type === "transfer" ? "TR-" : "AD-";
  return `${prefix}${String(sequence).padStart(6, "0")}`;
}

export type NewEvent = {
  type: EventType;
  qbStatus: Extract<QbStatus, "pending" | "not_required">;
  occurredAt: number;
  memo?: string;
  fromLocationId?: Id<"inventory_locations">;
  toLocationId?: Id<"inventory_locations">;
  locationId?: Id<"inventory_locations">;
  reasonCode?: string;
  reasonAccountId?: Id<"inventory_reason_accounts">;
  mode?: "delta" | "set";
};

export type NewLine = {
  partId: Id<"inventory_parts">;
  quantity: number;
  requestedQuantity?: number;
  previousOnHand?: number;
};

/** Writes an event, its lines, its refNumber and the status counter together. */
export async function insertEvent(
  db: DatabaseWriter,
  actor: Actor,
  event: NewEvent,
  lines: NewLine[],
  now: number,
): Promise<Doc<"inventory_events">> {
  const sequence = await addToCounter(db, EVENT_SEQUENCE, 1);
  const eventId = await db.insert("inventory_events", {
    ...event,
    status: "posted",
    refNumber: formatRefNumber(event.type, sequence),
    createdBy: actor.subject,
    createdByName: actor.name,
    lineCount: lines.length,
    retryCount: 0,
    nextAttemptAt: now,
    claimCount: 0,
  });
  for (const [index, line] of lines.entries()) {
    await db.insert("inventory_event_lines", { eventId, lineNo: index + 1, ...line });
  }
  await addToCounter(db, qbStatusCounter(event.qbStatus), 1);
  return (await db.get(eventId)) as Doc<"inventory_events">;
}

export async function eventLines(db: DatabaseReader, eventId: Id<"inventory_events">) {
  return await db
    .query("inventory_event_lines")
    .withIndex("by_event", (q) => q.eq("eventId", eventId))
    .take(MAX_EVENT_LINES);
}

/** Two locations are the same place for QuickBooks when they map to the same site (or both to none). */
export function sameQbSite(a: Doc<"inventory_locations">, b: Doc<"inventory_locations">): boolean {
  const key = (l: Doc<"inventory_locations">) =>
    l.qbSiteListId !== undefined ? `id:${l.qbSiteListId}` : l.qbSiteFullName !== undefined ? `name:${l.qbSiteFullName.toLowerCase()}` : "none";
  return key(a) === key(b);
}
