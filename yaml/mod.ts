/**
 * Declarative workflows: {@linkcode loadWorkflow} turns a YAML document into
 * the same {@linkcode Workflow} the fluent builder makes (the same `plan`,
 * `planHash` and `toMermaid()`), so it runs unchanged under `LocalRunner`,
 * `Engine` and workers. Steps name actions you register in code; conditions,
 * counts, items, wake times and timeout values are
 * [CEL](https://cel.dev) expressions over `value` (the value flowing in) and
 * `input` (the workflow input). YAML holds no code and nothing is `eval`ed.
 *
 * ## The document
 *
 * ```yaml
 * name: onboard            # the workflow name (or pass the `name` option)
 * version: "1"             # optional, default "1" (or pass the `version` option)
 * description: Onboarding  # optional, ignored
 * timeout: 7d              # optional: the workflow timeout (a durable deadline per run)
 * steps:                   # the nodes, in order; each item is one node
 *   - step: createAccount              # step: runs an action; `action` defaults to the name
 *     action: createUser
 *     retry: { maxAttempts: 5, initialDelay: 1s, backoff: 2, maxDelay: 1m, jitter: 0 }
 *     timeout: 30s
 *     compensate: deleteUser           # optional: the action that undoes it (saga)
 *   - parallel: prepare                # a mapping of branches gives a record,
 *     branches:                        # a list of branches gives a tuple
 *       profile: fetchProfile
 *       settings: { action: fetchSettings, retry: { maxAttempts: 3 } }
 *     concurrency: 2
 *   - if: vip
 *     when: value.profile.tier == "gold" || input.vip
 *     then:                            # a branch (see below)
 *       - step: gift
 *         action: sendGift
 *     else: noGift                     # optional; without it the value passes through
 *   - loop: retryTwice                 # `times`: a fixed int or a CEL int
 *     times: 2
 *     do: ping
 *   - while: grow                      # `when` is checked before each iteration
 *     when: value < 100
 *     maxIterations: 50                # optional, default 10000
 *     do: double
 *   - map: each                        # `items`: a CEL list; results in item order
 *     items: value.users
 *     concurrency: 4
 *     do: [{ step: notify }]
 *   - sleep: coolDown
 *     for: 1h                          # a duration: 250ms, 5s, 10m, 2h, 1d, 1h30m, or ms
 *   - sleepUntil: due                  # epoch ms, an ISO date-time, or a CEL timestamp/ms
 *     at: timestamp(input.dueAt)
 *   - waitForSignal: approval
 *     signal: approved
 *     timeout: 3d                      # optional
 *     onTimeout: '{"approved": false}' # optional: a CEL expression (a string)...
 *     combine: '{"order": value, "ok": payload.approved}' # optional: CEL over value, payload, input
 *   - waitForAnySignal: decision
 *     signals: [approve, reject]
 *     timeout: 1d
 *     onTimeout: { signal: none, payload: null }  # ...or any other YAML value, as it is
 * ```
 *
 * A **branch** (`then`, `else`, `do`, each of `branches`) is an action name
 * (`fetchProfile`), an action with options (`{ action: fetchSettings, retry:
 * {...}, timeout: 5s, compensate: releaseSettings }`), a list of nodes (a sub-flow, nested at will), or a
 * single node (`{ step: gift }`). Names follow the builder's rules and are
 * unique among siblings. An action made with `defineStep()` keeps its identity
 * (for `LocalRunner.override(def, ...)`) where the builder would: in a step
 * named like the definition, and as a branch without options.
 *
 * **Expressions.** `when` (of `if` and `while`), `times` (when not a number),
 * `items`, `at` (when not a number or ISO date-time), `onTimeout` (when a
 * string) and `combine` (which also sees `payload`, the signal's) are CEL,
 * parsed and type-checked at load time and evaluated from recorded values
 * only. `when` also takes `true` or `false`. A string in an
 * expression slot is always CEL: write a constant string as a CEL literal
 * (`onTimeout: "'expired'"`). In CEL, JSON integers are `int`s and other
 * numbers `double`s (`value.price * 1.0`, `int(value.n)` convert); timestamps
 * are `Date`s; `has(value.x)` tests a field.
 *
 * ## Errors and limits
 *
 * Every problem found while loading is a {@linkcode YamlWorkflowError} naming
 * the line, the column and the offending key: YAML syntax, an unknown key or
 * action, a wrong type, a bad duration, a duplicate name or key, an invalid
 * CEL expression. Documents are capped at 1,048,576 characters, 64 levels of
 * nesting, 100 aliases and 100,000 nodes once aliases are expanded, a
 * workflow at 2,000 nodes (steps, branches and control nodes) and expressions
 * at 4,096 characters; only the standard tags
 * (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!seq`, `!!map`) are
 * allowed, and the keys `__proto__`, `constructor` and `prototype` are
 * refused. An expression that fails at run time (a missing field, a result of
 * the wrong type) fails its node, and the run, with an {@linkcode ExpressionError}
 * (a run's stored error keeps its name and message).
 *
 * @example Load and run a workflow
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner } from "@sluice/sluice";
 * import { loadWorkflow } from "@sluice/sluice/yaml";
 *
 * const onboard = loadWorkflow(
 *   `
 * name: onboard
 * steps:
 *   - step: createAccount
 *     action: createUser
 *     retry: { maxAttempts: 3, initialDelay: 1s }
 *   - parallel: prepare
 *     branches:
 *       profile: fetchProfile
 *       settings: fetchSettings
 *   - if: vip
 *     when: value.profile.tier == "gold"
 *     then:
 *       - step: gift
 *         action: sendGift
 *   - sleep: coolDown
 *     for: 1h
 *   - waitForSignal: approval
 *     signal: approved
 *     timeout: 3d
 *     onTimeout: '{"approved": false, "by": input.email}'
 * `,
 *   {
 *     actions: {
 *       createUser: (input: { email: string }) => ({ userId: input.email.split("@")[0] }),
 *       fetchProfile: (v: { userId: string }) => ({ tier: v.userId === "ada" ? "gold" : "basic" }),
 *       fetchSettings: () => ({ theme: "dark" }),
 *       sendGift: () => "gift sent",
 *     },
 *   },
 * );
 *
 * await using runner = new LocalRunner({ clock: "virtual" });
 * assert.deepEqual(await runner.run(onboard, { email: "ada@example.com" }), {
 *   approved: false,
 *   by: "ada@example.com",
 * });
 * assert.deepEqual(onboard.plan.nodes.map((node) => `${node.kind} ${node.name}`), [
 *   "step createAccount",
 *   "parallel prepare",
 *   "if vip",
 *   "sleep coolDown",
 *   "waitForSignal approval",
 * ]);
 * ```
 *
 * @module
 */
