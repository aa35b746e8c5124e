/**
 * Local Convex runtime: the real `convex/` functions, run by convex-test (Convex's
 * own mock backend), behind a small HTTP server that speaks Convex's HTTP API
 * (`POST /api/query|mutation|action`), so `convex.ConvexHttpClient` and the
 * bridge talk to it as to a deployment. For development, tests and demos only.
 *
 *   npm run local-convex -- --port 3210 [--host H] [--admin-key K] [--test-clock] [--data FILE]
 *
 * When ready it prints one JSON line on stdout: {"url", "adminKey", "testClock", "data"}.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { parseArgs } from "node:util";
import { ConvexError, convexToJson, jsonToConvex, type Value } from "convex/values";
import { convexTest } from "convex-test";
import { makeFunctionReference } from "convex/server";
import { Journal, type JournalEntry } from "./journal";
import { loadConvexModules } from "./modules";

const VERSION = "local-convex 0.1.0";
/** Convex caps function arguments at 8 MiB; larger bodies are refused before parsing. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const KINDS = { query: "isQuery", mutation: "isMutation", action: "isAction" } as const;
type Kind = keyof typeof KINDS;

type Options = { port: number; host: string; adminKey: string; testClock: boolean; data: string | null };

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "3210" },
      host: { type: "string", default: "127.0.0.1" },
      "admin-key": { type: "string" },
      "test-clock": { type: "boolean", default: false },
      data: { type: "string" },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, got ${values.port}`);
  return {
    port,
    host: values.host as string,
    adminKey: values["admin-key"] ?? process.env.CONVEX_DEPLOY_KEY ?? randomBytes(24).toString("base64url"),
    testClock: values["test-clock"] as boolean,
    data: values.data ?? null,
  };
}

class UsageError extends Error {}

/** Request-level failure, answered like Convex does: an HTTP status and {code, message}. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The process clock. Date.now is replaced once so that convex-test (which
 * stamps _creationTime with Date.now) and the functions see the same time;
 * the offset is only moved by /_test/clock (with --test-clock) and by
 * journal replay, which re-runs each mutation at the time it first ran.
 */
const realNow = Date.now.bind(Date);
let clockOffset = 0;
Date.now = () => realNow() + clockOffset;
const setNow = (ms: number) => {
  clockOffset = ms - realNow();
};

type Identity = { subject: string; name: string; tokenIdentifier: string } | null;

