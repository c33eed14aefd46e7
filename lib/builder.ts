/**
 * The fluent builder: `workflow()`, `flow()` and `defineStep()`. Each method
 * returns a new builder whose type carries the value flowing out of it.
 *
 * @module
 */
import { type Duration, parseDuration } from "./duration.ts";
import { toStoredTime } from "./time.ts";
import { hasControlCharacters } from "./_text.ts";
import type { Logger } from "./logger.ts";
import {
  hashPlan,
  type Plan,
  type PlanBranch,
  type PlanNode,
  type PlanRetry,
  planToMermaid,
} from "./plan.ts";

/**
 * Dependencies injected into every step as `ctx.deps`. Augment it in your own
 * module to type your dependencies:
 *
 * ```ts ignore
 * declare module "@sluice/sluice" {
 *   interface Deps {
 *     greeting: string;
 *   }
 * }
 * ```
 *
 * @example Read a dependency
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<string>("greet").step("greet", (name, ctx) => `${ctx.deps.greeting}, ${name}`);
 * await using runner = new LocalRunner({ deps: { greeting: "Hello" } });
 * assert.equal(await runner.run(wf, "Ada"), "Hello, Ada");
 * ```
 */
// deno-lint-ignore no-empty-interface
export interface Deps {}

/**
 * What every step function receives besides its input value.
 *
 * @typeParam In The workflow input type (`ctx.input`).
 *
 * @example Read the context in a step
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type StepContext, workflow } from "@sluice/sluice";
 *
 * function label(order: number, ctx: StepContext<number>): string {
 *   return `${ctx.workflow}/${ctx.step} attempt ${ctx.attempt}: order ${order}`;
 * }
 * const wf = workflow<number>("ship").step("label", label);
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, 7), "ship/label attempt 1: order 7");
 * ```
 */
export interface StepContext<In = unknown> {
  /** The run's id. */
  readonly runId: string;
  /** The workflow name. */
  readonly workflow: string;
  /** The step's stable key, e.g. `retryLoop#3/charge`. */
  readonly step: string;
  /** The attempt number, from 1. */
  readonly attempt: number;
  /** `runId` plus the step key: the same on every retry and after crash recovery. */
  readonly idempotencyKey: string;
  /** The workflow input. */
  readonly input: In;
  /** Aborted on cancel, step timeout, lease loss, or a failed sibling branch. */
  readonly signal: AbortSignal;
  /** The runner's logger, with the run and step as attributes. */
  readonly log: Logger;
  /** Injected dependencies. */
  readonly deps: Deps & Record<string, unknown>;
  /** Extends the run's lease during a long step; rejects if the lease is lost. */
  heartbeat(): Promise<void>;
  /** The engine clock's time. */
  now(): Date;
}

/**
 * A step function: receives the value flowing in and the context.
 *
 * @typeParam I The value flowing in.
 * @typeParam O The value it produces.
 * @typeParam In The workflow input type.
 *
 * @example A step function declared on its own
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type StepFn, workflow } from "@sluice/sluice";
 *
 * const shout: StepFn<string, string> = (text) => text.toUpperCase();
 * const wf = workflow<string>("shout").step("shout", shout);
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, "hi"), "HI");
 * ```
 */
export type StepFn<I, O, In = unknown> = (value: I, ctx: StepContext<In>) => O | Promise<O>;

/**
 * Retry settings of a step.
 *
 * @example Retry a flaky step with backoff
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RetryOptions, workflow } from "@sluice/sluice";
 *
 * const retry: RetryOptions = { maxAttempts: 3, initialDelay: "1s", backoff: 2, maxDelay: "1m" };
 * let calls = 0;
 * const wf = workflow<number>("flaky").step("call", (n) => {
 *   if (++calls < 3) throw new Error("try again");
 *   return n;
 * }, { retry });
 * await using runner = new LocalRunner({ clock: "virtual" });
 * assert.equal(await runner.run(wf, 5), 5);
 * assert.equal(calls, 3);
 * ```
 */
export interface RetryOptions {
  /**
   * Attempts in all, the first included.
   * @default {1}
   */
  maxAttempts?: number;
  /**
   * Delay before the second attempt.
   * @default {"1s"}
   */
  initialDelay?: Duration;
  /**
   * Factor applied to the delay after each failed attempt.
   * @default {2}
   */
  backoff?: number;
  /**
   * Upper bound of the delay.
   * @default {"1h"}
   */
  maxDelay?: Duration;
  /**
   * Fraction (0 to 1) of each delay that is randomised downwards.
   * @default {0}
   */
  jitter?: number;
}

/**
 * Options of a step.
 *
 * @example Options as they land in the plan
 * ```ts
 * import assert from "node:assert/strict";
 * import { type StepOptions, workflow } from "@sluice/sluice";
 *
 * const options: StepOptions = { retry: { maxAttempts: 5 }, timeout: "30s" };
 * const wf = workflow<string>("mail").step("send", (to) => `sent to ${to}`, options);
 * const node = wf.plan.nodes[0]!;
 * assert.equal(node.kind, "step");
 * assert.equal(node.retry?.maxAttempts, 5);
 * assert.equal(node.timeoutMs, 30_000);
 * ```
 */
