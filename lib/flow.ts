/**
 * Flow control as workflow options: `concurrency` and `rateLimit`, checked
 * when the workflow is built, their keys computed once when a run starts, and
 * the start option `priority`. The limits are tunable (not part of the plan
 * hash); every driver's claim enforces them (see `flow_claim.ts`).
 *
 * @module
 */
import { type Duration, parseDuration } from "./duration.ts";
import type { FlowLimits } from "./driver.ts";
import { CONTROL_CHARACTERS, hasControlCharacters } from "./_text.ts";
import { describe } from "./validate.ts";

/**
 * The `concurrency` workflow option: at most `limit` runs of the workflow
 * executing at once (status `running`), per key when `key` is given. Sleeping
 * and waiting runs do not count.
 *
 * @typeParam In The workflow input.
 *
 * @example At most two runs per customer at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ConcurrencyOption, workflow } from "@sluice/sluice";
 *
 * const concurrency: ConcurrencyOption<{ customer: string }> = {
 *   limit: 2,
 *   key: (input) => input.customer,
 * };
 * const wf = workflow<{ customer: string }>("sync", { concurrency }).step("s", (i) => i.customer);
 * assert.equal(wf.name, "sync");
 * ```
 */
export type ConcurrencyOption<In = unknown> = number | {
  /** Most runs executing at once, per key (an integer of at least 1). */
  limit: number;
  /** The key, computed once from the input at start (a non-empty string). */
  key?: (input: In) => string;
};

/**
 * The `rateLimit` workflow option: at most `limit` runs of the workflow begin
 * (are claimed for the first time) per `period`, per key when `key` is given.
 * Waking from a sleep or a wait is not a beginning.
 *
 * @typeParam In The workflow input.
 *
 * @example Ten runs a minute per tenant
 * ```ts
 * import assert from "node:assert/strict";
 * import { type RateLimitOption, workflow } from "@sluice/sluice";
 *
 * const rateLimit: RateLimitOption<{ tenant: string }> = {
 *   limit: 10,
 *   period: "1m",
 *   key: (input) => input.tenant,
 * };
 * const wf = workflow<{ tenant: string }>("mail", { rateLimit }).step("send", (i) => i.tenant);
 * assert.equal(wf.name, "mail");
 * ```
 */
export interface RateLimitOption<In = unknown> {
  /** Most runs begun per period, per key (an integer of at least 1). */
  limit: number;
  /** The window: a positive duration. */
  period: Duration;
  /** The key, computed once from the input at start (a non-empty string). */
  key?: (input: In) => string;
}

/** @internal The compiled flow options of a workflow. */
export interface FlowControl {
  limits: FlowLimits;
  concurrencyKey?: (input: unknown) => string;
  rateKey?: (input: unknown) => string;
}

/** Longest flow-control key, in UTF-16 code units. */
const MAX_KEY_LENGTH = 256;

function checkLimit(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    const kind = typeof value === "number" ? RangeError : TypeError;
    throw new kind(`Cannot use ${describe(value)} as ${what}: it must be an integer of at least 1`);
  }
  return value;
}

function checkKeyFn(value: unknown, what: string): ((input: unknown) => string) | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") {
    throw new TypeError(`Cannot use ${describe(value)} as ${what}: pass a function of the input`);
  }
  return value as (input: unknown) => string;
}

