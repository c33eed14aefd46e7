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
import postgres from "postgres";
import { type RunColumns, runFromColumns, type StepColumns, stepFromColumns } from "../columns.ts";
import { Batcher, type BatchItem } from "./_batch.ts";
import { isRefusedStatement, redact, secretsOf, toStorageError } from "./_errors.ts";
import {
  migrations,
  SCHEMA_NAME,
  type Statements,
  statements,
  type WriteShape,
  writeStatement,
} from "./_sql.ts";
import type {
  Claim,
  ClaimOptions,
  ConsumedSignal,
  Driver,
  DriverNotice,
  Lease,
  LeaseState,
  NewRun,
  RunFilter,
  RunStatus,
  RunTransition,
  StepRow,
  StoredEvent,
  StoredHistoryItem,
  StoredHistoryPage,
  StoredRun,
  StoredRunPage,
  WriteBatch,
} from "../../lib/driver.ts";
import { decodeCursor, encodeCursor, isFinished } from "../../lib/driver.ts";
import { cancelledErrorInfo, LIST_PAGE, refusedError } from "../../lib/driver_policy.ts";
import { cancelledDetail, signalRowData } from "../../lib/formats.ts";
import {
  InvalidStateError,
  LeaseLostError,
  RunNotFoundError,
  StorageError,
} from "../../lib/errors.ts";

/**
 * An `npm:postgres` instance, as `postgres(url, options)` returns it.
 *
 * @example Make the instance to pass as the `sql` option
 * ```ts
 * import assert from "node:assert/strict";
 * import postgres from "postgres";
 * import type { PostgresSql } from "@sluice/sluice/postgres";
 *
 * const sql: PostgresSql = postgres("postgres://postgres@127.0.0.1:5432/app");
 * assert.equal(sql.options.database, "app");
 * await sql.end();
 * ```
 */
export type PostgresSql = postgres.Sql;

/**
 * Options of {@linkcode PostgresDriver}: give either a connection `url` (the
 * driver owns the pool) or a `sql` instance of `npm:postgres` (you own it).
 *
 * @example Keep a deployment's tables in their own schema
 * ```ts
 * import assert from "node:assert/strict";
 * import { PostgresDriver, type PostgresDriverOptions } from "@sluice/sluice/postgres";
 *
 * const options: PostgresDriverOptions = {
 *   url: "postgres://postgres@127.0.0.1:5432/app",
 *   schema: "billing_workflows",
 * };
 * const driver = new PostgresDriver(options); // connects on first use
 * assert.equal(driver.shared, true);
 * await driver.close();
 * ```
 */
export interface PostgresDriverOptions {
  /**
   * A connection URL such as `postgres://user:password@host:5432/db`. The
   * driver creates a pool and ends it on `close()`. The password never appears
   * in errors or logs.
   */
  url?: string;
  /**
   * An existing `npm:postgres` instance, created without `transform` options.
   * The caller owns it: `close()` does not end it. The driver opens one extra
   * connection for `LISTEN` and closes it on `close()`.
   */
  sql?: PostgresSql;
  /**
   * The schema that holds the tables: a lower-case identifier matching
   * `^[a-z_][a-z0-9_]{0,62}$`. Created on first use.
   * @default {"sluice"}
   */
  schema?: string;
  /**
   * Connections in the pool (only with `url`).
   * @default {10}
   */
  poolSize?: number;
}

type RunRow = RunColumns;

type StepRowRecord = StepColumns;

/**
 * Positions within one write, for history seqs (`seq * SEQ_SPAN + pos`): a
 * write records far fewer rows and events than this.
 */
const SEQ_SPAN = 65_536;

interface WriteItem extends BatchItem {
  lease: Lease;
  steps: StepRow[];
  events: StoredEvent[];
  resolve(): void;
}

interface CreateItem extends BatchItem {
  run: NewRun;
  now: number;
  resolve(result: { run: StoredRun; created: boolean }): void;
}

type Row = Record<string, unknown>;
type Param = string | number | boolean | null | readonly (string | number | null)[];

/** Keeps the last row of each key, as sequential upserts would (a `done` row stays). */
function lastRows(steps: readonly StepRow[] | undefined): StepRow[] {
  if (!steps || steps.length === 0) return [];
  if (steps.length === 1) return [steps[0]!];
  const byKey = new Map<string, StepRow>();
  for (const row of steps) {
    if (byKey.get(row.key)?.state === "done") continue;
    byKey.delete(row.key);
    byKey.set(row.key, row);
  }
  return [...byKey.values()];
}

