/**
 * Every statement the PostgreSQL driver runs but the fenced checkpoint writes
 * (`_sql_write.ts`) and the migrations (`_migrations.ts`), with the SQL
 * fragments they share. Identifiers are the validated schema name,
 * double-quoted; every value is a bound parameter (`$n`).
 *
 * @module
 */
import { CHILD_SIGNAL_PREFIX } from "../../lib/driver.ts";

/** Statuses after which a run never changes (but for a retry). */
export const FINISHED = "('completed', 'failed', 'cancelled')";

/**
 * Due runs of schema `s` in claim order (higher priority first, then due
 * time), locked with `SKIP LOCKED`, without sorting the whole backlog: runs of
 * priority 0 come in order from `runs_due`, the others from the partial index
 * `runs_due_priority`; the two short lists are merged (a claim may lock up to
 * twice `limit` rows for the length of its statement). `where` (alias `r`)
 * must bound `due_at`.
 */
export function byPriority(s: string, columns: string, where: string, limit: string): string {
  return `WITH hi AS (SELECT ${columns}, r.priority FROM ${s}.runs r
        WHERE ${where} AND r.due_at IS NOT NULL AND r.priority <> 0
        ORDER BY r.priority DESC, r.due_at, r.id LIMIT ${limit} FOR UPDATE SKIP LOCKED),
      lo AS (SELECT ${columns}, r.priority FROM ${s}.runs r
        WHERE ${where} AND r.priority = 0
        ORDER BY r.due_at, r.id LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    SELECT * FROM (SELECT * FROM hi UNION ALL SELECT * FROM lo) AS u
    ORDER BY priority DESC, due_at, id LIMIT ${limit}`;
}

/** The columns of a run, as `rowToRun` reads them (table alias `r`). */
const RUN = `r.id, r.workflow, r.version, r.plan_hash, r.status, r.input, r.output, r.error,
  r.labels::text AS labels, r.created_at::float8 AS created_at,
  r.updated_at::float8 AS updated_at, r.due_at::float8 AS due_at, r.waiting_for,
  r.lease_token::float8 AS lease_token, r.lease_owner, r.recoveries, r.concurrency_key,
  r.rate_key, r.priority, r.parent_id, r.parent_call, r.deadline_at::float8 AS deadline_at`;

/** The columns of the same run once a CTE returned them. */
const RUN_OUT = `id, workflow, version, plan_hash, status, input, output, error, labels,
  created_at, updated_at, due_at, waiting_for, lease_token, lease_owner, recoveries,
  concurrency_key, rate_key, priority, parent_id, parent_call, deadline_at`;

/** The shape of a grouped run creation (`createRunsStatement`). */
export interface CreateShape {
  /** Whether the statement sends the `runnable` notice itself. */
  notify: boolean;
  /**
   * Whether the statement takes the flow-control and child arrays and the
   * owners (`$11` … `$17`). Without, every run has no keys, priority 0, no
   * parent and no deadline, and `claim` says whether the owners come as `$11`.
   */
  extras: boolean;
  /** Without `extras`: whether the owners come as `$11` (else no run has one). */
  claim?: boolean;
  /**
   * One run, each parameter the value itself rather than an array of one:
   * PostgreSQL keeps a generic plan of this form, where it plans the array
   * form (an `unnest` of parameters, whose lengths a generic plan cannot see)
   * again at every execution once the runs table holds a few thousand runs.
   */
  one?: boolean;
}

/**
 * Grouped run creations. With `notify`, the statement sends the `runnable`
 * notice ($9 channel, $10 payload) itself; without, its `notified` column
 * says whether the driver should send it once the write committed. A run
 * with an owner ($17, or $11 in the short forms) is claimed by it at once
 * (NewRun.claimFor): running under lease token 1, due when the lease expires
 * ($7), with run.started after run.created, and no notice. Only the runs
 * it inserted come back, as their id and status (the caller knows the rest,
 * `pendingRun`): four columns, little to send, parse and collect. A run that
 * existed (a start again with the same id, rare) is not returned; the caller
 * reads it.
 */
