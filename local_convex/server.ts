/**
 * Local Convex runtime: the real `convex/` functions (run by convex-test)
 * behind Convex's HTTP API, so `ConvexHttpClient` (Python or JS), the bridge
 * and the demo work without a deployment. Never deployed; production points
 * CONVEX_URL at a real deployment.
 *
 *   npm run local-convex -- --port 3210 [--host 127.0.0.1] [--admin-key KEY]
 *                           [--test-clock] [--data FILE] [--max-body-bytes N] [--verbose]
 *                           [--delay-ms N]
 *
 * --delay-ms holds every /api call N ms before running it, the way a cloud
 * deployment 30-100 ms away would (benchmarks of round trips).
 *
 * When listening it prints ONE JSON line on stdout:
 *   {"url":"http://127.0.0.1:PORT","adminKey":"...","testClock":false,"data":null,"pid":123}
 * Everything else goes to stderr.
 *
 * Routes (as a Convex deployment answers them):
 *   POST /api/query | /api/mutation | /api/action
 *        {"path":"module:function","args":{...},"format":"json"|"convex_encoded_json"}
 *        -> 200 {"status":"success","value":...[,"logLines":[...]]}
 *        -> 200 {"status":"error","errorMessage":"...","errorData":...}  (errorData only for ConvexError)
 *        -> 4xx {"code":"...","message":"..."} for request-level problems
 *   GET  /version           -> 200 text (readiness)
 * Only with --test-clock (test/demo helpers, no auth, never in production):
 *   GET  /_test/clock       -> {"now":ms,"frozen":bool}
 *   POST /_test/clock       {"now":ms} freezes there | {"advanceMs":n} | {"resume":true}
 *   POST /_test/reset       -> {"ok":true}: empty database, real-time clock
 *   GET  /_test/calls       -> {"calls":{"mutation qbSessions:nextMessage":3,...}}: /api calls
 *                              counted by kind and path since start or the last reset
 *   POST /_test/calls       -> the same, then the counts start again from zero
 *   POST /_test/delay       {"ms": n} -> {"ms": n}: from now on hold each /api call n ms
 *   POST /_test/insert      {"table": t, "docs": [...]} -> {"ids": [...]}: documents inserted
 *                              as given (convex-encoded JSON, checked by the schema), for
 *                              large fixtures that would take minutes through the functions
 */
