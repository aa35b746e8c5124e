/**
 * Helpers for the suites about reading QuickBooks (company.test.ts,
 * mapping.test.ts, lists.scale.test.ts): a QuickBooks that answers the list
 * queries Convex asks for (iterators included), driven through the real seam
 * (authenticate, nextMessage, recordAnswer, close).
 */
import { expect } from "vitest";
import { internal } from "../../convex/_generated/api";
import type { Doc } from "../../convex/_generated/dataModel";
import { DEFAULT_SESSION_TTL_MS } from "../../convex/lib/constants";
import type { CompanyFact, ListEntryIn, Outcome, QueryRequest } from "../../convex/lib/contract";
import { type T, answer, newCallId } from "./setup";

export type Company = Doc<"qb_companies">;

/** A list entry as the bridge parses it; Name is the leaf of the FullName unless given. */
export function entry(listId: string, fullName: string, extra: Partial<ListEntryIn> = {}): ListEntryIn {
  return { listId, name: fullName.split(":").at(-1) as string, fullName, isActive: true, ...extra };
}

export type QbLists = { accounts?: ListEntryIn[]; sites?: ListEntryIn[]; items?: ListEntryIn[]; assemblies?: ListEntryIn[] };

/** The lists that match seedWorld's mappings. */
export function standardLists(): Required<QbLists> {
  return {
    accounts: [
      entry("90000001-1", "Inventory Adjustments", { accountType: "CostOfGoodsSold" }),
      entry("90000002-1", "Shrinkage", { accountType: "Expense" }),
    ],
    sites: [entry("80000001-1", "Main WH"), entry("80000002-1", "Truck 1")],
    items: [entry("10000001-1", "Widgets:Widget", { quantityOnHand: 12 }), entry("10000002-1", "Gadget", { quantityOnHand: 3 })],
    assemblies: [entry("20000001-1", "Kits:Starter Kit", { quantityOnHand: 1 })],
  };
}

export const LIST_OF_QUERY: Record<string, keyof QbLists> = {
  AccountQuery: "accounts",
  InventorySiteQuery: "sites",
  ItemInventoryQuery: "items",
  ItemInventoryAssemblyQuery: "assemblies",
};

/**
 * QuickBooks answering list queries. Iterators are tracked per iteratorID the
 * way QuickBooks does: `Start` opens a new one at the top of the list, and
 * `Continue` with a known id returns the next page.
 */
export class FakeQuickBooks {
  private iterators = new Map<string, { list: keyof QbLists; offset: number }>();
  private nextIterator = 1;
  readonly asked: QueryRequest[] = [];

  constructor(
    public lists: QbLists,
    public pageSize = 2,
  ) {}

  answerOf(query: QueryRequest): Outcome {
    this.asked.push(query);
    const list = LIST_OF_QUERY[query.kind];
    if (list === undefined) throw new Error(`FakeQuickBooks cannot answer ${query.kind}`);
    const all = this.lists[list] ?? [];
    if (query.iterator === undefined) return { kind: "listPage", list, entries: all, remaining: 0 };
    let state: { list: keyof QbLists; offset: number };
    let iteratorId: string;
    if (query.iterator === "Start") {
      iteratorId = `{ITER-${this.nextIterator++}}`;
      state = { list, offset: 0 };
      this.iterators.set(iteratorId, state);
    } else {
      iteratorId = query.iteratorId as string;
      const known = this.iterators.get(iteratorId);
      if (known === undefined) return { kind: "retryable", message: "iterator not found", statusCode: "3391" };
      state = known;
    }
    const size = Math.min(this.pageSize, query.maxReturned ?? this.pageSize);
    const entries = all.slice(state.offset, state.offset + size);
    state.offset += entries.length;
    return { kind: "listPage", list, entries, iteratorId, remaining: all.length - state.offset };
  }

  /** QuickBooks forgets every iterator when its connection closes. */
  closeConnection() {
    this.iterators.clear();
  }
}

export async function company(t: T): Promise<Company> {
  const companies = await t.run(async (ctx) => await ctx.db.query("qb_companies").withIndex("by_lastSeenAt").order("desc").collect());
  if (companies.length === 0) throw new Error("no company");
  return companies[0];
}

