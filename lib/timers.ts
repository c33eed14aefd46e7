/**
 * Timer helpers that work on every runtime Sluice supports (Deno 2.x and
 * Node): no Deno-only API is called unless it is there.
 *
 * @module
 */

/** The Deno global as far as this module uses it; absent on Node. */
interface DenoTimers {
  unrefTimer?(id: number): void;
}

/**
 * Lets the process exit while `timer` is still pending. Node (and Deno from
 * 2.x releases whose timers are objects) gives the timer an `unref()` method;
 * older Deno 2 releases return a number for `Deno.unrefTimer`. Elsewhere it
 * does nothing, which only means the timer keeps the process alive.
 *
 * @param timer What `setTimeout` or `setInterval` returned.
 */
export function unrefTimer(timer: unknown): void {
  if (typeof timer === "object" && timer !== null) {
    const unref = (timer as { unref?: unknown }).unref;
    if (typeof unref === "function") unref.call(timer);
    return;
  }
  // Feature-detected (allowed by tests/runtime_api_test.ts): only on Deno releases whose timers are numbers.
  const deno = (globalThis as { Deno?: DenoTimers }).Deno;
  if (typeof timer === "number" && typeof deno?.unrefTimer === "function") deno.unrefTimer(timer);
}
