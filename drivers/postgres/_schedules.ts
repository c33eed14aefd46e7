/**
 * The `schedules` table of the PostgreSQL driver: its migration, its
 * statements (every value a bound parameter) and its row decoder. Claims use
 * `FOR UPDATE SKIP LOCKED`; a change is one transaction with the runs it
 * creates. `PostgresScheduleStore` is the driver's `scheduleStore`.
 *
 * @module
 */
import type { DriverNotice, NewRun } from "../../lib/driver.ts";
import type {
  NewSchedule,
  ScheduleChange,
  ScheduleClaimOptions,
  ScheduleStore,
  StoredSchedule,
} from "../../lib/schedule_store.ts";

/** The migration that adds the table, for schema `s` (already quoted). */
export function schedulesMigration(s: string): {
  version: number;
  name: string;
  statements: string[];
} {
  return {
    version: 3,
    name: "schedules",
    statements: [
      `CREATE TABLE ${s}.schedules (
        id text COLLATE "C" PRIMARY KEY,
        workflow text COLLATE "C" NOT NULL,
        spec text NOT NULL,
        source text NOT NULL,
        input_fn boolean NOT NULL,
        paused boolean NOT NULL DEFAULT false,
        next_at bigint NOT NULL,
        last_slot bigint,
        last_run_id text,
        skipped bigint NOT NULL DEFAULT 0,
        rev bigint NOT NULL DEFAULT 1,
        claimed_until bigint,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      )`,
      `CREATE INDEX schedules_due ON ${s}.schedules (next_at) WHERE NOT paused`,
    ],
  };
}

const COLUMNS =
  "id, workflow, spec, source, input_fn, paused, next_at, last_slot, last_run_id, skipped, rev, claimed_until, created_at, updated_at";

/** The statements of schema `s` (already quoted). */
export interface ScheduleStatements {
  /** `$1…$6` the row, `$7` now, `$8` channel, `$9` payload. */
  insert: string;
  /** `$1` id. */
  get: string;
  list: string;
  /** `$1` now, `$2` until, `$3` limit, `$4` workflows, `$5` function ids. */
  claim: string;
  /** `$1` workflows, `$2` function ids. */
  nextAt: string;
  /** `$1` id, `$2` rev, `$3…$11` fields, `$12` now, `$13` channel, `$14` payload. */
  change: string;
  /** `$1` id, `$2` channel, `$3` payload. */
  delete: string;
}

