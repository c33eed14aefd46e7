/**
 * What each builder method makes: the checked runtime node of every kind, and
 * the options of `workflow()`. The `Workflow` class (`builder.ts`) adds the
 * node to a new builder; it passes in how a branch argument becomes a node,
 * since only the class can read another builder's nodes.
 *
 * @module
 */
import { compileFlowControl, type FlowControl } from "./flow.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { toStoredTime } from "./time.ts";
import { hasControlCharacters } from "./_text.ts";
import type { ChildWorkflow, RtBranch, RtNode, RtStep } from "./nodes.ts";
import {
  checkFunction,
  checkInteger,
  checkName,
  checkOptionsObject,
  compileChildOptions,
  compileStepOptions,
  describe,
  isStepDef,
} from "./builder_options.ts";
import type { StepOptions, WorkflowOptions } from "./builder_types.ts";

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

/**
 * @internal Turns a branch argument (a step function, a sub-flow or a step
 * definition) into the node labelled `label`; `what` names it in errors.
 */
export type BranchOf = (branch: unknown, label: string, what: string, named?: boolean) => RtBranch;

/**
 * @internal The node of a branch argument; `flowNodes` gives the nodes of a
 * builder (undefined for anything else), `where` names the builder in errors.
 */
export function branchNode(
  branch: unknown,
  label: string,
  what: string,
  named: boolean,
  where: string,
  flowNodes: (value: unknown) => readonly RtNode[] | undefined,
): RtBranch {
  if (typeof branch === "function") {
    const step: RtStep = { kind: "step", name: label, fn: branch as AnyFn };
    if (!named) step.label = true;
    return step;
  }
  const nodes = flowNodes(branch);
  if (nodes !== undefined) return { kind: "flow", name: label, nodes };
  if (isStepDef(branch)) {
    const options = branch.options
      ? compileStepOptions(branch.options, `step definition '${branch.name}'`)
      : {};
    return { kind: "step", name: label, fn: branch.fn, def: branch, ...options };
  }
  throw new TypeError(
    `Cannot use ${
      describe(branch)
    } as ${what} in ${where}: pass a step function, a flow() or a defineStep()`,
  );
}

/** @internal The node of `.step(name, fn, options)` or `.step(def, options)`. */
export function stepNode(
  nameOrDef: unknown,
  fnOrOptions: unknown,
  maybeOptions: StepOptions<unknown> | undefined,
  where: string,
): RtNode {
  if (isStepDef(nameOrDef)) {
    const def = nameOrDef;
    checkName(def.name, where);
    const options = { ...def.options, ...(fnOrOptions as StepOptions | undefined) };
    const compiled = compileStepOptions(options, `step '${def.name}' of ${where}`);
    return { kind: "step", name: def.name, fn: def.fn, def, ...compiled };
  }
  checkName(nameOrDef, where);
  const fn = checkFunction(fnOrOptions, `the function of step '${nameOrDef}'`);
  const compiled = compileStepOptions(maybeOptions, `step '${nameOrDef}' of ${where}`);
  return { kind: "step", name: nameOrDef, fn, ...compiled };
}

/** @internal The node of `.if(name, cond, then, otherwise?)`. */
export function ifNode(
  name: string,
  cond: unknown,
  then: unknown,
  otherwise: unknown,
  where: string,
  branch: BranchOf,
): RtNode {
  checkName(name, where);
  const node: RtNode = {
    kind: "if",
    name,
    cond: checkFunction(cond, `the condition of if '${name}'`),
    then: branch(then, "then", `the 'then' branch of if '${name}'`),
  };
  if (otherwise !== undefined) {
    node.otherwise = branch(otherwise, "else", `the 'otherwise' branch of if '${name}'`);
  }
  return node;
}

/** @internal The node of `.parallel(name, branches, options)`. */
export function parallelNode(
  name: string,
  branches: unknown,
  options: unknown,
  where: string,
  branch: BranchOf,
): RtNode {
  checkName(name, where);
  const what = `parallel '${name}'`;
  const record = checkOptionsObject(options, `options of ${what}`);
  let node: RtNode;
  if (Array.isArray(branches)) {
    node = {
      kind: "parallel",
      name,
      shape: "tuple",
      branches: branches.map((b, i) => branch(b, String(i), `branch ${i} of ${what}`)),
    };
  } else if (typeof branches === "object" && branches !== null) {
    node = {
      kind: "parallel",
      name,
      shape: "record",
      branches: Object.entries(branches).map(([label, b]) => {
        checkName(label, `the branches of ${what}`);
        return branch(b, label, `branch '${label}' of ${what}`, true);
      }),
    };
  } else {
    throw new TypeError(
      `Cannot use ${describe(branches)} as the branches of ${what}: pass an array or an object`,
    );
  }
  if (record.concurrency !== undefined) {
    node.concurrency = checkInteger(record.concurrency, `'concurrency' of ${what}`, 1);
  }
  return node;
}

