/**
 * The driver's records of runs, leases and claims: a run's status and stored
 * form, what `createRun` takes, a lease and a claim, and the options of
 * `claimRuns` and `cancelRun`. Part of the driver interface (`driver.ts`).
 *
 * @module
 */
import type { ErrorInfo } from "./errors.ts";
import type { StepRow } from "./driver_rows.ts";

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
   * puts {@linkcode childSignal} of its id in the parent's inbox, and a
   * `child.finished` event in the parent's history, in the same write (unless
   * the parent finished), and the parent's unsuccessful end cancels it.
   */
  parentCall?: boolean;
  /**
   * Under a workflow `timeout`: the run's deadline (epoch ms), stored when it
   * is created (its start time plus the timeout) and renewed by `retryRun`.
   * Absent without a timeout (or for a run stored before the column existed).
   */
  deadlineAt?: number;
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
  /** The deadline under a workflow `timeout` (see {@linkcode StoredRun.deadlineAt}). */
  deadlineAt?: number;
  /**
   * Claims the new run for this worker in the same write (a worker of the
   * starting process has a free slot): it is stored `running` under lease
   * token 1 owned by `workerId`, due when the lease expires (`now + leaseMs`),
   * with `run.started` after `run.created` in its history, and no `runnable`
   * notice. Ignored when the run exists already. A driver may ignore it (the
   * run is then stored `pending` and claimed as usual): the returned run says
   * which happened.
   */
  claimFor?: { workerId: string; leaseMs: number };
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
  if (run.deadlineAt !== undefined) stored.deadlineAt = run.deadlineAt;
  return stored;
}
