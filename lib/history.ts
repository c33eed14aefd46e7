/**
 * Run histories: stored events and checkpoint rows turned into the events
 * that `history()` returns, whole (ordered by time) or a page at a time
 * (in write order).
 *
 * @module
 */
import { CHILD_SIGNAL_PREFIX, type Driver, type StoredHistoryItem } from "./driver.ts";
import type { HistoryEvent } from "./records.ts";
import { decodeEventDetail } from "./formats.ts";
import { decodeValue } from "./values.ts";

/**
 * Options of `history`: read a long history a page at a time.
 *
 * @example Page through a history
 * ```ts
 * import assert from "node:assert/strict";
 * import { type HistoryOptions, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("paged").step("a", (n) => n + 1).step("b", (n) => n * 2);
 * await using runner = new LocalRunner();
 * const run = await runner.start(wf, 1);
 * await run.result();
 * const first = await runner.history(run.id, { limit: 4 });
 * const options: HistoryOptions = { after: first.at(-1)!.seq, limit: 4 };
 * const rest = await runner.history(run.id, options);
 * assert.equal(first.length, 4);
 * assert.deepEqual([...first, ...rest].map((e) => e.type), [
 *   "run.created", "run.started", "step.started", "step.completed",
 *   "step.started", "step.completed", "run.completed",
 * ]);
 * ```
 */
export interface HistoryOptions {
  /**
   * Only events after this one: the `seq` of the last event of the previous
   * page. Pages list events in write order.
   */
  after?: number;
  /**
   * Most events in the page, 1 to 1000; a shorter page is the last.
   * @default {100}
   */
  limit?: number;
}

interface Entry {
  at: number;
  seq: number;
  event: HistoryEvent;
}

/**
 * A `.call` child's wake-up as histories written before `child.finished`
 * hold it (`signal.received` of `@child:<id>`) reads as `child.finished`.
 */
function oldChildWakeUp(event: HistoryEvent): void {
  const name = event.signal;
  if (name === undefined || !name.startsWith(CHILD_SIGNAL_PREFIX)) return;
  event.type = "child.finished";
  event.child = name.slice(CHILD_SIGNAL_PREFIX.length);
  delete event.signal;
}

/**
 * What a waiting run waits for, readably (as `toRunRecord` does for
 * records): the `.call` children's wake-ups (`@child:<id>`, which no one can
 * send) leave `signals` for `children`, as the children's ids.
 */
function splitChildren(event: HistoryEvent): void {
  const names = event.signals!;
  if (!names.some((name) => name.startsWith(CHILD_SIGNAL_PREFIX))) return;
  const signals = names.filter((name) => !name.startsWith(CHILD_SIGNAL_PREFIX));
  event.children = names.filter((name) => name.startsWith(CHILD_SIGNAL_PREFIX))
    .map((name) => name.slice(CHILD_SIGNAL_PREFIX.length));
  if (signals.length > 0) event.signals = signals;
  else delete event.signals;
}

/** The events one stored item stands for (none for progress rows). */
function itemEvents(item: StoredHistoryItem, entries: Entry[]): void {
  if (item.source === "event") {
    const stored = item.event;
    const event: HistoryEvent = { type: stored.type, at: new Date(stored.at), seq: item.seq };
    if (stored.step !== undefined) event.step = stored.step;
    if (stored.attempt !== undefined) event.attempt = stored.attempt;
    if (stored.detail !== undefined) {
      const detail = decodeEventDetail(stored.detail);
      for (const [key, value] of Object.entries(detail)) {
        if (key === "wakeAt" && typeof value === "number") event.wakeAt = new Date(value);
        else if (key === "startedAt" && typeof value === "number") {
          const seq = item.seq - 0.5;
          const started: HistoryEvent = { type: "step.started", at: new Date(value), seq };
          if (event.step !== undefined) started.step = event.step;
          if (event.attempt !== undefined) started.attempt = event.attempt;
          entries.push({ at: value, seq, event: started });
        } else if (key !== "delayMs") (event as unknown as Record<string, unknown>)[key] = value;
      }
      if (event.type === "signal.received") oldChildWakeUp(event);
      else if (event.type === "run.waiting" && event.signals) splitChildren(event);
    }
    entries.push({ at: stored.at, seq: item.seq, event });
    return;
  }
  const row = item.row;
  if (row.state !== "done" || (row.kind !== "step" && row.kind !== "wait")) return;
  const at = row.finishedAt ?? 0;
  const started = row.startedAt ?? at;
  const base: Omit<HistoryEvent, "type" | "at" | "seq"> = { step: row.key };
  if (row.attempt !== undefined) base.attempt = row.attempt;
  const seq = item.seq - 0.5;
  entries.push({
    at: started,
    seq,
    event: { type: "step.started", at: new Date(started), seq, ...base },
  });
  const completed: HistoryEvent = {
    type: "step.completed",
    at: new Date(at),
    seq: item.seq,
    ...base,
  };
  if (row.data !== undefined) completed.output = decodeValue(row.data);
  entries.push({ at, seq: item.seq, event: completed });
}

/** The events one stored item stands for, in write order (a step's start first). */
export function itemHistory(item: StoredHistoryItem): HistoryEvent[] {
  const entries: Entry[] = [];
  itemEvents(item, entries);
  return entries.sort((a, b) => a.seq - b.seq).map((entry) => entry.event);
}

/** Turns stored events and checkpoint rows into a history ordered by time. */
export function toHistory(items: readonly StoredHistoryItem[]): HistoryEvent[] {
  const entries: Entry[] = [];
  for (const item of items) itemEvents(item, entries);
  entries.sort((a, b) => a.at - b.at || a.seq - b.seq);
  return entries.map((entry) => entry.event);
}

/** The default and largest page of `history(runId, { after, limit })`. */
export const HISTORY_PAGE = { default: 100, max: 1000 } as const;

/** Reads one page of a history: events after `after`, in write order. */
export async function historyPage(
  driver: Driver,
  runId: string,
  after: number,
  limit: number,
): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  // A synthesized `step.started` has its item's seq - 0.5: start at that item.
  let cursor = Math.ceil(after) - 1;
  for (;;) {
    const items = await driver.history(runId, { after: cursor, limit });
    const entries: Entry[] = [];
    for (const item of items) itemEvents(item, entries);
    entries.sort((a, b) => a.seq - b.seq);
    for (const entry of entries) {
      if (entry.seq > after) events.push(entry.event);
      if (events.length === limit) return events;
    }
    if (items.length < limit) return events;
    cursor = items[items.length - 1]!.seq;
  }
}
