/**
 * The memory driver's feed (`Driver.feed`): every run's history entries in
 * write order, each at a fixed index (its cursor), and the `written` notice
 * that wakes its readers.
 *
 * Writing must cost a run that nobody watches nothing it can measure: the
 * feed stores stretches of consecutive entries of one run (a run writing step
 * after step extends one stretch, with no allocation), and `written` is sent
 * only when someone read the feed since the last one (a reader waits only
 * after reading, so it always hears of what it has not read).
 *
 * @module
 */

/** `count` consecutive entries of one run's log from `seq`, the first at feed index `index`. */
interface Stretch<R> {
  readonly run: R;
  readonly seq: number;
  readonly index: number;
  count: number;
}

/** One entry of the feed: a run, the entry's index in the run's log, and its feed index. */
export interface FeedEntry<R> {
  run: R;
  seq: number;
  index: number;
}

/** Every run's log entries in write order, as stretches of one run each. */
export class MemoryFeed<R> {
  #stretches: Stretch<R>[] = [];
  #tail: Stretch<R> | undefined;
  #length = 0;
  /** Someone read the feed since the last `written` notice. */
  #read = false;
  /** A `written` notice is queued. */
  #queued = false;
  readonly #written: () => void;

  /** `written` is called (in a microtask, once per turn) when entries follow a read. */
  constructor(written: () => void) {
    this.#written = written;
  }

  /** Appends entry `seq` of `run`'s log. */
  append(run: R, seq: number): void {
    const tail = this.#tail;
    if (tail !== undefined && tail.run === run && tail.seq + tail.count === seq) tail.count++;
    else this.#stretches.push(this.#tail = { run, seq, index: this.#length, count: 1 });
    this.#length++;
    if (!this.#read || this.#queued) return;
    this.#queued = true;
    queueMicrotask(() => {
      this.#queued = false;
      this.#read = false;
      this.#written();
    });
  }

  /** The index of the newest entry (undefined while empty); counts as a read. */
  end(): number | undefined {
    this.#read = true;
    return this.#length === 0 ? undefined : this.#length - 1;
  }

  /** Up to `limit` entries from index `from` on, in order (dropped runs' are gone); a read. */
  read(from: number, limit: number): FeedEntry<R>[] {
    this.#read = true;
    const stretches = this.#stretches;
    // The first stretch that ends after `from` (indexes only grow along the array).
    let lo = 0;
    let hi = stretches.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const s = stretches[mid]!;
      if (s.index + s.count <= from) lo = mid + 1;
      else hi = mid;
    }
    const out: FeedEntry<R>[] = [];
    for (let i = lo; i < stretches.length && out.length < limit; i++) {
      const s = stretches[i]!;
      for (let k = Math.max(0, from - s.index); k < s.count && out.length < limit; k++) {
        out.push({ run: s.run, seq: s.seq + k, index: s.index + k });
      }
    }
    return out;
  }

  /** Forgets the entries of the runs `gone` says were deleted (their indexes stay unused). */
  drop(gone: (run: R) => boolean): void {
    this.#stretches = this.#stretches.filter((s) => !gone(s.run));
    if (this.#tail !== undefined && gone(this.#tail.run)) this.#tail = undefined;
  }

  /** Forgets everything (the driver closed). */
  clear(): void {
    this.#stretches = [];
    this.#tail = undefined;
  }
}
