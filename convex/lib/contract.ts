/**
 * The shapes that cross between Convex and the bridge, as validators: the
 * arguments the bridge sends and the `returns:` of every function it calls.
 * `qbwc_bridge/contract.py` parses exactly these; change both together.
 */
import { v, type Infer } from "convex/values";
import { vEventType, vQbStatus, vSessionStatus } from "../schema";
import { vQueryRequest } from "./qbTables";

const nullable = <T extends Parameters<typeof v.union>[0]>(validator: T) => v.union(validator, v.null());

/** A QuickBooks list reference: ListID when known, else FullName. */
export const vQbRef = v.object({ listId: nullable(v.string()), fullName: nullable(v.string()) });
export type QbRef = Infer<typeof vQbRef>;

/** One transaction a RefNumber lookup found, as QuickBooks described it. */
export const vFoundTxn = v.object({
  txnId: v.string(),
  refNumber: nullable(v.string()),
  externalGuid: nullable(v.string()),
  account: nullable(vQbRef),
  site: nullable(vQbRef),
  fromSite: nullable(vQbRef),
  toSite: nullable(vQbRef),
  lines: v.array(v.object({ item: nullable(vQbRef), quantity: v.number() })),
});
export type FoundTxn = Infer<typeof vFoundTxn>;

/** QuickBooks' own answers about itself (the HCP response, or a query the bridge was asked to send). */
export const vHostInfo = v.object({
  kind: v.literal("host"),
  productName: nullable(v.string()),
  majorVersion: nullable(v.number()),
  minorVersion: nullable(v.number()),
  country: nullable(v.string()),
  supportedQbxmlVersions: v.array(v.string()),
  fileMode: nullable(v.string()),
});
export const vCompanyInfo = v.object({ kind: v.literal("company"), companyName: nullable(v.string()) });
export const vPreferencesInfo = v.object({
  kind: v.literal("preferences"),
  multiLocationAvailable: nullable(v.boolean()),
  multiLocationEnabled: nullable(v.boolean()),
});
export const vCompanyFact = v.union(vHostInfo, vCompanyInfo, vPreferencesInfo);
export type CompanyFact = Infer<typeof vCompanyFact>;

/** One page of a QuickBooks list (items, assemblies, sites, accounts). */
export const vListEntry = v.object({
  listId: v.string(),
  name: v.string(),
  fullName: v.string(),
  isActive: v.boolean(),
  quantityOnHand: v.optional(v.number()),
  accountType: v.optional(v.string()),
});
export type ListEntryIn = Infer<typeof vListEntry>;
export const vListPage = v.object({
  kind: v.literal("listPage"),
  list: v.union(v.literal("items"), v.literal("assemblies"), v.literal("sites"), v.literal("accounts")),
  entries: v.array(vListEntry),
  iteratorId: v.optional(v.string()),
  remaining: v.number(),
});
export type ListPageIn = Infer<typeof vListPage>;

/** A read Convex wants in the next message; the bridge renders it before any event. */
export { vQueryRequest };
export type QueryRequest = Infer<typeof vQueryRequest>;

/** One page of ItemSitesQuery: quantity on hand per item and site (a row per bin, summed here). */
export const vSiteQuantityPage = v.object({
  kind: v.literal("siteQuantities"),
  rows: v.array(
    v.object({
      rowId: v.string(),
      itemListId: v.string(),
      siteListId: v.union(v.string(), v.null()),
      quantityOnHand: v.number(),
      itemName: v.optional(v.string()),
      siteName: v.optional(v.string()),
    }),
  ),
  iteratorId: v.optional(v.string()),
  remaining: v.number(),
});
export type SiteQuantityPageIn = Infer<typeof vSiteQuantityPage>;

/** What QuickBooks said about one request, as the bridge classified it. */
export const vOutcome = v.union(
  vHostInfo,
  vCompanyInfo,
  vPreferencesInfo,
  vListPage,
  vSiteQuantityPage,
  v.object({ kind: v.literal("success"), qbTxnId: v.string(), statusCode: v.optional(v.string()) }),
  // A lookup's matches; whether one of them is this event is decided here (lib/lookup.ts).
  v.object({ kind: v.literal("found"), transactions: v.array(vFoundTxn) }),
  v.object({ kind: v.literal("not_found") }),
  v.object({
    kind: v.literal("retryable"),
    message: v.string(),
    statusCode: v.optional(v.string()),
    lookupRequired: v.optional(v.boolean()),
  }),
  v.object({ kind: v.literal("permanent"), message: v.string(), statusCode: v.optional(v.string()) }),
);
export type Outcome = Infer<typeof vOutcome>;

