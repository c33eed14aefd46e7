/**
 * The errors of runs and workflows: not found, in the wrong state, a duplicate
 * id, an unregistered plan, a failed run.
 *
 * @module
 */
import { SluiceError } from "./errors_base.ts";

/**
 * A workflow name (or name and version) is not registered with the runner or engine.
 *
 * @example Start a workflow the engine does not know
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, WorkflowNotFoundError } from "@sluice/sluice";
 *
 * await using engine = new Engine({ driver: new MemoryDriver() });
 * await assert.rejects(engine.start("billing", 1), WorkflowNotFoundError);
 * assert.equal(new WorkflowNotFoundError("billing").code, "WORKFLOW_NOT_FOUND");
 * ```
 */
export class WorkflowNotFoundError extends SluiceError {
  /** The workflow name that was looked up. */
  readonly workflow: string;
  /**
   * Creates the error.
   *
   * @param workflow The unknown workflow name.
   * @param detail Extra explanation appended to the message.
   */
  constructor(workflow: string, detail = "") {
    super(
      "WORKFLOW_NOT_FOUND",
      `Cannot find workflow '${workflow}'${detail}: register it in the 'workflows' option`,
    );
    this.workflow = workflow;
  }
}

/**
 * No run has the given id.
 *
 * @example Look up a run that does not exist
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, RunNotFoundError } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner();
 * await assert.rejects(runner.get("r-1"), RunNotFoundError);
 * assert.equal(
 *   new RunNotFoundError("r-1").message,
 *   "Cannot find run 'r-1': check the id, or whether it was purged",
 * );
 * ```
 */
export class RunNotFoundError extends SluiceError {
  /** The run id that was looked up. */
  readonly runId: string;
  /**
   * Creates the error.
   *
   * @param runId The unknown run id.
   */
  constructor(runId: string) {
    super("RUN_NOT_FOUND", `Cannot find run '${runId}': check the id, or whether it was purged`);
    this.runId = runId;
  }
}

/**
 * The operation does not fit the current state, e.g. a signal to a finished run,
 * or any call on a closed engine.
 *
 * @example Signal a run that has finished
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidStateError, LocalRunner, workflow } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner();
 * const run = await runner.start(workflow<number>("inc").step("inc", (n) => n + 1), 1);
 * assert.equal(await run.result(), 2);
 * await assert.rejects(run.signal("go"), InvalidStateError);
 * ```
 */
export class InvalidStateError extends SluiceError {
  /**
   * Creates the error.
   *
   * @param message What is wrong and what to do.
   */
  constructor(message: string) {
    super("INVALID_STATE", message);
  }
}

/**
 * A run id is already taken by a run of another workflow.
 *
 * @example Reuse a run id for another workflow
 * ```ts
 * import assert from "node:assert/strict";
 * import { DuplicateRunError, LocalRunner, workflow } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner();
 * await runner.start(workflow<number>("billing").step("a", (n) => n), 1, { id: "r-1" });
 * const shipping = workflow<number>("shipping").step("a", (n) => n);
 * await assert.rejects(runner.start(shipping, 1, { id: "r-1" }), DuplicateRunError);
 * ```
 */
export class DuplicateRunError extends SluiceError {
  /** The contested run id. */
  readonly runId: string;
  /**
   * Creates the error.
   *
   * @param runId The run id.
   * @param existing The workflow of the existing run.
   * @param requested The workflow that was asked for.
   */
  constructor(runId: string, existing: string, requested: string) {
    super(
      "DUPLICATE_RUN",
      `Cannot start run '${runId}' of workflow '${requested}' as the id belongs to a run of workflow '${existing}': use another id`,
    );
    this.runId = runId;
  }
}

/**
 * A run's plan hash is not registered, so it cannot be resumed safely.
 *
 * @example The error a run fails with when its plan is not registered
 * ```ts
 * import assert from "node:assert/strict";
 * import { PlanMismatchError } from "@sluice/sluice";
 *
 * const error = new PlanMismatchError("r-1", "billing", "1", "abc");
 * assert.equal(error.code, "PLAN_MISMATCH");
 * assert.equal(error.planHash, "abc");
 * assert.equal(error.nonRetryable, true);
 * ```
 */
export class PlanMismatchError extends SluiceError {
  /** Always true: retrying cannot help. */
  override readonly nonRetryable = true;
  /** The plan hash the run was started with. */
  readonly planHash: string;
  /**
   * Creates the error.
   *
   * @param runId The run that cannot resume.
   * @param workflow Its workflow name.
   * @param version Its workflow version.
   * @param planHash Its plan hash.
   */
  constructor(runId: string, workflow: string, version: string, planHash: string) {
    super(
      "PLAN_MISMATCH",
      `Cannot resume run '${runId}' as workflow '${workflow}' version '${version}' with plan hash '${planHash}' is not registered: register that version alongside the new one, then retry the run`,
    );
    this.planHash = planHash;
  }
}

/**
 * A run failed; `cause` carries the step error (name, message and stack), also
 * when another process recorded it.
 *
 * @example Read the step error of a failed run
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, WorkflowFailedError, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("fails").step("boom", () => {
 *   throw new Error("boom");
 * });
 * await using runner = new LocalRunner();
 * const error = await runner.run(wf, 1).catch((e) => e);
 * assert.ok(error instanceof WorkflowFailedError);
 * assert.equal(error.step, "boom");
 * assert.equal((error.cause as Error).message, "boom");
 * ```
 */
export class WorkflowFailedError extends SluiceError {
  /** The failed run's id. */
  readonly runId: string;
  /** The step key where the run failed, when a step failed. */
  readonly step: string | undefined;
  /**
   * Creates the error.
   *
   * @param runId The failed run.
   * @param workflow Its workflow name.
   * @param cause The step error.
   * @param step The step key that failed.
   */
  constructor(runId: string, workflow: string, cause: unknown, step?: string) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      "WORKFLOW_FAILED",
      `Run '${runId}' of workflow '${workflow}' failed${
        step ? ` at step '${step}'` : ""
      }: ${reason}`,
      { cause },
    );
    this.runId = runId;
    this.step = step;
  }
}
