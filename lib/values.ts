/**
 * The value rules of Sluice: JSON plus `Date` (and `undefined`), checked and
 * encoded once per value, identically for every driver.
 *
 * @module
 */
import { PayloadTooLargeError, SerializationError } from "./errors.ts";

/** The default limit for one stored value: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576;

/**
 * The deepest nesting of arrays and objects in one stored value: 100 levels
 * (`[[1]]` is 2). Deeper values are refused with a `SerializationError` that
 * names the path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, MAX_NESTING_DEPTH, SerializationError, workflow } from "@sluice/sluice";
 *
 * let deep: unknown = 1;
 * for (let i = 0; i <= MAX_NESTING_DEPTH; i++) deep = [deep];
 * await using runner = new LocalRunner();
 * const wf = workflow<unknown>("deep").step("echo", (v) => v);
 * await assert.rejects(runner.start(wf, deep), SerializationError);
 * ```
 */
export const MAX_NESTING_DEPTH: number = 100;

const DATE = "$date";
const ESCAPE = "$esc";

/**
 * Checks a value and encodes it as text.
 *
 * @param value The value; `undefined` encodes to `undefined`.
 * @param what Which value, for error messages ("the output of step 'a'"), or
 *   a function that says it of `subject` (called only for an error message,
 *   so the hot path builds no string and no closure).
 * @param limit The size limit in bytes.
 * @param subject What `what` is called with when it is a function.
 * @returns The encoded text, or `undefined` for `undefined`.
 */
export function encodeValue(
  value: unknown,
  what: string | ((subject: string) => string),
  limit: number,
  subject = "",
): string | undefined {
  if (value === undefined) return undefined;
  let text: string;
  switch (typeof value) {
    case "boolean":
    case "string":
      text = JSON.stringify(value);
      break;
    case "number":
      if (!Number.isFinite(value)) {
        throw new SerializationError(
          label(what, subject),
          `the non-finite number ${value} at $`,
        );
      }
      text = JSON.stringify(value);
      break;
    default:
      if (value === null) text = "null";
      else {
        let needsTransform: boolean;
        try {
          needsTransform = check(value, "$", []);
        } catch (error) {
          if (error instanceof Unstorable) {
            throw new SerializationError(label(what, subject), error.detail);
          }
          throw error;
        }
        text = JSON.stringify(needsTransform ? transform(value) : value);
      }
  }
  if (text.length * 3 > limit) {
    const size = new TextEncoder().encode(text).byteLength;
    if (size > limit) throw new PayloadTooLargeError(label(what, subject), size, limit);
  }
  return text;
}

function label(what: string | ((subject: string) => string), subject: string): string {
  return typeof what === "string" ? what : what(subject);
}

/** What `check` found that cannot be stored (`encodeValue` names the value). */
class Unstorable {
  constructor(readonly detail: string) {}
}

/** Decodes text written by {@linkcode encodeValue}. */
export function decodeValue(text: string | undefined | null): unknown {
  if (text === undefined || text === null) return undefined;
  const parsed = JSON.parse(text);
  if (typeof parsed !== "object" || parsed === null) return parsed;
  return text.includes('"$date"') || text.includes('"$esc"') ? revive(parsed) : parsed;
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isMarker(value: Record<string, unknown>): boolean {
  let count = 0;
  let marker = false;
  for (const key in value) {
    count++;
    if (key === DATE || key === ESCAPE) marker = true;
    if (count > 1) return false;
  }
  return marker;
}

/** Returns whether the value holds a Date or a marker-shaped object. */
function check(value: unknown, path: string, stack: object[]): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return false;
    case "number":
      if (!Number.isFinite(value)) {
        throw new Unstorable(`the non-finite number ${value} at ${path}`);
      }
      return false;
    case "bigint":
      throw new Unstorable(`a BigInt at ${path}`);
    case "symbol":
      throw new Unstorable(`a symbol at ${path}`);
    case "function":
      throw new Unstorable(`a function at ${path}`);
  }
  if (value === null) return false;
  const object = value as object;
  if (object instanceof Date) {
    if (Number.isNaN(object.getTime())) {
      throw new Unstorable(`an invalid Date at ${path}`);
    }
    return true;
  }
  if (stack.includes(object)) throw new Unstorable(`a cycle at ${path}`);
  if (stack.length >= MAX_NESTING_DEPTH) {
    throw new Unstorable(`a value nested deeper than ${MAX_NESTING_DEPTH} levels at ${path}`);
  }
  let needsTransform = false;
  stack.push(object);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      if (check(object[i], `${path}[${i}]`, stack)) needsTransform = true;
    }
  } else if (isPlain(object)) {
    const record = object as Record<string, unknown>;
    if (isMarker(record)) needsTransform = true;
    for (const key in record) {
      if (check(record[key], `${path}.${key}`, stack)) needsTransform = true;
    }
    if (Object.getOwnPropertySymbols(record).length > 0) {
      throw new Unstorable(`a symbol key at ${path}`);
    }
  } else {
    const name = (object as { constructor?: { name?: string } }).constructor?.name ?? "unknown";
    throw new Unstorable(`an instance of ${name} at ${path}`);
  }
  stack.pop();
  return needsTransform;
}

function transform(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Date) return { [DATE]: value.toISOString() };
  if (Array.isArray(value)) return value.map(transform);
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key in record) out[key] = transform(record[key]);
  return isMarker(record) ? { [ESCAPE]: out } : out;
}

function revive(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(revive);
  const record = value as Record<string, unknown>;
  if (isMarker(record)) {
    if (DATE in record) return new Date(record[DATE] as string);
    const inner = record[ESCAPE] as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key in inner) out[key] = revive(inner[key]);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key in record) out[key] = revive(record[key]);
  return out;
}
