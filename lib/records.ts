/**
 * Run records: what `get`, `list`, `history` and `start` give back and take,
 * and the conversion of a stored run into its public record.
 *
 * @module
 */
import type { WatchEvent, WatchOptions } from "./watch.ts";
import {
  CHILD_SIGNAL_PREFIX,
  type HistoryEventType,
  type RunFilter,
  type RunStatus,
  type StoredRun,
} from "./driver.ts";
import type { ErrorInfo } from "./errors.ts";
import { decodeValue } from "./values.ts";
import { splitRunError } from "./formats.ts";

/**
 * A run as `get` and `list` return it.
 *
 * @example Read a finished run
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunRecord, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<{ qty: number }>("order").step("price", (o) => o.qty * 3);
 * await using runner = new LocalRunner();
 * const labels = { shop: "eu" };
 * const run = await runner.start(wf, { qty: 2 }, { id: "order-1", labels, priority: 2 });
 * await run.result();
 * const record: RunRecord = await runner.get("order-1");
 * assert.equal(record.status, "completed");
 * assert.deepEqual(record.input, { qty: 2 });
 * assert.equal(record.output, 6);
 * assert.deepEqual(record.labels, { shop: "eu" });
 * assert.equal(record.priority, 2);
 * ```
 */
export interface RunRecord {
  /** The run id. */
  id: string;
  /** Workflow name. */
  workflow: string;
  /** Workflow version the run started with. */
  version: string;
  /** Plan hash the run started with. */
  planHash: string;
  /** Current status. */
  status: RunStatus;
  /** The workflow input. */
  input: unknown;
  /** The output, once completed. */
  output?: unknown;
  /** The error, once failed or cancelled. */
  error?: ErrorInfo;
  /** Labels given at start. */
  labels: Record<string, string>;
  /** When the run was created. */
  createdAt: Date;
  /** When its status last changed. */
  updatedAt: Date;
  /** When a sleeping or waiting run wakes (timer or signal timeout). */
  wakeAt?: Date;
  /** The signals a waiting run waits for (names you can send; absent when none). */
  waitingFor?: string[];
  /**
   * The `.call` child runs a waiting run waits for (their ids; absent when
   * none): the run resumes when one of them finishes.
   */
  waitingForChildren?: string[];
  /**
   * True when the run failed, timed out or was cancelled with compensation,
   * and at least one compensation ran and all succeeded.
   */
  compensated?: true;
  /** The run that started this one with `.call` or `.spawn`. */
  parentId?: string;
  /**
   * Under a workflow `timeout`: when the run times out, fixed when it is
   * created (its `startAt`, or its creation, plus the timeout) and renewed by
   * `retry()`. Kept once the run finished; absent without a timeout.
   */
  deadlineAt?: Date;
  /** The claim priority given at start (higher is claimed first); absent when 0. */
  priority?: number;
  /** The `concurrency` key computed at start; absent without a key function. */
  concurrencyKey?: string;
  /** The `rateLimit` key computed at start; absent without a key function. */
  rateKey?: string;
  /**
   * `no-worker` when no live worker can execute the unfinished run: its
   * workflow version (plan hash) is served by no worker seen within three
   * heartbeat intervals. Computed when read.
   */
  stalled?: "no-worker";
}

/**
 * A live worker, as `workers()` lists it.
 *
 * @example List the live workers
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, type WorkerRecord, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("inc").step("inc", (n) => n + 1);
 * await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
 * await using worker = engine.worker({ id: "w-1" });
 * await worker.start();
 * const [live]: WorkerRecord[] = await engine.workers();
 * assert.equal(live?.id, "w-1");
 * assert.deepEqual(live?.serves, [{ workflow: "inc", version: "1", planHash: wf.planHash }]);
 * ```
 */
export interface WorkerRecord {
  /** The worker id (the lease owner of the runs it holds). */
  id: string;
  /** The host name of its machine (`unknown` without permission to read it). */
  host: string;
  /** Its process id. */
  pid: number;
  /** When it started. */
  startedAt: Date;
  /** Its last heartbeat. */
  lastSeenAt: Date;
  /** The workflow versions it serves. */
  serves: { workflow: string; version: string; planHash: string }[];
}

/**
 * A page of runs, newest first.
 *
 * @example Page through runs
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunPage, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("n").step("n", (n) => n);
 * await using runner = new LocalRunner();
 * for (const n of [1, 2, 3]) await runner.run(wf, n);
 * const first: RunPage = await runner.list({ limit: 2 });
 * const second: RunPage = await runner.list({ limit: 2, cursor: first.nextCursor });
 * assert.equal(first.runs.length, 2);
 * assert.equal(second.runs.length, 1);
 * assert.equal(second.nextCursor, undefined);
 * ```
 */
export interface RunPage {
  /** The runs. */
  runs: RunRecord[];
  /** Pass as `cursor` to get the next page; absent on the last page. */
  nextCursor?: string;
}

