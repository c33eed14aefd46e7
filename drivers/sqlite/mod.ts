/**
 * The SQLite storage driver, built on `node:sqlite`: one file shared by any
 * number of engines and workers in any number of processes on one machine.
 *
 * The file runs in WAL mode with `synchronous=NORMAL` (or `FULL`), a busy
 * timeout, short `BEGIN IMMEDIATE` transactions, partial indexes for claims,
 * and a versioned schema that migrates itself on first use.
 *
 * A step completion is one fenced `INSERT` appended to a journal; writes that
 * many runs issue in the same turn of the event loop share one transaction
 * (group commit); a run's rows are indexed by key when it suspends, finishes
 * or heartbeats. While anyone subscribes, the driver polls
 * `PRAGMA data_version` and reports changes made by other processes.
 *
 * @example Run a workflow on a SQLite file
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, workflow } from "@sluice/sluice";
 * import { SqliteDriver } from "@sluice/sluice/sqlite";
 *
 * const dir = await Deno.makeTempDir();
 * const greet = workflow<string>("greet").step("hello", (name) => `hello ${name}`);
 * {
 *   const driver = new SqliteDriver({ path: `${dir}/sluice.db` });
 *   await using engine = new Engine({ driver, workflows: [greet] });
 *   await using worker = engine.worker();
 *   await worker.start();
 *   const run = await engine.start(greet, "ada");
 *   assert.equal(await run.result(), "hello ada");
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import {
  type Claim,
  type ClaimOptions,
  type ConsumedSignal,
  decodeCursor,
  type Driver,
  type DriverNotice,
  encodeCursor,
  type Lease,
  type LeaseState,
  type NewRun,
  pendingRun,
  type RunFilter,
  type RunStatus,
  type RunTransition,
  type StepRow,
  type StoredEvent,
  type StoredHistoryItem,
  type StoredHistoryPage,
  type StoredRun,
  type StoredRunPage,
  type WriteBatch,
} from "../../lib/driver.ts";
import { type Duration, parseDuration } from "../../lib/duration.ts";
import {
  type ErrorInfo,
  InvalidStateError,
  LeaseLostError,
  RunNotFoundError,
  SluiceError,
  StorageError,
} from "../../lib/errors.ts";
import { cancelledErrorInfo, LIST_PAGE, refusal, retryDropsRow } from "../../lib/driver_policy.ts";
import { cancelledDetail, recoveredDetail, signalRowData } from "../../lib/formats.ts";
import { type RunColumns, runFromColumns, type StepColumns, stepFromColumns } from "../columns.ts";
import { unrefTimer } from "../../lib/timers.ts";
import { migrateSchema, schemaVersion } from "./_schema.ts";
import { MAX_ITEMS_PER_INSERT, Statements } from "./_statements.ts";

/**
 * Options of {@linkcode SqliteDriver}.
 *
 * @example Sync every commit to disk and wait up to 10s for other processes
 * ```ts
 * import assert from "node:assert/strict";
 * import { SqliteDriver, type SqliteDriverOptions } from "@sluice/sluice/sqlite";
 *
 * const dir = await Deno.makeTempDir();
 * const options: SqliteDriverOptions = {
 *   path: `${dir}/sluice.db`,
 *   synchronous: "FULL",
 *   busyTimeoutMs: 10_000,
 *   watchInterval: "250ms",
 * };
 * const driver = new SqliteDriver(options); // opens nothing until first use
 * await assert.rejects(Deno.stat(options.path), Deno.errors.NotFound);
 * await driver.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface SqliteDriverOptions {
  /**
   * The database file; created with its directory's permissions when missing.
   * Every process that shares runs opens the same file.
   */
  path: string;
  /**
   * `NORMAL` (the WAL default: a power loss may drop the last commits, never
   * corrupt the file) or `FULL` (every commit is synced to disk).
   * @default {"NORMAL"}
   */
  synchronous?: "NORMAL" | "FULL";
  /**
   * How long a write waits for another process's transaction before failing
   * with `StorageError`.
   * @default {5000}
   */
  busyTimeoutMs?: number;
  /**
   * How often, while anyone subscribes, the driver checks whether another
   * process changed the file (so a signal sent elsewhere wakes a wait quickly).
   * @default {100}
   */
  watchInterval?: Duration;
}

/**
 * The effective settings of an open {@linkcode SqliteDriver}, read from SQLite
 * by {@linkcode SqliteDriver.settings}.
 *
 * @example The settings of an open database
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SqliteSettings } from "@sluice/sluice/sqlite";
 *
 * const settings: SqliteSettings = {
 *   path: "./sluice.db",
 *   journalMode: "wal",
 *   synchronous: "NORMAL",
 *   busyTimeoutMs: 5000,
 *   schemaVersion: 1,
 * };
 * assert.equal(settings.journalMode, "wal");
 * ```
 */
export interface SqliteSettings {
  /** The database file. */
  path: string;
  /** `wal` for a file database. */
  journalMode: string;
  /** `NORMAL` or `FULL` (`OFF` and `EXTRA` never set by Sluice). */
  synchronous: string;
  /** The busy timeout in milliseconds. */
  busyTimeoutMs: number;
  /** The schema version (`PRAGMA user_version`). */
  schemaVersion: number;
}

type RunRow = RunColumns;

interface FenceRow {
  rid: number;
  lease_token: number;
  status: RunStatus;
  lease_owner: string | null;
  journal_from: number | null;
}

interface StateRow {
  rid: number;
  status: RunStatus;
  waiting_for: string | null;
  error: string | null;
  journal_from: number | null;
}

interface StepRowData extends StepColumns {
  seq: number;
}

interface JournalRow {
  seq: number;
  key: string | null;
  kind: string;
  state: "done" | "pending" | null;
  data: string | null;
  attempt: number | null;
  started_at: number | null;
  at: number | null;
  step: string | null;
}