/** Column arrays of step rows (8 parameters), positions from `pos`. */
function stepArrays(steps: readonly StepRow[], pos: number): Param[] {
  const n = steps.length;
  const key: string[] = new Array(n);
  const kind: string[] = new Array(n);
  const state: string[] = new Array(n);
  const data: (string | null)[] = new Array(n);
  const attempt: (number | null)[] = new Array(n);
  const startedAt: (number | null)[] = new Array(n);
  const finishedAt: (number | null)[] = new Array(n);
  const position: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const row = steps[i]!;
    key[i] = row.key;
    kind[i] = row.kind;
    state[i] = row.state;
    data[i] = row.data ?? null;
    attempt[i] = row.attempt ?? null;
    startedAt[i] = row.startedAt ?? null;
    finishedAt[i] = row.finishedAt ?? null;
    position[i] = pos + i;
  }
  return [key, kind, state, data, attempt, startedAt, finishedAt, position];
}

/** Column arrays of events (6 parameters), positions from `pos`. */
function eventArrays(events: readonly StoredEvent[], pos: number): Param[] {
  const n = events.length;
  const type: string[] = new Array(n);
  const at: number[] = new Array(n);
  const step: (string | null)[] = new Array(n);
  const attempt: (number | null)[] = new Array(n);
  const detail: (string | null)[] = new Array(n);
  const position: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const event = events[i]!;
    type[i] = event.type;
    at[i] = event.at;
    step[i] = event.step ?? null;
    attempt[i] = event.attempt ?? null;
    detail[i] = event.detail ?? null;
    position[i] = pos + i;
  }
  return [type, at, step, attempt, detail, position];
}

/** A short stable hash, for channel names that would be too long. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/**
 * Seconds before reconnecting after a failed connection: short and capped at
 * one second, so workers resume soon after a database restart (postgres.js
 * alone backs off up to 20 seconds).
 */
function reconnectDelay(retries: number): number {
  return Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2);
}

/** The database's clock in epoch ms; needs no schema, so no migration either. */
const STORAGE_TIME = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now";