/**
 * Filters of `list`.
 *
 * @example Filter by status and label
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ListOptions, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("invoice").step("total", (n) => n * 2);
 * await using runner = new LocalRunner();
 * await runner.run(wf, 1, { labels: { team: "billing" } });
 * await runner.run(wf, 2, { labels: { team: "sales" } });
 * const options: ListOptions = { status: ["completed"], labels: { team: "billing" }, limit: 10 };
 * const page = await runner.list(options);
 * assert.deepEqual(page.runs.map((r) => r.output), [2]);
 * ```
 */
export interface ListOptions extends Omit<RunFilter, "createdAfter" | "createdBefore"> {
  /**
   * Page size, 1 to 1000.
   * @default {100}
   */
  limit?: number;
  /** Only runs created at or after this time (a `Date` or epoch ms). */
  createdAfter?: Date | number;
  /** Only runs created at or before this time (a `Date` or epoch ms). */
  createdBefore?: Date | number;
}

/**
 * One entry of a run's history.
 *
 * @example The history of a one-step run
 * ```ts
 * import assert from "node:assert/strict";
 * import { type HistoryEvent, LocalRunner, workflow } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner();
 * const run = await runner.start(workflow<number>("h").step("inc", (n) => n + 1), 1);
 * await run.result();
 * const history: HistoryEvent[] = await runner.history(run.id);
 * assert.deepEqual(history.map((e) => e.step ? `${e.type} ${e.step}` : e.type), [
 *   "run.created",
 *   "run.started",
 *   "step.started inc",
 *   "step.completed inc",
 *   "run.completed",
 * ]);
 * ```
 */
export interface HistoryEvent {
  /** What happened. */
  type: HistoryEventType;
  /** When. */
  at: Date;
  /**
   * Its place in the run's history: higher for later writes, and the same on
   * every read. Pass the last one read as `after` to read the next page.
   */
  seq: number;
  /** The step key concerned. */
  step?: string;
  /** The attempt concerned. */
  attempt?: number;
  /** A step's output (`step.completed`). */
  output?: unknown;
  /** The error (`step.failed`, `run.failed`). */
  error?: ErrorInfo;
  /** When the run or step wakes (`run.sleeping`, `run.waiting`, `step.retried`). */
  wakeAt?: Date;
  /** The signals waited for (`run.waiting`; absent when none). */
  signals?: string[];
  /** The `.call` child runs waited for, their ids (`run.waiting`; absent when none). */
  children?: string[];
  /** The signal name (`signal.received`). */
  signal?: string;
  /** The signal payload (`signal.received`). */
  payload?: unknown;
  /** The cancel reason (`run.cancelled`). */
  reason?: string;
  /** The worker whose lease expired (`run.recovered`). */
  previousWorker?: string;
  /** The worker that took the run over (`run.recovered`). */
  worker?: string;
  /** The `.call` child run that finished (`child.finished`). */
  child?: string;
  /**
   * How the child ended (`child.finished`): `completed`, `failed` or
   * `cancelled`; absent in histories written before Sluice recorded it.
   */
  status?: "completed" | "failed" | "cancelled";
}

/**
 * Options of `cancel`.
 *
 * @example Cancel and compensate
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CancelOptions } from "@sluice/sluice";
 *
 * const options: CancelOptions = { reason: "customer left", compensate: true };
 * assert.equal(options.compensate, true);
 * ```
 */
export interface CancelOptions {
  /** Why; stored with the cancel error and the `run.cancelled` event. */
  reason?: string;
  /**
   * Run the compensations of the completed steps before the run ends
   * `cancelled`; the run stays unfinished until they have run.
   * @default {false}
   */
  compensate?: boolean;
}

/**
 * Options of `start`.
 *
 * @example Start later, with an id and labels
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type StartOptions, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("invoice").step("total", (n) => n * 2);
 * await using runner = new LocalRunner({ clock: "virtual" });
 * const options: StartOptions = {
 *   id: "invoice-42",
 *   labels: { customer: "ada" },
 *   startAt: Date.now() + 60_000, // a minute from now
 * };
 * const run = await runner.start(wf, 21, options);
 * assert.equal((await runner.get(run.id)).status, "pending");
 * const again = await runner.start(wf, 99, options); // same id: the same run
 * assert.equal(again.id, "invoice-42");
 * assert.equal(await again.result(), 42);
 * ```
 */
export interface StartOptions {
  /** The run id; starting again with an existing id returns the existing run. */
  id?: string;
  /** Labels to filter runs by. */
  labels?: Record<string, string>;
  /** Delays the first step durably until this time. */
  startAt?: Date | number;
  /**
   * Among due runs, higher priority is claimed first (an integer).
   * @default {0}
   */
  priority?: number;
  /**
   * Signal-with-start: creates the run unless it exists and puts this signal
   * in its inbox, atomically. On an existing unfinished run of the workflow it
   * just signals it; a finished one is `InvalidStateError`; an id held by
   * another workflow is `DuplicateRunError`. `id` as for `signal`.
   */
  signal?: { name: string; payload?: unknown; id?: string | undefined };
}

