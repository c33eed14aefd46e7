/**
 * The storage-driver interface: the one narrow contract that the memory, SQLite
 * and PostgreSQL drivers implement, checked by one conformance suite
 * (`@sluice/sluice/testing`).
 *
 * Drivers store encoded text; the engine checks and encodes values once. Every
 * write made on behalf of a worker carries a {@linkcode Lease} and is refused
 * with `LeaseLostError` when the run's fencing token has moved on.
 *
 * @module
 */
import type { ScheduleStore } from "./schedule_store.ts";
import type {
  PurgeOptions,
  RunFilter,
  StoredFeedItem,
  StoredHistoryItem,
  StoredHistoryPage,
  StoredRunPage,
  StoredWorker,
} from "./driver_reads.ts";
import type {
  ConsumedSignal,
  NewSignal,
  SendSignalOptions,
  StepRow,
  WriteBatch,
} from "./driver_rows.ts";
import type {
  CancelRunOptions,
  Claim,
  ClaimOptions,
  FlowLimitsByWorkflow,
  Lease,
  LeaseState,
  NewRun,
  StoredRun,
} from "./driver_runs.ts";

export * from "./driver_runs.ts";
export * from "./driver_rows.ts";
export * from "./driver_reads.ts";

/**
 * A change a driver reports to the engines and workers of its process.
 *
 * @example Watch what a driver reports
 * ```ts
 * import assert from "node:assert/strict";
 * import { type DriverNotice, MemoryDriver } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const notices: DriverNotice[] = [];
 * const unsubscribe = driver.subscribe((notice) => notices.push(notice));
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * await driver.cancelRun("r-1", "not needed", 1);
 * unsubscribe();
 * assert.deepEqual(
 *   notices.filter((n) => n.type !== "written") // history grew: watchers re-read the feed
 *     .map((n) => `${n.type} ${n.reason ?? ""}`.trim()),
 *   ["runnable", "cancelled not needed", "finished"],
 * );
 * await driver.close();
 * ```
 */
export interface DriverNotice {
  /**
   * `runnable`: a run may be claimable now; `signal`: a signal reached a run's
   * inbox; `cancelled`: a run was cancelled; `paused`: a run was paused (or a
   * write under its lease found it paused: see `Driver.write`);
   * `finished`: a run reached a final status; `released`: a run left
   * `running` (a concurrency slot may be free); `schedule`: a schedule was
   * written; `written`: history was appended (to any run; `watch` reads the
   * feed; a driver may send it only when the feed was read since its last
   * `written`, as the memory driver does, since a reader waits only after a
   * read); `changed`: something changed, re-check everything.
   */
  type:
    | "runnable"
    | "signal"
    | "cancelled"
    | "paused"
    | "finished"
    | "released"
    | "schedule"
    | "written"
    | "changed";
  /** The run concerned (absent for `changed`). */
  runId?: string;
  /** The reason given to a cancel, when known (`cancelled`). */
  reason?: string;
}

/**
 * A storage backend. All times are passed in by the engine (drivers never read
 * the clock for what they store or compare), so a `ManualClock` controls timers
 * and leases in tests. A driver whose storage is shared by machines that may
 * disagree on the time (PostgreSQL) reports its own clock through
 * {@linkcode Driver.storageTime}; with the real clock, the engine then keeps
 * every time it computes on that timeline.
 *
 * @example A driver is used through an Engine
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("inc").step("inc", (n) => n + 1);
 * await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
 * await using worker = engine.worker();
 * await worker.start();
 * assert.equal(await (await engine.start(wf, 1)).result(), 2);
 * ```
 */
export interface Driver extends AsyncDisposable {
  /** A short name for logs: `memory`, `sqlite`, `postgres`. */
  readonly kind: string;
  /**
   * Whether other processes may share this storage. When true, workers and
   * result waiters also poll, since changes made elsewhere may go unreported.
   */
  readonly shared: boolean;

