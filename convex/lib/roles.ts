/**
 * Roles. Every signed-in identity is an employee: it records stock movements
 * and may void its own events while QuickBooks has not seen them. An admin
 * (a row in `inventory_admins`, granted with the deploy key) also configures
 * locations, reason codes and QuickBooks mappings, and may void anyone's
 * event. The wrappers that enforce this are in lib/auth.ts.
 */
import type { Doc } from "../_generated/dataModel";
import type { DatabaseReader, DatabaseWriter } from "../_generated/server";
import { MAX_ADMIN_LIST } from "./constants";

export async function findAdmin(db: DatabaseReader, subject: string): Promise<Doc<"inventory_admins"> | null> {
  return await db
    .query("inventory_admins")
    .withIndex("by_subject", (q) => q.eq("subject", subject))
    .unique();
}

export async function isAdmin(db: DatabaseReader, subject: string): Promise<boolean> {
  return (await findAdmin(db, subject)) !== null;
}

/** An event may be voided by whoever recorded it, or by an admin. */
export function mayVoid(actorSubject: string, actorIsAdmin: boolean, event: Pick<Doc<"inventory_events">, "createdBy">): boolean {
  return actorIsAdmin || event.createdBy === actorSubject;
}

/** Makes `subject` an admin; granting twice changes nothing (the first grant's record stays). */
export async function grantAdmin(
  db: DatabaseWriter,
  grant: { subject: string; grantedBy: string; note?: string; now: number },
): Promise<"granted" | "unchanged"> {
  if ((await findAdmin(db, grant.subject)) !== null) return "unchanged";
  await db.insert("inventory_admins", {
    subject: grant.subject,
    grantedAt: grant.now,
    grantedBy: grant.grantedBy,
    note: grant.note,
  });
  return "granted";
}

export async function revokeAdmin(db: DatabaseWriter, subject: string): Promise<"revoked" | "absent"> {
  const admin = await findAdmin(db, subject);
  if (admin === null) return "absent";
  await db.delete(admin._id);
  return "revoked";
}

/** Admins by subject, at most `limit` (bounded by MAX_ADMIN_LIST); `more` when some were left out. */
export async function listAdmins(db: DatabaseReader, limit: number) {
  const bounded = Math.max(1, Math.min(Math.floor(limit), MAX_ADMIN_LIST));
  const rows = await db.query("inventory_admins").withIndex("by_subject").take(bounded + 1);
  return { admins: rows.slice(0, bounded), more: rows.length > bounded };
}