export interface StepOptions {
  /**
   * Retry settings; without them a step has one attempt.
   * @default {{ maxAttempts: 1 }}
   */
  retry?: RetryOptions;
  /** Timeout of each attempt; `ctx.signal` aborts when it fires. */
  timeout?: Duration;
  /** Reserved for compensation (saga) handlers; setting it throws for now. */
  compensate?: never;
}

declare const stepDefBrand: unique symbol;

/**
 * A reusable, typed step made with {@linkcode defineStep}.
 *
 * @typeParam I The value flowing in.
 * @typeParam O The value it produces.
 *
 * @example A reusable step, with options added where it is used
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineStep, LocalRunner, type StepDef, workflow } from "@sluice/sluice";
 *
 * const parse: StepDef<string, number> = defineStep("parse", (s: string) => Number(s));
 * assert.equal(parse.name, "parse");
 * assert.equal(parse.options, undefined);
 * const wf = workflow<string>("parser").step(parse, { retry: { maxAttempts: 2 } });
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, "42"), 42);
 * ```
 */
export interface StepDef<I, O> {
  /** The step name. */
  readonly name: string;
  /** The function. */
  readonly fn: StepFn<I, O>;
  /** Its default options. */
  readonly options: StepOptions | undefined;
  /** @ignore */
  readonly [stepDefBrand]: true;
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
  options?: StepOptions,
): StepDef<I, O> {
  checkName(name, "a step definition");
  if (typeof fn !== "function") {
    throw new TypeError(`Cannot define step '${name}': its function is ${describe(fn)}`);
  }
  if (options !== undefined) compileStepOptions(options, `step definition '${name}'`);
  return Object.freeze({ name, fn, options }) as unknown as StepDef<I, O>;
}

declare const flowBrand: unique symbol;

/**
 * What a sub-flow looks like to the types: accepts `I`, produces `O`. Every
 * {@linkcode Workflow} is one; a flow typed for a narrower input fits where a
 * wider value flows in.
 *
 * @example Accept any sub-flow of the right type
 * ```ts
 * import assert from "node:assert/strict";
 * import { flow, type FlowRef, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const twice = (body: FlowRef<number, number>) =>
 *   workflow<number>("twice").loop("again", 2, body);
 * const wf = twice(flow<number>().step("double", (n) => n * 2));
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, 3), 12);
 * ```
 */
export interface FlowRef<I, O> {
  /** @ignore */
  readonly [flowBrand]: "flow";
  /** @ignore Carries the type parameters. */
  readonly types?: (input: I) => O;
}

/**
 * A branch or body: a step function, a sub-flow, or a step definition.
 *
 * @example Mix step functions and sub-flows
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Branch, flow, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const branches: Branch<number, number>[] = [
 *   (n) => n + 1,
 *   flow<number>().step("square", (n) => n * n),
 * ];
 * const wf = workflow<number>("fan").parallel("both", branches);
 * await using runner = new LocalRunner();
 * assert.deepEqual(await runner.run(wf, 3), [4, 9]);
 * ```
 */
export type Branch<I, O> = StepFn<I, O> | FlowRef<I, O> | StepDef<I, O>;

/**
 * The output type of a branch.
 *
 * @example The output type of a step definition and of an async function
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BranchOutput, defineStep } from "@sluice/sluice";
 *
 * const toText = defineStep("toText", (n: number) => String(n));
 * const text: BranchOutput<typeof toText> = "42"; // a string
 * const ok: BranchOutput<(n: number) => Promise<boolean>> = true; // awaited: a boolean
 * assert.equal(text, "42");
 * assert.ok(ok);
 * ```
 */
export type BranchOutput<B> = B extends FlowRef<infer _I, infer O> ? O
  : B extends StepDef<infer _I, infer O> ? O
  : B extends (...args: never[]) => infer R ? Awaited<R>
  : never;

/**
 * Options of `parallel`.
 *
 * @example At most two branches at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type ParallelOptions, workflow } from "@sluice/sluice";
 *
 * const options: ParallelOptions = { concurrency: 2 };
 * const wf = workflow<number>("fan")
 *   .parallel("three", [(n) => n + 1, (n) => n + 2, (n) => n + 3], options);
 * await using runner = new LocalRunner();
 * assert.deepEqual(await runner.run(wf, 0), [1, 2, 3]);
 * ```
 */
export interface ParallelOptions {
  /** Most branches in flight at once; default all. */
  concurrency?: number;
}

/**
 * Options of `map`.
 *
 * @example At most four items at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type MapOptions, workflow } from "@sluice/sluice";
 *
 * const options: MapOptions = { concurrency: 4 };
 * const wf = workflow<string[]>("lengths")
 *   .map("each", (words) => words, (word: string) => word.length, options);
 * await using runner = new LocalRunner();
 * assert.deepEqual(await runner.run(wf, ["a", "bb", "ccc"]), [1, 2, 3]);
 * ```
 */
export interface MapOptions {
  /** Most items in flight at once; default all. */
  concurrency?: number;
}

