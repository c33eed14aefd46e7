/**
 * Child workflows: the `call` and `spawn` nodes (a layer of the activation,
 * between its lifecycle and the tree walk), `ChildWorkflowFailedError`, and
 * the cancel cascade to `.call` children.
 *
 * A call records its attempt and child id in a pending row **before** it
 * creates the child (idempotently, by id), so a resumed parent finds the same
 * child and never starts a second one for the same attempt. It then waits
 * for the child like a wait for a signal: a finished `.call` child puts
 * `childSignal(id)` in its parent's inbox in the same write that finishes it
 * (every driver; the parent's history shows it as `child.finished`), which
 * wakes the parent, suspended or not; the parent then reads the child's
 * record, and drops the wake-up entry from its inbox with its next write.
 *
 * @module
 */
import { childSignal, type Driver, isFinished, type StepRow, type StoredRun } from "./driver.ts";
import {
  DuplicateRunError,
  type ErrorInfo,
  fromErrorInfo,
  isNonRetryable,
  registerErrorClass,
  SluiceError,
  toErrorInfo,
} from "./errors.ts";
import { encodeEventDetail, rowData, type RunErrorData } from "./formats.ts";
import type { RtOf } from "./nodes.ts";
import { deadlineFrom, timeAfter } from "./time.ts";
import { checkRunId } from "./validate.ts";
import { decodeValue, encodeValue } from "./values.ts";
import { retryDelay } from "./attempt.ts";
import { Workflow, workflowFlow, workflowTimeout } from "./builder.ts";
import { flowKeys } from "./flow.ts";
import { StepFailure } from "./suspension.ts";
import { ActivationCore } from "./activation.ts";

/**
 * A child workflow started by `.call` failed (or was cancelled by someone
 * else): the call step fails with this error, whose `cause` is the child's.
 *
 * @example A failing payment fails the order's call step
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChildWorkflowFailedError, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const pay = workflow<number>("pay").step("charge", () => {
 *   throw new Error("card declined");
 * });
 * const order = workflow<number>("order").call("payment", pay);
 * await using runner = new LocalRunner();
 * const error = await runner.run(order, 5).catch((e) => e);
 * assert.ok(error.cause instanceof ChildWorkflowFailedError);
 * assert.match(error.cause.message, /^Child run '.+\/payment' of workflow 'pay' did not complete/);
 * assert.equal(error.cause.cause.message, "card declined");
 * ```
 */
export class ChildWorkflowFailedError extends SluiceError {
  /** The child run's id (in the process that saw the child fail; a stored error keeps it in the message). */
  readonly childId: string;
  /**
   * True when the child failed with a non-retryable error (its `cause` is
   * one): the call step is then not retried, and a run that fails with this
   * error makes its own parent's `.call` fail without retrying too.
   */
  override readonly nonRetryable: boolean;
  /**
   * Creates the error.
   *
   * @param childId The child run.
   * @param workflow The child's workflow name.
   * @param cause The child's error.
   */
  constructor(childId: string, workflow: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      "CHILD_WORKFLOW_FAILED",
      `Child run '${childId}' of workflow '${workflow}' did not complete: ${reason}`,
      { cause },
    );
    this.childId = childId;
    this.nonRetryable = isNonRetryable(cause);
  }
}
registerErrorClass("CHILD_WORKFLOW_FAILED", ChildWorkflowFailedError);

/**
 * @internal Cancels the unfinished `.call` children of `parentId` (and theirs,
 * through the same cascade); spawned children are left alone. A child that
 * finished meanwhile is skipped. With `compensate`, each child is cancelled
 * with compensation (`cancel(…, { compensate: true })` passes it on).
 */
