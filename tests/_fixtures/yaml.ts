// Shared by the YAML tests (tests/yaml_test.ts, tests/yaml_errors_test.ts): the actions their
// documents name, a loader of documents written as lines, and the assertions on their errors.
import { defineStep, type StepContext, type Workflow, WorkflowFailedError } from "@sluice/sluice";
import { loadWorkflow, type YamlAction, YamlWorkflowError } from "@sluice/sluice/yaml";
import assert from "node:assert/strict";

/** A step definition the actions register as `greet`. */
export const greetDef = defineStep("greet", (v: unknown) => `hi ${v}`);

/** The actions the YAML tests load their documents with. */
export const ACTIONS: Record<string, YamlAction> = {
  double: (n: number) => n * 2,
  inc: (n: number) => n + 1,
  pick: (input: { n: number }) => input.n,
  shout: (s: string) => `${s}!`.toUpperCase(),
  whisper: (n: number) => `psst ${n}`,
  suffix: (s: string) => `${s}...`,
  head: (v: unknown[]) => v[0],
  size: (v: unknown[]) => v.length,
  upper: (s: string) => s.toUpperCase(),
  typeOf: (v: unknown) => typeof v,
  now: (_v: unknown, ctx: StepContext) => ctx.now().toISOString(),
  greet: greetDef,
};

/** Loads a document given as text or lines, with {@linkcode ACTIONS} by default. */
export function load(
  lines: string | string[],
  actions: Record<string, YamlAction> = ACTIONS,
): Workflow<unknown, unknown, unknown> {
  return loadWorkflow(Array.isArray(lines) ? lines.join("\n") + "\n" : lines, { actions });
}

/** Asserts that loading throws a YamlWorkflowError at a line, column and key. */
export function assertYamlError(
  lines: string | string[],
  expected: { line: number; column: number; key?: string; message?: RegExp },
  actions: Record<string, YamlAction> = ACTIONS,
): YamlWorkflowError {
  let caught: unknown;
  try {
    load(lines, actions);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof YamlWorkflowError, `expected a YamlWorkflowError, got ${caught}`);
  assert.equal(caught.code, "YAML_INVALID");
  assert.equal(caught.name, "YamlWorkflowError");
  const where = `${caught.message}`;
  assert.equal(caught.line, expected.line, where);
  assert.equal(caught.column, expected.column, where);
  assert.equal(caught.key, expected.key, where);
  assert.match(caught.message, new RegExp(`at line ${expected.line}, column ${expected.column}`));
  if (expected.key !== undefined) assert.ok(caught.message.includes(`'${expected.key}'`), where);
  if (expected.message) assert.match(caught.message, expected.message);
  return caught;
}

/** The `WorkflowFailedError` a run's result rejects with. */
export async function failure(promise: Promise<unknown>): Promise<WorkflowFailedError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${error}`);
  return error;
}
