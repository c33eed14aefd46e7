/**
 * The base of the error taxonomy: {@linkcode SluiceError} and its options.
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