import { randomBytes, createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { convexToJson, jsonToConvex, type JSONValue, type Value } from "convex/values";
import { installClock, TestClock } from "./clock";
import type { Caller, UdfKind } from "./runtime";

const SERVER_VERSION = "local-convex 0.1.0 (convex 1.48.0, convex-test 0.0.60)";
/** Convex's limit on a function's arguments is 16 MiB; the body carries a little more. */
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

type Options = {
  host: string;
  port: number;
  adminKey: string;
  testClock: boolean;
  data: string | null;
  maxBodyBytes: number;
  verbose: boolean;
  delayMs: number;
};

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string", default: "3210" },
      host: { type: "string", default: "127.0.0.1" },
      "admin-key": { type: "string" },
      "test-clock": { type: "boolean", default: false },
      data: { type: "string" },
      "max-body-bytes": { type: "string", default: String(DEFAULT_MAX_BODY_BYTES) },
      verbose: { type: "boolean", default: false },
      "delay-ms": { type: "string", default: "0" },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: not a port number: ${values.port}`);
  const maxBodyBytes = Number(values["max-body-bytes"]);
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes <= 0) throw new Error(`--max-body-bytes: not a positive integer`);
  const delayMs = Number(values["delay-ms"]);
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 60_000) throw new Error("--delay-ms: a whole number of ms, 0..60000");
  const adminKey = values["admin-key"] ?? process.env.CONVEX_DEPLOY_KEY ?? randomBytes(24).toString("base64url");
  if (adminKey === "") throw new Error("--admin-key / CONVEX_DEPLOY_KEY is empty");
  return {
    host: values.host,
    port,
    adminKey,
    testClock: values["test-clock"],
    data: values.data === undefined ? null : resolve(values.data),
    maxBodyBytes,
    verbose: values.verbose,
    delayMs,
  };
}

/** A request-level failure, answered as Convex does: HTTP status + {code, message}. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const badJson = (message: string) => new HttpError(400, "BadJsonBody", message);

/**
 * JSON as Convex's Rust backend writes it: every Convex number is a float64,
 * and serde_json writes a whole float64 with ".0" (`5.0`). This matters: the
 * Python client's `json_to_convex` rejects a bare `5` (an int) as a bad value.
 */
function stringifyLikeConvex(value: unknown): string {
  if (typeof value === "number") {
    if (Object.is(value, -0)) return "-0.0";
    const text = JSON.stringify(value);
    return /^-?\d+$/.test(text) ? `${text}.0` : text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : stringifyLikeConvex(v))).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const fields = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${stringifyLikeConvex(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** `convexStyle` for /api answers (see stringifyLikeConvex); plain JSON for the rest. */
function sendJson(res: ServerResponse, status: number, body: unknown, convexStyle = false): void {
  const text = convexStyle ? stringifyLikeConvex(body) : JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Reads the whole body. Past the limit the rest is drained (not buffered) so
 * the client can finish sending and read the 413 instead of a reset connection.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    req.on("end", () => {
      if (tooLarge) {
        reject(new HttpError(413, "PayloadTooLarge", `Request body is ${size} bytes; the limit is ${limit} bytes.`));
      } else {
        resolveBody(Buffer.concat(chunks));
      }
    });
    req.on("error", reject);
  });
}

function isJsonContentType(req: IncomingMessage): boolean {
  const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  if (!isJsonContentType(req)) {
    await readBody(req, limit);
    throw badJson("Expected request with `Content-Type: application/json`");
  }
  const body = await readBody(req, limit);
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch (e) {
    throw badJson(`Failed to parse the request body as JSON: ${(e as Error).message}`);
  }
}

type Format = "json" | "convex_encoded_json";

function parseFormat(raw: unknown): Format {
  if (raw === undefined || raw === null) return "json";
  if (raw === "json" || raw === "convex_clean_json") return "json";
  if (raw === "convex_encoded_json" || raw === "convex_json") return "convex_encoded_json";
  throw new HttpError(400, "BadFormat", `format param must be one of [\`json\`]. Got ${String(raw)}`);
}

const UDF_PATH = /^[A-Za-z0-9_\-]+(\/[A-Za-z0-9_\-]+)*(\.js)?(:[A-Za-z_$][A-Za-z0-9_$]*)?$/;

type UdfRequest = { path: string; args: Record<string, Value>; format: Format };

function parseUdfRequest(body: unknown): UdfRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badJson("Failed to deserialize the JSON body into the target type: expected an object");
  }
  const b = body as Record<string, unknown>;
  if (!("path" in b)) throw badJson("Failed to deserialize the JSON body into the target type: missing field `path`");
  if (typeof b.path !== "string") throw badJson("Failed to deserialize the JSON body into the target type: `path` must be a string");
  if (!UDF_PATH.test(b.path)) {
    throw new HttpError(400, "BadConvexFunctionIdentifier", `${b.path} is not a valid path to a Convex function.`);
  }
  const format = parseFormat(b.format);
  if (!("args" in b)) throw badJson("Failed to deserialize the JSON body into the target type: missing field `args`");
  // Convex accepts the args object itself or a one-element array holding it.
  const rawArgs = Array.isArray(b.args) && b.args.length === 1 ? (b.args[0] as unknown) : b.args;
  if (typeof rawArgs !== "object" || rawArgs === null || Array.isArray(rawArgs)) {
    throw new HttpError(400, "InvalidArgs", "The arguments to a Convex function must be an object.");
  }
  let args: Value;
  try {
    args = jsonToConvex(rawArgs as JSONValue);
  } catch (e) {
    throw new HttpError(400, "InvalidArgs", `Invalid function arguments: ${(e as Error).message}`);
  }
  return { path: b.path, args: args as Record<string, Value>, format };
}