export async function cancelCallChildren(
  driver: Driver,
  parentId: string,
  reason: string,
  now: number,
  compensate = false,
): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await driver.listRuns({
      parentId,
      status: ["pending", "running", "sleeping", "waiting", "paused"],
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    });
    for (const child of page.runs) {
      if (!child.parentCall) continue;
      // Already being cancelled with compensation: its own activation
      // compensates it and cascades to its children.
      if ((child.error as RunErrorData | undefined)?.cancelling) continue;
      try {
        if (compensate) await driver.cancelRun(child.id, reason, now, { compensate: true });
        else await driver.cancelRun(child.id, reason, now);
      } catch (error) {
        if (!(error instanceof SluiceError && error.code === "INVALID_STATE")) throw error;
        continue;
      }
      await cancelCallChildren(driver, child.id, reason, now, compensate);
    }
    cursor = page.nextCursor;
  } while (cursor);
}

/** @internal The activation layer that runs `call` and `spawn` nodes. */
export abstract class ChildActivation extends ActivationCore {
  /** Runs a `call` (waits for the child) or a `spawn` (outputs `{ id }`). */
  protected async child(
    node: RtOf<"call">,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    scope: AbortSignal,
  ): Promise<unknown> {
    const host = this.host;
    const base = await this.#childId(node, value, key);
    const progress = row?.data === undefined ? undefined : rowData.child.decode(row.data);
    let attempt = progress?.attempt ?? 1;
    let recorded = progress !== undefined;
    if (progress?.until !== undefined) await this.waitUntil(progress.until, scope);
    if (!recorded && node.kind === "call") {
      // No row but a finished failed child: `retry()` of the parent dropped the
      // failed call's row; start the next attempt's child rather than re-read it.
      for (;;) {
        const old = await this.store.readRun(attemptId(base, attempt));
        if (!old || (old.status !== "failed" && old.status !== "cancelled")) break;
        attempt++;
      }
    }
    for (;;) {
      if (scope.aborted) throw scope.reason;
      const id = attemptId(base, attempt);
      const startedAt = host.clock.now();
      if (!recorded) {
        // Durable before the child exists: a resumed parent finds this attempt.
        await this.commit([], undefined, {
          key,
          kind: node.kind,
          state: "pending",
          data: rowData.child.encode({ attempt, child: id }),
          attempt,
          startedAt,
        });
      }
      recorded = false;
      await this.#start(node, value, key, id);
      if (node.kind === "spawn") {
        const output = { id };
        await this.record(this.#done(key, node.kind, attempt, startedAt, JSON.stringify(output)));
        return output;
      }
      const child = await this.#awaitChild(id, scope);
      if (child.status === "completed") {
        await this.record(this.#done(key, node.kind, attempt, startedAt, child.output));
        return decodeValue(child.output);
      }
      const cause = fromErrorInfo(child.error ?? { name: "Error", message: "failed" });
      const error = new ChildWorkflowFailedError(id, node.workflow, cause);
      const now = host.clock.now();
      this.pendingEvents.push({
        type: "step.failed",
        at: now,
        step: key,
        attempt,
        detail: encodeEventDetail("step.failed", { error: toErrorInfo(error), startedAt }),
      });
      const retry = node.retry;
      if (retry === undefined || attempt >= retry.maxAttempts || error.nonRetryable) {
        throw new StepFailure(error, key);
      }
      const delay = retryDelay(retry, attempt);
      const until = timeAfter(now, delay);
      attempt++;
      this.pendingEvents.push({
        type: "step.retried",
        at: now,
        step: key,
        attempt,
        detail: encodeEventDetail("step.retried", { wakeAt: until, delayMs: delay }),
      });
      if (delay > 0) {
        this.queue({
          key,
          kind: node.kind,
          state: "pending",
          data: rowData.child.encode({ attempt, child: attemptId(base, attempt), until }),
          attempt,
          startedAt: now,
        });
        await this.waitUntil(until, scope);
      }
    }
  }

  /** The child run id of attempt 1: `id` (or its result), else `<runId>/<key>`. */
  async #childId(node: RtOf<"call">, value: unknown, key: string): Promise<string> {
    const id = node.id === undefined
      ? `${this.runId}/${key}`
      : typeof node.id === "string"
      ? node.id
      : await this.call(key, node.id, value);
    try {
      checkRunId(id);
    } catch (error) {
      throw new StepFailure(error, key);
    }
    return id;
  }

  /** Creates the child run (idempotent: an existing run of the same workflow is it). */
  async #start(node: RtOf<"call">, value: unknown, key: string, id: string): Promise<void> {
    const host = this.host;
    const input = node.input === undefined ? value : await this.call(key, node.input, value);
    const child = node.child;
    let encoded: string | undefined;
    let keys: { concurrencyKey?: string; rateKey?: string };
    try {
      encoded = encodeValue(input, `the input of child '${id}'`, host.maxPayloadBytes);
      // The child's flow-control keys, computed once, as at start.
      const flow = child instanceof Workflow ? workflowFlow(child) : undefined;
      keys = flowKeys(flow, input, child.name);
    } catch (error) {
      throw new StepFailure(error, key);
    }
    const now = host.clock.now();
    const { run, created } = await this.store.startChild({
      id,
      workflow: child.name,
      version: child.version,
      planHash: child.planHash,
      ...(encoded === undefined ? {} : { input: encoded }),
      labels: {},
      dueAt: now,
      parentId: this.runId,
      ...(node.kind === "call" ? { parentCall: true } : {}),
      ...keys,
      ...(child instanceof Workflow ? deadlineFrom(workflowTimeout(child), now) : {}),
    }, now);
    if (!created && (run.workflow !== child.name || run.parentId !== this.runId)) {
      throw new StepFailure(new DuplicateRunError(id, run.workflow, child.name), key);
    }
    if (created && node.kind === "call") await this.#cascadeIfEnded();
  }

