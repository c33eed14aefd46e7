/**
 * The SQLite driver's change watcher: commits by other connections (other
 * processes sharing the file) change `PRAGMA data_version`; the watcher looks
 * every `watchInterval` while anyone listens and reports a change once.
 *
 * @module
 */
import { unrefTimer } from "../../lib/timers.ts";

/** What the watcher needs from its driver. */
export interface WatchHost {
  /** Whether to keep watching (the driver is open and has listeners). */
  active(): boolean;
  /** The connection's `PRAGMA data_version`; throws when unreadable. */
  dataVersion(): number;
  /** Another connection committed since the last look. */
  changed(): void;
}

/** Watches `PRAGMA data_version` on an unref'd timer. */
export class DataVersionWatcher {
  readonly #host: WatchHost;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #version = 0;

  constructor(host: WatchHost, intervalMs: number) {
    this.#host = host;
    this.#intervalMs = intervalMs;
  }

  /** The version seen when the database was opened: changes are counted from it. */
  set baseline(version: number) {
    this.#version = version;
  }

  /** Starts looking, unless it already does or nobody listens. */
  start(): void {
    if (this.#timer !== undefined || !this.#host.active()) return;
    const timer = setTimeout(() => this.#look(), this.#intervalMs);
    unrefTimer(timer);
    this.#timer = timer;
  }

  /** Stops looking. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Reports a change when another connection committed since the last look. */
  #look(): void {
    this.#timer = undefined;
    if (!this.#host.active()) return;
    try {
      const version = this.#host.dataVersion();
      if (version !== this.#version) {
        this.#version = version;
        this.#host.changed();
      }
    } catch {
      // unreadable now (locked, or the file is gone): look again next time
    }
    this.start();
  }
}
