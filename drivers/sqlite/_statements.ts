/**
 * The SQL of the SQLite driver, prepared once per connection. Every value is a
 * bound parameter; no SQL text is ever built from a value.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** The columns of `runs` that make a `StoredRun`. */
export const RUN_COLUMNS: string =
  "id, workflow, version, plan_hash, status, labels, created_at, updated_at, due_at, waiting_for, lease_token, lease_owner, input, output, error, recoveries, concurrency_key, rate_key, priority, parent_id, parent_call, deadline_at";

/**
 * The lease check of the journal inserts: `?1` the run's rid, `?2` its token.
 * `running` accepts only a run that is not paused (the hot path); `held` a
 * paused one too (its step in flight is checkpointed). A write refused by the
 * first is tried with the second when the run is paused, and then reports the
 * pause, so an activation learns of a pause at its next checkpoint.
 */
function fence(statuses: string): string {
  return `EXISTS (SELECT 1 FROM runs WHERE rid = ?1 AND lease_token = ?2 AND status IN (${statuses}) AND lease_owner IS NOT NULL)`;
}
const FENCES = { running: fence("'running'"), held: fence("'running', 'paused'") };

/** A transition (`?2` the new status) of a paused run that does not end it sets what it resumes with. */
const STAYS_PAUSED = "(status = 'paused' AND ?2 NOT IN ('completed', 'failed'))";

/** The journal columns written for a row or an event, in binding order. */
const JOURNAL_COLUMNS = "rid, key, kind, state, data, attempt, started_at, at, step";

/** How many journal items one fenced multi-row INSERT takes at most. */
export const MAX_ITEMS_PER_INSERT = 4;

/** The hot path: one checkpoint row (`?3` … `?9`), fenced. */
function journalRow(fence: string): string {
  return `INSERT INTO journal (${JOURNAL_COLUMNS}) SELECT ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL WHERE ${fence}`;
}

/** `items` rows or events of 8 values each (`?3` on), fenced, in order. */
function journalInsert(items: number, fence: string): string {
  const selects: string[] = [];
  for (let i = 0; i < items; i++) {
    const params: string[] = [];
    for (let c = 0; c < 8; c++) params.push(`?${3 + i * 8 + c}`);
    selects.push(`SELECT ?1, ${params.join(", ")} WHERE ${fence}`);
  }
  return `INSERT INTO journal (${JOURNAL_COLUMNS}) ${selects.join(" UNION ALL ")}`;
}

/** Indexes checkpoint rows in write order; a `done` row in force is never replaced. */
function indexSteps(where: string): string {
  return `INSERT INTO steps (rid, key, state, seq)
    SELECT rid, key, state, seq FROM journal WHERE ${where} AND key IS NOT NULL ORDER BY seq
    ON CONFLICT (rid, key) DO UPDATE SET state = excluded.state, seq = excluded.seq
    WHERE steps.state = 'pending'`;
}

function indexEvents(where: string): string {
  return `INSERT OR IGNORE INTO events (rid, seq)
    SELECT rid, seq FROM journal WHERE ${where} AND key IS NULL AND kind IS NOT NULL`;
}

/** Deletes journal rows that lost to a `done` row in force. */
function dropRejected(where: string): string {
  return `DELETE FROM journal WHERE ${where} AND key IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM steps WHERE steps.rid = journal.rid AND steps.key = journal.key
      AND steps.seq = journal.seq)`;
}

const BY_LIST = "seq IN (SELECT value FROM json_each(?1))";
const BY_RANGE = "seq >= ?1 AND rid = ?2";

/** A checkpoint row in force, joined from its index entry. */
const STEP_COLUMNS =
  "s.key, j.kind, s.state, j.data, j.attempt, j.started_at, j.at AS finished_at, s.seq";

/**
 * Due runs in claim order (higher priority first, then due time) without
 * sorting the whole backlog: runs of priority 0 come in order from the
 * due-time index, the others from the partial index `runs_due_priority`;
 * the two short lists are merged. `where` must bound `due_at`.
 */
function byPriority(columns: string, where: string, limit: string): string {
  return `SELECT ${columns} FROM (
      SELECT * FROM (SELECT ${columns}, priority FROM runs
        WHERE ${where} AND due_at IS NOT NULL AND priority <> 0
        ORDER BY priority DESC, due_at LIMIT ${limit})
      UNION ALL
      SELECT * FROM (SELECT ${columns}, priority FROM runs
        WHERE ${where} AND priority = 0 ORDER BY due_at LIMIT ${limit}))
    ORDER BY priority DESC, due_at, rid LIMIT ${limit}`;
}