const NOTICE_TYPES = new Set(["runnable", "signal", "cancelled", "finished", "changed"]);

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
  readonly #quoted: string;
  readonly #secrets: string[];
  readonly #channel: string;
  readonly #instance: string = crypto.randomUUID().slice(0, 8);
  readonly #listeners = new Set<(notice: DriverNotice) => void>();
  readonly #writes: Batcher<WriteItem>;
  readonly #creates: Batcher<CreateItem>;
  readonly #writeTexts = new Map<string, string>();
  #closed = false;
  #migrated = false;
  #migrating: Promise<void> | undefined;
  #listener: postgres.Sql | undefined;
  #listenState: "idle" | "starting" | "listening" = "idle";
  #listenedOnce = false;
  #listenRetry: ReturnType<typeof setTimeout> | undefined;
  #listenTimer: ReturnType<typeof setTimeout> | undefined;
  #listenFailures = 0;

  /**
   * Creates a driver. Nothing connects until the first call.
   *
   * @param options A `url` or a `sql` instance, and the schema.
   */
  constructor(options: PostgresDriverOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        "Cannot create a PostgresDriver without options: pass { url } or { sql }",
      );
    }
    const { url, sql } = options;
    if ((url === undefined) === (sql === undefined)) {
      throw new TypeError(
        "Cannot create a PostgresDriver without exactly one of 'url' and 'sql': pass one of them",
      );
    }
    const schema = options.schema ?? "sluice";
    if (typeof schema !== "string" || !SCHEMA_NAME.test(schema)) {
      throw new TypeError(
        `Cannot use schema ${
          typeof schema === "string" ? `'${schema}'` : `of type ${typeof schema}`
        }: use a lower-case identifier of 1 to 63 letters, digits and '_' that does not start with a digit`,
      );
    }
    this.schema = schema;
    this.#quoted = `"${schema}"`;
    this.#st = statements(this.#quoted);
    const channel = `sluice_${schema}`;
    this.#channel = channel.length <= 63
      ? channel
      : `sluice_${schema.slice(0, 46)}_${fnv1a(schema)}`;
    if (url !== undefined) {
      if (typeof url !== "string" || !/^postgres(ql)?:\/\//.test(url)) {
        throw new TypeError(
          "Cannot use the 'url' option as it is not a postgres:// or postgresql:// URL: pass a connection URL",
        );
      }
      const poolSize = options.poolSize ?? 10;
      if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1000) {
        throw new RangeError(
          `Cannot use 'poolSize' ${String(poolSize)}: it must be an integer from 1 to 1000`,
        );
      }
      this.#secrets = secretsOf(url, undefined);
      try {
        this.#sql = postgres(url, { max: poolSize, onnotice: () => {}, backoff: reconnectDelay });
      } catch (error) {
        throw new TypeError(
          `Cannot use the 'url' option: ${
            redact(error instanceof Error ? error.message : String(error), this.#secrets)
          }`,
        );
      }
      this.#ownsPool = true;
    } else {
      if (typeof sql !== "function" || typeof (sql as postgres.Sql).unsafe !== "function") {
        throw new TypeError(
          "Cannot use the 'sql' option as it is not an npm:postgres instance: pass postgres(url)",
        );
      }
      this.#sql = sql;
      this.#secrets = secretsOf(undefined, sql.options?.pass);
      this.#ownsPool = false;
    }
    this.#writes = new Batcher((items) => this.#flushWrites(items), {
      maxInFlight: 2,
      maxItems: 256,
      isolate: isRefusedStatement,
    });
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

  #onNotify(payload: string): void {
    const first = payload.indexOf(":");
    const second = payload.indexOf(":", first + 1);
    if (first < 0 || second < 0) return;
    if (payload.slice(0, first) === this.#instance) return;
    const runId = payload.slice(second + 1);
    const types = payload.slice(first + 1, second).split(",").filter((type) =>
      NOTICE_TYPES.has(type)
    ) as DriverNotice["type"][];
    this.#emit(types, runId === "" ? undefined : runId);
  }

  // ---- LISTEN ------------------------------------------------------------------

  #listen(): void {
    if (this.#closed || this.#listenState !== "idle" || this.#listenRetry !== undefined) return;
    this.#listenState = "starting";
    let listener = this.#listener;
    if (listener === undefined) {
      const created: postgres.Sql = postgres({
        ...this.#sql.options,
        max: 1,
        idle_timeout: null,
        max_lifetime: null,
        fetch_types: false,
        backoff: reconnectDelay,
        onnotice: () => {},
        onnotify: (_channel: string, payload: string) => this.#onNotify(payload),
        onclose: () => {
          if (this.#listener === created) this.#listenLost();
        },
      } as unknown as postgres.Options<Record<string, postgres.PostgresType>>);
      listener = this.#listener = created;
    }
    const current = listener;
    // A LISTEN that hangs (a half-open connection) is given up: a fresh
    // connection is tried instead.
    this.#listenTimer = setTimeout(() => {
      this.#listenTimer = undefined;
      if (this.#listener !== current) return;
      this.#listener = undefined;
      void current.end({ timeout: 0 }).catch(() => {});
    }, 10_000);
    current.unsafe(`LISTEN "${this.#channel}"`).then(() => {
      clearTimeout(this.#listenTimer);
      this.#listenTimer = undefined;
      if (this.#closed || this.#listener !== current) return;
      this.#listenState = "listening";
      this.#listenFailures = 0;
      // Notices sent while the connection was down are lost: re-check everything.
      if (this.#listenedOnce) this.#emit(["changed"]);
      this.#listenedOnce = true;
    }, () => {
      clearTimeout(this.#listenTimer);
      this.#listenTimer = undefined;
      this.#listenState = "idle";
      this.#listenFailures++;
      this.#retryListen();
    });
  }

  #listenLost(): void {
    if (this.#closed || this.#listenState !== "listening") return;
    this.#listenState = "idle";
    this.#retryListen();
  }

  #retryListen(): void {
    if (this.#closed || this.#listenRetry !== undefined || this.#listeners.size === 0) return;
    const delay = Math.min(50 * 2 ** Math.min(this.#listenFailures, 6), 2_000);
    this.#listenRetry = setTimeout(() => {
      this.#listenRetry = undefined;
      this.#listen();
    }, delay);
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
    this.#migrating ??= this.#migrateNow().then(() => {
      this.#migrated = true;
    }, (error) => {
      this.#migrating = undefined;
      throw error;
    });
    return this.#migrating;
  }

  async #migrateNow(): Promise<void> {
    const st = this.#st;
    const all = migrations(this.#quoted);
    const latest = all[all.length - 1]!.version;
    try {
      await this.#sql.begin(async (tx) => {
        await tx.unsafe(st.lockMigrations, [`sluice.migrate.${this.schema}`]);
        const [info] = await tx.unsafe(st.inspect, [
          this.schema,
          `${this.#quoted}.sluice_migrations`,
        ]);
        if (!info!.has_schema) await tx.unsafe(st.createSchema);
        if (!info!.has_table) await tx.unsafe(st.createMigrations);
        const [current] = await tx.unsafe(st.currentVersion);
        const version = current!.version as number;
        if (version > latest) {
          throw new InvalidStateError(
            `Cannot use schema '${this.schema}' at version ${version} as this driver knows versions up to ${latest}: upgrade Sluice`,
          );
        }
        for (const migration of all) {
          if (migration.version <= version) continue;
          for (const statement of migration.statements) await tx.unsafe(statement);
          await tx.unsafe(st.recordMigration, [migration.version, migration.name]);
        }
      });
    } catch (error) {
      throw toStorageError(`migrate schema '${this.schema}'`, error, this.#secrets);
    }
  }

  /**
   * Waits for writes in flight, stops listening and, when the driver created
   * the pool (`url`), ends it. Later calls throw `InvalidStateError`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    clearTimeout(this.#listenRetry);
    this.#listenRetry = undefined;
    clearTimeout(this.#listenTimer);
    this.#listenTimer = undefined;
    await Promise.all([this.#writes.drain(), this.#creates.drain()]);
    await this.#migrating?.catch(() => {});
    const ending: Promise<unknown>[] = [];
    if (this.#listener) ending.push(this.#listener.end({ timeout: 1 }));
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
    return await new Promise((resolve, reject) => {
      this.#creates.push({ run, now, resolve, reject });
    });
  }

  async #flushCreates(items: CreateItem[]): Promise<void> {
    const n = items.length;
    const ids: string[] = new Array(n);
    const workflows: string[] = new Array(n);
    const versions: string[] = new Array(n);
    const hashes: string[] = new Array(n);
    const inputs: (string | null)[] = new Array(n);
    const labels: string[] = new Array(n);
    const dueAt: number[] = new Array(n);
    const nows: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const { run, now } = items[i]!;
      ids[i] = run.id;
      workflows[i] = run.workflow;
      versions[i] = run.version;
      hashes[i] = run.planHash;
      inputs[i] = run.input ?? null;
      labels[i] = JSON.stringify(run.labels ?? {});
      dueAt[i] = run.dueAt;
      nows[i] = now;
    }
    const rows = await this.#query<RunRow & { created: boolean }>(
      n === 1 ? `create run '${ids[0]}'` : `create ${n} runs`,
      this.#st.createRuns,
      [
        ids,
        workflows,
        versions,
        hashes,
        inputs,
        labels,
        dueAt,
        nows,
        this.#channel,
        this.#payload("runnable"),
      ],
    );
    const byId = new Map<string, RunRow & { created: boolean }>();
    for (const row of rows) byId.set(row.id, row);
    for (const item of items) {
      const row = byId.get(item.run.id);
      if (row) {
        item.resolve({ run: runFromColumns(row), created: row.created });
        if (row.created) {
          row.created = false;
          this.#emit(["runnable"], row.id);
        }
        continue;
      }
      // Inserted by a concurrent transaction after this statement's snapshot.
      this.getRun(item.run.id).then((run) => {
        if (run) item.resolve({ run, created: false });
        else item.reject(new StorageError(`Cannot create run '${item.run.id}': retry`));
      }, item.reject);
    }
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
    const where: string[] = [];
    const params: Param[] = [];
    if (filter.status !== undefined) {
      params.push(Array.isArray(filter.status) ? filter.status : [filter.status]);
      where.push(`r.status = ANY($${params.length}::text[])`);
    }
    if (filter.workflow !== undefined) {
      params.push(filter.workflow);
      where.push(`r.workflow = $${params.length}::text`);
    }
    if (filter.labels !== undefined && Object.keys(filter.labels).length > 0) {
      params.push(JSON.stringify(filter.labels));
      where.push(`r.labels @> $${params.length}::text::jsonb`);
    }
    if (filter.cursor !== undefined) {
      const [createdAt, id] = decodeCursor(filter.cursor);
      params.push(createdAt, id);
      where.push(`(r.created_at, r.id) < ($${params.length - 1}::int8, $${params.length}::text)`);
    }
    const limit = filter.limit ?? LIST_PAGE.default;
    params.push(limit + 1);
    const text = `${this.#st.listRuns}${where.length ? ` WHERE ${where.join(" AND ")}` : ""}
      ORDER BY r.created_at DESC, r.id DESC LIMIT $${params.length}::int4`;
    const rows = await this.#query<RunRow>("list runs", text, params);
    const runs = rows.slice(0, limit).map(runFromColumns);
    const page: StoredRunPage = { runs };
    if (rows.length > limit && runs.length > 0) {
      const last = runs[runs.length - 1]!;
      page.nextCursor = encodeCursor(last.createdAt, last.id);
    }
    return page;
  }

  /** The run's events and checkpoint rows in write order. */
  async history(runId: string, page?: StoredHistoryPage): Promise<StoredHistoryItem[]> {
    this.#check();
    // An item's seq is (write seq, position in the write) as one number.
    const after = page?.after === undefined ? -1 : Math.floor(page.after);
    const cursor = after < 0 ? [-1, 0] : [Math.floor(after / SEQ_SPAN), after % SEQ_SPAN];
    const rows = await this.#query<
      StepRowRecord & {
        source: "step" | "event";
        seq: string | number;
        pos: number;
        type: StoredEvent["type"] | null;
        at: number | null;
        step: string | null;
        detail: string | null;
      }
    >(`read the history of run '${runId}'`, this.#st.history, [
      runId,
      cursor[0]!,
      cursor[1]!,
      page?.limit ?? null,
    ]);
    if (rows.length === 0 && !(await this.getRun(runId))) throw new RunNotFoundError(runId);
    return rows.map((row): StoredHistoryItem => {
      const seq = Number(row.seq) * SEQ_SPAN + Number(row.pos);
      if (row.source === "step") return { source: "step", seq, row: stepFromColumns(row) };
      const event: StoredEvent = { type: row.type!, at: row.at! };
      if (row.step !== null) event.step = row.step;
      if (row.attempt !== null) event.attempt = row.attempt;
      if (row.detail !== null) event.detail = row.detail;
      return { source: "event", seq, event };
    });
  }

  // ---- claims and leases ---------------------------------------------------------

  /** Claims up to `limit` due runs, in due order, in one statement. */
  async claimRuns(options: ClaimOptions): Promise<Claim[]> {
    this.#check();
    if (options.limit < 1 || options.workflows.length === 0) return [];
    const rows = await this.#query<
      RunRow & { previous_status: RunStatus; previous_owner: string | null }
    >(
      "claim runs",
      this.#st.claimRuns,
      [
        options.now,
        options.workflows as string[],
        options.limit,
        options.workerId,
        options.leaseMs,
      ],
    );
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

  /** The earliest due time among runs of these workflows. */
  async nextDueAt(workflows: readonly string[]): Promise<number | undefined> {
    this.#check();
    if (workflows.length === 0) return undefined;
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
        ? "held"
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
    this.#check();
    if (!this.#migrated) await this.migrate();
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
    const { text, params } = this.#writeQuery([{
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

  /** The fenced write statement of a shape (cached). */
  #writeText(shape: WriteShape): string {
    const key = `${shape.multi ? "m" : "1"}${shape.direct ? "d" : ""}${shape.steps}${
      shape.events ? "e" : ""
    }`;
    let text = this.#writeTexts.get(key);
    if (text === undefined) {
      text = writeStatement(this.#quoted, shape);
      this.#writeTexts.set(key, text);
    }
    return text;
  }

  /** The statement and parameters of fenced writes without a transition. */
  #writeQuery(
    items: readonly WriteItem[],
    firstPos: number,
  ): { text: string; params: Param[]; direct: boolean } {
    const multi = items.length > 1;
    let stepCount = 0;
    let eventCount = 0;
    for (const item of items) {
      stepCount += item.steps.length;
      eventCount += item.events.length;
    }
    const shape: WriteShape = {
      multi,
      steps: stepCount === 0 ? "none" : stepCount === 1 ? "one" : "many",
      events: eventCount > 0,
    };
    if (
      multi && eventCount === 0 && items.every((item) => item.steps.length > 0) &&
      new Set(items.map((item) => item.lease.runId)).size === items.length
    ) {
      shape.direct = true;
      shape.steps = "many";
    }
    const params: Param[] = multi
      ? [items.map((item) => item.lease.runId), items.map((item) => item.lease.token)]
      : [items[0]!.lease.runId, items[0]!.lease.token];
    let pos = firstPos;
    if (shape.steps === "one") {
      const row = items.find((item) => item.steps.length > 0)!.steps[0]!;
      params.push(
        row.key,
        row.kind,
        row.state,
        row.data ?? null,
        row.attempt ?? null,
        row.startedAt ?? null,
        row.finishedAt ?? null,
        pos,
      );
    } else if (shape.steps === "many") {
      const w: number[] = [];
      const rows: StepRow[] = [];
      items.forEach((item, i) => {
        for (const row of item.steps) {
          w.push(i + 1);
          rows.push(row);
        }
      });
      if (multi) params.push(w);
      params.push(...stepArrays(rows, pos));
    }
    pos += stepCount;
    if (shape.events) {
      const w: number[] = [];
      const events: StoredEvent[] = [];
      items.forEach((item, i) => {
        for (const event of item.events) {
          w.push(i + 1);
          events.push(event);
        }
      });
      if (multi) params.push(w);
      params.push(...eventArrays(events, pos));
    }
    return { text: this.#writeText(shape), params, direct: shape.direct === true };
  }

  async #flushWrites(items: WriteItem[]): Promise<void> {
    const { text, params, direct } = this.#writeQuery(items, 0);
    const rows = await this.#query<{ w?: number; run_id?: string }>(
      items.length === 1
        ? `record checkpoints of run '${items[0]!.lease.runId}'`
        : `record checkpoints of ${items.length} runs`,
      text,
      params,
    );
    const held = new Set<number>();
    if (direct) {
      const written = new Set<string>();
      for (const row of rows) written.add(row.run_id!);
      items.forEach((item, i) => {
        if (written.has(item.lease.runId)) held.add(i + 1);
      });
    } else {
      for (const row of rows) held.add(row.w!);
    }
    // A plain INSERT writes nothing both when the lease is lost and when every
    // row was done already (a no-op); a lease once lost never comes back, so
    // reading it now tells the two apart exactly.
    // The group is written: a failed check fails its own item, never the group
    // (which must not be sent again).
    const failed = new Map<number, unknown>();
    await Promise.all(items.map(async (item, i) => {
      if (held.has(i + 1) || item.steps.length === 0 || item.events.length > 0) return;
      if (items.length > 1 && !direct) return;
      const lease = item.lease;
      try {
        const [row] = await this.#query(
          `check the lease on run '${lease.runId}'`,
          this.#st.leaseHeld,
          [lease.runId, lease.token],
        );
        if (row) held.add(i + 1);
      } catch (error) {
        failed.set(i + 1, error);
      }
    }));
    for (let w = 0; w < items.length; w++) {
      const item = items[w]!;
      if (held.has(w + 1)) item.resolve();
      else item.reject(failed.get(w + 1) ?? new LeaseLostError(item.lease.runId));
    }
  }

  /** The statement and parameters of a write that moves the run. */
  #transitionQuery(
    lease: Lease,
    batch: WriteBatch & { run: RunTransition },
    now: number,
    pos: number,
  ): { text: string; params: Param[]; notices: DriverNotice["type"][] } {
    const steps = lastRows(batch.steps);
    const common: Param[] = [
      lease.runId,
      lease.token,
      now,
      ...stepArrays(steps, pos),
      ...eventArrays(batch.events ?? [], pos + steps.length),
      this.#channel,
    ];
    const run = batch.run;
    switch (run.status) {
      case "sleeping":
      case "waiting":
        return {
          text: this.#st.suspend,
          params: [
            ...common,
            this.#payload("runnable", lease.runId),
            run.status,
            run.waitingFor ?? [],
            run.dueAt ?? null,
          ],
          notices: ["runnable"],
        };
      case "completed":
        return {
          text: this.#st.complete,
          params: [...common, this.#payload("finished", lease.runId), run.output ?? null],
          notices: ["finished"],
        };
      case "failed":
        return {
          text: this.#st.fail,
          params: [
            ...common,
            this.#payload("finished", lease.runId),
            JSON.stringify(run.error),
          ],
          notices: ["finished"],
        };
      case "running":
        return {
          text: this.#st.release,
          params: [...common, this.#payload("runnable", lease.runId)],
          notices: ["runnable"],
        };
      default:
        throw new TypeError(
          `Cannot write run transition '${
            (run as { status: string }).status
          }': use sleeping, waiting, completed, failed or running`,
        );
    }
  }

  async #transition(lease: Lease, batch: WriteBatch, now: number): Promise<void> {
    const query = this.#transitionQuery(
      lease,
      batch as WriteBatch & { run: RunTransition },
      now,
      0,
    );
    const [row] = await this.#query<{ due_at: number | null; notified: number }>(
      `record the ${batch.run!.status} state of run '${lease.runId}'`,
      query.text,
      query.params,
    );
    if (!row) throw new LeaseLostError(lease.runId);
    if (row.notified > 0) this.#emit(query.notices, lease.runId);
  }

  // ---- signals -----------------------------------------------------------------------

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
    const steps = lastRows(batch.steps);
    const events = batch.events ?? [];
    const what = `take a signal for run '${lease.runId}'`;
    const consume = (
      sql: postgres.Sql | postgres.TransactionSql,
      stepsNow: StepRow[],
      eventsNow: StoredEvent[],
    ) =>
      sql.unsafe(this.#st.consumeSignal, [
        lease.runId,
        lease.token,
        names as string[],
        row.key,
        row.kind,
        row.attempt ?? null,
        row.startedAt ?? null,
        row.finishedAt ?? null,
        ...stepArrays(stepsNow, 1),
        ...eventArrays(eventsNow, 1 + stepsNow.length),
      ] as never[]);
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
    if (!batch.run && !steps.some((step) => step.key === row.key)) {
      try {
        return result(await consume(this.#sql, steps, events));
      } catch (error) {
        throw toStorageError(what, error, this.#secrets);
      }
    }
    // Rare: the batch moves the run, or rewrites the signal's own row. Two
    // statements in one transaction keep the reference order of effects.
    let notices: DriverNotice["type"][] = [];
    try {
      const consumed = await this.#sql.begin(async (tx) => {
        const taken = result(await consume(tx, [], []));
        if (batch.run) {
          const query = this.#transitionQuery(
            lease,
            { ...batch, steps, run: batch.run },
            now,
            1,
          );
          const [moved] = await tx.unsafe(query.text, query.params as never[]);
          if (!moved) throw new LeaseLostError(lease.runId);
          if ((moved.notified as number) > 0) notices = query.notices;
        } else {
          const write = this.#writeQuery([{
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
      if (notices.length > 0) this.#emit(notices, lease.runId);
      return consumed;
    } catch (error) {
      throw toStorageError(what, error, this.#secrets);
    }
  }

  /** Puts a signal in the inbox and wakes a run waiting for it. */
  async sendSignal(
    runId: string,
    name: string,
    payload: string | undefined,
    now: number,
  ): Promise<void> {
    this.#check();
    const detail = signalRowData(name, payload);
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
        ],
      );
      if (row) {
        this.#emit(row.woke ? ["runnable", "signal"] : ["signal"], runId);
        return;
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
  async cancelRun(runId: string, reason: string | undefined, now: number): Promise<StoredRun> {
    this.#check();
    const error = cancelledErrorInfo(runId, reason);
    for (let attempt = 0;; attempt++) {
      const [row] = await this.#query<RunRow>(`cancel run '${runId}'`, this.#st.cancelRun, [
        runId,
        JSON.stringify(error),
        now,
        cancelledDetail(reason) ?? null,
        this.#channel,
        this.#payload("cancelled,finished", runId),
      ]);
      if (row) {
        this.#emit(["cancelled", "finished"], runId, reason);
        return runFromColumns(row);
      }
      const status = await this.#status(runId);
      if (status === undefined) throw new RunNotFoundError(runId);
      if (isFinished(status) || attempt >= 3) throw refusedError("cancel", runId, status);
    }
  }

  /** Makes a failed run claimable again from its failed step. */
  async retryRun(runId: string, now: number): Promise<StoredRun> {
    this.#check();
    const [row] = await this.#query<RunRow>(`retry run '${runId}'`, this.#st.retryRun, [
      runId,
      now,
      this.#channel,
      this.#payload("runnable", runId),
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
  async purge(finishedBefore: number): Promise<number> {
    this.#check();
    const [row] = await this.#query<{ count: number }>(
      "purge finished runs",
      this.#st.purge,
      [finishedBefore],
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
    this.#listen();
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