/** Convex's "clean" export used by `format: "json"`: int64 as a decimal string, bytes as base64. */
function toCleanJson(value: Value): JSONValue {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
    return value;
  }
  if (value instanceof ArrayBuffer) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(toCleanJson);
  const out: Record<string, JSONValue> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toCleanJson(v);
  return out;
}

function encode(value: Value, format: Format): JSONValue {
  return format === "json" ? toCleanJson(value) : convexToJson(value);
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** `Authorization` as Convex reads it: "Convex <admin key>" or "Bearer <token>". */
function authenticate(header: string | undefined, adminKey: string): Caller {
  if (header === undefined) return { kind: "anonymous" };
  if (header.length < 7) throw new HttpError(400, "InvalidHeaderFailure", "Invalid authentication header");
  const scheme = header.slice(0, 7).toLowerCase();
  if (scheme === "convex ") {
    if (!sameSecret(header.slice(7).trim(), adminKey)) {
      throw new HttpError(401, "BadAdminKey", "The provided admin key was invalid for this instance");
    }
    return { kind: "admin" };
  }
  if (scheme === "bearer ") {
    const token = header.slice(7).trim();
    // Dev stand-in for an auth provider: the token itself is the user's subject.
    if (token === "") throw new HttpError(401, "InvalidAuthHeader", "Could not parse JWT payload: empty token");
    return { kind: "user", token };
  }
  throw new HttpError(400, "InvalidAdminKey", "Invalid admin key");
}

function newRequestId(): string {
  return randomBytes(8).toString("hex");
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const clock = options.testClock ? new TestClock() : null;
  // The clock must replace Date before convex-test and convex/ load.
  if (clock !== null) installClock(clock);
  const { LocalRuntime } = await import("./runtime");
  const { SnapshotFile } = await import("./persistence");
  const convexDir = resolve(import.meta.dirname, "..", "convex");
  const snapshot = options.data === null ? null : new SnapshotFile(options.data);
  const { runtime, restored } = await LocalRuntime.load(convexDir, snapshot);
  const log = (line: string) => process.stderr.write(`local-convex: ${line}\n`);
  log(`loaded ${runtime.moduleCount} modules from ${convexDir}`);
  if (snapshot !== null) log(restored === null ? `new data file ${snapshot.path}` : `restored ${restored} documents from ${snapshot.path}`);

  const calls = new Map<string, number>();
  let delayMs = options.delayMs;
  const udfRoutes: Record<string, UdfKind> = {
    "/api/query": "query",
    "/api/mutation": "mutation",
    "/api/action": "action",
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://local");
    const route = url.pathname.replace(/\/+$/, "") || "/";
    const kind = udfRoutes[route];
    if (kind !== undefined) {
      if (req.method !== "POST") throw new HttpError(405, "MethodNotAllowed", `${req.method} is not supported on ${route}; use POST`);
      const caller = authenticate(req.headers.authorization, options.adminKey);
      const call = parseUdfRequest(await readJson(req, options.maxBodyBytes));
      const counted = `${kind} ${call.path}`;
      calls.set(counted, (calls.get(counted) ?? 0) + 1);
      if (delayMs > 0) await new Promise((done) => setTimeout(done, delayMs));
      const requestId = newRequestId();
      const started = performance.now();
      const result = await runtime.call(kind, call.path, call.args, caller, requestId);
      if (options.verbose) log(`${kind} ${call.path} ${caller.kind} ${result.ok ? "ok" : "error"} ${(performance.now() - started).toFixed(1)}ms`);
      const logLines = result.logLines.length > 0 ? { logLines: result.logLines } : {};
      if (result.ok) {
        sendJson(res, 200, { status: "success", value: encode(result.value, call.format), ...logLines }, true);
      } else {
        const errorData = result.data === undefined ? {} : { errorData: encode(result.data, call.format) };
        sendJson(res, 200, { status: "error", errorMessage: result.message, ...errorData, ...logLines }, true);
      }
      return;
    }
    if (route === "/version" && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(SERVER_VERSION);
      return;
    }
    if (clock !== null && route === "/_test/clock") {
      if (req.method === "POST") {
        const body = await readJson(req, options.maxBodyBytes);
        if (typeof body !== "object" || body === null) throw badJson("expected {\"now\": ms} or {\"advanceMs\": ms} or {\"resume\": true}");
        const b = body as { now?: unknown; advanceMs?: unknown; resume?: unknown };
        const num = (v: unknown, name: string): number => {
          if (typeof v !== "number" || !Number.isFinite(v)) throw badJson(`\`${name}\` must be a finite number`);
          return v;
        };
        if (b.now === undefined && b.advanceMs === undefined && b.resume !== true) {
          throw badJson("expected {\"now\": ms} or {\"advanceMs\": ms} or {\"resume\": true}");
        }
        // Wait for the running call so time never jumps in the middle of one.
        await runtime.drain();
        if (b.now !== undefined) clock.set(num(b.now, "now"));
        if (b.advanceMs !== undefined) clock.advance(num(b.advanceMs, "advanceMs"));
        if (b.resume === true) clock.resume();
      } else if (req.method !== "GET") {
        throw new HttpError(405, "MethodNotAllowed", `${req.method} is not supported on ${route}`);
      }
      sendJson(res, 200, clock.state());
      return;
    }
    if (clock !== null && route === "/_test/calls" && (req.method === "GET" || req.method === "POST")) {
      sendJson(res, 200, { calls: Object.fromEntries([...calls.entries()].sort()) });
      if (req.method === "POST") calls.clear();
      return;
    }
    if (clock !== null && route === "/_test/delay" && req.method === "POST") {
      const body = (await readJson(req, options.maxBodyBytes)) as { ms?: unknown };
      if (typeof body?.ms !== "number" || !Number.isInteger(body.ms) || body.ms < 0 || body.ms > 60_000) {
        throw badJson("expected {\"ms\": n} with n a whole number 0..60000");
      }
      delayMs = body.ms;
      sendJson(res, 200, { ms: delayMs });
      return;
    }
    if (clock !== null && route === "/_test/insert" && req.method === "POST") {
      const body = (await readJson(req, options.maxBodyBytes)) as { table?: unknown; docs?: unknown };
      if (typeof body?.table !== "string" || !Array.isArray(body.docs)) throw badJson('expected {"table": name, "docs": [...]}');
      let docs: Record<string, Value>[];
      try {
        docs = body.docs.map((doc) => jsonToConvex(doc as JSONValue) as Record<string, Value>);
      } catch (e) {
        throw badJson(`docs: ${(e as Error).message}`);
      }
      try {
        sendJson(res, 200, { ids: await runtime.insert(body.table, docs) });
      } catch (e) {
        throw new HttpError(400, "InvalidDocuments", (e as Error).message.slice(0, 2000));
      }
      return;
    }
    if (clock !== null && route === "/_test/reset" && req.method === "POST") {
      await runtime.reset();
      clock.reset();
      sendJson(res, 200, { ok: true });
      return;
    }
    throw new HttpError(404, "NotFound", `No route for ${req.method} ${route}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) {
        sendJson(res, e.status, { code: e.code, message: e.message });
        return;
      }
      log(`internal error on ${req.method} ${req.url}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      if (!res.headersSent) {
        sendJson(res, 500, { code: "InternalServerError", message: "Your request couldn't be completed. Try again later." });
      } else {
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(options.port, options.host, () => ok());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("server did not bind a TCP port");
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  process.stdout.write(
    `${JSON.stringify({
      url: `http://${host}:${address.port}`,
      adminKey: options.adminKey,
      testClock: options.testClock,
      data: options.data,
      pid: process.pid,
    })}\n`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    const force = setTimeout(() => {
      log("forced exit after 10s");
      process.exit(1);
    }, 10_000);
    force.unref();
    const closed = new Promise<void>((done) => server.close(() => done()));
    server.closeIdleConnections();
    // The queue finishes the running call and writes its snapshot synchronously;
    // then answers still being written get up to a second to reach their clients.
    runtime.drain().then(
      async () => {
        await Promise.race([closed, new Promise((done) => setTimeout(done, 1000))]);
        server.closeAllConnections();
        process.exit(0);
      },
      (e: unknown) => {
        log(`error while stopping: ${String(e)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((e: unknown) => {
  process.stderr.write(`local-convex: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
