/**
 * A controllable process clock for `--test-clock`.
 *
 * convex-test stamps `_creationTime` and commit timestamps with `Date.now()`,
 * and the `convex/` functions read `Date.now()` for leases, retries and
 * `serverTime`. Replacing the global `Date` (static `now()` and argument-less
 * `new Date()`) is therefore enough to move the whole backend through time,
 * which is what the Python retry/lease tests need instead of sleeping.
 *
 * The clock either follows real time shifted by an offset ("running", the
 * initial state, so tests that never touch it see ordinary time) or stands
 * still at a fixed instant ("frozen", after an absolute set), which makes
 * results exact to the millisecond.
 */

const RealDate = Date;
const realNow = (): number => RealDate.now();

export type ClockState = { now: number; frozen: boolean };

export class TestClock {
  private offsetMs = 0;
  private frozenAt: number | null = null;

  now(): number {
    return this.frozenAt ?? realNow() + this.offsetMs;
  }

  /** Stand still at `ms` (epoch milliseconds) until advanced, set or resumed. */
  set(ms: number): void {
    this.frozenAt = ms;
  }

  /** Move forward (or back, for a negative `ms`) without changing running/frozen. */
  advance(ms: number): void {
    if (this.frozenAt !== null) this.frozenAt += ms;
    else this.offsetMs += ms;
  }

  /** Tick with real time again, continuing from the current reading. */
  resume(): void {
    if (this.frozenAt !== null) {
      this.offsetMs = this.frozenAt - realNow();
      this.frozenAt = null;
    }
  }

  /** Back to plain real time (used by `/_test/reset`). */
  reset(): void {
    this.offsetMs = 0;
    this.frozenAt = null;
  }

  state(): ClockState {
    return { now: this.now(), frozen: this.frozenAt !== null };
  }
}

/**
 * Replaces `globalThis.Date` with a subclass whose `now()` and argument-less
 * constructor read `clock`. Must run before convex-test and the `convex/`
 * modules are imported so every later `Date` lookup sees it (convex-test also
 * proxies `Date` per call, and keeps an assignment made outside a call as the
 * default).
 */
export function installClock(clock: TestClock): void {
  class ClockDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(clock.now());
      else super(...(args as [string | number | Date]));
    }
    static override now(): number {
      return clock.now();
    }
  }
  globalThis.Date = ClockDate as DateConstructor;
}
