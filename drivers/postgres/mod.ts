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
import { Notifier, SEND_NOTICES } from "./_notify.ts";
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
import {
  consumeParams,
  createChildParams,
  createFlowParams,
  type CreateItem,
  createParams,
  dueNotices,
  lastRows,
  type Param,
  type Query,
  settleCreates,
  transitionQuery,
  type WriteItem,
  WriteQueries,
} from "./_writes.ts";
import { isRefusedStatement, toStorageError } from "./_errors.ts";
import { type Statements, statements } from "./_sql.ts";
import {
  type ControlHost,
  controlRun,
  createWithSteps,
  listWorkers,
  recordWorker,
} from "./_control.ts";
import { claimWithFlow, flowNextDue, type FlowStatements, flowStatements } from "./_flow.ts";
import { hasFlowLimits } from "../../lib/flow_claim.ts";
import {
  decodeFeedPlace,
  feedItem,
  feedParams,
  type FeedRow,
  historyCursor,
  historyItem,
  type HistoryRow,
  listPage,
  listQuery,
} from "./_reads.ts";
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
  RunTransition,
  SendSignalOptions,
  StepRow,
  StoredEvent,
  StoredFeedItem,
  StoredHistoryItem,
  StoredHistoryPage,
  StoredRun,
  StoredRunPage,
  StoredWorker,
  WriteBatch,
} from "../../lib/driver.ts";
import { isFinished } from "../../lib/driver.ts";
import { startWithSignal } from "./_signal_start.ts";
import { cancelledErrorInfo, cancellingErrorInfo, refusedError } from "../../lib/driver_policy.ts";
import { cancelledDetail, signalRowData } from "../../lib/formats.ts";
import { InvalidStateError, LeaseLostError, RunNotFoundError } from "../../lib/errors.ts";

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
  readonly #notifier: Notifier = new Notifier((payloads) =>
    this.#query("send notices", SEND_NOTICES, [this.#channel, payloads])
  );
  #closed = false;
  #migrated = false;
  #migrating: Promise<void> | undefined;
  #listener: NotifyListener | undefined;
  readonly #announcer = new WrittenAnnouncer(() =>
    this.#sql.unsafe("SELECT pg_notify($1, $2)", [this.#channel, this.#payload("written")])
  );

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
    this.#creates = new Batcher((items) => this.#flushCreates(items), {
      maxInFlight: 2,
      maxItems: 512,
      isolate: isRefusedStatement,
    });
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
    await this.#notifier.drain();
    await this.#migrating?.catch(() => {});
    await this.#announcer.stop();
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
    if (run.steps?.length) return await createWithSteps(this.#control(), run, now);
    return await new Promise((resolve, reject) => {
      this.#creates.push({ run, now, resolve, reject });
    });
  }

  async #flushCreates(items: CreateItem[]): Promise<void> {
    const ids = items.map((item) => item.run.id);
    const rows = await this.#query<RunRow & { created: boolean; notified: number }>(
      ids.length === 1 ? `create run '${ids[0]}'` : `create ${ids.length} runs`,
      this.#st.createRunsQuiet,
      [
        ...createParams(items),
        this.#channel,
        this.#payload("runnable"),
        ...createFlowParams(items),
        ...createChildParams(items),
      ],
    );
    if (rows.some((row) => row.notified > 0)) this.#notifier.push(this.#payload("runnable"));
    settleCreates(
      items,
      rows,
      (runId) => this.#emit(["runnable"], runId),
      (runId) => this.getRun(runId),
    );
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
    const rows = await this.#query<HistoryRow>(
      `read the history of run '${runId}'`,
      this.#st.history,
      [runId, ...historyCursor(page)],
    );
    if (rows.length === 0 && !(await this.getRun(runId))) throw new RunNotFoundError(runId);
    return rows.map(historyItem);
  }

  /**
   * Every run's history items in commit order after a cursor: the rest of the
   * cursor's delta between two snapshots, then the delta up to now (see
   * `FeedPlace` in _reads.ts).
   */
  async feed(after: string | undefined, limit: number): Promise<StoredFeedItem[]> {
    this.#check();
    let place = decodeFeedPlace(after);
    const items: StoredFeedItem[] = [];
    for (;;) {
      const rows = await this.#query<FeedRow>(
        "read the feed",
        this.#st.feed,
        feedParams(place, limit - items.length),
      );
      for (const row of rows) items.push(feedItem(row, place.prev));
      // A delta to a fixed snapshot that is exhausted: go on to the next one.
      if (items.length >= limit || place.bound === null) return items;
      place = { prev: place.bound, bound: null, key: null };
    }
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
    if (options.limit < 1 || options.workflows.length === 0) return [];
    type ClaimRow = RunRow & { previous_status: RunStatus; previous_owner: string | null };
    const flow = options.flow;
    const rows = hasFlowLimits(flow, options.workflows)
      ? await this.#transaction(
        "claim runs",
        (transaction) =>
          claimWithFlow(transaction, this.#flowSt, this.#st.claimIds, this.#quoted, {
            ...options,
            flow,
          }),
      ) as unknown as ClaimRow[]
      : await this.#query<ClaimRow>("claim runs", this.#st.claimRuns, [
        options.now,
        options.workflows as string[],
        options.limit,
        options.workerId,
        options.leaseMs,
      ]);
    return rows.map((row) => {
      const claim: Claim = {
        run: runFromColumns(row),
        lease: { runId: row.id, token: row.lease_token },
        previousStatus: row.previous_status,
      };
      if (row.previous_owner !== null) claim.previousOwner = row.previous_owner;
      return claim;
    });
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
    if (workflows.length === 0) return undefined;
    if (flow && hasFlowLimits(flow.limits, workflows)) {
      const query: TxQuery = (text, params) =>
        this.#query("find the next due run", text, params as Param[]) as never;
      return await flowNextDue(query, this.#flowSt, workflows, flow);
    }
    const [row] = await this.#query<{ due_at: number | null }>(
      "find the next due run",
      this.#st.nextDueAt,
      [workflows as string[]],
    );
    return row?.due_at ?? undefined;
  }

  /** Extends the leases still held, in one statement. */
  async extendLeases(
    leases: readonly Lease[],
    now: number,
    leaseMs: number,
  ): Promise<LeaseState[]> {
    this.#check();
    if (leases.length === 0) return [];
    const rows = await this.#query<
      { run_id: string; status: RunStatus | null; held: boolean; signals: boolean }
    >("extend leases", this.#st.extendLeases, [
      leases.map((lease) => lease.runId),
      leases.map((lease) => lease.token),
      now + leaseMs,
    ]);
    return rows.map((row) => ({
      runId: row.run_id,
      state: row.status === null || row.status === "cancelled"
        ? "cancelled"
        : row.held
        ? row.status === "paused" ? "paused" : "held"
        : "lost",
      signals: row.signals,
    }));
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
    if (batch.dropSignals) await this.#dropSignals(lease, batch.dropSignals);
    if (batch.labels) return await this.#writeLabelled(lease, batch, now);
    if (batch.run) return await this.#transition(lease, batch, now);
    const steps = lastRows(batch.steps);
    const events = batch.events ?? [];
    if (batch.clearRecoveries) return await this.#writeClearing(lease, steps, events);
    await new Promise<void>((resolve, reject) => {
      this.#writes.push({
        lease,
        steps,
        events,
        resolve,
        reject,
        keys: steps.map((row) => `${lease.runId}\u0000${row.key}`),
      });
    });
  }

  /**
   * The first write after a takeover (rare): the rows and the reset of the
   * run's `recoveries` in one transaction, fenced by the reset.
   */
  async #writeClearing(lease: Lease, steps: StepRow[], events: StoredEvent[]): Promise<void> {
    const { text, params } = this.#writeQueries.query([{
      lease,
      steps,
      events,
      resolve: () => {},
      reject: () => {},
      keys: [],
    }], 0);
    try {
      await this.#sql.begin(async (tx) => {
        if (steps.length > 0 || events.length > 0) await tx.unsafe(text, params as never[]);
        const [held] = await tx.unsafe(this.#st.clearRecoveries, [lease.runId, lease.token]);
        if (!held) throw new LeaseLostError(lease.runId);
      });
    } catch (error) {
      throw toStorageError(`record checkpoints of run '${lease.runId}'`, error, this.#secrets);
    }
  }

  /** The statement and parameters of a write that moves the run. */
  #transitionQuery(
    lease: Lease,
    batch: WriteBatch & { run: RunTransition },
    now: number,
    pos: number,
  ): ReturnType<typeof transitionQuery> {
    const payload = (types: string) => this.#payload(types, lease.runId);
    return transitionQuery(this.#st, lease, batch, now, pos, this.#channel, payload);
  }

  async #transition(lease: Lease, batch: WriteBatch, now: number): Promise<void> {
    const query = this.#transitionQuery(
      lease,
      batch as WriteBatch & { run: RunTransition },
      now,
      0,
    );
    const [row] = await this.#query<
      { due_at: number | null; notified: number; notify: string; woke_parent: string | null }
    >(
      `record the ${batch.run!.status} state of run '${lease.runId}'`,
      query.text,
      query.params,
    );
    if (!row) throw new LeaseLostError(lease.runId);
    this.#transitioned(row, query.notices, lease.runId, now);
  }

  /** Sends and reports the notices of a committed transition (see `transition` in `_sql.ts`). */
  #transitioned(
    row: { due_at: number | null; notified: number; notify: string; woke_parent: string | null },
    notices: DriverNotice["type"][],
    runId: string,
    now: number,
  ): void {
    if (row.notified > 0) {
      this.#notifier.push(row.notify);
      this.#emit(dueNotices(notices, row.due_at, now), runId);
    }
    if (row.woke_parent) {
      this.#notifier.push(this.#payload("runnable,signal", row.woke_parent));
      this.#emit(["runnable", "signal"], row.woke_parent);
    }
  }

  // ---- signals -----------------------------------------------------------------------

  /** Merges labels (`ctx.setLabels`) inside a write's transaction, fenced by the lease. */
  async #mergeLabels(
    tx: postgres.TransactionSql,
    lease: Lease,
    labels: Record<string, string>,
  ): Promise<void> {
    const [held] = await tx.unsafe(this.#st.mergeLabels, [
      lease.runId,
      lease.token,
      JSON.stringify(labels),
    ]);
    if (!held) throw new LeaseLostError(lease.runId);
  }

  /**
   * A write that sets labels (`ctx.setLabels`, rare): the labels, the rows and
   * events, the transition or the reset of `recoveries`, in one transaction,
   * so the labels land with the step's checkpoint or not at all.
   */
  async #writeLabelled(lease: Lease, batch: WriteBatch, now: number): Promise<void> {
    const steps = lastRows(batch.steps);
    const events = batch.events ?? [];
    let notices: DriverNotice["type"][] = [];
    let woke: string | undefined;
    try {
      await this.#sql.begin(async (tx) => {
        await this.#mergeLabels(tx, lease, batch.labels!);
        if (batch.run) {
          const query = this.#transitionQuery(
            lease,
            { ...batch, steps, run: batch.run },
            now,
            0,
          );
          const [moved] = await tx.unsafe(query.text, query.params as never[]);
          if (!moved) throw new LeaseLostError(lease.runId);
          if ((moved.notified as number) > 0) {
            notices = dueNotices(query.notices, moved.due_at as number | null, now);
          }
          if (moved.woke_parent) woke = moved.woke_parent as string;
          return;
        }
        if (steps.length > 0 || events.length > 0) {
          const write = this.#writeQueries.query([{
            lease,
            steps,
            events,
            resolve: () => {},
            reject: () => {},
          }], 0);
          // The label merge verified the lease and holds the run's row lock.
          await tx.unsafe(write.text, write.params as never[]);
        }
        if (batch.clearRecoveries) {
          const [held] = await tx.unsafe(this.#st.clearRecoveries, [lease.runId, lease.token]);
          if (!held) throw new LeaseLostError(lease.runId);
        }
      });
    } catch (error) {
      throw toStorageError(`record checkpoints of run '${lease.runId}'`, error, this.#secrets);
    }
    if (notices.length > 0) this.#emit(notices, lease.runId);
    if (woke) this.#emit(["runnable", "signal"], woke);
  }

  /**
   * Drops inbox entries by name (a `.call` child's wake-up, once read) before
   * the write they ride with, fenced; dropping twice is harmless, and so is a
   * drop whose write is then lost (the entry only wakes a parent whose child
   * is finished, which a new lease holder reads again anyway).
   */
  async #dropSignals(lease: Lease, names: string[]): Promise<void> {
    const [held] = await this.#query(
      `drop wake-ups of run '${lease.runId}'`,
      this.#st.dropSignals,
      [lease.runId, lease.token, names],
    );
    if (!held) throw new LeaseLostError(lease.runId);
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
    if (batch.dropSignals) await this.#dropSignals(lease, batch.dropSignals);
    const steps = lastRows(batch.steps);
    const events = batch.events ?? [];
    const what = `take a signal for run '${lease.runId}'`;
    const consume = (
      sql: postgres.Sql | postgres.TransactionSql,
      stepsNow: StepRow[],
      eventsNow: StoredEvent[],
    ) =>
      sql.unsafe(
        this.#st.consumeSignal,
        consumeParams(lease, names, row, stepsNow, eventsNow) as never[],
      );
    const result = (rows: Row[]): ConsumedSignal | undefined => {
      const first = rows[0] as
        | { held: number; name: string | null; payload: string | null }
        | undefined;
      if (!first || first.held === 0) throw new LeaseLostError(lease.runId);
      if (first.name === null) return undefined;
      const consumed: ConsumedSignal = { name: first.name };
      if (first.payload !== null) consumed.payload = first.payload;
      return consumed;
    };
    if (!batch.run && !batch.labels && !steps.some((step) => step.key === row.key)) {
      try {
        const taken = result(await consume(this.#sql, steps, events));
        this.#historyGrew(batch);
        return taken;
      } catch (error) {
        throw toStorageError(what, error, this.#secrets);
      }
    }
    // Rare: the batch moves the run, sets labels, or rewrites the signal's own
    // row. Statements in one transaction keep the reference order of effects.
    let moved:
      | { due_at: number | null; notified: number; notify: string; woke_parent: string | null }
      | undefined;
    let notices: DriverNotice["type"][] = [];
    try {
      const consumed = await this.#sql.begin(async (tx) => {
        const taken = result(await consume(tx, [], []));
        if (batch.labels) await this.#mergeLabels(tx, lease, batch.labels);
        if (batch.run) {
          const query = this.#transitionQuery(
            lease,
            { ...batch, steps, run: batch.run },
            now,
            1,
          );
          [moved] = await tx.unsafe(query.text, query.params as never[]) as never[];
          if (!moved) throw new LeaseLostError(lease.runId);
          notices = query.notices;
        } else {
          const write = this.#writeQueries.query([{
            lease,
            steps,
            events,
            resolve: () => {},
            reject: () => {},
          }], 1);
          // The consume above verified the lease and holds the run's row lock.
          await tx.unsafe(write.text, write.params as never[]);
        }
        return taken;
      });
      if (moved) this.#transitioned(moved, notices, lease.runId, now);
      this.#historyGrew(batch);
      return consumed;
    } catch (error) {
      throw toStorageError(what, error, this.#secrets);
    }
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
  async sendSignal(
    runId: string,
    name: string,
    payload: string | undefined,
    now: number,
    options?: SendSignalOptions,
  ): Promise<boolean> {
    this.#check();
    const detail = signalRowData(name, payload);
    const id = options?.id ?? null;
    for (let attempt = 0;; attempt++) {
      const [row] = await this.#query<{ woke: boolean; notified: number }>(
        `signal run '${runId}'`,
        this.#st.sendSignal,
        [
          runId,
          name,
          payload ?? null,
          now,
          detail,
          this.#channel,
          this.#payload("runnable,signal", runId),
          this.#payload("signal", runId),
          id,
        ],
      );
      if (row) {
        this.#emit(row.woke ? ["runnable", "signal"] : ["signal"], runId);
        return true;
      }
      // A repeated id is a no-op, checked before the finished-run refusal.
      if (id !== null) {
        const [held] = await this.#query(`read run '${runId}'`, this.#st.hasSignalId, [runId, id]);
        if (held) return false;
      }
      const status = await this.#status(runId);
      if (status === undefined) throw new RunNotFoundError(runId);
      if (isFinished(status) || attempt >= 3) throw refusedError("signal", runId, status);
    }
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
  async cancelRun(
    runId: string,
    reason: string | undefined,
    now: number,
    options?: CancelRunOptions,
  ): Promise<StoredRun> {
    this.#check();
    if (options?.compensate) return await this.#cancelCompensating(runId, reason, now);
    const error = cancelledErrorInfo(runId, reason);
    for (let attempt = 0;; attempt++) {
      const [row] = await this.#query<RunRow>(`cancel run '${runId}'`, this.#st.cancelRun, [
        runId,
        JSON.stringify(error),
        now,
        cancelledDetail(reason) ?? null,
        this.#channel,
        this.#payload("cancelled,released,finished", runId),
      ]);
      if (row) {
        this.#emit(["cancelled", "released", "finished"], runId, reason);
        const woke = (row as { woke_parent?: string | null }).woke_parent;
        if (woke) this.#emit(["runnable", "signal"], woke);
        return runFromColumns(row);
      }
      const status = await this.#status(runId);
      if (status === undefined) throw new RunNotFoundError(runId);
      if (isFinished(status) || attempt >= 3) throw refusedError("cancel", runId, status);
    }
  }

  /** Hands a run back with its cancel error, for the next claim to compensate it and end it. */
  async #cancelCompensating(
    runId: string,
    reason: string | undefined,
    now: number,
  ): Promise<StoredRun> {
    const error = cancellingErrorInfo(runId, reason);
    for (let attempt = 0;; attempt++) {
      const [row] = await this.#query<RunRow>(
        `cancel run '${runId}'`,
        this.#st.cancelCompensating,
        [
          runId,
          JSON.stringify(error),
          now,
          this.#channel,
          this.#payload(
            "cancelled,released,runnable",
            runId,
          ),
        ],
      );
      if (row) {
        this.#emit(["cancelled", "released", "runnable"], runId, reason);
        return runFromColumns(row);
      }
      const status = await this.#status(runId);
      if (status === undefined) throw new RunNotFoundError(runId);
      if (isFinished(status) || attempt >= 3) throw refusedError("cancel", runId, status);
    }
  }

  #control(): ControlHost {
    return {
      query: this.#queryFn,
      statements: this.#st,
      channel: this.#channel,
      payload: (types, runId) => this.#payload(types, runId),
      emit: (types, runId) => this.#emit(types, runId),
      status: (runId) => this.#status(runId),
      getRun: (runId) => this.getRun(runId),
    };
  }

  /** Records a worker's heartbeat row; forgets rows not seen since `forgetBefore`. */
  recordWorker(worker: StoredWorker, forgetBefore: number): Promise<void> {
    this.#check();
    return recordWorker(this.#control(), worker, forgetBefore);
  }

  /** Deletes a worker's row. */
  async removeWorker(workerId: string): Promise<void> {
    this.#check();
    await this.#query(`remove worker '${workerId}'`, this.#st.removeWorker, [workerId]);
  }

  /** Every worker row, in id order. */
  listWorkers(): Promise<StoredWorker[]> {
    this.#check();
    return listWorkers(this.#control());
  }

  /** Pauses an unfinished run; its lease, if any, stays valid. */
  pauseRun(runId: string, now: number): Promise<StoredRun> {
    this.#check();
    return controlRun(this.#control(), "pause", runId, now);
  }

  /** Resumes a paused run in the status it would have now. */
  resumeRun(runId: string, now: number): Promise<StoredRun> {
    this.#check();
    return controlRun(this.#control(), "resume", runId, now);
  }

  /** Makes a failed or cancelled run claimable again (a failed one from its failed step). */
  async retryRun(
    runId: string,
    now: number,
    options?: { deadlineAt?: number },
  ): Promise<StoredRun> {
    this.#check();
    const [row] = await this.#query<RunRow>(`retry run '${runId}'`, this.#st.retryRun, [
      runId,
      now,
      this.#channel,
      this.#payload("runnable", runId),
      options?.deadlineAt ?? null,
    ]);
    if (row) {
      this.#emit(["runnable"], runId);
      return runFromColumns(row);
    }
    const status = await this.#status(runId);
    if (status === undefined) throw new RunNotFoundError(runId);
    throw refusedError("retry", runId, status);
  }

  /** Deletes finished runs (and their rows) last updated before a time. */
  async purge(finishedBefore: number, options: PurgeOptions = {}): Promise<number> {
    this.#check();
    const [row] = await this.#query<{ count: number }>(
      "purge finished runs",
      this.#st.purge,
      [
        finishedBefore,
        options.status === undefined ? ["completed", "failed", "cancelled"] : [options.status],
        options.limit ?? null,
      ],
    );
    return row?.count ?? 0;
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
