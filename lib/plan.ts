/**
 * The plan: what a workflow compiles to. Plain JSON, deterministic, hashable.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { kindOf } from "./nodes.ts";

/**
 * Retry settings as they appear in a plan (durations in milliseconds).
 *
 * @example Read a step's retry settings from the plan
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanRetry, type PlanStep, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<string>("mail")
 *   .step("send", (to) => to, { retry: { maxAttempts: 4, initialDelay: "2s", jitter: 0.1 } });
 * const step = wf.plan.nodes.find((n): n is PlanStep => n.kind === "step")!;
 * const retry: PlanRetry | undefined = step.retry;
 * assert.equal(retry?.maxAttempts, 4);
 * assert.equal(retry?.initialDelayMs, 2000);
 * assert.equal(retry?.jitter, 0.1);
 * ```
 */
export interface PlanRetry {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Delay before the second attempt, in milliseconds. */
  initialDelayMs: number;
  /** Factor applied to the delay after each failed attempt. */
  backoff: number;
  /** Upper bound of the delay, in milliseconds. */
  maxDelayMs: number;
  /** Fraction (0 to 1) of each delay that is randomised. */
  jitter: number;
}

/**
 * A step: runs a function once its input arrives.
 *
 * @example A step's timeout in the plan
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanStep, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<string>("fetch").step("load", (url) => url, { timeout: "10s" });
 * const steps = wf.plan.nodes.filter((n): n is PlanStep => n.kind === "step");
 * assert.deepEqual(steps.map((s) => `${s.name} ${s.timeoutMs}ms`), ["load 10000ms"]);
 * ```
 */
export interface PlanStep {
  /** Node kind. */
  kind: "step";
  /** Name, unique among siblings. */
  name: string;
  /** Retry settings, when more than one attempt is allowed. */
  retry?: PlanRetry;
  /** Timeout of each attempt, in milliseconds. */
  timeoutMs?: number;
}

/**
 * A named sequence used as a branch or body.
 *
 * @example The nodes of a sub-flow body
 * ```ts
 * import assert from "node:assert/strict";
 * import { flow, type PlanFlow, workflow } from "@sluice/sluice";
 *
 * const body = flow<number>().step("a", (n) => n + 1).step("b", (n) => n * 2);
 * const node = workflow<number>("outer").loop("twice", 2, body).plan.nodes[0]!;
 * if (node.kind === "loop" && node.body.kind === "flow") {
 *   const sub: PlanFlow = node.body;
 *   assert.equal(sub.name, "body");
 *   assert.deepEqual(sub.nodes.map((n) => n.name), ["a", "b"]);
 * }
 * ```
 */
export interface PlanFlow {
  /** Node kind. */
  kind: "flow";
  /** Name (the branch label). */
  name: string;
  /** The nodes, in order. */
  nodes: PlanNode[];
}

/**
 * A branch or body: a single step or a sequence.
 *
 * @example A branch is a single step or a sequence
 * ```ts
 * import assert from "node:assert/strict";
 * import { flow, type PlanBranch, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("size")
 *   .if("big", (n) => n > 10, (n) => n, flow<number>().step("inc", (n) => n + 1));
 * const node = wf.plan.nodes[0]!;
 * if (node.kind === "if" && node.otherwise) {
 *   const branches: PlanBranch[] = [node.then, node.otherwise];
 *   assert.deepEqual(branches.map((b) => `${b.kind} ${b.name}`), ["step then", "flow else"]);
 * }
 * ```
 */
export type PlanBranch = PlanStep | PlanFlow;

/**
 * A condition choosing one of two branches.
 *
 * @example An if without an else branch
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanIf, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<{ tier: string }>("vip").if("gold", (v) => v.tier === "gold", () => "gift");
 * const node = wf.plan.nodes.find((n): n is PlanIf => n.kind === "if")!;
 * assert.equal(node.name, "gold");
 * assert.equal(node.then.name, "then");
 * assert.equal(node.otherwise, undefined);
 * ```
 */
