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
import type { ScheduleStore } from "./schedule_store.ts";

/**
 * The life-cycle states of a run.
 *
 * @example Group statuses, exhaustively
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunStatus, workflow } from "@sluice/sluice";
 *
 * const phase: Record<RunStatus, "active" | "parked" | "finished"> = {
 *   pending: "active",
 *   running: "active",
 *   sleeping: "parked",
 *   waiting: "parked",
 *   paused: "parked",
 *   completed: "finished",
 *   failed: "finished",
 *   cancelled: "finished",
 * };
 * await using runner = new LocalRunner();
 * const run = await runner.start(workflow<number>("n").step("n", (n) => n), 1);
 * await run.result();
 * assert.equal(phase[await run.status()], "finished");
 * ```
 */
export type RunStatus =
  | "pending"
  | "running"
  | "sleeping"
  | "waiting"
  | "paused"
  | "completed"
  | "failed"
  | "cancelled";

/** Whether a status is final. */
export function isFinished(status: RunStatus): boolean {
  return status === "completed" || status === "failed" || status === "cancelled";
}

/**
 * A run as a driver stores it; values are encoded text.
 *
 * @example Read a run as the driver stores it
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredRun } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun({ ...run, input: JSON.stringify({ qty: 2 }) }, 1_000);
 * const stored: StoredRun | undefined = await driver.getRun("r-1");
 * assert.equal(stored?.status, "pending");
 * assert.equal(stored?.input, '{"qty":2}');
 * assert.equal(stored?.createdAt, 1_000);
 * assert.equal(stored?.leaseToken, 0);
 * await driver.close();
 * ```
 */
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
  /**
   * Takeovers since the run last wrote anything: each claim of a run whose
   * lease expired adds one; a write flagged `clearRecoveries`, a write with a
   * `run` transition and a retry reset it. Absent when 0.
   */
  recoveries?: number;
  /** The concurrency key computed at start (flow control); absent when none. */
  concurrencyKey?: string;
  /** The rate-limit key computed at start (flow control); absent when none. */
  rateKey?: string;
  /** The claim priority given at start; absent when 0. */
  priority?: number;
  /** The run that started this one with `.call` or `.spawn`. */
  parentId?: string;
  /**
   * True for a `.call` child: finishing it (completed, failed or cancelled)
   * puts {@linkcode childSignal} of its id in the parent's inbox in the same
   * write, and the parent's unsuccessful end cancels it.
   */
  parentCall?: boolean;
}

/**
 * What `createRun` stores.
 *
 * @example Create a run, idempotently
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type NewRun } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const newRun: NewRun = {
 *   id: "r-1",
 *   workflow: "billing",
 *   version: "1",
 *   planHash: "h",
 *   input: "42", // encoded text: the number 42
 *   labels: { shop: "eu" },
 *   dueAt: 0,
 * };
 * assert.ok((await driver.createRun(newRun, 0)).created);
 * // The existing run is kept:
 * assert.equal((await driver.createRun(newRun, 5)).created, false);
 * await driver.close();
 * ```
 */
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
  /** The concurrency key (flow control), computed once at start. */
  concurrencyKey?: string;
  /** The rate-limit key (flow control), computed once at start. */
  rateKey?: string;
  /** Higher is claimed first among due runs. @default {0} */
  priority?: number;
  /**
   * `done` checkpoint rows the run starts with (a fork's reused results),
   * recorded atomically with it, after its `run.created` event. Such a run
   * starts with lease token 1, so its first claim (token 2) is not taken for
   * a fresh run, which reads no rows.
   */
  steps?: StepRow[];
  /** The run that starts this one (`.call` or `.spawn`). */
  parentId?: string;
  /** True for a `.call` child (see {@linkcode StoredRun.parentCall}). */
  parentCall?: boolean;
}

