/**
 * The fluent builder: `workflow()`, `flow()` and `defineStep()`. Each method
 * returns a new builder whose type carries the value flowing out of it. Its
 * types live in `builder_types.ts`, its checks in `builder_options.ts`, the
 * node each method makes in `builder_nodes.ts`, the node model in `nodes.ts`.
 *
 * @module
 */
import type { FlowControl } from "./flow.ts";
import type { Duration } from "./duration.ts";
import { hashPlan, type Plan, planToMermaid } from "./plan.ts";
import { planNode, type RtBranch, type RtNode } from "./nodes.ts";
import {
  branchNode,
  childNode,
  ifNode,
  loopNode,
  mapNode,
  parallelNode,
  sleepNode,
  sleepUntilNode,
  stepNode,
  waitForAnySignalNode,
  waitForSignalNode,
  whileNode,
  workflowSettings,
} from "./builder_nodes.ts";
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
    return branchNode(
      branch,
      label,
      what,
      named,
      this.#where(),
      (value) => value instanceof Workflow ? value.#nodes : undefined,
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
    return this.#add(stepNode(nameOrDef, fnOrOptions, maybeOptions, this.#where()));
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
    const branch = this.#branch.bind(this);
    return this.#add(ifNode(name, cond, then, otherwise, this.#where(), branch));
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
    const branch = this.#branch.bind(this);
    return this.#add(parallelNode(name, branches, options, this.#where(), branch));
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
    return this.#add(loopNode(name, times, body, this.#where(), this.#branch.bind(this)));
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
    const branch = this.#branch.bind(this);
    return this.#add(whileNode(name, cond, body, options, this.#where(), branch));
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
    const branch = this.#branch.bind(this);
    return this.#add(mapNode(name, items, body, options, this.#where(), branch));
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
    return this.#add(sleepNode(name, duration, this.#where()));
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
    return this.#add(sleepUntilNode(name, at, this.#where()));
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
    return this.#add(waitForSignalNode(name, signal, options, this.#where()));
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
    return this.#add(waitForAnySignalNode(name, signals, options, this.#where()));
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
    const childName = child instanceof Workflow ? child.name : undefined;
    return this.#add(childNode(kind, name, child, childName, options, this.#where()));
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
  const { version, flow, timeoutMs } = workflowSettings(
    name,
    options as WorkflowOptions<unknown> | undefined,
  );
  return new Workflow<In, In, In>(name, version, [], flow, timeoutMs);
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