/**
 * Options of `signal`.
 *
 * @example Send a signal at most once
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type SignalOptions, workflow } from "@sluice/sluice";
 *
 * const wf = workflow("ship").waitForSignal("go", "go");
 * await using runner = new LocalRunner({ workflows: [wf] });
 * const run = await runner.start(wf, undefined);
 * const once: SignalOptions = { id: "go-1" };
 * await runner.signal(run.id, "go", 1, once);
 * await runner.signal(run.id, "go", 2, once); // the same id: a no-op
 * assert.equal(await run.result(), 1);
 * ```
 */
export interface SignalOptions {
  /**
   * The signal's id (the run-id rules): a run takes each id at most once; a
   * repeat resolves without delivering anything, even after the run finished.
   */
  id?: string | undefined;
}

/**
 * Options of `fork`.
 *
 * @example Fork a run from its second step with a new input
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ForkOptions, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("quote")
 *   .step("base", (n) => n * 10)
 *   .step("total", (base, ctx) => base + ctx.input);
 * await using runner = new LocalRunner();
 * const run = await runner.start(wf, 1);
 * assert.equal(await run.result(), 11);
 * const options: ForkOptions = { from: "total", input: 5, id: "quote-again" };
 * const fork = await runner.fork<number>(run.id, options);
 * assert.equal(await fork.result(), 15); // 'base' is reused: 10 + 5
 * ```
 */
export interface ForkOptions {
  /**
   * The top-level step to run from: the recorded results of the top-level
   * steps before it are reused. Absent: the new run starts over.
   */
  from?: string;
  /** A new input (JSON plus Date); absent: the original run's input. */
  input?: unknown;
  /** The new run's id; forking again with an existing id returns that run. */
  id?: string;
}

/**
 * A started run.
 *
 * @typeParam Out The workflow output type.
 *
 * @example Signal a run through its handle
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunHandle, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<string>("gate").waitForSignal<string>("open", "open");
 * await using runner = new LocalRunner();
 * const run: RunHandle<string> = await runner.start(wf, "x", { id: "gate-1" });
 * await run.signal("open", "by ada");
 * assert.equal(run.id, "gate-1");
 * assert.equal(await run.result(), "by ada");
 * assert.equal(await run.status(), "completed");
 * ```
 */
export interface RunHandle<Out> {
  /** The run id. */
  readonly id: string;
  /** Resolves with the output; rejects with `WorkflowFailedError` or `CancelledError`. */
  result(): Promise<Out>;
  /** The current status. */
  status(): Promise<RunStatus>;
  /** Sends a signal to the run. */
  signal(name: string, payload?: unknown): Promise<void>;
  /** Cancels the run. */
  cancel(reason?: string): Promise<void>;
  /** The run's history events as they are committed (`watch({ runId })`). */
  watch(options?: WatchOptions): AsyncIterable<WatchEvent>;
}

/** Converts a stored run to a public record. */
export function toRunRecord(run: StoredRun): RunRecord {
  const record: RunRecord = {
    id: run.id,
    workflow: run.workflow,
    version: run.version,
    planHash: run.planHash,
    status: run.status,
    input: decodeValue(run.input),
    labels: run.labels,
    createdAt: new Date(run.createdAt),
    updatedAt: new Date(run.updatedAt),
  };
  if (run.output !== undefined) record.output = decodeValue(run.output);
  if (run.error !== undefined) {
    const [error, compensated] = splitRunError(run.error);
    record.error = error;
    if (compensated) record.compensated = true;
  }
  if ((run.status === "sleeping" || run.status === "waiting") && run.dueAt !== undefined) {
    record.wakeAt = new Date(run.dueAt);
  }
  if (run.status === "waiting" && run.waitingFor) splitWaitingFor(record, run.waitingFor);
  if (run.parentId !== undefined) record.parentId = run.parentId;
  if (run.deadlineAt !== undefined) record.deadlineAt = new Date(run.deadlineAt);
  if (run.priority) record.priority = run.priority;
  if (run.concurrencyKey) record.concurrencyKey = run.concurrencyKey;
  if (run.rateKey) record.rateKey = run.rateKey;
  return record;
}

/**
 * Splits what a waiting run waits for: signal names stay `waitingFor`; the
 * wake-ups of `.call` children (`@child:<id>`, which no one can send) become
 * the children's ids in `waitingForChildren`.
 */
function splitWaitingFor(record: RunRecord, names: readonly string[]): void {
  const signals: string[] = [];
  const children: string[] = [];
  for (const name of names) {
    if (name.startsWith(CHILD_SIGNAL_PREFIX)) children.push(name.slice(CHILD_SIGNAL_PREFIX.length));
    else signals.push(name);
  }
  if (signals.length > 0) record.waitingFor = signals;
  if (children.length > 0) record.waitingForChildren = children;
}