export interface PlanIf {
  /** Node kind. */
  kind: "if";
  /** Name, unique among siblings. */
  name: string;
  /** Taken when the condition holds (named `then`). */
  then: PlanBranch;
  /** Taken otherwise (named `else`); absent means the value passes through. */
  otherwise?: PlanBranch;
}

/**
 * Branches that run concurrently.
 *
 * @example Parallel branches by name, one at a time
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanParallel, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("fan")
 *   .parallel("both", { double: (n) => n * 2, square: (n) => n * n }, { concurrency: 1 });
 * const node = wf.plan.nodes.find((n): n is PlanParallel => n.kind === "parallel")!;
 * assert.equal(node.shape, "record");
 * assert.deepEqual(node.branches.map((b) => b.name), ["double", "square"]);
 * assert.equal(node.concurrency, 1);
 * ```
 */
export interface PlanParallel {
  /** Node kind. */
  kind: "parallel";
  /** Name, unique among siblings. */
  name: string;
  /** `tuple` for an array of branches, `record` for an object of branches. */
  shape: "tuple" | "record";
  /** The branches, named by index or key. */
  branches: PlanBranch[];
  /** Most branches in flight at once. */
  concurrency?: number;
}

/**
 * A body repeated a number of times.
 *
 * @example A fixed count, or one computed at run time
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanLoop, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("count")
 *   .loop("thrice", 3, (n) => n + 1)
 *   .loop("more", (n) => n, (n) => n + 1);
 * const loops = wf.plan.nodes.filter((n): n is PlanLoop => n.kind === "loop");
 * assert.deepEqual(loops.map((l) => l.times), [3, "dynamic"]);
 * ```
 */
export interface PlanLoop {
  /** Node kind. */
  kind: "loop";
  /** Name, unique among siblings. */
  name: string;
  /** A fixed count, or `"dynamic"` when computed from the value. */
  times: number | "dynamic";
  /** The body (named `body`). */
  body: PlanBranch;
}

/**
 * A body repeated while a condition holds.
 *
 * @example A while loop's default iteration cap
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanWhile, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("grow").while("small", (n) => n < 100, (n) => n * 2);
 * const node = wf.plan.nodes.find((n): n is PlanWhile => n.kind === "while")!;
 * assert.equal(node.maxIterations, 10000);
 * assert.equal(node.body.kind, "step");
 * ```
 */
export interface PlanWhile {
  /** Node kind. */
  kind: "while";
  /** Name, unique among siblings. */
  name: string;
  /** The iteration count at which the run fails. */
  maxIterations: number;
  /** The body (named `body`). */
  body: PlanBranch;
}

/**
 * A body run once per item.
 *
 * @example A map's concurrency and body
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanMap, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<string[]>("lengths").map("each", (w) => w, (w: string) => w.length, {
 *   concurrency: 4,
 * });
 * const node = wf.plan.nodes.find((n): n is PlanMap => n.kind === "map")!;
 * assert.equal(node.name, "each");
 * assert.equal(node.concurrency, 4);
 * assert.equal(node.body.name, "body");
 * ```
 */
export interface PlanMap {
  /** Node kind. */
  kind: "map";
  /** Name, unique among siblings. */
  name: string;
  /** Most items in flight at once. */
  concurrency?: number;
  /** The body (named `body`). */
  body: PlanBranch;
}

/**
 * A durable sleep for a duration.
 *
 * @example A sleep's duration in milliseconds
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanSleep, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("later").sleep("coolDown", "1h30m");
 * const node = wf.plan.nodes.find((n): n is PlanSleep => n.kind === "sleep")!;
 * assert.equal(node.name, "coolDown");
 * assert.equal(node.durationMs, 5400000);
 * ```
 */
export interface PlanSleep {
  /** Node kind. */
  kind: "sleep";
  /** Name, unique among siblings. */
  name: string;
  /** How long, in milliseconds. */
  durationMs: number;
}

/**
 * A durable sleep until a time.
 *
 * @example A fixed wake time is kept; a computed one is not
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanSleepUntil, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<{ at: string }>("remind")
 *   .sleepUntil("launch", new Date("2030-01-01T00:00:00Z"))
 *   .sleepUntil("due", (v) => new Date(v.at));
 * const sleeps = wf.plan.nodes.filter((n): n is PlanSleepUntil => n.kind === "sleepUntil");
 * assert.deepEqual(sleeps.map((s) => s.at), [1893456000000, undefined]);
 * ```
 */
