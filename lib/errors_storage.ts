/**
 * The errors of storage and leases: a lost lease, a failing backend, a run
 * taken over too often, a clock too far from the database's.
 *
 * @module
 */
import { SluiceError, type SluiceErrorOptions } from "./errors_base.ts";

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
