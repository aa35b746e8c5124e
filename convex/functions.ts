import { query } from "./_generated/server";
import { QB_STATUSES } from "./lib/constants";
import { readCounter, qbStatusCounter, EVENT_SEQUENCE } from "./lib/counters";

/** Liveness probe for smoke tests and the bridge's /healthz: cheap, reads counters only. */
export const health = query({
  args: {},
  handler: async (ctx) => {
    const counts = Object.fromEntries(
      await Promise.all(QB_STATUSES.map(async (s) => [s, await readCounter(ctx.db, qbStatusCounter(s))] as const)),
    );
    return { serverTime: Date.now(), eventsCreated: await readCounter(ctx.db, EVENT_SEQUENCE), qbStatusCounts: counts };
  },
});

/** Smallest possible round trip: the server's clock. */
export const ping = query({ args: {}, handler: async () => ({ serverTime: Date.now() }) });