export interface PlanSleepUntil {
  /** Node kind. */
  kind: "sleepUntil";
  /** Name, unique among siblings. */
  name: string;
  /** The fixed wake time (epoch ms); absent when computed from the value. */
  at?: number;
}

/**
 * A wait for one of some signals.
 *
 * @example A wait for either of two signals, with a timeout
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanWait, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<string>("approve")
 *   .waitForAnySignal("decision", ["approve", "reject"], {
 *     timeout: "3d",
 *     onTimeout: () => ({ signal: "reject", payload: "timed out" }),
 *   });
 * const node = wf.plan.nodes.find((n): n is PlanWait => n.kind === "waitForAnySignal")!;
 * assert.equal(node.kind, "waitForAnySignal");
 * assert.deepEqual(node.signals, ["approve", "reject"]);
 * assert.equal(node.timeoutMs, 259200000);
 * assert.equal(node.onTimeout, true);
 * ```
 */
export interface PlanWait {
  /** Node kind. */
  kind: "waitForSignal" | "waitForAnySignal";
  /** Name, unique among siblings. */
  name: string;
  /** Signal names that end the wait. */
  signals: string[];
  /** How long to wait, in milliseconds. */
  timeoutMs?: number;
  /** Whether a timeout produces a value instead of failing the run. */
  onTimeout?: boolean;
  /** True when a `combine` function joins the value before the wait with the payload. */
  combine?: boolean;
}

/**
 * A child workflow: `.call` starts it as its own run and waits for its
 * output; `.spawn` starts it detached and outputs `{ id }`.
 *
 * @example The plan of a call
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanChild, workflow } from "@sluice/sluice";
 *
 * const pay = workflow<number>("pay").step("charge", (n) => n);
 * const order = workflow<number>("order").call("payment", pay, { retry: { maxAttempts: 2 } });
 * const node = order.plan.nodes[0] as PlanChild;
 * assert.equal(node.kind, "call");
 * assert.equal(node.name, "payment");
 * assert.equal(node.workflow, "pay");
 * assert.equal(node.retry?.maxAttempts, 2);
 * ```
 */
export interface PlanChild {
  /** Node kind. */
  kind: "call" | "spawn";
  /** Name, unique among siblings. */
  name: string;
  /** The child workflow's name. */
  workflow: string;
  /** Retry settings of a call: each attempt starts a fresh child. */
  retry?: PlanRetry;
}

/**
 * Any node of a plan.
 *
 * @example Describe each node of a plan
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PlanNode, workflow } from "@sluice/sluice";
 *
 * function describe(node: PlanNode): string {
 *   switch (node.kind) {
 *     case "waitForSignal":
 *     case "waitForAnySignal":
 *       return `wait for ${node.signals.join(" | ")}`;
 *     default:
 *       return `${node.kind} ${node.name}`;
 *   }
 * }
 * const wf = workflow("w").step("a", () => 1).sleep("nap", "5s").waitForSignal("go", "go");
 * assert.deepEqual(wf.plan.nodes.map(describe), ["step a", "sleep nap", "wait for go"]);
 * ```
 */
export type PlanNode =
  | PlanChild
  | PlanStep
  | PlanFlow
  | PlanIf
  | PlanParallel
  | PlanLoop
  | PlanWhile
  | PlanMap
  | PlanSleep
  | PlanSleepUntil
  | PlanWait;

/**
 * A whole workflow's plan.
 *
 * @example A whole plan as JSON
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Plan, workflow } from "@sluice/sluice";
 *
 * const plan: Plan = workflow<number>("inc", { version: "3" }).step("inc", (n) => n + 1).plan;
 * assert.deepEqual(JSON.parse(JSON.stringify(plan)), {
 *   workflow: "inc",
 *   version: "3",
 *   nodes: [{ kind: "step", name: "inc" }],
 * });
 * ```
 */
