/**
 * The loader of YAML workflows: walks the positioned tree of `_document.ts`
 * and calls the builder, reading each key and value with `_reader.ts` (which
 * also compiles the CEL expressions of `_cel.ts`). Every problem is a
 * `YamlWorkflowError` naming the line, the column and the key.
 *
 * @module
 */
import {
  type Branch,
  defineStep,
  flow,
  type StepDef,
  type StepFn,
  type StepOptions,
  type Workflow,
  workflow,
  type WorkflowOptions,
} from "../lib/builder.ts";
import { isStepDef } from "../lib/builder_options.ts";
import { NODE_KINDS, type NodeKind } from "../lib/nodes.ts";
import type { YamlEntry, YamlNode } from "./_document.ts";
import { clip } from "./_errors.ts";
import { NAME, NAME_RULE } from "../lib/validate.ts";
import { describeNode, quoteList, YamlReader } from "./_reader.ts";
import type { YamlAction } from "./mod.ts";

type W = Workflow<unknown, unknown, unknown>;
type AnyBranch = Branch<unknown, unknown>;
type Cond = (value: unknown, input: unknown) => boolean;

/** Most nodes (steps, branches and control nodes, at any depth) in one workflow. */
const MAX_WORKFLOW_NODES = 2_000;

/** The kinds a YAML node can have: every node kind but the anonymous sequence. */
type Kind = Exclude<NodeKind, "flow">;
/** The keys each kind of node accepts (from the node table); the first is the kind key. */
const NODE_KEYS = Object.fromEntries(
  Object.entries(NODE_KINDS).filter(([, spec]) => spec.yaml.length > 0).map((
    [kind, spec],
  ) => [kind, spec.yaml]),
) as { readonly [K in Kind]: readonly string[] };
const KINDS = Object.keys(NODE_KEYS) as Kind[];
const WORKFLOW_KEYS = ["name", "version", "description", "timeout", "steps"] as const;
const ACTION_KEYS = ["action", "retry", "timeout", "compensate"] as const;

function isKind(key: string): key is Kind {
  return Object.hasOwn(NODE_KEYS, key);
}

/** Turns a positioned tree into builder calls. */
export class Loader {
  readonly #read: YamlReader;
  readonly #actions: Record<string, YamlAction>;
  readonly #workflows: Record<string, W>;
  #count = 0;

  constructor(
    text: string,
    actions: Record<string, YamlAction>,
    workflows: Record<string, W> = {},
  ) {
    this.#read = new YamlReader(text);
    this.#actions = actions;
    this.#workflows = workflows;
  }

