/**
 * What a run writes through its driver: step rows, history events, run
 * transitions and the write batch that carries them under a lease, and the
 * signals of the inbox. Part of the driver interface (`driver.ts`).
 *
 * @module
 */
import type { ErrorInfo } from "./errors.ts";

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
  | "compensation.failed"
  | "child.finished";

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
 * The name of the inbox entry that a finished `.call` child leaves in its
 * parent's inbox (in the same write that finishes it), which wakes the parent
 * when it waits for the child. User signal names cannot start with `@`. The
 * same write appends a `child.finished` event (the child's id and status,
 * `childFinishedDetail`) to the parent's history, not a `signal.received`:
 * the name is the engine's, not for people.
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
