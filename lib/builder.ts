/**
 * The fluent builder: `workflow()`, `flow()` and `defineStep()`. Each method
 * returns a new builder whose type carries the value flowing out of it. Its
 * types live in `builder_types.ts`, its checks in `builder_options.ts`, the
 * node model in `nodes.ts`.
 *
 * @module
 */
import { compileFlowControl, type FlowControl } from "./flow.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { toStoredTime } from "./time.ts";
import { hasControlCharacters } from "./_text.ts";
import { hashPlan, type Plan, planToMermaid } from "./plan.ts";
import { planNode, type RtBranch, type RtNode, type RtStep } from "./nodes.ts";
import {
  checkFunction,
  checkInteger,
  checkName,
  checkOptionsObject,
  compileChildOptions,
  compileStepOptions,
  describe,
} from "./builder_options.ts";
import type {
  AnySignal,
  Branch,
  BranchOutput,
  CallOptions,
  flowBrand,
  FlowRef,
  MapOptions,
  ParallelOptions,
  SpawnOptions,
  StepDef,
  StepFn,
  StepOptions,
  WaitOptions,
  WhileOptions,
  WorkflowOptions,
} from "./builder_types.ts";

export type {
  AnySignal,
  Branch,
  BranchOutput,
  CallOptions,
  ChildIdFn,
  Deps,
  FlowRef,
  MapOptions,
  ParallelOptions,
  RetryOptions,
  SpawnOptions,
  StepContext,
  StepDef,
  StepFn,
  StepOptions,
  WaitOptions,
  WhileOptions,
  WorkflowOptions,
} from "./builder_types.ts";
export type { RtBranch, RtNode, RtStep } from "./nodes.ts";
export { defineStep } from "./builder_options.ts";

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

function isStepDef(value: unknown): value is StepDef<unknown, unknown> {
  return typeof value === "object" && value !== null && !(value instanceof Workflow) &&
    typeof (value as { fn?: unknown }).fn === "function" &&
    typeof (value as { name?: unknown }).name === "string";
}

/** @internal A workflow of any input and output. */
// deno-lint-ignore no-explicit-any
export type AnyWorkflow = Workflow<any, any, any>;

let nodesOfWorkflow: (wf: AnyWorkflow) => readonly RtNode[];
let flowOfWorkflow: (wf: AnyWorkflow) => FlowControl | undefined;
let timeoutOfWorkflow: (wf: AnyWorkflow) => number | undefined;

/** @internal The workflow `timeout` (ms) of a workflow, if it has one. */
export function workflowTimeout(wf: AnyWorkflow): number | undefined {
  return timeoutOfWorkflow(wf);
}

/** @internal The flow control options of a workflow, for starts and claims. */
export function workflowFlow(wf: AnyWorkflow): FlowControl | undefined {
  return flowOfWorkflow(wf);
}

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
export class Workflow<In, Out, Input = In> implements FlowRef<In, Out, Input> {
  /** The workflow name; empty for an anonymous sub-flow. */
  readonly name: string;
  /** The workflow version. */
  readonly version: string;
  readonly #nodes: readonly RtNode[];
  readonly #flow: FlowControl | undefined;
  readonly #timeoutMs: number | undefined;
  #plan: Plan | undefined;
  #planHash: string | undefined;
  /** @ignore Carries the type parameters. */
  declare readonly types?: (input: In) => Out;
  /** @ignore Carries the type of `ctx.input`. */
  declare inputs?: NonNullable<FlowRef<In, Out, Input>["inputs"]>;
  /** @ignore */
  declare readonly [flowBrand]: "flow";

  static {
    nodesOfWorkflow = (wf) => wf.#nodes;
    flowOfWorkflow = (wf) => wf.#flow;
    timeoutOfWorkflow = (wf) => wf.#timeoutMs;
  }

