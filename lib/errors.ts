/**
 * The error taxonomy of Sluice. Every domain error extends {@linkcode SluiceError}
 * and carries a stable string `code`; whether an error may be retried is data
 * (`nonRetryable`), never a class check.
 *
 * @module
 */

/**
 * Options accepted by every {@linkcode SluiceError} constructor.
 *
 * @example Keep the underlying cause
 * ```ts
 * import assert from "node:assert/strict";
 * import { type SluiceErrorOptions, StorageError } from "@sluice/sluice";
 *
 * const options: SluiceErrorOptions = { cause: new Error("connection refused") };
 * const error = new StorageError("Cannot reach the database", options);
 * assert.equal(error.code, "STORAGE");
 * assert.equal((error.cause as Error).message, "connection refused");
 * ```
 */
export interface SluiceErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
}

/**
 * Base class of every error Sluice raises on purpose.
 *
 * @example Tell Sluice errors apart by code
 * ```ts
 * import assert from "node:assert/strict";
 * import { RunNotFoundError, SluiceError } from "@sluice/sluice";
 *
 * const error: unknown = new RunNotFoundError("r-1");
 * assert.ok(error instanceof SluiceError);
 * assert.equal(error.code, "RUN_NOT_FOUND");
 * ```
 */
export class SluiceError extends Error {
  /** A stable, machine-readable code such as `"RUN_NOT_FOUND"`. */
  readonly code: string;
  /** When true, a step that throws this error is not retried. */
  readonly nonRetryable: boolean = false;