/** The statements of schema `s` (already quoted). */
export function scheduleStatements(s: string): ScheduleStatements {
  const firedBy =
    `NOT paused AND workflow = ANY($4::text[]) AND (NOT input_fn OR id = ANY($5::text[]))`;
  return {
    insert: `WITH ins AS (
        INSERT INTO ${s}.schedules (id, workflow, spec, source, input_fn, next_at, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
        ON CONFLICT (id) DO NOTHING
        RETURNING ${COLUMNS}
      ),
      n AS (SELECT pg_notify($8, $9) FROM ins)
      SELECT true AS created, ${COLUMNS}, (SELECT count(*) FROM n)::int AS notified FROM ins
      UNION ALL
      SELECT false, ${COLUMNS}, 0 FROM ${s}.schedules
      WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
    get: `SELECT ${COLUMNS} FROM ${s}.schedules WHERE id = $1`,
    list: `SELECT ${COLUMNS} FROM ${s}.schedules ORDER BY id`,
    claim: `UPDATE ${s}.schedules AS t SET claimed_until = $2, rev = t.rev + 1
      FROM (
        SELECT id FROM ${s}.schedules
        WHERE ${firedBy} AND next_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
        ORDER BY next_at
        LIMIT $3
        FOR UPDATE SKIP LOCKED
      ) AS c
      WHERE t.id = c.id
      RETURNING ${COLUMNS.split(", ").map((c) => `t.${c}`).join(", ")}`,
    nextAt: `SELECT min(greatest(next_at, coalesce(claimed_until, next_at))) AS at
      FROM ${s}.schedules
      WHERE ${firedBy.replace("$4", "$1").replace("$5", "$2")}`,
    change: `WITH up AS (
        UPDATE ${s}.schedules SET
          workflow = coalesce($3, workflow),
          spec = coalesce($4, spec),
          source = coalesce($5, source),
          input_fn = coalesce($6, input_fn),
          paused = coalesce($7, paused),
          next_at = coalesce($8, next_at),
          last_slot = coalesce($9, last_slot),
          last_run_id = coalesce($10, last_run_id),
          skipped = skipped + $11,
          claimed_until = NULL,
          rev = rev + 1,
          updated_at = $12
        WHERE id = $1 AND rev = $2
        RETURNING ${COLUMNS}
      ),
      n AS (SELECT pg_notify($13, $14) FROM up)
      SELECT ${COLUMNS}, (SELECT count(*) FROM n)::int AS notified FROM up`,
    delete: `WITH del AS (DELETE FROM ${s}.schedules WHERE id = $1 RETURNING id),
      n AS (SELECT pg_notify($2, $3) FROM del)
      SELECT id, (SELECT count(*) FROM n)::int AS notified FROM del`,
  };
}

/** A row of `schedules` as `npm:postgres` returns it (bigint columns as strings). */
export interface ScheduleRow {
  id: string;
  workflow: string;
  spec: string;
  source: string;
  input_fn: boolean;
  paused: boolean;
  next_at: string | number;
  last_slot: string | number | null;
  last_run_id: string | null;
  skipped: string | number;
  rev: string | number;
  claimed_until: string | number | null;
  created_at: string | number;
  updated_at: string | number;
}

/** Decodes a row of `schedules`. */
export function scheduleFromRow(r: ScheduleRow): StoredSchedule {
  const row: StoredSchedule = {
    id: r.id,
    workflow: r.workflow,
    spec: r.spec,
    source: r.source === "declared" ? "declared" : "dynamic",
    inputFunction: r.input_fn,
    paused: r.paused,
    nextAt: Number(r.next_at),
    skipped: Number(r.skipped),
    rev: Number(r.rev),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
  if (r.last_slot !== null) row.lastSlot = Number(r.last_slot);
  if (r.last_run_id !== null) row.lastRunId = r.last_run_id;
  if (r.claimed_until !== null) row.claimedUntil = Number(r.claimed_until);
  return row;
}

/** What the schedule store needs from the driver. */
export interface PostgresScheduleHost {
  /** Throws `InvalidStateError` when the driver is closed. */
  check(): void;
  /** Runs one statement (migrating first); errors become `StorageError`. */
  query<T>(what: string, text: string, params: readonly unknown[]): Promise<T[]>;
  /** Runs statements in one transaction (migrating first); errors become `StorageError`. */
  transaction<T>(what: string, fn: (tx: TxQuery) => Promise<T>): Promise<T>;
  /** The `createRuns` statement and its parameters (`$1…$13`) for some runs. */
  createRuns(runs: readonly NewRun[], now: number): { text: string; params: unknown[] };
  /** The `NOTIFY` channel and the payload of a notice. */
  channel: string;
  payload(type: string, id?: string): string;
  /** Reports a notice to this process's listeners. */
  emit(type: DriverNotice["type"], id: string): void;
}

/** One statement inside a transaction. */
export type TxQuery = <T>(text: string, params: readonly unknown[]) => Promise<T[]>;

/** `ScheduleStore` on PostgreSQL. */
export class PostgresScheduleStore implements ScheduleStore {
  readonly #host: PostgresScheduleHost;
  readonly #st: ScheduleStatements;

  constructor(host: PostgresScheduleHost, schema: string) {
    this.#host = host;
    this.#st = scheduleStatements(schema);
  }

  async #rows(what: string, text: string, params: readonly unknown[]): Promise<StoredSchedule[]> {
    this.#host.check();
    return (await this.#host.query<ScheduleRow>(what, text, params)).map(scheduleFromRow);
  }

  async insertSchedule(
    schedule: NewSchedule,
    now: number,
  ): Promise<{ schedule: StoredSchedule; created: boolean }> {
    this.#host.check();
    const [row] = await this.#host.query<ScheduleRow & { created: boolean }>(
      `insert schedule '${schedule.id}'`,
      this.#st.insert,
      [
        schedule.id,
        schedule.workflow,
        schedule.spec,
        schedule.source,
        schedule.inputFunction,
        schedule.nextAt,
        now,
        this.#host.channel,
        this.#host.payload("schedule", schedule.id),
      ],
    );
    if (row === undefined) {
      // Inserted by a concurrent transaction after this statement's snapshot.
      const existing = await this.getSchedule(schedule.id);
      if (existing) return { schedule: existing, created: false };
      return await this.insertSchedule(schedule, now);
    }
    if (row.created) this.#host.emit("schedule", schedule.id);
    return { schedule: scheduleFromRow(row), created: row.created };
  }

  async getSchedule(id: string): Promise<StoredSchedule | undefined> {
    return (await this.#rows(`read schedule '${id}'`, this.#st.get, [id]))[0];
  }

  listSchedules(): Promise<StoredSchedule[]> {
    return this.#rows("list schedules", this.#st.list, []);
  }

  /** One `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`. */
  claimSchedules(options: ScheduleClaimOptions): Promise<StoredSchedule[]> {
    return this.#rows("claim schedules", this.#st.claim, [
      options.now,
      options.now + options.leaseMs,
      options.limit,
      options.workflows,
      options.functionIds,
    ]);
  }

  async nextScheduleAt(
    workflows: readonly string[],
    functionIds: readonly string[],
  ): Promise<number | undefined> {
    this.#host.check();
    const [row] = await this.#host.query<{ at: string | number | null }>(
      "read the next schedule",
      this.#st.nextAt,
      [workflows, functionIds],
    );
    return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
  }

  /** The change, and its runs when it applies, in one transaction. */
  async changeSchedule(change: ScheduleChange, now: number): Promise<StoredSchedule | undefined> {
    this.#host.check();
    const params = [
      change.id,
      change.rev,
      change.workflow ?? null,
      change.spec ?? null,
      change.source ?? null,
      change.inputFunction ?? null,
      change.paused ?? null,
      change.nextAt ?? null,
      change.lastSlot ?? null,
      change.lastRunId ?? null,
      change.skipped ?? 0,
      now,
      this.#host.channel,
      this.#host.payload("schedule", change.id),
    ];
    const runs = change.runs ?? [];
    const what = `change schedule '${change.id}'`;
    let created: string[] = [];
    let row: ScheduleRow | undefined;
    if (runs.length === 0) {
      [row] = await this.#host.query<ScheduleRow>(what, this.#st.change, params);
    } else {
      row = await this.#host.transaction(what, async (tx) => {
        const [changed] = await tx<ScheduleRow>(this.#st.change, params);
        if (changed === undefined) return undefined;
        const { text, params: runParams } = this.#host.createRuns(runs, now);
        const inserted = await tx<{ id: string; created: boolean }>(text, runParams);
        created = inserted.filter((r) => r.created).map((r) => r.id);
        return changed;
      });
    }
    if (row === undefined) return undefined;
    this.#host.emit("schedule", change.id);
    for (const id of created) this.#host.emit("runnable", id);
    return scheduleFromRow(row);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    this.#host.check();
    const rows = await this.#host.query(`delete schedule '${id}'`, this.#st.delete, [
      id,
      this.#host.channel,
      this.#host.payload("schedule", id),
    ]);
    if (rows.length > 0) this.#host.emit("schedule", id);
    return rows.length > 0;
  }
}
