/**
 * The loader of YAML workflows: walks the positioned tree of `_document.ts`,
 * checks every key and value, compiles the CEL expressions (`_cel.ts`) and
 * calls the builder. Every problem is a `YamlWorkflowError` naming
 * the line, the column and the key.
 *
 * @module
 */
import {
  type Branch,
  defineStep,
  flow,
  type RetryOptions,
  type StepDef,
  type StepFn,
  type StepOptions,
  type Workflow,
  workflow,
  type WorkflowOptions,
} from "../lib/builder.ts";
import { type Duration, parseDuration } from "../lib/duration.ts";
import { NODE_KINDS, type NodeKind } from "../lib/nodes.ts";
import { compileExpression, type Expect, summary } from "./_cel.ts";
import { errorAt, locator, type YamlEntry, type YamlMapping, type YamlNode } from "./_document.ts";
import { clip, ExpressionError } from "./_errors.ts";
import { describe, NAME, NAME_RULE } from "../lib/validate.ts";
import type { YamlAction } from "./mod.ts";

type W = Workflow<unknown, unknown, unknown>;
type AnyBranch = Branch<unknown, unknown>;
type PlanFn = (value: unknown, input: unknown, third?: unknown) => unknown;
type Cond = (value: unknown, input: unknown) => boolean;

/** Most nodes (steps, branches and control nodes, at any depth) in one workflow. */
const MAX_WORKFLOW_NODES = 2_000;
const ISO_TIME =
  /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;

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
const RETRY_KEYS = ["maxAttempts", "initialDelay", "backoff", "maxDelay", "jitter"] as const;

function isKind(key: string): key is Kind {
  return Object.hasOwn(NODE_KEYS, key);
}

function isStepDef(value: unknown): value is StepDef<unknown, unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { fn?: unknown }).fn === "function" &&
    typeof (value as { name?: unknown }).name === "string";
}

