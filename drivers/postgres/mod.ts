/**
 * The PostgreSQL storage driver, built on `npm:postgres`: the shared
 * coordinator that lets workers on many machines claim work from one database.
 *
 * Claims use `FOR UPDATE SKIP LOCKED`; wake-ups travel over `LISTEN/NOTIFY`
 * (workers still poll as a safety net); each checkpoint is one fenced
 * statement, and checkpoints that concurrent runs make at the same moment
 * share one statement and one commit. The schema migrates itself on first use,
 * under a transaction-level advisory lock, so many processes may start at once.
 *
 * @example Run workflows on PostgreSQL (when `DATABASE_URL` is set)
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, workflow } from "@sluice/sluice";
 * import { PostgresDriver } from "@sluice/sluice/postgres";
 *
 * const greet = workflow<string>("greet").step("hello", (name) => `Hello, ${name}!`);
 *
 * const url = Deno.env.get("DATABASE_URL");
 * if (url !== undefined) {
 *   await using engine = new Engine({
 *     driver: new PostgresDriver({ url, schema: "sluice_example" }),
 *     workflows: [greet],
 *   });
 *   await using worker = engine.worker();
 *   await worker.start();
 *   const run = await engine.start(greet, "Ada");
 *   assert.equal(await run.result(), "Hello, Ada!");
 * }
 * ```
 *
 * @module
 */
import type postgres from "postgres";
import { type RunColumns, runFromColumns, type StepColumns, stepFromColumns } from "../columns.ts";
import { Batcher } from "./_batch.ts";
import { NOTICE_GAP_MS, Notifier, SEND_NOTICES } from "./_notify.ts";
import { PostgresScheduleStore, type TxQuery } from "./_schedules.ts";
import type { ScheduleStore } from "../../lib/schedule_store.ts";
import { NotifyListener, parseNotify } from "./_listen.ts";
import { WrittenAnnouncer } from "./_announce.ts";
import {
  connect,
  migrateSchema,
  type PostgresDriverOptions,
  type PostgresSql,
} from "./_connection.ts";
import { lastRows, type Param, type Query, type WriteItem, WriteQueries } from "./_writes.ts";
import {
  createChildParams,
  createClaimParams,
  createFlowParams,
  type CreateItem,
  createParams,
  flushCreates,
} from "./_creates.ts";
import { isRefusedStatement, toStorageError } from "./_errors.ts";
import { type Statements, statements } from "./_sql.ts";
import {
  cancelRun,
  controlRun,
  createWithSteps,
  listWorkers,
  purge,
  recordWorker,
  retryRun,
  sendSignal,
} from "./_control.ts";
import {
  consumeSignal,
  dropSignals,
  transition,
  writeClearing,
  type WriteHost,
  writeLabelled,
} from "./_write_paths.ts";
import { type FlowStatements, flowStatements } from "./_flow.ts";
import { type ClaimHost, claimRuns, extendLeases, nextDueAt } from "./_claims.ts";
import { listPage, listQuery, readFeed, readHistory } from "./_reads.ts";
import type {
  CancelRunOptions,
  Claim,
  ClaimOptions,
  ConsumedSignal,
  Driver,
  DriverNotice,
  FlowLimitsByWorkflow,
  Lease,
  LeaseState,
  NewRun,
  NewSignal,
  PurgeOptions,
  RunFilter,
  RunStatus,
  SendSignalOptions,
  StepRow,
  StoredFeedItem,
  StoredHistoryItem,
  StoredHistoryPage,
  StoredRun,
  StoredRunPage,
  StoredWorker,
  WriteBatch,
} from "../../lib/driver.ts";
import { startWithSignal } from "./_signal_start.ts";
import { InvalidStateError } from "../../lib/errors.ts";

export type { PostgresDriverOptions, PostgresSql };

type RunRow = RunColumns;

type StepRowRecord = StepColumns;

type Row = Record<string, unknown>;
/** The database's clock in epoch ms; needs no schema, so no migration either. */
const STORAGE_TIME = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now";

