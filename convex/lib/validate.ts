import {
  CODE_MAX,
  ERROR_CODES,
  MAX_QUANTITY,
  MEMO_MAX,
  OCCURRED_AT_FLOOR_MS,
  OCCURRED_AT_MAX_SKEW_MS,
  QB_FULL_NAME_MAX,
  QB_LIST_ID_MAX,
  QB_SITE_FULL_NAME_MAX,
  REASON_MAX,
  SKU_MAX,
  SUBJECT_MAX,
} from "./constants";
import { fail } from "./errors";

/**
 * Argument rules that Convex validators cannot express (lengths, ranges).
 * Quantities are whole units: stock is counted in pieces here, and integer
 * arithmetic keeps balances exact where decimals would drift.
 */
export function requireQuantity(value: number, field: string, opts: { allowZero?: boolean; allowNegative?: boolean } = {}): number {
  if (!Number.isInteger(value)) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `${field} must be a whole number of units, got ${value}.`, { field });
  }
  if (Math.abs(value) > MAX_QUANTITY) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `${field} is out of range (max ${MAX_QUANTITY}).`, { field });
  }
  if (value === 0 && !opts.allowZero) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `${field} must not be zero.`, { field });
  }
  if (value < 0 && !opts.allowNegative) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `${field} must be greater than zero, got ${value}.`, { field });
  }
  return value;
}

/** Trims and bounds a free-text field; empty text becomes undefined. */
export function optionalText(value: string | undefined, field: string, max: number): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed.length > max) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `${field} is longer than ${max} characters.`, { field });
  }
  return trimmed === "" ? undefined : trimmed;
}

export function requiredText(value: string, field: string, max: number): string {
  const text = optionalText(value, field, max);
  if (text === undefined) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `${field} must not be empty.`, { field });
  }
  return text;
}

/**
 * C0 and C1 control characters and DEL. qbXML (XML 1.0) cannot carry most of
 * them and QuickBooks names never contain any, so a value holding one would
 * be stored now and make its event die at sync time; refuse it here instead.
 */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

export function refuseControlCharacters<S extends string | undefined>(value: S, field: string): S {
  if (value !== undefined && CONTROL_CHARACTER.test(value)) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `${field} must not contain control characters (tab, newline, ...).`, { field });
  }
  return value;
}

/**
 * A QuickBooks ListID or TxnID. The qbXML schema's IDTYPE only caps the length
 * at 36; the ids QuickBooks issues are hex digits and a dash
 * ("80000001-1234567890"). Printable ASCII without spaces admits every real
 * id and nothing that would be sent wrongly.
 */
const QB_ID = new RegExp(`^[\\x21-\\x7e]{1,${QB_LIST_ID_MAX}}$`);

export const memoText = (memo: string | undefined) => optionalText(memo, "memo", MEMO_MAX);
export const reasonText = (reason: string) => requiredText(reason, "reason", REASON_MAX);
export const codeText = (code: string, field: string) => refuseControlCharacters(requiredText(code, field, CODE_MAX), field);
export const fullNameText = (value: string | undefined, field: string) =>
  refuseControlCharacters(optionalText(value, field, QB_FULL_NAME_MAX), field);
export const siteNameText = (value: string | undefined, field: string) =>
  refuseControlCharacters(optionalText(value, field, QB_SITE_FULL_NAME_MAX), field);

/** An optional ListID (surrounding blanks trimmed; empty means not given). */
export function listIdText(value: string | undefined, field: string): string | undefined {
  const text = optionalText(value, field, QB_LIST_ID_MAX);
  if (text !== undefined && !QB_ID.test(text)) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `${field} must be a QuickBooks ListID (1-${QB_LIST_ID_MAX} printable ASCII characters, no spaces).`, {
      field,
    });
  }
  return text;
}

/** A QuickBooks TxnID as an operator types it: printable ASCII, as QuickBooks writes them. */
export function txnIdText(value: string): string {
  const text = value.trim();
  if (!QB_ID.test(text)) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `txnId must be a QuickBooks TxnID (1-${QB_LIST_ID_MAX} printable ASCII characters).`, { field: "txnId" });
  }
  return text;
}

/**
 * A SKU as stored and looked up: exact (never trimmed here: the importer
 * trims, and lookups must match what it stored), 1 to SKU_MAX characters,
 * no control characters (an unmapped item is sent to QuickBooks by its SKU).
 */
export function skuText(sku: string, field = "sku"): string {
  if (sku === "" || sku.length > SKU_MAX) {
    fail(ERROR_CODES.INVALID_ARGUMENT, `${field} must be 1 to ${SKU_MAX} characters: "${sku.slice(0, 40)}".`, { field, sku: sku.slice(0, SKU_MAX) });
  }
  return refuseControlCharacters(sku, field);
}

/** The subject of a signed-in identity, as an operator names it for a role. */
export const subjectText = (subject: string) => refuseControlCharacters(requiredText(subject, "subject", SUBJECT_MAX), "subject");

/**
 * occurredAt may be back-dated, but not before OCCURRED_AT_FLOOR_MS and not
 * in the future beyond clock skew.
 */
export function occurredAtOrNow(occurredAt: number | undefined, now: number): number {
  if (occurredAt === undefined) return now;
  if (!Number.isFinite(occurredAt) || occurredAt < OCCURRED_AT_FLOOR_MS || occurredAt > now + OCCURRED_AT_MAX_SKEW_MS) {
    fail(
      ERROR_CODES.INVALID_ARGUMENT,
      `occurredAt must be a time (ms since epoch) from ${new Date(OCCURRED_AT_FLOOR_MS).toISOString()} up to now.`,
      { field: "occurredAt" },
    );
  }
  return occurredAt;
}
