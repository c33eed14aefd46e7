/**
 * The one front door: every operation on runs, written once, that `Engine`
 * and `LocalRunner` both inherit. A new operation is one method here; how
 * runs are created (`start`, `fork`) is in `client_start.ts`, how they are
 * read (`list`, `history`, `result`) in `client_read.ts`.
 *
 * @module
 */
import { notify, type ObserverEvent } from "./recorder.ts";
import type { StepDef, StepFn, Workflow } from "./builder.ts";
import { RunNotFoundError } from "./errors.ts";
import { cancelCallChildren } from "./children.ts";
import { encodeValue } from "./values.ts";
import type { HistoryOptions } from "./history.ts";
import { deadlineFrom, toStoredTime } from "./time.ts";
import {
  type CancelOptions,
  type ForkOptions,
  type HistoryEvent,
  type ListOptions,
  type RunHandle,
  type RunPage,
  type RunRecord,
  type SignalOptions,
  type StartOptions,
  toRunRecord,
  type WorkerRecord,
} from "./records.ts";
import { isLive, stalledRuns } from "./presence.ts";
import type { Runtime } from "./runtime.ts";
import { type WatchEvent, watchEvents, type WatchFilter, type WatchOptions } from "./watch.ts";
import { Schedules } from "./schedules.ts";
import { forkRun, startRun } from "./client_start.ts";
import { awaitResult, listRuns, readHistory } from "./client_read.ts";
import { checkCancelOptions, checkRunId, checkSignalName, checkSignalOptions } from "./validate.ts";

let bind: (client: RunClient, runtime: Runtime, onWork: (() => void) | undefined) => void;

/**
 * Gives a front door its runtime; called once by the `Engine` and
 * `LocalRunner` constructors. `onWork` runs before an operation that makes a
 * run due (`start`, `retry`), so `LocalRunner` can start its worker lazily.
 */
export function bindRuntime(
  client: RunClient,
  runtime: Runtime,
  onWork?: () => void,
): void {
  bind(client, runtime, onWork);
}

/**
 * The operations on runs that {@linkcode Engine} and {@linkcode LocalRunner}
 * share, from one implementation: start, signal, cancel, inspect, wait for,
 * retry and purge runs, register workflows and override steps. Code written
 * against a `RunClient` works with either front door.
 *
 * @example The same function over an engine and a runner
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, LocalRunner, MemoryDriver, type RunClient, workflow } from "@sluice/sluice";
 *
 * const double = workflow<number>("double").step("double", (n) => n * 2);
 * async function runTwice(client: RunClient): Promise<number[]> {
 *   client.register(double);
 *   const a = await client.start(double, 1);
 *   const b = await client.start("double", 2); // by name: the newest version
 *   return [await a.result(), await client.result<number>(b.id)];
 * }
 * await using runner = new LocalRunner();
 * await using engine = new Engine({ driver: new MemoryDriver() });
 * await using worker = engine.worker();
 * await worker.start();
 * assert.deepEqual(await runTwice(runner), [2, 4]);
 * assert.deepEqual(await runTwice(engine), [2, 4]);
 * ```
 */
export abstract class RunClient implements AsyncDisposable {
  #rt!: Runtime;
  #onWork: (() => void) | undefined;
  #schedules: Schedules | undefined;

  static {
    bind = (client, runtime, onWork) => {
      client.#rt = runtime;
      client.#onWork = onWork;
      runtime.signalRun = (runId, name, payload, options) =>
        client.signal(runId, name, payload, options);
    };
  }

