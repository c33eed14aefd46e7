/**
 * The storage-driver interface: the one narrow contract that the memory, SQLite
 * and PostgreSQL drivers implement, checked by one conformance suite
 * (`@sluice/sluice/testing`).
 *
 * Drivers store encoded text; the engine checks and encodes values once. Every
 * write made on behalf of a worker carries a {@linkcode Lease} and is refused
 * with `LeaseLostError` when the run's fencing token has moved on.
 *
 * @module
 */
import type { ErrorInfo } from "./errors.ts";

/** The life-cycle states of a run. */
export type RunStatus =
  | "pending"
  | "running"
  | "sleeping"
  | "waiting"
  | "completed"
  | "failed"
  | "cancelled";

/** Statuses after which a run never changes again (but for `retry` of a failed run). */
export const FINISHED_STATUSES: readonly RunStatus[] = ["completed", "failed", "cancelled"];

/** Whether a status is final. */
export function isFinished(status: RunStatus): boolean {
  return status === "completed" || status === "failed" || status === "cancelled";
}

/** A run as a driver stores it; values are encoded text. */
export interface StoredRun {
  /** The run id. */
  id: string;
  /** Workflow name. */
  workflow: string;
  /** Workflow version. */
  version: string;
  /** Plan hash of the workflow version it started with. */
  planHash: string;
  /** Current status. */
  status: RunStatus;
  /** Encoded input. */
  input?: string;
  /** Encoded output, once completed. */
  output?: string;
  /** The error, once failed or cancelled. */
  error?: ErrorInfo;
  /** Labels for filtering. */
  labels: Record<string, string>;
  /** Creation time (epoch ms). */
  createdAt: number;
  /** Time of the last status change (epoch ms). */
  updatedAt: number;
  /**
   * When the run becomes claimable (epoch ms): the start time when pending, the
   * wake time when sleeping, the timeout when waiting, the lease expiry when
   * running; absent when finished or waiting without a timeout.
   */
  dueAt?: number;
  /** Signal names a waiting run waits for. */
  waitingFor?: string[];
  /** The fencing token; every claim increases it. */
  leaseToken: number;
  /** The worker holding the lease, if any. */
  leaseOwner?: string;
}

/** What `createRun` stores. */
export interface NewRun {
  /** The run id. */
  id: string;
  /** Workflow name. */
  workflow: string;
  /** Workflow version. */
  version: string;
  /** Plan hash. */
  planHash: string;
  /** Encoded input. */
  input?: string;
  /** Labels. */
  labels: Record<string, string>;
  /** When the first step may run (epoch ms). */
  dueAt: number;
}

/** A worker's hold on a run. Writes made under a stale token are refused. */
export interface Lease {
  /** The run id. */
  readonly runId: string;
  /** The fencing token issued by the claim. */
  readonly token: number;
}

/** A run handed to a worker by `claimRuns`. */
export interface Claim {
  /** The run, as it is after the claim (status `running`). */
  run: StoredRun;
  /** The lease to write under. */
  lease: Lease;
  /** The status before the claim; `pending` means the run has not started. */
  previousStatus: RunStatus;
}

/** A checkpoint row: the recorded state of one node of a run, keyed by step key. */
export interface StepRow {
  /** The deterministic step key, e.g. `retryLoop#3/charge`. */
  key: string;
  /** The node kind (`step`, `sleep`, `wait`, `loop`, …). */
  kind: string;
  /** `done` rows are results and never change; `pending` rows hold progress. */
  state: "done" | "pending";
  /** Encoded result (`done`) or progress (`pending`). */
  data?: string;
  /** Attempt that produced the result. */
  attempt?: number;
  /** When the producing attempt started (epoch ms). */
  startedAt?: number;
  /** When the row was written (epoch ms). */
  finishedAt?: number;
}

/** The kinds of history events. */
export type HistoryEventType =
  | "run.created"
  | "run.started"
  | "step.started"
  | "step.completed"
  | "step.failed"
  | "step.retried"
  | "run.sleeping"
  | "run.waiting"
  | "signal.received"
  | "run.completed"
  | "run.failed"
  | "run.cancelled"
  | "run.retried";

