/**
 * The node model, once. The plan node types (`lib/plan.ts`) are the model; a
 * runtime node is derived from its plan node by adding the functions of its
 * kind ({@linkcode RtFields}). One table ({@linkcode NODE_KINDS}) holds what
 * every layer needs to know per kind: how a runtime node becomes a plan node,
 * how it nests (the structural hash, Mermaid), how Mermaid draws it and which
 * YAML keys it takes. The interpreter's per-kind table (`lib/interpreter.ts`)
 * is typed by the same kinds, so a kind missing from either fails the type check.
 *
 * @module
 */
import type { PlanBranch, PlanNode } from "./plan.ts";
import type { StepDef } from "./builder_types.ts";

/** @internal What a call or spawn node holds of its child workflow (a `Workflow`). */
export interface ChildWorkflow {
  readonly name: string;
  readonly version: string;
  readonly planHash: string;
}

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

/** @internal A node kind: `step`, `if`, `parallel`, ... */
export type NodeKind = PlanNode["kind"];

/** @internal The plan node of a kind. */
export type PlanOf<K extends NodeKind> = PlanNode extends infer P
  ? P extends PlanNode ? K extends P["kind"] ? P : never : never
  : never;

/**
 * @internal The fields a runtime node has instead of (or besides) its plan
 * node's: its functions, and its children as runtime nodes.
 */
export interface RtFields {
  step: {
    fn: AnyFn;
    def?: StepDef<unknown, unknown>;
    /** True when the name is a label made up by the builder (`then`, `body`, `0`). */
    label?: boolean;
    /** Undoes the step: `(output, ctx)`, run when the run fails, times out or is cancelled. */
    compensate?: AnyFn;
  };
  flow: { nodes: readonly RtNode[] };
  if: { cond: AnyFn; then: RtBranch; otherwise?: RtBranch };
  parallel: { branches: RtBranch[] };
  loop: { times: number | AnyFn; body: RtBranch };
  while: { cond: AnyFn; body: RtBranch };
  map: { items: AnyFn; body: RtBranch };
  sleep: Record<never, never>;
  sleepUntil: { at: number | AnyFn };
  waitForSignal: { onTimeout?: AnyFn; combine?: AnyFn };
  waitForAnySignal: { onTimeout?: AnyFn; combine?: AnyFn };
  call: ChildFields;
  spawn: ChildFields;
}

/** @internal The runtime fields of `call` and `spawn`: the child, its input and its run id. */
export interface ChildFields {
  child: ChildWorkflow;
  /** The child's input, a function of the value (default: the value). */
  input?: AnyFn;
  /** The child's run id, or a function of the value giving it. */
  id?: string | AnyFn;
}

type Derive<P extends PlanNode> = P extends unknown
  ? Omit<P, keyof RtFields[P["kind"]]> & RtFields[P["kind"]]
  : never;

/** @internal The runtime node of a kind: its plan node plus its functions. */
export type RtOf<K extends NodeKind> = Derive<PlanOf<K>>;
/** @internal Any runtime node. */
export type RtNode = Derive<PlanNode>;
/** @internal A runtime step. */
export type RtStep = RtOf<"step">;
/** @internal A runtime sequence. */
export type RtFlow = RtOf<"flow">;
/** @internal A runtime branch or body. */
export type RtBranch = RtStep | RtFlow;

/** @internal How Mermaid draws a kind. */
export type MermaidShape = "box" | "sequence" | "choice" | "group" | "pause" | "wait";

/** @internal What every layer knows about one node kind. */
export interface KindSpec<K extends NodeKind> {
  /** The plan node of a runtime node: functions dropped, children converted with `branch`. */
  plan(node: RtOf<K>, branch: (child: RtBranch) => PlanBranch): PlanOf<K>;
  /** The children, in order; `null` holds the place of an absent optional child. */
  children(node: PlanOf<K>): readonly (PlanNode | null)[];
  /**
   * How children enter the structural hash: `list` as one array (a sequence,
   * parallel branches), `slots` one element each (an `if`'s two branches, a body).
   */
  nesting: "list" | "slots";
  /** How Mermaid draws the node. */
  mermaid: MermaidShape;
  /** The Mermaid label (default: kind and name). */
  label?(node: PlanOf<K>): string;
  /** The YAML keys of the kind; the first is the kind key, holding the name. */
  yaml: readonly string[];
}

const none = (): readonly (PlanNode | null)[] => [];

