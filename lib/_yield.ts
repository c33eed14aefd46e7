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

/** How long work may run before it yields to the event loop, in ms. */
export const SLICE_MS = 4;

let sliceMs = SLICE_MS;

/** Calls between two looks at the time: reading it costs about as much as a memory step. */
const CHECK_EVERY = 32;

let sliceStart = performance.now();
let calls = 0;

function resume(resolve: () => void): void {
  sliceStart = performance.now();
  resolve();
}

/**
 * Yields to the macrotask queue when the current time slice is used up;
 * otherwise returns undefined at once (no promise, no microtask).
 */
export function yieldIfDue(): Promise<void> | undefined {
  if (++calls < CHECK_EVERY) return undefined;
  calls = 0;
  if (performance.now() - sliceStart < sliceMs) return undefined;
  return new Promise<void>((resolve) => setImmediate(resume, resolve));
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
