/**
 * The PostgreSQL schema: its versioned migrations, oldest first, and the
 * schema names the driver accepts.
 *
 * @module
 */
import { schedulesMigration } from "./_schedules.ts";
import { FINISHED, HAS_LABELS } from "./_sql.ts";

/** Schema names the driver accepts: a plain lower-case identifier. */
export const SCHEMA_NAME: RegExp = /^[a-z_][a-z0-9_]{0,62}$/;

/** One schema migration. */
export interface Migration {
  /** Increasing version number. */
  version: number;
  /** A short description. */
  name: string;
  /** The DDL statements. */
  statements: string[];
}

/** The migrations of schema `s` (already quoted), oldest first. */
export function migrations(s: string): Migration[] {
  const before: Migration[] = [{
    version: 1,
    name: "runs, steps, events, signals",
    statements: [
      `CREATE TABLE ${s}.runs (
        id text COLLATE "C" PRIMARY KEY,
        workflow text COLLATE "C" NOT NULL,
        version text NOT NULL,
        plan_hash text NOT NULL,
        status text NOT NULL,
        input text,
        output text,
        error text,
        labels jsonb NOT NULL DEFAULT '{}',
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        due_at bigint,
        waiting_for text[],
        inbox text[] NOT NULL DEFAULT '{}',
        lease_token bigint NOT NULL DEFAULT 0,
        lease_owner text
      )`,
      `CREATE INDEX runs_due ON ${s}.runs (due_at, id) WHERE due_at IS NOT NULL`,
      `CREATE INDEX runs_created ON ${s}.runs (created_at DESC, id DESC)`,
      `CREATE INDEX runs_finished ON ${s}.runs (updated_at) WHERE status IN ${FINISHED}`,
      `CREATE TABLE ${s}.steps (
        run_id text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        kind text NOT NULL,
        state text NOT NULL,
        data text,
        attempt integer,
        started_at bigint,
        finished_at bigint,
        seq bigint NOT NULL,
        pos integer NOT NULL,
        PRIMARY KEY (run_id, key)
      )`,
      `CREATE TABLE ${s}.events (
        run_id text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        pos integer NOT NULL,
        type text NOT NULL,
        at bigint NOT NULL,
        step text,
        attempt integer,
        detail text,
        PRIMARY KEY (run_id, seq, pos)
      )`,
      `CREATE TABLE ${s}.signals (
        id bigserial PRIMARY KEY,
        run_id text COLLATE "C" NOT NULL,
        name text NOT NULL,
        payload text
      )`,
      `CREATE INDEX signals_run ON ${s}.signals (run_id, id)`,
      `CREATE SEQUENCE ${s}.history_seq`,
    ],
  }, {
    version: 2,
    name: "takeovers since the run last wrote anything (maxRecoveries)",
    statements: [`ALTER TABLE ${s}.runs ADD COLUMN recoveries integer NOT NULL DEFAULT 0`],
  }, schedulesMigration(s)];
  return [
    ...before,
    pauseMigration(s),
    flowMigration(s),
    childrenMigration(s),
    {
      version: 7,
      name: "claims by priority without sorting the backlog",
      statements: [
        `CREATE INDEX runs_due_priority ON ${s}.runs (priority DESC, due_at, id)
        WHERE due_at IS NOT NULL AND priority <> 0`,
      ],
    },
    workersMigration(s),
    feedMigration(s),
    {
      version: 10,
      name: "signal ids: a signal with an id is delivered at most once per run",
      statements: [`CREATE TABLE ${s}.signal_ids (
        run_id text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        PRIMARY KEY (run_id, id)
      )`],
    },
    {
      version: 11,
      name: "the deadline of a run under a workflow timeout, from its start (or retry)",
      statements: [`ALTER TABLE ${s}.runs ADD COLUMN deadline_at bigint`],
    },
    listMigration(s),
    {
      version: 13,
      name: "unfinished .call children, for the sweep that cancels those of ended parents",
      statements: [
        `CREATE INDEX runs_call_open ON ${s}.runs (created_at, id)
        WHERE parent_call AND status NOT IN ('completed', 'failed', 'cancelled')`,
      ],
    },
    {
      version: 14,
      name: "paused runs with a step in flight count toward their concurrency limit",
      statements: [
        `CREATE INDEX runs_flow_paused ON ${s}.runs (workflow, concurrency_key)
        WHERE status = 'paused' AND lease_owner IS NOT NULL`,
      ],
    },
    {
      version: 15,
      name: "the labels index holds only runs with labels",
      statements: [
        // A run without labels was an empty GIN item, added to the pending
        // list at its insert and at every transition (no update of a run is
        // HOT): two GIN records of the ~31 WAL records of a one-step run.
        // `listQuery` repeats the predicate beside `@>` so the planner uses it.
        `DROP INDEX ${s}.runs_labels`,
        `CREATE INDEX runs_labels ON ${s}.runs USING gin (labels jsonb_path_ops)
        WHERE ${HAS_LABELS}`,
      ],
    },
    {
      version: 16,
      name: "the feed indexes hold the writing transaction only",
      statements: [
        // Every checkpoint adds a `steps_feed` entry: keyed by `xid` alone it
        // is 8 bytes, not 20 (the feed reads one transaction's few rows and
        // sorts them by seq and pos). Sequential steps, alternating processes,
        // 18 each: 706 → 687 µs a step.
        `DROP INDEX ${s}.steps_feed`,
        `CREATE INDEX steps_feed ON ${s}.steps (xid)`,
        `DROP INDEX ${s}.events_feed`,
        `CREATE INDEX events_feed ON ${s}.events (xid)`,
      ],
    },
  ];
}

