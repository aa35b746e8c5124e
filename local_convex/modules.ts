/**
 * The module map convex-test needs, built by scanning `convex/` (vitest would
 * use import.meta.glob; plain Node has none). tsx compiles each TypeScript
 * module on import, so the runtime always runs the functions as written.
 */
import { readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { SchemaDefinition, GenericSchema } from "convex/server";

export const CONVEX_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "convex");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|js)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

export async function loadConvexModules() {
  const modules: Record<string, () => Promise<Record<string, unknown>>> = {};
  // "module path without extension" -> its exports, for visibility checks.
  const exports = new Map<string, Record<string, unknown>>();
  for (const file of sourceFiles(CONVEX_DIR)) {
    const rel = relative(CONVEX_DIR, file).split("\\").join("/");
    const loaded = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    // Keys shaped like import.meta.glob("../convex/**/*.*s") so convex-test finds `_generated/`.
    modules[`../convex/${rel}`] = async () => loaded;
    exports.set(rel.replace(/\.(ts|js)$/, ""), loaded);
  }
  const schema = exports.get("schema")?.default as SchemaDefinition<GenericSchema, boolean> | undefined;
  if (schema === undefined) throw new Error(`No default export in ${CONVEX_DIR}/schema.ts`);
  return { schema, modules, exports };
}
