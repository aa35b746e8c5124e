/**
 * The real `convex/` modules running inside convex-test, called by path the
 * way a Convex deployment resolves `{"path": "module:function"}`.
 *
 * convex-test does the database, validators and transactions; this file adds
 * what a deployment does around a call and convex-test leaves to the caller:
 * resolving the path, hiding internal functions from non-admins, checking the
 * function kind, serializing top-level calls, and persisting after commits.
 */
import { readdirSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { inspect } from "node:util";
import { convexTest } from "convex-test";
import { makeFunctionReference, type SchemaDefinition } from "convex/server";
import type { Value } from "convex/values";
import { installIndexes } from "./indexes";
import { reachInternals, type SnapshotFile, type StoreInternals } from "./persistence";

export type UdfKind = "query" | "mutation" | "action";
export type Caller = { kind: "anonymous" } | { kind: "admin" } | { kind: "user"; token: string };

/** Outcome of a call, before it is encoded for the wire. */
export type CallResult =
  | { ok: true; value: Value; logLines: string[] }
  | { ok: false; message: string; data?: Value; logLines: string[] };

type Module = Record<string, unknown>;
type RegisteredFunction = {
  isQuery?: boolean;
  isMutation?: boolean;
  isAction?: boolean;
  isPublic?: boolean;
  isInternal?: boolean;
};
type Tester = ReturnType<typeof convexTest>;
// `t.withIdentity(...)` returns the same call surface as `t` minus `registerComponent`.
type Accessor = Pick<Tester, "query" | "mutation" | "action" | "run">;

const KIND_LABEL: Record<UdfKind, string> = { query: "Query", mutation: "Mutation", action: "Action" };

/**
 * Lists `convex/**` source files (.ts/.js, not .d.ts), keyed the way
 * `import.meta.glob("../convex/**\/*.*s")` keys them relative to this directory:
 * convex-test locates the functions root by the `_generated` key.
 */
function scanModules(convexDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules") walk(full);
      } else if (/\.(ts|js|mts|mjs)$/.test(entry.name) && !/\.d\.[mc]?ts$/.test(entry.name)) {
        out.push(full);
      }
    }
  };
  walk(convexDir);
  return out.sort();
}

export class LocalRuntime {
  private t!: Tester;
  private store: StoreInternals | null = null;
  private readonly users = new Map<string, Accessor>();
  private queue: Promise<unknown> = Promise.resolve();
  private lastSavedCommitTs = -1n;

  private constructor(
    private readonly schema: SchemaDefinition<any, boolean>,
    private readonly modules: Record<string, () => Promise<Module>>,
    private readonly loaded: Map<string, Module>,
    private readonly snapshot: SnapshotFile | null,
  ) {}

  /** Imports every module under `convexDir` (tsx compiles the TypeScript) and builds a fresh backend. */
  static async load(convexDir: string, snapshot: SnapshotFile | null): Promise<{ runtime: LocalRuntime; restored: number | null }> {
    const here = resolve(import.meta.dirname);
    const loaded = new Map<string, Module>();
    const modules: Record<string, () => Promise<Module>> = {};
    for (const file of scanModules(convexDir)) {
      const mod = (await import(pathToFileURL(file).href)) as Module;
      const key = relative(here, file).split(sep).join("/");
      modules[key] = () => Promise.resolve(mod);
      const udfModule = relative(convexDir, file).split(sep).join("/").replace(/\.[^./]+$/, "");
      loaded.set(udfModule, mod);
    }
    const schemaModule = loaded.get("schema");
    if (schemaModule === undefined || schemaModule.default === undefined) {
      throw new Error(`${convexDir}/schema.ts has no default export`);
    }
    const runtime = new LocalRuntime(schemaModule.default as SchemaDefinition<any, boolean>, modules, loaded, snapshot);
    const restored = await runtime.fresh(true);
    return { runtime, restored };
  }

  get moduleCount(): number {
    return this.loaded.size;
  }

  /** A new empty backend (or the snapshot's state when `restore`); returns documents restored. */
  private async fresh(restore: boolean): Promise<number | null> {
    this.t = convexTest(this.schema, this.modules);
    this.users.clear();
    const internals = await reachInternals(this.t);
    installIndexes(internals.db);
    this.store = this.snapshot === null ? null : internals;
    let restored: number | null = null;
    if (this.store !== null && this.snapshot !== null) {
      if (restore) restored = this.snapshot.restoreInto(this.store);
      this.snapshot.save(this.store);
      this.lastSavedCommitTs = this.store.transactionManager._lastCommitTs;
    }
    return restored;
  }

  /** Drops all data (test-only route). Queued like a call so nothing runs across it. */
  reset(): Promise<void> {
    return this.enqueue(async () => {
      await this.fresh(false);
    });
  }

