/**
 * The readers of YAML values for the loader (`_loader.ts`): keys, strings,
 * names, numbers, durations, times, constants, retry and wait options, and CEL
 * expressions compiled (`_cel.ts`) into plan functions of `(value, input)`.
 * Each problem throws a `YamlWorkflowError` naming the line, the column and
 * the key.
 *
 * @module
 */
import type { RetryOptions } from "../lib/builder.ts";
import { type Duration, parseDuration } from "../lib/duration.ts";
import { compileExpression, type Expect, summary } from "./_cel.ts";
import { errorAt, locator, type YamlEntry, type YamlMapping, type YamlNode } from "./_document.ts";
import { clip, ExpressionError } from "./_errors.ts";
import { describe, NAME, NAME_RULE } from "../lib/validate.ts";

/** A function of the plan, of `(value, input)`. */
export type PlanFn = (value: unknown, input: unknown, third?: unknown) => unknown;

const ISO_TIME =
  /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;
const RETRY_KEYS = ["maxAttempts", "initialDelay", "backoff", "maxDelay", "jitter"] as const;

/** `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`. */
export function quoteList(keys: readonly string[]): string {
  const quoted = keys.map((key) => `'${key}'`);
  return quoted.length < 2
    ? quoted.join("")
    : `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

/** A YAML node as an error message shows it. */
export function describeNode(node: YamlNode): string {
  if (node.kind === "sequence") return "a list";
  if (node.kind === "mapping") return "a mapping";
  return describe(typeof node.value === "string" ? clip(node.value) : node.value);
}

/** Reads the entries of one YAML text; every failure names its position. */
export class YamlReader {
  readonly #text: string;
  readonly #locate: (offset: number) => { line: number; column: number };

  constructor(text: string) {
    this.#text = text;
    this.#locate = locator(text);
  }

  fail(offset: number, key: string | undefined, detail: string, cause?: unknown): never {
    throw errorAt(this.#text, offset, key, detail, cause);
  }

  /** Runs a builder call; its TypeError or RangeError is reported at the entry. */
  build<T>(entry: YamlEntry, call: () => T): T {
    try {
      return call();
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) {
        this.fail(entry.value.offset, entry.key, error.message, error);
      }
      throw error;
    }
  }

  fields(
    node: YamlMapping,
    allowed: readonly string[],
    where: string,
  ): Map<string, YamlEntry> {
    const fields = new Map<string, YamlEntry>();
    for (const entry of node.entries) {
      if (!allowed.includes(entry.key)) {
        this.fail(
          entry.offset,
          entry.key,
          `Cannot use the key '${clip(entry.key)}' in ${where}: use ${quoteList(allowed)}`,
        );
      }
      fields.set(entry.key, entry);
    }
    return fields;
  }

  need(
    fields: Map<string, YamlEntry>,
    key: string,
    node: YamlMapping,
    where: string,
  ): YamlEntry {
    const entry = fields.get(key);
    if (!entry) this.fail(node.offset, key, `Cannot find the key '${key}' of ${where}: add it`);
    return entry;
  }

  string(entry: YamlEntry, where: string): string {
    const node = entry.value;
    if (node.kind !== "scalar" || typeof node.value !== "string") {
      this.fail(
        node.offset,
        entry.key,
        `Cannot use ${describeNode(node)} as '${entry.key}' of ${where}: use a string`,
      );
    }
    return node.value;
  }

  name(entry: YamlEntry, where: string): string {
    const name = this.string(entry, where);
    if (!NAME.test(name)) {
      this.fail(
        entry.value.offset,
        entry.key,
        `Cannot use the name '${clip(name)}' in ${where}: names ${NAME_RULE}`,
      );
    }
    return name;
  }

  number(entry: YamlEntry, where: string, check: (n: number) => boolean, rule: string): number {
    const node = entry.value;
    if (node.kind !== "scalar" || typeof node.value !== "number" || !check(node.value)) {
      this.fail(
        node.offset,
        entry.key,
        `Cannot use ${describeNode(node)} as '${entry.key}' of ${where}: it must be ${rule}`,
      );
    }
    return node.value;
  }

  integer(entry: YamlEntry, where: string, min: number): number {
    return this.number(
      entry,
      where,
      (n) => Number.isSafeInteger(n) && n >= min,
      `an integer of at least ${min}`,
    );
  }

  duration(entry: YamlEntry, where: string): Duration {
    const node = entry.value;
    if (
      node.kind !== "scalar" || (typeof node.value !== "string" && typeof node.value !== "number")
    ) {
      this.fail(
        node.offset,
        entry.key,
        `Cannot use ${
          describeNode(node)
        } as '${entry.key}' of ${where}: use a duration such as '5s', '10m' or '1h30m', or milliseconds`,
      );
    }
    try {
      parseDuration(node.value, `'${entry.key}' of ${where}`);
    } catch (error) {
      this.fail(node.offset, entry.key, (error as Error).message, error);
    }
    return node.value;
  }

  /**
   * Compiles a CEL expression into a plan function of `(value, input)`, or of
   * `(value, payload, input)` for a wait's `combine` (`combine` true).
   */
  expression(entry: YamlEntry, expect: Expect, where: string, combine = false): PlanFn {
    const node = entry.value;
    if (expect === "bool" && node.kind === "scalar" && typeof node.value === "boolean") {
      const constant = node.value;
      return () => constant;
    }
    if (node.kind !== "scalar" || typeof node.value !== "string") {
      this.fail(
        node.offset,
        entry.key,
        `Cannot use ${describeNode(node)} as '${entry.key}' of ${where}: write a CEL expression`,
      );
    }
    const source = node.value;
    let expression;
    try {
      expression = compileExpression(source, expect, { payload: combine });
    } catch (error) {
      this.fail(
        node.offset,
        entry.key,
        `Cannot compile the expression '${clip(source)}' of ${where}: ${
          (error as Error).message
        }: fix the CEL expression`,
        (error as Error).cause ?? error,
      );
    }
    const { line, column } = this.#locate(node.offset);
    const key = entry.key;
    const compiled = expression;
    return (value, second, third?: unknown) => {
      try {
        return combine ? compiled.evaluate(value, third, second) : compiled.evaluate(value, second);
      } catch (error) {
        throw new ExpressionError(
          `Cannot evaluate '${key}' of ${where} (line ${line}, column ${column}): ${
            summary(error)
          }: check the expression '${clip(source)}' against the value it reads`,
          source,
          { line, column, key },
          { cause: error },
        );
      }
    };
  }

  /** Reads a YAML value as a constant JSON value. */
  constant(node: YamlNode, key: string, where: string): unknown {
    switch (node.kind) {
      case "scalar":
        if (typeof node.value === "number" && !Number.isFinite(node.value)) {
          this.fail(
            node.offset,
            key,
            `Cannot use the number ${node.value} in '${key}' of ${where}: use a finite number`,
          );
        }
        return node.value;
      case "sequence":
        return node.items.map((item) => this.constant(item, key, where));
      case "mapping":
        // Keys are checked: none is '__proto__', 'constructor' or 'prototype'.
        return Object.fromEntries(
          node.entries.map((entry) => [entry.key, this.constant(entry.value, key, where)]),
        );
    }
  }

  /** An entry naming one of `known` (own properties only): an action or a workflow. */
  named<T>(entry: YamlEntry, known: Record<string, T>, what: string, where: string): T {
    const name = this.string(entry, where);
    if (!Object.hasOwn(known, name)) {
      const names = Object.keys(known).sort();
      const hint = names.length === 0
        ? `no ${what} is registered`
        : `registered: ${quoteList(names.slice(0, 20))}${names.length > 20 ? ", ..." : ""}`;
      this.fail(
        entry.value.offset,
        entry.key,
        `Cannot find the ${what} '${
          clip(name)
        }' of ${where}: register it in the '${what}s' option (${hint})`,
      );
    }
    return known[name]!;
  }

  retry(entry: YamlEntry, where: string): RetryOptions {
    const node = entry.value;
    if (node.kind !== "mapping") {
      this.fail(
        node.offset,
        entry.key,
        `Cannot use ${describeNode(node)} as 'retry' of ${where}: use a mapping of ${
          quoteList(RETRY_KEYS)
        }`,
      );
    }
    const within = `the retry of ${where}`;
    const fields = this.fields(node, RETRY_KEYS, within);
    const retry: RetryOptions = {};
    const maxAttempts = fields.get("maxAttempts");
    if (maxAttempts) retry.maxAttempts = this.integer(maxAttempts, within, 1);
    const initialDelay = fields.get("initialDelay");
    if (initialDelay) retry.initialDelay = this.duration(initialDelay, within);
    const maxDelay = fields.get("maxDelay");
    if (maxDelay) retry.maxDelay = this.duration(maxDelay, within);
    const backoff = fields.get("backoff");
    if (backoff) {
      retry.backoff = this.number(
        backoff,
        within,
        (n) => Number.isFinite(n) && n >= 1,
        "a number of at least 1",
      );
    }
    const jitter = fields.get("jitter");
    if (jitter) {
      retry.jitter = this.number(jitter, within, (n) => n >= 0 && n <= 1, "a number from 0 to 1");
    }
    const initialMs = parseDuration(retry.initialDelay ?? "1s");
    const maxMs = parseDuration(retry.maxDelay ?? "1h");
    if (maxMs < initialMs) {
      const culprit = maxDelay ?? initialDelay!;
      this.fail(
        culprit.value.offset,
        culprit.key,
        `Cannot use 'maxDelay' ${maxMs}ms of ${where} as it is below 'initialDelay' ${initialMs}ms: raise it`,
      );
    }
    return retry;
  }

  waitOptions(
    fields: Map<string, YamlEntry>,
    where: string,
  ): { timeout?: Duration; onTimeout?: PlanFn } {
    const options: { timeout?: Duration; onTimeout?: PlanFn } = {};
    const timeout = fields.get("timeout");
    if (timeout) options.timeout = this.duration(timeout, where);
    const onTimeout = fields.get("onTimeout");
    if (onTimeout) {
      if (!timeout) {
        this.fail(
          onTimeout.offset,
          "onTimeout",
          `Cannot use 'onTimeout' in ${where} without a 'timeout': add one`,
        );
      }
      const node = onTimeout.value;
      if (node.kind === "scalar" && typeof node.value === "string") {
        options.onTimeout = this.expression(onTimeout, "value", where);
      } else {
        const text = JSON.stringify(this.constant(node, "onTimeout", where));
        options.onTimeout = () => JSON.parse(text);
      }
    }
    return options;
  }

  signals(entry: YamlEntry, where: string): string[] {
    const node = entry.value;
    if (node.kind !== "sequence" || node.items.length === 0) {
      this.fail(
        node.offset,
        entry.key,
        `Cannot use ${
          describeNode(node)
        } as 'signals' of ${where}: use a non-empty list of signal names`,
      );
    }
    const seen = new Set<string>();
    return node.items.map((item) => {
      const signal = this.name({ key: "signals", offset: item.offset, value: item }, where);
      if (seen.has(signal)) {
        this.fail(
          item.offset,
          "signals",
          `Cannot wait for the signal '${signal}' twice in ${where}: list each once`,
        );
      }
      seen.add(signal);
      return signal;
    });
  }

  time(entry: YamlEntry, where: string): number | PlanFn {
    const node = entry.value;
    if (node.kind === "scalar" && typeof node.value === "number") {
      return this.number(entry, where, Number.isFinite, "epoch milliseconds");
    }
    if (node.kind === "scalar" && typeof node.value === "string" && ISO_TIME.test(node.value)) {
      const at = Date.parse(node.value);
      if (Number.isNaN(at)) {
        this.fail(
          node.offset,
          entry.key,
          `Cannot read the time '${clip(node.value)}' of ${where}: use a valid ISO 8601 date-time`,
        );
      }
      return at;
    }
    return this.expression(entry, "time", where);
  }
}
