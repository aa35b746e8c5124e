import type { Auth } from "convex/server";
import { customCtx, customMutation, customQuery } from "convex-helpers/server/customFunctions";
import { mutation, query } from "../_generated/server";
import { ERROR_CODES } from "./constants";
import { fail } from "./errors";

export type Actor = { subject: string; name?: string };

/** Employee-facing calls record who acted; anonymous callers are refused. */
export async function requireActor(ctx: { auth: Auth }): Promise<Actor> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) {
    fail(ERROR_CODES.UNAUTHENTICATED, "Sign in to change or view inventory.");
  }
  return { subject: identity.subject, name: identity.name ?? identity.email ?? undefined };
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
