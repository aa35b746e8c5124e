/**
 * Deciding whether a transaction QuickBooks found under an event's RefNumber
 * IS that event. A RefNumber alone proves nothing: QuickBooks does not keep
 * them unique, and anyone can type "AD-000007" into a hand-made adjustment.
 *
 * Every transaction the bridge sends carries the event's ExternalGUID (a
 * value derived from the event id). A found transaction that carries it is
 * the event; one that carries another GUID is not. One without a GUID (sent
 * before GUIDs, or typed by hand) is the event only if its content is what
 * the event would have posted: type (the query asks for one type), item,
 * quantity per line, account and site(s). Anything else is a conflict for a
 * person to settle; the event is never marked applied on a guess.
 */
import type { EventPayload, FoundTxn, QbRef } from "./contract";

const MASK_64 = (1n << 64n) - 1n;

function fnv1a64(text: string, seed: bigint): bigint {
  let hash = 0xcbf29ce484222325n ^ seed;
  for (const char of text) {
    hash ^= BigInt(char.codePointAt(0) as number);
    hash = (hash * 0x100000001b3n) & MASK_64;
  }
  return hash;
}

/** The event's ExternalGUID: stable, derived from its id, in QuickBooks' GUIDTYPE form. */
export function eventGuid(eventId: string): string {
  const hex = [0n, 0x9e3779b97f4a7c15n].map((seed) => fnv1a64(eventId, seed).toString(16).padStart(16, "0")).join("").toUpperCase();
  return `{${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}}`;
}

/**
 * Names as QuickBooks compares them: case-insensitive. Accents are dropped
 * because the bridge transliterates text outside ISO-8859-1 before sending,
 * so the name QuickBooks stored may differ from the mapping in exactly that.
 */
function nameKey(name: string): string {
  return name.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").trim().toLowerCase();
}

/** Same list entry: by ListID when both sides know it, else by name. */
export function sameRef(expected: QbRef | null, found: QbRef | null): boolean {
  if (expected === null || found === null) return expected === found;
  if (expected.listId !== null && found.listId !== null) return expected.listId === found.listId;
  if (expected.fullName !== null && found.fullName !== null) return nameKey(expected.fullName) === nameKey(found.fullName);
  return false;
}

const show = (ref: QbRef | null) => (ref === null ? "none" : (ref.fullName ?? ref.listId ?? "?"));

/** The event's item reference as the renderer sends it (an unmapped part goes by its SKU). */
function itemRef(line: EventPayload["lines"][number]): QbRef {
  return line.item.listId !== null || line.item.fullName !== null ? line.item : { listId: null, fullName: line.sku };
}

/** The first way `found` differs from what `event` would post, or null when it matches. */
export function contentDifference(event: EventPayload, found: FoundTxn): string | null {
  const refs: [string, QbRef | null, QbRef | null][] =
    event.type === "transfer"
      ? [
          ["from site", event.fromSite, found.fromSite],
          ["to site", event.toSite, found.toSite],
        ]
      : [
          ["account", event.account, found.account],
          ["site", event.site, found.site],
        ];
  for (const [what, expected, actual] of refs) {
    if (!sameRef(expected, actual)) return `${what} is ${show(actual)}, the event's is ${show(expected)}`;
  }
  const unmatched = [...found.lines];
  for (const line of event.lines) {
    const expected = itemRef(line);
    const index = unmatched.findIndex((l) => sameRef(expected, l.item) && Math.abs(l.quantity - line.quantity) < 1e-9);
    if (index < 0) return `it has no line of ${line.quantity} x ${show(expected)}`;
    unmatched.splice(index, 1);
  }
  if (unmatched.length > 0) return `it has ${unmatched.length} line(s) the event does not (e.g. ${unmatched[0].quantity} x ${show(unmatched[0].item)})`;
  return null;
}

export type LookupVerdict =
  | { kind: "match"; txnId: string }
  | { kind: "absent" }
  | { kind: "conflict"; reason: string };

/** What a RefNumber lookup's answer means for `event`. */
export function lookupVerdict(event: EventPayload, found: FoundTxn[]): LookupVerdict {
  const candidates = found.filter((txn) => txn.refNumber === event.refNumber);
  if (candidates.length === 0) return { kind: "absent" };
  const ours = candidates.filter((txn) =>
    txn.externalGuid !== null ? txn.externalGuid.toUpperCase() === event.externalGuid : contentDifference(event, txn) === null,
  );
  if (ours.length === 1) return { kind: "match", txnId: ours[0].txnId };
  if (ours.length > 1) {
    return {
      kind: "conflict",
      reason: `QuickBooks holds ${ours.length} transactions that match ${event.refNumber} (TxnIDs ${ours.map((t) => t.txnId).join(", ")}): it may have been posted twice. Delete the extra one in QuickBooks, then resolve the event with the TxnID that stays.`,
    };
  }
  const first = candidates[0];
  const why = first.externalGuid !== null ? "it was written by another application (a different ExternalGUID)" : contentDifference(event, first);
  return {
    kind: "conflict",
    reason: `QuickBooks holds a transaction with RefNumber ${event.refNumber} (TxnID ${first.txnId}) that is not this event: ${why}. If this event never reached QuickBooks, resolve it with --send; if that transaction is this event, resolve it with --txn-id ${first.txnId}.`,
  };
}
