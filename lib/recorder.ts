/**
 * Telling observers, in one place: an observer event is built only when
 * someone observes (so observers cost nothing when there are none), and the
 * activation's writes of stored events tell observers through the same call
 * (`ActivationCore.recordEvents` and `queueEvent`), never through a guard of
 * their own. The per-step hooks, which store nothing, guard with `observed`
 * instead: a closure per step would cost an allocation even unobserved.
 *
 * @module
 */
import type { Observer, ObserverHook } from "./observer.ts";

/** The event an observer hook receives. */
export type ObserverEvent<K extends ObserverHook> = Parameters<NonNullable<Observer[K]>>[0];

/** Whatever holds the observers and calls them (the Runtime). */
export interface Observed {
  /** The observers, in order. */
  readonly observers: readonly Observer[];
  /** Calls `hook` of every observer with `event`. */
  emit<K extends ObserverHook>(hook: K, event: ObserverEvent<K>): void;
}

/**
 * Calls `hook` of every observer with the event `make` builds, building it
 * only when there are observers.
 *
 * @example Nothing is built without observers
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Observer } from "./observer.ts";
 * import { notify } from "./recorder.ts";
 *
 * let built = 0;
 * const seen: string[] = [];
 * const host = {
 *   observers: [] as Observer[],
 *   emit: (hook: string) => seen.push(hook),
 * };
 * const make = () => (built++, { runId: "r", workflow: "w", version: "1", at: new Date(0), output: 1 });
 * notify(host, "onRunCompleted", make);
 * assert.equal(built, 0);
 * host.observers.push({});
 * notify(host, "onRunCompleted", make);
 * assert.deepEqual([built, seen], [1, ["onRunCompleted"]]);
 * ```
 */
export function notify<K extends ObserverHook>(
  host: Observed,
  hook: K,
  make: () => ObserverEvent<K>,
): void {
  if (host.observers.length) host.emit(hook, make());
}

/**
 * Whether anyone observes `host`: the guard of the per-step hooks, which
 * build their event inline rather than pass `notify` a closure (a closure per
 * step, and the context it captures, cost allocations even when nobody
 * observes).
 *
 * @example Build an event only when observed
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Observer } from "./observer.ts";
 * import { observed } from "./recorder.ts";
 *
 * const host = { observers: [] as Observer[], emit: () => {} };
 * assert.equal(observed(host), false);
 * host.observers.push({});
 * assert.equal(observed(host), true);
 * ```
 */
export function observed(host: Observed): boolean {
  return host.observers.length > 0;
}