/** The prepared statements of one connection. */
export class Statements {
  readonly begin: StatementSync;
  readonly commit: StatementSync;
  readonly rollback: StatementSync;
  readonly beginRead: StatementSync;
  readonly savepoint: StatementSync;
  readonly release: StatementSync;
  readonly rollbackTo: StatementSync;
  readonly dataVersion: StatementSync;

  readonly insertRun: StatementSync;
  /** `insertRun` of a run claimed at once (`NewRun.claimFor`, owner ?15, lease expiry ?7). */
  readonly insertClaimedRun: StatementSync;
  readonly getRun: StatementSync;
  readonly fence: StatementSync;
  /**
   * A claim's due runs in two cheap index reads that the driver merges (one
   * compound statement with its sorts cost several times more): those of a
   * non-zero priority (`runs_due_priority`) and those of priority 0 (`runs_due`).
   */
  readonly claimPrioritized: StatementSync;
  readonly claimPlain: StatementSync;
  readonly claimRun: StatementSync;
  readonly nextDue: StatementSync;
  /** Flow control: due candidates outside full keys, by priority (`flowByPriority`) or due time. */
  readonly flowByPriority: StatementSync;
  readonly flowByDue: StatementSync;
  readonly flowRunning: StatementSync;
  readonly flowBegun: StatementSync;
  readonly flowBegin: StatementSync;
  readonly extendLease: StatementSync;
  readonly runState: StatementSync;
  readonly setJournalFrom: StatementSync;
  readonly transition: StatementSync;
  readonly setDue: StatementSync;
  readonly clearRecoveries: StatementSync;
  readonly cancelRun: StatementSync;
  readonly cancelCompensating: StatementSync;
  readonly pauseRun: StatementSync;
  readonly resumeRun: StatementSync;
  readonly setPausedDue: StatementSync;
  readonly retryRun: StatementSync;
  readonly dropPendingRow: StatementSync;
  readonly dropPendingIndex: StatementSync;

  /** One checkpoint row, fenced for a `running` run: the hot path. */
  readonly journalRow: StatementSync;
  /** Journal inserts for 1 … MAX_ITEMS_PER_INSERT rows or events, fenced for a `running` run. */
  readonly journalInsert: StatementSync[];
  /** The same two, fenced for a run that is `running` or `paused`. */
  readonly journalRowHeld: StatementSync;
  readonly journalInsertHeld: StatementSync[];
  /** An event written outside a lease (create, claim, signal, cancel, retry). */
  readonly journalEvent: StatementSync;
  readonly indexEvent: StatementSync;
  readonly journalInitialRow: StatementSync;
  readonly indexStep: StatementSync;
  readonly startedWithRows: StatementSync;
  readonly mergeLabels: StatementSync;
  /** Two events of a lease just taken (`?2` … `?4`, `?5` … `?7`). */
  readonly journalEventPair: StatementSync;
  /** A fold's 1 … MAX_ITEMS_PER_INSERT events by seq (`?1` the rid, `?2` on the seqs). */
  readonly indexEventValues: StatementSync[];
  /** A fold's checkpoint row (`?2` key, `?3` state, `?4` seq); a done row in force stays. */
  readonly indexStepValue: StatementSync;
  /** Deletes a row that `indexStepValue` did not index (`?3` its seq). */
  readonly dropRejectedRow: StatementSync;
  readonly indexStepsByList: StatementSync;
  readonly indexEventsByList: StatementSync;
  readonly dropRejectedByList: StatementSync;
  readonly dropByList: StatementSync;
  readonly indexStepsFrom: StatementSync;
  readonly indexEventsFrom: StatementSync;
  readonly dropRejectedFrom: StatementSync;
  readonly journalFrom: StatementSync;

  readonly stepOne: StatementSync;
  readonly stepMany: StatementSync;
  readonly stepsOfRun: StatementSync;
  readonly eventsOfRun: StatementSync;
  /** Every run's journal rows after a seq (the feed of `watch`). */
  readonly feed: StatementSync;
  readonly feedEnd: StatementSync;