export interface Plan {
  /** The workflow name. */
  workflow: string;
  /** The workflow version. */
  version: string;
  /** The top-level nodes, in order. */
  nodes: PlanNode[];
  /** The workflow `timeout` (ms), when it has one. */
  timeoutMs?: number;
}

/** The structure of a node: kind, name and nesting only. */
function shape(node: PlanNode): unknown[] {
  const spec = kindOf(node);
  const children = spec.children(node).map((child) => child ? shape(child) : null);
  if (spec.nesting === "list") return [node.kind, node.name, children];
  return [node.kind, node.name, ...children];
}

/** Hashes the structure of a plan: kinds, names and nesting, nothing tunable. */
export function hashPlan(nodes: readonly PlanNode[]): string {
  return createHash("sha256").update(JSON.stringify(nodes.map(shape))).digest("hex").slice(0, 16);
}

/** Renders plan nodes as a Mermaid flowchart. */
export function planToMermaid(plan: Plan): string {
  const lines = ["flowchart TD", `  start(("${escape(plan.workflow)}"))`];
  let counter = 0;
  const id = () => `n${++counter}`;
  const label = (node: PlanNode): string =>
    kindOf(node).label?.(node) ?? `${node.kind} ${node.name}`;
  /** Renders a sequence; returns its entry and exit ids. */
  const sequence = (nodes: readonly PlanNode[], indent: string): [string, string] => {
    let first = "";
    let previous = "";
    for (const node of nodes) {
      const [entry, exit] = render(node, indent);
      if (previous) lines.push(`${indent}${previous} --> ${entry}`);
      else first = entry;
      previous = exit;
    }
    if (!first) {
      first = previous = id();
      lines.push(`${indent}${first}[/"pass"/]`);
    }
    return [first, previous];
  };
  const branch = (node: PlanNode, indent: string): [string, string] =>
    node.kind === "flow" ? sequence(node.nodes, indent) : render(node, indent);
  const render = (node: PlanNode, indent: string): [string, string] => {
    const self = id();
    const spec = kindOf(node);
    const text = escape(label(node));
    switch (spec.mermaid) {
      case "sequence":
        return sequence(spec.children(node) as PlanNode[], indent);
      case "choice": {
        const join = id();
        lines.push(`${indent}${self}{"${text}"}`, `${indent}${join}(( ))`);
        const [then, otherwise] = spec.children(node);
        for (const [edge, child] of [["then", then], ["else", otherwise]] as const) {
          if (!child) {
            lines.push(`${indent}${self} -->|${edge}| ${join}`);
            continue;
          }
          const [entry, exit] = branch(child, indent);
          lines.push(`${indent}${self} -->|${edge}| ${entry}`, `${indent}${exit} --> ${join}`);
        }
        return [self, join];
      }
      case "group": {
        const join = id();
        lines.push(`${indent}subgraph ${self}_g ["${text}"]`);
        lines.push(`${indent}  ${self}[["${escape(node.kind)}"]]`, `${indent}  ${join}(( ))`);
        const children = spec.children(node) as PlanNode[];
        // Several children are alternatives drawn with their names; one is a repeated body.
        const named = spec.nesting === "list";
        for (const body of children) {
          const [entry, exit] = branch(body, indent + "  ");
          const edge = named ? `|${escape(body.name)}|` : "";
          lines.push(`${indent}  ${self} -->${edge} ${entry}`, `${indent}  ${exit} --> ${join}`);
        }
        if (!named) lines.push(`${indent}  ${join} -.->|repeat| ${self}`);
        lines.push(`${indent}end`);
        return [self, join];
      }
      case "pause":
        lines.push(`${indent}${self}(["${text}"])`);
        return [self, self];
      case "wait":
        lines.push(`${indent}${self}[/"${text}"/]`);
        return [self, self];
      case "box":
        lines.push(`${indent}${self}["${text}"]`);
        return [self, self];
    }
  };
  const [entry, exit] = sequence(plan.nodes, "  ");
  lines.push(`  start --> ${entry}`, `  ${exit} --> finish(("end"))`);
  return lines.join("\n");
}

function escape(text: string): string {
  return text.replaceAll('"', "#quot;");
}
