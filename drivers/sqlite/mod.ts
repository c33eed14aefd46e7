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
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { listStatement } from "./_list.ts";
import { SqliteScheduleStore } from "./_schedules.ts";
import type { ScheduleStore } from "../../lib/schedule_store.ts";
import {
  type CancelRunOptions,
  type Claim,
  type ClaimOptions,
  type ConsumedSignal,
  type Driver,
  type DriverNotice,
  encodeCursor,
  type FlowLimitsByWorkflow,
  type Lease,
  type LeaseState,
  type NewRun,
  type NewSignal,
  pendingRun,
  type PurgeOptions,
  type RunFilter,
  type SendSignalOptions,
  type StepRow,
  type StoredFeedItem,
  type StoredHistoryItem,
  type StoredHistoryPage,
  type StoredRun,
  type StoredRunPage,
  type StoredWorker,
  type WriteBatch,
} from "../../lib/driver.ts";
import { hasFlowLimits, planFlowNextDue, runPlanSync } from "../../lib/flow_claim.ts";
import { answerFlowRead } from "./_flow.ts";
import { signalRowData } from "../../lib/formats.ts";
import {
  type RunColumns,
  runFromColumns,
  stepFromColumns,
  type WorkerColumns,
  workerFromColumns,
  workerParams,
} from "../columns.ts";
import { MAX_ITEMS_PER_INSERT, type Statements } from "./_statements.ts";
import { type FenceRow, Journal, later, type StepRowData } from "./_journal.ts";
import { WriteQueue } from "./_queue.ts";
import {
  applyBatch,
  cancel,
  pause,
  resume,
  retry,
  type RunHost,
  runState,
  signal as deliverSignal,
} from "./_runs.ts";
import { claim, extendLeases } from "./_claims.ts";
import { DataVersionWatcher } from "./_watch.ts";
import {
  closedError,
  type ConnectionSettings,
  openDatabase,
  readSettings,
  resolveOptions,
  type SqliteDriverOptions,
  type SqliteSettings,
  storageError,
} from "./_connection.ts";

export type { SqliteDriverOptions, SqliteSettings };

