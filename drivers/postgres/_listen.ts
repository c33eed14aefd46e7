/**
 * The PostgreSQL driver's `LISTEN` connection: one dedicated connection that
 * turns other processes' `NOTIFY`s into notices. It is re-opened after a
 * database restart (then a `changed` notice says that notices may have been
 * missed), and a `LISTEN` that hangs on a half-open connection is given up
 * for a fresh connection.
 *
 * @module
 */
import postgres from "postgres";
import type { DriverNotice } from "../../lib/driver.ts";

/**
 * Seconds before reconnecting after a failed connection: short and capped at
 * one second, so workers resume soon after a database restart (postgres.js
 * alone backs off up to 20 seconds).
 */
export function reconnectDelay(retries: number): number {
  return Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2);
}

const NOTICE_TYPES = new Set([
  "runnable",
  "signal",
  "cancelled",
  "paused",
  "finished",
  "released",
  "schedule",
  "written",
  "changed",
]);

/**
 * The notices of a `NOTIFY` payload (`instance:type,type:runId`), or
 * `undefined` when it is malformed or was sent by this instance (which told
 * its listeners already).
 */
export function parseNotify(
  payload: string,
  instance: string,
): { types: DriverNotice["type"][]; runId: string | undefined } | undefined {
  const first = payload.indexOf(":");
  const second = payload.indexOf(":", first + 1);
  if (first < 0 || second < 0) return undefined;
  if (payload.slice(0, first) === instance) return undefined;
  const runId = payload.slice(second + 1);
  const types = payload.slice(first + 1, second).split(",").filter((type) =>
    NOTICE_TYPES.has(type)
  ) as DriverNotice["type"][];
  return { types, runId: runId === "" ? undefined : runId };
}

/** What the listener needs from its driver. */
export interface ListenHost {
  /** Whether the driver is closed. */
  closed(): boolean;
  /** Whether anyone still subscribes (else a lost connection is not re-opened). */
  wanted(): boolean;
  /** A `NOTIFY` arrived. */
  notify(payload: string): void;
  /** Listening again after the connection was lost: notices may have been missed. */
  changed(): void;
}

/** The dedicated `LISTEN` connection of one driver. */
export class NotifyListener {
  readonly #sql: postgres.Sql;
  readonly #channel: string;
  readonly #host: ListenHost;
  #conn: postgres.Sql | undefined;
  #state: "idle" | "starting" | "listening" = "idle";
  #listenedOnce = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;

  /**
   * @param sql The pool whose options the connection copies.
   * @param channel The channel to `LISTEN` on.
   * @param host The driver.
   */
  constructor(sql: postgres.Sql, channel: string, host: ListenHost) {
    this.#sql = sql;
    this.#channel = channel;
    this.#host = host;
  }

  /** Starts listening, unless it already does or is about to. */
  listen(): void {
    if (this.#host.closed() || this.#state !== "idle" || this.#retry !== undefined) return;
    this.#state = "starting";
    let conn = this.#conn;
    if (conn === undefined) {
      const created: postgres.Sql = postgres({
        ...this.#sql.options,
        max: 1,
        idle_timeout: null,
        max_lifetime: null,
        fetch_types: false,
        backoff: reconnectDelay,
        onnotice: () => {},
        onnotify: (_channel: string, payload: string) => this.#host.notify(payload),
        onclose: () => {
          if (this.#conn === created) this.#lost();
        },
      } as unknown as postgres.Options<Record<string, postgres.PostgresType>>);
      conn = this.#conn = created;
    }
    const current = conn;
    // A LISTEN that hangs (a half-open connection) is given up: a fresh
    // connection is tried instead.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#conn !== current) return;
      this.#conn = undefined;
      void current.end({ timeout: 0 }).catch(() => {});
    }, 10_000);
    current.unsafe(`LISTEN "${this.#channel}"`).then(() => {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      if (this.#host.closed() || this.#conn !== current) return;
      this.#state = "listening";
      this.#failures = 0;
      // Notices sent while the connection was down are lost: re-check everything.
      if (this.#listenedOnce) this.#host.changed();
      this.#listenedOnce = true;
    }, () => {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#state = "idle";
      this.#failures++;
      this.#retryLater();
    });
  }

  /** Stops retrying (the driver is closing). */
  stop(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Ends the connection, if there is one. */
  end(): Promise<void> | undefined {
    return this.#conn?.end({ timeout: 1 });
  }

  #lost(): void {
    if (this.#host.closed() || this.#state !== "listening") return;
    this.#state = "idle";
    this.#retryLater();
  }

  #retryLater(): void {
    if (this.#host.closed() || this.#retry !== undefined || !this.#host.wanted()) return;
    const delay = Math.min(50 * 2 ** Math.min(this.#failures, 6), 2_000);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.listen();
    }, delay);
  }
}