/**
 * A worker's hold on a run. Writes made under a stale token are refused.
 *
 * @example Writes under a stale token are refused
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Lease, MemoryDriver } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const lease: Lease = (await driver.claimRuns(claim))[0]!.lease;
 * const stale: Lease = { runId: "r-1", token: lease.token - 1 };
 * await assert.rejects(driver.write(stale, { run: { status: "completed" } }, 5), {
 *   code: "LEASE_LOST",
 * });
 * await driver.write(lease, { run: { status: "completed", output: "42" } }, 5);
 * assert.equal((await driver.getRun("r-1"))?.status, "completed");
 * await driver.close();
 * ```
 */
export interface Lease {
  /** The run id. */
  readonly runId: string;
  /** The fencing token issued by the claim. */
  readonly token: number;
}

/**
 * A run handed to a worker by `claimRuns`.
 *
 * @example Claim a due run
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Claim, MemoryDriver } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const claims: Claim[] = await driver.claimRuns(claim);
 * for (const { run, lease, previousStatus } of claims) {
 *   assert.equal(run.status, "running");
 *   assert.equal(previousStatus, "pending");
 *   assert.deepEqual(lease, { runId: "r-1", token: 1 });
 * }
 * await driver.close();
 * ```
 */
export interface Claim {
  /** The run, as it is after the claim (status `running`). */
  run: StoredRun;
  /** The lease to write under. */
  lease: Lease;
  /** The status before the claim; `pending` means the run has not started. */
  previousStatus: RunStatus;
  /**
   * The worker whose lease had expired, when the claim took the run over (a
   * `run.recovered` event records it); absent for an ordinary claim.
   */
  previousOwner?: string;
}

/**
 * A checkpoint row: the recorded state of one node of a run, keyed by step key.
 *
 * @example Record a step's result and read it back
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StepRow } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const { lease } = (await driver.claimRuns(claim))[0]!;
 * const row: StepRow = { key: "charge", kind: "step", state: "done", data: "100", attempt: 1 };
 * await driver.write(lease, { steps: [row] }, 2);
 * await driver.write(lease, { steps: [{ ...row, data: "999" }] }, 3); // a done row never changes
 * const rows = await driver.readSteps("r-1", ["charge", "ship"]);
 * assert.equal(rows.size, 1);
 * assert.equal(rows.get("charge")?.data, "100");
 * await driver.close();
 * ```
 */
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

/**
 * The kinds of history events.
 *
 * @example Did the run end?
 * ```ts
 * import assert from "node:assert/strict";
 * import { type HistoryEventType, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const endings: HistoryEventType[] = ["run.completed", "run.failed", "run.cancelled"];
 * await using runner = new LocalRunner();
 * const run = await runner.start(workflow<number>("n").step("n", (n) => n), 1);
 * await run.result();
 * const last = (await runner.history(run.id)).at(-1)!;
 * assert.equal(last.type, "run.completed");
 * assert.ok(endings.includes(last.type));
 * ```
 */
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
  | "run.retried"
  | "run.recovered"
  | "run.paused"
  | "run.resumed"
  | "compensation.started"
  | "compensation.completed"
  | "compensation.failed";

/**
 * A history event as a driver stores it.
 *
 * @example Append an event to a run's history
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredEvent } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const { lease } = (await driver.claimRuns(claim))[0]!;
 * const event: StoredEvent = { type: "step.retried", at: 5, step: "charge", attempt: 1 };
 * await driver.write(lease, { events: [event] }, 5);
 * const items = await driver.history("r-1");
 * assert.deepEqual(
 *   items.map((i) => (i.source === "event" ? i.event.type : i.row.key)),
 *   ["run.created", "run.started", "step.retried"],
 * );
 * await driver.close();
 * ```
 */
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

