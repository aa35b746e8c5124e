/**
 * Index lookups for the local runtime.
 *
 * convex-test answers every query by reading every document in the
 * database: right for unit tests, but at 20,000 parts one call of the
 * reconciliation report takes seconds, where a deployment reads one index
 * range. This gives the local runtime the cost shape of a deployment:
 *
 * - committed documents are kept per table, updated at each commit;
 * - an index query with equality on its first fields gets, on first use, a
 *   bucket map for that (index, number of equality fields), updated at each
 *   commit from the old and new versions of every written document.
 *
 * Answers stay convex-test's own: its range check, sort, filters and
 * pagination run unchanged over the candidates, which are a superset of the
 * matching committed documents (a bucket key never separates two values
 * convex-test compares as equal) plus every document the open transaction
 * wrote to that table. PRIVATE INTERNALS of convex-test 0.0.60 (the
 * `DatabaseFake` methods `_iterateDocs`, `_resolveQuerySource`, `commit`
 * and fields `_documents`, `_writes`, `_schema`), checked at install time.
 */

import { jsonToConvex, type JSONValue } from "convex/values";

type Doc = Record<string, unknown> & { _id: string };
type Filter = { type: "Eq" | "Gt" | "Gte" | "Lt" | "Lte"; fieldPath: string; value: unknown };
type Query = { source: { type: string; indexName?: string; range?: Filter[] } };
type Fake = {
  _documents: Record<string, Doc>;
  _writes: Record<string, Doc | null>[];
  _schema: { tables: Map<string, { indexes: { indexDescriptor: string; fields: string[] }[] }> } | null;
  get(table: string, id: string): Doc | null;
  _iterateDocs(table: string, callback: (doc: Doc) => void): void;
  _resolveQuerySource(query: Query): unknown;
  commit(commitTs?: unknown): void;
};

/** convex-test ids are a zero-padded counter followed by the table name. */
const tableOf = (id: string) => id.replace(/^\d+/, "");

/** A bucket key: equal under convex-test's comparison implies an equal key. */
function keyPart(value: unknown): string {
  if (value === undefined) return "u";
  if (value === null) return "n";
  switch (typeof value) {
    case "string":
      return `s${value}`;
    case "number":
      return `f${String(value)}`;
    case "bigint":
      return `i${String(value)}`;
    case "boolean":
      return `b${value}`;
    default:
      // Arrays, objects, bytes: one shared bucket; the range check sorts them out.
      return "o";
  }
}

const fieldOf = (doc: Doc, path: string): unknown => path.split(".").reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], doc);

type Buckets = Map<string, Set<string>>;

class Index {
  /** Committed ids per table. */
  readonly tables = new Map<string, Set<string>>();
  /** Per table, per "indexName|k": equality-prefix key -> ids. */
  readonly buckets = new Map<string, Map<string, { fields: string[]; map: Buckets }>>();

  constructor(documents: Record<string, Doc>) {
    for (const id of Object.keys(documents)) this.idsOf(tableOf(id)).add(id);
  }

  idsOf(table: string): Set<string> {
    let ids = this.tables.get(table);
    if (ids === undefined) {
      ids = new Set();
      this.tables.set(table, ids);
    }
    return ids;
  }

  bucketsFor(db: Fake, table: string, name: string, fields: string[]): Buckets {
    let perTable = this.buckets.get(table);
    if (perTable === undefined) {
      perTable = new Map();
      this.buckets.set(table, perTable);
    }
    let entry = perTable.get(name);
    if (entry === undefined) {
      const map: Buckets = new Map();
      for (const id of this.idsOf(table)) add(map, key(db._documents[id], fields), id);
      entry = { fields, map };
      perTable.set(name, entry);
    }
    return entry.map;
  }

  /** Keeps tables and buckets right across one top-level commit. */
  update(id: string, before: Doc | undefined, after: Doc | null) {
    const table = tableOf(id);
    if (after === null) this.idsOf(table).delete(id);
    else this.idsOf(table).add(id);
    for (const { fields, map } of this.buckets.get(table)?.values() ?? []) {
      if (before !== undefined) map.get(key(before, fields))?.delete(id);
      if (after !== null) add(map, key(after, fields), id);
    }
  }
}

