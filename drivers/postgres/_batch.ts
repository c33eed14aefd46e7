/**
 * Group commit: requests made while a statement is in flight are gathered and
 * sent together as one statement (one round trip, one commit), so concurrent
 * runs share commits while a lone run pays no added delay. One bad request
 * never fails the others: a group whose statement the database refused is sent
 * again one request at a time, so only the bad one fails.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** One queued request; the flush settles it. */
export interface BatchItem {
  /** Fails the request. */
  reject(error: unknown): void;
  /** Keys that may not appear twice in one group (e.g. `runId` + step key). */
  keys?: readonly string[];
}

/** Options of {@linkcode Batcher}. */
export interface BatcherOptions {
  /** Most groups in flight at once. */
  maxInFlight: number;
  /** Most requests in one group. */
  maxItems: number;
  /**
   * Whether a group that failed with this error is sent again one request at a
   * time. Say yes only when the failed statement is known to have written
   * nothing (the database refused it), never when the connection dropped and
   * the commit may have happened.
   */
  isolate: (error: unknown) => boolean;
}

/** Gathers requests into groups and flushes them, a few groups at a time. */
export class Batcher<T extends BatchItem> {
  readonly #flush: (items: T[]) => Promise<void>;
  readonly #maxInFlight: number;
  readonly #maxItems: number;
  readonly #isolate: (error: unknown) => boolean;
  #queue: T[] = [];
  #inFlight = 0;
  #scheduled = false;
  #drained: (() => void)[] = [];

  /**
   * Makes a batcher.
   *
   * @param flush Sends one group and settles each of its requests.
   * @param options Group limits.
   */
  constructor(flush: (items: T[]) => Promise<void>, options: BatcherOptions) {
    this.#flush = flush;
    this.#maxInFlight = options.maxInFlight;
    this.#maxItems = options.maxItems;
    this.#isolate = options.isolate;
  }

  /** Queues a request. */
  push(item: T): void {
    this.#queue.push(item);
    this.#schedule();
  }

  /** Resolves once nothing is queued or in flight. */
  drain(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight || this.#queue.length === 0) return;
    this.#scheduled = true;
    const run = () => {
      this.#scheduled = false;
      this.#run();
    };
    // One macrotask hop lets every run that is about to write join the group.
    setImmediate(run);
  }

  #take(): T[] {
    const queue = this.#queue;
    let group: T[];
    if (queue.length <= this.#maxItems && queue.every((item) => item.keys === undefined)) {
      group = queue;
      this.#queue = [];
      return group;
    }
    group = [];
    const seen = new Set<string>();
    const rest: T[] = [];
    for (const item of queue) {
      const keys = item.keys ?? [];
      if (
        group.length >= this.#maxItems || rest.length > 0 && keys.length > 0 ||
        keys.some((key) => seen.has(key))
      ) {
        rest.push(item);
        continue;
      }
      for (const key of keys) seen.add(key);
      group.push(item);
    }
    this.#queue = rest;
    return group;
  }

  /** Sends each request of a refused group alone, so only a bad one fails. */
  async #flushEach(group: T[]): Promise<void> {
    await Promise.all(
      group.map((item) => this.#flush([item]).catch((error) => item.reject(error))),
    );
  }

  #run(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const group = this.#take();
      this.#inFlight++;
      this.#flush(group).catch((error) => {
        if (group.length > 1 && this.#isolate(error)) return this.#flushEach(group);
        for (const item of group) item.reject(error);
        return undefined;
      }).finally(() => {
        this.#inFlight--;
        if (this.#queue.length > 0) this.#schedule();
        else if (this.#inFlight === 0) {
          const drained = this.#drained;
          this.#drained = [];
          for (const resolve of drained) resolve();
        }
      });
    }
  }
}