  /**
   * Creates an error with a code and a message.
   *
   * @param code The stable error code.
   * @param message A sentence-case message that says what to do.
   * @param options The cause, when there is one.
   */
  constructor(code: string, message: string, options?: SluiceErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A workflow name (or name and version) is not registered with the runner or engine.
 *
 * @example Start a workflow the engine does not know
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, WorkflowNotFoundError } from "@sluice/sluice";
 *
 * await using engine = new Engine({ driver: new MemoryDriver() });
 * await assert.rejects(engine.start("billing", 1), WorkflowNotFoundError);
 * assert.equal(new WorkflowNotFoundError("billing").code, "WORKFLOW_NOT_FOUND");
 * ```
 */
export class WorkflowNotFoundError extends SluiceError {
  /** The workflow name that was looked up. */
  readonly workflow: string;
  /**
   * Creates the error.
   *
   * @param workflow The unknown workflow name.
   * @param detail Extra explanation appended to the message.
   */
  constructor(workflow: string, detail = "") {
    super(
      "WORKFLOW_NOT_FOUND",
      `Cannot find workflow '${workflow}'${detail}: register it in the 'workflows' option`,
    );
    this.workflow = workflow;
  }
}

/**
 * No run has the given id.
 *
 * @example Look up a run that does not exist
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, RunNotFoundError } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner();
 * await assert.rejects(runner.get("r-1"), RunNotFoundError);
 * assert.equal(
 *   new RunNotFoundError("r-1").message,
 *   "Cannot find run 'r-1': check the id, or whether it was purged",
 * );
 * ```
 */
export class RunNotFoundError extends SluiceError {
  /** The run id that was looked up. */
  readonly runId: string;
  /**
   * Creates the error.
   *
   * @param runId The unknown run id.
   */
  constructor(runId: string) {
    super("RUN_NOT_FOUND", `Cannot find run '${runId}': check the id, or whether it was purged`);
    this.runId = runId;
  }
}

/**
 * The operation does not fit the current state, e.g. a signal to a finished run,
 * or any call on a closed engine.
 *
 * @example Signal a run that has finished
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidStateError, LocalRunner, workflow } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner();
 * const run = await runner.start(workflow<number>("inc").step("inc", (n) => n + 1), 1);
 * assert.equal(await run.result(), 2);
 * await assert.rejects(run.signal("go"), InvalidStateError);
 * ```
 */
export class InvalidStateError extends SluiceError {
  /**
   * Creates the error.
   *
   * @param message What is wrong and what to do.
   */
  constructor(message: string) {
    super("INVALID_STATE", message);
  }
}

/**
 * A run id is already taken by a run of another workflow.
 *
 * @example Reuse a run id for another workflow
 * ```ts
 * import assert from "node:assert/strict";
 * import { DuplicateRunError, LocalRunner, workflow } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner();
 * await runner.start(workflow<number>("billing").step("a", (n) => n), 1, { id: "r-1" });
 * const shipping = workflow<number>("shipping").step("a", (n) => n);
 * await assert.rejects(runner.start(shipping, 1, { id: "r-1" }), DuplicateRunError);
 * ```
 */
export class DuplicateRunError extends SluiceError {
  /** The contested run id. */
  readonly runId: string;
  /**
   * Creates the error.
   *
   * @param runId The run id.
   * @param existing The workflow of the existing run.
   * @param requested The workflow that was asked for.
   */
  constructor(runId: string, existing: string, requested: string) {
    super(
      "DUPLICATE_RUN",
      `Cannot start run '${runId}' of workflow '${requested}' as the id belongs to a run of workflow '${existing}': use another id`,
    );
    this.runId = runId;
  }
}

/**
 * A run's plan hash is not registered, so it cannot be resumed safely.
 *
 * @example The error a run fails with when its plan is not registered
 * ```ts
 * import assert from "node:assert/strict";
 * import { PlanMismatchError } from "@sluice/sluice";
 *
 * const error = new PlanMismatchError("r-1", "billing", "1", "abc");
 * assert.equal(error.code, "PLAN_MISMATCH");
 * assert.equal(error.planHash, "abc");
 * assert.equal(error.nonRetryable, true);
 * ```
 */
export class PlanMismatchError extends SluiceError {
  /** Always true: retrying cannot help. */
  override readonly nonRetryable = true;
  /** The plan hash the run was started with. */
  readonly planHash: string;
  /**
   * Creates the error.
   *
   * @param runId The run that cannot resume.
   * @param workflow Its workflow name.
   * @param version Its workflow version.
   * @param planHash Its plan hash.
   */
  constructor(runId: string, workflow: string, version: string, planHash: string) {
    super(
      "PLAN_MISMATCH",
      `Cannot resume run '${runId}' as workflow '${workflow}' version '${version}' with plan hash '${planHash}' is not registered: register that version alongside the new one, then retry the run`,
    );
    this.planHash = planHash;
  }
}

/**
 * A run failed; `cause` carries the step error (name, message and stack), also
 * when another process recorded it.
 *
 * @example Read the step error of a failed run
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, WorkflowFailedError, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("fails").step("boom", () => {
 *   throw new Error("boom");
 * });
 * await using runner = new LocalRunner();
 * const error = await runner.run(wf, 1).catch((e) => e);
 * assert.ok(error instanceof WorkflowFailedError);
 * assert.equal(error.step, "boom");
 * assert.equal((error.cause as Error).message, "boom");
 * ```
 */
export class WorkflowFailedError extends SluiceError {
  /** The failed run's id. */
  readonly runId: string;
  /** The step key where the run failed, when a step failed. */
  readonly step: string | undefined;
  /**
   * Creates the error.
   *
   * @param runId The failed run.
   * @param workflow Its workflow name.
   * @param cause The step error.
   * @param step The step key that failed.
   */
  constructor(runId: string, workflow: string, cause: unknown, step?: string) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      "WORKFLOW_FAILED",
      `Run '${runId}' of workflow '${workflow}' failed${
        step ? ` at step '${step}'` : ""
      }: ${reason}`,
      { cause },
    );
    this.runId = runId;
    this.step = step;
  }
}

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
 * A worker lost its lease on a run (it paused too long, or another worker took
 * the run over); its writes are refused.
 *
 * @example The error a write under a stale lease fails with
 * ```ts
 * import assert from "node:assert/strict";
 * import { LeaseLostError } from "@sluice/sluice";
 *
 * assert.equal(new LeaseLostError("r-1").code, "LEASE_LOST");
 * ```
 */