export function createRunsStatement(s: string, shape: CreateShape): string {
  const seq = `nextval('${s}.history_seq')`;
  const owned = `CASE WHEN owner IS NULL THEN 'pending' ELSE 'running' END`;
  // The parameters of the `b` rows: number, type, column.
  const columns: [number, string, string][] = [
    [1, "text", "id"],
    [2, "text", "workflow"],
    [3, "text", "version"],
    [4, "text", "plan_hash"],
    [5, "text", "input"],
    [6, "text", "labels"],
    [7, "int8", "due_at"],
    [8, "int8", "now"],
  ];
  if (shape.extras) {
    columns.push(
      [11, "text", "concurrency_key"],
      [12, "text", "rate_key"],
      [13, "int4", "priority"],
      [14, "text", "parent_id"],
      [15, "int4", "parent_call"],
      [16, "int8", "deadline_at"],
      [17, "text", "owner"],
    );
  } else if (shape.claim) columns.push([11, "text", "owner"]);
  const values = shape.extras
    ? `${owned}, input, labels::jsonb, now, now, due_at, concurrency_key, rate_key,
          priority, parent_id, parent_call <> 0, deadline_at, (owner IS NOT NULL)::int, owner`
    : shape.claim
    ? `${owned}, input, labels::jsonb, now, now, due_at, '', '', 0, NULL, false, NULL,
          (owner IS NOT NULL)::int, owner`
    : `'pending', input, labels::jsonb, now, now, due_at, '', '', 0, NULL, false, NULL, 0,
          NULL`;
  const source = shape.one
    ? `SELECT ${columns.map(([n, type, name]) => `$${n}::${type} AS ${name}`).join(", ")}, 1 AS ord`
    : `SELECT * FROM unnest(${columns.map(([n, type]) => `$${n}::${type}[]`).join(", ")})
          WITH ORDINALITY AS b(${columns.map(([, , name]) => name).join(", ")}, ord)`;
  return `WITH b AS (
        ${source}
      ),
      ins AS (
        INSERT INTO ${s}.runs AS r
          (id, workflow, version, plan_hash, status, input, labels, created_at, updated_at, due_at,
            concurrency_key, rate_key, priority, parent_id, parent_call, deadline_at, lease_token,
            lease_owner)
        SELECT id, workflow, version, plan_hash, ${values}
        FROM b ORDER BY ord
        ON CONFLICT (id) DO NOTHING
        RETURNING r.id, r.status, r.created_at, r.lease_owner
      ),
      ev AS (
        INSERT INTO ${s}.events (run_id, seq, pos, type, at)
        SELECT q.id, q.seq, k.pos, k.type, q.created_at::int8
        FROM (SELECT id, created_at, lease_owner, ${seq} AS seq FROM ins) AS q
          CROSS JOIN (VALUES (0, 'run.created'), (1, 'run.started')) AS k(pos, type)
        WHERE k.pos = 0 OR q.lease_owner IS NOT NULL
      ),
      n AS (SELECT ${
    shape.notify ? "pg_notify($9, $10)" : "$9::text, $10::text"
  } FROM (SELECT 1 FROM ins WHERE lease_owner IS NULL LIMIT 1) AS one)
      SELECT true AS created, id, status, (SELECT count(*) FROM n)::int AS notified FROM ins`;
}

/**
 * The predicate of the partial index `runs_labels` (migration 15): a run with
 * labels. A labels filter repeats it, so the planner can use that index.
 */
export const HAS_LABELS = "labels <> '{}'::jsonb";

/** The run (alias `r`) is held under a lease: running or paused, with an owner. */
export const HELD = "r.status IN ('running', 'paused') AND r.lease_owner IS NOT NULL";

/** Whether the run being updated is paused (its transitions then set what it resumes with). */
export const PAUSED = "r.status = 'paused'";

/** Sets what a paused run resumes with: status `status` and due time `due` (SQL). */
function resumesWith(status: string, due: string): string {
  return `paused_status = CASE WHEN ${PAUSED} THEN ${status} END,
    paused_due = CASE WHEN ${PAUSED} THEN ${due} END`;
}

/** A step row replaces the row of its key unless that row is done. */
export const STEP_UPSERT = `ON CONFLICT (run_id, key) DO UPDATE SET kind = excluded.kind,
  state = excluded.state, data = excluded.data, attempt = excluded.attempt,
  started_at = excluded.started_at, finished_at = excluded.finished_at,
  seq = excluded.seq, pos = excluded.pos, xid = pg_current_xact_id()
  WHERE t.state <> 'done'`;

/** The columns of a step row, in the order the inserts give them. */
export const STEP_COLUMNS =
  "(run_id, key, kind, state, data, attempt, started_at, finished_at, seq, pos)";
/** The columns of a history event, in the order the inserts give them. */
export const EVENT_COLUMNS = "(run_id, seq, pos, type, at, step, attempt, detail)";

