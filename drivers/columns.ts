/**
 * Row conversions shared by the SQL drivers: database columns (snake_case,
 * NULL for absent) to the driver interface's types.
 *
 * @module
 */
import type { RunStatus, StepRow, StoredRun, StoredWorker } from "../lib/driver.ts";
import type { ErrorInfo } from "../lib/errors.ts";

/** The columns of a run row. */
export interface RunColumns {
  id: string;
  workflow: string;
  version: string;
  plan_hash: string;
  status: RunStatus;
  input: string | null;
  output: string | null;
  /** JSON text of an `ErrorInfo`. */
  error: string | null;
  /** JSON text of the labels. */
  labels: string;
  created_at: number;
  updated_at: number;
  due_at: number | null;
  /** The signal names, as an array or as JSON text. */
  waiting_for: string[] | string | null;
  lease_token: number;
  lease_owner: string | null;
  /** Takeovers since the run last wrote anything. */
  recoveries: number;
  /** Flow control: the concurrency key ("" when none). */
  concurrency_key: string;
  /** Flow control: the rate-limit key ("" when none). */
  rate_key: string;
  /** Claim priority. */
  priority: number;
  /** The run that started this one (`.call` / `.spawn`). */
  parent_id: string | null;
  /** Whether the parent waits for it (`.call`): 1 / true. */
  parent_call: number | boolean;
  /** The deadline under a workflow timeout. */
  deadline_at: number | null;
}

/** The columns of a checkpoint row. */
export interface StepColumns {
  key: string;
  kind: string;
  state: "done" | "pending";
  data: string | null;
  attempt: number | null;
  started_at: number | null;
  finished_at: number | null;
}

/** A run row as a `StoredRun`. */
export function runFromColumns(r: RunColumns): StoredRun {
  const run: StoredRun = {
    id: r.id,
    workflow: r.workflow,
    version: r.version,
    planHash: r.plan_hash,
    status: r.status,
    labels: JSON.parse(r.labels),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    leaseToken: r.lease_token,
  };
  if (r.input !== null) run.input = r.input;
  if (r.output !== null) run.output = r.output;
  if (r.error !== null) run.error = JSON.parse(r.error) as ErrorInfo;
  if (r.due_at !== null) run.dueAt = r.due_at;
  const waitingFor = typeof r.waiting_for === "string"
    ? JSON.parse(r.waiting_for) as string[]
    : r.waiting_for;
  if (waitingFor !== null && waitingFor.length > 0) run.waitingFor = waitingFor;
  if (r.lease_owner !== null) run.leaseOwner = r.lease_owner;
  if (r.recoveries > 0) run.recoveries = r.recoveries;
  if (r.concurrency_key) run.concurrencyKey = r.concurrency_key;
  if (r.rate_key) run.rateKey = r.rate_key;
  if (r.priority) run.priority = Number(r.priority);
  if (r.parent_id !== null) run.parentId = r.parent_id;
  if (r.parent_call) run.parentCall = true;
  if (r.deadline_at !== null && r.deadline_at !== undefined) run.deadlineAt = Number(r.deadline_at);
  return run;
}

/**
 * Appends a checkpoint row's column values to `out` in the order both SQL
 * drivers bind them: key, kind, state, data, attempt, started_at,
 * finished_at (absent values as `null`).
 */
export function pushStepValues(out: unknown[], row: StepRow): void {
  out.push(
    row.key,
    row.kind,
    row.state,
    row.data ?? null,
    row.attempt ?? null,
    row.startedAt ?? null,
    row.finishedAt ?? null,
  );
}

/** A checkpoint row's columns as a `StepRow`. */
export function stepFromColumns(r: StepColumns): StepRow {
  const row: StepRow = { key: r.key, kind: r.kind, state: r.state };
  if (r.data !== null) row.data = r.data;
  if (r.attempt !== null) row.attempt = r.attempt;
  if (r.started_at !== null) row.startedAt = r.started_at;
  if (r.finished_at !== null) row.finishedAt = r.finished_at;
  return row;
}

/** A worker row as both SQL drivers return it. */
export interface WorkerColumns {
  id: string;
  host: string;
  pid: number | string;
  started_at: number | string;
  last_seen: number | string;
  heartbeat_ms: number | string;
  serves: string;
}

/** A stored worker from its columns. */
export function workerFromColumns(r: WorkerColumns): StoredWorker {
  return {
    id: r.id,
    host: r.host,
    pid: Number(r.pid),
    startedAt: Number(r.started_at),
    lastSeenAt: Number(r.last_seen),
    heartbeatMs: Number(r.heartbeat_ms),
    serves: JSON.parse(r.serves) as StoredWorker["serves"],
  };
}

/** The columns of a worker row, in the order id, host, pid, started, last seen, heartbeat, serves. */
export function workerParams(
  w: StoredWorker,
): [string, string, number, number, number, number, string] {
  return [w.id, w.host, w.pid, w.startedAt, w.lastSeenAt, w.heartbeatMs, JSON.stringify(w.serves)];
}
