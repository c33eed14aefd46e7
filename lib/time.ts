/**
 * The one range of times that every driver stores: whole epoch milliseconds
 * from {@linkcode MIN_TIME_MS} to {@linkcode MAX_TIME_MS} (the range of a
 * JavaScript `Date`, which fits PostgreSQL `bigint`, SQLite `INTEGER` and a
 * JSON number exactly). The engine decides every stored time here, once:
 * given times and durations are checked when a workflow is built or a run
 * starts, fractional milliseconds are rounded to the nearest whole one, and
 * times computed while a run runs (a wake time, a deadline) are clamped into
 * the range, or fail the run when they come from user code.
 *
 * @module
 */

/**
 * The earliest storable time: -8,640,000,000,000,000 epoch ms
 * (the year -271821, the earliest valid `Date`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MIN_TIME_MS } from "@sluice/sluice";
 *
 * assert.equal(new Date(MIN_TIME_MS).toISOString(), "-271821-04-20T00:00:00.000Z");
 * ```
 */
export const MIN_TIME_MS: number = -8_640_000_000_000_000;

/**
 * The latest storable time: 8,640,000,000,000,000 epoch ms (the year 275760,
 * the latest valid `Date`). A wake time computed past it is clamped to it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_TIME_MS } from "@sluice/sluice";
 *
 * assert.equal(new Date(MAX_TIME_MS).toISOString(), "+275760-09-13T00:00:00.000Z");
 * ```
 */
export const MAX_TIME_MS: number = 8_640_000_000_000_000;

/**
 * The longest duration (sleep, timeout, retry delay, lease):
 * {@linkcode MAX_TIME_MS} milliseconds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_DURATION_MS, parseDuration } from "@sluice/sluice";
 *
 * assert.equal(parseDuration("100000000d"), MAX_DURATION_MS);
 * assert.throws(() => parseDuration(1e300), RangeError);
 * ```
 */
export const MAX_DURATION_MS: number = MAX_TIME_MS;

/**
 * Converts a given time (a `Date` or epoch ms) to a storable time: rounded to
 * the nearest whole millisecond and checked against the range.
 *
 * @param value The time.
 * @param what What it is, quoted in error messages (`"'startAt'"`).
 * @returns Whole epoch milliseconds from {@linkcode MIN_TIME_MS} to {@linkcode MAX_TIME_MS}.
 * @throws {TypeError} When it is neither a valid `Date` nor a finite number.
 * @throws {RangeError} When it is outside the storable range.
 */
export function toStoredTime(value: unknown, what: string): number {
  const at = value instanceof Date ? value.getTime() : value;
  if (typeof at !== "number" || !Number.isFinite(at)) {
    throw new TypeError(
      `Cannot use ${what} ${
        typeof value === "object" && value !== null && !(value instanceof Date)
          ? "of type object"
          : String(value)
      }: pass a valid Date or epoch milliseconds`,
    );
  }
  const rounded = Math.round(at);
  if (rounded < MIN_TIME_MS || rounded > MAX_TIME_MS) {
    throw new RangeError(
      `Cannot use ${what} ${at}: times are epoch milliseconds from ${MIN_TIME_MS} to ${MAX_TIME_MS}, use a valid Date`,
    );
  }
  return rounded;
}

/**
 * The wake time `delayMs` after `now`, clamped into the storable range.
 *
 * @param now A storable time.
 * @param delayMs A duration in milliseconds (a non-finite one counts as the longest).
 * @returns Whole epoch milliseconds, at most {@linkcode MAX_TIME_MS}.
 */
export function timeAfter(now: number, delayMs: number): number {
  const at = Math.round(now + (Number.isNaN(delayMs) ? MAX_DURATION_MS : delayMs));
  return Math.min(MAX_TIME_MS, Math.max(MIN_TIME_MS, at));
}

/**
 * The `deadlineAt` of a new (or retried) run under a workflow `timeout`
 * counted from `start` (its `startAt`, or now), to spread into a `NewRun`;
 * empty without a timeout.
 */
export function deadlineFrom(
  timeoutMs: number | undefined,
  start: number,
): { deadlineAt?: number } {
  return timeoutMs === undefined ? {} : { deadlineAt: timeAfter(start, timeoutMs) };
}