/** Every statement of the driver, for schema `s` (already quoted). */
export function statements(s: string): Statements {
  const seq = `nextval('${s}.history_seq')`;
  /** Steps of one fenced write: arrays from `$first`, joined to `fence` (with `id`). */
  const stepRows = (first: number, fence: string, one = false) => {
    const p = (i: number) => `$${first + i}`;
    if (one) {
      return `INSERT INTO ${s}.steps AS t ${STEP_COLUMNS}
      SELECT ${fence}.id, ${p(0)}::text, ${p(1)}::text, ${p(2)}::text, ${p(3)}::text,
        ${p(4)}::int4, ${p(5)}::int8, ${p(6)}::int8, sq.seq, ${p(7)}::int4
      FROM ${fence} CROSS JOIN sq
      ${STEP_UPSERT}`;
    }
    return `INSERT INTO ${s}.steps AS t ${STEP_COLUMNS}
      SELECT ${fence}.id, b.key, b.kind, b.state, b.data, b.attempt, b.started_at, b.finished_at,
        sq.seq, b.pos
      FROM unnest(${p(0)}::text[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[],
        ${p(4)}::int4[], ${p(5)}::int8[], ${p(6)}::int8[], ${p(7)}::int4[])
        AS b(key, kind, state, data, attempt, started_at, finished_at, pos)
      CROSS JOIN ${fence} CROSS JOIN sq
      ${STEP_UPSERT}`;
  };
  const eventRows = (first: number, fence: string, one = false) => {
    const p = (i: number) => `$${first + i}`;
    if (one) {
      return `INSERT INTO ${s}.events ${EVENT_COLUMNS}
      SELECT ${fence}.id, sq.seq, ${p(5)}::int4, ${p(0)}::text, ${p(1)}::int8, ${p(2)}::text,
        ${p(3)}::int4, ${p(4)}::text
      FROM ${fence} CROSS JOIN sq`;
    }
    return `INSERT INTO ${s}.events ${EVENT_COLUMNS}
      SELECT ${fence}.id, sq.seq, e.pos, e.type, e.at, e.step, e.attempt, e.detail
      FROM unnest(${p(0)}::text[], ${p(1)}::int8[], ${p(2)}::text[], ${p(3)}::int4[],
        ${p(4)}::text[], ${p(5)}::int4[]) AS e(type, at, step, attempt, detail, pos)
      CROSS JOIN ${fence} CROSS JOIN sq`;
  };
  /**
   * A run transition: `up` is the fenced UPDATE, then rows and events. Its
   * notice is not sent here: the statement returns it (`channel`, `notify`)
   * and the driver sends it once the write committed (`_notify.ts`), so the
   * commit does not take PostgreSQL's NOTIFY lock. Parameters: $1 run id,
   * $2 token, $3 now, $4-$11 steps, $12-$17 events, $18 channel, $19
   * payload, then the transition's own from $20. With `one`, exactly one
   * step row and one event, each parameter the value itself rather than an
   * array (`oneRow`).
   */
  const transition = (
    set: string,
    notifyWhen: string,
    payload = "$19",
    ends = false,
    one = false,
  ) =>
    `WITH up AS (
      UPDATE ${s}.runs AS r SET ${set}, lease_owner = NULL, recoveries = 0, updated_at = $3::int8
      WHERE r.id = $1 AND r.lease_token = $2::int8 AND ${HELD}
      RETURNING r.id, r.due_at, r.parent_id, r.parent_call, r.status
    ),
    sq AS (SELECT ${seq} AS seq),
    st AS (${stepRows(4, "up", one)}),
    ev AS (${eventRows(12, "up", one)}),
    n AS (SELECT $18::text AS channel, ${payload} AS payload FROM up WHERE ${notifyWhen})${
      ends ? `,\n    ${wakeParent("$3", "$18", payload, false)}` : ""
    }
    SELECT up.due_at::float8 AS due_at, up.status, (SELECT count(*) FROM n)::int AS notified,
      (SELECT payload FROM n) AS notify,
      ${ends ? "(SELECT id FROM pw)" : "NULL::text"} AS woke_parent FROM up`;
  /**
   * CTEs `pw`, `ps`, `pe`, `pn`: a `.call` child that `up` (with `id`,
   * `parent_id`, `parent_call`, `status`) just finished leaves its wake-up in
   * its unfinished parent's inbox (and a `child.finished` event in its
   * history), wakes the parent when it waits for it, and (with `notify`)
   * notifies (the instance prefix of `payload`, types `runnable,signal`);
   * without, the caller sends that notice.
   */
  const wakeParent = (now: string, channel: string, payload: string, notify = true) =>
    `pw AS (
      UPDATE ${s}.runs AS p SET inbox = array_append(p.inbox, '${CHILD_SIGNAL_PREFIX}' || up.id),
        due_at = CASE WHEN p.status = 'waiting'
          AND '${CHILD_SIGNAL_PREFIX}' || up.id = ANY(p.waiting_for) THEN ${now}::int8 ELSE p.due_at END,
        paused_due = CASE WHEN p.paused_status = 'waiting'
          AND '${CHILD_SIGNAL_PREFIX}' || up.id = ANY(p.waiting_for) THEN ${now}::int8
          ELSE p.paused_due END
      FROM up WHERE up.parent_call AND p.id = up.parent_id AND p.status NOT IN ${FINISHED}
      RETURNING p.id, '${CHILD_SIGNAL_PREFIX}' || up.id AS name, up.id AS child, up.status
    ),
    ps AS (INSERT INTO ${s}.signals (run_id, name) SELECT pw.id, pw.name FROM pw),
    pe AS (
      INSERT INTO ${s}.events (run_id, seq, pos, type, at, detail)
      SELECT pw.id, ${seq}, 0, 'child.finished', ${now}::int8,
        json_build_object('child', pw.child, 'status', pw.status)::text FROM pw
    )${
      notify
        ? `,
    pn AS (
      SELECT pg_notify(${channel}, split_part(${payload}, ':', 1) || ':runnable,signal:' || pw.id)
      FROM pw
    )`
        : ""
    }`;

  /** A transition to a final `status`, storing $20 in `column`; `ends` wakes a calling parent. */
  const finish = (status: string, column: "output" | "error", ends: boolean, one: boolean) =>
    transition(
      `status = '${status}', ${column} = $20::text, due_at = NULL, waiting_for = NULL,
        paused_status = NULL, paused_due = NULL`,
      "true",
      "$19",
      ends,
      one,
    );

  const wakeAt = "CASE WHEN r.inbox && $21::text[] THEN $3::int8 ELSE $22::int8 END";
  /** A claim of the runs `due` selects ($1 now, $4 worker, $5 lease ms). */
  const claim = (due: string, set = "") =>
    `WITH due AS (${due}),
      up AS (
        UPDATE ${s}.runs AS r SET status = 'running', lease_token = r.lease_token + 1,
          lease_owner = $4::text, due_at = $1::int8 + $5::int8, waiting_for = NULL, ${set}
          updated_at = CASE WHEN due.status = 'pending' THEN $1::int8 ELSE r.updated_at END,
          recoveries = r.recoveries + (due.status = 'running' AND due.lease_owner IS NOT NULL)::int
        FROM due WHERE r.id = due.id
        RETURNING ${RUN}, due.status AS previous_status, due.due_at AS previous_due_at,
          CASE WHEN due.status = 'running' THEN due.lease_owner END AS previous_owner
      ),
      ev AS (
        INSERT INTO ${s}.events (run_id, seq, pos, type, at, detail)
        SELECT id, ${seq}, 0, CASE WHEN previous_status = 'pending' THEN 'run.started'
            ELSE 'run.recovered' END, $1::int8,
          CASE WHEN previous_owner IS NOT NULL
            THEN json_build_object('previousWorker', previous_owner, 'worker', $4::text)::text END
        FROM up WHERE previous_status = 'pending' OR previous_owner IS NOT NULL
      )
      SELECT * FROM up ORDER BY priority DESC, previous_due_at, id`;

  const createRuns = (notify: boolean) => createRunsStatement(s, { notify, extras: true });
  const claimsUpTo = new Map<number, string>();

  /** The run transitions; with `one`, for exactly one step row and one event (`oneRow`). */
  const transitions = (one: boolean): TransitionStatements => ({
    suspend: transition(
      `status = CASE WHEN ${PAUSED} THEN 'paused' ELSE $20::text END,
      waiting_for = CASE WHEN cardinality($21::text[]) > 0 THEN $21::text[] END,
      ${resumesWith("$20::text", wakeAt)},
      due_at = CASE WHEN ${PAUSED} THEN NULL ELSE ${wakeAt} END`,
      // The slot is released either way; runnable only when due now.
      "true",
      "CASE WHEN up.due_at <= $3::int8 THEN $19 ELSE replace($19, ',runnable', '') END",
      false,
      one,
    ),
    complete: finish("completed", "output", true, one),
    fail: finish("failed", "error", true, one),
    cancel: finish("cancelled", "error", false, one),
    release: transition(
      `${
        resumesWith("'running'", "$3::int8")
      }, due_at = CASE WHEN ${PAUSED} THEN NULL ELSE $3::int8 END`,
      "true",
      "$19",
      false,
      one,
    ),
  });

  return {
    lockMigrations: "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))",
    inspect: `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1::text) AS has_schema,
      to_regclass($2::text) IS NOT NULL AS has_table`,
    createSchema: `CREATE SCHEMA ${s}`,
    createMigrations: `CREATE TABLE ${s}.sluice_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`,
    currentVersion: `SELECT coalesce(max(version), 0)::int AS version FROM ${s}.sluice_migrations`,
    recordMigration:
      `INSERT INTO ${s}.sluice_migrations (version, name) VALUES ($1::int4, $2::text)`,

    createRuns: createRuns(true),
    createRunsQuiet: createRuns(false),
    createRunsPlain: createRunsStatement(s, { notify: false, extras: false }),
    createRunsClaimed: createRunsStatement(s, { notify: false, extras: false, claim: true }),
    oneRun: {
      createRunsQuiet: createRunsStatement(s, { notify: false, extras: true, one: true }),
      createRunsPlain: createRunsStatement(s, { notify: false, extras: false, one: true }),
      createRunsClaimed: createRunsStatement(s, {
        notify: false,
        extras: false,
        claim: true,
        one: true,
      }),
    },

    /** `createRuns` for one run (arrays of one) with its first rows ($11-$18), keys, parent, deadline ($19-$24). */
    createWithSteps: `WITH b AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
          $6::text[], $7::int8[], $8::int8[], $19::text[], $20::text[], $21::int4[], $22::text[],
          $23::int4[], $24::int8[])
          WITH ORDINALITY AS b(id, workflow, version, plan_hash, input, labels, due_at, now,
            concurrency_key, rate_key, priority, parent_id, parent_call, deadline_at, ord)
      ),
      ins AS (
        INSERT INTO ${s}.runs AS r
          (id, workflow, version, plan_hash, status, input, labels, created_at, updated_at, due_at,
          lease_token, concurrency_key, rate_key, priority, parent_id, parent_call, deadline_at)
        SELECT id, workflow, version, plan_hash, 'pending', input, labels::jsonb, now, now, due_at, 1,
          concurrency_key, rate_key, priority, parent_id, parent_call <> 0, deadline_at
        FROM b ORDER BY ord
        ON CONFLICT (id) DO NOTHING
        RETURNING ${RUN}
      ),
      sq AS (SELECT ${seq} AS seq),
      ev AS (
        INSERT INTO ${s}.events (run_id, seq, pos, type, at)
        SELECT id, sq.seq, 0, 'run.created', created_at::int8 FROM ins CROSS JOIN sq
      ),
      st AS (${stepRows(11, "ins")}),
      n AS (SELECT pg_notify($9, $10) FROM (SELECT 1 FROM ins LIMIT 1) AS one)
      SELECT true AS created, ${RUN_OUT}, (SELECT count(*) FROM n)::int AS notified FROM ins
      UNION ALL
      SELECT false, ${RUN}, 0 FROM ${s}.runs r
      WHERE r.id = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = r.id)`,

    getRun: `SELECT ${RUN} FROM ${s}.runs r WHERE r.id = $1`,
    lockRun: `SELECT ${RUN} FROM ${s}.runs r WHERE r.id = $1 FOR UPDATE`,
    runStatus: `SELECT r.status FROM ${s}.runs r WHERE r.id = $1`,

    history: `SELECT 'step' AS source, seq, pos, key, kind, state, data, attempt,
        started_at::float8 AS started_at, finished_at::float8 AS finished_at,
        NULL::text AS type, NULL::float8 AS at, NULL::text AS step, NULL::text AS detail
      FROM ${s}.steps WHERE run_id = $1 AND (seq, pos) > ($2::int8, $3::int4)
      UNION ALL
      SELECT 'event', seq, pos, NULL, NULL, NULL, NULL, attempt, NULL, NULL,
        type, at::float8, step, detail
      FROM ${s}.events WHERE run_id = $1 AND (seq, pos) > ($2::int8, $3::int4)
      ORDER BY seq, pos LIMIT $4`,

    feed: `WITH cur AS (SELECT coalesce($2::pg_snapshot, pg_current_snapshot()) AS bound),
      f AS (
        (SELECT 'step' AS source, t.xid, t.seq, t.pos, t.run_id, t.key, t.kind, t.state, t.data,
          t.attempt, t.started_at::float8 AS started_at, t.finished_at::float8 AS finished_at,
          NULL::text AS type, NULL::float8 AS at, NULL::text AS step, NULL::text AS detail
        FROM ${s}.steps t, cur
        WHERE t.xid >= pg_snapshot_xmin($1::pg_snapshot)
          AND NOT pg_visible_in_snapshot(t.xid, $1::pg_snapshot)
          AND pg_visible_in_snapshot(t.xid, cur.bound)
          AND (t.xid, t.seq, t.pos) > ($3::xid8, $4::int8, $5::int4)
        ORDER BY t.xid, t.seq, t.pos LIMIT $6)
        UNION ALL
        (SELECT 'event', e.xid, e.seq, e.pos, e.run_id, NULL, NULL, NULL, NULL, e.attempt, NULL,
          NULL, e.type, e.at::float8, e.step, e.detail
        FROM ${s}.events e, cur
        WHERE e.xid >= pg_snapshot_xmin($1::pg_snapshot)
          AND NOT pg_visible_in_snapshot(e.xid, $1::pg_snapshot)
          AND pg_visible_in_snapshot(e.xid, cur.bound)
          AND (e.xid, e.seq, e.pos) > ($3::xid8, $4::int8, $5::int4)
        ORDER BY e.xid, e.seq, e.pos LIMIT $6)
      )
      SELECT f.source, f.xid::text AS xid, f.seq, f.pos, f.run_id, r.workflow, f.key, f.kind,
        f.state, f.data, f.attempt, f.started_at, f.finished_at, f.type, f.at, f.step, f.detail,
        cur.bound::text AS bound
      FROM f JOIN ${s}.runs r ON r.id = f.run_id CROSS JOIN cur
      ORDER BY f.xid, f.seq, f.pos LIMIT $6`,

    feedEnd: "SELECT pg_current_snapshot()::text AS snapshot",

    claimRunsUpTo: (limit: number) => {
      let text = claimsUpTo.get(limit);
      if (text === undefined) {
        // The limit as a literal: with a parameter, a generic plan cannot see
        // it and looks dearer than a custom one, so PostgreSQL planned the
        // claim again at every call (0.45 ms at a million stored runs). `$3`
        // stays bound, as a one-time filter.
        text = claim(byPriority(
          s,
          "r.id, r.status, r.due_at, r.lease_owner",
          "r.due_at <= $1::int8 AND r.workflow = ANY($2::text[]) AND $3::int4 > 0",
          String(Math.trunc(limit)),
        ));
        // The workers' limits are at most 256; a caller's larger one is not kept.
        if (limit <= 256) claimsUpTo.set(limit, text);
      }
      return text;
    },
    // Flow control: the runs the planner admitted ($2 ids, $3 those that begin
    // now under a rate limit), already locked by the claim transaction.
    claimIds: claim(
      `SELECT r.id, r.status, r.due_at, r.lease_owner FROM ${s}.runs r
        WHERE r.id = ANY($2::text[]) AND r.due_at <= $1::int8 AND $3::text[] IS NOT NULL`,
      "began_at = CASE WHEN r.id = ANY($3::text[]) THEN $1::int8 ELSE r.began_at END,",
    ),

    nextDueAt: `SELECT min(r.due_at)::float8 AS due_at FROM ${s}.runs r
      WHERE r.due_at IS NOT NULL AND r.workflow = ANY($1::text[])`,

    extendLeases: `WITH b AS (
        SELECT * FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS b(run_id, token, ord)
      ),
      lk AS (
        SELECT b.ord, r.id, r.status, (r.lease_token = b.token AND ${HELD}) AS held,
          cardinality(r.inbox) > 0 AS signals
        FROM ${s}.runs r JOIN b ON r.id = b.run_id
        ORDER BY r.id
        FOR UPDATE OF r
      ),
      up AS (
        UPDATE ${s}.runs AS r SET due_at = CASE WHEN ${PAUSED} THEN NULL ELSE $3::int8 END,
          paused_due = CASE WHEN ${PAUSED} THEN $3::int8 ELSE r.paused_due END
        WHERE r.id IN (SELECT lk.id FROM lk WHERE lk.held)
      )
      SELECT b.run_id, lk.status, coalesce(lk.held, false) AS held,
        coalesce(lk.signals, false) AS signals
      FROM b LEFT JOIN lk ON lk.ord = b.ord
      ORDER BY b.ord`,

    readSteps: `SELECT key, kind, state, data, attempt, started_at::float8 AS started_at,
        finished_at::float8 AS finished_at
      FROM ${s}.steps WHERE run_id = $1 AND key = ANY($2::text[])`,

    ...transitions(false),
    oneRow: transitions(true),

    consumeSignal: `WITH lk AS (
        SELECT r.id, ${PAUSED} AS paused FROM ${s}.runs r
        WHERE r.id = $1 AND r.lease_token = $2::int8 AND ${HELD}
        FOR UPDATE
      ),
      sig AS (
        DELETE FROM ${s}.signals g WHERE g.id = (
          SELECT g2.id FROM ${s}.signals g2
          WHERE g2.run_id = $1 AND g2.name = ANY($3::text[]) AND EXISTS (SELECT 1 FROM lk)
          ORDER BY g2.id LIMIT 1
        )
        RETURNING g.name, g.payload
      ),
      inb AS (
        UPDATE ${s}.runs AS r
        SET inbox = r.inbox[1:array_position(r.inbox, sig.name) - 1]
          || r.inbox[array_position(r.inbox, sig.name) + 1:]
        FROM sig WHERE r.id = $1
      ),
      sq AS (SELECT ${seq} AS seq),
      done AS (
        INSERT INTO ${s}.steps AS t ${STEP_COLUMNS}
        SELECT $1, $4::text, $5::text, 'done',
          '{"signal":' || to_json(sig.name)::text || coalesce(',"payload":' || sig.payload, '') || '}',
          $6::int4, $7::int8, $8::int8, sq.seq, 0
        FROM sig CROSS JOIN sq
        ${STEP_UPSERT}
      ),
      st AS (${stepRows(9, "lk")}),
      ev AS (${eventRows(17, "lk")})
      SELECT (SELECT count(*) FROM lk)::int AS held, coalesce((SELECT paused FROM lk), false) AS paused,
        sig.name, sig.payload
      FROM (SELECT 1) AS one LEFT JOIN sig ON true`,

    sendSignal: `WITH lk AS (
        SELECT r.id FROM ${s}.runs r WHERE r.id = $1 AND r.status NOT IN ${FINISHED} FOR UPDATE
      ),
      sid AS (
        INSERT INTO ${s}.signal_ids (run_id, id) SELECT lk.id, $9::text FROM lk
        WHERE $9::text IS NOT NULL ON CONFLICT DO NOTHING RETURNING run_id
      ),
      up AS (
        UPDATE ${s}.runs AS r SET inbox = array_append(r.inbox, $2::text),
          due_at = CASE WHEN r.status = 'waiting' AND $2::text = ANY(r.waiting_for)
            THEN $4::int8 ELSE r.due_at END,
          paused_due = CASE WHEN r.paused_status = 'waiting' AND $2::text = ANY(r.waiting_for)
            THEN $4::int8 ELSE r.paused_due END
        FROM lk WHERE r.id = lk.id AND ($9::text IS NULL OR EXISTS (SELECT 1 FROM sid))
        RETURNING r.id, (r.status = 'waiting' AND $2::text = ANY(r.waiting_for)) AS woke
      ),
      ins AS (INSERT INTO ${s}.signals (run_id, name, payload) SELECT $1, $2::text, $3::text FROM up),
      ev AS (
        INSERT INTO ${s}.events (run_id, seq, pos, type, at, detail)
        SELECT $1, ${seq}, 0, 'signal.received', $4::int8, $5::text FROM up
      ),
      n AS (SELECT pg_notify($6, CASE WHEN up.woke THEN $7 ELSE $8 END) FROM up)
      SELECT up.woke, (SELECT count(*) FROM n)::int AS notified FROM up`,

    hasSignalId: `SELECT 1 AS found FROM ${s}.signal_ids WHERE run_id = $1 AND id = $2`,

    cancelRun: `WITH up AS (
        UPDATE ${s}.runs AS r SET status = 'cancelled', error = $2::text,
          lease_token = r.lease_token + 1, lease_owner = NULL, due_at = NULL, waiting_for = NULL,
          updated_at = $3::int8, paused_status = NULL, paused_due = NULL
        WHERE r.id = $1 AND r.status NOT IN ${FINISHED}
        RETURNING ${RUN}
      ),
      ev AS (
        INSERT INTO ${s}.events (run_id, seq, pos, type, at, detail)
        SELECT $1, ${seq}, 0, 'run.cancelled', $3::int8, $4::text FROM up
      ),
      n AS (SELECT pg_notify($5, $6) FROM up),
      ${wakeParent("$3", "$5", "$6")}
      SELECT ${RUN_OUT}, (SELECT count(*) FROM n)::int AS notified,
        (SELECT id FROM pw) AS woke_parent FROM up`,

    recordWorker: `WITH gone AS (DELETE FROM ${s}.workers WHERE last_seen < $8::int8)
      INSERT INTO ${s}.workers (id, host, pid, started_at, last_seen, heartbeat_ms, serves)
      VALUES ($1, $2, $3::int4, $4::int8, $5::int8, $6::int8, $7)
      ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
        started_at = excluded.started_at, last_seen = excluded.last_seen,
        heartbeat_ms = excluded.heartbeat_ms, serves = excluded.serves`,
    removeWorker: `DELETE FROM ${s}.workers WHERE id = $1`,
    mergeLabels: `UPDATE ${s}.runs AS r SET labels = r.labels || $3::text::jsonb
      WHERE r.id = $1 AND r.lease_token = $2::int8 AND ${HELD} RETURNING ${PAUSED} AS paused`,
    dropSignals: `WITH up AS (
        UPDATE ${s}.runs AS r SET inbox = ARRAY(
          SELECT t.name FROM unnest(r.inbox) WITH ORDINALITY AS t(name, i)
          WHERE t.name <> ALL($3::text[]) ORDER BY t.i)
        WHERE r.id = $1 AND r.lease_token = $2::int8 AND ${HELD} RETURNING r.id
      ),
      del AS (
        DELETE FROM ${s}.signals g USING up WHERE g.run_id = up.id AND g.name = ANY($3::text[])
      )
      SELECT 1 AS held FROM up`,
    listWorkers: `SELECT id, host, pid, started_at::float8 AS started_at,
        last_seen::float8 AS last_seen, heartbeat_ms::float8 AS heartbeat_ms, serves
      FROM ${s}.workers ORDER BY id`,
    cancelCompensating: `WITH up AS (
        UPDATE ${s}.runs AS r SET status = 'running', error = $2::text,
          lease_token = r.lease_token + 1, lease_owner = NULL, due_at = $3::int8, waiting_for = NULL,
          updated_at = $3::int8, paused_status = NULL, paused_due = NULL
        WHERE r.id = $1 AND r.status NOT IN ${FINISHED}
        RETURNING ${RUN}
      ),
      n AS (SELECT pg_notify($4, $5) FROM up)
      SELECT ${RUN_OUT}, (SELECT count(*) FROM n)::int AS notified FROM up`,

    pauseRun: `WITH up AS (
        UPDATE ${s}.runs AS r SET status = 'paused', paused_status = r.status,
          paused_due = r.due_at, due_at = NULL, updated_at = $2::int8
        WHERE r.id = $1 AND r.status NOT IN ${FINISHED} AND r.status <> 'paused'
        RETURNING ${RUN}
      ),
      ev AS (
        INSERT INTO ${s}.events (run_id, seq, pos, type, at)
        SELECT $1, ${seq}, 0, 'run.paused', $2::int8 FROM up
      ),
      n AS (SELECT pg_notify($3, $4) FROM up)
      SELECT ${RUN_OUT}, (SELECT count(*) FROM n)::int AS notified FROM up`,

    resumeRun: `WITH up AS (
        UPDATE ${s}.runs AS r SET status = r.paused_status, due_at = r.paused_due,
          paused_status = NULL, paused_due = NULL, updated_at = $2::int8
        WHERE r.id = $1 AND r.status = 'paused'
        RETURNING ${RUN}
      ),
      ev AS (
        INSERT INTO ${s}.events (run_id, seq, pos, type, at)
        SELECT $1, ${seq}, 0, 'run.resumed', $2::int8 FROM up
      ),
      n AS (SELECT pg_notify($3, $4) FROM up)
      SELECT ${RUN_OUT}, (SELECT count(*) FROM n)::int AS notified FROM up`,

    retryRun: `WITH old AS (
        SELECT r.id, r.error FROM ${s}.runs r WHERE r.id = $1 AND r.status IN ('failed', 'cancelled') FOR UPDATE
      ),
      up AS (
        UPDATE ${s}.runs AS r SET status = 'pending', error = NULL, due_at = $2::int8,
          updated_at = $2::int8, recoveries = 0, deadline_at = $5::int8
        FROM old WHERE r.id = old.id
        RETURNING ${RUN}
      ),
      del AS (
        DELETE FROM ${s}.steps t USING old
        WHERE t.run_id = old.id AND t.key = (old.error::jsonb ->> 'step') AND t.state = 'pending'
      ),
      ev AS (
        INSERT INTO ${s}.events (run_id, seq, pos, type, at)
        SELECT $1, ${seq}, 0, 'run.retried', $2::int8 FROM up
      ),
      n AS (SELECT pg_notify($3, $4) FROM up)
      SELECT ${RUN_OUT}, (SELECT count(*) FROM n)::int AS notified FROM up`,

    orphanedChildren: `SELECT c.id FROM ${s}.runs c LEFT JOIN ${s}.runs p ON p.id = c.parent_id
      WHERE c.parent_call AND c.status NOT IN ${FINISHED} AND c.error IS NULL
        AND (p.id IS NULL OR p.status IN ('failed', 'cancelled'))
      ORDER BY c.created_at, c.id LIMIT $1::int4`,
    purge: `WITH del AS (
        DELETE FROM ${s}.runs r WHERE r.id IN (
          SELECT o.id FROM ${s}.runs o
          WHERE o.status IN ${FINISHED} AND o.updated_at < $1::int8
            AND o.status = ANY($2::text[])
          ORDER BY o.updated_at, o.id LIMIT $3::int4
        )
        RETURNING r.id
      ),
      st AS (DELETE FROM ${s}.steps t USING del WHERE t.run_id = del.id),
      ev AS (DELETE FROM ${s}.events e USING del WHERE e.run_id = del.id),
      sg AS (DELETE FROM ${s}.signals g USING del WHERE g.run_id = del.id),
      si AS (DELETE FROM ${s}.signal_ids g USING del WHERE g.run_id = del.id)
      SELECT count(*)::int AS count FROM del`,

    listRuns: `SELECT ${RUN} FROM ${s}.runs r`,
    leaseHeld: `SELECT ${PAUSED} AS paused FROM ${s}.runs r
      WHERE r.id = $1 AND r.lease_token = $2::int8 AND ${HELD}`,
    clearRecoveries: `UPDATE ${s}.runs AS r SET recoveries = 0
      WHERE r.id = $1 AND r.lease_token = $2::int8 AND ${HELD} RETURNING ${PAUSED} AS paused`,
  };
}

