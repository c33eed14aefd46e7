/**
 * The fenced write of checkpoint rows and events, the driver's hot path: one
 * statement specialized to the write's shape.
 *
 * @module
 */
import { EVENT_COLUMNS, HELD, PAUSED, STEP_COLUMNS, STEP_UPSERT } from "./_sql.ts";

/** The lease check of the plain INSERT forms: the run is `running` under the token (not paused). */
const RUNNING = "r.status = 'running' AND r.lease_owner IS NOT NULL";

/** The shape of a fenced write without a run transition. */
export interface WriteShape {
  /**
   * The plain INSERT forms (one run's rows without events, or `direct`)
   * accept only a `running` run unless `held` is set, which accepts a paused
   * one too. The other forms always accept both and return which are paused.
   */
  held?: boolean;
  /** Several leases (runs) in one statement. */
  multi: boolean;
  /** No step row, one (scalar parameters), or several (arrays). */
  steps: "none" | "one" | "many";
  /** Whether there are events. */
  events: boolean;
  /**
   * With `multi`: every lease is of another run and has step rows, and there
   * are no events, so a plain INSERT returning the run ids can be used.
   */
  direct?: boolean;
}

/**
 * A fenced write of checkpoint rows and events for one lease or several,
 * specialized to its shape (scalar parameters are cheaper than arrays).
 *
 * Parameters, in order: the lease (`$1` run id, `$2` token; with `multi`,
 * arrays of both), then the steps (one: key, kind, state, data, attempt,
 * started_at, finished_at, pos; many: the same as arrays, preceded by an
 * array of lease numbers with `multi`), then the events (arrays: lease
 * numbers with `multi`, type, at, step, attempt, detail, pos). The statement
 * returns the 1-based number (`w`) of every lease still held, with whether its
 * run is `paused` (the plain INSERT forms: a row per row written, or the run
 * ids with `direct`, and nothing for a paused run unless `held`).
 */
