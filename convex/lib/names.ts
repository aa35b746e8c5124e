/**
 * "Did you mean": the list entries closest to a name an operator typed, so a
 * refused mapping says what QuickBooks does have. Bounded: candidates come
 * from index ranges around the name (same start, same leaf name), never a
 * scan of a 50,000-item list.
 */
import type { Doc } from "../_generated/dataModel";
import type { DatabaseReader } from "../_generated/server";
import type { Company } from "./company";

type ListName = Doc<"qb_list_entries">["list"];

/** Edit distance (insert, delete, substitute), stopping early past `cap`. */
export function editDistance(a: string, b: string, cap = 64): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

const CANDIDATES = 200;

export async function closestNames(db: DatabaseReader, company: Company, list: ListName, wanted: string, count = 5): Promise<string[]> {
  const generation = company.listsGeneration;
  if (generation === undefined || wanted === "") return [];
  const key = wanted.toLowerCase();
  const leaf = wanted.split(":").at(-1) ?? wanted;
  const scope = { companyId: company._id, generation, list };
  // The names sorted just after and just before the one typed: where a typo lands.
  const after = await db
    .query("qb_list_entries")
    .withIndex("by_list_fullNameKey", (q) =>
      q.eq("companyId", scope.companyId).eq("generation", scope.generation).eq("list", scope.list).gte("fullNameKey", key),
    )
    .take(CANDIDATES / 2);
  const before = await db
    .query("qb_list_entries")
    .withIndex("by_list_fullNameKey", (q) =>
      q.eq("companyId", scope.companyId).eq("generation", scope.generation).eq("list", scope.list).lt("fullNameKey", key),
    )
    .order("desc")
    .take(CANDIDATES / 2);
  const around = [...before, ...after];
  const sameLeaf = await db
    .query("qb_list_entries")
    .withIndex("by_list_name", (q) => q.eq("companyId", scope.companyId).eq("generation", scope.generation).eq("list", scope.list).eq("name", leaf))
    .take(20);
  const names = [...new Set([...sameLeaf, ...around].map((entry) => entry.fullName))];
  return names
    .map((name) => ({ name, distance: editDistance(name.toLowerCase(), key) }))
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name))
    .slice(0, count)
    .map((c) => c.name);
}
