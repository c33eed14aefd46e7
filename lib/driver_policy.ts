/**
 * Policy every storage driver applies, decided once: what a cancelled run's
 * error says, which operations a run's status refuses and with what error,
 * which row `retryRun` drops, and how long a page of runs is. Drivers decide
 * only how to store it.
 *
 * @module
 */
import { isFinished, type RunStatus } from "./driver.ts";
import { CancelledError, type ErrorInfo, InvalidStateError, toErrorInfo } from "./errors.ts";
import type { RunErrorData } from "./formats.ts";

/**
 * The default and largest page of `listRuns` / `list()`.
 *
 * @example The default page
 * ```ts
 * import assert from "node:assert/strict";
 * import { LIST_PAGE } from "./driver_policy.ts";
 *
 * assert.equal(LIST_PAGE.default, 100);
 * ```
 */
export const LIST_PAGE: { readonly default: 100; readonly max: 1000 } = {
  default: 100,
  max: 1000,
};

/**
 * The error a cancelled run stores: a `CancelledError` with the reason,
 * without a stack (it says nothing about where the cancel came from).
 *
 * @example Cancelled with a reason
 * ```ts
 * import assert from "node:assert/strict";
 * import { cancelledErrorInfo } from "./driver_policy.ts";
 *
 * const info = cancelledErrorInfo("r-1", "stop");
 * assert.equal(info.name, "CancelledError");
 * assert.equal(info.stack, undefined);
 * ```
 */
export function cancelledErrorInfo(runId: string, reason: string | undefined): ErrorInfo {
  const info = toErrorInfo(new CancelledError(runId, reason));
  delete info.stack;
  return info;
}

/**
 * The stored error of a run cancelled with compensation while it compensates:
 * the cancel error, flagged `cancelling` (see `RunErrorData` in `formats.ts`).
 *
 * @example Cancelling, not yet cancelled
 * ```ts
 * import assert from "node:assert/strict";
 * import { cancellingErrorInfo } from "./driver_policy.ts";
 *
 * assert.equal(cancellingErrorInfo("r-1", "stop").cancelling, true);
 * ```
 */
export function cancellingErrorInfo(runId: string, reason: string | undefined): RunErrorData {
  const info: RunErrorData = { ...cancelledErrorInfo(runId, reason), cancelling: true };
  if (reason !== undefined) info.reason = reason;
  return info;
}

/** Operations a run's status can refuse. */
export type RunOperation = "signal" | "cancel" | "retry" | "pause" | "resume";

/**
 * Why `operation` is refused on a run of that status (`signal`, `cancel` and
 * `pause` take only unfinished runs, `retry` only failed or cancelled ones,
 * `resume` only paused ones), or `undefined` when
 * it is allowed.
 *
 * @example Signal a completed run
 * ```ts
 * import assert from "node:assert/strict";
 * import { refusal } from "./driver_policy.ts";
 *
 * assert.equal(
 *   refusal("signal", "r-1", "completed")?.message,
 *   "Cannot signal run 'r-1' as it is completed: signal only unfinished runs",
 * );
 * assert.equal(refusal("retry", "r-1", "failed"), undefined);
 * ```
 */
export function refusal(
  operation: RunOperation,
  runId: string,
  status: RunStatus,
): InvalidStateError | undefined {
  const allowed = operation === "retry"
    ? status === "failed" || status === "cancelled"
    : operation === "resume"
    ? status === "paused"
    : !isFinished(status);
  return allowed ? undefined : refusedError(operation, runId, status);
}

/**
 * The error that refuses `operation` on a run of that status (what
 * {@linkcode refusal} returns when it refuses).
 *
 * @example Retry a completed run
 * ```ts
 * import assert from "node:assert/strict";
 * import { refusedError } from "./driver_policy.ts";
 *
 * assert.equal(
 *   refusedError("retry", "r-1", "completed").message,
 *   "Cannot retry run 'r-1' as it is completed: retry only failed or cancelled runs",
 * );
 * ```
 */
export function refusedError(
  operation: RunOperation,
  runId: string,
  status: RunStatus,
): InvalidStateError {
  const only = operation === "retry"
    ? "failed or cancelled"
    : operation === "resume"
    ? "paused"
    : "unfinished";
  return new InvalidStateError(
    `Cannot ${operation} run '${runId}' as it is ${status}: ${operation} only ${only} runs`,
  );
}

/**
 * The step whose `pending` row `retryRun` drops, so the retried run starts
 * that step afresh (its failure count and backoff gone): the step the run
 * failed in, if any. (The PostgreSQL driver's statement reads the same
 * field, `error ->> 'step'`.)
 *
 * @example The failed step's key
 * ```ts
 * import assert from "node:assert/strict";
 * import { retryDropsRow } from "./driver_policy.ts";
 *
 * assert.equal(retryDropsRow({ name: "Error", message: "x", step: "charge" }), "charge");
 * assert.equal(retryDropsRow(undefined), undefined);
 * ```
 */
export function retryDropsRow(error: ErrorInfo | undefined): string | undefined {
  return error?.step;
}
