/**
 * The `schedules` table of the SQLite driver: its SQL (every value bound), the
 * row decoder, and the `ScheduleStore` methods. Each write is one job of the
 * driver's write queue, so a claim or a change (with the runs it creates) is
 * one transaction.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { NewRun } from "../../lib/driver.ts";
import type {
  NewSchedule,
  ScheduleChange,
  ScheduleClaimOptions,
  ScheduleStore,
  StoredSchedule,
} from "../../lib/schedule_store.ts";
import type { WriteQueue } from "./_queue.ts";

/** The migration that adds the table (schema version 3). */
export const SCHEDULES_MIGRATION = `
  CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    spec TEXT NOT NULL,
    source TEXT NOT NULL,
    input_fn INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_slot INTEGER,
    last_run_id TEXT,
    skipped INTEGER NOT NULL DEFAULT 0,
    rev INTEGER NOT NULL DEFAULT 1,
    claimed_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX schedules_due ON schedules (next_at) WHERE paused = 0;
`;

const COLUMNS =
  "id, workflow, spec, source, input_fn, paused, next_at, last_slot, last_run_id, skipped, rev, claimed_until, created_at, updated_at";

/** Schedules this process fires: `?` workflows and `?` function ids, as JSON arrays. */
const FIRED_BY = `paused = 0
  AND workflow IN (SELECT value FROM json_each(:workflows))
  AND (input_fn = 0 OR id IN (SELECT value FROM json_each(:functionIds)))`;

const CLAIMABLE = `${FIRED_BY} AND next_at <= :now
  AND (claimed_until IS NULL OR claimed_until <= :now)`;

interface ScheduleRow {
  id: string;
  workflow: string;
  spec: string;
  source: string;
  input_fn: number;
  paused: number;
  next_at: number;
  last_slot: number | null;
  last_run_id: string | null;
  skipped: number;
  rev: number;
  claimed_until: number | null;
  created_at: number;
  updated_at: number;
}

/** Decodes a row of `schedules`. */
export function scheduleFromRow(r: ScheduleRow): StoredSchedule {
  const row: StoredSchedule = {
    id: r.id,
    workflow: r.workflow,
    spec: r.spec,
    source: r.source === "declared" ? "declared" : "dynamic",
    inputFunction: r.input_fn !== 0,
    paused: r.paused !== 0,
    nextAt: r.next_at,
    skipped: r.skipped,
    rev: r.rev,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.last_slot !== null) row.lastSlot = r.last_slot;
  if (r.last_run_id !== null) row.lastRunId = r.last_run_id;
  if (r.claimed_until !== null) row.claimedUntil = r.claimed_until;
  return row;
}

/** The prepared statements of `schedules`, made on first use. */
export class ScheduleStatements {
  readonly insert: StatementSync;
  readonly get: StatementSync;
  readonly list: StatementSync;
  readonly anyDue: StatementSync;
  readonly claim: StatementSync;
  readonly nextAt: StatementSync;
  readonly change: StatementSync;
  readonly delete: StatementSync;

