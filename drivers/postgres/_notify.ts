/**
 * Notices sent after the commit of the write that made them, for the hot
 * paths (run creation and run transitions).
 *
 * PostgreSQL serializes the commits of every transaction that called `NOTIFY`
 * on one database-wide lock, taken before the commit and held through its WAL
 * flush: notifying writes cannot share a flush, so several worker processes
 * queue behind one another (measured with two worker processes draining
 * one-step runs: 235 of 260 sampled active statements waited on that lock,
 * `Lock/object` in `pg_stat_activity`, and 1, 2, 3 processes drained 402,
 * 288, 163 runs/s). So those writes commit without it, and
 * the notices they made are sent here: gathered for one macrotask hop (and at
 * most one group per `NOTICE_GAP_MS`), in one
 * statement and transaction of their own, committed asynchronously (a notice
 * needs no durable commit, and a transaction that writes nothing but notices
 * then holds the lock for microseconds).
 *
 * A notice is sent only after its write committed (as before); a process that
 * dies between the two loses it, which the workers' safety poll covers, as it
 * covers a listener that reconnects.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/**
 * The least time between two groups of notices, in milliseconds: under a
 * steady stream of runs ending (a worker draining one-step runs, about one a
 * millisecond), one statement carries the notices of several runs (measured:
 * 2.5 → 2.0 commits per run, client CPU −15%); a notice waits at most this
 * much longer, and only while notices keep coming.
 */
export const NOTICE_GAP_MS = 5;

/** Sends a group of payloads on the driver's channel. */
export type SendNotices = (payloads: string[]) => Promise<unknown>;

/** The statement that sends `$2` (payloads) on channel `$1`, committed asynchronously. */
export const SEND_NOTICES = `SELECT count(pg_notify($1::text, p))::int AS sent
  FROM (SELECT set_config('synchronous_commit', 'off', true)) AS c, unnest($2::text[]) AS p`;

/**
 * Gathers notices and sends them, one group at a time, at most one group per
 * `gapMs`: the first notice after a quiet spell goes out after one macrotask
 * hop; under a steady stream of writes (one run ending every millisecond, say)
 * the notices of the next `gapMs` share one statement, instead of one
 * statement (a third of a one-step run's) per run. A notice then waits at
 * most `gapMs` longer.
 */
export class Notifier {
  readonly #send: SendNotices;
  readonly #gapMs: number;
  #queue: string[] = [];
  #sending: Promise<void> | undefined;
  #scheduled = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the last group went out (`performance.now()`). */
  #sentAt = -Infinity;

  /**
   * @param send Sends one group; a failure drops it (the safety poll covers lost notices).
   * @param gapMs The least time between two groups.
   */
  constructor(send: SendNotices, gapMs = 0) {
    this.#send = send;
    this.#gapMs = gapMs;
  }

  /** Queues a payload; it goes out with the next group. */
  push(payload: string): void {
    this.#queue.push(payload);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#sending !== undefined) return;
    this.#scheduled = true;
    const wait = this.#sentAt + this.#gapMs - performance.now();
    if (wait <= 0) {
      setImmediate(() => {
        this.#scheduled = false;
        this.#flush();
      });
    } else {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#scheduled = false;
        this.#flush();
      }, wait);
    }
  }

  #flush(): void {
    if (this.#queue.length === 0 || this.#sending !== undefined) return;
    const group = this.#queue;
    this.#queue = [];
    this.#sentAt = performance.now();
    this.#sending = this.#send(group).then(() => {}, () => {}).finally(() => {
      this.#sending = undefined;
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  /** Sends what is queued now (a wait for the gap is cut short); resolves once nothing is left. */
  async drain(): Promise<void> {
    for (;;) {
      if (this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#scheduled = false;
      }
      if (this.#sending !== undefined) await this.#sending;
      else if (this.#scheduled) await new Promise((resolve) => setImmediate(resolve));
      else if (this.#queue.length > 0) this.#flush();
      else return;
    }
  }
}