const key = (doc: Doc, fields: string[]) => fields.map((f) => keyPart(fieldOf(doc, f))).join("\u0001");

function add(map: Buckets, k: string, id: string) {
  let ids = map.get(k);
  if (ids === undefined) {
    ids = new Set();
    map.set(k, ids);
  }
  ids.add(id);
}

/** One index per `_documents` object: a restored snapshot (a new object) starts a new one. */
const indexes = new WeakMap<object, Index>();
function indexOf(db: Fake): Index {
  let index = indexes.get(db._documents);
  if (index === undefined) {
    index = new Index(db._documents);
    indexes.set(db._documents, index);
  }
  return index;
}

/** The ids one query must see: its bucket (or table) of committed ids, plus this transaction's writes. */
function candidates(db: Fake, query: Query): { table: string; ids: Set<string> } | null {
  const source = query.source;
  if (source.type !== "IndexRange" || source.indexName === undefined || source.range === undefined) return null;
  const [table, indexName] = source.indexName.split(".");
  const index = indexOf(db);
  const declared = db._schema?.tables.get(table)?.indexes.find((i) => i.indexDescriptor === indexName);
  const eq: Filter[] = [];
  if (declared !== undefined) {
    for (const [i, filter] of source.range.entries()) {
      if (filter.type !== "Eq" || filter.fieldPath !== declared.fields[i]) break;
      eq.push(filter);
    }
  }
  const committed =
    eq.length === 0
      ? index.idsOf(table)
      : (index
          .bucketsFor(
            db,
            table,
            `${indexName}|${eq.length}`,
            eq.map((f) => f.fieldPath),
          )
          .get(eq.map((f) => keyPart(queryValue(f.value))).join("\u0001")) ?? new Set<string>());
  const ids = new Set(committed);
  for (const writes of db._writes) for (const id of Object.keys(writes)) if (tableOf(id) === table) ids.add(id);
  return { table, ids };
}

/** Query bounds arrive in Convex's JSON form, decoded as convex-test decodes them. */
function queryValue(value: unknown): unknown {
  if (typeof value === "object" && value !== null && "$undefined" in value) return undefined;
  return jsonToConvex(value as JSONValue);
}

/** Installs the lookups on convex-test's DatabaseFake class (through one of its instances). */
export function installIndexes(db: unknown): void {
  const proto = Object.getPrototypeOf(db) as Fake & { __indexed?: boolean };
  for (const method of ["_iterateDocs", "_resolveQuerySource", "commit", "get"] as const) {
    if (typeof proto[method] !== "function") throw new Error(`convex-test changed: DatabaseFake.${method} is missing; update local_convex/indexes.ts`);
  }
  if (proto.__indexed) return;
  proto.__indexed = true;
  const resolve = proto._resolveQuerySource;
  const commit = proto.commit;
  let only: { table: string; ids: Set<string> } | null = null;
  proto._iterateDocs = function (this: Fake, table: string, callback: (doc: Doc) => void) {
    let ids: Set<string>;
    if (only !== null && only.table === table) {
      ids = only.ids;
    } else {
      // No narrower set (a table scan, a search): the table's committed ids plus open writes.
      ids = new Set(indexOf(this).idsOf(table));
      for (const writes of this._writes) for (const id of Object.keys(writes)) if (tableOf(id) === table) ids.add(id);
    }
    for (const id of ids) {
      const doc = this.get(table, id);
      if (doc !== null) callback(doc);
    }
  };
  proto._resolveQuerySource = function (this: Fake, query: Query) {
    only = candidates(this, query);
    try {
      return resolve.call(this, query);
    } finally {
      only = null;
    }
  };
  proto.commit = function (this: Fake, commitTs?: unknown) {
    const topLevel = this._writes.length === 1;
    const writes = this._writes[this._writes.length - 1] ?? {};
    const before = topLevel ? new Map(Object.keys(writes).map((id) => [id, this._documents[id]])) : null;
    commit.call(this, commitTs);
    if (before !== null) {
      const index = indexOf(this);
      for (const [id, old] of before) index.update(id, old, this._documents[id] ?? null);
    }
  };
}