  /**
   * The schedules in storage: declared ones (the `schedules` option) and
   * dynamic ones (`upsert`). Workers fire them; under a `LocalRunner` they
   * fire as its clock moves, so with a `ManualClock` or the virtual clock a
   * test can advance a week and count the runs.
   *
   * @example Count the runs of a week
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, ManualClock, schedule, workflow } from "@sluice/sluice";
   *
   * const report = workflow("report").step("build", () => "done");
   * const clock = new ManualClock(Date.UTC(2026, 0, 5)); // a Monday, 00:00 UTC
   * await using runner = new LocalRunner({
   *   workflows: [report],
   *   schedules: [schedule("weekday-report", report, { cron: "0 9 * * MON-FRI" })],
   *   clock,
   * });
   * await clock.advance("7d");
   * const { runs } = await runner.list({ labels: { schedule: "weekday-report" } });
   * assert.equal(runs.length, 5);
   * const [info] = await runner.schedules.list();
   * assert.equal(info?.source, "declared");
   * ```
   */
  get schedules(): Schedules {
    if (!this.#rt.closed) this.#onWork?.();
    return this.#schedules ??= new Schedules(
      this.#rt.scheduleHost,
      (wf, input, options) => this.start(wf, input, options),
    );
  }

  /**
   * Registers another workflow (version) after construction.
   *
   * @param wf The workflow.
   */
  // deno-lint-ignore no-explicit-any
  register(wf: Workflow<any, any>): void {
    this.#rt.check();
    this.#rt.register(wf);
  }

  /**
   * Starts a run; with an `id` that exists, returns the existing run.
   *
   * @param wf The workflow (registered on the fly) or a registered name (newest version).
   * @param input The workflow input (JSON plus Date).
   * @param options Run id, labels, delayed start.
   * @returns A handle; the run exists durably when it resolves (it need not
   * have begun executing).
   */
  async start<In, Out>(
    wf: Workflow<In, Out> | string,
    input: In,
    options?: StartOptions,
  ): Promise<RunHandle<Out>> {
    const rt = this.#rt;
    rt.check();
    this.#onWork?.();
    const { run, created, changes } = await startRun(rt, wf, input, options);
    const handle = this.handle<Out>(run.id);
    // A run created here is pending: until a notice says a run finished (or
    // anything changed), its result() need not read it first.
    if (created) handle.result = () => this.#result<Out>(run.id, changes);
    return handle;
  }