  constructor(db: DatabaseSync) {
    this.insert = db.prepare(
      `INSERT INTO schedules (id, workflow, spec, source, input_fn, next_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
    );
    this.get = db.prepare(`SELECT ${COLUMNS} FROM schedules WHERE id = ?`);
    this.list = db.prepare(`SELECT ${COLUMNS} FROM schedules ORDER BY id`);
    this.anyDue = db.prepare(`SELECT 1 FROM schedules WHERE ${CLAIMABLE} LIMIT 1`);
    this.claim = db.prepare(
      `UPDATE schedules SET claimed_until = :until, rev = rev + 1
       WHERE id IN (SELECT id FROM schedules WHERE ${CLAIMABLE} ORDER BY next_at LIMIT :limit)
       RETURNING ${COLUMNS}`,
    );
    this.nextAt = db.prepare(
      `SELECT MIN(MAX(next_at, COALESCE(claimed_until, next_at))) AS at FROM schedules
       WHERE ${FIRED_BY}`,
    );
    this.change = db.prepare(
      `UPDATE schedules SET
         workflow = COALESCE(:workflow, workflow),
         spec = COALESCE(:spec, spec),
         source = COALESCE(:source, source),
         input_fn = COALESCE(:inputFn, input_fn),
         paused = COALESCE(:paused, paused),
         next_at = COALESCE(:nextAt, next_at),
         last_slot = COALESCE(:lastSlot, last_slot),
         last_run_id = COALESCE(:lastRunId, last_run_id),
         skipped = skipped + :skipped,
         claimed_until = NULL,
         rev = rev + 1,
         updated_at = :now
       WHERE id = :id AND rev = :rev
       RETURNING ${COLUMNS}`,
    );
    this.delete = db.prepare("DELETE FROM schedules WHERE id = ? RETURNING id");
  }

  /** Inserts unless the id exists. */
  insertRow(s: NewSchedule, now: number): StoredSchedule | undefined {
    const r = this.insert.get(
      s.id,
      s.workflow,
      s.spec,
      s.source,
      s.inputFunction ? 1 : 0,
      s.nextAt,
      now,
      now,
    ) as ScheduleRow | undefined;
    return r && scheduleFromRow(r);
  }

  getRow(id: string): StoredSchedule | undefined {
    const r = this.get.get(id) as ScheduleRow | undefined;
    return r && scheduleFromRow(r);
  }

  listRows(): StoredSchedule[] {
    return (this.list.all() as unknown as ScheduleRow[]).map(scheduleFromRow);
  }

  /** Whether a claim would find anything (a read: no write lock while idle). */
  anyClaimable(o: ScheduleClaimOptions): boolean {
    return this.anyDue.get(firedByParams(o.workflows, o.functionIds, o.now)) !== undefined;
  }

  claimRows(o: ScheduleClaimOptions): StoredSchedule[] {
    const rows = this.claim.all({
      ...firedByParams(o.workflows, o.functionIds, o.now),
      until: o.now + o.leaseMs,
      limit: o.limit,
    }) as unknown as ScheduleRow[];
    return rows.map(scheduleFromRow);
  }

  nextRowAt(workflows: readonly string[], functionIds: readonly string[]): number | undefined {
    const { now: _, ...params } = firedByParams(workflows, functionIds, 0);
    const r = this.nextAt.get(params) as { at: number | null } | undefined;
    return r?.at ?? undefined;
  }

  changeRow(c: ScheduleChange, now: number): StoredSchedule | undefined {
    const r = this.change.get({
      id: c.id,
      rev: c.rev,
      workflow: c.workflow ?? null,
      spec: c.spec ?? null,
      source: c.source ?? null,
      inputFn: c.inputFunction === undefined ? null : c.inputFunction ? 1 : 0,
      paused: c.paused === undefined ? null : c.paused ? 1 : 0,
      nextAt: c.nextAt ?? null,
      lastSlot: c.lastSlot ?? null,
      lastRunId: c.lastRunId ?? null,
      skipped: c.skipped ?? 0,
      now,
    }) as ScheduleRow | undefined;
    return r && scheduleFromRow(r);
  }

  deleteRow(id: string): boolean {
    return this.delete.get(id) !== undefined;
  }
}

function firedByParams(
  workflows: readonly string[],
  functionIds: readonly string[],
  now: number,
): { workflows: string; functionIds: string; now: number } {
  return { workflows: JSON.stringify(workflows), functionIds: JSON.stringify(functionIds), now };
}

/** What the schedule store needs from the driver. */
export interface ScheduleStoreHost {
  /** The driver's write queue: a job is one transaction. */
  queue: WriteQueue;
  /** The open connection (after `queue.enqueue` / `queue.read` made it ready). */
  db(): DatabaseSync;
  /** Inserts a run as `createRun` does, inside the current job. */
  insertRun(run: NewRun, now: number): void;
}

/** `ScheduleStore` on the driver's connection and write queue. */
export class SqliteScheduleStore implements ScheduleStore {
  readonly #host: ScheduleStoreHost;
  #statements: ScheduleStatements | undefined;
  #db: DatabaseSync | undefined;

  constructor(host: ScheduleStoreHost) {
    this.#host = host;
  }

  #s(): ScheduleStatements {
    const db = this.#host.db();
    if (this.#db !== db) {
      this.#statements = new ScheduleStatements(db);
      this.#db = db;
    }
    return this.#statements!;
  }

  insertSchedule(
    schedule: NewSchedule,
    now: number,
  ): Promise<{ schedule: StoredSchedule; created: boolean }> {
    return this.#host.queue.enqueue(() => {
      const inserted = this.#s().insertRow(schedule, now);
      if (inserted === undefined) {
        return { schedule: this.#s().getRow(schedule.id)!, created: false };
      }
      this.#host.queue.notify("schedule", schedule.id);
      return { schedule: inserted, created: true };
    });
  }

  getSchedule(id: string): Promise<StoredSchedule | undefined> {
    return this.#host.queue.read(() => this.#s().getRow(id));
  }

  listSchedules(): Promise<StoredSchedule[]> {
    return this.#host.queue.read(() => this.#s().listRows());
  }

  /** Reads first, so an idle claim takes no write lock. */
  async claimSchedules(options: ScheduleClaimOptions): Promise<StoredSchedule[]> {
    if (!(await this.#host.queue.read(() => this.#s().anyClaimable(options)))) return [];
    return await this.#host.queue.enqueue(() => this.#s().claimRows(options));
  }

  nextScheduleAt(
    workflows: readonly string[],
    functionIds: readonly string[],
  ): Promise<number | undefined> {
    return this.#host.queue.read(() => this.#s().nextRowAt(workflows, functionIds));
  }

  /** The change and its runs in one job: one transaction. */
  changeSchedule(change: ScheduleChange, now: number): Promise<StoredSchedule | undefined> {
    return this.#host.queue.enqueue(() => {
      const changed = this.#s().changeRow(change, now);
      if (changed === undefined) return undefined;
      for (const run of change.runs ?? []) this.#host.insertRun(run, now);
      this.#host.queue.notify("schedule", change.id);
      return changed;
    });
  }

  deleteSchedule(id: string): Promise<boolean> {
    return this.#host.queue.enqueue(() => {
      const deleted = this.#s().deleteRow(id);
      if (deleted) this.#host.queue.notify("schedule", id);
      return deleted;
    });
  }
}