export function writeStatement(s: string, shape: WriteShape): string {
  let n = 0;
  const p = (type: string) => `$${++n}::${type}`;
  if (shape.multi && shape.direct) {
    // Several runs' checkpoint rows, each run once: one INSERT ... SELECT whose
    // source is the fenced run rows; it returns the run of every row written.
    return `INSERT INTO ${s}.steps AS t ${STEP_COLUMNS}
      SELECT lk.id, b.key, b.kind, b.state, b.data, b.attempt, b.started_at, b.finished_at,
        (SELECT nextval('${s}.history_seq')), b.pos
      FROM (
        SELECT l.w, r.id FROM ${s}.runs r
        JOIN unnest(${p("text[]")}, ${p("int8[]")}) WITH ORDINALITY AS l(run_id, token, w)
          ON r.id = l.run_id AND r.lease_token = l.token
        WHERE ${shape.held ? HELD : RUNNING}
        ORDER BY r.id
        FOR SHARE OF r
      ) AS lk
      JOIN unnest(${p("int8[]")}, ${p("text[]")}, ${p("text[]")}, ${p("text[]")}, ${p("text[]")},
        ${p("int4[]")}, ${p("int8[]")}, ${p("int8[]")}, ${p("int4[]")})
        AS b(w, key, kind, state, data, attempt, started_at, finished_at, pos) ON b.w = lk.w
      ${STEP_UPSERT}
      RETURNING t.run_id`;
  }
  if (!shape.multi && !shape.events && shape.steps !== "none") {
    // The hot path (one run's checkpoint rows): a plain INSERT ... SELECT whose
    // source is the fenced run row. It returns no row both when the lease is
    // lost and when every row hit a done row; `leaseHeld` tells them apart.
    const run = `(SELECT r.id FROM ${s}.runs r
        WHERE r.id = ${p("text")} AND r.lease_token = ${p("int8")} AND ${
      shape.held ? HELD : RUNNING
    }
        FOR SHARE) AS lk`;
    const seq = `(SELECT nextval('${s}.history_seq'))`;
    if (shape.steps === "one") {
      return `INSERT INTO ${s}.steps AS t ${STEP_COLUMNS}
        SELECT lk.id, ${p("text")}, ${p("text")}, ${p("text")}, ${p("text")}, ${p("int4")},
          ${p("int8")}, ${p("int8")}, ${seq}, ${p("int4")}
        FROM ${run}
        ${STEP_UPSERT}
        RETURNING 1::int AS w`;
    }
    return `INSERT INTO ${s}.steps AS t ${STEP_COLUMNS}
      SELECT lk.id, b.key, b.kind, b.state, b.data, b.attempt, b.started_at, b.finished_at,
        ${seq}, b.pos
      FROM ${run}
      CROSS JOIN unnest(${p("text[]")}, ${p("text[]")}, ${p("text[]")}, ${p("text[]")},
        ${p("int4[]")}, ${p("int8[]")}, ${p("int8[]")}, ${p("int4[]")})
        AS b(key, kind, state, data, attempt, started_at, finished_at, pos)
      ${STEP_UPSERT}
      RETURNING 1::int AS w`;
  }
  const ctes: string[] = [];
  if (shape.multi) {
    ctes.push(`l AS (
        SELECT * FROM unnest(${p("text[]")}, ${p("int8[]")}) WITH ORDINALITY AS l(run_id, token, w)
      )`);
    ctes.push(`lk AS (
        SELECT l.w, r.id, ${PAUSED} AS paused FROM ${s}.runs r JOIN l ON r.id = l.run_id AND r.lease_token = l.token
        WHERE ${HELD}
        ORDER BY r.id
        FOR SHARE OF r
      )`);
  } else {
    ctes.push(`lk AS (
        SELECT 1::int8 AS w, r.id, ${PAUSED} AS paused FROM ${s}.runs r
        WHERE r.id = ${p("text")} AND r.lease_token = ${p("int8")} AND ${HELD}
        FOR SHARE
      )`);
  }
  if (shape.steps !== "none" || shape.events) {
    ctes.push(`sq AS (SELECT nextval('${s}.history_seq') AS seq)`);
  }
  if (shape.steps === "one") {
    ctes.push(`st AS (
        INSERT INTO ${s}.steps AS t ${STEP_COLUMNS}
        SELECT lk.id, ${p("text")}, ${p("text")}, ${p("text")}, ${p("text")}, ${p("int4")},
          ${p("int8")}, ${p("int8")}, sq.seq, ${p("int4")}
        FROM lk CROSS JOIN sq
        ${STEP_UPSERT}
      )`);
  } else if (shape.steps === "many") {
    const w = shape.multi ? `${p("int8[]")}, ` : "";
    ctes.push(`st AS (
        INSERT INTO ${s}.steps AS t ${STEP_COLUMNS}
        SELECT lk.id, b.key, b.kind, b.state, b.data, b.attempt, b.started_at, b.finished_at,
          sq.seq, b.pos
        FROM unnest(${w}${p("text[]")}, ${p("text[]")}, ${p("text[]")}, ${p("text[]")},
          ${p("int4[]")}, ${p("int8[]")}, ${p("int8[]")}, ${p("int4[]")})
          AS b(${
      shape.multi ? "w, " : ""
    }key, kind, state, data, attempt, started_at, finished_at, pos)
        ${shape.multi ? "JOIN lk ON lk.w = b.w" : "CROSS JOIN lk"} CROSS JOIN sq
        ${STEP_UPSERT}
      )`);
  }
  if (shape.events) {
    const w = shape.multi ? `${p("int8[]")}, ` : "";
    ctes.push(`ev AS (
        INSERT INTO ${s}.events ${EVENT_COLUMNS}
        SELECT lk.id, sq.seq, e.pos, e.type, e.at, e.step, e.attempt, e.detail
        FROM unnest(${w}${p("text[]")}, ${p("int8[]")}, ${p("text[]")}, ${p("int4[]")},
          ${p("text[]")}, ${p("int4[]")}) AS e(${
      shape.multi ? "w, " : ""
    }type, at, step, attempt, detail, pos)
        ${shape.multi ? "JOIN lk ON lk.w = e.w" : "CROSS JOIN lk"} CROSS JOIN sq
      )`);
  }
  return `WITH ${ctes.join(",\n      ")}\n      SELECT w::int AS w, paused FROM lk`;
}
