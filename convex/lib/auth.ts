import type { Auth } from "convex/server";
import { ERROR_CODES } from "./constants";
import { fail } from "./errors";

export type Actor = { subject: string; name?: string };

/** Employee-facing writes record who acted; anonymous callers are refused. */
export async function requireActor(ctx: { auth: Auth }): Promise<Actor> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) {
    fail(ERROR_CODES.UNAUTHENTICATED, "Sign in to change or view inventory.");
  }
  return { subject: identity.subject, name: identity.name ?? identity.email ?? undefined };
}