function checkKeys(record: Record<string, unknown>, allowed: string[], what: string): void {
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) {
      throw new TypeError(
        `Cannot use option '${key}' in ${what}: use ${allowed.map((k) => `'${k}'`).join(" or ")}`,
      );
    }
  }
}

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Cannot use ${describe(value)} as ${what}: pass an options object`);
  }
  return value as Record<string, unknown>;
}

/**
 * @internal Checks the `concurrency` and `rateLimit` options of workflow
 * `name`; undefined when neither is given. Throws `TypeError`/`RangeError`.
 */
export function compileFlowControl(
  options: Record<string, unknown>,
  name: string,
): FlowControl | undefined {
  const { concurrency, rateLimit } = options;
  if (concurrency === undefined && rateLimit === undefined) return undefined;
  const flow: FlowControl = { limits: {} };
  const where = `of workflow '${name}'`;
  if (typeof concurrency === "number") {
    flow.limits.concurrency = checkLimit(concurrency, `'concurrency' ${where}`);
  } else if (concurrency !== undefined) {
    const record = asRecord(concurrency, `'concurrency' ${where}`);
    checkKeys(record, ["limit", "key"], `'concurrency' ${where}`);
    flow.limits.concurrency = checkLimit(record.limit, `'concurrency.limit' ${where}`);
    const key = checkKeyFn(record.key, `'concurrency.key' ${where}`);
    if (key) flow.concurrencyKey = key;
  }
  if (rateLimit !== undefined) {
    const record = asRecord(rateLimit, `'rateLimit' ${where}`);
    checkKeys(record, ["limit", "period", "key"], `'rateLimit' ${where}`);
    const limit = checkLimit(record.limit, `'rateLimit.limit' ${where}`);
    if (record.period === undefined) {
      throw new TypeError(`Cannot use 'rateLimit' ${where} without a 'period': add one, e.g. "1m"`);
    }
    const periodMs = parseDuration(record.period as Duration, `'rateLimit.period' ${where}`);
    if (periodMs <= 0) {
      throw new RangeError(
        `Cannot use ${
          describe(record.period)
        } as 'rateLimit.period' ${where}: it must be a positive duration`,
      );
    }
    flow.limits.rateLimit = { limit, periodMs };
    const key = checkKeyFn(record.key, `'rateLimit.key' ${where}`);
    if (key) flow.rateKey = key;
  }
  return flow;
}

function computeKey(
  fn: ((input: unknown) => string) | undefined,
  input: unknown,
  what: string,
): string | undefined {
  if (!fn) return undefined;
  let key: unknown;
  try {
    key = fn(input);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new TypeError(`Cannot start a run as ${what} threw: ${message}`, { cause: error });
  }
  if (
    typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH ||
    hasControlCharacters(key)
  ) {
    throw new TypeError(
      `Cannot start a run with ${what} ${
        describe(key)
      }: return a string of 1 to ${MAX_KEY_LENGTH} characters without ${CONTROL_CHARACTERS}`,
    );
  }
  return key;
}

/** @internal The keys of a new run, computed once at start; throws `TypeError`. */
export function flowKeys(
  flow: FlowControl | undefined,
  input: unknown,
  name: string,
): { concurrencyKey?: string; rateKey?: string } {
  if (!flow) return {};
  const keys: { concurrencyKey?: string; rateKey?: string } = {};
  const concurrencyKey = computeKey(
    flow.concurrencyKey,
    input,
    `the concurrency key of workflow '${name}'`,
  );
  if (concurrencyKey !== undefined) keys.concurrencyKey = concurrencyKey;
  const rateKey = computeKey(flow.rateKey, input, `the rate-limit key of workflow '${name}'`);
  if (rateKey !== undefined) keys.rateKey = rateKey;
  return keys;
}

/** Largest priority magnitude (fits every driver's integer column). */
const MAX_PRIORITY = 2 ** 31 - 1;

/** @internal Checks the start option `priority` (default 0). */
export function checkPriority(priority: unknown): number {
  if (priority === undefined) return 0;
  if (typeof priority !== "number") {
    throw new TypeError(`Cannot use ${describe(priority)} as 'priority': pass an integer`);
  }
  if (!Number.isInteger(priority) || Math.abs(priority) > MAX_PRIORITY) {
    throw new RangeError(
      `Cannot use ${
        describe(priority)
      } as 'priority': it must be an integer from -${MAX_PRIORITY} to ${MAX_PRIORITY}`,
    );
  }
  return priority;
}