/** Patches the company QBWC saw last (seedWorld's knownCompany). */
export async function patchCompany(t: T, patch: Partial<Omit<Company, "_id" | "_creationTime">>) {
  const { _id } = await company(t);
  await t.run(async (ctx) => await ctx.db.patch(_id, patch));
}

export async function nextMessageRaw(t: T, ticketHash: string, extra: Partial<{ limit: number; companyFile: string; listMaxAgeMs: number; hcp: CompanyFact[]; qbXmlVersion: string }> = {}) {
  return await t.mutation(internal.qbSessions.nextMessage, { ticketHash, callId: newCallId("send"), limit: 10, ...extra });
}

/** The reads of the next message; throws when the message carries none. */
export async function nextQueries(t: T, ticketHash: string) {
  const result = await nextMessageRaw(t, ticketHash);
  if (result.status !== "events") throw new Error(`nextMessage answered ${result.status}`);
  expect(result.events).toEqual([]);
  return result.queries;
}

export async function authenticateOpen(t: T, ticketHash: string) {
  const result = await t.mutation(internal.qbSessions.authenticate, { ticketHash, userName: "qbwc", ttlMs: DEFAULT_SESSION_TTL_MS });
  if (result.status !== "open") throw new Error(`authenticate(${ticketHash}) answered ${JSON.stringify(result)}, not open`);
  return result.sessionId;
}

export async function closeSession(t: T, ticketHash: string) {
  return await t.mutation(internal.qbSessions.close, { ticketHash, reason: "closeConnection" });
}

let pulls = 0;

/**
 * A whole list pull through the seam: asks for a refresh, opens a session,
 * answers every read from `qb` until the new generation is in, closes the
 * session. The clock must have moved since the previous pull (a refresh
 * asked in the same millisecond as the last pull is already satisfied).
 */
export async function pullLists(t: T, lists: QbLists | FakeQuickBooks, opts: { request?: boolean } = {}) {
  const qb = lists instanceof FakeQuickBooks ? lists : new FakeQuickBooks(lists);
  if (opts.request !== false) await t.mutation(internal.qbMapping.requestListRefresh, {});
  const before = (await company(t)).listsGeneration;
  const ticketHash = `pull-${++pulls}`;
  await authenticateOpen(t, ticketHash);
  for (let round = 0; round < 1000; round++) {
    const queries = await nextQueries(t, ticketHash);
    expect(queries).toHaveLength(1);
    const [query] = queries;
    const result = await answer(t, ticketHash, [{ requestId: query.requestId, outcome: qb.answerOf(query) }]);
    expect(result.status).toBe("ok");
    const now = await company(t);
    if (now.pull === undefined) {
      if (now.listsGeneration === before) throw new Error(`the pull stopped: ${now.pullError}`);
      await closeSession(t, ticketHash);
      qb.closeConnection();
      return { generation: now.listsGeneration as number, asked: qb.asked };
    }
  }
  throw new Error("the pull never finished");
}

/** The rows of one list in one generation of the current company. */
export async function listRows(t: T, list: "items" | "sites" | "accounts", generation?: number) {
  const { _id, listsGeneration } = await company(t);
  const g = generation ?? (listsGeneration as number);
  return await t.run(
    async (ctx) =>
      await ctx.db
        .query("qb_list_entries")
        .withIndex("by_list_listId", (q) => q.eq("companyId", _id).eq("generation", g).eq("list", list))
        .collect(),
  );
}

export async function mappingChanges(t: T) {
  return await t.run(async (ctx) => await ctx.db.query("inventory_mapping_changes").withIndex("by_changedAt").collect());
}

/**
 * Compares only the named fields; `undefined` there means "absent" (toMatchObject
 * would demand the key be present).
 */
export function expectFields(actual: object | null | undefined, expected: Record<string, unknown>) {
  const picked = Object.fromEntries(Object.keys(expected).map((k) => [k, (actual as Record<string, unknown> | null | undefined)?.[k]]));
  expect(picked).toEqual(expected);
}