  /**
   * A `.call` child created just after its parent ended (cancelled, or failed
   * elsewhere) is missed by the cascade, whose read of the children came
   * first: the parent, read after the creation, cancels its children itself.
   * One read per child created (no cost to runs without children).
   */
  async #cascadeIfEnded(): Promise<void> {
    const parent = await this.store.readRun(this.runId);
    if (parent === undefined) return;
    const now = this.host.clock.now();
    const reason = `parent run '${this.runId}' ended`;
    if (parent.status === "failed" || parent.status === "cancelled") {
      await this.store.cancelCallChildren(reason, now);
    } else if ((parent.error as RunErrorData | undefined)?.cancelling) {
      await this.store.cancelCallChildren(reason, now, true);
    }
  }

  /** Waits (holding no worker once the run suspends) until the child finishes. */
  async #awaitChild(id: string, scope: AbortSignal): Promise<StoredRun> {
    const names = [childSignal(id)];
    for (;;) {
      if (scope.aborted) throw scope.reason;
      const epoch = this.suspension.epoch;
      const child = await this.store.readRun(id);
      if (child === undefined) {
        // Purged (or never created): nothing will ever wake this wait.
        const info: ErrorInfo = { name: "Error", message: `child run '${id}' no longer exists` };
        return { status: "failed", error: info } as StoredRun;
      }
      if (isFinished(child.status)) {
        // Its wake-up (if it left one) has done its job: it leaves the inbox
        // with the next write, the call's own row or failure most often.
        if (child.parentCall) this.dropSignal(names[0]!);
        return child;
      }
      await this.suspension.waitFor(undefined, names, scope, epoch);
    }
  }

  #done(
    key: string,
    kind: string,
    attempt: number,
    startedAt: number,
    data: string | undefined,
  ): StepRow {
    const done: StepRow = {
      key,
      kind,
      state: "done",
      attempt,
      startedAt,
      finishedAt: this.host.clock.now(),
    };
    if (data !== undefined) done.data = data;
    return done;
  }
}

/** The child run id of an attempt: `<id>` for the first, `<id>#<n>` after. */
function attemptId(base: string, attempt: number): string {
  return attempt === 1 ? base : `${base}#${attempt}`;
}
