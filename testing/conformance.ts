/**
 * The storage-driver conformance suite: one set of tests that every driver
 * (memory, SQLite, PostgreSQL, and third-party ones) must pass, so that they
 * all behave like the reference `MemoryDriver`.
 *
 * @module
 */
import type { Driver } from "../lib/driver.ts";
import { registerTest } from "./_register.ts";
import type { ConformanceCase } from "./_conformance_helpers.ts";
import { ADMIN_CASES } from "./_conformance_admin.ts";
import { CHILDREN_CASES } from "./_conformance_children.ts";
import { ENGINE_CASES } from "./_conformance_engine.ts";
import { FLOW_CASES } from "./_conformance_flow.ts";
import { HISTORY_CASES } from "./_conformance_history.ts";
import { FEED_CASES } from "./_conformance_feed.ts";
import { LIMIT_CASES } from "./_conformance_limits.ts";
import { PAUSE_CASES } from "./_conformance_pause.ts";
import { RUNS_CASES } from "./_conformance_runs.ts";
import { SIGNALS_CASES } from "./_conformance_signals.ts";
import { STEPS_CASES } from "./_conformance_steps.ts";
import { SCHEDULE_CASES } from "./_conformance_schedules.ts";

/**
 * Options of {@linkcode testDriverConformance}.
 *
 * @example Skip a case, with the reason
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ConformanceOptions } from "@sluice/sluice/testing";
 *
 * const options: ConformanceOptions = {
 *   skip: {
 *     "values with quotes, SQL keywords and unicode are stored verbatim":
 *       "this driver keeps values in memory only",
 *   },
 * };
 * assert.equal(Object.keys(options.skip!).length, 1);
 * ```
 */
export interface ConformanceOptions {
  /**
   * Cases to skip, by name (without the driver prefix), each with the reason,
   * which is printed with the skipped test. Unknown names throw, so a renamed
   * case cannot be skipped silently.
   *
   * @default {{}}
   */
  skip?: Record<string, string>;
}

/**
 * Every case, by area: runs, claims and leases; steps and writes; signals and
 * timers; operations on runs; reading; the engine; limits; schedules.
 */
const CASES: readonly ConformanceCase[] = [
  ...RUNS_CASES,
  ...STEPS_CASES,
  ...SIGNALS_CASES,
  ...CHILDREN_CASES,
  ...ADMIN_CASES,
  ...PAUSE_CASES,
  ...HISTORY_CASES,
  ...FEED_CASES,
  ...ENGINE_CASES,
  ...LIMIT_CASES,
  ...SCHEDULE_CASES,
  ...FLOW_CASES,
];

/**
 * The names of every case of the suite (without the driver prefix), to build a
 * `skip` list from.
 *
 * @example Check a case exists before skipping it
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONFORMANCE_CASES } from "@sluice/sluice/testing";
 *
 * assert.ok(CONFORMANCE_CASES.includes("cancelRun revokes the lease and records the reason"));
 * ```
 */
export const CONFORMANCE_CASES: readonly string[] = CASES.map((c) => c.name);

/**
 * Registers the storage-driver conformance suite with the runtime's test
 * runner (`Deno.test` on Deno, `node:test` on Node): one test per case,
 * named `"<name>: <case>"`, each on a fresh driver from `factory` that is
 * closed at the end. Every driver must behave like the reference
 * `MemoryDriver`; a driver that cannot support a case lists it in
 * `options.skip` with the reason, which is printed with the skipped test.
 *
 * @param name The driver name that prefixes every test name.
 * @param factory Makes a fresh, empty driver for each case.
 * @param options The skip list.
 *
 * @example Run the suite against a driver, skipping one case with a reason
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver } from "@sluice/sluice";
 * import { testDriverConformance } from "@sluice/sluice/testing";
 *
 * // In a test module such as tests/my_driver_test.ts, at the top level:
 * function registerSuite(): void {
 *   testDriverConformance("memory", () => new MemoryDriver(), {
 *     skip: {
 *       "values with quotes, SQL keywords and unicode are stored verbatim":
 *         "this driver stores nothing as SQL",
 *     },
 *   });
 * }
 * assert.equal(typeof registerSuite, "function");
 * ```
 */
export function testDriverConformance(
  name: string,
  factory: () => Driver | Promise<Driver>,
  options: ConformanceOptions = {},
): void {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError("Cannot run the conformance suite without a driver name: pass one");
  }
  if (typeof factory !== "function") {
    throw new TypeError("Cannot run the conformance suite without a factory: pass () => driver");
  }
  const skip = options.skip ?? {};
  for (const [key, reason] of Object.entries(skip)) {
    if (!CONFORMANCE_CASES.includes(key)) {
      throw new TypeError(
        `Cannot skip conformance case '${key}': no case has that name; use one of CONFORMANCE_CASES`,
      );
    }
    if (typeof reason !== "string" || reason.trim().length === 0) {
      throw new TypeError(`Cannot skip conformance case '${key}' without a reason: give one`);
    }
  }
  for (const testCase of CASES) {
    const reason = skip[testCase.name];
    registerTest({
      name: reason === undefined
        ? `${name}: ${testCase.name}`
        : `${name}: ${testCase.name} (skipped: ${reason})`,
      ignore: reason !== undefined,
      async fn() {
        const driver = await factory();
        const resources: AsyncDisposable[] = [];
        try {
          await testCase.fn(driver, (resource) => (resources.push(resource), resource));
        } finally {
          for (const resource of resources.reverse()) await resource[Symbol.asyncDispose]();
          if (!testCase.closes) await driver.close();
        }
      },
    });
  }
}
