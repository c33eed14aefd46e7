/**
 * Which steps of a workflow can be compensated, found by step key: a key's
 * iteration indexes (`#3`) are dropped, and what is left names one step of the
 * plan (`retryLoop#3/charge` → `retryLoop/charge`).
 *
 * @module
 */
import type { RtBranch, RtNode, RtStep } from "./nodes.ts";

/** Compensable steps by key without iteration indexes; absent when a workflow has none. */
const cache = new WeakMap<readonly RtNode[], ReadonlyMap<string, RtStep> | null>();

/**
 * @internal The steps with a `compensate` function of a workflow's nodes, by
 * their key without iteration indexes; `undefined` when there is none (a
 * workflow without compensation pays nothing for it).
 */
export function compensableSteps(
  nodes: readonly RtNode[],
): ReadonlyMap<string, RtStep> | undefined {
  let found = cache.get(nodes);
  if (found === undefined) {
    const steps = new Map<string, RtStep>();
    visitAll(nodes, "", steps);
    found = steps.size > 0 ? steps : null;
    cache.set(nodes, found);
  }
  return found ?? undefined;
}

/** @internal A step key without its iteration indexes: `a#2/b#10/c` → `a/b/c`. */
export function planKey(key: string): string {
  return key.includes("#") ? key.replace(/#\d+/g, "") : key;
}

/** @internal The key of a step's compensation checkpoint. */
export function compensationKey(stepKey: string): string {
  return `${stepKey}/compensate`;
}

function visitAll(nodes: readonly RtNode[], prefix: string, out: Map<string, RtStep>): void {
  for (const node of nodes) visit(node, prefix + node.name, out);
}

/** Mirrors how the interpreter keys children (see `lib/interpreter.ts`). */
function visit(node: RtNode, key: string, out: Map<string, RtStep>): void {
  switch (node.kind) {
    case "step":
      if (node.compensate) out.set(key, node);
      return;
    case "flow":
      return visitAll(node.nodes, key + "/", out);
    case "if":
      visit(node.then, `${key}/then`, out);
      if (node.otherwise) visit(node.otherwise, `${key}/else`, out);
      return;
    case "parallel":
      for (const branch of node.branches) visit(branch, `${key}/${branch.name}`, out);
      return;
    case "loop":
    case "while":
    case "map":
      return visit(node.body as RtBranch, key, out);
    default:
      return;
  }
}
