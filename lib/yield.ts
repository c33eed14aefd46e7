/**
 * Fairness: a busy worker returns to its process's event loop between claim
 * and write cycles. On drivers whose calls settle in microtasks (SQLite, the
 * memory driver) a worker draining work would otherwise never let timers,
 * lease heartbeats, signal handlers or the host's own I/O run.
 *
 * Yielding on every cycle would cost a macrotask each time, so the worker
 * yields only once a time slice has passed since the last yield. The slice is
 * measured on the monotonic real-time clock (`performance.now()`), not the
 * engine clock: it is about this process's event loop, not about workflow time.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { type ActivityAwareClock, type Clock, clockActivity } from "./clock.ts";

/** How long work may run before it yields to the event loop, in ms. */
export const SLICE_MS = 4;

let sliceMs = SLICE_MS;

/** Calls between two looks at the time: reading it costs about as much as a memory step. */
const CHECK_EVERY = 32;

let sliceStart = performance.now();
let calls = 0;
/** The pause in progress, which every caller joins. */
let pause: Promise<void> | undefined;

/**
 * Yields to the macrotask queue when the current time slice is used up;
 * otherwise returns undefined at once (no promise, no microtask). A simulated
 * clock is told of the pause as activity, so it does not take the yielding
 * work for work that waits on the clock.
 */
export function yieldIfDue(clock: Clock): Promise<void> | undefined {
  // Once one caller yields, every other one joins it: the event loop gets its
  // turn only when no work is left in the microtask queue.
  if (pause !== undefined) return pause;
  if (++calls < CHECK_EVERY) return undefined;
  calls = 0;
  if (performance.now() - sliceStart < sliceMs) return undefined;
  const aware = clock as ActivityAwareClock;
  aware[clockActivity]?.(1);
  return pause = new Promise<void>((resolve) =>
    setImmediate(() => {
      pause = undefined;
      sliceStart = performance.now();
      aware[clockActivity]?.(-1);
      resolve();
    })
  );
}

/**
 * @internal For the benchmarks only: sets the slice (`Infinity` never yields);
 * returns the previous one.
 */
export function setYieldSlice(ms: number): number {
  const previous = sliceMs;
  sliceMs = ms;
  return previous;
}