/** A history event as a driver stores it. */
export interface StoredEvent {
  /** Event type. */
  type: HistoryEventType;
  /** When it happened (epoch ms). */
  at: number;
  /** The step key it concerns. */
  step?: string;
  /** The attempt it concerns. */
  attempt?: number;
  /** Extra fields as JSON text. */
  detail?: string;
}

/** How a fenced write moves the run. */
export type RunTransition =
  | {
    /** Suspended on timers (`sleeping`) or signals (`waiting`); the lease is released. */
    status: "sleeping" | "waiting";
    /** When to wake (a timer or a signal timeout); absent to wait for signals only. */
    dueAt?: number;
    /** Signals that wake a waiting run. */
    waitingFor?: string[];
  }
  | { status: "completed"; output?: string }
  | { status: "failed"; error: ErrorInfo }
  | {
    /** The lease is handed back (graceful stop); the run is claimable at once. */
    status: "running";
  };

/** Everything one fenced write records, atomically. */
export interface WriteBatch {
  /** Checkpoint rows to insert or update (a `done` row is never overwritten). */
  steps?: StepRow[];
  /** History events to append. */
  events?: StoredEvent[];
  /** A status change of the run. */
  run?: RunTransition;
}

/** A signal taken from a run's inbox. */
export interface ConsumedSignal {
  /** Signal name. */
  name: string;
  /** Encoded payload. */
  payload?: string;
}

/** The state of a lease after `extendLeases`. */
export interface LeaseState {
  /** The run id. */
  runId: string;
  /** `held` when extended; `lost` when another token owns the run; `cancelled` when cancelled. */
  state: "held" | "lost" | "cancelled";
  /** Whether the run's inbox holds unconsumed signals. */
  signals: boolean;
}

/** Filters of `listRuns`. */
export interface RunFilter {
  /** Only runs in this status (or these statuses). */
  status?: RunStatus | RunStatus[];
  /** Only runs of this workflow. */
  workflow?: string;
  /** Only runs carrying all these labels. */
  labels?: Record<string, string>;
  /**
   * Page size.
   * @default {100}
   */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

/** A page of runs, newest first. */
export interface StoredRunPage {
  /** The runs. */
  runs: StoredRun[];
  /** Pass it as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

/** A change a driver reports to the engines and workers of its process. */
export interface DriverNotice {
  /**
   * `runnable`: a run may be claimable now; `signal`: a signal reached a run's
   * inbox; `cancelled`: a run was cancelled; `finished`: a run reached a final
   * status; `changed`: something changed, re-check everything.
   */
  type: "runnable" | "signal" | "cancelled" | "finished" | "changed";
  /** The run concerned (absent for `changed`). */
  runId?: string;
  /** The reason given to a cancel, when known (`cancelled`). */
  reason?: string;
}

/** Options of `claimRuns`. */
export interface ClaimOptions {
  /** The claiming worker's id. */
  workerId: string;
  /** The current time (epoch ms). */
  now: number;
  /** Lease length in ms. */
  leaseMs: number;
  /** Most runs to claim. */
  limit: number;
  /** Only runs of these workflows. */
  workflows: readonly string[];
}

/**
 * A storage backend. All times are passed in by the engine (drivers never read
 * the clock), so a `ManualClock` controls timers and leases in tests.
 *
 * @example A driver is used through an Engine
 * ```ts
 * import { Engine, MemoryDriver, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("inc").step("inc", (n) => n + 1);
 * await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
 * ```
 */
export interface Driver extends AsyncDisposable {
  /** A short name for logs: `memory`, `sqlite`, `postgres`. */
  readonly kind: string;
  /**
   * Whether other processes may share this storage. When true, workers and
   * result waiters also poll, since changes made elsewhere may go unreported.
   */
  readonly shared: boolean;

  /** Creates or upgrades the schema; safe when several processes do it at once. */
  migrate(): Promise<void>;
  /** Releases every resource; later calls fail with `InvalidStateError`. */
  close(): Promise<void>;

  /**
   * Stores a new run with status `pending`, or returns the existing run with the
   * same id (`created: false`) without changing it.
   */
  createRun(run: NewRun, now: number): Promise<{ run: StoredRun; created: boolean }>;
  /** Reads a run. */
  getRun(runId: string): Promise<StoredRun | undefined>;
  /** Lists runs, newest first. */
  listRuns(filter: RunFilter): Promise<StoredRunPage>;
  /** The run's history, oldest first. */
  history(runId: string): Promise<StoredHistoryItem[]>;