/**
 * How a fenced write moves the run.
 *
 * @example Put a run to sleep
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type RunTransition } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const { lease } = (await driver.claimRuns(claim))[0]!;
 * const sleep: RunTransition = { status: "sleeping", dueAt: 60_000 };
 * await driver.write(lease, { run: sleep }, 10);
 * const stored = await driver.getRun("r-1");
 * assert.equal(stored?.status, "sleeping");
 * assert.equal(stored?.dueAt, 60000);
 * assert.equal(stored?.leaseOwner, undefined);
 * await driver.close();
 * ```
 */
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
    /** A run cancelled with compensation ends once its compensations ran. */
    status: "cancelled";
    error: ErrorInfo;
  }
  | {
    /** The lease is handed back (graceful stop); the run is claimable at once. */
    status: "running";
  };

/**
 * Everything one fenced write records, atomically.
 *
 * @example Finish a run in one atomic write
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type WriteBatch } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const { lease } = (await driver.claimRuns(claim))[0]!;
 * const batch: WriteBatch = {
 *   steps: [{ key: "charge", kind: "step", state: "done", data: "100", attempt: 1 }],
 *   events: [{ type: "run.completed", at: 5 }],
 *   run: { status: "completed", output: "100" },
 * };
 * await driver.write(lease, batch, 5);
 * assert.equal((await driver.getRun("r-1"))?.output, "100");
 * await driver.close();
 * ```
 */
export interface WriteBatch {
  /** Checkpoint rows to insert or update (a `done` row is never overwritten). */
  steps?: StepRow[];
  /** History events to append. */
  events?: StoredEvent[];
  /** A status change of the run. */
  run?: RunTransition;
  /** Labels merged onto the run's labels (`ctx.setLabels`), fenced like the rest. */
  labels?: Record<string, string>;
  /**
   * Names whose entries leave the run's inbox (every entry of each name),
   * fenced like the rest: a `.call` parent drops its child's wake-up
   * ({@linkcode childSignal}) once it has read the finished child, so
   * wake-ups never pile up. A name with no entry is no error.
   */
  dropSignals?: string[];
  /**
   * Resets the run's `recoveries`: the engine sets it on the first `write`
   * after a takeover, since the run made progress (a write with a `run`
   * transition resets them anyway).
   */
  clearRecoveries?: boolean;
}

/**
 * The signal of {@linkcode Driver.startWithSignal} (the payload encoded).
 *
 * @example Create a run with a signal in its inbox
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type NewSignal } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r1", workflow: "wf", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * const signal: NewSignal = { name: "go", payload: "1", id: "go-1" };
 * const started = await driver.startWithSignal(run, signal, 0);
 * assert.deepEqual([started.created, started.delivered], [true, true]);
 * const again = await driver.startWithSignal(run, signal, 1);
 * assert.deepEqual([again.created, again.delivered], [false, false]);
 * await driver.close();
 * ```
 */
export interface NewSignal {
  /** Signal name. */
  name: string;
  /** Encoded payload. */
  payload?: string | undefined;
  /** The signal's id (see {@linkcode SendSignalOptions}). */
  id?: string | undefined;
}

/**
 * Options of {@linkcode Driver.sendSignal}.
 *
 * @example A signal delivered at most once per run
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type SendSignalOptions } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r1", workflow: "wf", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const once: SendSignalOptions = { id: "order-7/paid" };
 * assert.equal(await driver.sendSignal("r1", "paid", undefined, 1, once), true);
 * assert.equal(await driver.sendSignal("r1", "paid", undefined, 2, once), false);
 * await driver.close();
 * ```
 */
export interface SendSignalOptions {
  /** The signal's id: a run takes each id at most once. */
  id?: string | undefined;
}

/**
 * A signal taken from a run's inbox.
 *
 * @example Take a signal from a run's inbox
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ConsumedSignal, MemoryDriver } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "review", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["review"] };
 * const { lease } = (await driver.claimRuns(claim))[0]!;
 * await driver.sendSignal("r-1", "approved", JSON.stringify({ by: "ada" }), 1);
 * const row = { key: "approval", kind: "wait", state: "done" as const };
 * const names = ["approved"];
 * const signal: ConsumedSignal | undefined = await driver.consumeSignal(lease, names, row, {}, 2);
 * assert.deepEqual(signal, { name: "approved", payload: '{"by":"ada"}' });
 * await driver.close();
 * ```
 */