type RunRow = RunColumns;

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
  readonly #c: ConnectionSettings;
  #db: DatabaseSync | undefined;
  #s: Statements | undefined;
  #closed = false;
  readonly #q: WriteQueue = new WriteQueue({
    ready: () => this.#ready(),
    statements: () => this.#s!,
    db: () => this.#db,
    closed: () => this.#closed,
    forget: () => this.#journal.leases.clear(),
    emit: (notice) => this.#emit(notice),
    storageError: (error, action) => storageError(this.#c, error, action),
  });
  readonly #journal: Journal = new Journal(() => this.#s!);
  /** What `_runs.ts` and `_claims.ts` use of this driver, inside a write-queue job. */
  readonly #host: RunHost = {
    st: () => this.#s!,
    journal: this.#journal,
    notify: (type, runId, reason) => this.#q.notify(type, runId, reason),
  };
  /** The schedule table (drivers/sqlite/_schedules.ts). */
  readonly scheduleStore: ScheduleStore = new SqliteScheduleStore({
    queue: this.#q,
    db: () => this.#db!,
    insertRun: (run, now) => void this.#insertRun(run, now),
  });
  #listeners = new Set<(notice: DriverNotice) => void>();
  readonly #watcher: DataVersionWatcher;
  /** Prepared `listRuns` statements by text (one per filter shape; see `_list.ts`). */
  readonly #lists = new Map<string, StatementSync>();

  /**
   * Creates a driver for a database file; nothing is opened until first use.
   *
   * @param options The file and its settings.
   */
  constructor(options: SqliteDriverOptions) {
    this.#c = resolveOptions(options);
    this.#watcher = new DataVersionWatcher({
      active: () => !this.#closed && this.#listeners.size > 0,
      dataVersion: () => (this.#ready().dataVersion.get() as { data_version: number }).data_version,
      changed: () => this.#emit({ type: "changed" }),
    }, this.#c.watchMs);
  }

  /** The database file. */
  get path(): string {
    return this.#c.path;
  }

  // ---- connection ---------------------------------------------------------------

  /** Opens the database on first use: pragmas, migrations, statements. */
  #open(): Statements {
    if (this.#s) return this.#s;
    if (this.#closed) throw closedError();
    const { db, statements } = openDatabase(this.#c);
    this.#watcher.baseline = (statements.dataVersion.get() as { data_version: number })
      .data_version;
    this.#db = db;
    this.#s = statements;
    return statements;
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
    return this.#q.read(() => readSettings(this.#db!, this.#c.path));
  }

  /**
   * Finishes queued writes, stops the change watcher and closes the database;
   * later calls throw `InvalidStateError`. Closing twice does nothing.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    try {
      if (this.#q.pending) this.#q.flush();
    } finally {
      this.#closed = true;
      this.#watcher.stop();
      this.#listeners.clear();
      this.#journal.leases.clear();
      this.#lists.clear();
    }
    const db = this.#db;
    this.#db = undefined;
    this.#s = undefined;
    try {
      db?.close();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(storageError(this.#c, error, "close"));
    }
  }

  /** Same as {@linkcode SqliteDriver.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- notices and the change watcher ---------------------------------------------

  #emit(notice: DriverNotice): void {
    for (const listener of this.#listeners) {
      try {
        listener(notice);
      } catch {
        // a listener's failure is its own; the others still hear the notice
      }
    }
  }

  /**
   * Reports changes: this driver's own writes at once, other processes' writes
   * as `changed` within about `watchInterval`.
   */
  subscribe(listener: (notice: DriverNotice) => void): () => void {
    if (this.#closed) throw closedError();
    this.#listeners.add(listener);
    this.#watcher.start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#watcher.stop();
    };
  }

  // ---- runs -----------------------------------------------------------------------

  /** Stores a new pending run, or returns the existing run with that id. */
  createRun(newRun: NewRun, now: number): Promise<{ run: StoredRun; created: boolean }> {
    return this.#q.enqueue(() => this.#insertRun(newRun, now));
  }

  /** The body of `createRun`, also run inside a schedule change's transaction. */
  #insertRun(newRun: NewRun, now: number): { run: StoredRun; created: boolean } {
    const s = this.#s!;
    // A run claimed at once (NewRun.claimFor) is inserted running, under lease token 1.
    const claimFor = newRun.steps?.length ? undefined : newRun.claimFor;
    const params = [
      newRun.id,
      newRun.workflow,
      newRun.version,
      newRun.planHash,
      JSON.stringify(newRun.labels),
      now,
      claimFor === undefined ? newRun.dueAt : now + claimFor.leaseMs,
      newRun.input ?? null,
      newRun.concurrencyKey ?? "",
      newRun.rateKey ?? "",
      newRun.priority ?? 0,
      newRun.parentId ?? null,
      newRun.parentCall ? 1 : 0,
      newRun.deadlineAt ?? null,
    ];
    const inserted = claimFor === undefined
      ? s.insertRun.get(...params)
      : s.insertClaimedRun.get(...params, claimFor.workerId);
    if (inserted === undefined) {
      return {
        run: runFromColumns(s.getRun.get(newRun.id) as unknown as RunRow),
        created: false,
      };
    }
    const rid = (inserted as { rid: number }).rid;
    if (claimFor !== undefined) {
      // Its journal window opened with the insert: the two events are the
      // lease's own, indexed when it folds (at the run's first transition).
      const local = this.#journal.remember(newRun.id, rid, 1);
      this.#journal.leaseEvents(local, [
        { type: "run.created", at: now },
        { type: "run.started", at: now },
      ]);
      const run = pendingRun(newRun, now);
      run.status = "running";
      run.leaseToken = 1;
      run.leaseOwner = claimFor.workerId;
      run.dueAt = now + claimFor.leaseMs;
      return { run, created: true };
    }
    this.#journal.event(rid, "run.created", now);
    if (newRun.steps?.length) {
      for (const row of newRun.steps) this.#journal.initialRow(rid, row);
      s.startedWithRows.run(rid);
    }
    this.#q.notify("runnable", newRun.id);
    return { run: pendingRun(newRun, now), created: true };
  }

  /** Reads a run. */
  getRun(runId: string): Promise<StoredRun | undefined> {
    return this.#q.read((s) => {
      const row = s.getRun.get(runId) as RunRow | undefined;
      return row ? runFromColumns(row) : undefined;
    });
  }

  /** Lists runs, newest first, a page at a time (the statement fits the filter: `_list.ts`). */
  listRuns(filter: RunFilter): Promise<StoredRunPage> {
    return this.#q.read(() => {
      const { sql, params, limit } = listStatement(filter);
      let statement = this.#lists.get(sql);
      if (statement === undefined) {
        // Shapes are few; a caller inventing many label sets only refills the cache.
        if (this.#lists.size >= 64) this.#lists.clear();
        statement = this.#db!.prepare(sql);
        this.#lists.set(sql, statement);
      }
      const rows = statement.all(...params) as unknown as RunRow[];
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
    return this.#q.read(() => this.#q.snapshot(() => this.#journal.history(runId, after, page)));
  }

  /** Every run's history items in commit order after a cursor (a journal seq). */
  feed(after: string | undefined, limit: number): Promise<StoredFeedItem[]> {
    const from = after === undefined ? 0 : Number(after);
    if (!Number.isSafeInteger(from) || from < 0) {
      return Promise.reject(
        new TypeError(`Cannot read the feed after '${after}': pass a cursor it gave`),
      );
    }
    return this.#q.read(() => this.#q.snapshot(() => this.#journal.feed(from, limit)));
  }

  /** The cursor of the newest item of the feed. */
  feedEnd(): Promise<string | undefined> {
    return this.#q.read(() => this.#journal.feedEnd());
  }

  // ---- claims and leases ------------------------------------------------------------

  /** Claims due runs in due order; concurrent claimers never get the same run. */
  claimRuns(options: ClaimOptions): Promise<Claim[]> {
    if (options.limit < 1 || options.workflows.length === 0) {
      return this.#q.read(() => []);
    }
    const workflows = JSON.stringify(options.workflows);
    return this.#q.read((s) => s.nextDue.get(workflows) as { due_at: number } | undefined).then(
      (next) => {
        if (next === undefined || next.due_at > options.now) return [];
        return this.#q.enqueue(() => claim(this.#host, options, workflows));
      },
    );
  }

  /** The earliest time a run of these workflows becomes claimable (within the flow limits). */
  nextDueAt(
    workflows: readonly string[],
    flow?: { now: number; limits: FlowLimitsByWorkflow },
  ): Promise<number | undefined> {
    return this.#q.read((s) => {
      if (workflows.length === 0) return undefined;
      const names = JSON.stringify(workflows);
      if (flow && hasFlowLimits(flow.limits, workflows)) {
        const plan = planFlowNextDue(flow.limits, flow.now);
        return runPlanSync(plan, (read) => answerFlowRead(s, read, names));
      }
      const row = s.nextDue.get(names) as { due_at: number } | undefined;
      return row?.due_at;
    });
  }

  /** Extends the leases still held and folds what they journaled. */
  extendLeases(leases: readonly Lease[], now: number, leaseMs: number): Promise<LeaseState[]> {
    if (leases.length === 0) return this.#q.read(() => []);
    return this.#q.enqueue(() => extendLeases(this.#host, leases, now, leaseMs));
  }

  // ---- checkpoints ----------------------------------------------------------------

  /** Reads checkpoint rows by key. */
  readSteps(runId: string, keys: readonly string[]): Promise<Map<string, StepRow>> {
    return this.#q.read((s) => {
      const found = new Map<string, StepRow>();
      if (keys.length === 0) return found;
      const fence = s.fence.get(runId) as FenceRow | undefined;
      if (!fence) return found;
      const local = this.#journal.leases.get(runId);
      if (local === undefined || local.token !== fence.lease_token) {
        if (fence.journal_from !== null) {
          return this.#q.snapshot(() =>
            this.#journal.readWithJournal(fence.rid, keys, fence.journal_from!)
          );
        }
        for (const row of this.#journal.stepRows(fence.rid, keys)) {
          found.set(row.key, stepFromColumns(row));
        }
        return found;
      }
      const table = new Map<string, StepRowData>();
      for (const row of this.#journal.stepRows(fence.rid, keys)) table.set(row.key, row);
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

  /** Writes checkpoint rows, events and a transition atomically under a lease. */
  write(lease: Lease, batch: WriteBatch, now: number): Promise<void> {
    const count = (batch.steps?.length ?? 0) + (batch.events?.length ?? 0);
    return this.#q.enqueue(
      () => {
        const local = this.#journal.holder(lease, count === 0);
        const paused = this.#journal.append(lease, local, batch.steps, batch.events);
        applyBatch(this.#host, lease, local, batch, now);
        // The activation begins no new step (see Driver.write).
        if (paused && !batch.run) this.#q.notify("paused", lease.runId);
      },
      () =>
        batch.run === undefined && !batch.clearRecoveries && !batch.labels && !batch.dropSignals &&
        count <= MAX_ITEMS_PER_INSERT &&
        this.#journal.hot(lease, count),
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
    return this.#q.enqueue(() => {
      const s = this.#s!;
      const local = this.#journal.holder(lease, true);
      const signal = s.firstSignal.get(local.rid, JSON.stringify(names)) as
        | { seq: number; name: string; payload: string | null }
        | undefined;
      let consumed: ConsumedSignal | undefined;
      let paused = false;
      if (signal) {
        s.deleteSignal.run(local.rid, signal.seq);
        const payload = signal.payload ?? undefined;
        paused = this.#journal.append(
          lease,
          local,
          [{ ...row, data: signalRowData(signal.name, payload) }],
          [],
        );
        consumed = { name: signal.name };
        if (payload !== undefined) consumed.payload = payload;
      }
      paused = this.#journal.append(lease, local, batch.steps, batch.events) || paused;
      applyBatch(this.#host, lease, local, batch, now);
      if (paused && !batch.run) this.#q.notify("paused", lease.runId);
      return consumed;
    });
  }

  // ---- signals, cancel, retry, purge ---------------------------------------------------

  /** Puts a signal in the inbox and wakes the run when it waits for it. */
  sendSignal(
    runId: string,
    name: string,
    payload: string | undefined,
    now: number,
    options?: SendSignalOptions,
  ): Promise<boolean> {
    return this.#q.enqueue(() =>
      deliverSignal(this.#host, runState(this.#host, runId), runId, {
        name,
        payload,
        id: options?.id,
      }, now)
    );
  }

  /** Creates the run unless it exists, then signals it, in one transaction. */
  startWithSignal(
    newRun: NewRun,
    signal: NewSignal,
    now: number,
  ): Promise<{ run: StoredRun; created: boolean; delivered: boolean }> {
    return this.#q.enqueue(() => {
      const { run, created } = this.#insertRun(newRun, now);
      if (run.workflow !== newRun.workflow) return { run, created, delivered: false };
      const delivered = deliverSignal(
        this.#host,
        runState(this.#host, run.id),
        run.id,
        signal,
        now,
      );
      return { run, created, delivered };
    });
  }

  /** Cancels an unfinished run and revokes its lease. */
  cancelRun(
    runId: string,
    reason: string | undefined,
    now: number,
    options?: CancelRunOptions,
  ): Promise<StoredRun> {
    return this.#q.enqueue(() => cancel(this.#host, runId, reason, now, options));
  }

  /** Pauses an unfinished run; its lease, if any, stays valid. */
  pauseRun(runId: string, now: number): Promise<StoredRun> {
    return this.#q.enqueue(() => pause(this.#host, runId, now));
  }

  /** Resumes a paused run in the status it would have now. */
  resumeRun(runId: string, now: number): Promise<StoredRun> {
    return this.#q.enqueue(() => resume(this.#host, runId, now));
  }

  /** Makes a failed or cancelled run claimable again (a failed one from its failed step). */
  retryRun(runId: string, now: number, options?: { deadlineAt?: number }): Promise<StoredRun> {
    return this.#q.enqueue(() => retry(this.#host, runId, now, options));
  }

  /** Records a worker's heartbeat row; forgets rows not seen since `forgetBefore`. */
  recordWorker(worker: StoredWorker, forgetBefore: number): Promise<void> {
    return this.#q.enqueue(() => {
      const s = this.#s!;
      s.forgetWorkers.run(forgetBefore);
      s.upsertWorker.run(...workerParams(worker));
    });
  }

  /** Deletes a worker's row. */
  removeWorker(workerId: string): Promise<void> {
    return this.#q.enqueue(() => void this.#s!.removeWorker.run(workerId));
  }

  /** Every worker row, in id order. */
  listWorkers(): Promise<StoredWorker[]> {
    return this.#q.read((s) =>
      (s.listWorkers.all() as unknown as WorkerColumns[]).map(workerFromColumns)
    );
  }

  /** Deletes finished runs (with their history) last updated before a time. */
  /** The unfinished `.call` children of failed, cancelled or purged parents. */
  orphanedChildren(limit: number): Promise<string[]> {
    return this.#q.read((s) =>
      (s.orphanedChildren.all(limit) as { id: string }[]).map((row) => row.id)
    );
  }

  purge(finishedBefore: number, options: PurgeOptions = {}): Promise<number> {
    const statuses = JSON.stringify(
      options.status === undefined ? ["completed", "failed", "cancelled"] : [options.status],
    );
    const params = [finishedBefore, statuses, options.limit ?? -1] as const;
    return this.#q.enqueue(() => {
      const s = this.#s!;
      s.purgeStepRows.run(...params);
      s.purgeEventRows.run(...params);
      s.purgeSteps.run(...params);
      s.purgeEvents.run(...params);
      s.purgeSignals.run(...params);
      s.purgeSignalIds.run(...params);
      return Number(s.purgeRuns.run(...params).changes);
    });
  }
}