  /**
   * Claims up to `limit` due runs: each gets status `running`, a higher
   * fencing token and a lease until `now + leaseMs`. Concurrent claimers never
   * get the same run.
   */
  claimRuns(options: ClaimOptions): Promise<Claim[]>;
  /** The earliest time at which a run of these workflows becomes claimable. */
  nextDueAt(workflows: readonly string[]): Promise<number | undefined>;
  /** Extends leases to `now + leaseMs`; reports the ones no longer held. */
  extendLeases(leases: readonly Lease[], now: number, leaseMs: number): Promise<LeaseState[]>;

  /** Reads checkpoint rows by key. */
  readSteps(runId: string, keys: readonly string[]): Promise<Map<string, StepRow>>;
  /** Writes atomically under a lease; throws `LeaseLostError` on a stale token. */
  write(lease: Lease, batch: WriteBatch, now: number): Promise<void>;
  /**
   * Under a lease, atomically takes the oldest unconsumed signal whose name is in
   * `names`, records it as the `done` row `row` (its `data` set to the encoded
   * `{ signal, payload }`), and writes `batch`. Returns undefined (writing
   * only `batch`) when the inbox holds none.
   */
  consumeSignal(
    lease: Lease,
    names: readonly string[],
    row: StepRow,
    batch: WriteBatch,
    now: number,
  ): Promise<ConsumedSignal | undefined>;

  /**
   * Puts a signal in a run's inbox and wakes the run when it waits for it.
   * Throws `RunNotFoundError`, or `InvalidStateError` for a finished run.
   */
  sendSignal(runId: string, name: string, payload: string | undefined, now: number): Promise<void>;
  /**
   * Cancels a run: status `cancelled`, the lease revoked. Throws
   * `RunNotFoundError`, or `InvalidStateError` for a finished run.
   */
  cancelRun(runId: string, reason: string | undefined, now: number): Promise<StoredRun>;
  /**
   * Makes a failed run claimable again from its failed step. Throws
   * `RunNotFoundError`, or `InvalidStateError` unless the run failed.
   */
  retryRun(runId: string, now: number): Promise<StoredRun>;
  /** Deletes finished runs last updated before a time; returns how many. */
  purge(finishedBefore: number): Promise<number>;

  /** Reports changes to this process's engines and workers; returns an unsubscribe function. */
  subscribe(listener: (notice: DriverNotice) => void): () => void;
}

/** One item of a stored history: an event, or a checkpoint row seen as events. */
export type StoredHistoryItem =
  | { source: "event"; seq: number; event: StoredEvent }
  | { source: "step"; seq: number; row: StepRow };

/** The `data` of the `done` row that records a consumed signal. */
export function signalRowData(name: string, payload: string | undefined): string {
  return payload === undefined
    ? `{"signal":${JSON.stringify(name)}}`
    : `{"signal":${JSON.stringify(name)},"payload":${payload}}`;
}

/** Encodes a list position as an opaque cursor (shared by all drivers). */
export function encodeCursor(createdAt: number, id: string): string {
  return btoa(JSON.stringify([createdAt, id]));
}

/** Decodes a cursor made by {@linkcode encodeCursor}; throws `TypeError` when malformed. */
export function decodeCursor(cursor: string): [number, string] {
  try {
    const value = JSON.parse(atob(cursor));
    if (
      Array.isArray(value) && value.length === 2 && Number.isFinite(value[0]) &&
      typeof value[1] === "string"
    ) return value as [number, string];
  } catch {
    // fall through to the error below
  }
  throw new TypeError(
    `Cannot use cursor '${cursor}': pass the 'nextCursor' of a previous page`,
  );
}

/** The run `createRun` stores for a new run: pending, no lease yet. */
export function pendingRun(run: NewRun, now: number): StoredRun {
  const stored: StoredRun = {
    id: run.id,
    workflow: run.workflow,
    version: run.version,
    planHash: run.planHash,
    status: "pending",
    labels: { ...run.labels },
    createdAt: now,
    updatedAt: now,
    dueAt: run.dueAt,
    leaseToken: 0,
  };
  if (run.input !== undefined) stored.input = run.input;
  return stored;
}