export class LeaseLostError extends SluiceError {
  /**
   * Creates the error.
   *
   * @param runId The run whose lease was lost.
   */
  constructor(runId: string) {
    super(
      "LEASE_LOST",
      `Lost the lease on run '${runId}': another worker owns it now, so this worker's writes are refused`,
    );
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
 * Options of the {@linkcode StorageError} constructor.
 *
 * @example A dropped connection is transient
 * ```ts
 * import assert from "node:assert/strict";
 * import { StorageError, type StorageErrorOptions } from "@sluice/sluice";
 *
 * const options: StorageErrorOptions = { cause: new Error("ECONNRESET"), transient: true };
 * assert.equal(new StorageError("Cannot write run 'r-1'", options).transient, true);
 * ```
 */
export interface StorageErrorOptions extends SluiceErrorOptions {
  /**
   * Whether the same call may succeed if made again at once (a dropped or
   * refused connection), as opposed to a failure that repeats.
   * @default {false}
   */
  transient?: boolean;
}

/**
 * The storage backend failed (unreachable database, I/O error). Credentials are
 * never part of the message.
 *
 * @example A storage failure, by its code
 * ```ts
 * import assert from "node:assert/strict";
 * import { StorageError } from "@sluice/sluice";
 *
 * const error = new StorageError("Cannot reach the database");
 * assert.equal(error.code, "STORAGE");
 * assert.equal(error.transient, false);
 * ```
 */
export class StorageError extends SluiceError {
  /** Whether the call may succeed if made again (a connection failure); workers retry those. */
  readonly transient: boolean;
  /**
   * Creates the error.
   *
   * @param message What failed, without secrets.
   * @param options The cause, and whether the failure is transient.
   */
  constructor(message: string, options?: StorageErrorOptions) {
    super("STORAGE", message, options);
    this.transient = options?.transient === true;
  }
}

/**
 * A run's lease expired more than `maxRecoveries` times in a row while the
 * same step was in flight (the run wrote nothing between the takeovers): the
 * step blocks or kills its process every time, so the run fails instead of
 * being taken over forever. `retry()` resets the count.
 *
 * @example The error of a run taken over six times in a row
 * ```ts
 * import assert from "node:assert/strict";
 * import { RecoveryLimitError } from "@sluice/sluice";
 *
 * const error = new RecoveryLimitError("r-1", "charge", 6, 5);
 * assert.equal(error.code, "RECOVERY_LIMIT");
 * assert.equal(error.step, "charge");
 * assert.equal(error.recoveries, 6);
 * assert.equal(error.nonRetryable, true);
 * ```
 */
export class RecoveryLimitError extends SluiceError {
  /** Retrying at once would block or kill a process again. */
  override readonly nonRetryable = true;
  /** The step that was in flight at every takeover. */
  readonly step: string;
  /** How many takeovers happened in a row. */
  readonly recoveries: number;
  /**
   * Creates the error.
   *
   * @param runId The run.
   * @param step The step in flight.
   * @param recoveries Takeovers in a row.
   * @param maxRecoveries The engine's limit.
   */
  constructor(runId: string, step: string, recoveries: number, maxRecoveries: number) {
    super(
      "RECOVERY_LIMIT",
      `Cannot run step '${step}' of run '${runId}' again: its lease expired ${recoveries} times in a row with the step in flight (limit 'maxRecoveries' ${maxRecoveries}), so it blocks or kills its worker; fix the step, then retry the run`,
    );
    this.step = step;
    this.recoveries = recoveries;
  }
}

/**
 * This process's clock differs from the database's by more than the limit
 * (5 minutes): the worker refuses to start, and starts, signals and cancels
 * made through the engine are refused, until the host's time is fixed. Times
 * are kept on the database's clock, so a smaller skew is only logged as a
 * warning; past the limit, the host's time sync is broken and times computed
 * from its own clock (a `sleepUntil` function, a `startAt`) cannot be trusted.
 *
 * @example A clock ten minutes ahead of the database's
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClockSkewError } from "@sluice/sluice";
 *
 * const error = new ClockSkewError(-600_000, 300_000);
 * assert.equal(error.code, "CLOCK_SKEW");
 * assert.equal(error.offsetMs, -600_000);
 * assert.equal(
 *   error.message,
 *   "Cannot work with a clock 600.0s ahead of the database's (the limit is 300s): fix the host's time sync (NTP)",
 * );
 * ```
 */
export class ClockSkewError extends SluiceError {
  /** The measured offset: the database's time minus this process's (ms). */
  readonly offsetMs: number;
  /** The largest offset allowed (ms). */
  readonly limitMs: number;

  /**
   * Creates the error.
   *
   * @param offsetMs The database's time minus this process's time (ms).
   * @param limitMs The largest offset allowed (ms).
   */
  constructor(offsetMs: number, limitMs: number) {
    const side = offsetMs < 0 ? "ahead of" : "behind";
    super(
      "CLOCK_SKEW",
      `Cannot work with a clock ${
        (Math.abs(offsetMs) / 1000).toFixed(1)
      }s ${side} the database's (the limit is ${limitMs / 1000}s): fix the host's time sync (NTP)`,
    );
    this.offsetMs = offsetMs;
    this.limitMs = limitMs;
  }
}

/**
 * A stored, process-independent description of an error.
 *
 * @example The stored error of a failed run
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ErrorInfo, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("fails").step("boom", () => {
 *   throw new TypeError("bad input");
 * });
 * await using runner = new LocalRunner();
 * const run = await runner.start(wf, 1);
 * await run.result().catch(() => {});
 * const info: ErrorInfo | undefined = (await runner.get(run.id)).error;
 * assert.equal(info?.name, "TypeError");
 * assert.equal(info?.message, "bad input");
 * assert.equal(info?.step, "boom");
 * ```
 */
export interface ErrorInfo {
  /** The error's `name`, e.g. `"TypeError"`. */
  name: string;
  /** The error's message. */
  message: string;
  /** The Sluice error code, when it is a {@linkcode SluiceError}. */
  code?: string;
  /** The stack trace, when there is one. */
  stack?: string;
  /** The step key where it happened. */
  step?: string;
  /** The cause, one level deep. */
  cause?: ErrorInfo;
  /**
   * True when the error asked not to be retried (`nonRetryable`), so the
   * rebuilt error asks it too (a `.call` of a child that failed with it is
   * not retried). Absent otherwise.
   */
  nonRetryable?: boolean;
}

const errorClasses: Record<string, { prototype: SluiceError }> = {
  WORKFLOW_NOT_FOUND: WorkflowNotFoundError,
  RUN_NOT_FOUND: RunNotFoundError,
  INVALID_STATE: InvalidStateError,
  DUPLICATE_RUN: DuplicateRunError,
  PLAN_MISMATCH: PlanMismatchError,
  WORKFLOW_FAILED: WorkflowFailedError,
  STEP_TIMEOUT: StepTimeoutError,
  SIGNAL_TIMEOUT: SignalTimeoutError,
  CANCELLED: CancelledError,
  LEASE_LOST: LeaseLostError,
  SERIALIZATION: SerializationError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  NON_RETRYABLE: NonRetryableError,
  STORAGE: StorageError,
  CLOCK_SKEW: ClockSkewError,
  RECOVERY_LIMIT: RecoveryLimitError,
};

/**
 * @internal Lets a module register the SluiceError subclasses it defines, so a
 * stored error with their code comes back as an instance of the class.
 */
export function registerErrorClass(code: string, cls: { prototype: SluiceError }): void {
  errorClasses[code] = cls;
}

/** Describes any thrown value as plain data that can be stored. */
export function toErrorInfo(error: unknown, step?: string, depth = 0): ErrorInfo {
  const info: ErrorInfo = error instanceof Error
    ? { name: clean(error.name), message: clean(error.message) }
    : { name: "Error", message: clean(typeof error === "string" ? error : safeString(error)) };
  if (error instanceof SluiceError) info.code = error.code;
  if (error instanceof Error && error.stack) info.stack = clean(error.stack);
  if (step !== undefined) info.step = step;
  if (error instanceof Error && error.cause !== undefined && depth < 3) {
    info.cause = toErrorInfo(error.cause, undefined, depth + 1);
  }
  if (isNonRetryable(error)) info.nonRetryable = true;
  return info;
}

/**
 * Stored error text never holds NUL or a lone surrogate (some databases cannot
 * store them): each becomes U+FFFD.
 */
function clean(text: string): string {
  return String(text).replaceAll("\0", "\uFFFD").toWellFormed();
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Rebuilds an error from stored data; Sluice errors come back as instances of
 * their class, other errors as `Error` with the original name, message and stack.
 */
export function fromErrorInfo(info: ErrorInfo): Error {
  const cls = info.code ? errorClasses[info.code] : undefined;
  const error: Error = cls ? Object.create(cls.prototype) : new Error(info.message);
  Object.defineProperty(error, "message", {
    value: info.message,
    writable: true,
    configurable: true,
  });
  Object.defineProperty(error, "name", { value: info.name, writable: true, configurable: true });
  if (cls) Object.defineProperty(error, "code", { value: info.code, enumerable: true });
  // Errors stored before the flag was: a `NonRetryableError` is one by its code.
  if (info.nonRetryable === true || info.code === "NON_RETRYABLE") {
    Object.defineProperty(error, "nonRetryable", {
      value: true,
      writable: true,
      configurable: true,
    });
  }
  Object.defineProperty(error, "stack", {
    value: info.stack ?? `${info.name}: ${info.message}`,
    writable: true,
    configurable: true,
  });
  if (info.cause) {
    Object.defineProperty(error, "cause", {
      value: fromErrorInfo(info.cause),
      writable: true,
      configurable: true,
    });
  }
  return error;
}

/** Whether a thrown value asks not to be retried (data, not class sniffing). */
export function isNonRetryable(error: unknown): boolean {
  return typeof error === "object" && error !== null &&
    (error as { nonRetryable?: unknown }).nonRetryable === true;
}
