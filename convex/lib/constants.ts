/**
 * The one place for the queue's vocabulary and policy. The Python bridge
 * mirrors the status names; change them here and there together.
 */

export const EVENT_TYPES = ["transfer", "adjustment"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const EVENT_STATUSES = ["posted", "voided"] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

export const QB_STATUSES = [
  "pending",
  "in_flight",
  "applied",
  "failed",
  "dead",
  "not_required",
  "cancelled",
  // Waiting for a person: QuickBooks holds a transaction under this RefNumber
  // that does not match the event (see lib/lookup.ts). Never sent, never retried by itself.
  "held",
] as const;
export type QbStatus = (typeof QB_STATUSES)[number];

/** States from which an event can still be voided: QuickBooks never saw it. */
export const VOIDABLE_QB_STATUSES: readonly QbStatus[] = [
  "pending",
  "failed",
  "dead",
  "not_required",
  // Held for a mapping (never sent). A conflict hold keeps qbLookupRequired, which voidEvent refuses.
  "held",
];

export const SESSION_STATUSES = ["open", "closed", "refused"] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export const ADJUSTMENT_MODES = ["delta", "set"] as const;
export type AdjustmentMode = (typeof ADJUSTMENT_MODES)[number];

/**
 * Retry policy: the n-th retry (1-based) waits RETRY_DELAYS_SECONDS[n-1],
 * the last delay repeating. After MAX_RETRIES retryable failures the next
 * failure makes the event dead (the 11th failure with the defaults).
 */
export const RETRY_DELAYS_SECONDS = [60, 300, 900, 3600] as const;
export const MAX_RETRIES = 10;

/** Upper bound of one batch claim: keeps each mutation's reads bounded. */
export const MAX_CLAIM_BATCH = 100;
/** Upper bound of the importer's batch upsert per call. */
export const MAX_PART_UPSERT_BATCH = 500;
/** Lines per event: bounded so one event stays one small transaction. */
export const MAX_EVENT_LINES = 100;
/** Largest quantity accepted on one line: far above any real stock count. */
export const MAX_QUANTITY = 1_000_000_000;
/** Text limits for what the importer and the admin functions store. */
export const SKU_MAX = 100;
export const NAME_MAX = 200;
export const DESCRIPTION_MAX = 2000;
export const QB_FULL_NAME_MAX = 159;
export const QB_SITE_FULL_NAME_MAX = 31;
export const QB_LIST_ID_MAX = 36;
export const CODE_MAX = 40;

/**
 * Earliest `occurredAt` accepted (2000-01-01T00:00:00Z). Back-dating is fine,
 * but an epoch near 0 is a bug (a missing value, or seconds sent as
 * milliseconds: 1.7e9 ms is January 1970) and would reach QuickBooks as a
 * 1970 TxnDate.
 */
export const OCCURRED_AT_FLOOR_MS = Date.UTC(2000, 0, 1);
/** How far `occurredAt` may lie in the future: the clock skew between devices and Convex. */
export const OCCURRED_AT_MAX_SKEW_MS = 5 * 60 * 1000;

/** Roles: the subject an operator grants admin to, as the auth provider issues it. */
export const SUBJECT_MAX = 200;
/** Upper bound of one listing of admins or mapping changes: keeps each read bounded. */
export const MAX_ADMIN_LIST = 200;
export const MAX_MAPPING_CHANGES_LIST = 200;
/** "Who" of changes made with the deploy key, which carries no identity. */
export const DEPLOY_KEY_ACTOR = "deploy-key";
export const IMPORTER_ACTOR = "deploy-key:importer";

/** What a QuickBooks mapping maps: a part to an item, a location to a site, a reason to an account. */
export const MAPPING_KINDS = ["item", "site", "account"] as const;
export type MappingKind = (typeof MAPPING_KINDS)[number];

/** qbXML field limits the data must fit. */
export const MEMO_MAX = 4095;
export const REASON_MAX = 500;

/**
 * A QBWC session's ticket lives this long after the session's last call (the
 * bridge passes QBWC_SESSION_TTL_SECONDS). A session that sent a message and
 * went silent stays the live writer for all of it: QuickBooks may still be
 * working on that message (a modal dialog can block it for as long as
 * someone leaves it open), so nothing it claimed is looked up, resent or
 * handed to another Web Connector before then.
 */
export const DEFAULT_SESSION_TTL_MS = 60 * 60 * 1000;
export const MIN_SESSION_TTL_MS = 60 * 1000;
export const MAX_SESSION_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * A session with no message outstanding cannot post anything more, so a
 * second Web Connector may take over once it has been silent this long
 * (longer than QuickBooks takes to open a company file after authenticate).
 */
export const IDLE_SESSION_MS = 5 * 60 * 1000;
/** Entries per page of a QuickBooks list pull (qbXML MaxReturned): ~150 KB per message. */
export const LIST_PAGE_SIZE = 500;
/** Old list rows deleted per call, so pruning never weighs on a sync call. */
export const LIST_PRUNE_BATCH = 500;
/** After QuickBooks refused a list query, the next pull waits this long. */
export const PULL_RETRY_MS = 60 * 60 * 1000;
/** Default age after which the lists are pulled again (the bridge passes QB_LIST_MAX_AGE_HOURS). */
export const DEFAULT_LIST_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** A mapping hold is checked again this long after it was last found still missing. */
export const MAPPING_RECHECK_MS = 10 * 60 * 1000;
/** Held events checked again per call: bounded work whatever the backlog. */
export const MAPPING_RECHECK_BATCH = 100;

/** Refused (busy) authenticate records are kept this long for getLastError, then pruned. */
export const REFUSED_SESSION_KEEP_MS = 24 * 60 * 60 * 1000;

/** Machine-readable error codes carried in ConvexError data as `code`. */
export const ERROR_CODES = {
  UNAUTHENTICATED: "UNAUTHENTICATED",
  // Signed in, but the role does not allow it (not an admin, not the creator).
  FORBIDDEN: "FORBIDDEN",
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  PART_NOT_FOUND: "PART_NOT_FOUND",
  LOCATION_NOT_FOUND: "LOCATION_NOT_FOUND",
  LOCATION_INACTIVE: "LOCATION_INACTIVE",
  LOCATION_HAS_STOCK: "LOCATION_HAS_STOCK",
  REASON_NOT_FOUND: "REASON_NOT_FOUND",
  REASON_INACTIVE: "REASON_INACTIVE",
  SAME_LOCATION: "SAME_LOCATION",
  INSUFFICIENT_STOCK: "INSUFFICIENT_STOCK",
  EVENT_NOT_FOUND: "EVENT_NOT_FOUND",
  ALREADY_VOIDED: "ALREADY_VOIDED",
  VOID_IN_FLIGHT: "VOID_IN_FLIGHT",
  VOID_APPLIED: "VOID_APPLIED",
  VOID_WOULD_GO_NEGATIVE: "VOID_WOULD_GO_NEGATIVE",
  NOT_CLAIMABLE: "NOT_CLAIMABLE",
  STALE_CLAIM: "STALE_CLAIM",
  NOT_RETRYABLE: "NOT_RETRYABLE",
  SESSION_NOT_FOUND: "SESSION_NOT_FOUND",
  SESSION_CLOSED: "SESSION_CLOSED",
  NOT_HELD: "NOT_HELD",
  LISTS_NOT_PULLED: "LISTS_NOT_PULLED",
  NOT_IN_QUICKBOOKS: "NOT_IN_QUICKBOOKS",
  NO_SITES: "NO_SITES",
  NO_SNAPSHOT: "NO_SNAPSHOT",
  DUPLICATE_SKU: "DUPLICATE_SKU",
  NO_CHANGE: "NO_CHANGE",
} as const;
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];
