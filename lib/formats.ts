/**
 * The stored formats, declared once: the `data` of every kind of checkpoint
 * row, the `detail` of every history event and the spec of a schedule, each a
 * type with its encoder and decoder side by side. The interpreter, the worker, every driver and
 * `history()` write and read them only through this module, so the bytes
 * every database holds are decided here. Changing an encoding needs a
 * migration (existing databases hold the old bytes); decoders accept every
 * encoding ever written.
 *
 * Step outputs, inputs and signal payloads are values (`lib/values.ts`):
 * JSON plus tagged `Date`s, already encoded when they get here.
 *
 * @module
 */
import type { ErrorInfo } from "./errors.ts";
import type { ScheduleCatchUp, ScheduleOverlap } from "./schedule.ts";
import { decodeValue } from "./values.ts";

// ---- checkpoint rows ---------------------------------------------------------------

/** A step's `pending` row: failed attempts so far and when the next one is due. */
export interface StepProgress {
  /** Attempts that failed. */
  failures: number;
  /** When the next attempt is due (epoch ms). */
  until: number;
}

/** An `if`'s `pending` row: the branch it chose. */
export interface IfProgress {
  /** The chosen branch. */
  branch: "then" | "else";
}

/** A loop's (`loop`, `while`) `pending` row: the index of the next iteration. */
export interface LoopProgress {
  /** The next iteration's index. */
  next: number;
}

/** A sleep's `pending` row: its wake time. */
export interface SleepProgress {
  /** When the sleep ends (epoch ms). */
  until: number;
}

/** A wait's `pending` row: its deadline, if it has a timeout. */
export interface WaitProgress {
  /** When the wait times out (epoch ms). */
  until?: number;
}

/**
 * A `call`'s (or `spawn`'s) pending row: the attempt and the child run it
 * started (written before the child is created), and when a failed call's
 * next attempt is due.
 *
 * @example A second attempt, due later
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowData } from "./formats.ts";
 *
 * const text = rowData.child.encode({ attempt: 2, child: "r-1/pay#2", until: 5 });
 * assert.deepEqual(rowData.child.decode(text), { attempt: 2, child: "r-1/pay#2", until: 5 });
 * ```
 */
export interface ChildProgress {
  /** The attempt (1-based). */
  attempt: number;
  /** The child run's id. */
  child: string;
  /** When this attempt may start its child (epoch ms), after a failed one. */
  until?: number;
}

/**
 * A wait's `done` row: the signal it consumed (the payload as a decoded
 * value), or the `onTimeout` result when it timed out.
 */
export type WaitOutcome =
  | { timedOut?: undefined; signal: string; payload?: unknown }
  | { timedOut: true; value: unknown };

/**
 * Encoders and decoders of checkpoint-row `data`, by row shape.
 *
 * @example Round-trip a step's retry progress
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowData } from "./formats.ts";
 *
 * const data = rowData.step.encode({ failures: 2, until: 1_000 });
 * assert.equal(data, '{"failures":2,"until":1000}');
 * assert.deepEqual(rowData.step.decode(data), { failures: 2, until: 1_000 });
 * assert.deepEqual(rowData.wait.decode(rowData.wait.encode({})), {});
 * ```
 */
export const rowData: {
  /** A step's retry progress. */
  readonly step: Format<StepProgress>;
  /** An `if`'s chosen branch. */
  readonly if: Format<IfProgress>;
  /** A loop's next iteration. */
  readonly loop: Format<LoopProgress>;
  /** A sleep's wake time. */
  readonly sleep: Format<SleepProgress>;
  /** A wait's deadline. */
  readonly wait: Format<WaitProgress>;
  /** A call's attempt and child. */
  readonly child: Format<ChildProgress>;
} = {
  step: json<StepProgress>((p) => ({ failures: p.failures, until: p.until })),
  if: json<IfProgress>((p) => ({ branch: p.branch })),
  loop: json<LoopProgress>((p) => ({ next: p.next })),
  sleep: json<SleepProgress>((p) => ({ until: p.until })),
  wait: json<WaitProgress>((p) => (p.until === undefined ? {} : { until: p.until })),
  child: json<ChildProgress>((p) =>
    p.until === undefined
      ? { attempt: p.attempt, child: p.child }
      : { attempt: p.attempt, child: p.child, until: p.until }
  ),
};

