/**
 * Checks of the values users pass to the front doors (run ids, names, labels,
 * statuses, option objects), each throwing a `TypeError` or `RangeError` that
 * quotes the value and says what to pass instead. One `describe` shows a bad
 * value in every message.
 *
 * @module
 */
import type { NewSignal, RunStatus } from "./driver.ts";
import { encodeValue } from "./values.ts";
import type { CancelOptions } from "./records.ts";
import { CONTROL_CHARACTERS, hasControlCharacters } from "./_text.ts";

/**
 * Shows a value in an error message: a string quoted, a primitive with its
 * type, an object or function by its type only (never its contents).
 *
 * @param value Any value.
 * @returns `'text'`, `null`, `undefined`, `the number 5`, `of type object`, …
 */
export function describe(value: unknown): string {
  if (typeof value === "string") return `'${value}'`;
  if (value === null || value === undefined) return String(value);
  return typeof value === "object" || typeof value === "function" || typeof value === "symbol"
    ? `of type ${typeof value}`
    : `the ${typeof value} ${String(value)}`;
}

/** Names of workflows, steps and signals: a letter or `_`, then up to 127 of `A-Za-z0-9_.-`. */
export const NAME: RegExp = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

/** The rule of {@linkcode NAME}, for messages. */
export const NAME_RULE =
  "start with a letter or '_', then up to 127 letters, digits, '_', '.' or '-'";

/** Run ids: 1 to 255 printable ASCII characters without spaces. */
const RUN_ID = /^[\x21-\x7e]{1,255}$/;

/** Throws `TypeError` unless `runId` is a valid run id. */
export function checkRunId(runId: unknown): asserts runId is string {
  if (typeof runId !== "string" || !RUN_ID.test(runId)) {
    throw new TypeError(
      `Cannot use run id ${
        describe(runId)
      }: ids are 1 to 255 printable ASCII characters without spaces`,
    );
  }
}

/**
 * Throws `TypeError` unless `options` is undefined or `{ id? }` with an id
 * that follows the run-id rules (1 to 255 printable ASCII characters without
 * spaces).
 */
export function checkSignalOptions(
  options: unknown,
): asserts options is { id?: string } | undefined {
  checkOptions(options, "send a signal with options", "pass { id? }");
  const id = (options as { id?: unknown } | undefined)?.id;
  if (id !== undefined && (typeof id !== "string" || !RUN_ID.test(id))) {
    throw new TypeError(
      `Cannot use signal id ${
        describe(id)
      }: ids are 1 to 255 printable ASCII characters without spaces`,
    );
  }
}

/**
 * Checks the `signal` of signal-with-start and encodes its payload:
 * `{ name, payload?, id? }`, or undefined.
 */
export function checkStartSignal(
  signal: unknown,
  maxPayloadBytes: number,
): (NewSignal & { value: unknown }) | undefined {
  if (signal === undefined) return undefined;
  if (typeof signal !== "object" || signal === null) {
    throw new TypeError(
      `Cannot start with signal ${describe(signal)}: pass { name, payload?, id? }`,
    );
  }
  const { name, payload, id } = signal as { name?: unknown; payload?: unknown; id?: unknown };
  checkSignalName(name);
  checkSignalOptions({ id });
  const encoded = encodeValue(payload, `the payload of signal '${name}'`, maxPayloadBytes);
  return {
    name,
    value: payload,
    ...(encoded === undefined ? {} : { payload: encoded }),
    ...(id === undefined ? {} : { id: id as string }),
  };
}

/** Throws `TypeError` unless `name` is a valid signal name. */
export function checkSignalName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(`Cannot send signal ${describe(name)}: signal names ${NAME_RULE}`);
  }
}

/**
 * Throws `TypeError` unless `options` is an object (or undefined when
 * `optional`).
 *
 * @param options The value passed.
 * @param what What it is for, as in "Cannot ${what} …".
 * @param pass What to pass instead.
 */
export function checkOptions(options: unknown, what: string, pass = "pass an object"): void {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(`Cannot ${what} ${describe(options)}: ${pass}`);
  }
}

