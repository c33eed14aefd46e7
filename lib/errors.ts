/**
 * The error taxonomy of Sluice. Every domain error extends {@linkcode SluiceError}
 * and carries a stable string `code`; whether an error may be retried is data
 * (`nonRetryable`), never a class check.
 *
 * @module
 */
import { SluiceError } from "./errors_base.ts";
import {
  DuplicateRunError,
  InvalidStateError,
  PlanMismatchError,
  RunNotFoundError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from "./errors_run.ts";
import {
  CancelledError,
  NonRetryableError,
  PayloadTooLargeError,
  SerializationError,
  SignalTimeoutError,
  StepTimeoutError,
} from "./errors_step.ts";
import {
  ClockSkewError,
  LeaseLostError,
  RecoveryLimitError,
  StorageError,
} from "./errors_storage.ts";

export * from "./errors_base.ts";
export * from "./errors_run.ts";
export * from "./errors_step.ts";
export * from "./errors_storage.ts";

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