/** One stored shape's encoder and decoder. */
export interface Format<T> {
  /** The stored text. */
  encode(value: T): string;
  /** The value back from the stored text. */
  decode(text: string): T;
}

/** A shape stored as plain JSON, its keys in the order `shape` gives them. */
function json<T>(shape: (value: T) => unknown): Format<T> {
  return {
    encode: (value) => JSON.stringify(shape(value)),
    decode: (text) => JSON.parse(text) as T,
  };
}

/**
 * The `data` of a wait's `done` row for a consumed signal, and the `detail`
 * of its `signal.received` event. `payload` is already an encoded value, so
 * it is spliced in as it is.
 *
 * @example A signal with and without a payload
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeWaitOutcome, signalRowData } from "./formats.ts";
 *
 * assert.equal(signalRowData("go", undefined), '{"signal":"go"}');
 * assert.deepEqual(decodeWaitOutcome(signalRowData("go", "42")), { signal: "go", payload: 42 });
 * ```
 */
export function signalRowData(name: string, payload: string | undefined): string {
  return payload === undefined
    ? `{"signal":${JSON.stringify(name)}}`
    : `{"signal":${JSON.stringify(name)},"payload":${payload}}`;
}

/**
 * What a wait's `done` row holds when it timed out: the `onTimeout` result.
 * It is stored as a value (checked and encoded like a step's output, so it
 * may hold `Date`s), not as plain JSON.
 *
 * @example The stored shape of a timeout
 * ```ts
 * import assert from "node:assert/strict";
 * import { timedOutOutcome } from "./formats.ts";
 *
 * assert.deepEqual(timedOutOutcome("late"), { timedOut: true, value: "late" });
 * ```
 */
export function timedOutOutcome(value: unknown): { timedOut: true; value: unknown } {
  return { timedOut: true, value };
}

/**
 * A wait's `done` row, decoded.
 *
 * @example Decode a consumed signal
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeWaitOutcome } from "./formats.ts";
 *
 * assert.deepEqual(decodeWaitOutcome('{"signal":"go"}'), { signal: "go" });
 * ```
 */
export function decodeWaitOutcome(data: string | undefined): WaitOutcome {
  return decodeValue(data) as WaitOutcome;
}

// ---- history events ----------------------------------------------------------------

/** The `detail` of each history event type that has one. */
export interface EventDetails {
  /** The run suspended until a time. */
  "run.sleeping": { wakeAt?: number };
  /** The run suspended waiting for signals (and maybe a deadline). */
  "run.waiting": { wakeAt?: number; signals?: string[] };
  /** The run failed. */
  "run.failed": { error: ErrorInfo };
  /** An attempt failed (`startedAt` is absent when its output could not be stored). */
  "step.failed": { error: ErrorInfo; startedAt?: number };
  /** An attempt will be retried at `wakeAt`. */
  "step.retried": { wakeAt: number; delayMs: number };
  /** Cancelled, with the caller's reason. */
  "run.cancelled": { reason: string };
  /** A worker took over a run whose lease expired. */
  "run.recovered": { previousWorker: string; worker: string };
  /** Compensation began, because of this error (the run's failure, timeout or cancel). */
  "compensation.started": { error: ErrorInfo };
  /** A compensation exhausted its retries (the rest were not run). */
  "compensation.failed": { error: ErrorInfo };
  /** A `.call` child finished (written by the child's final write, in its parent's history). */
  "child.finished": { child: string; status: "completed" | "failed" | "cancelled" };
}

/**
 * Encodes the `detail` of a history event. The keys are stored in the order
 * given, as they always were.
 *
 * @example A retried attempt's detail
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeEventDetail, encodeEventDetail } from "./formats.ts";
 *
 * const detail = encodeEventDetail("step.retried", { wakeAt: 10, delayMs: 5 });
 * assert.equal(detail, '{"wakeAt":10,"delayMs":5}');
 * assert.deepEqual(decodeEventDetail(detail), { wakeAt: 10, delayMs: 5 });
 * ```
 */
