import { v } from "convex/values";
import { query } from "./_generated/server";
import { EVENT_SEQUENCE, qbStatusCounts, readCounter } from "./lib/counters";

/**
 * Smoke-test probe. Anyone may ask whether Convex answers; the queue figures
 * (how many events, in which state) are business information and only go to a
 * signed-in identity. Operators and monitoring read them with the deploy key
 * (`qbQueue:getQueueStatus`), not from here.
 */
export const health = query({
  args: {},
  returns: v.object({
    serverTime: v.number(),
    eventsCreated: v.optional(v.number()),
    qbStatusCounts: v.optional(v.record(v.string(), v.number())),
  }),
  handler: async (ctx) => {
    const serverTime = Date.now();
    if ((await ctx.auth.getUserIdentity()) === null) return { serverTime };
    return {
      serverTime,
      eventsCreated: await readCounter(ctx.db, EVENT_SEQUENCE),
      qbStatusCounts: await qbStatusCounts(ctx.db),
    };
  },
});

/** Smallest possible round trip: the server's clock. What the bridge's /healthz asks. */
export const ping = query({ args: {}, returns: v.object({ serverTime: v.number() }), handler: async () => ({ serverTime: Date.now() }) });
