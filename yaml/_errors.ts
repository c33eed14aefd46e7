/**
 * The errors of declarative YAML workflows, re-exported by `yaml/mod.ts`.
 *
 * @module
 */
import { registerErrorClass, SluiceError, type SluiceErrorOptions } from "../lib/errors.ts";

/** Shortens user text quoted in a message. */
export function clip(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/**
 * Where in a YAML document a problem is: 1-based line and column, and the key.
 *
 * @example Point an error at a place in the YAML
 * ```ts
 * import assert from "node:assert/strict";
 * import { type YamlLocation, YamlWorkflowError } from "@sluice/sluice/yaml";
 *
 * const where: YamlLocation = { line: 4, column: 13, key: "action" };
 * const error = new YamlWorkflowError("Use an action listed in 'actions'", where);
 * assert.equal(error.line, 4);
 * assert.equal(error.column, 13);
 * assert.equal(error.key, "action");
 * assert.equal(
 *   error.message,
 *   "Invalid workflow YAML at line 4, column 13 (key 'action'): Use an action listed in 'actions'",
 * );
 * ```
 */
export interface YamlLocation {
  /** The line, from 1. */
  line: number;
  /** The column, from 1. */
  column: number;
  /** The offending key, when the problem belongs to one. */
  key?: string;
}

/**
 * A workflow YAML document cannot be loaded: the YAML does not parse, breaks
 * a limit, or does not describe a valid workflow (unknown key or action,
 * wrong type, bad duration, duplicate name, invalid expression...). The
 * message and the fields name the line, the column and the offending key.
 *
 * @example A step that names an unknown action
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadWorkflow, YamlWorkflowError } from "@sluice/sluice/yaml";
 *
 * assert.throws(
 *   () => loadWorkflow("name: w\nsteps:\n  - step: a\n    action: nope\n", { actions: {} }),
 *   (error) => {
 *     assert.ok(error instanceof YamlWorkflowError);
 *     assert.equal(error.code, "YAML_INVALID");
 *     assert.equal(error.line, 4);
 *     assert.equal(error.column, 13);
 *     assert.equal(error.key, "action");
 *     return true;
 *   },
 * );
 * ```
 */
export class YamlWorkflowError extends SluiceError {
  /** The line of the problem, from 1. */
  readonly line: number;
  /** The column of the problem, from 1. */
  readonly column: number;
  /** The offending key, or `undefined` when the problem is not tied to one (syntax, size). */
  readonly key: string | undefined;
  /** The problem and what to do, without the location. */
  readonly detail: string;

  /**
   * Creates the error.
   *
   * @param detail The problem and what to do, in sentence case.
   * @param location The line, column and key.
   * @param options The cause, when there is one.
   */
  constructor(detail: string, location: YamlLocation, options?: SluiceErrorOptions) {
    const key = location.key === undefined ? "" : ` (key '${clip(location.key)}')`;
    super(
      "YAML_INVALID",
      `Invalid workflow YAML at line ${location.line}, column ${location.column}${key}: ${detail}`,
      options,
    );
    this.line = location.line;
    this.column = location.column;
    this.key = location.key;
    this.detail = detail;
  }
}

/**
 * A CEL expression of a YAML workflow failed while the run was evaluating it
 * (a missing field, a type mismatch, a result of the wrong type). It fails the
 * node, and so the run, like a failing step; the message names the node, the
 * key and where the expression is in the YAML. Observers in the process see
 * this class; a run's stored error (`result()`, `get()`) keeps its name
 * `"ExpressionError"` and its message.
 *
 * @example An expression that reads a missing field fails the run
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, WorkflowFailedError } from "@sluice/sluice";
 * import { ExpressionError, loadWorkflow } from "@sluice/sluice/yaml";
 *
 * const wf = loadWorkflow(
 *   "name: check\nsteps:\n  - if: big\n    when: value.size > 10\n    then: shout\n",
 *   { actions: { shout: (v: unknown) => v } },
 * );
 * await using runner = new LocalRunner();
 * const failed = await runner.run(wf, {}).catch((e) => e);
 * assert.ok(failed instanceof WorkflowFailedError);
 * assert.match(failed.message, /Cannot evaluate 'when' of if 'big' \(line 4, column 11\)/);
 * const error = new ExpressionError("Cannot evaluate 'when'", "value.size > 10", {
 *   line: 4,
 *   column: 11,
 *   key: "when",
 * });
 * assert.equal(error.code, "EXPRESSION_FAILED");
 * ```
 */
export class ExpressionError extends SluiceError {
  /** The expression's source text. */
  readonly expression: string;
  /** The line of the expression in the YAML, from 1. */
  readonly line: number;
  /** The column of the expression in the YAML, from 1. */
  readonly column: number;
  /** The key holding the expression (`when`, `times`, `items`, `at`, `onTimeout`). */
  readonly key: string | undefined;

  /**
   * Creates the error.
   *
   * @param message The problem and what to do, in sentence case.
   * @param expression The expression's source text.
   * @param location Where the expression is in the YAML.
   * @param options The cause, when there is one.
   */
  constructor(
    message: string,
    expression: string,
    location: YamlLocation,
    options?: SluiceErrorOptions,
  ) {
    super("EXPRESSION_FAILED", message, options);
    this.expression = expression;
    this.line = location.line;
    this.column = location.column;
    this.key = location.key;
  }
}

registerErrorClass("YAML_INVALID", YamlWorkflowError);
registerErrorClass("EXPRESSION_FAILED", ExpressionError);