export interface ConsumedSignal {
  /** Signal name. */
  name: string;
  /** Encoded payload. */
  payload?: string;
}

/**
 * The state of a lease after `extendLeases`.
 *
 * @example Heartbeat, then find the run cancelled
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LeaseState, MemoryDriver } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const { lease } = (await driver.claimRuns(claim))[0]!;
 * const stale = { ...lease, token: 0 };
 * const states: LeaseState[] = await driver.extendLeases([lease, stale], 10, 1_000);
 * assert.deepEqual(states.map((s) => s.state), ["held", "lost"]);
 * await driver.cancelRun("r-1", "not needed", 20);
 * assert.equal((await driver.extendLeases([lease], 30, 1_000))[0]?.state, "cancelled");
 * await driver.close();
 * ```
 */
export interface LeaseState {
  /** The run id. */
  runId: string;
  /**
   * `held` when extended; `paused` when extended but the run was paused (its
   * activation finishes the steps in flight and hands it back); `lost` when
   * another token owns the run; `cancelled` when cancelled.
   */
  state: "held" | "paused" | "lost" | "cancelled";
  /** Whether the run's inbox holds unconsumed signals. */
  signals: boolean;
}

/**
 * Filters of `listRuns`.
 *
 * @example List pending runs of one workflow with a label
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type RunFilter } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const base = { version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun({ ...base, id: "a", workflow: "billing", labels: { shop: "eu" } }, 0);
 * await driver.createRun({ ...base, id: "b", workflow: "billing" }, 1);
 * await driver.createRun({ ...base, id: "c", workflow: "shipping" }, 2);
 * const filter: RunFilter = { status: "pending", workflow: "billing", labels: { shop: "eu" } };
 * assert.deepEqual((await driver.listRuns(filter)).runs.map((r) => r.id), ["a"]);
 * await driver.close();
 * ```
 */
export interface RunFilter {
  /** Only runs in this status (or these statuses). */
  status?: RunStatus | RunStatus[];
  /** Only runs of this workflow. */
  workflow?: string;
  /** Only runs carrying all these labels. */
  labels?: Record<string, string>;
  /** Only runs created at or after this time (epoch ms). */
  createdAfter?: number;
  /** Only runs created at or before this time (epoch ms). */
  createdBefore?: number;
  /** Only children of this run (`.call` and `.spawn`). */
  parentId?: string;
  /**
   * Page size.
   * @default {100}
   */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string | undefined;
}

/**
 * A page of runs, newest first.
 *
 * @example Page through runs, newest first
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredRunPage } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const base = { workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * for (const [i, id] of ["a", "b", "c"].entries()) await driver.createRun({ ...base, id }, i);
 * const first: StoredRunPage = await driver.listRuns({ limit: 2 });
 * const next: StoredRunPage = await driver.listRuns({ limit: 2, cursor: first.nextCursor });
 * assert.deepEqual(first.runs.map((r) => r.id), ["c", "b"]);
 * assert.deepEqual(next.runs.map((r) => r.id), ["a"]);
 * assert.equal(next.nextCursor, undefined);
 * await driver.close();
 * ```
 */
