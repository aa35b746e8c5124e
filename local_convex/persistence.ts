/**
 * `--data FILE`: the local runtime's state survives restarts.
 *
 * The bridge stores Convex document ids (events, sessions) and hands them back
 * later, so a restart must keep every `_id` and `_creationTime` exactly. The
 * public convex-test API can read documents but can only insert them under new
 * ids, so dumping/restoring goes through convex-test's private in-memory store.
 * All knowledge of those internals is in `reachInternals` below.
 *
 * A snapshot is written after every call that committed a transaction, before
 * the HTTP response is sent: serialize, write a temp file, fsync, rename over
 * the old snapshot, fsync the directory. A crash leaves either the previous or
 * the new snapshot, never a torn one.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { convexToJson, jsonToConvex, type JSONValue, type Value } from "convex/values";

type Doc = Record<string, Value>;

/** The parts of convex-test's private state a snapshot needs (see `reachInternals`). */
export type StoreInternals = {
  db: {
    _documents: Record<string, Doc>;
    _nextDocId: number;
    _lastCreationTime: number;
    _storage: Record<string, unknown>;
    _writes: unknown[];
  };
  transactionManager: { _lastCommitTs: bigint };
};

type ConvexGlobalShape = {
  components: Record<string, { db: StoreInternals["db"] } | undefined>;
  transactionManager: StoreInternals["transactionManager"];
};

function looksLikeConvexGlobal(store: unknown): store is ConvexGlobalShape {
  if (typeof store !== "object" || store === null) return false;
  const s = store as Partial<ConvexGlobalShape>;
  const db = s.components?.[""]?.db;
  return (
    db !== undefined &&
    typeof db._documents === "object" &&
    typeof db._nextDocId === "number" &&
    typeof db._lastCreationTime === "number" &&
    Array.isArray(db._writes) &&
    typeof s.transactionManager?._lastCommitTs === "bigint"
  );
}

type Runner = { run: (fn: () => Promise<null>) => Promise<unknown> };

/**
 * Finds convex-test's per-instance state (root `DatabaseFake` and
 * `TransactionManager`). PRIVATE INTERNALS, checked against convex-test 0.0.60:
 * `convexTest()` keeps them in a closure object `convexGlobal` =
 * `{components: {"": {db, modules}}, transactionManager, ...}` and enters it with
 * `convexGlobalStorage.run(convexGlobal, ...)` (an AsyncLocalStorage) on every
 * accessor call. No export reaches it, so we briefly wrap
 * `AsyncLocalStorage.prototype.run` around one no-op `t.run` and catch the
 * store that has that shape. The field names used (`_documents`, `_nextDocId`,
 * `_lastCreationTime`, `_storage`, `_writes`, `_lastCommitTs`) are
 * checked, and a mismatch fails loudly at startup instead of losing data.
 * Must be called while no other call is running (the server's queue ensures it).
 */
export async function reachInternals(t: Runner): Promise<StoreInternals> {
  const proto = AsyncLocalStorage.prototype as unknown as {
    run: (this: AsyncLocalStorage<unknown>, store: unknown, cb: (...a: unknown[]) => unknown, ...a: unknown[]) => unknown;
  };
  const original = proto.run;
  let found: ConvexGlobalShape | null = null;
  proto.run = function (store, cb, ...a) {
    if (found === null && looksLikeConvexGlobal(store)) found = store;
    return original.call(this, store, cb, ...a);
  };
  try {
    await t.run(async () => null);
  } finally {
    proto.run = original;
  }
  const g = found as ConvexGlobalShape | null;
  const db = g?.components[""]?.db;
  if (g === null || db === undefined) {
    throw new Error(
      "--data: could not reach convex-test's document store (its internals changed; checked against convex-test 0.0.60). Run without --data.",
    );
  }
  return { db, transactionManager: g.transactionManager };
}

const FORMAT = "local-convex-snapshot";
const VERSION = 1;

type Snapshot = {
  format: typeof FORMAT;
  version: number;
  savedAt: string;
  nextDocId: number;
  lastCreationTime: number;
  lastCommitTs: string;
  documents: JSONValue[];
};

export class SnapshotFile {
  private warnedAboutFiles = false;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }

  /** Loads the snapshot into a freshly created, idle store. Returns the document count, or null if there is no file. */
  restoreInto(store: StoreInternals): number | null {
    if (!existsSync(this.path)) return null;
    const raw = readFileSync(this.path, "utf8");
    let snap: Snapshot;
    try {
      snap = JSON.parse(raw) as Snapshot;
    } catch (e) {
      throw new Error(`--data ${this.path}: not valid JSON (${(e as Error).message})`);
    }
    if (snap.format !== FORMAT || snap.version !== VERSION || !Array.isArray(snap.documents)) {
      throw new Error(`--data ${this.path}: not a ${FORMAT} v${VERSION} file`);
    }
    if (store.db._writes.length !== 0 || Object.keys(store.db._documents).length !== 0) {
      throw new Error("--data: restore needs an empty, idle store");
    }
    const documents: Record<string, Doc> = {};
    for (const json of snap.documents) {
      const doc = jsonToConvex(json) as Doc;
      documents[doc._id as string] = doc;
    }
    store.db._documents = documents;
    store.db._nextDocId = snap.nextDocId;
    store.db._lastCreationTime = snap.lastCreationTime;
    store.transactionManager._lastCommitTs = BigInt(snap.lastCommitTs);
    return snap.documents.length;
  }

  /** Writes the committed state atomically (temp file, fsync, rename, fsync dir). */
  save(store: StoreInternals): void {
    if (!this.warnedAboutFiles && Object.keys(store.db._storage).length > 0) {
      this.warnedAboutFiles = true;
      process.stderr.write("local-convex: warning: file storage blobs are not persisted by --data\n");
    }
    const snap: Snapshot = {
      format: FORMAT,
      version: VERSION,
      savedAt: new Date().toISOString(),
      nextDocId: store.db._nextDocId,
      lastCreationTime: store.db._lastCreationTime,
      lastCommitTs: store.transactionManager._lastCommitTs.toString(),
      documents: Object.values(store.db._documents).map((doc) => convexToJson(doc)),
    };
    const dir = dirname(this.path);
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.tmp`);
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, JSON.stringify(snap));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    const dirFd = openSync(dir, "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}
