/**
 * The admin role, managed by operators with the deploy key
 * (`qbwc-bridge grant-admin / revoke-admin / list-admins`). Internal only: a
 * signed-in user cannot grant anything, not even to themselves, so the first
 * admin is always made by whoever holds the deploy key.
 */
import { v } from "convex/values";
import { internalMutation, internalQuery } from "./_generated/server";
import { DEPLOY_KEY_ACTOR, MAX_ADMIN_LIST, NAME_MAX } from "./lib/constants";
import { grantAdmin, listAdmins, revokeAdmin } from "./lib/roles";
import { optionalText, subjectText } from "./lib/validate";

const vAdmin = v.object({
  subject: v.string(),
  grantedAt: v.number(),
  grantedBy: v.string(),
  note: v.union(v.string(), v.null()),
});

/** Makes SUBJECT (the identity's `subject`, as the app's auth provider issues it) an admin. */
export const grant = internalMutation({
  args: { subject: v.string(), note: v.optional(v.string()) },
  returns: v.object({ subject: v.string(), result: v.union(v.literal("granted"), v.literal("unchanged")) }),
  handler: async (ctx, args) => {
    const subject = subjectText(args.subject);
    const note = optionalText(args.note, "note", NAME_MAX);
    const result = await grantAdmin(ctx.db, { subject, grantedBy: DEPLOY_KEY_ACTOR, note, now: Date.now() });
    return { subject, result };
  },
});

/** Takes the admin role away; the identity stays an employee. */
export const revoke = internalMutation({
  args: { subject: v.string() },
  returns: v.object({ subject: v.string(), result: v.union(v.literal("revoked"), v.literal("absent")) }),
  handler: async (ctx, args) => {
    const subject = subjectText(args.subject);
    return { subject, result: await revokeAdmin(ctx.db, subject) };
  },
});

/** Admins by subject (at most MAX_ADMIN_LIST; `more` when there are others). */
export const list = internalQuery({
  args: { limit: v.optional(v.number()) },
  returns: v.object({ admins: v.array(vAdmin), more: v.boolean() }),
  handler: async (ctx, args) => {
    const { admins, more } = await listAdmins(ctx.db, args.limit ?? MAX_ADMIN_LIST);
    return {
      admins: admins.map((a) => ({ subject: a.subject, grantedAt: a.grantedAt, grantedBy: a.grantedBy, note: a.note ?? null })),
      more,
    };
  },
});
