/**
 * The errors of compensation (saga) and workflow timeouts.
 *
 * @module
 */
import { registerErrorClass, SluiceError } from "./errors.ts";

/**
 * A compensation exhausted its retries: the run fails with this error, and its
 * `cause` is the error the run failed with in the first place (the
 * compensation's own error is in its `compensation.failed` history event).
 *
 * @example A compensation that fails
 * ```ts
 * import assert from "node:assert/strict";
 * import { CompensationFailedError, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("trip")
 *   .step("book", (n) => n, { compensate: () => { throw new Error("refund refused"); } })
 *   .step("pay", () => { throw new Error("card declined"); });
 * await using runner = new LocalRunner();
 * const error = await runner.run(wf, 1).catch((e) => e);
 * assert.ok(error.cause instanceof CompensationFailedError);
 * assert.equal(error.cause.code, "COMPENSATION_FAILED");
 * assert.equal((error.cause.cause as Error).message, "card declined");
 * ```
 */
export class CompensationFailedError extends SluiceError {
  /** Retrying the run would run the failed compensation again only by hand. */
  override readonly nonRetryable = true;
  /** The key of the compensation that failed (`<stepKey>/compensate`). */
  readonly step: string;
  /**
   * Creates the error.
   *
   * @param step The compensation's key.
   * @param reason What the compensation failed with.
   * @param cause The error the run failed with before compensating.
   */
  constructor(step: string, reason: string, cause?: unknown) {
    super(
      "COMPENSATION_FAILED",
      `Compensation '${step}' failed after its retries: ${reason}; undo the remaining steps by hand`,
      { cause },
    );
    this.step = step;
  }
}

/**
 * A run outlived its workflow's `timeout`: its steps in flight were aborted and
 * its compensations ran.
 *
 * @example A run that sleeps past its workflow timeout
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, WorkflowTimeoutError, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("slow", { timeout: "1h" }).sleep("nap", "2h");
 * await using runner = new LocalRunner({ clock: "virtual" });
 * const error = await runner.run(wf, 1).catch((e) => e);
 * assert.ok(error.cause instanceof WorkflowTimeoutError);
 * assert.equal(error.cause.code, "WORKFLOW_TIMEOUT");
 * ```
 */
export class WorkflowTimeoutError extends SluiceError {
  /** Always true: the deadline has passed. */
  override readonly nonRetryable = true;
  /**
   * Creates the error.
   *
   * @param runId The run.
   * @param timeoutMs The workflow's timeout.
   */
  constructor(runId: string, timeoutMs: number) {
    super(
      "WORKFLOW_TIMEOUT",
      `Run '${runId}' timed out after ${timeoutMs}ms: raise the workflow's 'timeout' or make the run shorter`,
    );
  }
}

registerErrorClass("COMPENSATION_FAILED", CompensationFailedError);
registerErrorClass("WORKFLOW_TIMEOUT", WorkflowTimeoutError);