  workflow(root: YamlNode, name: string | undefined, version: string | undefined): W {
    if (root.kind !== "mapping") {
      this.#read.fail(
        root.offset,
        undefined,
        `Cannot use ${describeNode(root)} as a workflow: write a mapping with 'name' and 'steps'`,
      );
    }
    const fields = this.#read.fields(root, WORKFLOW_KEYS, "the workflow");
    if (name === undefined) {
      const nameEntry = fields.get("name");
      if (!nameEntry) {
        this.#read.fail(
          root.offset,
          "name",
          "Cannot find the workflow's 'name': add it, or pass the 'name' option",
        );
      }
      name = this.#read.name(nameEntry, "the workflow");
    }
    const versionEntry = fields.get("version");
    if (version === undefined && versionEntry) {
      const node = versionEntry.value;
      version = node.kind === "scalar" && typeof node.value === "number" &&
          Number.isSafeInteger(node.value)
        ? String(node.value)
        : this.#read.string(versionEntry, "the workflow");
      if (version.length === 0 || version.length > 64) {
        this.#read.fail(
          node.offset,
          "version",
          `Cannot use the version '${
            clip(version)
          }': use a non-empty string of up to 64 characters`,
        );
      }
    }
    const description = fields.get("description");
    if (description) this.#read.string(description, "the workflow");
    const steps = this.#read.need(fields, "steps", root, "the workflow");
    const options: WorkflowOptions = {};
    if (version !== undefined) options.version = version;
    const timeout = fields.get("timeout");
    if (timeout) options.timeout = this.#read.duration(timeout, "the workflow");
    const builder = workflow<unknown>(name, options);
    return this.#sequence(builder, steps, `workflow '${name}'`);
  }

  /** Counts one more node of the workflow, failing past the limit. */
  #counted(offset: number, key: string): void {
    if (++this.#count > MAX_WORKFLOW_NODES) {
      this.#read.fail(
        offset,
        key,
        `Cannot build a workflow of more than ${MAX_WORKFLOW_NODES} nodes: split it into several workflows`,
      );
    }
  }

  #sequence(builder: W, entry: YamlEntry, where: string): W {
    const node = entry.value;
    if (node.kind !== "sequence") {
      this.#read.fail(
        node.offset,
        entry.key,
        `Cannot use ${describeNode(node)} as '${entry.key}' of ${where}: use a list of nodes`,
      );
    }
    if (node.items.length === 0) {
      this.#read.fail(
        node.offset,
        entry.key,
        `Cannot use an empty list as '${entry.key}' of ${where}: add at least one node`,
      );
    }
    for (const item of node.items) builder = this.#node(builder, item, entry.key, where);
    return builder;
  }

  #node(builder: W, node: YamlNode, parentKey: string, parent: string): W {
    if (node.kind !== "mapping") {
      this.#read.fail(
        node.offset,
        parentKey,
        `Cannot use ${
          describeNode(node)
        } as a node of ${parent}: use a mapping such as '{ step: name, action: fn }'`,
      );
    }
    const kinds = node.entries.filter((entry) => isKind(entry.key));
    if (kinds.length === 0) {
      this.#read.fail(
        node.offset,
        node.entries[0]?.key ?? parentKey,
        `Cannot tell the kind of a node of ${parent}: give it one of the keys ${
          quoteList(KINDS)
        }, holding its name`,
      );
    }
    if (kinds.length > 1) {
      this.#read.fail(
        kinds[1]!.offset,
        kinds[1]!.key,
        `Cannot use both '${kinds[0]!.key}' and '${
          kinds[1]!.key
        }' in one node of ${parent}: make them two items of the list`,
      );
    }
    const nameEntry = kinds[0]!;
    const kind = nameEntry.key as Kind;
    this.#counted(node.offset, nameEntry.key);
    const name = this.#read.name(nameEntry, `a ${kind} node of ${parent}`);
    const where = `${kind} '${name}'`;
    const fields = this.#read.fields(node, NODE_KEYS[kind], where);
    const need = (key: string) => this.#read.need(fields, key, node, where);
    const add = (call: () => unknown) => this.#read.build(nameEntry, call) as W;
    switch (kind) {
      case "step": {
        const options = this.#stepOptions(fields, where);
        const actionEntry = fields.get("action") ?? nameEntry;
        const action = this.#action(actionEntry, where);
        return add(() => {
          if (typeof action === "function") return builder.step(name, action, options);
          if (action.name === name) return builder.step(action, options);
          return builder.step(name, action.fn, { ...action.options, ...options });
        });
      }
      case "if": {
        const when = this.#read.expression(need("when"), "bool", where);
        const then = this.#branch(need("then"), where);
        const otherwise = fields.get("else");
        const orElse = otherwise ? this.#branch(otherwise, where) : undefined;
        return add(() =>
          orElse === undefined
            ? builder.if(name, when as Cond, then)
            : builder.if(name, when as Cond, then, orElse)
        );
      }
      case "parallel": {
        const branchesEntry = need("branches");
        const branches = this.#branches(branchesEntry, where);
        const concurrency = fields.get("concurrency");
        const options = concurrency
          ? { concurrency: this.#read.integer(concurrency, where, 1) }
          : {};
        return add(() => builder.parallel(name, branches, options));
      }
      case "loop": {
        const timesEntry = need("times");
        const times = timesEntry.value.kind === "scalar" &&
            typeof timesEntry.value.value === "number"
          ? this.#read.integer(timesEntry, where, 0)
          : this.#read.expression(timesEntry, "count", where) as (v: unknown, i: unknown) => number;
        const body = this.#branch(need("do"), where);
        return add(() => builder.loop(name, times, body));
      }
      case "while": {
        const when = this.#read.expression(need("when"), "bool", where);
        const body = this.#branch(need("do"), where);
        const max = fields.get("maxIterations");
        const options = max ? { maxIterations: this.#read.integer(max, where, 1) } : {};
        return add(() => builder.while(name, when as Cond, body, options));
      }
      case "map": {
        const items = this.#read.expression(need("items"), "list", where);
        const body = this.#branch(need("do"), where);
        const concurrency = fields.get("concurrency");
        const options = concurrency
          ? { concurrency: this.#read.integer(concurrency, where, 1) }
          : {};
        return add(() =>
          builder.map(name, items as (v: unknown, i: unknown) => unknown[], body, options) as W
        );
      }
      case "sleep": {
        const duration = this.#read.duration(need("for"), where);
        return add(() => builder.sleep(name, duration));
      }
      case "sleepUntil": {
        const at = this.#read.time(need("at"), where);
        return add(() =>
          builder.sleepUntil(name, at as number | ((v: unknown, i: unknown) => number | Date))
        );
      }
      case "waitForSignal":
      case "waitForAnySignal": {
        const options = this.#read.waitOptions(fields, where);
        if (kind === "waitForSignal") {
          const signal = this.#read.name(need("signal"), where);
          const combine = fields.get("combine");
          const all = combine
            ? { ...options, combine: this.#read.expression(combine, "value", where, true) }
            : options;
          return add(() => builder.waitForSignal(name, signal, all));
        }
        const signals = this.#read.signals(need("signals"), where);
        return add(() =>
          builder.waitForAnySignal(
            name,
            signals,
            options as Parameters<W["waitForAnySignal"]>[2],
          ) as W
        );
      }
      case "call":
      case "spawn": {
        const child = this.#read.named(need("workflow"), this.#workflows, "workflow", where);
        const options: Record<string, unknown> = {};
        const input = fields.get("input");
        if (input) options.input = this.#read.expression(input, "value", where);
        const id = fields.get("id");
        if (id) options.id = this.#read.expression(id, "value", where);
        const retry = fields.get("retry");
        if (retry) options.retry = this.#read.retry(retry, where);
        return add(() =>
          kind === "call"
            ? builder.call(name, child, options as never)
            : builder.spawn(name, child, options as never) as W
        );
      }
    }
  }

  #stepOptions(fields: Map<string, YamlEntry>, where: string): StepOptions {
    const options: StepOptions = {};
    const retry = fields.get("retry");
    if (retry) options.retry = this.#read.retry(retry, where);
    const timeout = fields.get("timeout");
    if (timeout) options.timeout = this.#read.duration(timeout, where);
    const compensate = fields.get("compensate");
    if (compensate) {
      const undo = this.#action(compensate, where);
      options.compensate = typeof undo === "function" ? undo : undo.fn;
    }
    return options;
  }

  #branches(entry: YamlEntry, where: string): AnyBranch[] | Record<string, AnyBranch> {
    const node = entry.value;
    if (node.kind === "sequence" && node.items.length > 0) {
      return node.items.map((item, i) =>
        this.#branch(
          { key: "branches", offset: item.offset, value: item },
          `branch ${i} of ${where}`,
        )
      );
    }
    if (node.kind === "mapping" && node.entries.length > 0) {
      const record: Record<string, AnyBranch> = {};
      for (const branch of node.entries) {
        if (!NAME.test(branch.key)) {
          this.#read.fail(
            branch.offset,
            branch.key,
            `Cannot use the branch name '${clip(branch.key)}' in ${where}: names ${NAME_RULE}`,
          );
        }
        // Keys are checked: none is '__proto__', 'constructor' or 'prototype'.
        record[branch.key] = this.#branch(branch, `branch '${branch.key}' of ${where}`);
      }
      return record;
    }
    return this.#read.fail(
      node.offset,
      entry.key,
      `Cannot use ${
        describeNode(node)
      } as 'branches' of ${where}: use a non-empty list (a tuple) or mapping (a record) of branches`,
    );
  }

  #branch(entry: YamlEntry, where: string): AnyBranch {
    const node = entry.value;
    if (node.kind === "scalar" && typeof node.value === "string") {
      this.#counted(node.offset, entry.key);
      return this.#action(entry, where);
    }
    if (node.kind === "sequence") return this.#sequence(flow<unknown>(), entry, where);
    if (node.kind === "mapping") {
      if (node.entries.some((e) => isKind(e.key))) {
        return this.#node(flow<unknown>(), node, entry.key, where);
      }
      if (node.entries.some((e) => e.key === "action")) {
        this.#counted(node.offset, entry.key);
        const fields = this.#read.fields(node, ACTION_KEYS, where);
        const action = this.#action(fields.get("action")!, where);
        const options = this.#stepOptions(fields, where);
        if (
          options.retry === undefined && options.timeout === undefined &&
          options.compensate === undefined
        ) return action;
        return this.#read.build(
          fields.get("action")!,
          () =>
            typeof action === "function"
              ? defineStep("branch", action, options)
              : defineStep(action.name, action.fn, { ...action.options, ...options }),
        );
      }
    }
    return this.#read.fail(
      node.offset,
      entry.key,
      `Cannot use ${
        describeNode(node)
      } as '${entry.key}' of ${where}: use an action name, '{ action, retry, timeout, compensate }', a node, or a list of nodes`,
    );
  }

  #action(entry: YamlEntry, where: string): StepFn<unknown, unknown> | StepDef<unknown, unknown> {
    const action: unknown = this.#read.named(entry, this.#actions, "action", where);
    if (typeof action === "function") return action as StepFn<unknown, unknown>;
    if (isStepDef(action)) return action;
    return this.#read.fail(
      entry.value.offset,
      entry.key,
      `Cannot use the action '${clip(this.#read.string(entry, where))}' of ${where} as it is ${
        action === null ? "null" : typeof action
      }: register a step function or a defineStep()`,
    );
  }
}
