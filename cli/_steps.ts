/**
 * What the dashboard derives from a run's history: each step key's attempts
 * (start, end, outcome), its latest value, and each plan node's state.
 *
 * @module
 */
import type { PlanBranch, PlanNode } from "../lib/plan.ts";
import type { ErrorInfo } from "../lib/errors.ts";
import type { HistoryEvent, RunRecord } from "../lib/records.ts";

/** The state a plan node or a step is drawn in. */
export type NodeState =
  | "done"
  | "running"
  | "failed"
  | "waiting"
  | "sleeping"
  | "pending"
  | "skipped"
  | "cancelled";

/** One attempt of a step (or one wait). */
export interface Attempt {
  /** Attempt number (1 for waits). */
  attempt: number;
  /** Start (epoch ms). */
  start: number;
  /** End (epoch ms), absent while in flight. */
  end?: number;
  /** How it ended. */
  outcome: "completed" | "failed" | "open";
  /** The error of a failed attempt. */
  error?: ErrorInfo;
  /** When a retry was scheduled after it, its wake time. */
  retryAt?: number;
}

/** Everything the history says about one step key. */
export interface StepTrace {
  /** The step key. */
  key: string;
  /** Attempts in order. */
  attempts: Attempt[];
  /** The output, once completed. */
  output?: unknown;
  /** Whether a `step.completed` was seen. */
  completed: boolean;
}

/** Groups a history by step key, in order of first start. */
export function traceSteps(history: readonly HistoryEvent[]): StepTrace[] {
  const traces = new Map<string, StepTrace>();
  const trace = (key: string) => {
    let t = traces.get(key);
    if (!t) traces.set(key, t = { key, attempts: [], completed: false });
    return t;
  };
  const open = (t: StepTrace, attempt: number) =>
    t.attempts.findLast((a) => a.attempt === attempt && a.outcome === "open");
  for (const e of history) {
    if (e.step === undefined) continue;
    const at = e.at.getTime();
    const t = trace(e.step);
    const attempt = e.attempt ?? 1;
    switch (e.type) {
      case "step.started":
        t.attempts.push({ attempt, start: at, outcome: "open" });
        break;
      case "step.completed": {
        const a = open(t, attempt) ?? t.attempts[
          t.attempts.push({
            attempt,
            start: at,
            outcome: "open",
          }) - 1
        ]!;
        a.end = at;
        a.outcome = "completed";
        t.completed = true;
        if (e.output !== undefined) t.output = e.output;
        break;
      }
      case "step.failed": {
        const a = open(t, attempt) ??
          t.attempts[t.attempts.push({ attempt, start: at, outcome: "open" }) - 1]!;
        a.end = at;
        a.outcome = "failed";
        if (e.error) a.error = e.error;
        break;
      }
      case "step.retried": {
        const previous = t.attempts.at(-1);
        if (previous && e.wakeAt) previous.retryAt = e.wakeAt.getTime();
        break;
      }
    }
  }
  return [...traces.values()].filter((t) => t.attempts.length > 0);
}

/** A plan node with the state derived for it, and its children. */
export interface NodeView {
  /** The plan node. */
  node: PlanNode;
  /** Its derived state. */
  state: NodeState;
  /** Step keys matched (iterations count separately). */
  keys: number;
  /** Attempts in all, over the matched keys. */
  attempts: number;
  /** Children: a sequence's nodes, or the branches of if/parallel, or a body. */
  children: NodeView[];
  /** The label of this node in its parent (`then`, `else`, a branch name). */
  edge?: string;
}

