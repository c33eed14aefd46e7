/**
 * The PostgreSQL driver's `written` announcements: other processes' watchers
 * learn that history grew from a `NOTIFY`, but not one per checkpoint. A
 * `NOTIFY` inside the checkpoint's own transaction would serialize every
 * commit on PostgreSQL's notification queue lock (measured: 16 concurrent
 * writers lose nearly half their rate), so the announcement goes out after
 * the commit with the driver's other notices (`_notify.ts`), coalesced: the
 * first write after a quiet spell is announced at once, the writes of the next
 * `windowMs` in one announcement at the window's end. A writer thus sends at most one `NOTIFY` per window
 * however fast it writes, and a watcher hears of every commit at most one
 * window late. A lost announcement (the statement failed) is covered by the
 * watchers' re-read.
 *
 * @module
 */
import { unrefTimer } from "../../lib/timers.ts";

/** How long the writes announced by one `NOTIFY` may span, at most (ms). */
export const ANNOUNCE_WINDOW_MS = 25;

/** Coalesces "history grew" into at most one announcement per window. */
export class WrittenAnnouncer {
  readonly #send: () => Promise<unknown>;
  readonly #windowMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> | undefined;
  #pending = false;
  #lastSent = -Infinity;
  #stopped = false;

  /**
   * @param send Sends one announcement (a `pg_notify`); its failure is ignored.
   * @param windowMs The shortest time between two announcements.
   */
  constructor(send: () => Promise<unknown>, windowMs = ANNOUNCE_WINDOW_MS) {
    this.#send = send;
    this.#windowMs = windowMs;
  }

  /** History grew (a write committed): announce it now or at the window's end. */
  note(): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined || this.#inFlight !== undefined) {
      this.#pending = true;
      return;
    }
    const wait = this.#lastSent + this.#windowMs - performance.now();
    if (wait <= 0) this.#fire();
    else this.#later(wait);
  }

  #later(wait: number): void {
    this.#pending = false;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#fire();
    }, wait);
    unrefTimer(this.#timer);
  }

  #fire(): void {
    this.#pending = false;
    if (this.#stopped) return;
    this.#lastSent = performance.now();
    this.#inFlight = this.#send().then(() => {}, () => {}).finally(() => {
      this.#inFlight = undefined;
      if (this.#pending && !this.#stopped) {
        this.#later(Math.max(0, this.#lastSent + this.#windowMs - performance.now()));
      }
    });
  }

  /** Announces what is pending at once, then stops; resolves when sent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    let owed = this.#pending;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      owed = true;
    }
    this.#pending = false;
    await this.#inFlight;
    if (owed) await this.#send().catch(() => {});
  }
}
