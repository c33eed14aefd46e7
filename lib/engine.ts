import { type Clock, realClock } from "./clock.ts";
import type { Retention } from "./retention.ts";
import { StorageClock } from "./_storage_clock.ts";
import { silentLogger } from "./logger.ts";
import type { Driver } from "./driver.ts";
import { bindRuntime, RunClient } from "./client.ts";
import { Runtime, type RuntimeOptions } from "./runtime.ts";
import { Worker, type WorkerOptions } from "./worker.ts";

/**
 * Options of {@linkcode Engine}.
 *
 * @example An engine over the memory driver on a manual clock
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, type EngineOptions, ManualClock, MemoryDriver, workflow } from "@sluice/sluice";
 *
 * const inc = workflow<number>("inc").step("inc", (n) => n + 1);
 * const options: EngineOptions = {
 *   driver: new MemoryDriver(),
 *   workflows: [inc],
 *   clock: new ManualClock(new Date("2030-01-01T00:00:00Z")),
 * };
 * await using engine = new Engine(options);
 * await using worker = engine.worker();
 * await worker.start();
 * assert.equal(await (await engine.start(inc, 1)).result(), 2);
 * ```
 */
export interface EngineOptions extends RuntimeOptions {
  /** The storage driver; the engine owns it and closes it on `close()`. */
  driver: Driver;
  /**
   * The clock. With the real clock and a driver that reports its storage's time
   * (PostgreSQL), the engine keeps time on the database's clock: leases and due
   * times then agree across machines whose clocks are off. A worker more than
   * 1s off logs a warning; more than 5 minutes off, it refuses to start with
   * `ClockSkewError`. An injected clock (`ManualClock`) is used as is.
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * How many times in a row a run may be taken over after its lease expired
   * with no write in between (the same step in flight: it blocks or kills its
   * worker); one more takeover fails the run with `RecoveryLimitError` instead
   * of running the step again. `retry()` resets the count.
   * @default {5}
   */
  maxRecoveries?: number;
  /**
   * How long finished runs are kept, per final status: the engine's workers
   * delete older ones (with their history) in small batches, at start and
   * then every few poll intervals.
   */
  retention?: Retention;
}

/**
 * The durable client: starts, signals, cancels, inspects and retries runs
 * stored by a driver (the operations of {@linkcode RunClient}, shared with
 * `LocalRunner`), and makes workers that execute them. Any number of
 * engines and workers in any number of processes may share one SQLite file or
 * one PostgreSQL database.
 *
 * @example Start a run, signal it, read its result
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, workflow } from "@sluice/sluice";
 *
 * const order = workflow<{ qty: number }>("order")
 *   .step("price", (o) => o.qty * 3)
 *   .waitForSignal<boolean>("approval", "approved")
 *   .step("done", (ok) => (ok ? "shipped" : "dropped"));
 *
 * await using engine = new Engine({ driver: new MemoryDriver(), workflows: [order] });
 * await using worker = engine.worker();
 * await worker.start();
 * const run = await engine.start(order, { qty: 2 }, { id: "order-1" });
 * await engine.signal("order-1", "approved", true);
 * assert.equal(await run.result(), "shipped");
 * ```
 */
export class Engine extends RunClient {
  readonly #rt: Runtime;
  readonly #workers = new Set<Worker>();
  #closing: Promise<void> | undefined;

  /**
   * Creates an engine over a driver.
   *
   * @param options The driver, workflows and the rest.
   */
  constructor(options: EngineOptions) {
    super();
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Cannot create an Engine without options: pass { driver, workflows }");
    }
    const driver = options.driver;
    if (
      typeof driver !== "object" || driver === null ||
      typeof (driver as Driver).claimRuns !== "function"
    ) {
      throw new TypeError("Cannot create an Engine without a 'driver': pass a storage driver");
    }
    const clock = options.clock ?? realClock;
    // With the real clock over storage shared by several machines, keep time on
    // the storage's clock; an injected clock (ManualClock, tests) is kept as is.
    this.#rt = new Runtime(
      "Engine",
      driver,
      clock === realClock && typeof driver.storageTime === "function"
        ? new StorageClock(() => driver.storageTime!(), options.logger ?? silentLogger)
        : clock,
      options,
    );
    bindRuntime(this, this.#rt);
  }

  /** The storage driver. */
  get driver(): Driver {
    return this.#rt.driver;
  }

  /**
   * Makes a worker that executes runs of this engine's workflows.
   *
   * @param options Concurrency, lease and poll settings.
   */
  worker(options?: WorkerOptions): Worker {
    this.#rt.check();
    const worker = new Worker(this.#rt, options);
    this.#workers.add(worker);
    return worker;
  }

  /**
   * Stops every worker gracefully, closes the driver and runs dependency
   * cleanups (last in, first out).
   */
  override close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await Promise.all([...this.#workers].map((w) => w.stop()));
        await this.#rt.close();
      } finally {
        await this.#rt.driver.close();
      }
    })();
    return this.#closing;
  }
}