interface EventRow {
  seq: number;
  type: StoredEvent["type"];
  at: number;
  step: string | null;
  attempt: number | null;
  detail: string | null;
}

/** A checkpoint row with its place in the write order. */
interface Sequenced {
  row: StepRow;
  seq: number;
}

/**
 * What this driver instance appended to the journal under a lease it holds and
 * has not indexed ("folded") yet. It is authoritative only while its token is
 * the run's token; when in doubt it is dropped, and the journal (from the
 * run's `journal_from`) is read instead.
 */
interface LocalLease {
  rid: number;
  token: number;
  rows: Map<string, Sequenced>;
  events: { seq: number; event: StoredEvent }[];
  /** Journal rows replaced by a later row of the same key, to delete at the fold. */
  garbage: number[];
}

/** Index a lease's journal rows after this many, even while the lease goes on. */
const FOLD_AT = 1024;
/** Most local leases remembered; older ones fall back to reading the journal. */
const MAX_LOCAL_LEASES = 65_536;
/** The page cache of the connection, in KiB as `PRAGMA cache_size` takes it (negative). */
const CACHE_SIZE_KIB = -32_768;
/** Microtask rounds a flush waits for more writes to join its transaction. */
const MAX_GATHER_ROUNDS = 8;

class Job {
  ok = false;
  value: unknown = undefined;
  error: unknown = undefined;
  notices: DriverNotice[] | undefined = undefined;
  constructor(
    readonly exec: () => unknown,
    readonly simple: (() => boolean) | undefined,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

function journalRow(r: JournalRow): StepRow {
  const row: StepRow = { key: r.key!, kind: r.kind, state: r.state ?? "pending" };
  if (r.data !== null) row.data = r.data;
  if (r.attempt !== null) row.attempt = r.attempt;
  if (r.started_at !== null) row.startedAt = r.started_at;
  if (r.at !== null) row.finishedAt = r.at;
  return row;
}

function journalEvent(r: { kind: string; at: number | null } & EventParts): StoredEvent {
  return toEvent(r.kind as StoredEvent["type"], r.at ?? 0, r);
}

interface EventParts {
  step: string | null;
  attempt: number | null;
  data?: string | null;
  detail?: string | null;
}

function toEvent(type: StoredEvent["type"], at: number, r: EventParts): StoredEvent {
  const event: StoredEvent = { type, at };
  if (r.step !== null) event.step = r.step;
  if (r.attempt !== null) event.attempt = r.attempt;
  const detail = r.detail ?? r.data ?? null;
  if (detail !== null) event.detail = detail;
  return event;
}

/**
 * Combines two versions of one checkpoint row the way the fold does: in write
 * order, the first `done` row stays; otherwise the later row wins.
 */
function later(a: Sequenced, b: Sequenced): Sequenced {
  const first = a.seq <= b.seq ? a : b;
  const second = first === a ? b : a;
  return first.row.state === "done" ? first : second;
}

function closedError(): InvalidStateError {
  return new InvalidStateError("Cannot use a closed SqliteDriver: create a new one");
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Stores runs in a SQLite file through `node:sqlite`, for one process or for
 * several processes on one machine sharing the file. The schema is created or
 * upgraded on first use (or by {@linkcode SqliteDriver.migrate}); `close()`
 * closes the database.
 *
 * @example Start a run, sleep durably, and finish it with a manual clock
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, ManualClock, workflow } from "@sluice/sluice";
 * import { SqliteDriver } from "@sluice/sluice/sqlite";
 *
 * const dir = await Deno.makeTempDir();
 * const clock = new ManualClock(0);
 * const nap = workflow<number>("nap").sleep("rest", "1h").step("wake", (n) => n + 1);
 * {
 *   await using engine = new Engine({
 *     driver: new SqliteDriver({ path: `${dir}/runs.db`, synchronous: "FULL" }),
 *     workflows: [nap],
 *     clock,
 *   });
 *   await using worker = engine.worker();
 *   await worker.start();
 *   const run = await engine.start(nap, 41);
 *   await clock.advance("1h");
 *   assert.equal(await run.result(), 42);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class SqliteDriver implements Driver {
  /** The driver kind. */
  readonly kind: string = "sqlite";
  /** Other processes may share the file, so workers also poll. */
  readonly shared: boolean = true;
  readonly #path: string;
  readonly #synchronous: "NORMAL" | "FULL";
  readonly #busyTimeoutMs: number;
  readonly #watchMs: number;
  #db: DatabaseSync | undefined;
  #s: Statements | undefined;
  #closed = false;
  #queue: Job[] = [];
  #scheduled = false;
  #generation = 0;
  #current: Job | undefined;
  #leases = new Map<string, LocalLease>();
  #listeners = new Set<(notice: DriverNotice) => void>();
  #watchTimer: ReturnType<typeof setTimeout> | undefined;
  #dataVersion = 0;

  /**
   * Creates a driver for a database file; nothing is opened until first use.
   *
   * @param options The file and its settings.
   */
  constructor(options: SqliteDriverOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Cannot create a SqliteDriver without options: pass { path }");
    }
    if (typeof options.path !== "string" || options.path.length === 0) {
      throw new TypeError(
        `Cannot create a SqliteDriver with 'path' ${
          typeof options.path === "string" ? "''" : `of type ${typeof options.path}`
        }: pass the path of the database file`,
      );
    }
    this.#path = options.path;
    const synchronous = options.synchronous ?? "NORMAL";
    if (synchronous !== "NORMAL" && synchronous !== "FULL") {
      throw new TypeError(
        `Cannot use 'synchronous' '${String(synchronous)}': use 'NORMAL' or 'FULL'`,
      );
    }
    this.#synchronous = synchronous;
    const busy = options.busyTimeoutMs ?? 5_000;
    if (!Number.isInteger(busy) || busy < 0 || busy > 2_147_483_647) {
      throw new RangeError(
        `Cannot use 'busyTimeoutMs' ${String(busy)}: use an integer number of milliseconds`,
      );
    }
    this.#busyTimeoutMs = busy;
    this.#watchMs = parseDuration(options.watchInterval ?? 100, "'watchInterval'");
    if (this.#watchMs < 10) {
      throw new RangeError(`Cannot use 'watchInterval' ${this.#watchMs}ms: use at least 10ms`);
    }
  }

  /** The database file. */
  get path(): string {
    return this.#path;
  }

  // ---- connection ---------------------------------------------------------------

  #storageError(error: unknown, action: string): unknown {
    if (error instanceof SluiceError || error instanceof TypeError) return error;
    const message = errorMessage(error);
    if (/database is locked|SQLITE_BUSY/i.test(message)) {
      return new StorageError(
        `Cannot ${action} SQLite database '${this.#path}' as another connection holds its lock for more than ${this.#busyTimeoutMs}ms: raise 'busyTimeoutMs' or shorten the other connection's transactions`,
        { cause: error },
      );
    }
    return new StorageError(
      `Cannot ${action} SQLite database '${this.#path}': ${message}`,
      { cause: error },
    );
  }

  /** Opens the database on first use: pragmas, migrations, statements. */
  #open(): Statements {
    if (this.#s) return this.#s;
    if (this.#closed) throw closedError();
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(this.#path, { timeout: this.#busyTimeoutMs });
      this.#enableWal(db);
      db.exec(
        this.#synchronous === "FULL" ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
      );
      db.exec(`PRAGMA cache_size = ${CACHE_SIZE_KIB}`);
      migrateSchema(db, this.#path);
      const statements = new Statements(db);
      this.#dataVersion = (statements.dataVersion.get() as { data_version: number }).data_version;
      this.#db = db;
      this.#s = statements;
      return statements;
    } catch (error) {
      try {
        db?.close();
      } catch {
        // the open failed already; report that error
      }
      throw this.#storageError(error, "open");
    }
  }

  /** Switches to WAL; a brand-new file opened by several processes at once may need a retry. */
  #enableWal(db: DatabaseSync): void {
    let waited = 0;
    for (let attempt = 0;; attempt++) {
      try {
        db.exec("PRAGMA journal_mode = WAL");
        return;
      } catch (error) {
        if (!/locked|busy/i.test(errorMessage(error)) || waited >= this.#busyTimeoutMs) throw error;
        // A short synchronous pause: the other connection is switching the file now.
        const pause = Math.min(2 ** attempt, 50);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
        waited += pause;
      }
    }
  }

  #ready(): Statements {
    if (this.#closed) throw closedError();
    return this.#s ?? this.#open();
  }

  /** Creates or upgrades the schema (also done on first use). */
  migrate(): Promise<void> {
    try {
      this.#ready();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Reads the effective settings from SQLite (opening the file if needed).
   *
   * @example Read the settings a new database got
   * ```ts
   * import assert from "node:assert/strict";
   * import { SqliteDriver } from "@sluice/sluice/sqlite";
   *
   * const dir = await Deno.makeTempDir();
   * await using driver = new SqliteDriver({ path: `${dir}/s.db` });
   * const settings = await driver.settings();
   * assert.equal(settings.journalMode, "wal");
   * assert.equal(settings.synchronous, "NORMAL");
   * await driver.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  settings(): Promise<SqliteSettings> {
    return this.#read(() => {
      const db = this.#db!;
      const mode = db.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
      const sync = db.prepare("PRAGMA synchronous").get() as { synchronous: number };
      const busy = db.prepare("PRAGMA busy_timeout").get() as Record<string, number>;
      return {
        path: this.#path,
        journalMode: mode.journal_mode,
        synchronous: ["OFF", "NORMAL", "FULL", "EXTRA"][sync.synchronous] ??
          String(sync.synchronous),
        busyTimeoutMs: Object.values(busy)[0] ?? 0,
        schemaVersion: schemaVersion(db),
      };
    });
  }

  /**
   * Finishes queued writes, stops the change watcher and closes the database;
   * later calls throw `InvalidStateError`. Closing twice does nothing.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    try {
      if (this.#queue.length > 0) this.#flush();
    } finally {
      this.#closed = true;
      this.#stopWatch();
      this.#listeners.clear();
      this.#leases.clear();
    }
    const db = this.#db;
    this.#db = undefined;
    this.#s = undefined;
    try {
      db?.close();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(this.#storageError(error, "close"));
    }
  }

  /** Same as {@linkcode SqliteDriver.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- the write queue (group commit) ---------------------------------------------

  /**
   * Queues a write; writes queued in the same turn of the event loop share one
   * transaction. `simple` tells (at flush time) whether the write is a single
   * statement that needs no transaction of its own.
   */
  #enqueue<T>(exec: () => T, simple?: () => boolean): Promise<T> {
    try {
      this.#ready();
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push(new Job(exec, simple, resolve as (value: unknown) => void, reject));
      if (this.#scheduled) return;
      this.#scheduled = true;
      const generation = ++this.#generation;
      const seen = this.#queue.length;
      queueMicrotask(() => this.#gather(generation, seen, 0));
    });
  }

  /** Flushes once a microtask round brought no more writes (bounded). */
  #gather(generation: number, seen: number, rounds: number): void {
    if (!this.#scheduled || generation !== this.#generation || this.#closed) return;
    const size = this.#queue.length;
    if (size > seen && rounds < MAX_GATHER_ROUNDS) {
      queueMicrotask(() => this.#gather(generation, size, rounds + 1));
      return;
    }
    this.#flush();
  }

  #execute(job: Job): void {
    this.#current = job;
    try {
      job.value = job.exec();
      job.ok = true;
    } catch (error) {
      job.ok = false;
      job.error = error;
    } finally {
      this.#current = undefined;
    }
  }

  /**
   * After a rollback the local lease records may describe rows that were never
   * committed: drop them all (rare). Later writes re-read the journal instead.
   * Sluice errors (a lost lease, an unknown run) are thrown before anything is
   * written, so they leave the records alone.
   */
  #forget(error: unknown): void {
    if (!(error instanceof SluiceError)) this.#leases.clear();
  }

  #fail(job: Job, error: unknown): void {
    job.ok = false;
    job.error = error;
    this.#forget(error);
  }

  #rollbackQuietly(): void {
    try {
      if (this.#db?.isTransaction) this.#s!.rollback.run();
    } catch {
      // the transaction is gone already
    }
  }

  /** Runs every queued write, in one transaction when there are several. */
  #flush(): void {
    this.#scheduled = false;
    const jobs = this.#queue;
    if (jobs.length === 0) return;
    this.#queue = [];
    if (jobs.length === 1 && jobs[0]!.simple?.()) {
      // One statement: its own transaction (autocommit), nothing to roll back.
      const job = jobs[0]!;
      this.#execute(job);
      if (!job.ok) this.#forget(job.error);
    } else {
      this.#transaction(jobs);
    }
    for (const job of jobs) {
      if (job.ok && job.notices) { for (const notice of job.notices) this.#emit(notice); }
    }
    for (const job of jobs) {
      if (job.ok) job.resolve(job.value);
      else job.reject(this.#storageError(job.error, "write to"));
    }
  }

  /**
   * Runs jobs in one `BEGIN IMMEDIATE … COMMIT`. A job of several statements
   * runs under a savepoint, so its failure undoes only its own writes.
   */
  #transaction(jobs: Job[]): void {
    const s = this.#s!;
    const db = this.#db!;
    try {
      s.begin.run();
    } catch (error) {
      for (const job of jobs) this.#fail(job, error);
      return;
    }
    const single = jobs.length === 1;
    for (const job of jobs) {
      if (!db.isTransaction) {
        this.#fail(job, new Error("the transaction was rolled back by an earlier error"));
        continue;
      }
      if (single || job.simple?.()) {
        this.#execute(job);
        if (!job.ok) this.#forget(job.error);
        continue;
      }
      try {
        s.savepoint.run();
      } catch (error) {
        this.#fail(job, error);
        continue;
      }
      this.#execute(job);
      if (job.ok) {
        try {
          s.release.run();
        } catch (error) {
          this.#fail(job, error);
        }
        continue;
      }
      this.#forget(job.error);
      try {
        s.rollbackTo.run();
        s.release.run();
      } catch {
        // the savepoint went with the transaction; later jobs see that
      }
    }
    if (!db.isTransaction) {
      const lost = new Error("the transaction was rolled back by an error");
      for (const job of jobs) if (job.ok) this.#fail(job, lost);
      return;
    }
    if (single && !jobs[0]!.ok) {
      this.#rollbackQuietly();
      return;
    }
    try {
      s.commit.run();
    } catch (error) {
      this.#rollbackQuietly();
      for (const job of jobs) if (job.ok) this.#fail(job, error);
    }
  }

  /** Runs a read after the queued writes, so reads see earlier writes. */
  #read<T>(fn: (s: Statements) => T): Promise<T> {
    try {
      const s = this.#ready();
      if (this.#queue.length > 0) this.#flush();
      return Promise.resolve(fn(s));
    } catch (error) {
      return Promise.reject(this.#storageError(error, "read from"));
    }
  }

  /** Runs several reads on one snapshot. */
  #snapshot<T>(fn: () => T): T {
    const s = this.#s!;
    s.beginRead.run();
    try {
      return fn();
    } finally {
      if (this.#db!.isTransaction) s.commit.run();
    }
  }

  // ---- notices and the change watcher ---------------------------------------------

  #notify(type: DriverNotice["type"], runId: string, reason?: string): void {
    const notice: DriverNotice = { type, runId };
    if (reason !== undefined) notice.reason = reason;
    (this.#current!.notices ??= []).push(notice);
  }

  #emit(notice: DriverNotice): void {
    for (const listener of this.#listeners) {
      try {
        listener(notice);
      } catch {
        // a listener's failure is its own; the others still hear the notice
      }
    }
  }

  #startWatch(): void {
    if (this.#watchTimer !== undefined || this.#closed || this.#listeners.size === 0) return;
    const timer = setTimeout(() => this.#watch(), this.#watchMs);
    unrefTimer(timer);
    this.#watchTimer = timer;
  }

  #stopWatch(): void {
    if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer);
    this.#watchTimer = undefined;
  }

  /** Reports a `changed` notice when another connection committed since the last look. */
  #watch(): void {
    this.#watchTimer = undefined;
    if (this.#closed || this.#listeners.size === 0) return;
    try {
      const s = this.#ready();
      const version = (s.dataVersion.get() as { data_version: number }).data_version;
      if (version !== this.#dataVersion) {
        this.#dataVersion = version;
        this.#emit({ type: "changed" });
      }
    } catch {
      // unreadable now (locked, or the file is gone): look again next time
    }
    this.#startWatch();
  }

  /**
   * Reports changes: this driver's own writes at once, other processes' writes
   * as `changed` within about `watchInterval`.
   */
  subscribe(listener: (notice: DriverNotice) => void): () => void {
    if (this.#closed) throw closedError();
    this.#listeners.add(listener);
    this.#startWatch();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopWatch();
    };
  }

  // ---- journal and local leases ---------------------------------------------------

  #remember(runId: string, rid: number, token: number): LocalLease {
    const local: LocalLease = { rid, token, rows: new Map(), events: [], garbage: [] };
    this.#leases.delete(runId);
    if (this.#leases.size >= MAX_LOCAL_LEASES) {
      const oldest = this.#leases.keys().next().value;
      if (oldest !== undefined) this.#leases.delete(oldest);
    }
    this.#leases.set(runId, local);
    return local;
  }

  /** Records an event written outside a lease, indexed at once; returns its seq. */
  #event(
    rid: number,
    type: StoredEvent["type"],
    now: number,
    detail: string | null = null,
  ): number {
    const s = this.#s!;
    const seq = Number(s.journalEvent.run(rid, type, now, detail).lastInsertRowid);
    s.indexEvent.run(rid, seq);
    return seq;
  }

  /** Indexes every journal item of a run from `from` on (after its holder went away). */
  #recover(rid: number, from: number): void {
    const s = this.#s!;
    s.indexEventsFrom.run(from, rid);
    s.indexStepsFrom.run(from, rid);
    s.dropRejectedFrom.run(from, rid);
  }

  /**
   * Indexes what this instance appended under a lease, and deletes the rows
   * that later rows of the same key replaced.
   */
  #fold(local: LocalLease): void {
    const s = this.#s!;
    if (local.events.length > 0) {
      s.indexEventsByList.run(JSON.stringify(local.events.map((entry) => entry.seq)));
      local.events = [];
    }
    if (local.rows.size > 0) {
      const seqs: number[] = [];
      for (const entry of local.rows.values()) seqs.push(entry.seq);
      const list = JSON.stringify(seqs);
      // Fewer changes than rows: some lost to a done row indexed earlier.
      if (Number(s.indexStepsByList.run(list).changes) < seqs.length) {
        s.dropRejectedByList.run(list);
      }
      local.rows = new Map();
    }
    if (local.garbage.length > 0) {
      s.dropByList.run(JSON.stringify(local.garbage));
      local.garbage = [];
    }
  }

  /** Checks the lease; throws `LeaseLostError` and forgets the run when it is stale. */
  #fence(lease: Lease): FenceRow {
    const row = this.#s!.fence.get(lease.runId) as FenceRow | undefined;
    if (
      !row || row.lease_token !== lease.token || row.status !== "running" ||
      row.lease_owner === null
    ) {
      const local = this.#leases.get(lease.runId);
      if (local && local.token <= lease.token) this.#leases.delete(lease.runId);
      throw new LeaseLostError(lease.runId);
    }
    return row;
  }

  /**
   * The local record of a lease, establishing it when this instance has none:
   * checks the lease, folds whatever an earlier holder left in the journal,
   * and restarts the run's journal window.
   */
  #holder(lease: Lease, fence: boolean): LocalLease {
    const local = this.#leases.get(lease.runId);
    if (local !== undefined && local.token === lease.token) {
      if (fence) this.#fence(lease);
      return local;
    }
    const row = this.#fence(lease);
    if (row.journal_from !== null) this.#recover(row.rid, row.journal_from);
    this.#s!.setJournalFrom.run(row.rid);
    return this.#remember(lease.runId, row.rid, lease.token);
  }

  /** Whether a write can be one autocommit statement. */
  #hot(lease: Lease, count: number): boolean {
    const local = this.#leases.get(lease.runId);
    return local !== undefined && local.token === lease.token &&
      local.rows.size + local.events.length + count < FOLD_AT;
  }

  /** Appends rows then events to the journal with fenced inserts, and records them locally. */
  #append(
    lease: Lease,
    local: LocalLease,
    rows: readonly StepRow[] | undefined,
    events: readonly StoredEvent[] | undefined,
  ): void {
    const nRows = rows?.length ?? 0;
    const total = nRows + (events?.length ?? 0);
    if (total === 0) return;
    const s = this.#s!;
    const runId = lease.runId;
    const rid = local.rid;
    let first = true;
    for (let start = 0; start < total; start += MAX_ITEMS_PER_INSERT) {
      const count = Math.min(MAX_ITEMS_PER_INSERT, total - start);
      let result: { changes: number | bigint; lastInsertRowid: number | bigint };
      if (count === 1 && start < nRows) {
        const row = rows![start]!;
        result = s.journalRow.run(
          rid,
          lease.token,
          row.key,
          row.kind,
          row.state,
          row.data ?? null,
          row.attempt ?? null,
          row.startedAt ?? null,
          row.finishedAt ?? null,
        );
      } else {
        const params: SQLInputValue[] = [rid, lease.token];
        for (let i = start; i < start + count; i++) {
          if (i < nRows) {
            const row = rows![i]!;
            params.push(
              row.key,
              row.kind,
              row.state,
              row.data ?? null,
              row.attempt ?? null,
              row.startedAt ?? null,
              row.finishedAt ?? null,
              null,
            );
          } else {
            const event = events![i - nRows]!;
            params.push(
              null,
              event.type,
              null,
              event.detail ?? null,
              event.attempt ?? null,
              null,
              event.at,
              event.step ?? null,
            );
          }
        }
        result = s.journalInsert[count - 1]!.run(...params);
      }
      if (Number(result.changes) !== count) {
        if (first) {
          this.#leases.delete(runId);
          throw new LeaseLostError(runId);
        }
        throw new Error(`the journal took ${result.changes} of ${count} items`);
      }
      first = false;
      const last = Number(result.lastInsertRowid);
      for (let i = start; i < start + count; i++) {
        const seq = last - (start + count - 1 - i);
        if (i < nRows) {
          const row = rows![i]!;
          const entry: Sequenced = { row, seq };
          const previous = local.rows.get(row.key);
          if (previous === undefined) {
            local.rows.set(row.key, entry);
          } else {
            const kept = later(previous, entry);
            local.rows.set(row.key, kept);
            local.garbage.push(kept === entry ? previous.seq : seq);
          }
        } else {
          local.events.push({ seq, event: events![i - nRows]! });
        }
      }
    }
  }

  /** Applies a run transition (the lease is released) after folding. */
  #transition(rid: number, runId: string, transition: RunTransition, now: number): void {
    const s = this.#s!;
    switch (transition.status) {
      case "sleeping":
      case "waiting": {
        const names = transition.waitingFor;
        let due: number | null = transition.dueAt ?? null;
        let waitingFor: string | null = null;
        if (names && names.length > 0) {
          waitingFor = JSON.stringify(names);
          if (s.hasSignalNamed.get(rid, waitingFor) !== undefined) due = now;
        }
        s.transition.run(rid, transition.status, now, due, waitingFor, null, null);
        if (due !== null && due <= now) this.#notify("runnable", runId);
        return;
      }
      case "completed":
        s.transition.run(rid, "completed", now, null, null, transition.output ?? null, null);
        this.#notify("finished", runId);
        return;
      case "failed":
        s.transition.run(rid, "failed", now, null, null, null, JSON.stringify(transition.error));
        this.#notify("finished", runId);
        return;
      case "running":
        s.transition.run(rid, "running", now, now, null, null, null);
        this.#notify("runnable", runId);
        return;
    }
  }

  /** After the items of a fenced write: the transition, or a fold when the lease holds many rows. */
  #settle(
    lease: Lease,
    local: LocalLease,
    transition: RunTransition | undefined,
    now: number,
  ): void {
    if (transition) {
      this.#fold(local);
      this.#leases.delete(lease.runId);
      this.#transition(local.rid, lease.runId, transition, now);
    } else if (local.rows.size + local.events.length >= FOLD_AT) {
      this.#fold(local);
      this.#s!.setJournalFrom.run(local.rid);
    }
  }

  // ---- runs -----------------------------------------------------------------------

  /** Stores a new pending run, or returns the existing run with that id. */
  createRun(newRun: NewRun, now: number): Promise<{ run: StoredRun; created: boolean }> {
    return this.#enqueue(() => {
      const s = this.#s!;
      const inserted = s.insertRun.get(
        newRun.id,
        newRun.workflow,
        newRun.version,
        newRun.planHash,
        JSON.stringify(newRun.labels),
        now,
        newRun.dueAt,
        newRun.input ?? null,
      );
      if (inserted === undefined) {
        return {
          run: runFromColumns(s.getRun.get(newRun.id) as unknown as RunRow),
          created: false,
        };
      }
      this.#event((inserted as { rid: number }).rid, "run.created", now);
      this.#notify("runnable", newRun.id);
      return { run: pendingRun(newRun, now), created: true };
    });
  }

  /** Reads a run. */
  getRun(runId: string): Promise<StoredRun | undefined> {
    return this.#read((s) => {
      const row = s.getRun.get(runId) as RunRow | undefined;
      return row ? runFromColumns(row) : undefined;
    });
  }

  /** Lists runs, newest first, a page at a time. */
  listRuns(filter: RunFilter): Promise<StoredRunPage> {
    return this.#read((s) => {
      const statuses = filter.status === undefined
        ? null
        : JSON.stringify(Array.isArray(filter.status) ? filter.status : [filter.status]);
      const after = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
      const limit = filter.limit ?? LIST_PAGE.default;
      const labels = filter.labels && Object.keys(filter.labels).length > 0
        ? JSON.stringify(filter.labels)
        : null;
      const rows = s.listRuns.all(
        statuses,
        filter.workflow ?? null,
        labels,
        after?.[0] ?? null,
        after?.[1] ?? null,
        limit + 1,
      ) as unknown as RunRow[];
      const runs = rows.slice(0, limit).map(runFromColumns);
      const page: StoredRunPage = { runs };
      if (rows.length > limit) {
        const last = runs[runs.length - 1]!;
        page.nextCursor = encodeCursor(last.createdAt, last.id);
      }
      return page;
    });
  }

  /**
   * The run's events and checkpoint rows in write order (the latest version
   * of each row, at the place it was last written).
   */
  history(runId: string, page?: StoredHistoryPage): Promise<StoredHistoryItem[]> {
    // Journal seqs are global, stable and increase with every write.
    const after = page?.after === undefined ? -1 : Math.floor(page.after);
    return this.#read((s) =>
      this.#snapshot(() => {
        const fence = s.fence.get(runId) as FenceRow | undefined;
        if (!fence) throw new RunNotFoundError(runId);
        const local = this.#leases.get(runId);
        const held = local !== undefined && local.token === fence.lease_token;
        // Without newer rows to overlay (a run not running here, folded), each
        // table is read only up to the page: up to the lower of the two last
        // seqs read, both are complete. SQLite reads LIMIT -1 as no limit.
        const limit = page !== undefined && !held && fence.journal_from === null ? page.limit : -1;
        let complete = Infinity;
        const rows = new Map<string, Sequenced>();
        const stepRows = s.stepsOfRun.all(fence.rid, after, limit) as unknown as StepRowData[];
        for (const r of stepRows) rows.set(r.key, { row: stepFromColumns(r), seq: r.seq });
        if (stepRows.length === limit) complete = stepRows[limit - 1]!.seq;
        const events = new Map<number, StoredEvent>();
        const eventRows = s.eventsOfRun.all(fence.rid, after, limit) as unknown as EventRow[];
        for (const e of eventRows) events.set(e.seq, toEvent(e.type, e.at, e));
        if (eventRows.length === limit) complete = Math.min(complete, eventRows[limit - 1]!.seq);
        const overlay = (entry: Sequenced) => {
          const base = rows.get(entry.row.key);
          rows.set(entry.row.key, base ? later(base, entry) : entry);
        };
        if (held) {
          for (const entry of local.rows.values()) overlay(entry);
          for (const { seq, event } of local.events) events.set(seq, event);
        } else if (fence.journal_from !== null) {
          for (
            const j of s.journalFrom.all(fence.journal_from, fence.rid) as unknown as JournalRow[]
          ) {
            if (j.key !== null) overlay({ row: journalRow(j), seq: j.seq });
            else events.set(j.seq, journalEvent(j));
          }
        }
        const entries: { seq: number; item: StoredHistoryItem }[] = [];
        for (const [seq, event] of events) {
          entries.push({ seq, item: { source: "event", seq, event } });
        }
        for (const { row, seq } of rows.values()) {
          entries.push({ seq, item: { source: "step", seq, row } });
        }
        entries.sort((a, b) => a.seq - b.seq);
        const items: StoredHistoryItem[] = [];
        for (const entry of entries) {
          if (entry.seq <= after) continue;
          if (entry.seq > complete || page !== undefined && items.length >= page.limit) break;
          items.push(entry.item);
        }
        return items;
      })
    );
  }

  // ---- claims and leases ------------------------------------------------------------

  /** Claims due runs in due order; concurrent claimers never get the same run. */
  claimRuns(options: ClaimOptions): Promise<Claim[]> {
    if (options.limit < 1 || options.workflows.length === 0) {
      return this.#read(() => []);
    }
    const workflows = JSON.stringify(options.workflows);
    return this.#read((s) => s.nextDue.get(workflows) as { due_at: number } | undefined).then(
      (next) => {
        if (next === undefined || next.due_at > options.now) return [];
        return this.#enqueue(() => this.#claim(options, workflows));
      },
    );
  }

  #claim(options: ClaimOptions, workflows: string): Claim[] {
    const s = this.#s!;
    const { now } = options;
    const candidates = s.claimCandidates.all(now, workflows, options.limit) as unknown as {
      rid: number;
      id: string;
      status: RunStatus;
      lease_owner: string | null;
      journal_from: number | null;
    }[];
    const claims: Claim[] = [];
    for (const candidate of candidates) {
      const { rid, id: runId } = candidate;
      if (candidate.journal_from !== null) this.#recover(rid, candidate.journal_from);
      if (candidate.status === "pending") this.#event(rid, "run.started", now);
      // A running run with an owner is due only once its lease expired: a takeover.
      const previousOwner = candidate.status === "running" ? candidate.lease_owner : null;
      if (previousOwner !== null) {
        this.#event(rid, "run.recovered", now, recoveredDetail(previousOwner, options.workerId));
      }
      const row = s.claimRun.get(
        rid,
        options.workerId,
        now + options.leaseMs,
        now,
      ) as unknown as RunRow;
      const run = runFromColumns(row);
      this.#remember(runId, rid, run.leaseToken);
      const claim: Claim = {
        run,
        lease: { runId, token: run.leaseToken },
        previousStatus: candidate.status,
      };
      if (previousOwner !== null) claim.previousOwner = previousOwner;
      claims.push(claim);
    }
    return claims;
  }

  /** The earliest time a run of these workflows becomes claimable. */
  nextDueAt(workflows: readonly string[]): Promise<number | undefined> {
    return this.#read((s) => {
      if (workflows.length === 0) return undefined;
      const row = s.nextDue.get(JSON.stringify(workflows)) as { due_at: number } | undefined;
      return row?.due_at;
    });
  }

  /** Extends the leases still held and folds what they journaled. */
  extendLeases(leases: readonly Lease[], now: number, leaseMs: number): Promise<LeaseState[]> {
    if (leases.length === 0) return this.#read(() => []);
    return this.#enqueue(() => {
      const s = this.#s!;
      const states: LeaseState[] = [];
      for (const lease of leases) {
        const runId = lease.runId;
        const held = s.extendLease.get(runId, lease.token, now + leaseMs) as
          | { rid: number }
          | undefined;
        const local = this.#leases.get(runId);
        if (held) {
          if (local && local.token === lease.token && local.rows.size + local.events.length > 0) {
            this.#fold(local);
            s.setJournalFrom.run(held.rid);
          }
          const signals = s.hasSignal.get(held.rid) !== undefined;
          states.push({ runId, state: "held", signals });
          continue;
        }
        if (local && local.token <= lease.token) this.#leases.delete(runId);
        const state = s.runState.get(runId) as StateRow | undefined;
        const signals = state !== undefined && s.hasSignal.get(state.rid) !== undefined;
        states.push({
          runId,
          state: !state || state.status === "cancelled" ? "cancelled" : "lost",
          signals,
        });
      }
      return states;
    });
  }

  // ---- checkpoints ----------------------------------------------------------------

  /** Reads checkpoint rows by key. */
  readSteps(runId: string, keys: readonly string[]): Promise<Map<string, StepRow>> {
    return this.#read((s) => {
      const found = new Map<string, StepRow>();
      if (keys.length === 0) return found;
      const fence = s.fence.get(runId) as FenceRow | undefined;
      if (!fence) return found;
      const local = this.#leases.get(runId);
      if (local === undefined || local.token !== fence.lease_token) {
        if (fence.journal_from !== null) {
          return this.#snapshot(() => this.#readWithJournal(fence.rid, keys, fence.journal_from!));
        }
        for (const row of this.#stepRows(fence.rid, keys)) found.set(row.key, stepFromColumns(row));
        return found;
      }
      const table = new Map<string, StepRowData>();
      for (const row of this.#stepRows(fence.rid, keys)) table.set(row.key, row);
      for (const key of keys) {
        const stored = table.get(key);
        const mine = local.rows.get(key);
        if (mine === undefined) {
          if (stored) found.set(key, stepFromColumns(stored));
        } else if (stored === undefined) {
          found.set(key, mine.row);
        } else {
          found.set(key, later({ row: stepFromColumns(stored), seq: stored.seq }, mine).row);
        }
      }
      return found;
    });
  }

  #stepRows(rid: number, keys: readonly string[]): StepRowData[] {
    const s = this.#s!;
    if (keys.length === 1) {
      const row = s.stepOne.get(rid, keys[0]!) as StepRowData | undefined;
      return row ? [row] : [];
    }
    return s.stepMany.all(rid, JSON.stringify(keys)) as unknown as StepRowData[];
  }

  #readWithJournal(rid: number, keys: readonly string[], from: number): Map<string, StepRow> {
    const wanted = new Set(keys);
    const rows = new Map<string, Sequenced>();
    for (const row of this.#stepRows(rid, keys)) {
      rows.set(row.key, { row: stepFromColumns(row), seq: row.seq });
    }
    for (const j of this.#s!.journalFrom.all(from, rid) as unknown as JournalRow[]) {
      if (j.key === null || !wanted.has(j.key)) continue;
      const entry = { row: journalRow(j), seq: j.seq };
      const base = rows.get(j.key);
      rows.set(j.key, base ? later(base, entry) : entry);
    }
    const found = new Map<string, StepRow>();
    for (const [key, entry] of rows) found.set(key, entry.row);
    return found;
  }

  /** Writes checkpoint rows, events and a transition atomically under a lease. */
  write(lease: Lease, batch: WriteBatch, now: number): Promise<void> {
    const count = (batch.steps?.length ?? 0) + (batch.events?.length ?? 0);
    return this.#enqueue(
      () => {
        const local = this.#holder(lease, count === 0);
        this.#append(lease, local, batch.steps, batch.events);
        if (batch.clearRecoveries) this.#s!.clearRecoveries.run(local.rid, lease.token);
        this.#settle(lease, local, batch.run, now);
      },
      () =>
        batch.run === undefined && !batch.clearRecoveries && count <= MAX_ITEMS_PER_INSERT &&
        this.#hot(lease, count),
    );
  }

  /** Takes the oldest matching signal, records it as `row`, and writes `batch`. */
  consumeSignal(
    lease: Lease,
    names: readonly string[],
    row: StepRow,
    batch: WriteBatch,
    now: number,
  ): Promise<ConsumedSignal | undefined> {
    return this.#enqueue(() => {
      const s = this.#s!;
      const local = this.#holder(lease, true);
      const signal = s.firstSignal.get(local.rid, JSON.stringify(names)) as
        | { seq: number; name: string; payload: string | null }
        | undefined;
      let consumed: ConsumedSignal | undefined;
      if (signal) {
        s.deleteSignal.run(local.rid, signal.seq);
        const payload = signal.payload ?? undefined;
        this.#append(lease, local, [{ ...row, data: signalRowData(signal.name, payload) }], []);
        consumed = { name: signal.name };
        if (payload !== undefined) consumed.payload = payload;
      }
      this.#append(lease, local, batch.steps, batch.events);
      if (batch.clearRecoveries) s.clearRecoveries.run(local.rid, lease.token);
      this.#settle(lease, local, batch.run, now);
      return consumed;
    });
  }

  // ---- signals, cancel, retry, purge ---------------------------------------------------

  #state(runId: string): StateRow {
    const state = this.#s!.runState.get(runId) as StateRow | undefined;
    if (!state) throw new RunNotFoundError(runId);
    return state;
  }

  /** Puts a signal in the inbox and wakes the run when it waits for it. */
  sendSignal(runId: string, name: string, payload: string | undefined, now: number): Promise<void> {
    return this.#enqueue(() => {
      const s = this.#s!;
      const state = this.#state(runId);
      const refused = refusal("signal", runId, state.status);
      if (refused) throw refused;
      const seq = this.#event(state.rid, "signal.received", now, signalRowData(name, payload));
      s.insertSignal.run(state.rid, seq, name, payload ?? null);
      if (
        state.status === "waiting" && state.waiting_for !== null &&
        (JSON.parse(state.waiting_for) as string[]).includes(name)
      ) {
        s.setDue.run(state.rid, now);
        this.#notify("runnable", runId);
      }
      this.#notify("signal", runId);
    });
  }

  /** Cancels an unfinished run and revokes its lease. */
  cancelRun(runId: string, reason: string | undefined, now: number): Promise<StoredRun> {
    return this.#enqueue(() => {
      const s = this.#s!;
      const state = this.#state(runId);
      const refused = refusal("cancel", runId, state.status);
      if (refused) throw refused;
      if (state.journal_from !== null) this.#recover(state.rid, state.journal_from);
      const error = cancelledErrorInfo(runId, reason);
      const row = s.cancelRun.get(state.rid, JSON.stringify(error), now) as unknown as RunRow;
      this.#event(state.rid, "run.cancelled", now, cancelledDetail(reason) ?? null);
      this.#leases.delete(runId);
      this.#notify("cancelled", runId, reason);
      this.#notify("finished", runId);
      return runFromColumns(row);
    });
  }

  /** Makes a failed run claimable again from its failed step. */
  retryRun(runId: string, now: number): Promise<StoredRun> {
    return this.#enqueue(() => {
      const s = this.#s!;
      const state = this.#state(runId);
      const refused = refusal("retry", runId, state.status);
      if (refused) throw refused;
      const failedStep = retryDropsRow(
        state.error === null ? undefined : JSON.parse(state.error) as ErrorInfo,
      );
      if (failedStep !== undefined) {
        s.dropPendingRow.run(state.rid, failedStep);
        s.dropPendingIndex.run(state.rid, failedStep);
      }
      const row = s.retryRun.get(state.rid, now) as unknown as RunRow;
      this.#event(state.rid, "run.retried", now);
      this.#notify("runnable", runId);
      return runFromColumns(row);
    });
  }

  /** Deletes finished runs (with their history) last updated before a time. */
  purge(finishedBefore: number): Promise<number> {
    return this.#enqueue(() => {
      const s = this.#s!;
      s.purgeStepRows.run(finishedBefore);
      s.purgeEventRows.run(finishedBefore);
      s.purgeSteps.run(finishedBefore);
      s.purgeEvents.run(finishedBefore);
      s.purgeSignals.run(finishedBefore);
      return Number(s.purgeRuns.run(finishedBefore).changes);
    });
  }
}