export interface StoredRunPage {
  /** The runs. */
  runs: StoredRun[];
  /** Pass it as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

/**
 * A change a driver reports to the engines and workers of its process.
 *
 * @example Watch what a driver reports
 * ```ts
 * import assert from "node:assert/strict";
 * import { type DriverNotice, MemoryDriver } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const notices: DriverNotice[] = [];
 * const unsubscribe = driver.subscribe((notice) => notices.push(notice));
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * await driver.cancelRun("r-1", "not needed", 1);
 * unsubscribe();
 * assert.deepEqual(
 *   notices.filter((n) => n.type !== "written") // history grew: watchers re-read the feed
 *     .map((n) => `${n.type} ${n.reason ?? ""}`.trim()),
 *   ["runnable", "cancelled not needed", "finished"],
 * );
 * await driver.close();
 * ```
 */
export interface DriverNotice {
  /**
   * `runnable`: a run may be claimable now; `signal`: a signal reached a run's
   * inbox; `cancelled`: a run was cancelled; `paused`: a run was paused;
   * `finished`: a run reached a final status; `released`: a run left
   * `running` (a concurrency slot may be free); `schedule`: a schedule was
   * written; `written`: history was appended (to any run; `watch` reads the
   * feed); `changed`: something changed, re-check everything.
   */
  type:
    | "runnable"
    | "signal"
    | "cancelled"
    | "paused"
    | "finished"
    | "released"
    | "schedule"
    | "written"
    | "changed";
  /** The run concerned (absent for `changed`). */
  runId?: string;
  /** The reason given to a cancel, when known (`cancelled`). */
  reason?: string;
}

/**
 * Options of `claimRuns`.
 *
 * @example Claim due runs for a worker
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ClaimOptions, MemoryDriver } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const options: ClaimOptions = {
 *   workerId: "w-1",
 *   now: 10,
 *   leaseMs: 30_000,
 *   limit: 5,
 *   workflows: ["pay"],
 * };
 * const claims = await driver.claimRuns(options);
 * assert.equal(claims.length, 1);
 * assert.equal(claims[0]?.run.leaseOwner, "w-1");
 * assert.equal(claims[0]?.run.dueAt, 30010);
 * // The run is leased now:
 * assert.deepEqual(await driver.claimRuns(options), []);
 * await driver.close();
 * ```
 */
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
  /**
   * Flow-control limits per workflow name: a claim never lets more than
   * `concurrency` runs of a workflow and concurrency key be `running`, nor more
   * than `rateLimit.limit` runs of a workflow and rate key begin (be claimed
   * for the first time) within `rateLimit.periodMs`.
   */
  flow?: FlowLimitsByWorkflow;
}

/**
 * Flow-control limits of one workflow, as the claim enforces them.
 *
 * @example At most two running at once per key, five begun per minute
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FlowLimits } from "@sluice/sluice";
 *
 * const limits: FlowLimits = { concurrency: 2, rateLimit: { limit: 5, periodMs: 60_000 } };
 * assert.equal(limits.rateLimit?.periodMs, 60_000);
 * ```
 */
export interface FlowLimits {
  /** Most runs `running` at once, per concurrency key. */
  concurrency?: number;
  /** Most runs begun per period, per rate key. */
  rateLimit?: { limit: number; periodMs: number };
}

/**
 * Flow-control limits by workflow name.
 *
 * @example One limited workflow
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FlowLimitsByWorkflow } from "@sluice/sluice";
 *
 * const flow: FlowLimitsByWorkflow = { billing: { concurrency: 1 } };
 * assert.equal(flow.billing?.concurrency, 1);
 * ```
 */
export type FlowLimitsByWorkflow = Readonly<Record<string, FlowLimits>>;