  /** Resolves once every queued call (and its snapshot) has finished. */
  drain(): Promise<void> {
    return this.enqueue(async () => undefined);
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private accessor(caller: Caller): Accessor {
    if (caller.kind !== "user") return this.t;
    let a = this.users.get(caller.token);
    if (a === undefined) {
      if (this.users.size >= 1000) this.users.clear();
      a = this.t.withIdentity({
        subject: caller.token,
        name: caller.token,
        issuer: "local",
        tokenIdentifier: `local|${caller.token}`,
      });
      this.users.set(caller.token, a);
    }
    return a;
  }

  /**
   * Finds the function like a deployment does. Unknown paths and internal
   * functions called without the admin key get the same message, so callers
   * cannot probe for internal names (Convex does the same).
   */
  private resolve(path: string, kind: UdfKind, caller: Caller): { udfPath: string } | { error: string } {
    const [rawModule, exportName = "default"] = path.split(":");
    const modulePath = rawModule.replace(/\.js$/, "");
    const canonical = `${modulePath}:${exportName}`;
    const missing = {
      error: `Could not find public function for '${canonical}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`,
    };
    const mod = this.loaded.get(modulePath);
    const exported: unknown = mod === undefined || modulePath.startsWith("_") ? undefined : mod[exportName];
    // Registered functions are JS functions carrying isQuery/isPublic/... flags (convex/server registration).
    if (typeof exported !== "function") return missing;
    const fn = exported as RegisteredFunction;
    const actual: UdfKind | null = fn.isQuery ? "query" : fn.isMutation ? "mutation" : fn.isAction ? "action" : null;
    if (actual === null) return missing;
    if (fn.isPublic !== true && caller.kind !== "admin") return missing;
    if (actual !== kind) {
      return { error: `Trying to execute ${modulePath}.js:${exportName} as ${KIND_LABEL[kind]}, but it is defined as ${KIND_LABEL[actual]}.` };
    }
    return { udfPath: canonical };
  }

  /** Runs one top-level call; calls run strictly one after another. */
  call(kind: UdfKind, path: string, args: Record<string, Value>, caller: Caller, requestId: string): Promise<CallResult> {
    return this.enqueue(async () => {
      const logLines: string[] = [];
      const resolved = this.resolve(path, kind, caller);
      if ("error" in resolved) return { ok: false, message: serverError(requestId, resolved.error), logLines };
      const a = this.accessor(caller);
      const restoreConsole = captureConsole(logLines);
      let result: CallResult;
      try {
        const value = await invoke(a, kind, resolved.udfPath, args);
        result = { ok: true, value: value === undefined ? null : value, logLines };
      } catch (e) {
        result = errorResult(e, requestId, logLines);
      } finally {
        restoreConsole();
      }
      this.persistIfCommitted();
      return result;
    });
  }

  /**
   * Inserts documents as given, checked against the schema, in one transaction
   * (test-only route, for fixtures of a size that would take minutes through
   * the functions, e.g. a 10,000-event backlog for a benchmark). Returns the new ids.
   */
  insert(table: string, docs: Record<string, Value>[]): Promise<string[]> {
    return this.enqueue(async () => {
      const ids = await this.t.run(async (ctx) => {
        const out: string[] = [];
        // Any table: the schema, not the type checker, vets what comes in over HTTP.
        for (const doc of docs) out.push(await ctx.db.insert(table as any, doc as any));
        return out;
      });
      this.persistIfCommitted();
      return ids;
    });
  }

  private persistIfCommitted(): void {
    if (this.store === null || this.snapshot === null) return;
    const ts = this.store.transactionManager._lastCommitTs;
    if (ts === this.lastSavedCommitTs) return;
    this.snapshot.save(this.store);
    this.lastSavedCommitTs = ts;
  }
}

async function invoke(a: Accessor, kind: UdfKind, udfPath: string, args: Record<string, Value>): Promise<Value | undefined> {
  switch (kind) {
    case "query":
      return (await a.query(makeFunctionReference<"query">(udfPath), args)) as Value | undefined;
    case "mutation":
      return (await a.mutation(makeFunctionReference<"mutation">(udfPath), args)) as Value | undefined;
    case "action":
      return (await a.action(makeFunctionReference<"action">(udfPath), args)) as Value | undefined;
  }
}

/** Convex's client-facing error text (a dev deployment: the message is not redacted). */
function serverError(requestId: string, message: string): string {
  return `[Request ID: ${requestId}] Server Error\n${message}`;
}

/**
 * A thrown error as a deployment reports it: ConvexError keeps its data (for
 * `errorData`), everything else becomes "Uncaught Name: message". Stack frames
 * are dropped (they point into this machine's files) and logged to stderr instead.
 */
function errorResult(e: unknown, requestId: string, logLines: string[]): CallResult {
  if (e instanceof Error || (typeof e === "object" && e !== null && "message" in e)) {
    const err = e as Error & { data?: Value };
    const isConvexError = Symbol.for("ConvexError") in err;
    const name = isConvexError ? "ConvexError" : err.name || "Error";
    const firstLine = `Uncaught ${name}: ${String(err.message)}`;
    if (!isConvexError) process.stderr.write(`local-convex: [${requestId}] ${err.stack ?? firstLine}\n`);
    return isConvexError
      ? { ok: false, message: serverError(requestId, firstLine), data: err.data ?? null, logLines }
      : { ok: false, message: serverError(requestId, firstLine), logLines };
  }
  return { ok: false, message: serverError(requestId, `Uncaught ${inspect(e)}`), logLines };
}

const LEVELS = [
  ["log", "LOG"],
  ["info", "INFO"],
  ["warn", "WARN"],
  ["error", "ERROR"],
  ["debug", "DEBUG"],
] as const;

/**
 * Collects `console.*` output of one call as Convex `logLines` ("[LOG] 'text'")
 * and echoes it to stderr. Safe because calls never overlap.
 */
function captureConsole(lines: string[]): () => void {
  const saved = LEVELS.map(([method]) => [method, console[method]] as const);
  for (const [method, label] of LEVELS) {
    console[method] = (...args: unknown[]) => {
      const text = args.map((x) => (typeof x === "string" ? `'${x}'` : inspect(x, { depth: 4 }))).join(" ");
      const line = `[${label}] ${text}`;
      lines.push(line);
      process.stderr.write(`local-convex: ${line}\n`);
    };
  }
  return () => {
    for (const [method, fn] of saved) console[method] = fn;
  };
}