function quoteList(keys: readonly string[]): string {
  const quoted = keys.map((key) => `'${key}'`);
  return quoted.length < 2
    ? quoted.join("")
    : `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

function describeNode(node: YamlNode): string {
  if (node.kind === "sequence") return "a list";
  if (node.kind === "mapping") return "a mapping";
  return describe(typeof node.value === "string" ? clip(node.value) : node.value);
}

/** Turns a positioned tree into builder calls. */
export class Loader {
  readonly #text: string;
  readonly #actions: Record<string, YamlAction>;
  readonly #workflows: Record<string, W>;
  readonly #locate: (offset: number) => { line: number; column: number };
  #count = 0;

  constructor(
    text: string,
    actions: Record<string, YamlAction>,
    workflows: Record<string, W> = {},
  ) {
    this.#text = text;
    this.#actions = actions;
    this.#workflows = workflows;
    this.#locate = locator(text);
  }

  workflow(root: YamlNode, name: string | undefined, version: string | undefined): W {
    if (root.kind !== "mapping") {
      this.#fail(
        root.offset,
        undefined,
        `Cannot use ${describeNode(root)} as a workflow: write a mapping with 'name' and 'steps'`,
      );
    }
    const fields = this.#fields(root, WORKFLOW_KEYS, "the workflow");
    if (name === undefined) {
      const nameEntry = fields.get("name");
      if (!nameEntry) {
        this.#fail(
          root.offset,
          "name",
          "Cannot find the workflow's 'name': add it, or pass the 'name' option",
        );
      }
      name = this.#name(nameEntry, "the workflow");
    }
    const versionEntry = fields.get("version");
    if (version === undefined && versionEntry) {
      const node = versionEntry.value;
      version = node.kind === "scalar" && typeof node.value === "number" &&
          Number.isSafeInteger(node.value)
        ? String(node.value)
        : this.#string(versionEntry, "the workflow");
      if (version.length === 0 || version.length > 64) {
        this.#fail(
          node.offset,
          "version",
          `Cannot use the version '${
            clip(version)
          }': use a non-empty string of up to 64 characters`,
        );
      }
    }
    const description = fields.get("description");
    if (description) this.#string(description, "the workflow");
    const steps = this.#need(fields, "steps", root, "the workflow");
    const options: WorkflowOptions = {};
    if (version !== undefined) options.version = version;
    const timeout = fields.get("timeout");
    if (timeout) options.timeout = this.#duration(timeout, "the workflow");
    const builder = workflow<unknown>(name, options);
    return this.#sequence(builder, steps, `workflow '${name}'`);
  }

  // ---- errors ---------------------------------------------------------------

  /** Counts one more node of the workflow, failing past the limit. */
  #counted(offset: number, key: string): void {
    if (++this.#count > MAX_WORKFLOW_NODES) {
      this.#fail(
        offset,
        key,
        `Cannot build a workflow of more than ${MAX_WORKFLOW_NODES} nodes: split it into several workflows`,
      );
    }
  }

  #fail(offset: number, key: string | undefined, detail: string, cause?: unknown): never {
    throw errorAt(this.#text, offset, key, detail, cause);
  }

  /** Runs a builder call; its TypeError or RangeError is reported at the entry. */
  #build<T>(entry: YamlEntry, call: () => T): T {
    try {
      return call();
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) {
        this.#fail(entry.value.offset, entry.key, error.message, error);
      }
      throw error;
    }
  }

  // ---- structure ------------------------------------------------------------

  #fields(
    node: YamlMapping,
    allowed: readonly string[],
    where: string,
  ): Map<string, YamlEntry> {
    const fields = new Map<string, YamlEntry>();
    for (const entry of node.entries) {
      if (!allowed.includes(entry.key)) {
        this.#fail(
          entry.offset,
          entry.key,
          `Cannot use the key '${clip(entry.key)}' in ${where}: use ${quoteList(allowed)}`,
        );
      }
      fields.set(entry.key, entry);
    }
    return fields;
  }

  #need(
    fields: Map<string, YamlEntry>,
    key: string,
    node: YamlMapping,
    where: string,
  ): YamlEntry {
    const entry = fields.get(key);
    if (!entry) this.#fail(node.offset, key, `Cannot find the key '${key}' of ${where}: add it`);
    return entry;
  }

  #string(entry: YamlEntry, where: string): string {
    const node = entry.value;
    if (node.kind !== "scalar" || typeof node.value !== "string") {
      this.#fail(
        node.offset,
        entry.key,
        `Cannot use ${describeNode(node)} as '${entry.key}' of ${where}: use a string`,
      );
    }
    return node.value;
  }

  #name(entry: YamlEntry, where: string): string {
    const name = this.#string(entry, where);
    if (!NAME.test(name)) {
      this.#fail(
        entry.value.offset,
        entry.key,
        `Cannot use the name '${clip(name)}' in ${where}: names ${NAME_RULE}`,
      );
    }
    return name;
  }

  #number(entry: YamlEntry, where: string, check: (n: number) => boolean, rule: string): number {
    const node = entry.value;
    if (node.kind !== "scalar" || typeof node.value !== "number" || !check(node.value)) {
      this.#fail(
        node.offset,
        entry.key,
        `Cannot use ${describeNode(node)} as '${entry.key}' of ${where}: it must be ${rule}`,
      );
    }
    return node.value;
  }

  #integer(entry: YamlEntry, where: string, min: number): number {
    return this.#number(
      entry,
      where,
      (n) => Number.isSafeInteger(n) && n >= min,
      `an integer of at least ${min}`,
    );
  }

  #duration(entry: YamlEntry, where: string): Duration {
    const node = entry.value;
    if (
      node.kind !== "scalar" || (typeof node.value !== "string" && typeof node.value !== "number")
    ) {
      this.#fail(
        node.offset,
        entry.key,
        `Cannot use ${
          describeNode(node)
        } as '${entry.key}' of ${where}: use a duration such as '5s', '10m' or '1h30m', or milliseconds`,
      );
    }
    try {
      parseDuration(node.value, `'${entry.key}' of ${where}`);
    } catch (error) {
      this.#fail(node.offset, entry.key, (error as Error).message, error);
    }
    return node.value;
  }

  /**
   * Compiles a CEL expression into a plan function of `(value, input)`, or of
   * `(value, payload, input)` for a wait's `combine` (`combine` true).
   */
  #expression(entry: YamlEntry, expect: Expect, where: string, combine = false): PlanFn {
    const node = entry.value;
    if (expect === "bool" && node.kind === "scalar" && typeof node.value === "boolean") {
      const constant = node.value;
      return () => constant;
    }
    if (node.kind !== "scalar" || typeof node.value !== "string") {
      this.#fail(
        node.offset,
        entry.key,
        `Cannot use ${describeNode(node)} as '${entry.key}' of ${where}: write a CEL expression`,
      );
    }
    const source = node.value;
    let expression;
    try {
      expression = compileExpression(source, expect, { payload: combine });
    } catch (error) {
      this.#fail(
        node.offset,
        entry.key,
        `Cannot compile the expression '${clip(source)}' of ${where}: ${
          (error as Error).message
        }: fix the CEL expression`,
        (error as Error).cause ?? error,
      );
    }
    const { line, column } = this.#locate(node.offset);
    const key = entry.key;
    const compiled = expression;
    return (value, second, third?: unknown) => {
      try {
        return combine ? compiled.evaluate(value, third, second) : compiled.evaluate(value, second);
      } catch (error) {
        throw new ExpressionError(
          `Cannot evaluate '${key}' of ${where} (line ${line}, column ${column}): ${
            summary(error)
          }: check the expression '${clip(source)}' against the value it reads`,
          source,
          { line, column, key },
          { cause: error },
        );
      }
    };
  }

  /** Reads a YAML value as a constant JSON value. */
  #constant(node: YamlNode, key: string, where: string): unknown {
    switch (node.kind) {
      case "scalar":
        if (typeof node.value === "number" && !Number.isFinite(node.value)) {
          this.#fail(
            node.offset,
            key,
            `Cannot use the number ${node.value} in '${key}' of ${where}: use a finite number`,
          );
        }
        return node.value;
      case "sequence":
        return node.items.map((item) => this.#constant(item, key, where));
      case "mapping":
        // Keys are checked: none is '__proto__', 'constructor' or 'prototype'.
        return Object.fromEntries(
          node.entries.map((entry) => [entry.key, this.#constant(entry.value, key, where)]),
        );
    }
  }

  // ---- nodes ----------------------------------------------------------------

  #sequence(builder: W, entry: YamlEntry, where: string): W {
    const node = entry.value;
    if (node.kind !== "sequence") {
      this.#fail(
        node.offset,
        entry.key,
        `Cannot use ${describeNode(node)} as '${entry.key}' of ${where}: use a list of nodes`,
      );
    }
    if (node.items.length === 0) {
      this.#fail(
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
      this.#fail(
        node.offset,
        parentKey,
        `Cannot use ${
          describeNode(node)
        } as a node of ${parent}: use a mapping such as '{ step: name, action: fn }'`,
      );
    }
    const kinds = node.entries.filter((entry) => isKind(entry.key));
    if (kinds.length === 0) {
      this.#fail(
        node.offset,
        node.entries[0]?.key ?? parentKey,
        `Cannot tell the kind of a node of ${parent}: give it one of the keys ${
          quoteList(KINDS)
        }, holding its name`,
      );
    }
    if (kinds.length > 1) {
      this.#fail(
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
    const name = this.#name(nameEntry, `a ${kind} node of ${parent}`);
    const where = `${kind} '${name}'`;
    const fields = this.#fields(node, NODE_KEYS[kind], where);
    const need = (key: string) => this.#need(fields, key, node, where);
    const add = (call: () => unknown) => this.#build(nameEntry, call) as W;
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
        const when = this.#expression(need("when"), "bool", where);
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
        const options = concurrency ? { concurrency: this.#integer(concurrency, where, 1) } : {};
        return add(() => builder.parallel(name, branches, options));
      }
      case "loop": {
        const timesEntry = need("times");
        const times = timesEntry.value.kind === "scalar" &&
            typeof timesEntry.value.value === "number"
          ? this.#integer(timesEntry, where, 0)
          : this.#expression(timesEntry, "count", where) as (v: unknown, i: unknown) => number;
        const body = this.#branch(need("do"), where);
        return add(() => builder.loop(name, times, body));
      }
      case "while": {
        const when = this.#expression(need("when"), "bool", where);
        const body = this.#branch(need("do"), where);
        const max = fields.get("maxIterations");
        const options = max ? { maxIterations: this.#integer(max, where, 1) } : {};
        return add(() => builder.while(name, when as Cond, body, options));
      }
      case "map": {
        const items = this.#expression(need("items"), "list", where);
        const body = this.#branch(need("do"), where);
        const concurrency = fields.get("concurrency");
        const options = concurrency ? { concurrency: this.#integer(concurrency, where, 1) } : {};
        return add(() =>
          builder.map(name, items as (v: unknown, i: unknown) => unknown[], body, options) as W
        );
      }
      case "sleep": {
        const duration = this.#duration(need("for"), where);
        return add(() => builder.sleep(name, duration));
      }
      case "sleepUntil": {
        const at = this.#time(need("at"), where);
        return add(() =>
          builder.sleepUntil(name, at as number | ((v: unknown, i: unknown) => number | Date))
        );
      }
      case "waitForSignal":
      case "waitForAnySignal": {
        const options = this.#waitOptions(fields, where);
        if (kind === "waitForSignal") {
          const signal = this.#name(need("signal"), where);
          const combine = fields.get("combine");
          const all = combine
            ? { ...options, combine: this.#expression(combine, "value", where, true) }
            : options;
          return add(() => builder.waitForSignal(name, signal, all));
        }
        const signals = this.#signals(need("signals"), where);
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
        const child = this.#named(need("workflow"), this.#workflows, "workflow", where);
        const options: Record<string, unknown> = {};
        const input = fields.get("input");
        if (input) options.input = this.#expression(input, "value", where);
        const id = fields.get("id");
        if (id) options.id = this.#expression(id, "value", where);
        const retry = fields.get("retry");
        if (retry) options.retry = this.#retry(retry, where);
        return add(() =>
          kind === "call"
            ? builder.call(name, child, options as never)
            : builder.spawn(name, child, options as never) as W
        );
      }
    }
  }

  /** An entry naming one of `known` (own properties only): an action or a workflow. */
  #named<T>(entry: YamlEntry, known: Record<string, T>, what: string, where: string): T {
    const name = this.#string(entry, where);
    if (!Object.hasOwn(known, name)) {
      const names = Object.keys(known).sort();
      const hint = names.length === 0
        ? `no ${what} is registered`
        : `registered: ${quoteList(names.slice(0, 20))}${names.length > 20 ? ", ..." : ""}`;
      this.#fail(
        entry.value.offset,
        entry.key,
        `Cannot find the ${what} '${
          clip(name)
        }' of ${where}: register it in the '${what}s' option (${hint})`,
      );
    }
    return known[name]!;
  }

  #stepOptions(fields: Map<string, YamlEntry>, where: string): StepOptions {
    const options: StepOptions = {};
    const retry = fields.get("retry");
    if (retry) options.retry = this.#retry(retry, where);
    const timeout = fields.get("timeout");
    if (timeout) options.timeout = this.#duration(timeout, where);
    const compensate = fields.get("compensate");
    if (compensate) {
      const undo = this.#action(compensate, where);
      options.compensate = typeof undo === "function" ? undo : undo.fn;
    }
    return options;
  }

  #retry(entry: YamlEntry, where: string): RetryOptions {
    const node = entry.value;
    if (node.kind !== "mapping") {
      this.#fail(
        node.offset,
        entry.key,
        `Cannot use ${describeNode(node)} as 'retry' of ${where}: use a mapping of ${
          quoteList(RETRY_KEYS)
        }`,
      );
    }
    const within = `the retry of ${where}`;
    const fields = this.#fields(node, RETRY_KEYS, within);
    const retry: RetryOptions = {};
    const maxAttempts = fields.get("maxAttempts");
    if (maxAttempts) retry.maxAttempts = this.#integer(maxAttempts, within, 1);
    const initialDelay = fields.get("initialDelay");
    if (initialDelay) retry.initialDelay = this.#duration(initialDelay, within);
    const maxDelay = fields.get("maxDelay");
    if (maxDelay) retry.maxDelay = this.#duration(maxDelay, within);
    const backoff = fields.get("backoff");
    if (backoff) {
      retry.backoff = this.#number(
        backoff,
        within,
        (n) => Number.isFinite(n) && n >= 1,
        "a number of at least 1",
      );
    }
    const jitter = fields.get("jitter");
    if (jitter) {
      retry.jitter = this.#number(jitter, within, (n) => n >= 0 && n <= 1, "a number from 0 to 1");
    }
    const initialMs = parseDuration(retry.initialDelay ?? "1s");
    const maxMs = parseDuration(retry.maxDelay ?? "1h");
    if (maxMs < initialMs) {
      const culprit = maxDelay ?? initialDelay!;
      this.#fail(
        culprit.value.offset,
        culprit.key,
        `Cannot use 'maxDelay' ${maxMs}ms of ${where} as it is below 'initialDelay' ${initialMs}ms: raise it`,
      );
    }
    return retry;
  }

  #waitOptions(
    fields: Map<string, YamlEntry>,
    where: string,
  ): { timeout?: Duration; onTimeout?: PlanFn } {
    const options: { timeout?: Duration; onTimeout?: PlanFn } = {};
    const timeout = fields.get("timeout");
    if (timeout) options.timeout = this.#duration(timeout, where);
    const onTimeout = fields.get("onTimeout");
    if (onTimeout) {
      if (!timeout) {
        this.#fail(
          onTimeout.offset,
          "onTimeout",
          `Cannot use 'onTimeout' in ${where} without a 'timeout': add one`,
        );
      }
      const node = onTimeout.value;
      if (node.kind === "scalar" && typeof node.value === "string") {
        options.onTimeout = this.#expression(onTimeout, "value", where);
      } else {
        const text = JSON.stringify(this.#constant(node, "onTimeout", where));
        options.onTimeout = () => JSON.parse(text);
      }
    }
    return options;
  }

  #signals(entry: YamlEntry, where: string): string[] {
    const node = entry.value;
    if (node.kind !== "sequence" || node.items.length === 0) {
      this.#fail(
        node.offset,
        entry.key,
        `Cannot use ${
          describeNode(node)
        } as 'signals' of ${where}: use a non-empty list of signal names`,
      );
    }
    const seen = new Set<string>();
    return node.items.map((item) => {
      const signal = this.#name({ key: "signals", offset: item.offset, value: item }, where);
      if (seen.has(signal)) {
        this.#fail(
          item.offset,
          "signals",
          `Cannot wait for the signal '${signal}' twice in ${where}: list each once`,
        );
      }
      seen.add(signal);
      return signal;
    });
  }

  #time(entry: YamlEntry, where: string): number | PlanFn {
    const node = entry.value;
    if (node.kind === "scalar" && typeof node.value === "number") {
      return this.#number(entry, where, Number.isFinite, "epoch milliseconds");
    }
    if (node.kind === "scalar" && typeof node.value === "string" && ISO_TIME.test(node.value)) {
      const at = Date.parse(node.value);
      if (Number.isNaN(at)) {
        this.#fail(
          node.offset,
          entry.key,
          `Cannot read the time '${clip(node.value)}' of ${where}: use a valid ISO 8601 date-time`,
        );
      }
      return at;
    }
    return this.#expression(entry, "time", where);
  }

  // ---- branches -------------------------------------------------------------

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
          this.#fail(
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
    return this.#fail(
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
        const fields = this.#fields(node, ACTION_KEYS, where);
        const action = this.#action(fields.get("action")!, where);
        const options = this.#stepOptions(fields, where);
        if (
          options.retry === undefined && options.timeout === undefined &&
          options.compensate === undefined
        ) return action;
        return this.#build(
          fields.get("action")!,
          () =>
            typeof action === "function"
              ? defineStep("branch", action, options)
              : defineStep(action.name, action.fn, { ...action.options, ...options }),
        );
      }
    }
    return this.#fail(
      node.offset,
      entry.key,
      `Cannot use ${
        describeNode(node)
      } as '${entry.key}' of ${where}: use an action name, '{ action, retry, timeout, compensate }', a node, or a list of nodes`,
    );
  }

  #action(entry: YamlEntry, where: string): StepFn<unknown, unknown> | StepDef<unknown, unknown> {
    const name = this.#string(entry, where);
    if (!Object.hasOwn(this.#actions, name)) {
      const known = Object.keys(this.#actions).sort();
      const hint = known.length === 0
        ? "no action is registered"
        : `registered: ${quoteList(known.slice(0, 20))}${known.length > 20 ? ", ..." : ""}`;
      this.#fail(
        entry.value.offset,
        entry.key,
        `Cannot find the action '${
          clip(name)
        }' of ${where}: register it in the 'actions' option (${hint})`,
      );
    }
    const action: unknown = this.#actions[name];
    if (typeof action === "function") return action as StepFn<unknown, unknown>;
    if (isStepDef(action)) return action;
    return this.#fail(
      entry.value.offset,
      entry.key,
      `Cannot use the action '${clip(name)}' of ${where} as it is ${
        action === null ? "null" : typeof action
      }: register a step function or a defineStep()`,
    );
  }
}