import type { StepDef, StepFn, Workflow } from "../lib/builder.ts";
import { readYaml } from "./_document.ts";
import { ExpressionError, type YamlLocation, YamlWorkflowError } from "./_errors.ts";
import { Loader } from "./_loader.ts";

export { ExpressionError, type YamlLocation, YamlWorkflowError };

/**
 * An action a YAML step can name: a step function or a {@linkcode StepDef}
 * made with `defineStep()`.
 *
 * @example Actions by name: a function, or a step definition
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineStep } from "@sluice/sluice";
 * import { loadWorkflow, type YamlAction } from "@sluice/sluice/yaml";
 *
 * const actions: Record<string, YamlAction> = {
 *   double: (n: number) => n * 2,
 *   greet: defineStep("greet", (name: string) => `Hello, ${name}`),
 * };
 * const wf = loadWorkflow("name: hello\nsteps: [{ step: double }, { step: greet }]", { actions });
 * assert.deepEqual(wf.plan.nodes.map((node) => node.name), ["double", "greet"]);
 * ```
 */
// deno-lint-ignore no-explicit-any
export type YamlAction = StepFn<any, any, any> | StepDef<any, any>;

/**
 * Options of {@linkcode loadWorkflow}.
 *
 * @example Name and version a loaded workflow
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LoadWorkflowOptions, loadWorkflow } from "@sluice/sluice/yaml";
 *
 * const options: LoadWorkflowOptions = {
 *   actions: { double: (n: number) => n * 2 },
 *   name: "doubler",
 *   version: "2",
 * };
 * const wf = loadWorkflow("steps:\n  - step: double\n", options);
 * assert.equal(wf.name, "doubler");
 * assert.equal(wf.version, "2");
 * ```
 */