  /** @ignore Use {@linkcode workflow} or {@linkcode flow}. */
  constructor(
    name: string,
    version: string,
    nodes: readonly RtNode[],
    flow?: FlowControl,
    timeoutMs?: number,
  ) {
    this.name = name;
    this.version = version;
    this.#nodes = nodes;
    this.#flow = flow;
    this.#timeoutMs = timeoutMs;
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
    if (this.#plan === undefined) {
      const plan: Plan = {
        workflow: this.name,
        version: this.version,
        nodes: this.#nodes.map(planNode),
      };
      if (this.#timeoutMs !== undefined) plan.timeoutMs = this.#timeoutMs;
      this.#plan = plan;
    }
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
    return new Workflow(
      this.name,
      this.version,
      [...this.#nodes, node],
      this.#flow,
      this.#timeoutMs,
    );
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
    options?: StepOptions<Awaited<O>>,
  ): Workflow<In, Awaited<O>, Input>;
  /**
   * Adds a step made with {@linkcode defineStep}.
   *
   * @param def The step definition; its name is the step name.
   * @param options Options that override the definition's.
   */
  step<O>(
    def: StepDef<Out, O>,
    options?: StepOptions<Awaited<O>>,
  ): Workflow<In, Awaited<O>, Input>;
  step(
    // deno-lint-ignore no-explicit-any
    nameOrDef: string | StepDef<any, any>,
    fnOrOptions?: unknown,
    maybeOptions?: StepOptions<unknown>,
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
    then: Branch<Out, T, Input>,
  ): Workflow<In, Out | T, Input>;
  /**
   * Takes `then` when `cond` holds, otherwise `otherwise`.
   */
  if<T, E>(
    name: string,
    cond: (value: Out, input: Input) => boolean | Promise<boolean>,
    then: Branch<Out, T, Input>,
    otherwise: Branch<Out, E, Input>,
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
  parallel<
    const B extends
      | readonly Branch<Out, unknown, Input>[]
      | Record<string, Branch<Out, unknown, Input>>,
  >(
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
  loop<B extends Branch<Out, Out, Input>>(
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
  while<B extends Branch<Out, Out, Input>>(
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
    body: Branch<I, R, Input>,
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
   *
   * @example Keep the value from before the wait with `combine`
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const wf = workflow<{ order: string }>("approve")
   *   .waitForSignal("approval", "decision", {
   *     combine: (order, decision: { approved: boolean }) => ({ ...order, ...decision }),
   *   });
   * await using runner = new LocalRunner();
   * const run = await runner.start(wf, { order: "o-1" });
   * await run.signal("decision", { approved: true });
   * assert.deepEqual(await run.result(), { order: "o-1", approved: true });
   * ```
   */
  waitForSignal<P = unknown, O = P>(
    name: string,
    signal: string,
    options?: WaitOptions<Out, P, Input, O>,
  ): Workflow<In, O, Input> {
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
    options?: Omit<WaitOptions<Out, AnySignal<S, P>, Input>, "combine">,
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

  /**
   * Starts `child` as its own run (id `<parentRunId>/<stepKey>` unless `id`
   * says otherwise, with `parentId` on its record) and waits for it, holding
   * no worker; the child's output is the value. A failed child fails the step
   * with `ChildWorkflowFailedError`; `retry` starts a fresh child per attempt.
   *
   * @example An order that calls a payment workflow
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const pay = workflow<number>("pay").step("charge", (cents) => ({ charged: cents }));
   * const order = workflow<{ total: number }>("order")
   *   .call("payment", pay, { input: (o) => o.total })
   *   .step("ship", (receipt) => `shipped after ${receipt.charged}`);
   * await using runner = new LocalRunner();
   * const run = await runner.start(order, { total: 700 });
   * assert.equal(await run.result(), "shipped after 700");
   * assert.equal((await runner.get(`${run.id}/payment`)).parentId, run.id);
   * ```
   */
  call<CI, CO>(
    name: string,
    // deno-lint-ignore no-explicit-any
    child: Workflow<CI, CO, any>,
    options: Omit<CallOptions<Out, CI, Input>, "input"> & {
      input(value: Out, input: Input): CI | Promise<CI>;
    },
  ): Workflow<In, CO, Input>;
  /** Calls `child` with the value as its input. */
  call<CO>(
    name: string,
    // deno-lint-ignore no-explicit-any
    child: Workflow<Out, CO, any>,
    options?: Omit<CallOptions<Out, Out, Input>, "input">,
  ): Workflow<In, CO, Input>;
  call(name: string, child: unknown, options?: unknown): AnyWorkflow {
    return this.#child("call", name, child, options);
  }

  /**
   * Starts `child` as a detached run (with `parentId` on its record) and
   * outputs `{ id }` at once; the child is not cancelled with the parent.
   *
   * @example Start an audit run and move on
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalRunner, workflow } from "@sluice/sluice";
   *
   * const audit = workflow<number>("audit").step("log", (n) => n);
   * const wf = workflow<number>("work").spawn("audit", audit).step("done", (s) => s.id);
   * await using runner = new LocalRunner();
   * const run = await runner.start(wf, 1);
   * assert.equal(await run.result(), `${run.id}/audit`);
   * ```
   */
  spawn<CI>(
    name: string,
    // deno-lint-ignore no-explicit-any
    child: Workflow<CI, unknown, any>,
    options: Omit<SpawnOptions<Out, CI, Input>, "input"> & {
      input(value: Out, input: Input): CI | Promise<CI>;
    },
  ): Workflow<In, { id: string }, Input>;
  /** Spawns `child` with the value as its input. */
  spawn(
    name: string,
    // deno-lint-ignore no-explicit-any
    child: Workflow<Out, unknown, any>,
    options?: Omit<SpawnOptions<Out, Out, Input>, "input">,
  ): Workflow<In, { id: string }, Input>;
  spawn(name: string, child: unknown, options?: unknown): AnyWorkflow {
    return this.#child("spawn", name, child, options);
  }

  #child(kind: "call" | "spawn", name: string, child: unknown, options: unknown): AnyWorkflow {
    checkName(name, this.#where());
    if (!(child instanceof Workflow) || child.name === "") {
      throw new TypeError(
        `Cannot use ${
          describe(child)
        } as the child of ${kind} '${name}' in ${this.#where()}: pass a workflow built with workflow()`,
      );
    }
    const fields = compileChildOptions(kind, options, `${kind} '${name}' of ${this.#where()}`);
    return this.#add({ kind, name, workflow: child.name, child, ...fields });
  }

  #wait(
    kind: "waitForSignal" | "waitForAnySignal",
    name: string,
    signals: string[],
    options: unknown,
  ): RtNode {
    const record = checkOptionsObject(options, `options of wait '${name}'`);
    for (const key of Object.keys(record)) {
      const combine = key === "combine" && kind === "waitForSignal";
      if (key !== "timeout" && key !== "onTimeout" && !combine) {
        throw new TypeError(
          `Cannot use option '${key}' on wait '${name}': use ${
            kind === "waitForSignal"
              ? "'timeout', 'onTimeout' or 'combine'"
              : "'timeout' or 'onTimeout'"
          }`,
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
    if (record.combine !== undefined) {
      node.combine = checkFunction(record.combine, `'combine' of wait '${name}'`);
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
export function workflow<In>(name: string, options?: WorkflowOptions<In>): Workflow<In, In, In> {
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
  let timeoutMs: number | undefined;
  if (record.timeout !== undefined) {
    timeoutMs = parseDuration(record.timeout as Duration, `'timeout' of workflow '${name}'`);
    if (timeoutMs <= 0) {
      throw new RangeError(
        `Cannot use 'timeout' ${
          describe(record.timeout)
        } of workflow '${name}': it must be a positive duration`,
      );
    }
  }
  return new Workflow<In, In, In>(
    name,
    version,
    [],
    compileFlowControl(record, name),
    timeoutMs,
  );
}

/**
 * Starts an anonymous sub-flow, used as a branch or a body.
 *
 * @typeParam In The value flowing into the sub-flow.
 * @typeParam Input The workflow input, the type of `ctx.input` in the
 *   sub-flow's steps (default `unknown`); a flow fits only workflows whose
 *   input is assignable to it.
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
 *
 * @example A sub-flow that reads the workflow input
 * ```ts
 * import assert from "node:assert/strict";
 * import { flow, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const add = flow<number, { step: number }>().step("add", (n, ctx) => n + ctx.input.step);
 * const wf = workflow<{ step: number }>("outer")
 *   .step("zero", () => 0)
 *   .loop("thrice", 3, add);
 * await using runner = new LocalRunner();
 * assert.equal(await runner.run(wf, { step: 5 }), 15);
 * ```
 */
export function flow<In, Input = unknown>(): Workflow<In, In, Input> {
  return new Workflow<In, In, Input>("", "", []);
}

/**
 * A sub-flow: a workflow without a name, whose steps see `ctx.input` as
 * `Input` (default `unknown`).
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
export type Flow<In, Out, Input = unknown> = Workflow<In, Out, Input>;
