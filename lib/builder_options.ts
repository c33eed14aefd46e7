/**
 * The builder's checks of names and options, and their compilation to plan
 * settings. Every check throws a `TypeError` or `RangeError` naming the value.
 *
 * @module
 */
import { type Duration, parseDuration } from "./duration.ts";
import type { PlanRetry } from "./plan.ts";
import type { StepDef, StepFn, StepOptions } from "./builder_types.ts";
import { checkRunId, describe, NAME, NAME_RULE } from "./validate.ts";

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

export { describe, NAME } from "./validate.ts";

/** @internal */
export function checkName(name: unknown, where: string): asserts name is string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(`Cannot use name ${describe(name)} in ${where}: names ${NAME_RULE}`);
  }
}

/** @internal */
export function checkInteger(value: unknown, what: string, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    const kind = typeof value === "number" ? RangeError : TypeError;
    throw new kind(
      `Cannot use ${what} ${describe(value)}: it must be an integer of at least ${min}`,
    );
  }
  return value;
}

/** @internal */
export function checkFunction(value: unknown, what: string): AnyFn {
  if (typeof value !== "function") {
    throw new TypeError(`Cannot use ${what} ${describe(value)}: pass a function`);
  }
  return value as AnyFn;
}

/** @internal */
export function checkOptionsObject(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Cannot use ${what} ${describe(value)}: pass an options object`);
  }
  return value as Record<string, unknown>;
}

/** @internal */
export function compileRetry(retry: unknown, where: string): PlanRetry | undefined {
  const options = checkOptionsObject(retry, `retry options of ${where}`);
  for (const key of Object.keys(options)) {
    if (!["maxAttempts", "initialDelay", "backoff", "maxDelay", "jitter"].includes(key)) {
      throw new TypeError(
        `Cannot use retry option '${key}' on ${where}: use maxAttempts, initialDelay, backoff, maxDelay or jitter`,
      );
    }
  }
  const maxAttempts = options.maxAttempts === undefined
    ? 1
    : checkInteger(options.maxAttempts, `'maxAttempts' of ${where}`, 1);
  const initialDelayMs = parseDuration(
    (options.initialDelay ?? "1s") as Duration,
    `'initialDelay' of ${where}`,
  );
  const maxDelayMs = parseDuration(
    (options.maxDelay ?? "1h") as Duration,
    `'maxDelay' of ${where}`,
  );
  const backoff = options.backoff ?? 2;
  if (typeof backoff !== "number" || !Number.isFinite(backoff) || backoff < 1) {
    throw new RangeError(
      `Cannot use 'backoff' ${describe(backoff)} of ${where}: it must be a number of at least 1`,
    );
  }
  const jitter = options.jitter ?? 0;
  if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(
      `Cannot use 'jitter' ${describe(jitter)} of ${where}: it must be a number from 0 to 1`,
    );
  }
  if (maxDelayMs < initialDelayMs) {
    throw new RangeError(
      `Cannot use 'maxDelay' ${maxDelayMs}ms of ${where} as it is below 'initialDelay' ${initialDelayMs}ms: raise it`,
    );
  }
  if (maxAttempts === 1) return undefined;
  return { maxAttempts, initialDelayMs, backoff, maxDelayMs, jitter };
}

/** @internal The compiled options of a step. */
export interface CompiledStepOptions {
  retry?: PlanRetry;
  timeoutMs?: number;
  compensate?: AnyFn;
}

/** @internal */
export function compileStepOptions(
  options: unknown,
  where: string,
): CompiledStepOptions {
  const record = checkOptionsObject(options, `options of ${where}`);
  for (const key of Object.keys(record)) {
    if (key !== "retry" && key !== "timeout" && key !== "compensate") {
      throw new TypeError(
        `Cannot use option '${key}' on ${where}: use 'retry', 'timeout' or 'compensate'`,
      );
    }
  }
  const out: CompiledStepOptions = {};
  const retry = compileRetry(record.retry, where);
  if (retry) out.retry = retry;
  if (record.compensate !== undefined) {
    if (typeof record.compensate !== "function") {
      throw new TypeError(
        `Cannot use 'compensate' ${
          describe(record.compensate)
        } on ${where}: pass a function (output, ctx) => … that undoes the step`,
      );
    }
    out.compensate = record.compensate as AnyFn;
  }
  if (record.timeout !== undefined) {
    const timeoutMs = parseDuration(record.timeout as Duration, `'timeout' of ${where}`);
    if (timeoutMs <= 0) {
      throw new RangeError(`Cannot use 'timeout' 0 of ${where}: it must be positive`);
    }
    out.timeoutMs = timeoutMs;
  }
  return out;
}

/**
 * Makes a reusable typed step, usable in `.step(def)`, in branches, and as the
 * target of `LocalRunner.override`.
 *
 * @param name The step name.
 * @param fn The function.
 * @param options Default options; options given at `.step(def, options)` win.
 * @returns The step definition.
 *
 * @example Define a step once, use it by reference
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineStep, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const double = defineStep("double", (n: number) => n * 2);
 * const wf = workflow<number>("doubler").step(double);
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, 21), 42);
 * ```
 */
export function defineStep<I, O>(
  name: string,
  fn: StepFn<I, O>,
  options?: StepOptions<Awaited<O>>,
): StepDef<I, O> {
  checkName(name, "a step definition");
  if (typeof fn !== "function") {
    throw new TypeError(`Cannot define step '${name}': its function is ${describe(fn)}`);
  }
  if (options !== undefined) compileStepOptions(options, `step definition '${name}'`);
  return Object.freeze({ name, fn, options }) as unknown as StepDef<I, O>;
}

/**
 * @internal Whether a value is a step definition made with {@linkcode defineStep}
 * (a builder is not: it has no `fn`).
 */
export function isStepDef(value: unknown): value is StepDef<unknown, unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { fn?: unknown }).fn === "function" &&
    typeof (value as { name?: unknown }).name === "string";
}

/**
 * @internal Checks the options of `.call` (`input`, `id`, `retry`) or `.spawn`
 * (`input`, `id`) and returns the node's fields besides the child.
 */
export function compileChildOptions(
  kind: "call" | "spawn",
  options: unknown,
  where: string,
): { input?: AnyFn; id?: string | AnyFn; retry?: PlanRetry } {
  const record = checkOptionsObject(options, `options of ${where}`);
  const allowed = kind === "call" ? ["input", "id", "retry"] : ["input", "id"];
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) {
      throw new TypeError(
        `Cannot use option '${key}' on ${where}: use ${allowed.map((k) => `'${k}'`).join(", ")}`,
      );
    }
  }
  const out: { input?: AnyFn; id?: string | AnyFn; retry?: PlanRetry } = {};
  if (record.input !== undefined) out.input = checkFunction(record.input, `'input' of ${where}`);
  const id = record.id;
  if (typeof id === "string") {
    checkRunId(id);
    out.id = id;
  } else if (id !== undefined) {
    if (typeof id !== "function") {
      throw new TypeError(
        `Cannot use ${describe(id)} as 'id' of ${where}: pass a run id or a function of the value`,
      );
    }
    out.id = id as AnyFn;
  }
  const retry = compileRetry(record.retry, where);
  if (retry) out.retry = retry;
  return out;
}