/** The run transitions of {@linkcode statements} (parameters: see `transition` there). */
export interface TransitionStatements {
  suspend: string;
  complete: string;
  fail: string;
  cancel: string;
  release: string;
}

/** The statements of {@linkcode statements}. */
export interface Statements extends TransitionStatements {
  lockMigrations: string;
  inspect: string;
  createSchema: string;
  createMigrations: string;
  currentVersion: string;
  recordMigration: string;
  createRuns: string;
  /** `createRuns` that leaves the notice to the driver (`_notify.ts`). */
  createRunsQuiet: string;
  /** `createRunsQuiet` for runs without keys, priority, parent, deadline or owner (ten parameters). */
  createRunsPlain: string;
  /** `createRunsPlain` with the owners of runs claimed at once as `$11`. */
  createRunsClaimed: string;
  /**
   * The three creations above for one run, each parameter the value itself
   * (`CreateShape.one`): PostgreSQL keeps a generic plan of them.
   */
  oneRun: Pick<Statements, "createRunsQuiet" | "createRunsPlain" | "createRunsClaimed">;
  createWithSteps: string;
  getRun: string;
  runStatus: string;
  history: string;
  feed: string;
  feedEnd: string;
  /**
   * The claim of up to `limit` due runs ($1 now, $2 workflows, $3 the limit
   * again, positive, $4 worker, $5 lease ms), with the limit written in so
   * that PostgreSQL keeps a generic plan of it.
   */
  claimRunsUpTo(limit: number): string;
  claimIds: string;
  nextDueAt: string;
  extendLeases: string;
  readSteps: string;
  /**
   * The transitions for exactly one step row and one event (a completion
   * with the last step's row, the common end of a run), each parameter of
   * `$4`…`$17` the value itself: no `unnest` of arrays to plan and run.
   */
  oneRow: TransitionStatements;
  consumeSignal: string;
  sendSignal: string;
  hasSignalId: string;
  lockRun: string;
  cancelRun: string;
  cancelCompensating: string;
  retryRun: string;
  pauseRun: string;
  recordWorker: string;
  removeWorker: string;
  mergeLabels: string;
  dropSignals: string;
  listWorkers: string;
  resumeRun: string;
  purge: string;
  orphanedChildren: string;
  listRuns: string;
  leaseHeld: string;
  clearRecoveries: string;
}
