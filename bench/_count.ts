/**
 * A counting wrapper for the run-cost breakdown: every driver call (and, on
 * PostgreSQL, every statement sent) is counted and timed, so a run's cost can
 * be split by phase (start, claim, reads, writes, result delivery, polls).
 */
import type { Driver } from "../mod.ts";

/** Calls and total milliseconds per driver method. */
export type Tally = Map<string, { calls: number; ms: number }>;

/** Adds one call of `name` taking `ms` to `tally`. */
export function count(tally: Tally, name: string, ms: number): void {
  const entry = tally.get(name) ?? { calls: 0, ms: 0 };
  entry.calls++;
  entry.ms += ms;
  tally.set(name, entry);
}

/**
 * Wraps `driver` so each promise-returning method call is counted in `tally`
 * with its wall time (methods run on the real driver, so private fields work).
 */
export function counted<D extends Driver>(driver: D, tally: Tally): D {
  return new Proxy(driver, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      if (prop === "subscribe") {
        return (listener: (notice: { type: string }) => void) =>
          target.subscribe((notice) => {
            count(tally, `notice:${notice.type}`, 0);
            listener(notice);
          });
      }
      return (...args: unknown[]) => {
        const started = performance.now();
        const out = value.apply(target, args);
        if (out instanceof Promise) {
          return out.finally(() => count(tally, prop, performance.now() - started));
        }
        return out;
      };
    },
  });
}

/** Formats a tally per run: `name calls×, µs` sorted by time. */
export function perRun(tally: Tally, runs: number): string[] {
  return [...tally.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([name, { calls, ms }]) =>
      `${name}: ${(calls / runs).toFixed(2)} calls, ${((ms * 1000) / runs).toFixed(1)} µs`
    );
}
