/**
 * The local runtime's index lookups (local_convex/indexes.ts) must answer
 * exactly as convex-test does: the same random script of writes and queries
 * runs on a plain instance, then on an indexed one, and every answer is equal.
 */
import { expect, test } from "vitest";
import type { Id } from "../../convex/_generated/dataModel";
import { reachInternals } from "../../local_convex/persistence";
import { installIndexes } from "../../local_convex/indexes";
import { newTest, type T } from "./setup";

/** A deterministic pseudo-random sequence, so both runs make the same choices. */
function rng(seed: number) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

async function script(t: T, seed: number): Promise<unknown[]> {
  const random = rng(seed);
  const pick = <V>(values: V[]) => values[Math.floor(random() * values.length)];
  const answers: unknown[] = [];
  const companyId = await t.run(async (ctx) => await ctx.db.insert("qb_companies", { companyFile: "", lastSeenAt: 0 }));
  const ids: Id<"qb_list_entries">[] = [];
  for (let step = 0; step < 300; step++) {
    const action = random();
    await t.run(async (ctx) => {
      if (action < 0.45 || ids.length === 0) {
        // Inserts (sometimes several in one transaction, queried before commit).
        const n = 1 + Math.floor(random() * 3);
        for (let i = 0; i < n; i++) {
          const name = pick(["A", "B", "C", "D", undefined]);
          ids.push(
            await ctx.db.insert("qb_list_entries", {
              companyId,
              generation: pick([1, 2, 3]),
              list: pick(["items", "sites", "accounts"] as const),
              listId: `L-${Math.floor(random() * 50)}`,
              name: name ?? "",
              fullName: `P:${name ?? "none"}`,
              fullNameKey: `p:${name ?? "none"}`.toLowerCase(),
              isActive: random() < 0.8,
              quantityOnHand: random() < 0.5 ? undefined : Math.floor(random() * 5),
            }),
          );
        }
      } else if (action < 0.65) {
        // Patches that move a document between buckets.
        const id = pick(ids);
        if ((await ctx.db.get(id)) !== null) await ctx.db.patch(id, { generation: pick([1, 2, 3]), list: pick(["items", "sites"] as const), quantityOnHand: undefined });
      } else if (action < 0.75) {
        const id = pick(ids);
        if ((await ctx.db.get(id)) !== null) await ctx.db.delete(id);
      }
      // Every step ends with queries, inside the same transaction as its writes.
      const generation = pick([1, 2, 3]);
      const list = pick(["items", "sites", "accounts"] as const);
      answers.push(
        (await ctx.db
          .query("qb_list_entries")
          .withIndex("by_list_listId", (q) => q.eq("companyId", companyId).eq("generation", generation).eq("list", list))
          .collect()).map((d) => d._id),
        (await ctx.db
          .query("qb_list_entries")
          .withIndex("by_list_fullNameKey", (q) => q.eq("companyId", companyId).eq("generation", generation).eq("list", list).gte("fullNameKey", "p:b"))
          .order("desc")
          .take(3)).map((d) => d._id),
        (await ctx.db
          .query("qb_list_entries")
          .withIndex("by_generation", (q) => q.eq("companyId", companyId).lt("generation", generation))
          .collect()).length,
        (await ctx.db.query("qb_list_entries").collect()).length,
        (await ctx.db
          .query("qb_list_entries")
          .withIndex("by_list_name", (q) => q.eq("companyId", companyId).eq("generation", generation).eq("list", list).eq("name", pick(["A", "B", ""])))
          .paginate({ numItems: 2, cursor: null })).page.map((d) => d._id),
      );
    });
  }
  return answers;
}

test("indexed lookups answer exactly as convex-test's full scans", async () => {
  const plain = await script(newTest(), 7);
  const indexed = newTest();
  installIndexes((await reachInternals(indexed)).db);
  expect(await script(indexed, 7)).toEqual(plain);
});
