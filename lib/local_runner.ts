import type { StepDef, StepFn, Workflow } from "./builder.ts";
import {
  type ActivityAwareClock,
  type Clock,
  clockDispose,
  realClock,
  VirtualClock,
} from "./clock.ts";
import { MemoryDriver } from "../drivers/memory/mod.ts";
import {
  type HistoryEvent,
  type HistoryOptions,
  type ListOptions,
  type RunHandle,
  type RunPage,
  type RunRecord,
  Runtime,
  type RuntimeOptions,
  type StartOptions,
} from "./runtime.ts";
import { Worker } from "./worker.ts";

/**
 * Options of {@linkcode LocalRunner}.
 *
 * @example A virtual clock, registered workflows and dependencies
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type LocalRunnerOptions, workflow } from "@sluice/sluice";
 *
 * const hello = workflow<string>("hello")
 *   .sleep("pause", "1h")
 *   .step("greet", (name, ctx) => `${ctx.deps.greeting as string}, ${name}`);
 * const options: LocalRunnerOptions = {
 *   clock: "virtual", // the hour-long pause takes no real time
 *   workflows: [hello],
 *   deps: { greeting: "Hi" },
 * };
 * await using runner = new LocalRunner(options);
 * const run = await runner.start("hello", "Ada");
 * assert.equal(await run.result(), "Hi, Ada");
 * ```
 */
export interface LocalRunnerOptions extends RuntimeOptions {
  /**
   * The clock: `"real"`, `"virtual"` (jumps to the next timer whenever nothing
   * runs), or a `Clock` such as `ManualClock`.
   * @default {"real"}
   */
  clock?: Clock | "real" | "virtual";
}

/**
 * Runs workflows in-process on the memory driver: for tests, scripts and
 * development. Not crash-durable; the same workflows run unchanged under an
 * `Engine` with a durable driver.
 *
 * @example A day-long sleep that finishes at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, workflow } from "@sluice/sluice";
 *
 * const reminder = workflow<string>("reminder")
 *   .sleep("wait", "1d")
 *   .step("remind", (who) => `Reminded ${who}`);
 * await using runner = new LocalRunner({ clock: "virtual" });
 * assert.equal(await runner.run(reminder, "Ada"), "Reminded Ada");
 * ```
 */
export class LocalRunner implements AsyncDisposable {
  readonly #rt: Runtime;
  readonly #worker: Worker;
  readonly #ownClock: ActivityAwareClock | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Creates a runner with its own memory driver and worker.
   *
   * @param options Workflows, clock, dependencies, observers, logger, middleware.
   */
  constructor(options: LocalRunnerOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Cannot create a LocalRunner with options that are not an object");
    }
    let clock: Clock;
    if (options.clock === undefined || options.clock === "real") clock = realClock;
    else if (options.clock === "virtual") clock = this.#ownClock = new VirtualClock();
    else if (
      typeof options.clock === "object" && options.clock !== null &&
      typeof options.clock.now === "function" && typeof options.clock.setTimer === "function"
    ) clock = options.clock;
    else {
      throw new TypeError(
        `Cannot use clock ${
          String(options.clock)
        }: use "real", "virtual" or a Clock such as ManualClock`,
      );
    }
    this.#rt = new Runtime("LocalRunner", new MemoryDriver(), clock, options);
    this.#worker = new Worker(this.#rt, {
      concurrency: 1_000_000,
      id: "local",
      // One worker in one process: no other worker can take a run over, so the
      // lease only needs to outlast the steps. A long lease means rare
      // heartbeats, so a ManualClock advanced by days past a step in flight
      // does not stop for hundreds of heartbeats.
      leaseMs: 30 * 86_400_000,
    });
  }

  #ensureWorker(): void {
    if (!this.#worker.running) void this.#worker.start();
  }

  /**
   * Starts a run and waits for its output.
   *
   * @param wf The workflow.
   * @param input Its input.
   * @param options Run id, labels, delayed start.
   * @returns The output.
   * @throws {WorkflowFailedError} When the run fails; `cause` is the step error.
   */
  async run<In, Out>(wf: Workflow<In, Out>, input: In, options?: StartOptions): Promise<Out> {
    const handle = await this.start(wf, input, options);
    return await handle.result();
  }

  /**
   * Starts a run; resolves once it exists (it need not have begun executing).
   *
   * @param wf The workflow, or the name of a registered one.
   * @param input Its input.
   * @param options Run id, labels, delayed start.
   */
  async start<In, Out>(
    wf: Workflow<In, Out> | string,
    input: In,
    options?: StartOptions,
  ): Promise<RunHandle<Out>> {
    this.#rt.check();
    this.#ensureWorker();
    return await this.#rt.start(wf, input, options);
  }

  /**
   * Sends a signal to a run.
   *
   * @param runId The run.
   * @param name The signal name.
   * @param payload Its payload.
   */
  signal(runId: string, name: string, payload?: unknown): Promise<void> {
    return this.#rt.signal(runId, name, payload);
  }

  /**
   * Cancels a run.
   *
   * @param runId The run.
   * @param reason Why.
   */
  cancel(runId: string, reason?: string): Promise<void> {
    return this.#rt.cancel(runId, reason);
  }

  /**
   * Reads a run.
   *
   * @param runId The run.
   */
  get(runId: string): Promise<RunRecord> {
    return this.#rt.get(runId);
  }

  /**
   * Lists runs, newest first.
   *
   * @param options Filters and paging.
   */
  list(options?: ListOptions): Promise<RunPage> {
    return this.#rt.list(options);
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
  history(runId: string, options?: HistoryOptions): Promise<HistoryEvent[]> {
    return this.#rt.history(runId, options);
  }

  /**
   * Swaps a step's implementation for tests, without touching the workflow.
   * Matches a `defineStep` definition, a full step key (`loop#2/charge`), or a
   * step name (every step of that name).
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

  /** Stops the worker, runs cleanups and releases every timer. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#worker.stop();
        await this.#rt.close();
      } finally {
        await this.#rt.driver.close();
        this.#ownClock?.[clockDispose]?.();
      }
    })();
    return this.#closing;
  }

  /** Same as {@linkcode LocalRunner.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