  readonly insertSignal: StatementSync;
  readonly insertSignalId: StatementSync;
  readonly hasSignalId: StatementSync;
  readonly callParent: StatementSync;
  readonly firstSignal: StatementSync;
  readonly deleteSignal: StatementSync;
  /** `?1` rid, `?2` JSON names: removes every inbox entry of those names. */
  readonly dropSignals: StatementSync;
  /** `?1` the most: unfinished `.call` children of failed, cancelled or purged parents. */
  readonly orphanedChildren: StatementSync;
  readonly hasSignal: StatementSync;
  readonly hasSignalNamed: StatementSync;

  readonly purgeStepRows: StatementSync;
  readonly purgeEventRows: StatementSync;
  readonly purgeSteps: StatementSync;
  readonly purgeEvents: StatementSync;
  readonly purgeSignals: StatementSync;
  readonly purgeSignalIds: StatementSync;
  readonly purgeRuns: StatementSync;
  readonly upsertWorker: StatementSync;
  readonly forgetWorkers: StatementSync;
  readonly removeWorker: StatementSync;
  readonly listWorkers: StatementSync;

  constructor(db: DatabaseSync) {
    const p = (sql: string) => db.prepare(sql);
    this.begin = p("BEGIN IMMEDIATE");
    this.commit = p("COMMIT");
    this.rollback = p("ROLLBACK");
    this.beginRead = p("BEGIN");
    this.savepoint = p("SAVEPOINT sluice_write");
    this.release = p("RELEASE sluice_write");
    this.rollbackTo = p("ROLLBACK TO sluice_write");
    this.dataVersion = p("PRAGMA data_version");

    this.insertRun = p(
      `INSERT INTO runs (id, workflow, version, plan_hash, status, labels, created_at, updated_at, due_at, lease_token, input,
         concurrency_key, rate_key, priority, parent_id, parent_call, deadline_at)
       VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?6, ?7, 0, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
       ON CONFLICT (id) DO NOTHING
       RETURNING rid`,
    );
    this.insertClaimedRun = p(
      `INSERT INTO runs (id, workflow, version, plan_hash, status, labels, created_at, updated_at, due_at, lease_token, input,
         concurrency_key, rate_key, priority, parent_id, parent_call, deadline_at, lease_owner,
         journal_from)
       VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?6, ?7, 1, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
         (SELECT coalesce(max(seq), 0) + 1 FROM journal))
       ON CONFLICT (id) DO NOTHING RETURNING rid`,
    );
    this.getRun = p(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?1`);
    this.fence = p(
      "SELECT rid, lease_token, status, lease_owner, journal_from FROM runs WHERE id = ?1",
    );
    const claimColumns = "rid, id, status, lease_owner, journal_from, due_at, priority";
    const claimWhere = "due_at <= ?1 AND +workflow IN (SELECT value FROM json_each(?2))";
    this.claimPrioritized = p(
      `SELECT ${claimColumns} FROM runs
       WHERE ${claimWhere} AND due_at IS NOT NULL AND priority <> 0
       ORDER BY priority DESC, due_at LIMIT ?3`,
    );
    this.claimPlain = p(
      `SELECT ${claimColumns} FROM runs WHERE ${claimWhere} AND priority = 0
       ORDER BY due_at LIMIT ?3`,
    );
    this.claimRun = p(
      `UPDATE runs SET status = 'running', lease_token = lease_token + 1, lease_owner = ?2,
         due_at = ?3, waiting_for = NULL,
         updated_at = CASE WHEN status = 'pending' THEN ?4 ELSE updated_at END,
         recoveries = recoveries + (status = 'running' AND lease_owner IS NOT NULL),
         journal_from = (SELECT coalesce(max(seq), 0) + 1 FROM journal)
       WHERE rid = ?1 RETURNING ${RUN_COLUMNS}`,
    );
    this.nextDue = p(
      `SELECT due_at FROM runs
       WHERE due_at IS NOT NULL AND +workflow IN (SELECT value FROM json_each(?1))
       ORDER BY due_at LIMIT 1`,
    );
    const flowColumns =
      "rid, id, workflow, status, lease_owner, journal_from, due_at, concurrency_key, rate_key, began_at";
    const flowWhere = `due_at <= ?1 AND +workflow IN (SELECT value FROM json_each(?2))
      AND (status = 'running' OR workflow || char(31) || concurrency_key NOT IN
        (SELECT value FROM json_each(?3)))
      AND (status <> 'pending' OR began_at IS NOT NULL OR workflow || char(31) || rate_key NOT IN
        (SELECT value FROM json_each(?4)))`;
    this.flowByPriority = p(byPriority(flowColumns, flowWhere, "?5"));
    this.flowByDue = p(
      `SELECT ${flowColumns} FROM runs WHERE ${flowWhere} ORDER BY due_at, rid LIMIT ?5`,
    );
    // Executing: running, or paused with a step in flight (lease held, not expired).
    this.flowRunning = p(
      `SELECT (SELECT count(*) FROM runs
         WHERE workflow = ?1 AND concurrency_key = ?2 AND status = 'running')
       + (SELECT count(*) FROM runs
         WHERE workflow = ?1 AND concurrency_key = ?2 AND status = 'paused'
           AND lease_owner IS NOT NULL AND paused_due > ?3) AS n`,
    );
    this.flowBegun = p(
      `SELECT count(*) AS n, min(began_at) AS oldest FROM runs
       WHERE workflow = ?1 AND rate_key = ?2 AND began_at > ?3`,
    );
    this.flowBegin = p("UPDATE runs SET began_at = ?2 WHERE rid = ?1");
    this.extendLease = p(
      `UPDATE runs SET due_at = CASE WHEN status = 'paused' THEN NULL ELSE ?3 END,
         paused_due = CASE WHEN status = 'paused' THEN ?3 ELSE paused_due END
       WHERE id = ?1 AND lease_token = ?2 AND status IN ('running', 'paused')
         AND lease_owner IS NOT NULL
       RETURNING rid, status`,
    );
    this.runState = p(
      "SELECT rid, status, waiting_for, error, journal_from, paused_status FROM runs WHERE id = ?1",
    );
    this.setJournalFrom = p(
      "UPDATE runs SET journal_from = (SELECT coalesce(max(seq), 0) + 1 FROM journal) WHERE rid = ?1",
    );
    this.transition = p(
      `UPDATE runs SET status = CASE WHEN ${STAYS_PAUSED} THEN 'paused' ELSE ?2 END,
         paused_status = CASE WHEN ${STAYS_PAUSED} THEN ?2 END,
         paused_due = CASE WHEN ${STAYS_PAUSED} THEN ?4 END,
         due_at = CASE WHEN ${STAYS_PAUSED} THEN NULL ELSE ?4 END,
         updated_at = ?3, lease_owner = NULL, journal_from = NULL, recoveries = 0,
         waiting_for = ?5, output = coalesce(?6, output), error = coalesce(?7, error)
       WHERE rid = ?1
       RETURNING status, CASE WHEN parent_call = 1 THEN parent_id END AS call_parent`,
    );
    this.setDue = p("UPDATE runs SET due_at = ?2 WHERE rid = ?1");
    this.callParent = p("SELECT id, parent_id FROM runs WHERE rid = ?1 AND parent_call = 1");
    this.clearRecoveries = p(
      "UPDATE runs SET recoveries = 0 WHERE rid = ?1 AND lease_token = ?2 AND recoveries > 0",
    );
    this.cancelRun = p(
      `UPDATE runs SET status = 'cancelled', error = ?2, lease_token = lease_token + 1,
         lease_owner = NULL, due_at = NULL, waiting_for = NULL, updated_at = ?3, journal_from = NULL,
         paused_status = NULL, paused_due = NULL
       WHERE rid = ?1 RETURNING ${RUN_COLUMNS}`,
    );
    this.cancelCompensating = p(
      `UPDATE runs SET status = 'running', error = ?2, lease_token = lease_token + 1,
         lease_owner = NULL, due_at = ?3, waiting_for = NULL, updated_at = ?3, journal_from = NULL,
         paused_status = NULL, paused_due = NULL
       WHERE rid = ?1 RETURNING ${RUN_COLUMNS}`,
    );
    this.pauseRun = p(
      `UPDATE runs SET status = 'paused', paused_status = status, paused_due = due_at,
         due_at = NULL, updated_at = ?2
       WHERE rid = ?1 AND status <> 'paused' RETURNING ${RUN_COLUMNS}`,
    );
    this.resumeRun = p(
      `UPDATE runs SET status = paused_status, due_at = paused_due, paused_status = NULL,
         paused_due = NULL, updated_at = ?2
       WHERE rid = ?1 AND status = 'paused' RETURNING ${RUN_COLUMNS}`,
    );
    this.setPausedDue = p("UPDATE runs SET paused_due = ?2 WHERE rid = ?1");
    this.retryRun = p(
      `UPDATE runs SET status = 'pending', error = NULL, due_at = ?2, updated_at = ?2, recoveries = 0,
         deadline_at = ?3
       WHERE rid = ?1 RETURNING ${RUN_COLUMNS}`,
    );
    this.dropPendingRow = p(
      `DELETE FROM journal WHERE seq = (
         SELECT seq FROM steps WHERE rid = ?1 AND key = ?2 AND state = 'pending')`,
    );
    this.dropPendingIndex = p(
      "DELETE FROM steps WHERE rid = ?1 AND key = ?2 AND state = 'pending'",
    );

    this.journalRow = p(journalRow(FENCES.running));
    this.journalRowHeld = p(journalRow(FENCES.held));
    this.journalInsert = [];
    this.journalInsertHeld = [];
    for (let n = 1; n <= MAX_ITEMS_PER_INSERT; n++) {
      this.journalInsert.push(p(journalInsert(n, FENCES.running)));
      this.journalInsertHeld.push(p(journalInsert(n, FENCES.held)));
    }
    this.journalEvent = p(
      "INSERT INTO journal (rid, kind, at, data) VALUES (?1, ?2, ?3, ?4)",
    );
    this.indexEvent = p("INSERT INTO events (rid, seq) VALUES (?1, ?2)");
    this.journalInitialRow = p(
      `INSERT INTO journal (rid, key, kind, state, data, attempt, started_at, at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`,
    );
    this.indexStep = p("INSERT INTO steps (rid, key, state, seq) VALUES (?1, ?2, ?3, ?4)");
    this.startedWithRows = p("UPDATE runs SET lease_token = 1 WHERE rid = ?1");
    this.mergeLabels = p("UPDATE runs SET labels = json_patch(labels, ?2) WHERE rid = ?1");
    this.journalEventPair = p(
      "INSERT INTO journal (rid, kind, at, data) VALUES (?1, ?2, ?3, ?4), (?1, ?5, ?6, ?7)",
    );
    this.indexEventValues = [];
    for (let n = 1; n <= MAX_ITEMS_PER_INSERT; n++) {
      const values = Array.from({ length: n }, (_, i) => `(?1, ?${i + 2})`).join(", ");
      this.indexEventValues.push(p(`INSERT OR IGNORE INTO events (rid, seq) VALUES ${values}`));
    }
    this.indexStepValue = p(
      `INSERT INTO steps (rid, key, state, seq) VALUES (?1, ?2, ?3, ?4)
       ON CONFLICT (rid, key) DO UPDATE SET state = excluded.state, seq = excluded.seq
       WHERE steps.state = 'pending'`,
    );
    this.dropRejectedRow = p(
      `DELETE FROM journal WHERE seq = ?3 AND NOT EXISTS (
         SELECT 1 FROM steps WHERE rid = ?1 AND key = ?2 AND seq = ?3)`,
    );
    this.indexStepsByList = p(indexSteps(BY_LIST));
    this.indexEventsByList = p(indexEvents(BY_LIST));
    this.dropRejectedByList = p(dropRejected(BY_LIST));
    this.dropByList = p(`DELETE FROM journal WHERE ${BY_LIST}`);
    this.indexStepsFrom = p(indexSteps(BY_RANGE));
    this.indexEventsFrom = p(indexEvents(BY_RANGE));
    this.dropRejectedFrom = p(dropRejected(BY_RANGE));
    this.journalFrom = p(
      `SELECT seq, key, kind, state, data, attempt, started_at, at, step FROM journal
       WHERE ${BY_RANGE} AND kind IS NOT NULL ORDER BY seq`,
    );

    this.stepOne = p(
      `SELECT ${STEP_COLUMNS} FROM steps AS s JOIN journal AS j ON j.seq = s.seq
       WHERE s.rid = ?1 AND s.key = ?2`,
    );
    this.stepMany = p(
      `SELECT ${STEP_COLUMNS} FROM steps AS s JOIN journal AS j ON j.seq = s.seq
       WHERE s.rid = ?1 AND s.key IN (SELECT value FROM json_each(?2))`,
    );
    this.stepsOfRun = p(
      `SELECT ${STEP_COLUMNS} FROM steps AS s JOIN journal AS j ON j.seq = s.seq
       WHERE s.rid = ?1 AND s.seq > ?2 ORDER BY s.seq LIMIT ?3`,
    );
    this.eventsOfRun = p(
      `SELECT j.seq, j.kind AS type, j.at, j.step, j.attempt, j.data AS detail
       FROM events AS e JOIN journal AS j ON j.seq = e.seq WHERE e.rid = ?1 AND e.seq > ?2
       ORDER BY e.seq LIMIT ?3`,
    );

    this.feed = p(
      `SELECT j.seq, j.key, j.kind, j.state, j.data, j.attempt, j.started_at, j.at, j.step,
         r.id AS run_id, r.workflow
       FROM journal AS j JOIN runs AS r ON r.rid = j.rid
       WHERE j.seq > ?1 AND j.kind IS NOT NULL ORDER BY j.seq LIMIT ?2`,
    );

    this.feedEnd = p("SELECT max(seq) AS seq FROM journal WHERE kind IS NOT NULL");

    this.insertSignal = p(
      "INSERT INTO signals (rid, seq, name, payload) VALUES (?1, ?2, ?3, ?4)",
    );
    this.insertSignalId = p("INSERT INTO signal_ids (rid, id) VALUES (?1, ?2)");
    this.hasSignalId = p("SELECT 1 AS found FROM signal_ids WHERE rid = ?1 AND id = ?2");
    this.firstSignal = p(
      `SELECT seq, name, payload FROM signals
       WHERE rid = ?1 AND name IN (SELECT value FROM json_each(?2)) ORDER BY seq LIMIT 1`,
    );
    this.deleteSignal = p("DELETE FROM signals WHERE rid = ?1 AND seq = ?2");
    this.orphanedChildren = p(
      `SELECT c.id FROM runs c LEFT JOIN runs p ON p.id = c.parent_id
       WHERE c.parent_call = 1 AND c.status NOT IN ('completed', 'failed', 'cancelled')
         AND c.error IS NULL AND (p.id IS NULL OR p.status IN ('failed', 'cancelled'))
       ORDER BY c.created_at, c.id LIMIT ?1`,
    );
    this.dropSignals = p(
      "DELETE FROM signals WHERE rid = ?1 AND name IN (SELECT value FROM json_each(?2))",
    );
    this.hasSignal = p("SELECT 1 AS found FROM signals WHERE rid = ?1 LIMIT 1");
    this.hasSignalNamed = p(
      `SELECT 1 AS found FROM signals
       WHERE rid = ?1 AND name IN (SELECT value FROM json_each(?2)) LIMIT 1`,
    );

    // The same runs for each statement of one purge (runs are deleted last):
    // `?2` the statuses (JSON), `?3` the most runs (-1: all), oldest first.
    const finished = `SELECT rid FROM runs INDEXED BY runs_finished
      WHERE status IN ('completed', 'failed', 'cancelled') AND updated_at < ?1
        AND +status IN (SELECT value FROM json_each(?2))
      ORDER BY updated_at, rid LIMIT ?3`;
    this.purgeStepRows = p(
      `DELETE FROM journal WHERE seq IN (SELECT seq FROM steps WHERE rid IN (${finished}))`,
    );
    this.purgeEventRows = p(
      `DELETE FROM journal WHERE seq IN (SELECT seq FROM events WHERE rid IN (${finished}))`,
    );
    this.purgeSteps = p(`DELETE FROM steps WHERE rid IN (${finished})`);
    this.purgeEvents = p(`DELETE FROM events WHERE rid IN (${finished})`);
    this.purgeSignals = p(`DELETE FROM signals WHERE rid IN (${finished})`);
    this.purgeSignalIds = p(`DELETE FROM signal_ids WHERE rid IN (${finished})`);
    this.purgeRuns = p(`DELETE FROM runs WHERE rid IN (${finished})`);
    this.upsertWorker = p(
      `INSERT OR REPLACE INTO workers (id, host, pid, started_at, last_seen, heartbeat_ms, serves)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`,
    );
    this.forgetWorkers = p("DELETE FROM workers WHERE last_seen < ?1");
    this.removeWorker = p("DELETE FROM workers WHERE id = ?1");
    this.listWorkers = p(
      `SELECT id, host, pid, started_at, last_seen, heartbeat_ms, serves FROM workers ORDER BY id`,
    );
  }
}
