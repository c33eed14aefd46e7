/**
 * The plan: what a workflow compiles to. Plain JSON, deterministic, hashable.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Retry settings as they appear in a plan (durations in milliseconds). */
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

/** A step: runs a function once its input arrives. */
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

/** A named sequence used as a branch or body. */
export interface PlanFlow {
  /** Node kind. */
  kind: "flow";
  /** Name (the branch label). */
  name: string;
  /** The nodes, in order. */
  nodes: PlanNode[];
}

/** A branch or body: a single step or a sequence. */
export type PlanBranch = PlanStep | PlanFlow;

/** A condition choosing one of two branches. */
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

/** Branches that run concurrently. */
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

/** A body repeated a number of times. */
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

/** A body repeated while a condition holds. */
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

/** A body run once per item. */
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

/** A durable sleep for a duration. */
export interface PlanSleep {
  /** Node kind. */
  kind: "sleep";
  /** Name, unique among siblings. */
  name: string;
  /** How long, in milliseconds. */
  durationMs: number;
}

/** A durable sleep until a time. */
export interface PlanSleepUntil {
  /** Node kind. */
  kind: "sleepUntil";
  /** Name, unique among siblings. */
  name: string;
  /** The fixed wake time (epoch ms); absent when computed from the value. */
  at?: number;
}

/** A wait for one of some signals. */
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
}

/** Any node of a plan. */
export type PlanNode =
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

/** A whole workflow's plan. */
export interface Plan {
  /** The workflow name. */
  workflow: string;
  /** The workflow version. */
  version: string;
  /** The top-level nodes, in order. */
  nodes: PlanNode[];
}

/** The structure of a node: kind, name and nesting only. */
function shape(node: PlanNode): unknown[] {
  switch (node.kind) {
    case "flow":
      return [node.kind, node.name, node.nodes.map(shape)];
    case "if":
      return [
        node.kind,
        node.name,
        shape(node.then),
        node.otherwise ? shape(node.otherwise) : null,
      ];
    case "parallel":
      return [node.kind, node.name, node.branches.map(shape)];
    case "loop":
    case "while":
    case "map":
      return [node.kind, node.name, shape(node.body)];
    default:
      return [node.kind, node.name];
  }
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
  const label = (node: PlanNode): string => {
    switch (node.kind) {
      case "step":
        return node.name;
      case "sleep":
        return `sleep ${node.name} ${node.durationMs}ms`;
      case "sleepUntil":
        return `sleep until ${node.name}`;
      case "waitForSignal":
      case "waitForAnySignal":
        return `wait ${node.name}: ${node.signals.join(" | ")}`;
      default:
        return `${node.kind} ${node.name}`;
    }
  };
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
    switch (node.kind) {
      case "flow":
        return sequence(node.nodes, indent);
      case "if": {
        const join = id();
        lines.push(`${indent}${self}{"${escape(label(node))}"}`, `${indent}${join}(( ))`);
        const [thenIn, thenOut] = branch(node.then, indent);
        lines.push(`${indent}${self} -->|then| ${thenIn}`, `${indent}${thenOut} --> ${join}`);
        if (node.otherwise) {
          const [elseIn, elseOut] = branch(node.otherwise, indent);
          lines.push(`${indent}${self} -->|else| ${elseIn}`, `${indent}${elseOut} --> ${join}`);
        } else {
          lines.push(`${indent}${self} -->|else| ${join}`);
        }
        return [self, join];
      }
      case "parallel":
      case "loop":
      case "while":
      case "map": {
        const join = id();
        lines.push(`${indent}subgraph ${self}_g ["${escape(label(node))}"]`);
        lines.push(`${indent}  ${self}[["${escape(node.kind)}"]]`, `${indent}  ${join}(( ))`);
        const bodies = node.kind === "parallel" ? node.branches : [node.body];
        for (const body of bodies) {
          const [entry, exit] = branch(body, indent + "  ");
          const edge = node.kind === "parallel" ? `|${escape(body.name)}|` : "";
          lines.push(`${indent}  ${self} -->${edge} ${entry}`, `${indent}  ${exit} --> ${join}`);
        }
        if (node.kind !== "parallel") lines.push(`${indent}  ${join} -.->|repeat| ${self}`);
        lines.push(`${indent}end`);
        return [self, join];
      }
      case "sleep":
      case "sleepUntil":
        lines.push(`${indent}${self}(["${escape(label(node))}"])`);
        return [self, self];
      case "waitForSignal":
      case "waitForAnySignal":
        lines.push(`${indent}${self}[/"${escape(label(node))}"/]`);
        return [self, self];
      default:
        lines.push(`${indent}${self}["${escape(label(node))}"]`);
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