/**
 * A storage backend. All times are passed in by the engine (drivers never read
 * the clock for what they store or compare), so a `ManualClock` controls timers
 * and leases in tests. A driver whose storage is shared by machines that may
 * disagree on the time (PostgreSQL) reports its own clock through
 * {@linkcode Driver.storageTime}; with the real clock, the engine then keeps
 * every time it computes on that timeline.
 *
 * @example A driver is used through an Engine
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("inc").step("inc", (n) => n + 1);
 * await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
 * await using worker = engine.worker();
 * await worker.start();
 * assert.equal(await (await engine.start(wf, 1)).result(), 2);
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

  /**
   * The storage's own current time (epoch ms), for storage shared by several
   * machines. When present and the engine's clock is the real one, the engine
   * measures its offset from this clock and compares leases and due times on
   * it, so a worker whose clock is off neither steals a live lease nor wakes a
   * timer early. Absent when every process sharing the storage reads one host
   * clock (memory, SQLite); never called with an injected clock.
   */
  storageTime?(): Promise<number>;

  /** Creates or upgrades the schema; safe when several processes do it at once. */
  migrate(): Promise<void>;
  /**
   * The schedules table: claims and compare-and-set changes that let workers
   * fire each slot exactly once, with no leader. Its calls fail with
   * `InvalidStateError` once the driver is closed.
   */
  readonly scheduleStore: ScheduleStore;

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
  /**
   * The run's history, oldest first: every item, or with `page` the first
   * `limit` items whose `seq` is above `after`. An item's `seq` is a whole
   * number that stays the same while the history grows, and a later write has
   * a higher one; a page shorter than `limit` is the last.
   */
  history(runId: string, page?: StoredHistoryPage): Promise<StoredHistoryItem[]>;

  /**
   * Claims up to `limit` due runs: each gets status `running`, a higher
   * fencing token and a lease until `now + leaseMs`. Concurrent claimers never
   * get the same run. Taking over a run whose lease expired (status `running`
   * with an owner) adds one to its `recoveries` and appends a `run.recovered`
   * event whose detail is `{"previousWorker","worker"}`.
   */
  claimRuns(options: ClaimOptions): Promise<Claim[]>;
  /**
   * The earliest time at which a run of these workflows becomes claimable.
   * With `flow`, runs held back by a full concurrency limit do not count (a
   * `released` notice reports a freed slot) and runs held back by a rate limit
   * count from the time the window admits them again.
   */
  nextDueAt(
    workflows: readonly string[],
    flow?: { now: number; limits: FlowLimitsByWorkflow },
  ): Promise<number | undefined>;
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
   * With `options.id`, the id is stored with the run (in the same
   * transaction) and a signal whose id the run already holds is a no-op that
   * returns false, even after the run finished. Returns true when the signal
   * was delivered. Throws `RunNotFoundError`, or `InvalidStateError` for a
   * finished run (a repeated id is checked first).
   */
  sendSignal(
    runId: string,
    name: string,
    payload: string | undefined,
    now: number,
    options?: SendSignalOptions,
  ): Promise<boolean>;
  /**
   * Signal-with-start, atomically (one transaction): creates `run` unless a
   * run with its id exists, then puts `signal` in the run's inbox as
   * {@linkcode Driver.sendSignal} does (a repeated id delivers nothing; a
   * finished run throws `InvalidStateError` and nothing changes). When the
   * existing run is of another workflow, nothing changes and it is returned
   * (`created` and `delivered` false) for the caller to refuse.
   */
  startWithSignal(
    run: NewRun,
    signal: NewSignal,
    now: number,
  ): Promise<{ run: StoredRun; created: boolean; delivered: boolean }>;
  /**
   * Cancels a run: status `cancelled`, the lease revoked. Throws
   * `RunNotFoundError`, or `InvalidStateError` for a finished run.
   */
  cancelRun(
    runId: string,
    reason: string | undefined,
    now: number,
    options?: CancelRunOptions,
  ): Promise<StoredRun>;
  /**
   * Makes a failed or cancelled run claimable again (a failed one from its
   * failed step), with its `recoveries` reset. Throws `RunNotFoundError`, or
   * `InvalidStateError` unless the run failed or was cancelled.
   */
  retryRun(runId: string, now: number): Promise<StoredRun>;
  /**
   * Pauses an unfinished run: status `paused`, not claimable until resumed.
   * The lease of a running run stays valid, so its steps in flight are
   * written (a `run` transition other than `completed`/`failed` then changes
   * what the run resumes to, not its status); `extendLeases` answers `paused`.
   * A signal waits in the inbox; a timer falling due waits for the resume.
   * Pausing a paused run returns it unchanged. Throws `RunNotFoundError`, or
   * `InvalidStateError` for a finished run.
   */
  pauseRun(runId: string, now: number): Promise<StoredRun>;
  /**
   * Resumes a paused run in the status it would have now (a timer or signal
   * due meanwhile makes it due at once). Throws `RunNotFoundError`, or
   * `InvalidStateError` unless the run is paused.
   */
  resumeRun(runId: string, now: number): Promise<StoredRun>;
  /**
   * Records a worker's heartbeat row (inserted, or replaced by id) and
   * deletes rows not seen since `forgetBefore` (workers long dead).
   */
  recordWorker(worker: StoredWorker, forgetBefore: number): Promise<void>;
  /** Deletes a worker's row (it stopped). */
  removeWorker(workerId: string): Promise<void>;
  /** Every worker row, in id order. */
  listWorkers(): Promise<StoredWorker[]>;
  /**
   * Deletes finished runs last updated before a time, with their rows;
   * returns how many. With `options`, only runs of that final status, and at
   * most `limit` of them, oldest first (retention purges in small batches).
   */
  purge(finishedBefore: number, options?: PurgeOptions): Promise<number>;

  /**
   * The feed: every run's history items in commit order, after the item
   * whose `cursor` is `after` (from the start without it), at most `limit`.
   * An item committed later never sorts before one already returned, so a
   * reader that resumes from its last cursor misses nothing.
   */
  feed(after: string | undefined, limit: number): Promise<StoredFeedItem[]>;
  /**
   * The cursor of the newest item a `feed` read would return now (undefined
   * while the feed is empty): where a reader of only what comes next starts.
   */
  feedEnd(): Promise<string | undefined>;

  /** Reports changes to this process's engines and workers; returns an unsubscribe function. */
  subscribe(listener: (notice: DriverNotice) => void): () => void;
}