/**
 * Stores runs in PostgreSQL, so any number of engines and workers in any
 * number of processes can share them.
 *
 * - Claims take due runs with `FOR UPDATE SKIP LOCKED`: concurrent workers
 *   never get the same run and never wait on each other.
 * - Every write made for a worker is fenced by the run's lease token in the
 *   same statement; a worker that lost its lease gets `LeaseLostError`.
 * - Creating, signalling, retrying, releasing, cancelling and finishing a run
 *   send a `NOTIFY`; the driver `LISTEN`s while anyone subscribes and turns
 *   them into notices, so workers elsewhere wake at once. Workers still poll
 *   (`shared` is true), which covers notices lost while the database restarts.
 *   Plain checkpoints are announced to watchers elsewhere by a `written`
 *   `NOTIFY` sent after their commit, at most one per 25 ms per driver.
 * - Database failures become `StorageError`s without the password; the pool
 *   reconnects by itself once the database is back.
 *
 * @example Construct and close (no connection is made until first use)
 * ```ts
 * import assert from "node:assert/strict";
 * import { PostgresDriver } from "@sluice/sluice/postgres";
 *
 * const driver = new PostgresDriver({
 *   url: "postgres://postgres@127.0.0.1:5432/app",
 *   schema: "sluice",
 * });
 * assert.equal(driver.kind, "postgres");
 * await driver.close();
 * ```
 *
 * @example Share an `npm:postgres` instance that you own
 * ```ts
 * import assert from "node:assert/strict";
 * import postgres from "postgres";
 * import { PostgresDriver } from "@sluice/sluice/postgres";
 *
 * const sql = postgres("postgres://postgres@127.0.0.1:5432/app", { max: 20 });
 * const driver = new PostgresDriver({ sql, schema: "workflows" });
 * assert.equal(driver.kind, "postgres");
 * await driver.close(); // leaves `sql` open
 * await sql.end();
 * ```
 */
export class PostgresDriver implements Driver {
  /** The driver kind. */
  readonly kind: string = "postgres";
  /** Other processes share the database, so workers also poll. */
  readonly shared: boolean = true;
  /** The schema that holds the tables. */
  readonly schema: string;