  /**
   * The storage's own current time (epoch ms), for storage shared by several
   * machines. When present and the engine's clock is the real one, the engine
   * measures its offset from this clock and compares leases and due times on
   * it, so a worker whose clock is off neither steals a live lease nor wakes a
   * timer early. Absent when every process sharing the storage reads one host
   * clock (memory, SQLite); never called with an injected clock.
   */
  storageTime?(): Promise<number>;

  /** Creates or upgrades the schema; safe when several processes do it at once. */
  migrate(): Promise<void>;
  /**
   * The schedules table: claims and compare-and-set changes that let workers
   * fire each slot exactly once, with no leader. Its calls fail with
   * `InvalidStateError` once the driver is closed.
   */
  readonly scheduleStore: ScheduleStore;

  /** Releases every resource; later calls fail with `InvalidStateError`. */
  close(): Promise<void>;

  /**
   * Stores a new run with status `pending`, or returns the existing run with the
   * same id (`created: false`) without changing it.
   */
  createRun(run: NewRun, now: number): Promise<{ run: StoredRun; created: boolean }>;
  /** Reads a run. */
  getRun(runId: string): Promise<StoredRun | undefined>;
  /** Lists runs, newest first. */
  listRuns(filter: RunFilter): Promise<StoredRunPage>;
  /**
   * The run's history, oldest first: every item, or with `page` the first
   * `limit` items whose `seq` is above `after`. An item's `seq` is a whole
   * number that stays the same while the history grows, and a later write has
   * a higher one; a page shorter than `limit` is the last.
   */
  history(runId: string, page?: StoredHistoryPage): Promise<StoredHistoryItem[]>;

  /**
   * Claims up to `limit` due runs: each gets status `running`, a higher
   * fencing token and a lease until `now + leaseMs`. Concurrent claimers never
   * get the same run. Taking over a run whose lease expired (status `running`
   * with an owner) adds one to its `recoveries` and appends a `run.recovered`
   * event whose detail is `{"previousWorker","worker"}`.
   */
  claimRuns(options: ClaimOptions): Promise<Claim[]>;
  /**
   * The earliest time at which a run of these workflows becomes claimable.
   * With `flow`, runs held back by a full concurrency limit do not count (a
   * `released` notice reports a freed slot) and runs held back by a rate limit
   * count from the time the window admits them again.
   */
  nextDueAt(
    workflows: readonly string[],
    flow?: { now: number; limits: FlowLimitsByWorkflow },
  ): Promise<number | undefined>;
  /** Extends leases to `now + leaseMs`; reports the ones no longer held. */
  extendLeases(leases: readonly Lease[], now: number, leaseMs: number): Promise<LeaseState[]>;

  /** Reads checkpoint rows by key. */
  readSteps(runId: string, keys: readonly string[]): Promise<Map<string, StepRow>>;
  /**
   * Writes atomically under a lease; throws `LeaseLostError` on a stale token.
   * A run paused while its lease is held still takes the write (its step in
   * flight is checkpointed); a write without a run transition that finds the
   * run paused, as part of the same atomic write, emits the `paused` notice
   * for it before the returned promise settles, so the activation begins no
   * new step after it, whichever process paused the run.
   */
  write(lease: Lease, batch: WriteBatch, now: number): Promise<void>;
  /**
   * Under a lease, atomically takes the oldest unconsumed signal whose name is in
   * `names`, records it as the `done` row `row` (its `data` set to the encoded
   * `{ signal, payload }`), and writes `batch`. Returns undefined (writing
   * only `batch`) when the inbox holds none. Reports a paused run as `write`
   * does.
   */
  consumeSignal(
    lease: Lease,
    names: readonly string[],
    row: StepRow,
    batch: WriteBatch,
    now: number,
  ): Promise<ConsumedSignal | undefined>;

