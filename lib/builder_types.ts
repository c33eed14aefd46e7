/**
 * The builder's public types: the step context and functions, step
 * definitions, branches and the options of every node.
 *
 * @module
 */
import type { ConcurrencyOption, RateLimitOption } from "./flow.ts";
import type { Duration } from "./duration.ts";
import type { Logger } from "./logger.ts";
import type { SignalOptions } from "./records.ts";

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
  /**
   * Merges labels onto the run (the limits and rules of `start`'s labels);
   * they are written with the step's checkpoint. Throws `TypeError` or
   * `RangeError` for bad labels, failing the attempt.
   */
  setLabels(labels: Record<string, string>): void;
  /**
   * Sends a signal to another run exactly once, even when this step re-runs
   * (a retry, or a takeover after a crash): its id is the step's
   * `idempotencyKey` plus the target, the name and the call's position in the
   * attempt (1st, 2nd… `signalRun` call), or `options.id`. A repeat is a
   * no-op on the target, also after it finished; see `signal`.
   *
   * @example Signal another run from a step
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const order = workflow("order").waitForSignal("paid", "paid");
   * const pay = workflow<string>("pay").step("notify", async (orderId, ctx) => {
   *   await ctx.signalRun(orderId, "paid", 30);
   *   return "sent";
   * });
   * await using runner = new LocalRunner({ workflows: [order, pay] });
   * const run = await runner.start(order, undefined, { id: "order-3" });
   * assert.equal(await runner.run(pay, "order-3"), "sent");
   * assert.equal(await run.result(), 30);
   * ```
   */
  signalRun(runId: string, name: string, payload?: unknown, options?: SignalOptions): Promise<void>;
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
export interface StepOptions<O = unknown> {
  /**
   * Retry settings; without them a step has one attempt.
   * @default {{ maxAttempts: 1 }}
   */
  retry?: RetryOptions;
  /** Timeout of each attempt; `ctx.signal` aborts when it fires. */
  timeout?: Duration;
  /**
   * Undoes the step (saga): when the run later fails after its retries, times
   * out, or is cancelled with `{ compensate: true }`, the compensations of its
   * completed steps run in reverse order of completion, each with the step's
   * output, once (checkpointed at `<stepKey>/compensate`), with the step's
   * `retry` and `timeout`.
   */
  compensate?(output: O, ctx: StepContext): unknown;
}

/** @internal Brands a step definition. */
export declare const stepDefBrand: unique symbol;

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
  readonly options: StepOptions<Awaited<O>> | undefined;
  /** @ignore */
  readonly [stepDefBrand]: true;
}

/** @internal Brands a sub-flow. */
export declare const flowBrand: unique symbol;

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
export interface FlowRef<I, O, In = unknown> {
  /** @ignore */
  readonly [flowBrand]: "flow";
  /** @ignore Carries the type parameters. */
  readonly types?: (input: I) => O;
  /**
   * @ignore Carries the type of `ctx.input` the flow expects (the workflow
   * input). A method, so bivariant: a flow for `unknown` fits every workflow.
   */
  inputs?(input: In): void;
}

/**
 * A branch or body: a step function, a sub-flow, or a step definition. `In`
 * is the workflow input, the type of `ctx.input` inside the branch.
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
export type Branch<I, O, In = unknown> = StepFn<I, O, In> | FlowRef<I, O, In> | StepDef<I, O>;

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
export type BranchOutput<B> = B extends FlowRef<infer _I, infer O, infer _In> ? O
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
export interface WaitOptions<V, P, In = unknown, O = P> {
  /** How long to wait; default forever. */
  timeout?: Duration;
  /**
   * Called with the value (and the workflow input) when the timeout fires; its
   * result becomes the output (`combine` is not applied to it).
   */
  onTimeout?: (value: V, input: In) => O | Promise<O>;
  /**
   * `waitForSignal` only: joins the value from before the wait with the
   * signal's payload; its result is the output (default: the payload).
   * Synchronous, and, like every function of the plan, recomputed from
   * recorded values on replay. Annotate its payload parameter to type the
   * payload.
   */
  combine?: (value: V, payload: P) => O;
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
export interface WorkflowOptions<In = unknown> {
  /**
   * The version; runs keep the version they started with.
   * @default {"1"}
   */
  version?: string;
  /**
   * Flow control: at most this many runs executing at once, across every
   * worker and process (per key with `{ limit, key }`). Tunable: not part of
   * the plan hash.
   */
  concurrency?: ConcurrencyOption<In>;
  /**
   * Flow control: at most `limit` runs begin per `period` (per key), across
   * every worker and process. Tunable: not part of the plan hash.
   */
  rateLimit?: RateLimitOption<In>;
  /**
   * A durable deadline for each run, stored when it is created and counted
   * from its `startAt` (or creation); `retry()` renews it from the retry, a
   * fork has its own. When it passes (also while the run sleeps, waits, or
   * sits `pending` for a worker), steps in flight see
   * `ctx.signal` abort, compensation runs, and the run fails with
   * `WorkflowTimeoutError`. Tunable: not part of the plan hash.
   */
  timeout?: Duration;
}

/**
 * Options of `.spawn`: the child's input and run id.
 *
 * @example A detached child with its own id
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type SpawnOptions, workflow } from "@sluice/sluice";
 *
 * const audit = workflow<string>("audit").step("log", (s) => s.length);
 * const options = {
 *   input: (v: { order: string }) => v.order,
 *   id: (v: { order: string }) => `audit-${v.order}`,
 * } satisfies SpawnOptions<{ order: string }, string>;
 * const wf = workflow<{ order: string }>("order").spawn("audit", audit, options);
 * await using runner = new LocalRunner();
 * assert.deepEqual(await runner.run(wf, { order: "o-1" }), { id: "audit-o-1" });
 * ```
 */
export interface SpawnOptions<V, CI, In = unknown> {
  /** The child's input, a function of the value (default: the value). */
  input?(value: V, input: In): CI | Promise<CI>;
  /**
   * The child's run id, or a function of the value giving it (default
   * `<parentRunId>/<stepKey>`).
   */
  id?: string | ChildIdFn<V, In>;
}

/**
 * A function of the value (and the workflow input) giving a child's run id.
 * (Declared as a method, so a workflow stays assignable to one with a wider
 * value type.)
 *
 * @example An id from the order number
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ChildIdFn } from "@sluice/sluice";
 *
 * const id: ChildIdFn<{ order: string }, unknown> = (v) => `pay-${v.order}`;
 * assert.equal(id({ order: "o-1" }, undefined), "pay-o-1");
 * ```
 */
export type ChildIdFn<V, In> = {
  method(value: V, input: In): string | Promise<string>;
}["method"];

/**
 * Options of `.call`: the child's input and run id, and the retry policy
 * (each attempt n > 1 starts a fresh child `<id>#<n>`).
 *
 * @example Call a child with a derived input, retried once
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CallOptions, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const pay = workflow<number>("pay").step("charge", (cents) => `paid ${cents}`);
 * const options = {
 *   input: (order: { total: number }) => order.total,
 *   retry: { maxAttempts: 2 },
 * } satisfies CallOptions<{ total: number }, number>;
 * const wf = workflow<{ total: number }>("order").call("payment", pay, options);
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, { total: 500 }), "paid 500");
 * ```
 */
export interface CallOptions<V, CI, In = unknown> extends SpawnOptions<V, CI, In> {
  /** Retries of the call: each attempt starts a fresh child. */
  retry?: RetryOptions;
}
