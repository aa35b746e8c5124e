import { query } from "./_generated/server";
import { EVENT_SEQUENCE, qbStatusCounts, readCounter } from "./lib/counters";

/** Liveness probe for smoke tests and the bridge's /healthz: cheap, reads counters only. */
export const health = query({
  args: {},
  handler: async (ctx) => {
    return {
      serverTime: Date.now(),
      eventsCreated: await readCounter(ctx.db, EVENT_SEQUENCE),
      qbStatusCounts: await qbStatusCounts(ctx.db),
    };
  },
});

/** Smallest possible round trip: the server's clock. */
export const ping = query({ args: {}, handler: async () => ({ serverTime: Date.now() }) });