/**
 * Migration 12 of schema `s`: list pages at any size. A status or a workflow
 * filter walks its index in page order and stops after one page; labels are
 * found through a GIN index (`@>`).
 */
function listMigration(s: string): Migration {
  return {
    version: 12,
    name: "list pages at any size: by status, by workflow, by labels",
    statements: [
      `CREATE INDEX runs_status_created ON ${s}.runs (status, created_at DESC, id DESC)`,
      `CREATE INDEX runs_workflow_created ON ${s}.runs (workflow, created_at DESC, id DESC)`,
      `CREATE INDEX runs_labels ON ${s}.runs USING gin (labels jsonb_path_ops)`,
    ],
  };
}

/** Migration 8 of schema `s`: worker heartbeat rows (`workers()`). */
function workersMigration(s: string): Migration {
  return {
    version: 8,
    name: "worker heartbeat rows (workers())",
    statements: [`CREATE TABLE ${s}.workers (
      id text COLLATE "C" PRIMARY KEY,
      host text NOT NULL,
      pid integer NOT NULL,
      started_at bigint NOT NULL,
      last_seen bigint NOT NULL,
      heartbeat_ms bigint NOT NULL,
      serves text NOT NULL
    )`],
  };
}

/**
 * Migration 9 of schema `s`: the feed of `watch`. Each step row and event
 * records the transaction that wrote it (`xid`), so the feed can read what
 * committed between two snapshots (`FeedPlace` in drivers/postgres/_reads.ts):
 * a transaction still running elsewhere never holds it back.
 */
function feedMigration(s: string): Migration {
  return {
    version: 9,
    name: "the feed of watch: the writing transaction of each step row and event",
    statements: [
      `ALTER TABLE ${s}.steps ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id()`,
      `ALTER TABLE ${s}.events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id()`,
      `CREATE INDEX steps_feed ON ${s}.steps (xid, seq, pos)`,
      `CREATE INDEX events_feed ON ${s}.events (xid, seq, pos)`,
    ],
  };
}

/** Migration 4 of schema `s`: what a paused run resumes with (pause and resume). */
function pauseMigration(s: string): Migration {
  return {
    version: 4,
    name: "pause and resume: what a paused run resumes with",
    statements: [
      `ALTER TABLE ${s}.runs ADD COLUMN paused_status text, ADD COLUMN paused_due bigint`,
    ],
  };
}

/** Migration 5 of schema `s`: flow control (keys and priority set at start, began_at). */
function flowMigration(s: string): Migration {
  return {
    version: 5,
    name: "flow control: keys, priority, began_at",
    statements: [
      `ALTER TABLE ${s}.runs ADD COLUMN concurrency_key text COLLATE "C" NOT NULL DEFAULT '',
        ADD COLUMN rate_key text COLLATE "C" NOT NULL DEFAULT '',
        ADD COLUMN priority integer NOT NULL DEFAULT 0,
        ADD COLUMN began_at bigint`,
      `CREATE INDEX runs_flow_running ON ${s}.runs (workflow, concurrency_key)
        WHERE status = 'running'`,
      `CREATE INDEX runs_flow_began ON ${s}.runs (workflow, rate_key, began_at)
        WHERE began_at IS NOT NULL`,
    ],
  };
}

/** Migration 6 of schema `s`: child runs (`.call` / `.spawn`). */
function childrenMigration(s: string): Migration {
  return {
    version: 6,
    name: "child runs (.call / .spawn): the parent, and whether it waits for the child",
    statements: [
      `ALTER TABLE ${s}.runs ADD COLUMN parent_id text COLLATE "C"`,
      `ALTER TABLE ${s}.runs ADD COLUMN parent_call boolean NOT NULL DEFAULT false`,
      `CREATE INDEX runs_parent ON ${s}.runs (parent_id, created_at DESC, id DESC)
        WHERE parent_id IS NOT NULL`,
    ],
  };
}
