import {
  CODE_MAX,
  ERROR_CODES,
  MAX_QUANTITY,
  MEMO_MAX,
  QB_FULL_NAME_MAX,
  QB_LIST_ID_MAX,
  QB_SITE_FULL_NAME_MAX,
  REASON_MAX,
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

export const memoText = (memo: string | undefined) => optionalText(memo, "memo", MEMO_MAX);
export const reasonText = (reason: string) => requiredText(reason, "reason", REASON_MAX);
export const codeText = (code: string, field: string) => requiredText(code, field, CODE_MAX);
export const listIdText = (value: string | undefined, field: string) => optionalText(value, field, QB_LIST_ID_MAX);
export const fullNameText = (value: string | undefined, field: string) => optionalText(value, field, QB_FULL_NAME_MAX);
export const siteNameText = (value: string | undefined, field: string) => optionalText(value, field, QB_SITE_FULL_NAME_MAX);

/** A QuickBooks TxnID as an operator types it: printable ASCII, as QuickBooks writes them. */
export function txnIdText(value: string): string {
  const text = value.trim();
  if (!/^[\x21-\x7e]{1,36}$/.test(text)) {
    fail(ERROR_CODES.INVALID_ARGUMENT, "txnId must be a QuickBooks TxnID (1-36 printable ASCII characters).", { field: "txnId" });
  }
  return text;
}

/** occurredAt may be back-dated but not set in the future (beyond clock skew). */
export function occurredAtOrNow(occurredAt: number | undefined, now: number): number {
  if (occurredAt === undefined) return now;
  const skewMs = 5 * 60 * 1000;
  if (!Number.isFinite(occurredAt) || occurredAt <= 0 || occurredAt > now + skewMs) {
    fail(ERROR_CODES.INVALID_ARGUMENT, "occurredAt must be a time in the past (ms since epoch).", { field: "occurredAt" });
  }
  return occurredAt;
}