async function main() {
  const options = readOptions();
  const { schema, modules, exports } = await loadConvexModules();
  let backend = convexTest(schema, modules);
  const journal = options.data === null ? null : new Journal(options.data);

  // One top-level function at a time, as Convex's serializable transactions promise.
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  };

  async function execute(kind: Kind, path: string, args: Record<string, Value>, identity: Identity) {
    const accessor = identity === null ? backend : backend.withIdentity(identity);
    if (kind === "query") return await accessor.query(makeFunctionReference<"query">(path), args);
    if (kind === "mutation") return await accessor.mutation(makeFunctionReference<"mutation">(path), args);
    return await accessor.action(makeFunctionReference<"action">(path), args);
  }

  if (journal !== null) {
    const entries = journal.read();
    for (const entry of entries) {
      setNow(entry.at);
      try {
        await execute(entry.kind, entry.path, jsonToConvex(entry.args) as Record<string, Value>, entry.identity);
      } catch {
        // The call failed the first time too (failures are journaled because
        // they consume document ids); replay only needs it to fail again.
      }
    }
    clockOffset = 0;
    process.stderr.write(`local-convex: replayed ${entries.length} mutation(s) from ${options.data}\n`);
  }

  function resolve(kind: Kind, path: string, admin: boolean): string {
    const [modulePath, name = "default"] = path.split(":");
    const fn = exports.get(modulePath.replace(/\.(ts|js)$/, ""))?.[name] as Record<string, unknown> | undefined;
    const visible = fn !== undefined && fn[KINDS[kind]] === true && (fn.isPublic === true || (admin && fn.isInternal === true));
    if (!visible) {
      throw new HttpError(
        404,
        "FunctionNotFound",
        `Could not find public function for '${path}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`,
      );
    }
    return `${modulePath}:${name}`;
  }

  function authenticate(header: string | undefined): { admin: boolean; identity: Identity } {
    if (header === undefined || header === "") return { admin: false, identity: null };
    const [scheme, ...rest] = header.split(" ");
    const token = rest.join(" ").trim();
    if (scheme === "Convex") {
      const given = Buffer.from(token);
      const expected = Buffer.from(options.adminKey);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new HttpError(401, "BadAdminKey", "The provided admin key was invalid for this instance");
      }
      return { admin: true, identity: null };
    }
    if (scheme === "Bearer" && token !== "") {
      // Development stand-in for an auth provider: the token is the user.
      return { admin: false, identity: { subject: token, name: token, tokenIdentifier: `local|${token}` } };
    }
    throw new HttpError(401, "Unauthenticated", "Authorization must be `Convex <admin key>` or `Bearer <token>`.");
  }

  async function callFunction(kind: Kind, request: IncomingMessage) {
    const body = parseJson(await readBody(request));
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new HttpError(400, "BadJsonBody", "The request body must be a JSON object.");
    }
    const { path, args = {}, format = "json" } = body as Record<string, unknown>;
    if (typeof path !== "string" || path === "") throw new HttpError(400, "BadConvexRequest", "Missing `path` (\"module:function\").");
    if (format !== "json" && format !== "convex_encoded_json") {
      throw new HttpError(400, "BadConvexRequest", `Unsupported format ${JSON.stringify(format)}.`);
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      throw new HttpError(400, "BadConvexRequest", "`args` must be an object.");
    }
    const { admin, identity } = authenticate(request.headers.authorization);
    const resolved = resolve(kind, path, admin);
    let decoded: Record<string, Value>;
    try {
      decoded = jsonToConvex(args as never) as Record<string, Value>;
    } catch (error) {
      throw new HttpError(400, "BadConvexRequest", `Could not decode args: ${firstLine(error)}`);
    }
    return await serialized(async () => {
      const at = Date.now();
      try {
        const value = await execute(kind, resolved, decoded, identity);
        return { status: "success", value: convexToJson(value as Value), logLines: [] };
      } catch (error) {
        if (error instanceof ConvexError) {
          const message = typeof error.data === "string" ? error.data : JSON.stringify(error.data);
          return { status: "error", errorMessage: `Uncaught ConvexError: ${message}`, errorData: error.data, logLines: [] };
        }
        return { status: "error", errorMessage: firstLine(error), logLines: [] };
      } finally {
        if (kind === "mutation" && journal !== null) {
          journal.append({ at, kind, path: resolved, args: convexToJson(decoded as Value), identity } satisfies JournalEntry);
        }
      }
    });
  }

  async function testRoute(request: IncomingMessage) {
    const url = new URL(request.url ?? "/", "http://local");
    if (url.pathname === "/_test/clock" && request.method === "GET") return { now: Date.now() };
    if (url.pathname === "/_test/clock" && request.method === "POST") {
      const body = parseJson(await readBody(request)) as { now?: unknown; advanceMs?: unknown } | null;
      if (typeof body?.now === "number") setNow(body.now);
      else if (typeof body?.advanceMs === "number" && body.advanceMs >= 0) clockOffset += body.advanceMs;
      else throw new HttpError(400, "BadJsonBody", 'Send {"now": ms} or {"advanceMs": ms >= 0}.');
      return { now: Date.now() };
    }
    if (url.pathname === "/_test/reset" && request.method === "POST") {
      // Serialized so no call is half way through the old backend.
      await serialized(async () => {
        backend = convexTest(schema, modules);
        clockOffset = 0;
      });
      return { now: Date.now() };
    }
    return null;
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error) => {
      process.stderr.write(`local-convex: ${firstLine(error)}\n`);
      if (!response.headersSent) send(response, 500, { code: "InternalServerError", message: "Internal error." });
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? "/", "http://local");
    try {
      if (request.method === "GET" && url.pathname === "/version") {
        response.writeHead(200, { "Content-Type": "text/plain" }).end(VERSION);
        return;
      }
      const kind = /^\/api\/(query|mutation|action)$/.exec(url.pathname)?.[1] as Kind | undefined;
      if (kind !== undefined && request.method === "POST") {
        send(response, 200, await callFunction(kind, request));
        return;
      }
      if (options.testClock && url.pathname.startsWith("/_test/")) {
        const answer = await testRoute(request);
        if (answer !== null) {
          send(response, 200, answer);
          return;
        }
      }
      throw new HttpError(404, "NotFound", `No route ${request.method} ${url.pathname}.`);
    } catch (error) {
      if (error instanceof HttpError) {
        send(response, error.status, { code: error.code, message: error.message });
        if (error.status === 413) request.resume();
        return;
      }
      throw error;
    }
  }

  server.listen(options.port, options.host, () => {
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : options.port;
    process.stdout.write(
      JSON.stringify({ url: `http://${options.host}:${port}`, adminKey: options.adminKey, testClock: options.testClock, data: options.data }) + "\n",
    );
  });

  const stop = () => {
    server.close();
    // Let the mutation in progress (and its journal line) finish first.
    queue.finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

/**
 * JSON as Convex's (Rust) backend writes it: a float64 that happens to be whole
 * still carries ".0". The Python client relies on that: a bare `5` decodes as
 * an error, `5.0` as the float it is.
 */
function stringify(value: unknown): string {
  if (typeof value === "number") {
    return Number.isInteger(value) && Math.abs(value) < 1e21 ? `${Object.is(value, -0) ? "-0" : value}.0` : JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : stringify(item))).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const fields = Object.entries(value).filter(([, item]) => item !== undefined);
    return `{${fields.map(([key, item]) => `${JSON.stringify(key)}:${stringify(item)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

function send(response: ServerResponse, status: number, body: unknown) {
  const payload = stringify(body);
  response.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }).end(payload);
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name === "Error" ? "" : error.name + ": "}${error.message}` : String(error);
  return text.split("\n")[0];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "BadJsonBody", "The request body is not valid JSON.");
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        request.removeAllListeners("data");
        reject(new HttpError(413, "RequestTooLarge", `The request body exceeds ${MAX_BODY_BYTES} bytes.`));
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

main().catch((error) => {
  process.stderr.write(`local-convex: ${error instanceof UsageError ? error.message : firstLine(error)}\n`);
  process.exit(2);
});