  readonly #sql: postgres.Sql;
  readonly #ownsPool: boolean;
  readonly #st: Statements;
  readonly #create: boolean;
  readonly #flowSt: FlowStatements;
  readonly #quoted: string;
  readonly #secrets: string[];
  readonly #channel: string;
  readonly #instance: string = crypto.randomUUID().slice(0, 8);
  readonly #listeners = new Set<(notice: DriverNotice) => void>();
  readonly #writes: Batcher<WriteItem>;
  readonly #creates: Batcher<CreateItem>;
  readonly #writeQueries: WriteQueries;
  /** Notices of creations and transitions, sent after their commit (`_notify.ts`). */
  readonly #notifier: Notifier = new Notifier(
    (payloads) => this.#query("send notices", SEND_NOTICES, [this.#channel, payloads]),
    NOTICE_GAP_MS,
  );
  /** What the operations of `_control.ts` and `_write_paths.ts` use of this driver. */
  readonly #host: WriteHost & ClaimHost;
  #closed = false;
  #migrated = false;
  #migrating: Promise<void> | undefined;
  #listener: NotifyListener | undefined;
  /** `written` for other processes' watchers, at most one per 25 ms (`_announce.ts`). */
  readonly #announcer = new WrittenAnnouncer(() => {
    this.#notifier.push(this.#payload("written"));
    return Promise.resolve();
  });

  /**
   * Creates a driver. Nothing connects until the first call.
   *
   * @param options A `url` or a `sql` instance, and the schema.
   */
  constructor(options: PostgresDriverOptions) {
    const c = connect(options);
    this.schema = c.schema;
    this.#quoted = c.quoted;
    this.#channel = c.channel;
    this.#sql = c.sql;
    this.#secrets = c.secrets;
    this.#ownsPool = c.ownsPool;
    this.#st = statements(this.#quoted);
    this.#create = options.create ?? true;
    this.scheduleStore = this.#scheduleStore();
    this.#flowSt = flowStatements(this.#quoted);
    this.#writeQueries = new WriteQueries(this.#quoted);
    this.#writes = new Batcher(
      (items) => this.#writeQueries.flush(items, this.#queryFn, this.#st.leaseHeld),
      {
        maxInFlight: 2,
        maxItems: 256,
        isolate: isRefusedStatement,
      },
    );
    this.#creates = new Batcher((items) => flushCreates(this.#host, items), {
      maxInFlight: 2,
      maxItems: 512,
      isolate: isRefusedStatement,
    });
    this.#host = {
      query: this.#queryFn,
      statements: this.#st,
      channel: this.#channel,
      payload: (types, runId) => this.#payload(types, runId),
      emit: (types, runId, reason) => this.#emit(types, runId, reason),
      status: (runId) => this.#status(runId),
      getRun: (runId) => this.getRun(runId),
      sql: this.#sql,
      secrets: this.#secrets,
      writeQueries: this.#writeQueries,
      historyGrew: (batch) => this.#historyGrew(batch),
      notify: (payload) => this.#notifier.push(payload),
      flowStatements: this.#flowSt,
      quoted: this.#quoted,
      transaction: (what, fn) => this.#transaction(what, fn),
    };
  }

  // ---- plumbing ----------------------------------------------------------------

  #check(): void {
    if (this.#closed) {
      throw new InvalidStateError("Cannot use a closed PostgresDriver: create a new one");
    }
  }

  async #query<T = Row>(what: string, text: string, params: readonly Param[] = []): Promise<T[]> {
    if (!this.#migrated) await this.migrate();
    try {
      // Prepared statements (unless the pool disables them, e.g. behind a
      // transaction-mode pooler): PostgreSQL plans each statement once.
      return await this.#sql.unsafe(text, params as never[], {
        prepare: this.#sql.options.prepare !== false,
      }) as unknown as T[];
    } catch (error) {
      throw toStorageError(what, error, this.#secrets);
    }
  }

  readonly #queryFn: Query = (what, text, params) => this.#query(what, text, params);

  #emit(types: readonly DriverNotice["type"][], runId?: string, reason?: string): void {
    for (const type of types) {
      const notice: DriverNotice = runId === undefined ? { type } : { type, runId };
      if (reason !== undefined && type === "cancelled") notice.reason = reason;
      for (const listener of this.#listeners) listener(notice);
    }
  }

  #payload(types: string, runId = ""): string {
    return `${this.#instance}:${types}:${runId}`;
  }

  /** The schedule table (drivers/postgres/_schedules.ts). */
  readonly scheduleStore: ScheduleStore;

  #scheduleStore(): ScheduleStore {
    return new PostgresScheduleStore({
      check: () => this.#check(),
      query: (what, text, params) => this.#query(what, text, params as readonly Param[]),
      transaction: (what, fn) => this.#transaction(what, fn),
      createRuns: (runs, now) => ({
        text: this.#st.createRuns,
        params: [
          ...createParams(runs.map((run) => ({ run, now }))),
          this.#channel,
          this.#payload("runnable"),
          ...createFlowParams(runs.map((run) => ({ run }))),
          ...createChildParams(runs.map((run) => ({ run }))),
          ...createClaimParams(runs.map((run) => ({ run }))),
        ],
      }),
      channel: this.#channel,
      payload: (type, id) => this.#payload(type, id),
      emit: (type, id) => this.#emit([type], id),
    }, this.#quoted);
  }

  // ---- life cycle --------------------------------------------------------------

  /**
   * Creates or upgrades the schema. Runs once per driver, on first use;
   * several processes may do it at once (a transaction-level advisory lock
   * serializes them).
   */
  migrate(): Promise<void> {
    try {
      this.#check();
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#migrated) return Promise.resolve();
    this.#migrating ??= migrateSchema(
      this.#sql,
      this.#st,
      this.schema,
      this.#quoted,
      this.#secrets,
      this.#create,
    )
      .then(() => {
        this.#migrated = true;
      }, (error) => {
        this.#migrating = undefined;
        throw error;
      });
    return this.#migrating;
  }

  /**
   * Waits for writes in flight, stops listening and, when the driver created
   * the pool (`url`), ends it. Later calls throw `InvalidStateError`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#listener?.stop();
    await Promise.all([this.#writes.drain(), this.#creates.drain()]);
    await this.#announcer.stop();
    await this.#notifier.drain();
    await this.#migrating?.catch(() => {});
    const ending: Promise<unknown>[] = [];
    const listening = this.#listener?.end();
    if (listening) ending.push(listening);
    if (this.#ownsPool) ending.push(this.#sql.end({ timeout: 1 }));
    await Promise.allSettled(ending);
  }

  /** Same as {@linkcode PostgresDriver.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * The database's clock (`clock_timestamp()`) in epoch milliseconds, with
   * microseconds as the fraction. An `Engine` with the real clock keeps its
   * times on this clock, so workers on machines whose clocks disagree still
   * agree on lease expiry and due times.
   */
  async storageTime(): Promise<number> {
    this.#check();
    try {
      const [row] = await this.#sql.unsafe(STORAGE_TIME, [], {
        prepare: this.#sql.options.prepare !== false,
      }) as unknown as { now: number }[];
      return row!.now;
    } catch (error) {
      throw toStorageError("read the database clock", error, this.#secrets);
    }
  }

  // ---- runs ----------------------------------------------------------------------

  /** Stores a new pending run, or returns the existing one with that id. */
  async createRun(run: NewRun, now: number): Promise<{ run: StoredRun; created: boolean }> {
    this.#check();
    if (!this.#migrated) await this.migrate();
    if (run.steps?.length) return await createWithSteps(this.#host, run, now);
    return await new Promise((resolve, reject) => {
      this.#creates.push({ run, now, resolve, reject });
    });
  }

  /** Reads a run. */
  async getRun(runId: string): Promise<StoredRun | undefined> {
    this.#check();
    const [row] = await this.#query<RunRow>(`read run '${runId}'`, this.#st.getRun, [runId]);
    return row ? runFromColumns(row) : undefined;
  }

  /** Lists runs, newest first. */
  async listRuns(filter: RunFilter): Promise<StoredRunPage> {
    this.#check();
    const { text, params, limit } = listQuery(this.#st.listRuns, filter);
    return listPage(await this.#query<RunRow>("list runs", text, params), limit);
  }

  /** The run's events and checkpoint rows in write order. */
  async history(runId: string, page?: StoredHistoryPage): Promise<StoredHistoryItem[]> {
    this.#check();
    return await readHistory(this.#host, runId, page);
  }

  /**
   * Every run's history items in commit order after a cursor: the rest of the
   * cursor's delta between two snapshots, then the delta up to now (see
   * `FeedPlace` in _reads.ts).
   */
  async feed(after: string | undefined, limit: number): Promise<StoredFeedItem[]> {
    this.#check();
    return await readFeed(this.#host, after, limit);
  }

  /** Where a reader of only what comes next starts: everything visible now is seen. */
  async feedEnd(): Promise<string | undefined> {
    this.#check();
    const [row] = await this.#query<{ snapshot: string }>(
      "read the end of the feed",
      this.#st.feedEnd,
      [],
    );
    return `${row!.snapshot}||`;
  }

  // ---- claims and leases ---------------------------------------------------------

  /**
   * Claims up to `limit` due runs, higher priority first, then in due order:
   * in one statement, or within the flow limits in one transaction.
   */
  async claimRuns(options: ClaimOptions): Promise<Claim[]> {
    this.#check();
    return await claimRuns(this.#host, options);
  }

  /** Runs `fn` in one transaction; storage errors say what failed. */
  async #transaction<T>(what: string, fn: (tx: TxQuery) => Promise<T>): Promise<T> {
    if (!this.#migrated) await this.migrate();
    try {
      return await this.#sql.begin((tx) =>
        fn(async (text, params) => await tx.unsafe(text, params as never[]) as never)
      ) as never;
    } catch (error) {
      throw toStorageError(what, error, this.#secrets);
    }
  }

  /** The earliest due time among runs of these workflows (within the flow limits). */
  async nextDueAt(
    workflows: readonly string[],
    flow?: { now: number; limits: FlowLimitsByWorkflow },
  ): Promise<number | undefined> {
    this.#check();
    return await nextDueAt(this.#host, workflows, flow);
  }

  /** Extends the leases still held, in one statement. */
  async extendLeases(
    leases: readonly Lease[],
    now: number,
    leaseMs: number,
  ): Promise<LeaseState[]> {
    this.#check();
    return await extendLeases(this.#host, leases, now, leaseMs);
  }

  // ---- checkpoints -----------------------------------------------------------------

  /** Reads checkpoint rows by key. */
  async readSteps(runId: string, keys: readonly string[]): Promise<Map<string, StepRow>> {
    this.#check();
    const steps = new Map<string, StepRow>();
    if (keys.length === 0) return steps;
    const rows = await this.#query<StepRowRecord>(
      `read the checkpoints of run '${runId}'`,
      this.#st.readSteps,
      [runId, keys as string[]],
    );
    for (const row of rows) steps.set(row.key, stepFromColumns(row));
    return steps;
  }

  /**
   * Writes a batch under a lease in one statement. Batches without a run
   * transition that concurrent runs write at the same moment share one
   * statement (and one commit); each is fenced by its own lease.
   */
  async write(lease: Lease, batch: WriteBatch, now: number): Promise<void> {
    await this.#write(lease, batch, now);
    this.#historyGrew(batch);
  }

  #written = false;

  /**
   * History grew: watchers in this process hear `written` (once per
   * microtask), other processes' from a coalesced `NOTIFY` (`_announce.ts`),
   * unless the write moved the run (its notice goes out already: `_notify.ts`).
   */
  #historyGrew(batch: WriteBatch): void {
    if (!batch.run) this.#announcer.note();
    if (this.#written) return;
    this.#written = true;
    queueMicrotask(() => {
      this.#written = false;
      this.#emit(["written"]);
    });
  }

  async #write(lease: Lease, batch: WriteBatch, now: number): Promise<void> {
    this.#check();
    if (!this.#migrated) await this.migrate();
    const host = this.#host;
    if (batch.dropSignals) await dropSignals(host, lease, batch.dropSignals);
    if (batch.labels) return await writeLabelled(host, lease, batch, now);
    if (batch.run) return await transition(host, lease, batch, now);
    const steps = lastRows(batch.steps);
    const events = batch.events ?? [];
    if (batch.clearRecoveries) return await writeClearing(host, lease, steps, events);
    const paused = await new Promise<boolean>((resolve, reject) => {
      this.#writes.push({
        lease,
        steps,
        events,
        resolve,
        reject,
        keys: steps.map((row) => `${lease.runId}\u0000${row.key}`),
      });
    });
    // Checkpointed while paused: the activation begins no new step (see Driver.write).
    if (paused) this.#emit(["paused"], lease.runId);
  }

  /** Takes the oldest matching signal from the inbox and records it, in one statement. */
  async consumeSignal(
    lease: Lease,
    names: readonly string[],
    row: StepRow,
    batch: WriteBatch,
    now: number,
  ): Promise<ConsumedSignal | undefined> {
    this.#check();
    if (!this.#migrated) await this.migrate();
    return await consumeSignal(this.#host, lease, names, row, batch, now);
  }

  /** Creates the run unless it exists, then signals it, in one transaction. */
  startWithSignal(
    run: NewRun,
    signal: NewSignal,
    now: number,
  ): Promise<{ run: StoredRun; created: boolean; delivered: boolean }> {
    this.#check();
    return startWithSignal(
      {
        statements: this.#st,
        channel: this.#channel,
        payload: (types, runId) => this.#payload(types, runId),
        transaction: (what, fn) => this.#transaction(what, fn),
        emit: (types, runId) => this.#emit(types, runId),
      },
      run,
      signal,
      now,
    );
  }

  /** Puts a signal in the inbox and wakes a run waiting for it. */
  sendSignal(
    runId: string,
    name: string,
    payload: string | undefined,
    now: number,
    options?: SendSignalOptions,
  ): Promise<boolean> {
    this.#check();
    return sendSignal(this.#host, runId, name, payload, now, options);
  }

  async #status(runId: string): Promise<RunStatus | undefined> {
    const [row] = await this.#query<{ status: RunStatus }>(
      `read run '${runId}'`,
      this.#st.runStatus,
      [runId],
    );
    return row?.status;
  }

  // ---- operations ------------------------------------------------------------------

  /** Cancels an unfinished run and revokes its lease. */
  cancelRun(
    runId: string,
    reason: string | undefined,
    now: number,
    options?: CancelRunOptions,
  ): Promise<StoredRun> {
    this.#check();
    return cancelRun(this.#host, runId, reason, now, options);
  }

  /** Records a worker's heartbeat row; forgets rows not seen since `forgetBefore`. */
  recordWorker(worker: StoredWorker, forgetBefore: number): Promise<void> {
    this.#check();
    return recordWorker(this.#host, worker, forgetBefore);
  }

  /** Deletes a worker's row. */
  async removeWorker(workerId: string): Promise<void> {
    this.#check();
    await this.#query(`remove worker '${workerId}'`, this.#st.removeWorker, [workerId]);
  }

  /** Every worker row, in id order. */
  listWorkers(): Promise<StoredWorker[]> {
    this.#check();
    return listWorkers(this.#host);
  }

  /** Pauses an unfinished run; its lease, if any, stays valid. */
  pauseRun(runId: string, now: number): Promise<StoredRun> {
    this.#check();
    return controlRun(this.#host, "pause", runId, now);
  }

  /** Resumes a paused run in the status it would have now. */
  resumeRun(runId: string, now: number): Promise<StoredRun> {
    this.#check();
    return controlRun(this.#host, "resume", runId, now);
  }

  /** Makes a failed or cancelled run claimable again (a failed one from its failed step). */
  retryRun(runId: string, now: number, options?: { deadlineAt?: number }): Promise<StoredRun> {
    this.#check();
    return retryRun(this.#host, runId, now, options);
  }

  /** Deletes finished runs (and their rows) last updated before a time. */
  /** The unfinished `.call` children of failed, cancelled or purged parents. */
  async orphanedChildren(limit: number): Promise<string[]> {
    this.#check();
    const rows = await this.#query<{ id: string }>(
      "find .call children of ended parents",
      this.#st.orphanedChildren,
      [limit],
    );
    return rows.map((row) => row.id);
  }

  async purge(finishedBefore: number, options: PurgeOptions = {}): Promise<number> {
    this.#check();
    return await purge(this.#host, finishedBefore, options);
  }

  /**
   * Reports changes made by this process at once, and changes made by other
   * processes through `LISTEN`; returns an unsubscribe function.
   */
  subscribe(listener: (notice: DriverNotice) => void): () => void {
    this.#check();
    this.#listeners.add(listener);
    this.#listener ??= new NotifyListener(this.#sql, this.#channel, {
      closed: () => this.#closed,
      wanted: () => this.#listeners.size > 0,
      notify: (payload) => {
        const notice = parseNotify(payload, this.#instance);
        if (notice) this.#emit(notice.types, notice.runId);
      },
      changed: () => this.#emit(["changed"]),
    });
    this.#listener.listen();
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
