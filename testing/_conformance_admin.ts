/**
 * Conformance cases. Operations on runs: signal, cancel and retry refused on
 * unknown or finished runs, cancel, retry, purge.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { StoredEvent } from "../lib/driver.ts";
import { done, newRun, T0, WF } from "./rows.ts";
import { cancelledErrorInfo, cancellingErrorInfo } from "../lib/driver_policy.ts";
import {
  CancelledError,
  InvalidStateError,
  LeaseLostError,
  RunNotFoundError,
  toErrorInfo,
} from "../lib/errors.ts";
import {
  claimAll,
  collect,
  type ConformanceCase,
  finished,
  has,
  pending,
  rowsOf,
  started,
  timeline,
} from "./_conformance_helpers.ts";

/** The cases of this area. */
export const ADMIN_CASES: ConformanceCase[] = [
  {
    name:
      "sendSignal, cancelRun and retryRun reject unknown runs and finished runs (retry takes failed and cancelled ones)",
    async fn(driver) {
      await assert.rejects(driver.sendSignal("nope", "go", undefined, T0), RunNotFoundError);
      await assert.rejects(driver.cancelRun("nope", undefined, T0), RunNotFoundError);
      await assert.rejects(driver.retryRun("nope", T0), RunNotFoundError);
      await assert.rejects(driver.history("nope"), RunNotFoundError);
      const completed = await started(driver, "completed");
      await driver.write(completed, { run: { status: "completed", output: "1" } }, T0 + 1);
      const failed = await started(driver, "failed");
      await driver.write(
        failed,
        { run: { status: "failed", error: { name: "Error", message: "boom" } } },
        T0 + 1,
      );
      await driver.createRun(newRun("cancelled"), T0);
      await driver.cancelRun("cancelled", undefined, T0 + 1);
      for (const id of ["completed", "failed", "cancelled"]) {
        const before = await driver.getRun(id);
        const history = await driver.history(id);
        await assert.rejects(driver.sendSignal(id, "go", undefined, T0 + 2), InvalidStateError);
        await assert.rejects(driver.cancelRun(id, "again", T0 + 2), InvalidStateError);
        if (id === "completed") {
          await assert.rejects(driver.retryRun(id, T0 + 2), InvalidStateError);
        }
        assert.deepEqual(await driver.getRun(id), before);
        assert.deepEqual(await driver.history(id), history);
      }
      assert.equal((await driver.getRun("completed"))!.output, "1");
    },
  },
  {
    name:
      "cancelRun with compensate revokes the lease and hands the run back with the cancel error; a cancelled transition ends it",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(lease, { steps: [done("a", "1")] }, T0 + 1);
      const { notices, off } = collect(driver);
      const handed = await driver.cancelRun("run-1", "too slow", T0 + 5, { compensate: true });
      off();
      assert.equal(handed.status, "running");
      assert.equal(handed.dueAt, T0 + 5);
      assert.equal(handed.leaseOwner, undefined);
      assert.equal(handed.leaseToken, lease.token + 1);
      assert.deepEqual(handed.error, cancellingErrorInfo("run-1", "too slow"));
      assert.ok(notices.some((n) => n.type === "cancelled" && n.runId === "run-1"));
      await assert.rejects(driver.write(lease, { steps: [done("b")] }, T0 + 6), LeaseLostError);
      const [claim] = await claimAll(driver, T0 + 6);
      assert.equal(claim?.run.id, "run-1");
      assert.equal(claim.previousOwner, undefined, "not a takeover");
      assert.deepEqual(claim.run.error, handed.error);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b"]), [done("a", "1")]);
      const error = { ...cancelledErrorInfo("run-1", "too slow"), compensated: true };
      await driver.write(claim.lease, {
        events: [{ type: "run.cancelled", at: T0 + 7 }],
        run: { status: "cancelled", error },
      }, T0 + 7);
      const ended = await driver.getRun("run-1");
      assert.equal(ended?.status, "cancelled");
      assert.deepEqual(ended?.error, error);
      assert.equal(ended?.dueAt, undefined);
      assert.deepEqual(await claimAll(driver, T0 + 100_000), []);
      await assert.rejects(driver.cancelRun("run-1", undefined, T0 + 8), InvalidStateError);
    },
  },
  {
    name: "cancelRun revokes the lease and records the reason",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(lease, { steps: [done("a", "1")] }, T0 + 1);
      const { notices, off } = collect(driver);
      const cancelled = await driver.cancelRun("run-1", "too slow", T0 + 5);
      off();
      const error = toErrorInfo(new CancelledError("run-1", "too slow"));
      delete error.stack;
      assert.deepEqual(cancelled, {
        id: "run-1",
        workflow: WF,
        version: "1",
        planHash: "hash-1",
        status: "cancelled",
        error,
        labels: {},
        createdAt: T0,
        updatedAt: T0 + 5,
        leaseToken: lease.token + 1,
      });
      assert.deepEqual(await driver.getRun("run-1"), cancelled);
      assert.ok(
        notices.some((n) =>
          n.type === "cancelled" && n.runId === "run-1" && n.reason === "too slow"
        ),
        "the cancelled notice carries the reason",
      );
      assert.ok(has(notices, "finished", "run-1"));
      await assert.rejects(driver.write(lease, { steps: [done("b")] }, T0 + 6), LeaseLostError);
      await assert.rejects(
        driver.consumeSignal(lease, ["go"], done("w"), {}, T0 + 6),
        LeaseLostError,
      );
      assert.deepEqual(await claimAll(driver, T0 + 100_000), []);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b"]), [done("a", "1")]);
      const history = await driver.history("run-1");
      const last = history[history.length - 1]!;
      assert.equal(last.source, "event");
      assert.deepEqual(
        (last as { event: StoredEvent }).event,
        { type: "run.cancelled", at: T0 + 5, detail: JSON.stringify({ reason: "too slow" }) },
      );
      await driver.createRun(newRun("run-2"), T0);
      const plain = await driver.cancelRun("run-2", undefined, T0 + 1);
      assert.equal(plain.status, "cancelled");
      const items = await driver.history("run-2");
      assert.deepEqual((items[items.length - 1] as { event: StoredEvent }).event, {
        type: "run.cancelled",
        at: T0 + 1,
      });
    },
  },
  {
    name: "retryRun resumes only failed runs and clears the failed step's pending row",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(
        lease,
        {
          steps: [done("a", "1"), pending("b", '{"failures":1}')],
          events: [{ type: "step.failed", at: T0 + 1, step: "b", attempt: 1 }],
        },
        T0 + 1,
      );
      await driver.write(
        lease,
        { run: { status: "failed", error: { name: "Error", message: "boom", step: "b" } } },
        T0 + 2,
      );
      const failed = (await driver.getRun("run-1"))!;
      assert.equal(failed.status, "failed");
      assert.deepEqual(failed.error, { name: "Error", message: "boom", step: "b" });
      assert.equal(failed.dueAt, undefined);
      const { notices, off } = collect(driver);
      const retried = await driver.retryRun("run-1", T0 + 10);
      off();
      assert.equal(retried.status, "pending");
      assert.equal(retried.error, undefined);
      assert.equal(retried.dueAt, T0 + 10);
      assert.equal(retried.updatedAt, T0 + 10);
      assert.deepEqual(await driver.getRun("run-1"), retried);
      assert.ok(has(notices, "runnable", "run-1"));
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b"]), [done("a", "1")]);
      await assert.rejects(driver.retryRun("run-1", T0 + 11), InvalidStateError);
      const [claim] = await claimAll(driver, T0 + 10);
      assert.ok(claim);
      assert.equal(claim.previousStatus, "pending");
      assert.equal(claim.lease.token, lease.token + 1);
      await driver.write(claim.lease, { run: { status: "completed", output: "2" } }, T0 + 12);
      await assert.rejects(driver.retryRun("run-1", T0 + 13), InvalidStateError);
      assert.deepEqual(await timeline(driver, "run-1"), [
        "run.created",
        "run.started",
        "row:a",
        "step.failed:b",
        "run.retried",
        "run.started",
      ]);
    },
  },
  {
    name: "retryRun resumes a cancelled run where it was, keeping its rows and inbox",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(
        lease,
        { steps: [done("a", "1"), pending("b", '{"failures":1}')] },
        T0 + 1,
      );
      await driver.cancelRun("run-1", "oops", T0 + 2);
      await driver.createRun(newRun("run-2"), T0);
      await driver.cancelRun("run-2", undefined, T0 + 2);
      const { notices, off } = collect(driver);
      const retried = await driver.retryRun("run-1", T0 + 10);
      off();
      assert.equal(retried.status, "pending");
      assert.equal(retried.error, undefined);
      assert.equal(retried.dueAt, T0 + 10);
      assert.ok(has(notices, "runnable", "run-1"));
      // A cancelled run has no failed step: its progress rows stay.
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b"]), [
        done("a", "1"),
        pending("b", '{"failures":1}'),
      ]);
      await assert.rejects(driver.retryRun("run-1", T0 + 11), InvalidStateError);
      const claims = await claimAll(driver, T0 + 10);
      assert.deepEqual(claims.map((c) => c.run.id), ["run-1"]); // run-2 stays cancelled
      const claim = claims.find((c) => c.run.id === "run-1")!;
      assert.equal(claim.lease.token, lease.token + 2);
      await assert.rejects(
        driver.write(lease, { steps: [done("b", "2")] }, T0 + 11),
        LeaseLostError,
      );
      assert.deepEqual((await timeline(driver, "run-1")).slice(-3), [
        "run.cancelled",
        "run.retried",
        "run.started",
      ]);
    },
  },
  {
    name: "purge with a status and a limit deletes that many of those runs, oldest first",
    async fn(driver) {
      await finished(driver, "c-3", T0 + 3, "completed");
      await finished(driver, "c-1", T0 + 1, "completed");
      await finished(driver, "f-1", T0 + 1, "failed");
      await finished(driver, "c-2", T0 + 2, "completed");
      await driver.createRun(newRun("x-1"), T0);
      await driver.cancelRun("x-1", undefined, T0 + 1);
      assert.equal(await driver.purge(T0 + 10, { status: "completed", limit: 2 }), 2);
      const left = async () => (await driver.listRuns({})).runs.map((r) => r.id).sort();
      assert.deepEqual(await left(), ["c-3", "f-1", "x-1"]);
      assert.deepEqual(await rowsOf(driver, "c-1", ["a"]), [], "its rows went with it");
      assert.equal(await driver.purge(T0 + 3, { status: "completed", limit: 5 }), 0);
      assert.equal(await driver.purge(T0 + 10, { status: "cancelled" }), 1);
      assert.deepEqual(await left(), ["c-3", "f-1"]);
      assert.equal(await driver.purge(T0 + 10, { limit: 1 }), 1);
      assert.deepEqual(await left(), ["c-3"], "the oldest went first");
    },
  },
  {
    name: "purge deletes only finished runs last updated before the cut-off",
    async fn(driver) {
      await finished(driver, "old-completed", T0 + 10, "completed");
      await finished(driver, "old-failed", T0 + 10, "failed");
      await finished(driver, "new-completed", T0 + 100, "completed");
      await driver.createRun(newRun("old-cancelled"), T0);
      await driver.sendSignal("old-cancelled", "go", undefined, T0 + 1);
      await driver.cancelRun("old-cancelled", undefined, T0 + 10);
      await driver.createRun(newRun("pending", { dueAt: T0 + 1_000_000 }), T0);
      const sleeper = await started(driver, "sleeping");
      await driver.write(sleeper, { run: { status: "sleeping", dueAt: T0 + 99_999 } }, T0 + 10);
      assert.equal(await driver.purge(T0 + 50), 3);
      for (const id of ["old-completed", "old-failed", "old-cancelled"]) {
        assert.equal(await driver.getRun(id), undefined, `${id} is purged`);
        assert.deepEqual(await rowsOf(driver, id, ["a"]), []);
        await assert.rejects(driver.history(id), RunNotFoundError);
      }
      for (const id of ["new-completed", "pending", "sleeping"]) {
        assert.ok(await driver.getRun(id), `${id} is kept`);
      }
      assert.deepEqual(await rowsOf(driver, "new-completed", ["a"]), [done("a", "1")]);
      assert.equal(await driver.purge(T0 + 50), 0);
      assert.equal(await driver.purge(T0 + 101), 1);
    },
  },
  {
    name:
      "deadlineAt is stored with a new run (plain, forked, signalled) and renewed or cleared by retryRun",
    async fn(driver) {
      const deadline = T0 + 3_600_000;
      await driver.createRun(newRun("d-1", { deadlineAt: deadline }), T0);
      await driver.createRun(newRun("d-2"), T0);
      await driver.createRun(
        newRun("d-3", { deadlineAt: deadline + 1, steps: [done("a", "1")] }),
        T0,
      );
      await driver.startWithSignal(newRun("d-4", { deadlineAt: deadline + 2 }), { name: "go" }, T0);
      assert.equal((await driver.getRun("d-1"))!.deadlineAt, deadline);
      assert.equal((await driver.getRun("d-2"))!.deadlineAt, undefined);
      assert.equal((await driver.getRun("d-3"))!.deadlineAt, deadline + 1);
      assert.equal((await driver.getRun("d-4"))!.deadlineAt, deadline + 2);
      const listed = (await driver.listRuns({})).runs.find((r) => r.id === "d-1");
      assert.equal(listed?.deadlineAt, deadline);
      // A claim hands it to the worker; an existing run keeps its own on a repeated create.
      const claims = await claimAll(driver, T0);
      assert.equal(claims.find((c) => c.run.id === "d-1")?.run.deadlineAt, deadline);
      const again = await driver.createRun(newRun("d-1", { deadlineAt: deadline + 9 }), T0 + 1);
      assert.equal(again.run.deadlineAt, deadline);
      for (const [id, i] of [["d-1", 0], ["d-2", 1]] as const) {
        const claim = claims.find((c) => c.run.id === id)!;
        await driver.write(
          claim.lease,
          { run: { status: "failed", error: { name: "Error", message: `timed out ${i}` } } },
          T0 + 2,
        );
      }
      const renewed = await driver.retryRun("d-1", T0 + 10, { deadlineAt: T0 + 10 + 60_000 });
      assert.equal(renewed.deadlineAt, T0 + 10 + 60_000);
      assert.equal((await driver.getRun("d-1"))!.deadlineAt, T0 + 10 + 60_000);
      const given = await driver.retryRun("d-2", T0 + 10, { deadlineAt: T0 + 99 });
      assert.equal(given.deadlineAt, T0 + 99);
      // Without one, a retried run has none.
      const [claim] = (await claimAll(driver, T0 + 10)).filter((c) => c.run.id === "d-1");
      await driver.write(
        claim!.lease,
        { run: { status: "failed", error: { name: "Error", message: "again" } } },
        T0 + 11,
      );
      const cleared = await driver.retryRun("d-1", T0 + 12);
      assert.equal(cleared.deadlineAt, undefined);
      assert.equal((await driver.getRun("d-1"))!.deadlineAt, undefined);
    },
  },
];