/**
 * Which finished runs `purge` deletes besides the cut-off.
 *
 * @example Purge at most 100 old completed runs
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type PurgeOptions } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const options: PurgeOptions = { status: "completed", limit: 100 };
 * assert.equal(await driver.purge(Date.now(), options), 0);
 * await driver.close();
 * ```
 */
export interface PurgeOptions {
  /** Only runs of this final status. */
  status?: "completed" | "failed" | "cancelled";
  /** At most this many runs (a positive integer), the oldest first. */
  limit?: number;
}

/**
 * A worker's heartbeat row: who it is and what it serves.
 *
 * @example Record a worker and list it
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredWorker } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const worker: StoredWorker = {
 *   id: "w-1",
 *   host: "box-1",
 *   pid: 42,
 *   startedAt: 1_000,
 *   lastSeenAt: 5_000,
 *   heartbeatMs: 10_000,
 *   serves: [{ workflow: "pay", version: "1", planHash: "h" }],
 * };
 * await driver.recordWorker(worker, 0);
 * assert.deepEqual(await driver.listWorkers(), [worker]);
 * await driver.removeWorker("w-1");
 * assert.deepEqual(await driver.listWorkers(), []);
 * await driver.close();
 * ```
 */
export interface StoredWorker {
  /** The worker id. */
  id: string;
  /** The host name of its machine. */
  host: string;
  /** Its process id. */
  pid: number;
  /** When it started (epoch ms). */
  startedAt: number;
  /** Its last heartbeat (epoch ms). */
  lastSeenAt: number;
  /** How often it heartbeats (ms): it is live while seen within three of them. */
  heartbeatMs: number;
  /** The workflow versions it serves. */
  serves: { workflow: string; version: string; planHash: string }[];
}

/**
 * Options of `Driver.cancelRun`.
 *
 * @example Ask for compensation before the run ends
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CancelRunOptions, MemoryDriver } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "trip", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const options: CancelRunOptions = { compensate: true };
 * const stored = await driver.cancelRun("r-1", "user asked", 5, options);
 * assert.equal(stored.status, "running"); // claimable now; it ends cancelled once compensated
 * assert.equal(stored.dueAt, 5);
 * await driver.close();
 * ```
 */