/**
 * Options of `while`.
 *
 * @example Cap a loop
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type WhileOptions, workflow } from "@sluice/sluice";
 *
 * const options: WhileOptions = { maxIterations: 20 };
 * const wf = workflow<number>("grow").while("small", (n) => n < 100, (n) => n * 2, options);
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, 3), 192);
 * ```
 */
export interface WhileOptions {
  /**
   * The iteration count at which the run fails with a clear error.
   * @default {10000}
   */
  maxIterations?: number;
}

/**
 * Options of `waitForSignal` and `waitForAnySignal`.
 *
 * @typeParam V The value flowing in.
 * @typeParam P The output.
 * @typeParam In The workflow input type.
 *
 * @example Give up waiting after a day
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type WaitOptions, workflow } from "@sluice/sluice";
 *
 * const options: WaitOptions<string, boolean> = { timeout: "1d", onTimeout: () => false };
 * const wf = workflow<string>("approve").waitForSignal("approval", "approved", options);
 * await using runner = new LocalRunner({ clock: "virtual" });
 * assert.equal(await runner.run(wf, "order-1"), false);
 * ```
 */
export interface WaitOptions<V, P, In = unknown> {
  /** How long to wait; default forever. */
  timeout?: Duration;
  /**
   * Called with the value (and the workflow input) when the timeout fires; its
   * result becomes the output.
   */
  onTimeout?: (value: V, input: In) => P | Promise<P>;
}

/**
 * What `waitForAnySignal` produces: which signal arrived, and its payload.
 *
 * @example Act on whichever signal came first
 * ```ts
 * import assert from "node:assert/strict";
 * import { type AnySignal, LocalRunner, workflow } from "@sluice/sluice";
 *
 * type Decision = AnySignal<"approve" | "reject", string>;
 * const wf = workflow<string>("review")
 *   .waitForAnySignal<string, "approve" | "reject">("decision", ["approve", "reject"])
 *   .step("act", (d: Decision) => `${d.signal} by ${d.payload}`);
 * await using runner = new LocalRunner();
 * const run = await runner.start(wf, "doc-1");
 * await runner.signal(run.id, "reject", "ada");
 * assert.equal(await run.result(), "reject by ada");
 * ```
 */
export interface AnySignal<S extends string, P> {
  /** The signal name. */
  signal: S;
  /** The payload sent with it. */
  payload: P;
}

/**
 * Options of `workflow()`.
 *
 * @example Version a workflow
 * ```ts
 * import assert from "node:assert/strict";
 * import { workflow, type WorkflowOptions } from "@sluice/sluice";
 *
 * const options: WorkflowOptions = { version: "2" };
 * const wf = workflow<number>("billing", options).step("charge", (n) => n * 100);
 * assert.equal(wf.name, "billing");
 * assert.equal(wf.version, "2");
 * ```
 */
export interface WorkflowOptions {
  /**
   * The version; runs keep the version they started with.
   * @default {"1"}
   */
  version?: string;
}

// ---------------------------------------------------------------------------
// Runtime nodes: the plan plus the functions, walked by the interpreter.

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

/** @internal */
export interface RtStep {
  kind: "step";
  name: string;
  /** True when the name is a label made up by the builder (`then`, `body`, `0`). */
  label?: boolean;
  fn: AnyFn;
  def?: StepDef<unknown, unknown>;
  retry?: PlanRetry;
  timeoutMs?: number;
}
/** @internal */
export interface RtFlow {
  kind: "flow";
  name: string;
  nodes: readonly RtNode[];
}
/** @internal */
export type RtBranch = RtStep | RtFlow;
/** @internal */
export type RtNode =
  | RtStep
  | RtFlow
  | { kind: "if"; name: string; cond: AnyFn; then: RtBranch; otherwise?: RtBranch }
  | {
    kind: "parallel";
    name: string;
    shape: "tuple" | "record";
    branches: RtBranch[];
    concurrency?: number;
  }
  | { kind: "loop"; name: string; times: number | AnyFn; body: RtBranch }
  | { kind: "while"; name: string; cond: AnyFn; maxIterations: number; body: RtBranch }
  | { kind: "map"; name: string; items: AnyFn; concurrency?: number; body: RtBranch }
  | { kind: "sleep"; name: string; durationMs: number }
  | { kind: "sleepUntil"; name: string; at: number | AnyFn }
  | {
    kind: "waitForSignal" | "waitForAnySignal";
    name: string;
    signals: string[];
    timeoutMs?: number;
    onTimeout?: AnyFn;
  };

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return `the string '${value}'`;
  return typeof value === "object" || typeof value === "function"
    ? `of type ${typeof value}`
    : `${typeof value} ${String(value)}`;
}

function checkName(name: unknown, where: string): asserts name is string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(
      `Cannot use name ${
        typeof name === "string" ? `'${name}'` : describe(name)
      } in ${where}: names start with a letter or '_', then up to 127 letters, digits, '_', '.' or '-'`,
    );
  }
}

