/**
 * The errors of steps and the values they exchange: timeouts, cancellation,
 * values that cannot be stored, and the error that asks not to be retried.
 *
 * @module
 */
import { SluiceError, type SluiceErrorOptions } from "./errors_base.ts";

/**
 * A step attempt ran past its `timeout`.
 *
 * @example A step that outlives its timeout
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, StepTimeoutError, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("slow").step("charge", (_n, ctx) =>
 *   new Promise<number>((_resolve, reject) => {
 *     ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
 *   }), { timeout: 20 });
 * await using runner = new LocalRunner();
 * const error = await runner.run(wf, 1).catch((e) => e);
 * assert.ok(error.cause instanceof StepTimeoutError);
 * assert.equal(error.cause.code, "STEP_TIMEOUT");
 * ```
 */
export class StepTimeoutError extends SluiceError {
  /**
   * Creates the error.
   *
   * @param step The step key.
   * @param timeoutMs The timeout that elapsed.
   */
  constructor(step: string, timeoutMs: number) {
    super(
      "STEP_TIMEOUT",
      `Step '${step}' timed out after ${timeoutMs}ms: raise its 'timeout' or make it honour ctx.signal`,
    );
  }
}

/**
 * A `waitForSignal` without `onTimeout` reached its timeout.
 *
 * @example A signal that does not come in time
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, SignalTimeoutError, WorkflowFailedError, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("gate").waitForSignal("approval", "approved", { timeout: "1d" });
 * await using runner = new LocalRunner({ clock: "virtual" });
 * await assert.rejects(
 *   runner.run(wf, 1),
 *   (error) => error instanceof WorkflowFailedError && error.cause instanceof SignalTimeoutError,
 * );
 * ```
 */
export class SignalTimeoutError extends SluiceError {
  /** Always true: retrying cannot help. */
  override readonly nonRetryable = true;
  /**
   * Creates the error.
   *
   * @param step The wait's step key.
   * @param signals The signal names it waited for.
   */
  constructor(step: string, signals: readonly string[]) {
    super(
      "SIGNAL_TIMEOUT",
      `Step '${step}' timed out waiting for signal ${
        signals.map((s) => `'${s}'`).join(" or ")
      }: send it sooner, raise 'timeout' or add 'onTimeout'`,
    );
  }
}

/**
 * A run was cancelled; in-flight steps see it as `ctx.signal.reason`.
 *
 * @example The reason a run was cancelled
 * ```ts
 * import assert from "node:assert/strict";
 * import { CancelledError } from "@sluice/sluice";
 *
 * const error = new CancelledError("r-1", "user asked");
 * assert.equal(error.message, "Run 'r-1' was cancelled: user asked");
 * assert.equal(error.nonRetryable, true);
 * ```
 */
export class CancelledError extends SluiceError {
  /** Always true: retrying cannot help. */
  override readonly nonRetryable = true;
  /** The reason given to `cancel()`. */
  readonly reason: string | undefined;
  /**
   * Creates the error.
   *
   * @param runId The cancelled run.
   * @param reason Why it was cancelled.
   */
  constructor(runId: string, reason?: string) {
    super("CANCELLED", `Run '${runId}' was cancelled${reason ? `: ${reason}` : ""}`);
    this.reason = reason;
  }
}

/**
 * Thrown by a step to stop its retries at once.
 *
 * @example Fail at once on input no retry can fix
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, NonRetryableError, workflow } from "@sluice/sluice";
 *
 * let attempts = 0;
 * const wf = workflow<string>("charge").step("charge", (card) => {
 *   attempts++;
 *   if (card === "") throw new NonRetryableError("The card number is empty");
 *   return card;
 * }, { retry: { maxAttempts: 5 } });
 * await using runner = new LocalRunner();
 * await assert.rejects(runner.run(wf, ""), /The card number is empty/);
 * assert.equal(attempts, 1);
 * ```
 */
export class NonRetryableError extends SluiceError {
  /** Always true: retrying cannot help. */
  override readonly nonRetryable = true;
  /**
   * Creates the error.
   *
   * @param message Why retrying cannot help.
   * @param options The cause, when there is one.
   */
  constructor(message: string, options?: SluiceErrorOptions) {
    super("NON_RETRYABLE", message, options);
  }
}

/**
 * A value is not JSON plus `Date` (functions, class instances, cycles, `BigInt`,
 * symbols, non-finite numbers).
 *
 * @example A step that returns a function fails its run
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, SerializationError, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("bad").step("a", () => (() => 1) as unknown as number);
 * await using runner = new LocalRunner();
 * const error = await runner.run(wf, 1).catch((e) => e);
 * assert.ok(error.cause instanceof SerializationError);
 * assert.equal(error.cause.code, "SERIALIZATION");
 * ```
 */
export class SerializationError extends SluiceError {
  /** Always true: retrying cannot help. */
  override readonly nonRetryable = true;
  /**
   * Creates the error.
   *
   * @param what Which value, e.g. "the output of step 'charge'".
   * @param problem What is wrong with it and where.
   */
  constructor(what: string, problem: string) {
    super(
      "SERIALIZATION",
      `Cannot store ${what} as it holds ${problem}: return only JSON values and Dates`,
    );
  }
}

/**
 * A value is larger than the configured limit (1 MiB by default).
 *
 * @example An input over the limit is refused before the run starts
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, PayloadTooLargeError, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<string>("echo").step("a", (text) => text);
 * await using runner = new LocalRunner();
 * await assert.rejects(runner.run(wf, "x".repeat(2_000_000)), PayloadTooLargeError);
 * ```
 */
export class PayloadTooLargeError extends SluiceError {
  /** Always true: retrying cannot help. */
  override readonly nonRetryable = true;
  /**
   * Creates the error.
   *
   * @param what Which value.
   * @param size Its encoded size in bytes.
   * @param limit The limit in bytes.
   */
  constructor(what: string, size: number, limit: number) {
    super(
      "PAYLOAD_TOO_LARGE",
      `Cannot store ${what} as it is ${size} bytes, over the limit of ${limit} bytes: store large data elsewhere and pass a reference`,
    );
  }
}
