/**
 * `watch`: the history events of every run (or some) as they are committed,
 * across processes, resumable from a cursor. One implementation over the
 * driver's feed (`Driver.feed`), used by `Engine` and `LocalRunner` alike.
 *
 * @module
 */
import type { HistoryEventType, StoredFeedItem } from "./driver.ts";
import { itemHistory } from "./history.ts";
import type { HistoryEvent } from "./records.ts";
import type { Runtime } from "./runtime.ts";
import { checkOptions, checkRunId, describe } from "./validate.ts";

/**
 * Which events `watch` yields; every field given must match.
 *
 * @example Watch only the failures of one workflow
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WatchFilter } from "@sluice/sluice";
 *
 * const filter: WatchFilter = { workflow: "billing", types: ["run.failed", "step.failed"] };
 * assert.equal(filter.types?.length, 2);
 * ```
 */
export interface WatchFilter {
  /** Only events of this run. */
  runId?: string;
  /** Only events of runs of this workflow. */
  workflow?: string;
  /** Only events of these types. */
  types?: readonly HistoryEventType[];
}

/**
 * Options of `watch`.
 *
 * @example Resume after the last event seen, until aborted
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WatchOptions } from "@sluice/sluice";
 *
 * const controller = new AbortController();
 * const options: WatchOptions = { signal: controller.signal, after: "now" };
 * controller.abort();
 * assert.ok(options.signal?.aborted);
 * ```
 */
export interface WatchOptions {
  /** Ends the iteration (cleanly: the loop just stops) when aborted. */
  signal?: AbortSignal;
  /**
   * Where to begin: the `cursor` of the last event already seen, `"now"` for
   * only the events committed from now on (the feed's end when the iteration
   * begins), or `"start"` for every event stored. Without it: `"now"`, except
   * for one run (`filter.runId`, `handle.watch()`), which starts at the run's
   * first event.
   */
  after?: string;
}

/**
 * One event of `watch`: a history event with its run and its place in the
 * feed.
 *
 * @example The events of a run as it runs
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type WatchEvent, workflow } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner();
 * const run = await runner.start(workflow<number>("w").step("inc", (n) => n + 1), 1);
 * const seen: WatchEvent[] = [];
 * for await (const event of run.watch()) {
 *   seen.push(event);
 *   if (event.type === "run.completed") break;
 * }
 * assert.deepEqual(seen.map((e) => e.type), [
 *   "run.created", "run.started", "step.started", "step.completed", "run.completed",
 * ]);
 * assert.equal(seen[3]!.detail.output, 2);
 * ```
 */
export interface WatchEvent {
  /** Pass it as `after` to resume after this event. */
  cursor: string;
  /** The run. */
  runId: string;
  /** The run's workflow. */
  workflow: string;
  /** What happened. */
  type: HistoryEventType;
  /** The step key concerned. */
  step?: string;
  /** When. */
  at: Date;
  /**
   * The rest of the history event: `attempt`, `output`, `error`, `wakeAt`,
   * `signals`, `signal`, `payload`, `reason`, `previousWorker`, `worker`.
   */
  detail: Record<string, unknown>;
}

/** Feed items read at a time. */
const PAGE = 500;

/** Where a watcher is: after the feed item `after`, with `skip` events of the next one seen. */
interface Position {
  after: string | undefined;
  skip: number;
}

function encodePosition(p: Position): string {
  return `${p.skip}|${p.after ?? ""}`;
}

function decodePosition(cursor: string): Position {
  if (cursor === "start" || cursor === "now") return { after: undefined, skip: 0 };
  const match = typeof cursor === "string" ? /^(\d)\|(.*)$/s.exec(cursor) : null;
  if (!match) {
    throw new TypeError(
      `Cannot watch after cursor ${describe(cursor)}: pass the 'cursor' of an event watch gave`,
    );
  }
  return { after: match[2] === "" ? undefined : match[2], skip: Number(match[1]) };
}

function checkFilter(filter: unknown): WatchFilter {
  if (filter === undefined) return {};
  checkOptions(filter, "watch with filter");
  const f = filter as WatchFilter;
  if (f.runId !== undefined) checkRunId(f.runId);
  if (f.workflow !== undefined && typeof f.workflow !== "string") {
    throw new TypeError(`Cannot watch workflow ${describe(f.workflow)}: pass a workflow name`);
  }
  if (f.types !== undefined && !Array.isArray(f.types)) {
    throw new TypeError(`Cannot watch types ${describe(f.types)}: pass an array of event types`);
  }
  return f;
}

function toWatchEvent(item: StoredFeedItem, event: HistoryEvent, cursor: string): WatchEvent {
  const { type, at, step, seq: _seq, ...detail } = event;
  const out: WatchEvent = {
    cursor,
    runId: item.runId,
    workflow: item.workflow,
    type,
    at,
    detail: detail as Record<string, unknown>,
  };
  if (step !== undefined) out.step = step;
  return out;
}

/**
 * The events committed after `options.after`, then each one as it is
 * committed, until `options.signal` aborts or the runtime closes. Reading is
 * pulled by the consumer, so a slow consumer loses nothing (the store keeps
 * everything); driver notices wake an idle watcher, and over storage shared
 * with other processes it also looks every `pollMs`.
 */
export function watchEvents(
  rt: Runtime,
  filter?: WatchFilter,
  options?: WatchOptions,
  pollMs = 1000,
): AsyncIterable<WatchEvent> {
  rt.check();
  const f = checkFilter(filter);
  if (options !== undefined) checkOptions(options, "watch with options");
  // One run's events from its start; everything else from now on.
  const from = options?.after ?? (f.runId === undefined ? "now" : "start");
  let position = decodePosition(from);
  const signal = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`Cannot watch with signal ${describe(signal)}: pass an AbortSignal`);
  }
  const types = f.types ? new Set(f.types) : undefined;
  const matches = (item: StoredFeedItem, event: HistoryEvent) =>
    (f.runId === undefined || item.runId === f.runId) &&
    (f.workflow === undefined || item.workflow === f.workflow) &&
    (types === undefined || types.has(event.type));

  return {
    async *[Symbol.asyncIterator]() {
      let wake: (() => void) | undefined;
      let woken = false;
      const fire = () => {
        woken = true;
        wake?.();
      };
      const unlisten = rt.listen(fire);
      signal?.addEventListener("abort", fire);
      const timer = rt.driver.shared ? setInterval(fire, pollMs) : undefined;
      try {
        if (from === "now") position = { after: await rt.driver.feedEnd(), skip: 0 };
        while (!signal?.aborted && !rt.closed) {
          woken = false;
          const items = await rt.driver.feed(position.after, PAGE);
          for (const item of items) {
            const events = itemHistory(item.item);
            for (let i = position.skip; i < events.length; i++) {
              const last = i === events.length - 1;
              const next: Position = last
                ? { after: item.cursor, skip: 0 }
                : { after: position.after, skip: i + 1 };
              const event = events[i]!;
              if (matches(item, event)) {
                yield toWatchEvent(item, event, encodePosition(next));
                if (signal?.aborted || rt.closed) return;
              }
            }
            position = { after: item.cursor, skip: 0 };
          }
          if (items.length === PAGE || woken) continue;
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (woken || signal?.aborted || rt.closed) resolve();
          });
          wake = undefined;
        }
      } finally {
        unlisten();
        signal?.removeEventListener("abort", fire);
        if (timer !== undefined) clearInterval(timer);
      }
    },
  };
}
