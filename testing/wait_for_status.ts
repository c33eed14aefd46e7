import type { RunStatus } from "../lib/driver.ts";
import type { RunRecord } from "../lib/records.ts";

/**
 * Options of {@linkcode waitForStatus}.
 *
 * @example Wait up to two seconds, looking every 5ms
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, workflow } from "@sluice/sluice";
 * import { waitForStatus, type WaitForStatusOptions } from "@sluice/sluice/testing";
 *
 * const options: WaitForStatusOptions = { timeoutMs: 2_000, pollMs: 5 };
 * const wf = workflow<string>("nap").sleep("nap", "1h");
 * await using runner = new LocalRunner();
 * const run = await runner.start(wf, "x");
 * const record = await waitForStatus(runner, run.id, "sleeping", options);
 * assert.equal(record.status, "sleeping");
 * assert.ok(record.wakeAt instanceof Date);
 * ```
 */
export interface WaitForStatusOptions {
  /**
   * How long to wait, in real milliseconds.
   * @default {10000}
   */
  timeoutMs?: number;
  /**
   * How often to look, in real milliseconds.
   * @default {10}
   */
  pollMs?: number;
}

/**
 * Waits until a run reaches one of some statuses (e.g. `"waiting"` before
 * sending a signal in a test); returns its record. Works with a `LocalRunner`
 * or an `Engine`.
 *
 * @param runner Anything with `get(runId)`: a `LocalRunner` or an `Engine`.
 * @param runId The run.
 * @param status The status, or statuses, to wait for.
 * @param options Timeout and polling pace.
 * @returns The run's record once it has the status.
 * @throws {Error} When the run does not get there in time.
 *
 * @example Wait until a run waits for its signal
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, workflow } from "@sluice/sluice";
 * import { waitForStatus } from "@sluice/sluice/testing";
 *
 * const wf = workflow<number>("gate").waitForSignal<number>("go", "go").step("x", (n) => n * 2);
 * await using runner = new LocalRunner();
 * const run = await runner.start(wf, 1);
 * await waitForStatus(runner, run.id, "waiting");
 * await runner.signal(run.id, "go", 21);
 * assert.equal(await run.result(), 42);
 * ```
 */
export async function waitForStatus(
  runner: { get(runId: string): Promise<RunRecord> },
  runId: string,
  status: RunStatus | readonly RunStatus[],
  options: WaitForStatusOptions = {},
): Promise<RunRecord> {
  const wanted: readonly RunStatus[] = typeof status === "string" ? [status] : status;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pollMs = options.pollMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await runner.get(runId);
    if (wanted.includes(run.status)) return run;
    if (Date.now() >= deadline) {
      throw new Error(
        `Run '${runId}' is still ${run.status} after ${timeoutMs}ms, not ${
          wanted.join(" or ")
        }: check what it waits for, or raise 'timeoutMs'`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