export function encodeEventDetail<T extends keyof EventDetails>(
  _type: T,
  detail: EventDetails[T],
): string {
  return JSON.stringify(detail);
}

/**
 * Decodes a stored event `detail` (of any type, including the
 * `signal.received` detail that {@linkcode signalRowData} writes, whose
 * payload is a value) into its fields.
 *
 * @example Decode a signal's detail
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeEventDetail, signalRowData } from "./formats.ts";
 *
 * assert.deepEqual(decodeEventDetail(signalRowData("go", '"p"')), { signal: "go", payload: "p" });
 * ```
 */
export function decodeEventDetail(detail: string): Record<string, unknown> {
  return decodeValue(detail) as Record<string, unknown>;
}

/**
 * The `detail` of a `run.cancelled` event: the reason, if one was given.
 *
 * @example With and without a reason
 * ```ts
 * import assert from "node:assert/strict";
 * import { cancelledDetail } from "./formats.ts";
 *
 * assert.equal(cancelledDetail("stop"), '{"reason":"stop"}');
 * assert.equal(cancelledDetail(undefined), undefined);
 * ```
 */
export function cancelledDetail(reason: string | undefined): string | undefined {
  return reason === undefined ? undefined : encodeEventDetail("run.cancelled", { reason });
}

/** How a `.call` child ended, as its `child.finished` event says. */
export type ChildEnd = EventDetails["child.finished"]["status"];

/**
 * The `detail` of a `child.finished` event: the `.call` child's id and how it
 * ended. (The PostgreSQL driver builds the same object in SQL with
 * `json_build_object`.) Histories written before this event existed hold a
 * `signal.received` of `@child:<id>` instead; `history()` reads it as a
 * `child.finished` without a status.
 *
 * @example A completed child
 * ```ts
 * import assert from "node:assert/strict";
 * import { childFinishedDetail, decodeEventDetail } from "./formats.ts";
 *
 * const detail = childFinishedDetail("order-1/pay", "completed");
 * assert.equal(detail, '{"child":"order-1/pay","status":"completed"}');
 * assert.deepEqual(decodeEventDetail(detail), { child: "order-1/pay", status: "completed" });
 * ```
 */
export function childFinishedDetail(child: string, status: ChildEnd): string {
  return encodeEventDetail("child.finished", { child, status });
}

/**
 * The `detail` of a `run.recovered` event: the worker whose lease expired,
 * and the new one. (The PostgreSQL driver builds the same object in SQL with
 * `json_build_object`, which spaces it differently; the decoder reads both.)
 *
 * @example Who took over from whom
 * ```ts
 * import assert from "node:assert/strict";
 * import { recoveredDetail } from "./formats.ts";
 *
 * assert.equal(recoveredDetail("w-1", "w-2"), '{"previousWorker":"w-1","worker":"w-2"}');
 * ```
 */
export function recoveredDetail(previousWorker: string, worker: string): string {
  return encodeEventDetail("run.recovered", { previousWorker, worker });
}

/**
 * The `detail` of a `run.failed` event.
 *
 * @example A failed run's detail
 * ```ts
 * import assert from "node:assert/strict";
 * import { failedDetail } from "./formats.ts";
 *
 * const error = { name: "Error", message: "boom" };
 * assert.equal(failedDetail(error), '{"error":{"name":"Error","message":"boom"}}');
 * ```
 */
export function failedDetail(error: ErrorInfo): string {
  return encodeEventDetail("run.failed", { error });
}

// ---- compensation -------------------------------------------------------------------

/**
 * A run's stored `error` (the `error` of a `failed` transition): the error,
 * and `compensated` when compensations ran and all succeeded. Drivers store
 * it as JSON text like any `ErrorInfo`; `toRunRecord` lifts `compensated` out.
 */
