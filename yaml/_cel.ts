/**
 * CEL expressions of YAML workflows, on `@marcbachmann/cel-js` (a tree-walking
 * interpreter: no `eval`, no `new Function`). Expressions see two variables,
 * `value` (the value flowing in) and `input` (the workflow input), and a
 * wait's `combine` a third, `payload` (the signal's); JSON
 * integers become CEL `int`s, other numbers `double`s, and results come back
 * as JSON values (plus `Date` for timestamps).
 *
 * @module
 */
import { Environment, type ParseResult } from "@marcbachmann/cel-js";

/** Most characters in one expression. */
export const MAX_EXPRESSION_LENGTH = 4096;

const environment = new Environment({
  unlistedVariablesAreDyn: false,
  homogeneousAggregateLiterals: false,
  limits: {
    maxAstNodes: 2_000,
    maxDepth: 32,
    maxListElements: 1_000,
    maxMapEntries: 1_000,
    maxCallArguments: 32,
  },
})
  .registerVariable("value", "dyn")
  .registerVariable("input", "dyn");

/** The environment of a wait's `combine`: `payload` (the signal's) besides `value` and `input`. */
const combineEnvironment = environment.clone().registerVariable("payload", "dyn");

/** What an expression must produce, checked statically at load and again at run time. */
export type Expect = "bool" | "count" | "list" | "time" | "value";

const STATIC_TYPES: Record<Expect, (type: string) => boolean> = {
  bool: (type) => type === "bool" || type === "dyn",
  count: (type) => type === "int" || type === "uint" || type === "dyn",
  list: (type) => type === "dyn" || type.startsWith("list"),
  time: (type) =>
    type === "google.protobuf.Timestamp" || type === "int" || type === "uint" ||
    type === "double" || type === "dyn",
  value: (type) => type !== "bytes" && type !== "google.protobuf.Duration" && type !== "type",
};

const EXPECTED: Record<Expect, string> = {
  bool: "a bool",
  count: "an int",
  list: "a list",
  time: "a timestamp or epoch milliseconds",
  value: "a JSON value",
};

/** A parsed, type-checked expression. */
export interface Expression {
  /** The source text. */
  readonly source: string;
  /**
   * Evaluates it; throws the CEL error, or a TypeError for a result of the
   * wrong kind. `payload` is read only by a `combine` expression.
   */
  evaluate(value: unknown, input: unknown, payload?: unknown): unknown;
}

/**
 * Parses and type-checks an expression.
 *
 * @throws {Error} With a one-line message when it does not parse, does not
 * type-check, or cannot produce what is expected.
 */
export function compileExpression(
  source: string,
  expect: Expect,
  options: { payload?: boolean } = {},
): Expression {
  if (source.trim().length === 0) throw new Error("the expression is empty");
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new Error(
      `the expression has ${source.length} characters, more than the limit of ${MAX_EXPRESSION_LENGTH}`,
    );
  }
  let parsed: ParseResult;
  try {
    parsed = (options.payload ? combineEnvironment : environment).parse(source);
  } catch (error) {
    throw new Error(summary(error), { cause: error });
  }
  const checked = parsed.check();
  if (!checked.valid) throw new Error(summary(checked.error), { cause: checked.error });
  const type = checked.type ?? "dyn";
  if (!STATIC_TYPES[expect](type)) {
    throw new Error(`the expression gives ${type}, but ${EXPECTED[expect]} is needed`);
  }
  return {
    source,
    evaluate(value: unknown, input: unknown, payload?: unknown): unknown {
      const variables: Record<string, unknown> = { value: toCel(value), input: inputToCel(input) };
      if (options.payload) variables.payload = toCel(payload);
      const result = parsed(variables);
      return fromCel(result, expect);
    },
  };
}

/** The first line of a CEL error, with the character it points at. */
export function summary(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const detail = error as Error & { summary?: string; range?: { start: number } };
  const text = detail.summary ?? error.message.split("\n")[0]!;
  return detail.range ? `${text} (at character ${detail.range.start + 1})` : text;
}