/** The step keys of one leaf: its key with `#<n>` for each enclosing iteration (`\0`). */
function leafPattern(key: string): RegExp {
  const parts = key.split("\u0000").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join("#\\d+")}$`);
}

/**
 * Derives each plan node's state from the step traces and the run's status:
 * leaves from their attempts; composites from their children; a node with no
 * events is `done` when a later sibling has begun (sleeps leave no step
 * events), `skipped` inside an `if` branch not taken.
 */
export function planView(
  nodes: readonly PlanNode[],
  traces: readonly StepTrace[],
  run: Pick<RunRecord, "status" | "error" | "waitingFor" | "waitingForChildren">,
): NodeView[] {
  const finished = run.status === "completed" || run.status === "failed" ||
    run.status === "cancelled";

  const leafState = (matched: StepTrace[], node: PlanNode): NodeState => {
    if (matched.length === 0) return "pending";
    let state: NodeState = "done";
    for (const t of matched) {
      const last = t.attempts.at(-1)!;
      if (t.completed) continue;
      if (last.outcome === "failed") {
        state = last.retryAt !== undefined && !finished ? "waiting" : "failed";
      } else if (last.outcome === "open") {
        if (finished) state = run.status === "cancelled" ? "cancelled" : "failed";
        else if (node.kind === "waitForSignal" || node.kind === "waitForAnySignal") {
          state = "waiting";
        } else state = run.status === "running" ? "running" : run.status as NodeState;
      }
      if (state === "failed" || state === "running") break;
    }
    return state;
  };

  const combine = (states: NodeState[]): NodeState => {
    for (const s of ["failed", "running", "waiting", "sleeping", "cancelled"] as const) {
      if (states.includes(s)) return s;
    }
    const active = states.filter((s) => s !== "skipped");
    if (active.length > 0 && active.every((s) => s === "done")) return "done";
    if (active.some((s) => s === "done")) return finished ? "done" : "running";
    return "pending";
  };

  // key prefixes use \0 where an iteration number goes
  const sequence = (list: readonly PlanNode[], prefix: string): NodeView[] => {
    const views = list.map((n) => view(n, prefix ? `${prefix}/${n.name}` : n.name));
    let last = -1;
    views.forEach((v, i) => {
      if (v.state !== "pending") last = i;
    });
    views.forEach((v, i) => {
      if (v.state === "pending" && (i < last || run.status === "completed")) markDone(v);
    });
    return views;
  };

  // Steps in flight leave no events until they finish, sleeps none at all, and
  // a wait none until its signal arrives: an unfinished run is at the first
  // node after the last one that began, in every sequence it is inside.
  const advance = (views: readonly NodeView[]): void => {
    let last = -1;
    views.forEach((v, i) => {
      if (v.state !== "pending") last = i;
    });
    const active = views[last];
    if (active && active.state !== "done") return descend(active);
    const next = views[last + 1];
    if (!next) return;
    front(next);
    if (next.state !== "pending") return;
    // A suspended run whose next node is not a sleep or wait has passed it
    // already (e.g. a sleep before the wait it is in): find the node it is at.
    const at = views.findIndex((v, i) => i > last && parks(v));
    if (at < 0) return;
    views[at]!.state = run.status as NodeState;
    for (let i = last + 1; i < at; i++) markDone(views[i]!);
  };

  const parks = (v: NodeView): boolean => {
    if (run.status === "sleeping") return v.node.kind === "sleep" || v.node.kind === "sleepUntil";
    if (run.status !== "waiting") return false;
    const node = v.node;
    // A `.call` leaves no step event: the run waits in the first call it has not passed.
    if (node.kind === "call") return run.waitingForChildren !== undefined;
    return (node.kind === "waitForSignal" || node.kind === "waitForAnySignal") &&
      node.signals.some((s) => run.waitingFor?.includes(s));
  };

  const enter = (v: NodeView): void => {
    if (v.node.kind === "flow") advance(v.children);
    else if (v.state === "pending") front(v);
    else descend(v);
    recompute(v);
  };

  const front = (v: NodeView): void => {
    switch (v.node.kind) {
      case "step":
        if (run.status === "running") v.state = "running";
        break;
      case "sleep":
      case "sleepUntil":
        if (run.status === "sleeping") v.state = "sleeping";
        break;
      case "waitForSignal":
      case "waitForAnySignal":
        if (run.status === "waiting" && run.waitingForChildren === undefined) v.state = "waiting";
        break;
      case "call":
        if (run.status === "waiting" && run.waitingForChildren !== undefined) v.state = "waiting";
        break;
      case "if":
        break; // which branch is not recorded until it runs
      default:
        for (const c of v.children) enter(c);
        recompute(v);
    }
  };

  const descend = (v: NodeView): void => {
    if (v.children.length === 0) return;
    for (const c of v.children) if (c.state !== "skipped" && c.state !== "done") enter(c);
    recompute(v);
  };

  const recompute = (v: NodeView): void => {
    if (v.children.length > 0) v.state = combine(v.children.map((c) => c.state));
  };

  const markDone = (v: NodeView) => {
    v.state = "done";
    for (const c of v.children) if (c.state === "pending") markDone(c);
  };

  const branch = (b: PlanBranch, key: string, edge: string): NodeView => {
    const v = b.kind === "flow"
      ? {
        node: b,
        state: "pending" as NodeState,
        keys: 0,
        attempts: 0,
        children: sequence(b.nodes, key),
      }
      : view(b, key);
    if (b.kind === "flow") {
      v.state = combine(v.children.map((c) => c.state));
      v.keys = v.children.reduce((n, c) => n + c.keys, 0);
      v.attempts = v.children.reduce((n, c) => n + c.attempts, 0);
    }
    v.edge = edge;
    return v;
  };

  const view = (node: PlanNode, key: string): NodeView => {
    switch (node.kind) {
      case "if": {
        const children = [branch(node.then, `${key}/then`, "then")];
        if (node.otherwise) children.push(branch(node.otherwise, `${key}/else`, "else"));
        if (children.some((c) => c.state !== "pending")) {
          for (const c of children) if (c.state === "pending") skip(c);
        }
        return summarize(node, children);
      }
      case "parallel":
        return summarize(node, node.branches.map((b) => branch(b, `${key}/${b.name}`, b.name)));
      case "loop":
      case "while":
      case "map":
        return summarize(node, [branch(node.body, `${key}\u0000`, "")]);
      case "flow":
        return branch(node, key, node.name);
      default: {
        const pattern = leafPattern(key);
        const matched = traces.filter((t) => pattern.test(t.key));
        return {
          node,
          state: leafState(matched, node),
          keys: matched.length,
          attempts: matched.reduce((n, t) => n + t.attempts.length, 0),
          children: [],
        };
      }
    }
  };

  const skip = (v: NodeView) => {
    v.state = "skipped";
    for (const c of v.children) skip(c);
  };

  const summarize = (node: PlanNode, children: NodeView[]): NodeView => ({
    node,
    state: combine(children.map((c) => c.state)),
    keys: children.reduce((n, c) => n + c.keys, 0),
    attempts: children.reduce((n, c) => n + c.attempts, 0),
    children,
  });

  const top = sequence(nodes, "");
  if (!finished) advance(top);
  return top;
}

/** The paths (`prepare/invoice/number`) of the leaves the run is at now. */
export function activeLeaves(views: readonly NodeView[], prefix = ""): string[] {
  const out: string[] = [];
  for (const v of views) {
    // a loop's body and a sequence without an edge add nothing to the path
    const transparent = v.edge === "" || (v.node.kind === "flow" && v.edge === undefined);
    const path = transparent ? prefix : `${prefix}${v.edge ?? v.node.name}/`;
    if (v.children.length > 0) out.push(...activeLeaves(v.children, path));
    else if (v.state === "running" || v.state === "waiting" || v.state === "sleeping") {
      out.push(path.slice(0, -1));
    }
  }
  return out;
}