  /**
   * Puts a signal in a run's inbox and wakes the run when it waits for it.
   * With `options.id`, the id is stored with the run (in the same
   * transaction) and a signal whose id the run already holds is a no-op that
   * returns false, even after the run finished. Returns true when the signal
   * was delivered. Throws `RunNotFoundError`, or `InvalidStateError` for a
   * finished run (a repeated id is checked first).
   */
  sendSignal(
    runId: string,
    name: string,
    payload: string | undefined,
    now: number,
    options?: SendSignalOptions,
  ): Promise<boolean>;
  /**
   * Signal-with-start, atomically (one transaction): creates `run` unless a
   * run with its id exists, then puts `signal` in the run's inbox as
   * {@linkcode Driver.sendSignal} does (a repeated id delivers nothing; a
   * finished run throws `InvalidStateError` and nothing changes). When the
   * existing run is of another workflow, nothing changes and it is returned
   * (`created` and `delivered` false) for the caller to refuse.
   */
  startWithSignal(
    run: NewRun,
    signal: NewSignal,
    now: number,
  ): Promise<{ run: StoredRun; created: boolean; delivered: boolean }>;
  /**
   * Cancels a run: status `cancelled`, the lease revoked. Throws
   * `RunNotFoundError`, or `InvalidStateError` for a finished run.
   */
  cancelRun(
    runId: string,
    reason: string | undefined,
    now: number,
    options?: CancelRunOptions,
  ): Promise<StoredRun>;
  /**
   * Makes a failed or cancelled run claimable again (a failed one from its
   * failed step), with its `recoveries` reset and its deadline set to
   * `options.deadlineAt` (none without it: a retried run gets a fresh
   * deadline, or none). Throws `RunNotFoundError`, or `InvalidStateError`
   * unless the run failed or was cancelled.
   */
  retryRun(runId: string, now: number, options?: { deadlineAt?: number }): Promise<StoredRun>;
  /**
   * Pauses an unfinished run: status `paused`, not claimable until resumed.
   * The lease of a running run stays valid, so its steps in flight are
   * written (a `run` transition other than `completed`/`failed` then changes
   * what the run resumes to, not its status); `extendLeases` answers `paused`.
   * A signal waits in the inbox; a timer falling due waits for the resume.
   * Pausing a paused run returns it unchanged. Throws `RunNotFoundError`, or
   * `InvalidStateError` for a finished run.
   */
  pauseRun(runId: string, now: number): Promise<StoredRun>;
  /**
   * Resumes a paused run in the status it would have now (a timer or signal
   * due meanwhile makes it due at once). Throws `RunNotFoundError`, or
   * `InvalidStateError` unless the run is paused.
   */
  resumeRun(runId: string, now: number): Promise<StoredRun>;
  /**
   * Records a worker's heartbeat row (inserted, or replaced by id) and
   * deletes rows not seen since `forgetBefore` (workers long dead).
   */
  recordWorker(worker: StoredWorker, forgetBefore: number): Promise<void>;
  /** Deletes a worker's row (it stopped). */
  removeWorker(workerId: string): Promise<void>;
  /** Every worker row, in id order. */
  listWorkers(): Promise<StoredWorker[]>;
  /**
   * Deletes finished runs last updated before a time, with their rows;
   * returns how many. With `options`, only runs of that final status, and at
   * most `limit` of them, oldest first (retention purges in small batches).
   */
  purge(finishedBefore: number, options?: PurgeOptions): Promise<number>;
  /**
   * The ids of `.call` children a parent's cancel cascade missed: unfinished
   * (pending, running, sleeping, waiting or paused) and not being cancelled
   * with compensation, whose parent ended `failed` or `cancelled`, or no
   * longer exists (a process died between the parent's final write and the
   * cascade). At most `limit` (a positive integer), oldest first. Workers
   * cancel them.
   */
  orphanedChildren(limit: number): Promise<string[]>;

  /**
   * The feed: every run's history items in commit order, after the item
   * whose `cursor` is `after` (from the start without it), at most `limit`.
   * An item committed later never sorts before one already returned, so a
   * reader that resumes from its last cursor misses nothing.
   */
  feed(after: string | undefined, limit: number): Promise<StoredFeedItem[]>;
  /**
   * The cursor of the newest item a `feed` read would return now (undefined
   * while the feed is empty): where a reader of only what comes next starts.
   */
  feedEnd(): Promise<string | undefined>;

  /** Reports changes to this process's engines and workers; returns an unsubscribe function. */
  subscribe(listener: (notice: DriverNotice) => void): () => void;
}
