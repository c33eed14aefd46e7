/**
 * The one front door: every operation on runs, written once, that `Engine`
 * and `LocalRunner` both inherit. A new operation is one method here.
 *
 * @module
 */
import { notify, type ObserverEvent } from "./recorder.ts";
import { checkPriority, flowKeys } from "./flow.ts";
import {
  type StepDef,
  type StepFn,
  type Workflow,
  workflowFlow,
  workflowNodes,
} from "./builder.ts";
import {
  fromErrorInfo,
  RunNotFoundError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from "./errors.ts";
import { DuplicateRunError } from "./errors.ts";
import {
  decodeCursor,
  type NewRun,
  type NewSignal,
  type RunFilter,
  type StoredRun,
} from "./driver.ts";
import { LIST_PAGE } from "./driver_policy.ts";
import { cancelCallChildren } from "./children.ts";
import { decodeValue, encodeValue } from "./values.ts";
import { HISTORY_PAGE, type HistoryOptions, historyPage, toHistory } from "./history.ts";
import { toStoredTime } from "./time.ts";
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
import {
  checkCancelOptions,
  checkLabels,
  checkOptions,
  checkRunId,
  checkSignalName,
  checkSignalOptions,
  checkStartSignal,
  checkStatuses,
  checkWorkflowFilter,
  describe,
} from "./validate.ts";

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
    const workflow = rt.resolve(wf);
    checkOptions(options, "use start options");
    const id = options?.id ?? crypto.randomUUID();
    checkRunId(id);
    const labels = checkLabels(options?.labels, "the labels of a run");
    const signal = checkStartSignal(options?.signal, rt.maxPayloadBytes);
    await rt.clockReady();
    const now = rt.clock.now();
    const dueAt = options?.startAt === undefined ? now : toStoredTime(options.startAt, "'startAt'");
    const priority = checkPriority(options?.priority);
    const encoded = encodeValue(
      input,
      `the input of workflow '${workflow.name}'`,
      rt.maxPayloadBytes,
    );
    // Flow-control keys are computed once, here, and stored with the run.
    const keys = flowKeys(workflowFlow(workflow), input, workflow.name);
    const changes = rt.changes;
    const newRun: NewRun = {
      id,
      workflow: workflow.name,
      version: workflow.version,
      planHash: workflow.planHash,
      ...(encoded === undefined ? {} : { input: encoded }),
      labels,
      dueAt,
      ...keys,
      ...(priority === 0 ? {} : { priority }),
    };
    const { run, created } = signal === undefined
      ? await rt.driver.createRun(newRun, now)
      : await this.#startWithSignal(newRun, signal, now);
    if (!created && run.workflow !== workflow.name) {
      throw new DuplicateRunError(id, run.workflow, workflow.name);
    }
    const handle = this.handle<Out>(run.id);
    // A run created here is pending: until a notice says a run finished (or
    // anything changed), its result() need not read it first.
    if (created) handle.result = () => this.#result<Out>(run.id, changes);
    return handle;
  }

  /** Signal-with-start: the driver creates and signals atomically; observers hear of a delivery. */
  async #startWithSignal(
    newRun: NewRun,
    signal: NewSignal & { value: unknown },
    now: number,
  ): Promise<{ run: StoredRun; created: boolean }> {
    const rt = this.#rt;
    const { value, ...stored } = signal;
    const started = await rt.driver.startWithSignal(newRun, stored, now);
    if (started.delivered && rt.observers.length) {
      rt.emit("onSignalReceived", {
        runId: newRun.id,
        workflow: started.run.workflow,
        version: started.run.version,
        at: new Date(now),
        signal: signal.name,
        payload: value,
      });
    }
    return started;
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
    const rt = this.#rt;
    rt.check();
    checkRunId(runId);
    checkOptions(options, "fork with", "pass { from?, input?, id? }");
    const id = options?.id ?? crypto.randomUUID();
    checkRunId(id);
    const source = await rt.driver.getRun(runId);
    if (!source) throw new RunNotFoundError(runId);
    const wf = rt.workflowFor(source);
    if (!wf) {
      throw new WorkflowNotFoundError(
        source.workflow,
        ` version '${source.version}' with plan ${source.planHash} (of run '${runId}')`,
      );
    }
    const names = workflowNodes(wf).map((node) => node.name);
    const from = options?.from;
    const upTo = from === undefined ? 0 : names.indexOf(from);
    if (from !== undefined && (typeof from !== "string" || upTo < 0)) {
      throw new RangeError(
        `Cannot fork run '${runId}' from ${
          describe(from)
        }: use one of its workflow's top-level steps (${
          names.map((name) => `'${name}'`).join(", ")
        })`,
      );
    }
    const newInput = options !== undefined && "input" in options;
    const input = newInput
      ? encodeValue(options.input, `the input of workflow '${source.workflow}'`, rt.maxPayloadBytes)
      : source.input;
    // Flow-control keys follow the input, as at start; the priority is kept.
    const keys = flowKeys(
      workflowFlow(wf),
      newInput ? options.input : decodeValue(source.input),
      wf.name,
    );
    const reused = await rt.driver.readSteps(runId, names.slice(0, upTo));
    this.#onWork?.();
    await rt.clockReady();
    const now = rt.clock.now();
    const { run } = await rt.driver.createRun({
      id,
      workflow: source.workflow,
      version: source.version,
      planHash: source.planHash,
      ...(input === undefined ? {} : { input }),
      labels: source.labels,
      dueAt: now,
      ...keys,
      ...(source.priority ? { priority: source.priority } : {}),
      steps: [...reused.values()].filter((row) => row.state === "done"),
    }, now);
    if (run.workflow !== source.workflow) {
      throw new DuplicateRunError(id, run.workflow, source.workflow);
    }
    return this.handle<Out>(run.id);
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
   * `options.after` (every stored one without it), then each as it is
   * committed, until `options.signal` aborts (the loop then just ends) or the
   * engine closes. Pass an event's `cursor` as `after` to resume after it.
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
   * for await (const e of runner.watch({ workflow: "double" }, { signal: controller.signal })) {
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
    const rt = this.#rt;
    rt.check();
    checkOptions(options, "list with", "pass an options object");
    const limit = options.limit ?? LIST_PAGE.default;
    if (!Number.isInteger(limit) || limit < 1 || limit > LIST_PAGE.max) {
      throw new RangeError(`Cannot list ${String(limit)} runs a page: use 1 to ${LIST_PAGE.max}`);
    }
    checkStatuses(options.status);
    checkWorkflowFilter(options.workflow);
    if (options.parentId !== undefined) checkRunId(options.parentId);
    if (options.cursor !== undefined) decodeCursor(options.cursor);
    const labels = options.labels === undefined
      ? undefined
      : checkLabels(options.labels, "the label filter");
    const filter: RunFilter = { ...options, limit, ...(labels ? { labels } : {}) } as RunFilter;
    for (const bound of ["createdAfter", "createdBefore"] as const) {
      const at = options[bound];
      if (at !== undefined) filter[bound] = toStoredTime(at, `'${bound}'`);
    }
    const page = await rt.driver.listRuns(filter);
    const stalled = await stalledRuns(rt, page.runs);
    const out: RunPage = {
      runs: page.runs.map((run) => {
        const record = toRunRecord(run);
        if (stalled.has(run.id)) record.stalled = "no-worker";
        return record;
      }),
    };
    if (page.nextCursor !== undefined) out.nextCursor = page.nextCursor;
    return out;
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
    const rt = this.#rt;
    rt.check();
    checkRunId(runId);
    checkOptions(options, "read a history with options");
    const limit = options?.limit ?? HISTORY_PAGE.default;
    if (!Number.isInteger(limit) || limit < 1 || limit > HISTORY_PAGE.max) {
      throw new RangeError(
        `Cannot read ${String(limit)} history events a page: use 1 to ${HISTORY_PAGE.max}`,
      );
    }
    const after = options?.after;
    if (after !== undefined && (typeof after !== "number" || !Number.isFinite(after))) {
      throw new TypeError(
        `Cannot read a history after ${describe(after)}: pass the 'seq' of the last event read`,
      );
    }
    if (!(await rt.driver.getRun(runId))) throw new RunNotFoundError(runId);
    if (options === undefined) return toHistory(await rt.driver.history(runId));
    return await historyPage(rt.driver, runId, after ?? -1, limit);
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
  async #result<Out>(runId: string, unread: number | undefined): Promise<Out> {
    const rt = this.#rt;
    rt.check();
    checkRunId(runId);
    if (unread !== undefined && unread === rt.changes && !rt.hasOutcome(runId)) {
      await rt.waitForChange(runId);
      rt.check();
    }
    for (;;) {
      // A completion this process wrote needs no re-read (the write was fenced).
      const written = rt.takeOutcome(runId);
      if (written !== undefined) {
        const outcome = await written;
        if (outcome !== undefined) return decodeValue(outcome.output) as Out;
      }
      // A run may finish while getRun() is pending: its notice then finds no
      // waiter, so compare the notice count before waiting.
      const changes = rt.changes;
      const run = await rt.driver.getRun(runId);
      if (!run) throw new RunNotFoundError(runId);
      if (run.status === "completed") return decodeValue(run.output) as Out;
      if (run.status === "failed" || run.status === "cancelled") {
        const cause = run.error ? fromErrorInfo(run.error) : new Error("unknown error");
        if (run.status === "cancelled") throw cause;
        throw new WorkflowFailedError(run.id, run.workflow, cause, run.error?.step);
      }
      if (changes === rt.changes) await rt.waitForChange(runId);
      rt.check();
    }
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
    await rt.driver.retryRun(runId, rt.clock.now());
  }

  /**
   * Deletes finished runs (with their history) last updated before a time.
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
    return await rt.driver.purge(toStoredTime(options.finishedBefore, "'finishedBefore'"));
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