  /**
   * Starts a new run of the same workflow version as `runId` that reuses the
   * recorded results of the top-level steps before `from` and runs from
   * there (their bodies do not run again), optionally with a new input;
   * without `from` it starts over. The new run carries the original's labels.
   *
   * @param runId The run to fork (in any status).
   * @param options `from` (a top-level step name), `input`, `id`.
   * @returns A handle on the new run.
   */
  async fork<Out = unknown>(runId: string, options?: ForkOptions): Promise<RunHandle<Out>> {
    const id = await forkRun(this.#rt, runId, options, () => this.#onWork?.());
    return this.handle<Out>(id);
  }

  /**
   * A handle on an existing run (the run is not read until a method is called).
   *
   * @param runId The run id.
   */
  handle<Out = unknown>(runId: string): RunHandle<Out> {
    return {
      id: runId,
      result: () => this.result<Out>(runId),
      status: async () => (await this.get(runId)).status,
      signal: (name, payload) => this.signal(runId, name, payload),
      cancel: (reason) => this.cancel(runId, reason),
      watch: (options) => this.watch({ runId }, options),
    };
  }

  /**
   * The history events of every run (or those `filter` selects) in commit
   * order, from other processes too: first those stored after
   * `options.after`, then each as it is committed, until `options.signal`
   * aborts (the loop then just ends) or the engine closes. Without `after` it
   * begins at the feed's end (only what comes next), or at the run's first
   * event when `filter.runId` names one; `after: "start"` begins with the
   * oldest event stored. Pass an event's `cursor` as `after` to resume after
   * it.
   *
   * @param filter Which runs and event types.
   * @param options The abort signal and the cursor to resume after.
   *
   * @example Follow every run of a workflow, resume after a cursor
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<number>("double").step("double", (n) => n * 2);
   * await using runner = new LocalRunner();
   * await runner.run(wf, 1);
   * const controller = new AbortController();
   * const types: string[] = [];
   * let cursor = "";
   * const options = { signal: controller.signal, after: "start" }; // the runs stored, too
   * for await (const e of runner.watch({ workflow: "double" }, options)) {
   *   types.push(e.type);
   *   cursor = e.cursor;
   *   if (e.type === "step.completed") controller.abort(); // the loop ends cleanly
   * }
   * assert.deepEqual(types, ["run.created", "run.started", "step.started", "step.completed"]);
   * const rest = runner.watch({}, { after: cursor })[Symbol.asyncIterator]();
   * assert.equal((await rest.next()).value?.type, "run.completed");
   * await rest.return?.();
   * ```
   */
  watch(filter?: WatchFilter, options?: WatchOptions): AsyncIterable<WatchEvent> {
    return watchEvents(this.#rt, filter, options);
  }

  /**
   * Sends a signal; it waits in the run's inbox until a matching wait takes it.
   * With `options.id`, the signal is delivered at most once per run: a repeat
   * of an id the run already took resolves silently and changes nothing, even
   * after the run finished (the id is checked before the finished-run
   * refusal). Ids follow the run-id rules.
   *
   * @example A signal with an id is delivered once
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow("pay").waitForSignal("paid", "paid");
   * await using runner = new LocalRunner({ workflows: [wf] });
   * const run = await runner.start(wf, undefined, { id: "order-1" });
   * await runner.signal("order-1", "paid", 10, { id: "payment-77" });
   * await runner.signal("order-1", "paid", 10, { id: "payment-77" }); // a no-op
   * assert.equal(await run.result(), 10);
   * const received = (await runner.history("order-1")).filter((e) => e.type === "signal.received");
   * assert.equal(received.length, 1);
   * ```
   *
   * @param runId The run.
   * @param name The signal name.
   * @param payload The payload (JSON plus Date).
   * @param options `id`: the signal's id, taken at most once per run.
   */
  async signal(
    runId: string,
    name: string,
    payload?: unknown,
    options?: SignalOptions,
  ): Promise<void> {
    const rt = this.#rt;
    rt.check();
    checkRunId(runId);
    checkSignalName(name);
    checkSignalOptions(options);
    const encoded = encodeValue(payload, `the payload of signal '${name}'`, rt.maxPayloadBytes);
    await rt.clockReady();
    const now = rt.clock.now();
    const id = options?.id;
    const delivered = await rt.driver.sendSignal(
      runId,
      name,
      encoded,
      now,
      id === undefined ? undefined : { id },
    );
    if (delivered && rt.observers.length) {
      const run = await rt.driver.getRun(runId);
      if (run) {
        rt.emit("onSignalReceived", {
          runId,
          workflow: run.workflow,
          version: run.version,
          at: new Date(now),
          signal: name,
          payload,
        });
      }
    }
  }

  /**
   * Cancels a run at once: steps in flight see `ctx.signal` abort. With
   * `{ compensate: true }`, the run stays unfinished until the compensations
   * of its completed steps have run (`result()` settles then), and ends
   * `cancelled`.
   *
   * @param runId The run.
   * @param reasonOrOptions Why, or `{ reason?, compensate? }`.
   *
   * @example Cancel a waiting run and undo what it did
   * ```ts
   * import assert from "node:assert/strict";
   * import { CancelledError, LocalRunner, workflow } from "@sluice/sluice";
   *
   * const undone: string[] = [];
   * const wf = workflow<number>("trip")
   *   .step("book", (n) => `seat ${n}`, { compensate: (seat) => void undone.push(seat) })
   *   .waitForSignal("pay", "paid");
   * await using runner = new LocalRunner();
   * const run = await runner.start(wf, 7);
   * while ((await runner.get(run.id)).status !== "waiting") await new Promise((r) => setTimeout(r, 1));
   * await runner.cancel(run.id, { reason: "changed plans", compensate: true });
   * await assert.rejects(run.result(), CancelledError);
   * assert.deepEqual(undone, ["seat 7"]);
   * assert.equal((await runner.get(run.id)).compensated, true);
   * ```
   */
  async cancel(runId: string, reasonOrOptions?: string | CancelOptions): Promise<void> {
    const rt = this.#rt;
    rt.check();
    checkRunId(runId);
    const { reason, compensate } = checkCancelOptions(reasonOrOptions);
    await rt.clockReady();
    const now = rt.clock.now();
    const run = compensate
      ? await rt.driver.cancelRun(runId, reason, now, { compensate: true })
      : await rt.driver.cancelRun(runId, reason, now);
    // Its unfinished `.call` children are cancelled with it (spawned ones are
    // not), compensating too when asked.
    await cancelCallChildren(
      rt.driver,
      runId,
      `parent run '${runId}' was cancelled`,
      now,
      compensate,
    );
    notify(rt, "onRunCancelled", () => {
      const event: ObserverEvent<"onRunCancelled"> = {
        runId,
        workflow: run.workflow,
        version: run.version,
        at: new Date(now),
      };
      if (reason !== undefined) event.reason = reason;
      return event;
    });
  }

  /**
   * The live workers, in id order: those seen within three of their
   * heartbeat intervals (`heartbeatInterval`, a worker option), with the
   * workflow versions they serve.
   *
   * @returns One record per live worker.
   */
  async workers(): Promise<WorkerRecord[]> {
    const rt = this.#rt;
    rt.check();
    const now = rt.clock.now();
    return (await rt.driver.listWorkers()).filter((w) => isLive(w, now)).map((w) => ({
      id: w.id,
      host: w.host,
      pid: w.pid,
      startedAt: new Date(w.startedAt),
      lastSeenAt: new Date(w.lastSeenAt),
      serves: w.serves,
    }));
  }

  /**
   * Pauses a run: its status is `paused` at once and no new step begins (a
   * step in flight finishes and is checkpointed). Timers falling due
   * meanwhile fire after {@linkcode RunClient.resume}; signals wait in the
   * inbox; `cancel` still works. Pausing a paused run changes nothing;
   * pausing a finished run throws `InvalidStateError`.
   *
   * @param runId The run.
   *
   * @example Pause a run between two steps, then resume it
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   * import { waitForStatus } from "@sluice/sluice/testing";
   *
   * const wf = workflow<number>("paused")
   *   .waitForSignal<number>("extra", "extra")
   *   .step("add", (n) => n + 1);
   * await using runner = new LocalRunner();
   * const run = await runner.start(wf, 1);
   * await waitForStatus(runner, run.id, "waiting");
   * await runner.pause(run.id);
   * await run.signal("extra", 41); // waits in the inbox
   * assert.equal(await run.status(), "paused");
   * await runner.resume(run.id);
   * assert.equal(await run.result(), 42);
   * ```
   */
  async pause(runId: string): Promise<void> {
    const rt = this.#rt;
    rt.check();
    checkRunId(runId);
    await rt.clockReady();
    await rt.driver.pauseRun(runId, rt.clock.now());
  }

  /**
   * Resumes a paused run where it was; timers that fell due while it was
   * paused fire now. Throws `InvalidStateError` unless the run is paused.
   *
   * @param runId The run.
   */
  async resume(runId: string): Promise<void> {
    const rt = this.#rt;
    rt.check();
    checkRunId(runId);
    this.#onWork?.();
    await rt.clockReady();
    await rt.driver.resumeRun(runId, rt.clock.now());
  }

  /**
   * Reads a run; throws `RunNotFoundError` for an unknown id.
   *
   * @param runId The run.
   */
  async get(runId: string): Promise<RunRecord> {
    const rt = this.#rt;
    rt.check();
    checkRunId(runId);
    const run = await rt.driver.getRun(runId);
    if (!run) throw new RunNotFoundError(runId);
    const record = toRunRecord(run);
    if ((await stalledRuns(rt, [run])).size > 0) record.stalled = "no-worker";
    return record;
  }

  /**
   * Lists runs, newest first, a page at a time.
   *
   * @param options Filters and paging.
   */
  async list(options: ListOptions = {}): Promise<RunPage> {
    return await listRuns(this.#rt, options);
  }

  /**
   * The events of a run. Without options, the whole history ordered by time;
   * with `{ after?, limit? }`, one page of it in write order (at most `limit`
   * events, default 100, at most 1000, after the event whose `seq` is
   * `after`; a page shorter than `limit` is the last).
   *
   * @param runId The run.
   * @param options Paging.
   */
  async history(runId: string, options?: HistoryOptions): Promise<HistoryEvent[]> {
    return await readHistory(this.#rt, runId, options);
  }

  /**
   * Waits for a run's output; rejects with `WorkflowFailedError` (whose
   * `cause` is the step error) or `CancelledError`.
   *
   * @param runId The run.
   */
  result<Out = unknown>(runId: string): Promise<Out> {
    return this.#result<Out>(runId, undefined);
  }

  /** `result()`; `unread`: the notice count when this process created the run, pending. */
  #result<Out>(runId: string, unread: number | undefined): Promise<Out> {
    return awaitResult<Out>(this.#rt, runId, unread);
  }

  /**
   * Resumes a failed run from the failed step, or a cancelled run from where
   * it was (completed steps are kept either way).
   *
   * @param runId The run.
   */
  async retry(runId: string): Promise<void> {
    const rt = this.#rt;
    rt.check();
    checkRunId(runId);
    this.#onWork?.();
    await rt.clockReady();
    const now = rt.clock.now();
    // A retried run gets a fresh deadline under its version's timeout (when
    // this process has that version registered; else none, and its next
    // activation starts one).
    const run = await rt.driver.getRun(runId);
    const timeoutMs = run === undefined ? undefined : rt.timeoutFor(run);
    await rt.driver.retryRun(runId, now, deadlineFrom(timeoutMs, now));
  }

  /**
   * Deletes finished runs (with their history) last updated before a time.
   * Runs that still count toward a registered workflow's rate limit (they
   * began within its period) are kept until the period has passed.
   *
   * @param options The cut-off.
   * @returns How many runs were deleted.
   */
  async purge(options: { finishedBefore: Date | number }): Promise<number> {
    const rt = this.#rt;
    rt.check();
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Cannot purge without options: pass { finishedBefore }");
    }
    const before = toStoredTime(options.finishedBefore, "'finishedBefore'");
    return await rt.driver.purge(rt.purgeCutoff(before, rt.clock.now()));
  }

  /**
   * Swaps a step's implementation, without touching the workflow (for tests).
   * Matches a `defineStep` definition, a full step key (`loop#2/charge`), or a
   * step name (every step of that name). On an `Engine`, every worker of the
   * engine uses the replacement.
   *
   * @param step The definition, key or name.
   * @param fn The replacement.
   *
   * @example Replace a step that needs the network in a test
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<number>("pay").step("charge", () => {
   *   throw new Error("no network in tests");
   * });
   * await using runner = new LocalRunner();
   * runner.override("charge", (n: number) => n * 100);
   * assert.equal(await runner.run(wf, 2), 200);
   * ```
   */
  // deno-lint-ignore no-explicit-any
  override<I, O>(step: StepDef<I, O> | string, fn: StepFn<I, O, any>): void {
    this.#rt.check();
    if (typeof step !== "string" && (typeof step !== "object" || step === null)) {
      throw new TypeError("Cannot override a step that is neither a name nor a defineStep()");
    }
    if (typeof fn !== "function") {
      throw new TypeError("Cannot override a step with something that is not a function");
    }
    this.#rt.overrides.set(step, fn as (...args: never[]) => unknown);
  }

  /** Stops the workers, runs dependency cleanups and closes the storage. */
  abstract close(): Promise<void>;

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