export interface RunErrorData extends ErrorInfo {
  /** At least one compensation ran and all succeeded. */
  compensated?: true;
  /**
   * Set by `cancelRun(…, { compensate: true })` on a run that is still
   * unfinished: the cancel error it will end with once compensated.
   */
  cancelling?: true;
  /** The cancel reason, while `cancelling`. */
  reason?: string;
}

/**
 * The stored `error` of a run that ends unsuccessfully.
 *
 * @example A compensated failure
 * ```ts
 * import assert from "node:assert/strict";
 * import { runErrorData, splitRunError } from "./formats.ts";
 *
 * const stored = runErrorData({ name: "Error", message: "boom" }, true);
 * assert.deepEqual(stored, { name: "Error", message: "boom", compensated: true });
 * assert.deepEqual(splitRunError(stored), [{ name: "Error", message: "boom" }, true]);
 * ```
 */
export function runErrorData(error: ErrorInfo, compensated: boolean): RunErrorData {
  return compensated ? { ...error, compensated: true } : error;
}

/** Splits a stored run error into the error and whether the run was compensated. */
export function splitRunError(stored: RunErrorData): [ErrorInfo, boolean] {
  if (stored.compensated !== true && stored.cancelling !== true) return [stored, false];
  const { compensated, cancelling: _, reason: __, ...error } = stored;
  return [error, compensated === true];
}

/**
 * The marker row of a run that is compensating (key {@linkcode SAGA_KEY}): why
 * (the run's error) and how it ends (`failed`, or `cancelled` when a cancel
 * asked for compensation). Written before the first compensation runs, so a
 * worker that takes the run over compensates instead of walking the workflow.
 */
export interface SagaData {
  /** The error the run ends with (unless a compensation fails). */
  error: ErrorInfo;
  /** How the run ends. */
  end: "failed" | "cancelled";
  /** The cancel reason, when it ends cancelled. */
  reason?: string;
}

/** The key of a compensating run's marker row (no step name can start with `#`). */
export const SAGA_KEY = "#saga";

/**
 * The key of a run's deadline row under a workflow `timeout` (`data`: the
 * deadline in epoch ms), written by the run's first activation.
 */
export const DEADLINE_KEY = "#deadline";

// ---- schedules ---------------------------------------------------------------------

/** The part of a schedule that is stored: JSON, the same in every process. */
export interface ScheduleSpec {
  /** The cron expression, when the schedule has one. */
  cron?: string;
  /** The interval in milliseconds, when the schedule has one. */
  every?: number;
  /** The time zone of `cron`; `"UTC"` for `every`. */
  timezone: string;
  /** The overlap policy. */
  overlap: ScheduleOverlap;
  /** The catch-up policy. */
  catchUp: ScheduleCatchUp;
  /** The constant input, encoded; absent for no input or a function input. */
  input?: string;
  /** True when the input is a function of the slot, known only to code that declares it. */
  inputFunction?: true;
}

/** Encodes a stored schedule spec. */
export function encodeScheduleSpec(spec: ScheduleSpec): string {
  return JSON.stringify(spec);
}

/**
 * Decodes a spec written by {@linkcode encodeScheduleSpec}.
 *
 * @example A schedule's stored spec round-trips
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeScheduleSpec, encodeScheduleSpec, type ScheduleSpec } from "./formats.ts";
 *
 * const spec: ScheduleSpec = { every: 60_000, timezone: "UTC", overlap: "skip", catchUp: "all" };
 * assert.deepEqual(decodeScheduleSpec(encodeScheduleSpec(spec)), spec);
 * ```
 */
export function decodeScheduleSpec(text: string): ScheduleSpec {
  const raw = JSON.parse(text) as ScheduleSpec;
  const spec: ScheduleSpec = {
    timezone: raw.timezone,
    overlap: raw.overlap,
    catchUp: raw.catchUp,
  };
  if (raw.cron !== undefined) spec.cron = raw.cron;
  if (raw.every !== undefined) spec.every = raw.every;
  if (raw.input !== undefined) spec.input = raw.input;
  if (raw.inputFunction) spec.inputFunction = true;
  return spec;
}
