/**
 * The versioned schema of the SQLite driver. The version lives in
 * `PRAGMA user_version`; migrations run under `BEGIN IMMEDIATE`, so when
 * several processes open a new file at once, one applies them and the others
 * find the work done.
 *
 * Tables (every per-run table is keyed by the run's integer `rid`, which keeps
 * keys short and the fenced lookup a single rowid search):
 *
 * - `runs`: one row per run. `due_at` orders claims (partial index);
 *   `journal_from` is set while a lease holder may have rows in the journal
 *   that are not yet folded into `steps` / `events`; `recoveries` counts
 *   takeovers since the run last wrote anything. Flow control adds
 *   `concurrency_key`, `rate_key` and `priority` (set at start) and
 *   `began_at` (the first claim under a rate limit).
 * - `journal`: every checkpoint row and history event, keyed by `seq` (its
 *   rowid: the global write order that orders each run's history, and the
 *   feed's cursor). Since version 11 no seq is reused: deleting the newest
 *   row leaves a marker row (rid 0) at its seq, and `journal_end` holds the
 *   marker's seq so the next one replaces it. A worker
 *   appends its rows here with one fenced statement per write; rows of many
 *   runs land on the same B-tree pages, which is what makes group commit pay.
 * - `steps`: the per-run index of checkpoint rows, `(rid, key)` → the `seq` of
 *   the row in force (and its state, for "a done row is never replaced").
 *   A worker's rows are indexed ("folded") when the run suspends, finishes,
 *   hands its lease back or heartbeats, or after many rows; a row replaced
 *   by a newer one is deleted from the journal then.
 * - `events`: the per-run index of history events, `(rid, seq)`.
 * - `signals`: each run's inbox per `(rid, seq)`, in send order.
 * - `schedules`: one row per schedule (version 3; see `_schedules.ts`).
 * - `signal_ids`: per `(rid, id)`, the id of each signal with an id a run took
 *   (version 9), kept after it is consumed, so a repeat stays a no-op.
 * - `runs.deadline_at` (version 10): a run's deadline under a workflow timeout.
 * - `run_labels`: one row per run and label, in `list` page order per label
 *   (version 12), kept by triggers on `runs`.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { StorageError } from "../../lib/errors.ts";
import { SCHEDULES_MIGRATION } from "./_schedules.ts";

/** Every migration, in order; migration `i` brings the schema to version `i + 1`. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    version TEXT NOT NULL,
    plan_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    labels TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    due_at INTEGER,
    waiting_for TEXT,
    lease_token INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    journal_from INTEGER,
    input TEXT,
    output TEXT,
    error TEXT
  );
  CREATE INDEX runs_due ON runs (due_at, workflow) WHERE due_at IS NOT NULL;
  CREATE INDEX runs_created ON runs (created_at, id);
  CREATE INDEX runs_finished ON runs (updated_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

  CREATE TABLE journal (
    seq INTEGER PRIMARY KEY,
    rid INTEGER NOT NULL,
    key TEXT,
    kind TEXT,
    state TEXT,
    data TEXT,
    attempt INTEGER,
    started_at INTEGER,
    at INTEGER,
    step TEXT
  );

  CREATE TABLE steps (
    rid INTEGER NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (rid, key)
  ) WITHOUT ROWID;
  CREATE TRIGGER steps_superseded AFTER UPDATE OF seq ON steps WHEN OLD.seq <> NEW.seq
  BEGIN
    DELETE FROM journal WHERE seq = OLD.seq;
  END;

  CREATE TABLE events (
    rid INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (rid, seq)
  ) WITHOUT ROWID;

  CREATE TABLE signals (
    rid INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    payload TEXT,
    PRIMARY KEY (rid, seq)
  ) WITHOUT ROWID;
  `,
  // 2: takeovers since the run last wrote anything (maxRecoveries).
  `ALTER TABLE runs ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;`,
  // 3: schedules (drivers/sqlite/_schedules.ts).
  SCHEDULES_MIGRATION,
  // 4: pause and resume: what a paused run resumes with.
  `ALTER TABLE runs ADD COLUMN paused_status TEXT;
   ALTER TABLE runs ADD COLUMN paused_due INTEGER;`,
  // 5: flow control. Keys computed at start, the claim priority, and when the
  // run began under a rate limit; partial indexes keep the claim's counts short.
  `
  ALTER TABLE runs ADD COLUMN concurrency_key TEXT NOT NULL DEFAULT '';
  ALTER TABLE runs ADD COLUMN rate_key TEXT NOT NULL DEFAULT '';
  ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE runs ADD COLUMN began_at INTEGER;
  CREATE INDEX runs_flow_running ON runs (workflow, concurrency_key) WHERE status = 'running';
  CREATE INDEX runs_flow_began ON runs (workflow, rate_key, began_at) WHERE began_at IS NOT NULL;
  `,
  // 6: child runs (.call / .spawn): the parent, and whether it waits for the child.
  `ALTER TABLE runs ADD COLUMN parent_id TEXT;
   ALTER TABLE runs ADD COLUMN parent_call INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX runs_parent ON runs (parent_id, created_at) WHERE parent_id IS NOT NULL;`,
  // 7: claims by priority: runs of a non-zero priority in claim order (the
  // others come from runs_due in due order), so no claim sorts the backlog.
  `CREATE INDEX runs_due_priority ON runs (priority DESC, due_at)
     WHERE due_at IS NOT NULL AND priority <> 0;`,
  // 8: worker heartbeat rows (workers()).
  `CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    serves TEXT NOT NULL
  ) WITHOUT ROWID;`,
  // 9: signal ids: each id a run took (a signal with an id is delivered at most once per run).
  `CREATE TABLE signal_ids (
    rid INTEGER NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (rid, id)
  ) WITHOUT ROWID;`,
  // 10: the deadline of a run under a workflow timeout, from its start (or retry).
  `ALTER TABLE runs ADD COLUMN deadline_at INTEGER;`,
  // 11: journal seqs are never reused. A rowid takes max + 1, so deleting the
  // newest rows (a purge, a dropped row) would hand their seqs out again, to
  // rows a feed cursor already passed. Deleting the newest row leaves a marker
  // row (rid 0, no kind: neither a run's history nor the feed) at its seq; the
  // one marker before it goes (AUTOINCREMENT would cost every insert instead).
  `CREATE TABLE journal_end (seq INTEGER PRIMARY KEY);
  CREATE TRIGGER journal_keeps_its_end AFTER DELETE ON journal
  WHEN NOT EXISTS (SELECT 1 FROM journal WHERE seq > OLD.seq)
  BEGIN
    INSERT INTO journal (seq, rid) VALUES (OLD.seq, 0);
    DELETE FROM journal WHERE seq IN (SELECT seq FROM journal_end);
    DELETE FROM journal_end;
    INSERT INTO journal_end (seq) VALUES (OLD.seq);
  END;`,
  // 12: list pages at any size (drivers/sqlite/_list.ts): by status and by
  // workflow in page order, and one row per run and label, kept by triggers.
  `CREATE INDEX runs_status_created ON runs (status, created_at, id);
   CREATE INDEX runs_workflow_created ON runs (workflow, created_at, id);
   CREATE TABLE run_labels (
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     id TEXT NOT NULL,
     rid INTEGER NOT NULL,
     PRIMARY KEY (key, value, created_at, id)
   ) WITHOUT ROWID;
   INSERT INTO run_labels (key, value, created_at, id, rid)
     SELECT l.key, l.value, runs.created_at, runs.id, runs.rid FROM runs, json_each(runs.labels) AS l;
   CREATE TRIGGER run_labels_insert AFTER INSERT ON runs WHEN NEW.labels <> '{}' BEGIN
     INSERT INTO run_labels (key, value, created_at, id, rid)
       SELECT key, value, NEW.created_at, NEW.id, NEW.rid FROM json_each(NEW.labels);
   END;
   CREATE TRIGGER run_labels_update AFTER UPDATE OF labels, created_at, id ON runs BEGIN
     DELETE FROM run_labels WHERE (key, value, created_at, id) IN
       (SELECT key, value, OLD.created_at, OLD.id FROM json_each(OLD.labels));
     INSERT INTO run_labels (key, value, created_at, id, rid)
       SELECT key, value, NEW.created_at, NEW.id, NEW.rid FROM json_each(NEW.labels);
   END;
   CREATE TRIGGER run_labels_delete AFTER DELETE ON runs WHEN OLD.labels <> '{}' BEGIN
     DELETE FROM run_labels WHERE (key, value, created_at, id) IN
       (SELECT key, value, OLD.created_at, OLD.id FROM json_each(OLD.labels));
   END;`,
  // 13: unfinished .call children, for the sweep that cancels those of ended parents.
  `CREATE INDEX runs_call_open ON runs (created_at, id)
     WHERE parent_call = 1 AND status NOT IN ('completed', 'failed', 'cancelled');`,
  // 14: a paused run whose step is still in flight (its lease held) counts
  // toward its concurrency limit until that step is checkpointed.
  `CREATE INDEX runs_flow_paused ON runs (workflow, concurrency_key)
     WHERE status = 'paused' AND lease_owner IS NOT NULL;`,
  // 15: no index on created_at alone: an unfiltered list merges the pages of
  // runs_status_created per status (drivers/sqlite/_list.ts), and a new run
  // writes one B-tree page fewer at start.
  `DROP INDEX runs_created;`,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** Reads `PRAGMA user_version`. */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number } | undefined;
  return row?.user_version ?? 0;
}

function checkNotNewer(version: number, path: string): void {
  if (version > SCHEMA_VERSION) {
    throw new StorageError(
      `Cannot use SQLite database '${path}' with schema version ${version}: this Sluice knows versions up to ${SCHEMA_VERSION}, so upgrade Sluice`,
    );
  }
}

/**
 * Brings the schema up to {@linkcode SCHEMA_VERSION}. Safe when several
 * connections (in several processes) do it at once: the version is read and
 * the migrations applied inside one `BEGIN IMMEDIATE` transaction.
 */
export function migrateSchema(db: DatabaseSync, path: string): void {
  const seen = schemaVersion(db);
  checkNotNewer(seen, path);
  if (seen === SCHEMA_VERSION) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    const version = schemaVersion(db);
    checkNotNewer(version, path);
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    // PRAGMA takes no bound parameters; the value is a constant of this module.
    if (version < SCHEMA_VERSION) db.exec(`PRAGMA user_version = ${SCHEMA_VERSION | 0}`);
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}