/** One receiveResponseXML: answers that carry requestIDs, or a failure that carries none. */
export const vResponse = v.union(
  v.object({ kind: v.literal("answers"), answers: v.array(v.object({ requestId: v.string(), outcome: vOutcome })) }),
  v.object({ kind: v.literal("failed"), message: v.string(), statusCode: v.optional(v.string()) }),
);
export type Response = Infer<typeof vResponse>;

/** Everything the bridge needs to render one claimed event (or its lookup). */
export const vEventPayload = v.object({
  eventId: v.id("inventory_events"),
  claimToken: nullable(v.string()),
  mode: v.union(v.literal("send"), v.literal("lookup")),
  type: vEventType,
  refNumber: v.string(),
  externalGuid: v.string(),
  occurredAt: v.number(),
  memo: nullable(v.string()),
  retryCount: v.number(),
  fromLocationCode: nullable(v.string()),
  toLocationCode: nullable(v.string()),
  locationCode: nullable(v.string()),
  reasonCode: nullable(v.string()),
  fromSite: nullable(vQbRef),
  toSite: nullable(vQbRef),
  site: nullable(vQbRef),
  account: nullable(vQbRef),
  lines: v.array(v.object({ sku: v.string(), item: vQbRef, quantity: v.number() })),
});
export type EventPayload = Infer<typeof vEventPayload>;

/** An event's place in the queue. */
export const vQueueState = v.object({
  eventId: v.id("inventory_events"),
  refNumber: v.string(),
  qbStatus: vQbStatus,
  retryCount: v.number(),
  nextAttemptAt: v.number(),
  qbTxnId: nullable(v.string()),
  lastError: nullable(v.string()),
  qbLookupRequired: v.boolean(),
  holdReason: nullable(v.string()),
});

/** What recording one answer did; `stale` when the claim no longer held the event. */
export const vClaimResult = v.object({ ...vQueueState.fields, changed: v.boolean(), stale: v.boolean() });

export const vSessionView = v.object({
  sessionId: v.id("qb_sync_sessions"),
  status: vSessionStatus,
  userName: v.string(),
  companyFile: nullable(v.string()),
  openedAt: v.number(),
  lastSeenAt: v.number(),
  expiresAt: v.number(),
  live: v.boolean(),
  outstanding: v.number(),
  claimed: v.number(),
  applied: v.number(),
  failed: v.number(),
  dead: v.number(),
  held: v.number(),
  lastError: nullable(v.string()),
  closeReason: nullable(v.string()),
});

/** Why a ticket no longer opens anything. */
export const vRejected = v.object({
  status: v.literal("rejected"),
  reason: v.union(v.literal("unknown"), v.literal("closed"), v.literal("expired")),
  message: v.string(),
});

export const vAuthenticateResult = v.union(
  v.object({ status: v.literal("open"), sessionId: v.id("qb_sync_sessions"), expiresAt: v.number() }),
  v.object({ status: v.literal("none") }),
  v.object({ status: v.literal("busy"), message: v.string() }),
);

export const vSendResult = v.union(
  v.object({
    status: v.literal("events"),
    sessionId: v.id("qb_sync_sessions"),
    messageId: v.string(),
    // Reads go first in the message; events may be empty while QuickBooks is being read.
    queries: v.array(vQueryRequest),
    events: v.array(vEventPayload),
  }),
  v.object({ status: v.literal("nothing"), sessionId: v.id("qb_sync_sessions"), message: v.string() }),
  vRejected,
);

export const vReceiveResult = v.union(
  v.object({
    status: v.literal("ok"),
    sessionId: v.id("qb_sync_sessions"),
    percent: v.number(),
    results: v.array(vClaimResult),
  }),
  // Recorded on the session; the claims stay outstanding until their answer or the session's end.
  v.object({ status: v.literal("failed"), sessionId: v.id("qb_sync_sessions"), message: v.string() }),
  // The answer is not the outstanding message's: nothing was changed.
  v.object({ status: v.literal("mismatch"), sessionId: v.id("qb_sync_sessions"), message: v.string() }),
  vRejected,
);