export interface LoadWorkflowOptions {
  /** The actions steps can name, by name (own properties only). */
  actions: Record<string, YamlAction>;
  /**
   * The workflows `call` and `spawn` nodes can name (`workflow: key`), by
   * name (own properties only).
   */
  // deno-lint-ignore no-explicit-any
  workflows?: Record<string, Workflow<any, any, any>>;
  /**
   * The workflow name; overrides the document's `name`.
   * @default {the document's `name`}
   */
  name?: string;
  /**
   * The workflow version; overrides the document's `version`.
   * @default {the document's `version`, else "1"}
   */
  version?: string;
}

/**
 * Loads a workflow from YAML. The result is the same {@linkcode Workflow} the
 * builder makes: register it with a runner or engine, read its `plan`,
 * `planHash` or `toMermaid()`. See the module documentation for the format.
 *
 * @param text The YAML document (at most 1 MiB).
 * @param options The actions steps name, and optionally the name and version.
 * @returns The workflow.
 * @throws {YamlWorkflowError} When the YAML does not parse, breaks a limit,
 * or does not describe a valid workflow; it names the line, column and key.
 * @throws {TypeError} When `text` is not a string or the options are malformed.
 *
 * @example Load and run a loop and a map
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner } from "@sluice/sluice";
 * import { loadWorkflow } from "@sluice/sluice/yaml";
 *
 * const wf = loadWorkflow(
 *   `
 * name: count
 * steps:
 *   - step: start
 *     action: pick
 *   - while: small
 *     when: value < input.limit
 *     do: double
 *   - map: around
 *     items: "[value - 1, value, value + 1]"
 *     do: [{ step: twice, action: double }]
 * `,
 *   {
 *     actions: {
 *       pick: (input: { start: number }) => input.start,
 *       double: (n: number) => n * 2,
 *     },
 *   },
 * );
 * await using runner = new LocalRunner();
 * assert.deepEqual(await runner.run(wf, { start: 1, limit: 100 }), [254, 256, 258]);
 * ```
 */
export function loadWorkflow(
  text: string,
  options: LoadWorkflowOptions,
): Workflow<unknown, unknown> {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot load a workflow from ${typeof text}: pass the YAML text`);
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot load a workflow without options: pass { actions }");
  }
  const { actions, name, version, workflows } = options;
  if (typeof actions !== "object" || actions === null || Array.isArray(actions)) {
    throw new TypeError(
      "Cannot load a workflow without 'actions': pass an object of step functions by name",
    );
  }
  if (name !== undefined && typeof name !== "string") {
    throw new TypeError(`Cannot use the 'name' option of type ${typeof name}: pass a string`);
  }
  if (version !== undefined && typeof version !== "string") {
    throw new TypeError(`Cannot use the 'version' option of type ${typeof version}: pass a string`);
  }
  if (
    workflows !== undefined &&
    (typeof workflows !== "object" || workflows === null || Array.isArray(workflows))
  ) {
    throw new TypeError(
      "Cannot use the 'workflows' option: pass an object of workflows by name",
    );
  }
  const root = readYaml(text);
  return new Loader(text, actions, workflows).workflow(root, name, version);
}