/** @internal The per-kind table. */
export const NODE_KINDS: { readonly [K in NodeKind]: KindSpec<K> } = {
  step: {
    plan(node) {
      const out: PlanOf<"step"> = { kind: "step", name: node.name };
      if (node.retry) out.retry = { ...node.retry };
      if (node.timeoutMs !== undefined) out.timeoutMs = node.timeoutMs;
      return out;
    },
    children: none,
    nesting: "slots",
    mermaid: "box",
    label: (node) => node.name,
    yaml: ["step", "action", "retry", "timeout", "compensate"],
  },
  flow: {
    plan: (node) => ({ kind: "flow", name: node.name, nodes: node.nodes.map(planNode) }),
    children: (node) => node.nodes,
    nesting: "list",
    mermaid: "sequence",
    yaml: [],
  },
  if: {
    plan(node, branch) {
      const out: PlanOf<"if"> = { kind: "if", name: node.name, then: branch(node.then) };
      if (node.otherwise) out.otherwise = branch(node.otherwise);
      return out;
    },
    children: (node) => [node.then, node.otherwise ?? null],
    nesting: "slots",
    mermaid: "choice",
    yaml: ["if", "when", "then", "else"],
  },
  parallel: {
    plan(node, branch) {
      const out: PlanOf<"parallel"> = {
        kind: "parallel",
        name: node.name,
        shape: node.shape,
        branches: node.branches.map(branch),
      };
      if (node.concurrency !== undefined) out.concurrency = node.concurrency;
      return out;
    },
    children: (node) => node.branches,
    nesting: "list",
    mermaid: "group",
    yaml: ["parallel", "branches", "concurrency"],
  },
  loop: {
    plan: (node, branch) => ({
      kind: "loop",
      name: node.name,
      times: typeof node.times === "number" ? node.times : "dynamic",
      body: branch(node.body),
    }),
    children: (node) => [node.body],
    nesting: "slots",
    mermaid: "group",
    yaml: ["loop", "times", "do"],
  },
  while: {
    plan: (node, branch) => ({
      kind: "while",
      name: node.name,
      maxIterations: node.maxIterations,
      body: branch(node.body),
    }),
    children: (node) => [node.body],
    nesting: "slots",
    mermaid: "group",
    yaml: ["while", "when", "do", "maxIterations"],
  },
  map: {
    plan(node, branch) {
      const out: PlanOf<"map"> = { kind: "map", name: node.name, body: branch(node.body) };
      if (node.concurrency !== undefined) out.concurrency = node.concurrency;
      return out;
    },
    children: (node) => [node.body],
    nesting: "slots",
    mermaid: "group",
    yaml: ["map", "items", "do", "concurrency"],
  },
  sleep: {
    plan: (node) => ({ kind: "sleep", name: node.name, durationMs: node.durationMs }),
    children: none,
    nesting: "slots",
    mermaid: "pause",
    label: (node) => `sleep ${node.name} ${node.durationMs}ms`,
    yaml: ["sleep", "for"],
  },
  sleepUntil: {
    plan: (node) =>
      typeof node.at === "number"
        ? { kind: "sleepUntil", name: node.name, at: node.at }
        : { kind: "sleepUntil", name: node.name },
    children: none,
    nesting: "slots",
    mermaid: "pause",
    label: (node) => `sleep until ${node.name}`,
    yaml: ["sleepUntil", "at"],
  },
  waitForSignal: {
    plan: planWait,
    children: none,
    nesting: "slots",
    mermaid: "wait",
    label: waitLabel,
    yaml: ["waitForSignal", "signal", "timeout", "onTimeout", "combine"],
  },
  waitForAnySignal: {
    plan: planWait,
    children: none,
    nesting: "slots",
    mermaid: "wait",
    label: waitLabel,
    yaml: ["waitForAnySignal", "signals", "timeout", "onTimeout"],
  },
  call: {
    plan: planChild,
    children: none,
    nesting: "slots",
    mermaid: "box",
    label: (node) => `call ${node.name}: ${node.workflow}`,
    yaml: ["call", "workflow", "input", "id", "retry"],
  },
  spawn: {
    plan: planChild,
    children: none,
    nesting: "slots",
    mermaid: "box",
    label: (node) => `spawn ${node.name}: ${node.workflow}`,
    yaml: ["spawn", "workflow", "input", "id"],
  },
};

function planChild(node: RtOf<"call">): PlanOf<"call"> {
  const out: PlanOf<"call"> = { kind: node.kind, name: node.name, workflow: node.child.name };
  if (node.retry) out.retry = { ...node.retry };
  return out;
}

function planWait(node: RtOf<"waitForSignal">): PlanOf<"waitForSignal"> {
  const out: PlanOf<"waitForSignal"> = {
    kind: node.kind,
    name: node.name,
    signals: [...node.signals],
  };
  if (node.timeoutMs !== undefined) out.timeoutMs = node.timeoutMs;
  if (node.onTimeout) out.onTimeout = true;
  if (node.combine) out.combine = true;
  return out;
}

function waitLabel(node: PlanOf<"waitForSignal">): string {
  return `wait ${node.name}: ${node.signals.join(" | ")}`;
}

/** @internal The table entry of a node's kind. */
export function kindOf(node: { kind: NodeKind }): KindSpec<NodeKind> {
  return NODE_KINDS[node.kind] as KindSpec<NodeKind>;
}

/** @internal The plan node of a runtime node. */
export function planNode(node: RtNode): PlanNode {
  return kindOf(node).plan(node, planNode as (child: RtBranch) => PlanBranch);
}

const childCache = new WeakMap<readonly RtNode[], readonly RtOf<"call">[]>();

/**
 * @internal The `call` and `spawn` nodes anywhere under `nodes` (branches and
 * bodies included), computed once per node list: how the registry finds the
 * child workflows to register, and how an activation knows it may have
 * `.call` children to cancel.
 */
export function childNodes(nodes: readonly RtNode[]): readonly RtOf<"call">[] {
  let found = childCache.get(nodes);
  if (found) return found;
  const out: RtOf<"call">[] = [];
  const visit = (node: RtNode | undefined): void => {
    if (node === undefined) return;
    switch (node.kind) {
      case "call":
      case "spawn":
        out.push(node as RtOf<"call">);
        return;
      case "flow":
        node.nodes.forEach(visit);
        return;
      case "if":
        visit(node.then);
        visit(node.otherwise);
        return;
      case "parallel":
        node.branches.forEach(visit);
        return;
      case "loop":
      case "while":
      case "map":
        visit(node.body);
        return;
      default:
        return;
    }
  };
  nodes.forEach(visit);
  childCache.set(nodes, found = out);
  return found;
}