export interface CancelRunOptions {
  /**
   * Instead of ending the run, revoke its lease and make it claimable now
   * (status `running`, no owner) with the cancel error stored with
   * `cancelling: true`: the next activation runs the compensations and ends
   * it `cancelled` (a `cancelled` transition, which writes `run.cancelled`).
   */
  compensate?: boolean;
}

/**
 * Which part of a stored history to read.
 *
 * @example Read a history two items at a time
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredHistoryPage } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const { lease } = (await driver.claimRuns(claim))[0]!;
 * await driver.write(lease, { steps: [{ key: "charge", kind: "step", state: "done" }] }, 3);
 * const first = await driver.history("r-1", { limit: 2 });
 * const page: StoredHistoryPage = { after: first.at(-1)!.seq, limit: 2 };
 * const rest = await driver.history("r-1", page);
 * assert.deepEqual([...first, ...rest], await driver.history("r-1"));
 * assert.equal(rest.length, 1); // shorter than the limit: the last page
 * await driver.close();
 * ```
 */
export interface StoredHistoryPage {
  /** Only items whose `seq` is above this one (the last `seq` of the previous page). */
  after?: number;
  /** Most items to return (a positive integer). */
  limit: number;
}

/**
 * One item of a stored history: an event, or a checkpoint row seen as events.
 *
 * @example Events and checkpoint rows, in write order
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredHistoryItem } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const { lease } = (await driver.claimRuns(claim))[0]!;
 * await driver.write(lease, { steps: [{ key: "charge", kind: "step", state: "done" }] }, 3);
 * const items: StoredHistoryItem[] = await driver.history("r-1");
 * assert.deepEqual(
 *   items.map((i) => (i.source === "event" ? i.event.type : `row ${i.row.key}`)),
 *   ["run.created", "run.started", "row charge"],
 * );
 * await driver.close();
 * ```
 */
export type StoredHistoryItem =
  | { source: "event"; seq: number; event: StoredEvent }
  | { source: "step"; seq: number; row: StepRow };

/**
 * One item of the feed (`Driver.feed`): a history item of some run, with its
 * place in commit order.
 *
 * @example Read the feed of every run, in commit order
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredFeedItem } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * await driver.createRun({ ...run, id: "r-2" }, 1);
 * const items: StoredFeedItem[] = await driver.feed(undefined, 10);
 * assert.deepEqual(items.map((i) => i.runId), ["r-1", "r-2"]);
 * assert.deepEqual(await driver.feed(items[0]!.cursor, 10), [items[1]]);
 * await driver.close();
 * ```
 */
export interface StoredFeedItem {
  /** Its place in the feed: pass it as `after` to read what follows. */
  cursor: string;
  /** The run. */
  runId: string;
  /** The run's workflow. */
  workflow: string;
  /** The history item. */
  item: StoredHistoryItem;
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
    leaseToken: run.steps?.length ? 1 : 0,
  };
  if (run.input !== undefined) stored.input = run.input;
  if (run.concurrencyKey) stored.concurrencyKey = run.concurrencyKey;
  if (run.rateKey) stored.rateKey = run.rateKey;
  if (run.priority) stored.priority = run.priority;
  if (run.parentId !== undefined) stored.parentId = run.parentId;
  if (run.parentCall) stored.parentCall = true;
  return stored;
}

/**
 * The name of the inbox entry that a finished `.call` child leaves in its
 * parent's inbox (in the same write that finishes it), which wakes the parent
 * when it waits for the child. User signal names cannot start with `@`.
 *
 * @example The wake-up of child `order-1/pay`
 * ```ts
 * import assert from "node:assert/strict";
 * import { childSignal } from "./driver.ts";
 *
 * assert.equal(childSignal("order-1/pay"), "@child:order-1/pay");
 * ```
 */
export function childSignal(childId: string): string {
  return CHILD_SIGNAL_PREFIX + childId;
}

/** The prefix of {@linkcode childSignal} (the PostgreSQL driver builds it in SQL). */
export const CHILD_SIGNAL_PREFIX = "@child:";