function checkInteger(value: unknown, what: string, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    const kind = typeof value === "number" ? RangeError : TypeError;
    throw new kind(
      `Cannot use ${what} ${describe(value)}: it must be an integer of at least ${min}`,
    );
  }
  return value;
}

function checkFunction(value: unknown, what: string): AnyFn {
  if (typeof value !== "function") {
    throw new TypeError(`Cannot use ${what} ${describe(value)}: pass a function`);
  }
  return value as AnyFn;
}

function checkOptionsObject(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Cannot use ${what} ${describe(value)}: pass an options object`);
  }
  return value as Record<string, unknown>;
}

function compileRetry(retry: unknown, where: string): PlanRetry | undefined {
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

function compileStepOptions(
  options: unknown,
  where: string,
): { retry?: PlanRetry; timeoutMs?: number } {
  const record = checkOptionsObject(options, `options of ${where}`);
  for (const key of Object.keys(record)) {
    if (key === "compensate") {
      throw new TypeError(
        `Cannot use 'compensate' on ${where}: compensation is reserved for a future release`,
      );
    }
    if (key !== "retry" && key !== "timeout") {
      throw new TypeError(`Cannot use option '${key}' on ${where}: use 'retry' or 'timeout'`);
    }
  }
  const out: { retry?: PlanRetry; timeoutMs?: number } = {};
  const retry = compileRetry(record.retry, where);
  if (retry) out.retry = retry;
  if (record.timeout !== undefined) {
    const timeoutMs = parseDuration(record.timeout as Duration, `'timeout' of ${where}`);
    if (timeoutMs <= 0) {
      throw new RangeError(`Cannot use 'timeout' 0 of ${where}: it must be positive`);
    }
    out.timeoutMs = timeoutMs;
  }
  return out;
}

function isStepDef(value: unknown): value is StepDef<unknown, unknown> {
  return typeof value === "object" && value !== null && !(value instanceof Workflow) &&
    typeof (value as { fn?: unknown }).fn === "function" &&
    typeof (value as { name?: unknown }).name === "string";
}

function planBranch(branch: RtBranch): PlanBranch {
  return branch.kind === "flow"
    ? { kind: "flow", name: branch.name, nodes: branch.nodes.map(planNode) }
    : planNode(branch) as PlanBranch;
}

function planNode(node: RtNode): PlanNode {
  switch (node.kind) {
    case "step": {
      const out: PlanNode = { kind: "step", name: node.name };
      if (node.retry) out.retry = { ...node.retry };
      if (node.timeoutMs !== undefined) out.timeoutMs = node.timeoutMs;
      return out;
    }
    case "flow":
      return planBranch(node);
    case "if": {
      const out: PlanNode = { kind: "if", name: node.name, then: planBranch(node.then) };
      if (node.otherwise) out.otherwise = planBranch(node.otherwise);
      return out;
    }
    case "parallel": {
      const out: PlanNode = {
        kind: "parallel",
        name: node.name,
        shape: node.shape,
        branches: node.branches.map(planBranch),
      };
      if (node.concurrency !== undefined) out.concurrency = node.concurrency;
      return out;
    }
    case "loop":
      return {
        kind: "loop",
        name: node.name,
        times: typeof node.times === "number" ? node.times : "dynamic",
        body: planBranch(node.body),
      };
    case "while":
      return {
        kind: "while",
        name: node.name,
        maxIterations: node.maxIterations,
        body: planBranch(node.body),
      };
    case "map": {
      const out: PlanNode = { kind: "map", name: node.name, body: planBranch(node.body) };
      if (node.concurrency !== undefined) out.concurrency = node.concurrency;
      return out;
    }
    case "sleep":
      return { kind: "sleep", name: node.name, durationMs: node.durationMs };
    case "sleepUntil":
      return typeof node.at === "number"
        ? { kind: "sleepUntil", name: node.name, at: node.at }
        : { kind: "sleepUntil", name: node.name };
    case "waitForSignal":
    case "waitForAnySignal": {
      const out: PlanNode = { kind: node.kind, name: node.name, signals: [...node.signals] };
      if (node.timeoutMs !== undefined) out.timeoutMs = node.timeoutMs;
      if (node.onTimeout) out.onTimeout = true;
      return out;
    }
  }
}

/** @internal A workflow of any input and output. */
// deno-lint-ignore no-explicit-any
export type AnyWorkflow = Workflow<any, any, any>;

let nodesOfWorkflow: (wf: AnyWorkflow) => readonly RtNode[];

/** @internal The runtime nodes of a workflow, for the interpreter. */
export function workflowNodes(wf: AnyWorkflow): readonly RtNode[] {
  return nodesOfWorkflow(wf);
}

/**
 * A workflow, or an anonymous sub-flow made with {@linkcode flow}. Immutable:
 * every method returns a new builder whose type carries the value flowing out.
 *
 * @typeParam In The value flowing in: the workflow input, or a sub-flow's input.
 * @typeParam Out The type of the value flowing out of the last node.
 * @typeParam Input The type of `ctx.input` (the workflow input; `unknown` in a sub-flow).
 *
 * @example Build and run a two-step workflow
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, workflow } from "@sluice/sluice";
 *
 * const greet = workflow<{ name: string }>("greet")
 *   .step("hello", (input) => `Hello, ${input.name}`)
 *   .step("shout", (text) => text.toUpperCase());
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(greet, { name: "Ada" }), "HELLO, ADA");
 * ```
 */
export class Workflow<In, Out, Input = In> implements FlowRef<In, Out> {
  /** The workflow name; empty for an anonymous sub-flow. */
  readonly name: string;
  /** The workflow version. */
  readonly version: string;
  readonly #nodes: readonly RtNode[];
  #plan: Plan | undefined;
  #planHash: string | undefined;
  /** @ignore Carries the type parameters. */
  declare readonly types?: (input: In) => Out;
  /** @ignore */
  declare readonly [flowBrand]: "flow";

  static {
    nodesOfWorkflow = (wf) => wf.#nodes;
  }

  /** @ignore Use {@linkcode workflow} or {@linkcode flow}. */
  constructor(name: string, version: string, nodes: readonly RtNode[]) {
    this.name = name;
    this.version = version;
    this.#nodes = nodes;
  }

  /**
   * The plan as plain JSON: node kinds, names, nesting and options.
   *
   * @example Read the plan of a workflow
   * ```ts
   * import assert from "node:assert/strict";
   * import { workflow } from "@sluice/sluice";
   *
   * const wf = workflow<number>("p").step("a", (n) => n + 1).sleep("pause", "5s");
   * assert.deepEqual(wf.plan, {
   *   workflow: "p",
   *   version: "1",
   *   nodes: [{ kind: "step", name: "a" }, { kind: "sleep", name: "pause", durationMs: 5000 }],
   * });
   * ```
   */
  get plan(): Plan {
    this.#plan ??= { workflow: this.name, version: this.version, nodes: this.#nodes.map(planNode) };
    return this.#plan;
  }

  /**
   * A hash of the plan's structure (kinds, names, nesting) that pins runs to
   * compatible code; changing retry counts or function bodies keeps it.
   */
  get planHash(): string {
    this.#planHash ??= hashPlan(this.plan.nodes);
    return this.#planHash;
  }

  /**
   * Renders the plan as a Mermaid flowchart.
   *
   * @example Draw a one-step workflow
   * ```ts
   * import assert from "node:assert/strict";
   * import { workflow } from "@sluice/sluice";
   *
   * assert.equal(
   *   workflow<number>("m").step("a", (n) => n).toMermaid(),
   *   [
   *     "flowchart TD",
   *     '  start(("m"))',
   *     '  n1["a"]',
   *     "  start --> n1",
   *     '  n1 --> finish(("end"))',
   *   ].join("\n"),
   * );
   * ```
   */
  toMermaid(): string {
    return planToMermaid(this.plan);
  }

  #where(): string {
    return this.name ? `workflow '${this.name}'` : "a sub-flow";
  }

  #add(node: RtNode): AnyWorkflow {
    if (this.#nodes.some((existing) => existing.name === node.name)) {
      throw new TypeError(
        `Cannot add ${node.kind} '${node.name}' to ${this.#where()} as a sibling already has that name: use a unique name`,
      );
    }
    return new Workflow(this.name, this.version, [...this.#nodes, node]);
  }

  #branch(branch: unknown, label: string, what: string, named = false): RtBranch {
    if (typeof branch === "function") {
      const step: RtStep = { kind: "step", name: label, fn: branch as AnyFn };
      if (!named) step.label = true;
      return step;
    }
    if (branch instanceof Workflow) return { kind: "flow", name: label, nodes: branch.#nodes };
    if (isStepDef(branch)) {
      const options = branch.options
        ? compileStepOptions(branch.options, `step definition '${branch.name}'`)
        : {};
      return { kind: "step", name: label, fn: branch.fn, def: branch, ...options };
    }
    throw new TypeError(
      `Cannot use ${
        describe(branch)
      } as ${what} in ${this.#where()}: pass a step function, a flow() or a defineStep()`,
    );
  }

  /**
   * Adds a step that runs `fn` with the value flowing in; its result flows on.
   *
   * @param name The step name, unique among siblings.
   * @param fn The step function.
   * @param options Retry and timeout.
   *
   * @example Fetch a page, with retries and a timeout
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<string>("fetch").step("load", async (url, ctx) => {
   *   const response = await fetch(url, { signal: ctx.signal });
   *   return await response.text();
   * }, { retry: { maxAttempts: 3, initialDelay: "1s" }, timeout: "10s" });
   * await using runner = new LocalRunner();
   * assert.equal(await runner.run(wf, "data:text/plain,hello"), "hello");
   * ```
   */
  step<O>(
    name: string,
    fn: StepFn<Out, O, Input>,
    options?: StepOptions,
  ): Workflow<In, Awaited<O>, Input>;
  /**
   * Adds a step made with {@linkcode defineStep}.
   *
   * @param def The step definition; its name is the step name.
   * @param options Options that override the definition's.
   */
  step<O>(def: StepDef<Out, O>, options?: StepOptions): Workflow<In, Awaited<O>, Input>;
  step(
    // deno-lint-ignore no-explicit-any
    nameOrDef: string | StepDef<any, any>,
    fnOrOptions?: unknown,
    maybeOptions?: StepOptions,
  ): AnyWorkflow {
    if (isStepDef(nameOrDef)) {
      const def = nameOrDef;
      checkName(def.name, this.#where());
      const options = { ...def.options, ...(fnOrOptions as StepOptions | undefined) };
      const compiled = compileStepOptions(options, `step '${def.name}' of ${this.#where()}`);
      return this.#add({ kind: "step", name: def.name, fn: def.fn, def, ...compiled });
    }
    checkName(nameOrDef, this.#where());
    const fn = checkFunction(fnOrOptions, `the function of step '${nameOrDef}'`);
    const compiled = compileStepOptions(
      maybeOptions,
      `step '${nameOrDef}' of ${this.#where()}`,
    );
    return this.#add({ kind: "step", name: nameOrDef, fn, ...compiled });
  }

  /**
   * Takes `then` when `cond` holds, otherwise `otherwise` (or passes the value
   * through when there is none). Like every function of the plan (conditions,
   * counts, items, wake times, `onTimeout`), `cond` receives the value and the
   * workflow input.
   *
   * @example A gift for gold customers only
   * ```ts
   * import assert from "node:assert/strict";
   * import { flow, LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<{ tier: string }>("vip")
   *   .if("gold", (v) => v.tier === "gold", flow<{ tier: string }>().step("gift", () => "gift"));
   * await using runner = new LocalRunner();
   * assert.equal(await runner.run(wf, { tier: "gold" }), "gift");
   * assert.deepEqual(await runner.run(wf, { tier: "basic" }), { tier: "basic" });
   * ```
   */
  if<T>(
    name: string,
    cond: (value: Out, input: Input) => boolean | Promise<boolean>,
    then: Branch<Out, T>,
  ): Workflow<In, Out | T, Input>;
  /**
   * Takes `then` when `cond` holds, otherwise `otherwise`.
   */
  if<T, E>(
    name: string,
    cond: (value: Out, input: Input) => boolean | Promise<boolean>,
    then: Branch<Out, T>,
    otherwise: Branch<Out, E>,
  ): Workflow<In, T | E, Input>;
  if(name: string, cond: unknown, then: unknown, otherwise?: unknown): AnyWorkflow {
    checkName(name, this.#where());
    const node: RtNode = {
      kind: "if",
      name,
      cond: checkFunction(cond, `the condition of if '${name}'`),
      then: this.#branch(then, "then", `the 'then' branch of if '${name}'`),
    };
    if (otherwise !== undefined) {
      node.otherwise = this.#branch(otherwise, "else", `the 'otherwise' branch of if '${name}'`);
    }
    return this.#add(node);
  }

  /**
   * Runs branches concurrently; an array gives a tuple of outputs, an object
   * gives an object of outputs. A failing branch aborts its siblings.
   *
   * @example Two branches at once, then their sum
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<number>("fan")
   *   .parallel("both", { double: (n) => n * 2, square: (n) => n * n })
   *   .step("sum", (r) => r.double + r.square);
   * await using runner = new LocalRunner();
   * assert.equal(await runner.run(wf, 3), 15);
   * ```
   */
  parallel<const B extends readonly Branch<Out, unknown>[] | Record<string, Branch<Out, unknown>>>(
    name: string,
    branches: B,
    options?: ParallelOptions,
  ): Workflow<In, { -readonly [K in keyof B]: BranchOutput<B[K]> }, Input> {
    checkName(name, this.#where());
    const where = `parallel '${name}'`;
    const record = checkOptionsObject(options, `options of ${where}`);
    let node: RtNode;
    if (Array.isArray(branches)) {
      node = {
        kind: "parallel",
        name,
        shape: "tuple",
        branches: branches.map((b, i) => this.#branch(b, String(i), `branch ${i} of ${where}`)),
      };
    } else if (typeof branches === "object" && branches !== null) {
      node = {
        kind: "parallel",
        name,
        shape: "record",
        branches: Object.entries(branches).map(([label, b]) => {
          checkName(label, `the branches of ${where}`);
          return this.#branch(b, label, `branch '${label}' of ${where}`, true);
        }),
      };
    } else {
      throw new TypeError(
        `Cannot use ${describe(branches)} as the branches of ${where}: pass an array or an object`,
      );
    }
    if (record.concurrency !== undefined) {
      node.concurrency = checkInteger(record.concurrency, `'concurrency' of ${where}`, 1);
    }
    return this.#add(node);
  }

  /**
   * Runs `body` a number of times; each iteration's output feeds the next.
   *
   * @example Add one, three times
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<number>("count").loop("thrice", 3, (n) => n + 1);
   * await using runner = new LocalRunner();
   * assert.equal(await runner.run(wf, 0), 3);
   * ```
   */
  loop<B extends Branch<Out, Out>>(
    name: string,
    times: number | ((value: Out, input: Input) => number),
    body: B,
  ): Workflow<In, Out, Input> {
    checkName(name, this.#where());
    const count = typeof times === "function"
      ? times
      : checkInteger(times, `the count of loop '${name}'`, 0);
    return this.#add({
      kind: "loop",
      name,
      times: count,
      body: this.#branch(body, "body", `the body of loop '${name}'`),
    });
  }

  /**
   * Runs `body` while `cond` holds for the current value; reaching
   * `maxIterations` fails the run with a clear error.
   *
   * @example Double until the value reaches 100
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<number>("grow")
   *   .while("small", (n) => n < 100, (n) => n * 2, { maxIterations: 50 });
   * await using runner = new LocalRunner();
   * assert.equal(await runner.run(wf, 3), 192);
   * ```
   */
  while<B extends Branch<Out, Out>>(
    name: string,
    cond: (value: Out, input: Input) => boolean | Promise<boolean>,
    body: B,
    options?: WhileOptions,
  ): Workflow<In, Out, Input> {
    checkName(name, this.#where());
    const record = checkOptionsObject(options, `options of while '${name}'`);
    const maxIterations = record.maxIterations === undefined
      ? 10_000
      : checkInteger(record.maxIterations, `'maxIterations' of while '${name}'`, 1);
    return this.#add({
      kind: "while",
      name,
      cond: checkFunction(cond, `the condition of while '${name}'`),
      maxIterations,
      body: this.#branch(body, "body", `the body of while '${name}'`),
    });
  }

  /**
   * Runs `body` once per item; the output lists the results in input order.
   *
   * @example The length of each word, four at a time
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<string[]>("lengths").map("each", (words) => words, (w) => w.length, {
   *   concurrency: 4,
   * });
   * await using runner = new LocalRunner();
   * assert.deepEqual(await runner.run(wf, ["a", "bb", "ccc"]), [1, 2, 3]);
   * ```
   */
  map<I, R>(
    name: string,
    items: (value: Out, input: Input) => readonly I[] | Promise<readonly I[]>,
    body: Branch<I, R>,
    options?: MapOptions,
  ): Workflow<In, R[], Input> {
    checkName(name, this.#where());
    const record = checkOptionsObject(options, `options of map '${name}'`);
    const node: RtNode = {
      kind: "map",
      name,
      items: checkFunction(items, `the items of map '${name}'`),
      body: this.#branch(body, "body", `the body of map '${name}'`),
    };
    if (record.concurrency !== undefined) {
      node.concurrency = checkInteger(record.concurrency, `'concurrency' of map '${name}'`, 1);
    }
    return this.#add(node);
  }

  /**
   * Sleeps durably; the run holds no worker meanwhile. The value passes through.
   *
   * @example Sleep an hour and a half on a virtual clock
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<number>("later").sleep("coolDown", "1h30m");
   * await using runner = new LocalRunner({ clock: "virtual" });
   * const run = await runner.start(wf, 7);
   * assert.equal(await run.result(), 7);
   * const { createdAt, updatedAt } = await runner.get(run.id);
   * assert.ok(updatedAt.getTime() - createdAt.getTime() >= 90 * 60_000);
   * ```
   */
  sleep(name: string, duration: Duration): Workflow<In, Out, Input> {
    checkName(name, this.#where());
    const durationMs = parseDuration(duration, `the duration of sleep '${name}'`);
    return this.#add({ kind: "sleep", name, durationMs });
  }

  /**
   * Sleeps durably until a time (a `Date`, epoch ms, or a function of the
   * value). A time in the past continues at once. The value passes through.
   *
   * @example Sleep until a time taken from the input
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<{ at: string }>("remind").sleepUntil("due", (v) => new Date(v.at));
   * await using runner = new LocalRunner({ clock: "virtual" });
   * const at = new Date(Date.now() + 86_400_000).toISOString();
   * const run = await runner.start(wf, { at });
   * assert.deepEqual(await run.result(), { at });
   * assert.ok((await runner.get(run.id)).updatedAt.getTime() >= Date.parse(at));
   * ```
   */
  sleepUntil(
    name: string,
    at: Date | number | ((value: Out, input: Input) => Date | number | Promise<Date | number>),
  ): Workflow<In, Out, Input> {
    checkName(name, this.#where());
    let when: number | AnyFn;
    if (typeof at === "function") when = at;
    else if (at instanceof Date || typeof at === "number") {
      if (!Number.isFinite(at instanceof Date ? at.getTime() : at)) {
        throw new RangeError(`Cannot sleep until ${String(at)} in '${name}': use a valid time`);
      }
      when = toStoredTime(at, `the time of sleepUntil '${name}'`);
    } else {
      throw new TypeError(
        `Cannot sleep until ${
          describe(at)
        } in '${name}': pass a Date, epoch milliseconds or a function`,
      );
    }
    return this.#add({ kind: "sleepUntil", name, at: when });
  }

  /**
   * Waits for a signal; its payload is the output. A signal sent earlier waits
   * in the run's inbox. Without `onTimeout`, a timeout fails the run with
   * `SignalTimeoutError`.
   *
   * @example Wait three days for a decision, else decline
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<string>("approve")
   *   .waitForSignal<{ approved: boolean }>("approval", "decision", {
   *     timeout: "3d",
   *     onTimeout: () => ({ approved: false }),
   *   });
   * await using runner = new LocalRunner({ clock: "virtual" });
   * const run = await runner.start(wf, "order-1");
   * await run.signal("decision", { approved: true });
   * assert.deepEqual(await run.result(), { approved: true });
   * assert.deepEqual(await runner.run(wf, "order-2"), { approved: false });
   * ```
   */
  waitForSignal<P = unknown>(
    name: string,
    signal: string,
    options?: WaitOptions<Out, P, Input>,
  ): Workflow<In, P, Input> {
    checkName(name, this.#where());
    checkName(signal, `the signal of wait '${name}'`);
    return this.#add(this.#wait("waitForSignal", name, [signal], options));
  }

  /**
   * Waits for the first of several signals; the output says which one arrived
   * and carries its payload.
   *
   * @example Act on whichever signal comes first
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<string>("decide")
   *   .waitForAnySignal("decision", ["approve", "reject"])
   *   .step("act", (d) => d.signal === "approve");
   * await using runner = new LocalRunner();
   * const run = await runner.start(wf, "order-1");
   * await run.signal("reject", "too expensive");
   * assert.equal(await run.result(), false);
   * ```
   */
  waitForAnySignal<P = unknown, const S extends string = string>(
    name: string,
    signals: readonly S[],
    options?: WaitOptions<Out, AnySignal<S, P>, Input>,
  ): Workflow<In, AnySignal<S, P>, Input> {
    checkName(name, this.#where());
    if (!Array.isArray(signals) || signals.length === 0) {
      throw new TypeError(
        `Cannot wait for ${describe(signals)} in '${name}': pass a non-empty array of signal names`,
      );
    }
    for (const signal of signals) checkName(signal, `the signals of wait '${name}'`);
    if (new Set(signals).size !== signals.length) {
      throw new TypeError(`Cannot wait for the same signal twice in '${name}': list each once`);
    }
    return this.#add(this.#wait("waitForAnySignal", name, [...signals], options));
  }

  #wait(
    kind: "waitForSignal" | "waitForAnySignal",
    name: string,
    signals: string[],
    options: unknown,
  ): RtNode {
    const record = checkOptionsObject(options, `options of wait '${name}'`);
    for (const key of Object.keys(record)) {
      if (key !== "timeout" && key !== "onTimeout") {
        throw new TypeError(
          `Cannot use option '${key}' on wait '${name}': use 'timeout' or 'onTimeout'`,
        );
      }
    }
    const node: RtNode = { kind, name, signals };
    if (record.timeout !== undefined) {
      node.timeoutMs = parseDuration(record.timeout as Duration, `the timeout of wait '${name}'`);
    }
    if (record.onTimeout !== undefined) {
      node.onTimeout = checkFunction(record.onTimeout, `'onTimeout' of wait '${name}'`);
      if (node.timeoutMs === undefined) {
        throw new TypeError(`Cannot use 'onTimeout' on wait '${name}' without a 'timeout'`);
      }
    }
    return node;
  }
}

/**
 * Starts a workflow builder.
 *
 * @typeParam In The workflow input type.
 * @param name The workflow name.
 * @param options The version.
 * @returns An empty workflow whose value is its input.
 *
 * @example Start a versioned workflow
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("inc", { version: "2" }).step("inc", (n) => n + 1);
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, 1), 2);
 * ```
 */
export function workflow<In>(name: string, options?: WorkflowOptions): Workflow<In, In, In> {
  checkName(name, "a workflow");
  const record = checkOptionsObject(options, `options of workflow '${name}'`);
  const version = record.version ?? "1";
  if (
    typeof version !== "string" || version.length === 0 || version.length > 64 ||
    hasControlCharacters(version)
  ) {
    throw new TypeError(
      `Cannot use version ${
        describe(version)
      } for workflow '${name}': use a non-empty string of up to 64 characters`,
    );
  }
  return new Workflow<In, In, In>(name, version, []);
}

/**
 * Starts an anonymous sub-flow, used as a branch or a body.
 *
 * @typeParam In The value flowing into the sub-flow.
 * @returns An empty sub-flow whose value is its input.
 *
 * @example A sub-flow as the body of a loop
 * ```ts
 * import assert from "node:assert/strict";
 * import { flow, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const body = flow<number>().step("a", (n) => n + 1).step("b", (n) => n * 2);
 * const wf = workflow<number>("outer").loop("twice", 2, body);
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, 1), 10);
 * ```
 */
export function flow<In>(): Workflow<In, In, unknown> {
  return new Workflow<In, In, unknown>("", "", []);
}

/**
 * A sub-flow: a workflow without a name, whose steps see `ctx.input` as unknown.
 *
 * @example A reusable sub-flow
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Flow, flow, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const normalize: Flow<string, string> = flow<string>()
 *   .step("trim", (s) => s.trim())
 *   .step("lower", (s) => s.toLowerCase());
 * const wf = workflow<string>("clean").if("hasText", (s) => s.length > 0, normalize);
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, "  Hello "), "hello");
 * ```
 */
export type Flow<In, Out> = Workflow<In, Out, unknown>;
