import type { Auth } from "convex/server";
import { customCtx, customMutation, customQuery } from "convex-helpers/server/customFunctions";
import { mutation, query, type DatabaseReader } from "../_generated/server";
import { ERROR_CODES } from "./constants";
import { fail } from "./errors";
import { isAdmin } from "./roles";

export type Actor = { subject: string; name?: string };

/** Employee-facing calls record who acted; anonymous callers are refused. */
export async function requireActor(ctx: { auth: Auth }): Promise<Actor> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) {
    fail(ERROR_CODES.UNAUTHENTICATED, "Sign in to change or view inventory.");
  }
  return { subject: identity.subject, name: identity.name ?? identity.email ?? undefined };
}

/**
 * Configuration calls: a signed-in identity that an operator made admin
 * (`qbwc-bridge grant-admin SUBJECT`). Anyone else is refused before the
 * handler runs, so a refusal never writes.
 */
export async function requireAdmin(ctx: { auth: Auth; db: DatabaseReader }): Promise<Actor> {
  const actor = await requireActor(ctx);
  if (!(await isAdmin(ctx.db, actor.subject))) {
    fail(ERROR_CODES.FORBIDDEN, "Only an inventory admin may change locations, reason codes or QuickBooks mappings.", {
      subject: actor.subject,
    });
  }
  return actor;
}

/** Public queries for signed-in employees: the handler gets `ctx.actor`. */
export const employeeQuery = customQuery(
  query,
  customCtx(async (ctx) => ({ actor: await requireActor(ctx) })),
);

/** Public mutations for signed-in employees: the handler gets `ctx.actor`. */
export const employeeMutation = customMutation(
  mutation,
  customCtx(async (ctx) => ({ actor: await requireActor(ctx) })),
);

/** Public mutations for admins only: the handler gets `ctx.actor`. */
export const adminMutation = customMutation(
  mutation,
  customCtx(async (ctx) => ({ actor: await requireAdmin(ctx) })),
);