/** @internal The node of `.loop(name, times, body)`. */
export function loopNode(
  name: string,
  times: unknown,
  body: unknown,
  where: string,
  branch: BranchOf,
): RtNode {
  checkName(name, where);
  const count = typeof times === "function"
    ? times as AnyFn
    : checkInteger(times, `the count of loop '${name}'`, 0);
  return {
    kind: "loop",
    name,
    times: count,
    body: branch(body, "body", `the body of loop '${name}'`),
  };
}

/**
 * @internal A maker of a node with a function of the value, a body and
 * options: `.while` (a condition) and `.map` (the items).
 */
export type BodyNodeOf = (
  name: string,
  fn: unknown,
  body: unknown,
  options: unknown,
  where: string,
  branch: BranchOf,
) => RtNode;

/** @internal The node of `.while(name, cond, body, options)`. */
export const whileNode: BodyNodeOf = (name, cond, body, options, where, branch) => {
  checkName(name, where);
  const record = checkOptionsObject(options, `options of while '${name}'`);
  const maxIterations = record.maxIterations === undefined
    ? 10_000
    : checkInteger(record.maxIterations, `'maxIterations' of while '${name}'`, 1);
  return {
    kind: "while",
    name,
    cond: checkFunction(cond, `the condition of while '${name}'`),
    maxIterations,
    body: branch(body, "body", `the body of while '${name}'`),
  };
};

/** @internal The node of `.map(name, items, body, options)`. */
export const mapNode: BodyNodeOf = (name, items, body, options, where, branch) => {
  checkName(name, where);
  const record = checkOptionsObject(options, `options of map '${name}'`);
  const node: RtNode = {
    kind: "map",
    name,
    items: checkFunction(items, `the items of map '${name}'`),
    body: branch(body, "body", `the body of map '${name}'`),
  };
  if (record.concurrency !== undefined) {
    node.concurrency = checkInteger(record.concurrency, `'concurrency' of map '${name}'`, 1);
  }
  return node;
};

/** @internal The node of `.sleep(name, duration)`. */
export function sleepNode(name: string, duration: Duration, where: string): RtNode {
  checkName(name, where);
  const durationMs = parseDuration(duration, `the duration of sleep '${name}'`);
  return { kind: "sleep", name, durationMs };
}

/** @internal The node of `.sleepUntil(name, at)`. */
export function sleepUntilNode(name: string, at: unknown, where: string): RtNode {
  checkName(name, where);
  let when: number | AnyFn;
  if (typeof at === "function") when = at as AnyFn;
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
  return { kind: "sleepUntil", name, at: when };
}

/** @internal The node of `.waitForSignal(name, signal, options)`. */
export function waitForSignalNode(
  name: string,
  signal: unknown,
  options: unknown,
  where: string,
): RtNode {
  checkName(name, where);
  checkName(signal, `the signal of wait '${name}'`);
  return waitNode("waitForSignal", name, [signal], options);
}

/** @internal The node of `.waitForAnySignal(name, signals, options)`. */
export function waitForAnySignalNode(
  name: string,
  signals: unknown,
  options: unknown,
  where: string,
): RtNode {
  checkName(name, where);
  if (!Array.isArray(signals) || signals.length === 0) {
    throw new TypeError(
      `Cannot wait for ${describe(signals)} in '${name}': pass a non-empty array of signal names`,
    );
  }
  for (const signal of signals) checkName(signal, `the signals of wait '${name}'`);
  if (new Set(signals).size !== signals.length) {
    throw new TypeError(`Cannot wait for the same signal twice in '${name}': list each once`);
  }
  return waitNode("waitForAnySignal", name, [...signals], options);
}

function waitNode(
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

/**
 * @internal The node of `.call` or `.spawn`; `childName` is the child's
 * workflow name when `child` is a builder (empty for a sub-flow).
 */
export function childNode(
  kind: "call" | "spawn",
  name: string,
  child: unknown,
  childName: string | undefined,
  options: unknown,
  where: string,
): RtNode {
  checkName(name, where);
  if (childName === undefined || childName === "") {
    throw new TypeError(
      `Cannot use ${
        describe(child)
      } as the child of ${kind} '${name}' in ${where}: pass a workflow built with workflow()`,
    );
  }
  const fields = compileChildOptions(kind, options, `${kind} '${name}' of ${where}`);
  return { kind, name, workflow: childName, child: child as ChildWorkflow, ...fields };
}

/** @internal The checked options of `workflow(name, options)`. */
export function workflowSettings(
  name: string,
  options: WorkflowOptions<unknown> | undefined,
): { version: string; flow: FlowControl | undefined; timeoutMs: number | undefined } {
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
  return { version, flow: compileFlowControl(record, name), timeoutMs };
}