/**
 * The workflow input converted once per run activation: it is the same object
 * for every expression of the activation, and, like every value control flow
 * reads, it is the recorded input (a step mutating `ctx.input` changes nothing).
 */
const inputs = new WeakMap<object, unknown>();

function inputToCel(input: unknown): unknown {
  if (typeof input !== "object" || input === null) return toCel(input);
  let converted = inputs.get(input);
  if (converted === undefined) inputs.set(input, converted = toCel(input));
  return converted;
}

/** Converts a workflow value to CEL: safe integers become `int`s (BigInt). */
function toCel(value: unknown): unknown {
  switch (typeof value) {
    case "undefined":
      return null;
    case "number":
      return Number.isSafeInteger(value) ? BigInt(value) : value;
    case "object": {
      if (value === null || value instanceof Date) return value;
      if (Array.isArray(value)) return value.map(toCel);
      const out: [string, unknown][] = [];
      for (const [key, item] of Object.entries(value)) {
        if (item !== undefined) out.push([key, toCel(item)]);
      }
      // fromEntries defines own properties: a '__proto__' key stays a plain key.
      return Object.fromEntries(out);
    }
    default:
      return value;
  }
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "bigint") return "int";
  if (typeof value === "number") return "double";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "string") return "string";
  if (Array.isArray(value)) return "list";
  if (value instanceof Date) return "timestamp";
  if (value instanceof Uint8Array) return "bytes";
  if (value instanceof Map) return "map";
  const name = (value as { constructor?: { name?: string } })?.constructor?.name;
  return name === "Object" || name === undefined ? "map" : name;
}

/** Converts a CEL result back to a workflow value, checking what is expected. */
function fromCel(result: unknown, expect: Expect): unknown {
  switch (expect) {
    case "bool":
      if (typeof result !== "boolean") {
        throw new TypeError(`the expression gave ${kindOf(result)}, but a bool is needed`);
      }
      return result;
    case "count": {
      const count = typeof result === "bigint" ? Number(result) : result;
      if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
        throw new TypeError(
          `the expression gave ${kindOf(result)} ${
            String(result)
          }, but an int of 0 or more is needed`,
        );
      }
      return count;
    }
    case "list":
      if (!Array.isArray(result)) {
        throw new TypeError(`the expression gave ${kindOf(result)}, but a list is needed`);
      }
      return toJson(result, "$");
    case "time":
      if (result instanceof Date) return result;
      if (typeof result === "bigint") return toJson(result, "$");
      if (typeof result === "number" && Number.isFinite(result)) return result;
      throw new TypeError(
        `the expression gave ${kindOf(result)}, but a timestamp or epoch milliseconds is needed`,
      );
    case "value":
      return toJson(result, "$");
  }
}

/** Converts a CEL value to JSON (plus `Date`). */
function toJson(value: unknown, path: string): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "bigint": {
      const number = Number(value);
      if (!Number.isSafeInteger(number)) {
        throw new RangeError(
          `the expression gave the int ${value} at ${path}, beyond the safe integers of JSON`,
        );
      }
      return number;
    }
    case "number":
      if (!Number.isFinite(value)) {
        throw new RangeError(`the expression gave the number ${value} at ${path}, not JSON`);
      }
      return value;
    case "object": {
      if (value === null || value instanceof Date) return value;
      if (Array.isArray(value)) return value.map((item, i) => toJson(item, `${path}[${i}]`));
      const entries = value instanceof Map ? [...value.entries()] : undefined;
      const proto = Object.getPrototypeOf(value);
      if (!entries && proto !== Object.prototype && proto !== null) break;
      const out: [string, unknown][] = [];
      for (const [key, item] of entries ?? Object.entries(value)) {
        if (typeof key !== "string") {
          throw new TypeError(
            `the expression gave a map with the ${kindOf(key)} key ${
              String(key)
            } at ${path}, but JSON keys are strings`,
          );
        }
        out.push([key, toJson(item, `${path}.${key}`)]);
      }
      return Object.fromEntries(out);
    }
  }
  throw new TypeError(`the expression gave ${kindOf(value)} at ${path}, not a JSON value`);
}
