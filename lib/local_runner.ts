import type { Workflow } from "./builder.ts";
import {
  type ActivityAwareClock,
  type Clock,
  clockDispose,
  realClock,
  VirtualClock,
} from "./clock.ts";
import { MemoryDriver } from "../drivers/memory/mod.ts";
import { bindRuntime, RunClient } from "./client.ts";
import type { StartOptions } from "./records.ts";
import { Runtime, type RuntimeOptions } from "./runtime.ts";
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
 * development. It is an engine over a `MemoryDriver` with a worker started
 * for you (every operation of {@linkcode RunClient}, shared with `Engine`),
 * plus `run` and the clocks. Not crash-durable; the same workflows run
 * unchanged under an `Engine` with a durable driver.
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
export class LocalRunner extends RunClient {
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
    super();
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
    bindRuntime(this, this.#rt, () => this.#ensureWorker());
    if (options.schedules !== undefined && options.schedules.length > 0) this.#ensureWorker();
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

  /** Stops the worker, runs cleanups and releases every timer. */
  override close(): Promise<void> {
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
}