/** Most labels on one run. */
export const MAX_LABELS = 64;
/** Longest label key, in UTF-16 code units. */
export const MAX_LABEL_KEY_LENGTH = 128;
/** Longest label value, in UTF-16 code units. */
export const MAX_LABEL_VALUE_LENGTH = 512;

/**
 * Checks labels (of a run, or of a filter) and returns a plain copy; `{}` for
 * undefined.
 *
 * @param labels The value passed.
 * @param what Where it was passed, for the message.
 */
export function checkLabels(labels: unknown, what: string): Record<string, string> {
  if (labels === undefined) return {};
  if (typeof labels !== "object" || labels === null || Array.isArray(labels)) {
    throw new TypeError(`Cannot use ${what} ${describe(labels)}: pass an object of strings`);
  }
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) {
    throw new RangeError(
      `Cannot use ${entries.length} labels in ${what}: a run has at most ${MAX_LABELS}, keep the rest in its input`,
    );
  }
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    const shown = JSON.stringify(key.slice(0, MAX_LABEL_KEY_LENGTH + 1)).slice(1, -1);
    if (
      key.length === 0 || key.length > MAX_LABEL_KEY_LENGTH || typeof value !== "string" ||
      value.length > MAX_LABEL_VALUE_LENGTH
    ) {
      throw new TypeError(
        `Cannot use label '${shown}' in ${what}: keys are 1 to ${MAX_LABEL_KEY_LENGTH} characters and values strings of up to ${MAX_LABEL_VALUE_LENGTH}`,
      );
    }
    if (hasControlCharacters(key) || hasControlCharacters(value)) {
      throw new TypeError(
        `Cannot use label '${shown}' in ${what}: labels cannot hold ${CONTROL_CHARACTERS}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/** Every run status; the record makes the compiler flag a status added to `RunStatus` but not here. */
const STATUSES: Record<RunStatus, true> = {
  pending: true,
  running: true,
  sleeping: true,
  waiting: true,
  paused: true,
  completed: true,
  failed: true,
  cancelled: true,
};

/** Every run status, in lifecycle order. */
export const RUN_STATUSES: readonly RunStatus[] = Object.keys(STATUSES) as RunStatus[];

/** Checks a status filter (one status or a list) and returns it as a list. */
export function checkStatuses(status: unknown): RunStatus[] {
  if (status === undefined) return [];
  const statuses: unknown[] = Array.isArray(status) ? status : [status];
  for (const s of statuses) {
    if (typeof s !== "string" || !Object.hasOwn(STATUSES, s)) {
      throw new TypeError(
        `Cannot list runs with status ${describe(s)}: use one of ${RUN_STATUSES.join(", ")}`,
      );
    }
  }
  return statuses as RunStatus[];
}

/** Checks a workflow name filter (any name without control characters). */
export function checkWorkflowFilter(workflow: unknown): void {
  if (workflow !== undefined && (typeof workflow !== "string" || hasControlCharacters(workflow))) {
    throw new TypeError(
      `Cannot list runs of workflow ${
        typeof workflow === "string" ? JSON.stringify(workflow) : describe(workflow)
      }: pass a workflow name (names hold no ${CONTROL_CHARACTERS})`,
    );
  }
}

/** @internal Checks `cancel`'s second argument: a reason, or `{ reason?, compensate? }`. */
export function checkCancelOptions(
  value: string | CancelOptions | undefined,
): { reason: string | undefined; compensate: boolean } {
  const options: CancelOptions = value === undefined
    ? {}
    : typeof value === "string"
    ? { reason: value }
    : value;
  checkOptions(options, "cancel with", "pass a reason or { reason?, compensate? }");
  for (const key of Object.keys(options)) {
    if (key !== "reason" && key !== "compensate") {
      throw new TypeError(`Cannot cancel with option '${key}': use 'reason' or 'compensate'`);
    }
  }
  const { reason, compensate } = options;
  if (reason !== undefined && (typeof reason !== "string" || reason.length > 1000)) {
    throw new TypeError(
      `Cannot cancel with reason ${describe(reason)}: pass a string of up to 1000 characters`,
    );
  }
  if (compensate !== undefined && typeof compensate !== "boolean") {
    throw new TypeError(`Cannot cancel with 'compensate' ${describe(compensate)}: pass a boolean`);
  }
  return { reason, compensate: compensate === true };
}
