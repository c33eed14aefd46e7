/**
 * Conformance cases. Run control: pausing and resuming runs (a paused run is
 * never claimed, keeps what it would resume with: timers, signals, a lease
 * in flight, and resumes in the status it would have now), and runs created
 * with the rows they start with (forks).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Driver, Lease } from "../lib/driver.ts";
import { done, newRun, T0 } from "./rows.ts";
import { InvalidStateError, RunNotFoundError } from "../lib/errors.ts";
import {
  claimAll,
  collect,
  type ConformanceCase,
  has,
  ids,
  LEASE_MS,
  rowsOf,
  started,
  timeline,
} from "./_conformance_helpers.ts";

/** Pauses a run and checks it is parked: paused, not due, not claimable. */
async function pauseAndCheck(driver: Driver, runId: string, now: number): Promise<void> {
  const paused = await driver.pauseRun(runId, now);
  assert.equal(paused.status, "paused");
  assert.equal(paused.dueAt, undefined);
  assert.deepEqual(await driver.getRun(runId), paused);
  const later = now + 10 * LEASE_MS;
  assert.deepEqual(ids(await claimAll(driver, later, { workflows: [runId] })), []);
  assert.equal(await driver.nextDueAt([runId]), undefined);
}

/** Creates a run of its own workflow (named as the run) and claims it. */
async function startedAlone(driver: Driver, id: string, now: number): Promise<Lease> {
  await driver.createRun(newRun(id, { workflow: id, dueAt: now }), now);
  const [claim] = await claimAll(driver, now, { workflows: [id] });
  assert.ok(claim);
  return claim.lease;
}

/** The cases of this area. */
export const PAUSE_CASES: ConformanceCase[] = [
  {
    name:
      "pauseRun parks pending, sleeping and waiting runs; resumeRun restores them with what fell due",
    async fn(driver) {
      const { notices, off } = collect(driver);
      await driver.createRun(newRun("pending", { workflow: "pending" }), T0);
      await pauseAndCheck(driver, "pending", T0 + 1);
      assert.ok(has(notices, "paused", "pending"));
      off();
      // Pausing again changes nothing.
      const history = await driver.history("pending");
      assert.equal((await driver.pauseRun("pending", T0 + 2)).updatedAt, T0 + 1);
      assert.deepEqual(await driver.history("pending"), history);
      const resumed = await driver.resumeRun("pending", T0 + 5);
      assert.equal(resumed.status, "pending");
      assert.equal(resumed.dueAt, T0);
      assert.deepEqual(await timeline(driver, "pending"), [
        "run.created",
        "run.paused",
        "run.resumed",
      ]);

      const sleeper = await startedAlone(driver, "sleeping", T0 + 10);
      await driver.write(sleeper, { run: { status: "sleeping", dueAt: T0 + 50 } }, T0 + 11);
      await pauseAndCheck(driver, "sleeping", T0 + 12);
      const slept = await driver.resumeRun("sleeping", T0 + 200);
      assert.equal(slept.status, "sleeping");
      assert.equal(slept.dueAt, T0 + 50, "the timer that fell due fires after the resume");

      const waiter = await startedAlone(driver, "waiting", T0 + 20);
      await driver.write(waiter, { run: { status: "waiting", waitingFor: ["go"] } }, T0 + 21);
      await pauseAndCheck(driver, "waiting", T0 + 22);
      await driver.sendSignal("waiting", "go", '"p"', T0 + 23);
      assert.equal((await driver.getRun("waiting"))?.status, "paused");
      assert.deepEqual(ids(await claimAll(driver, T0 + 24, { workflows: ["waiting"] })), []);
      const woken = await driver.resumeRun("waiting", T0 + 30);
      assert.equal(woken.status, "waiting");
      assert.deepEqual(woken.waitingFor, ["go"]);
      assert.equal(woken.dueAt, T0 + 23, "the signal that came meanwhile wakes it");
      const workflows = ["pending", "sleeping", "waiting"];
      const claims = await claimAll(driver, T0 + 300, { workflows });
      assert.deepEqual(ids(claims).sort(), workflows);
      const claim = claims.find((c) => c.run.id === "waiting")!;
      const row = { key: "w", kind: "wait", state: "done" as const };
      const signal = await driver.consumeSignal(claim.lease, ["go"], row, {}, T0 + 301);
      assert.deepEqual(signal, { name: "go", payload: '"p"' });
    },
  },
  {
    name:
      "a paused running run keeps its lease: steps in flight are written and it resumes as handed back",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.pauseRun("run-1", T0 + 1);
      const [state] = await driver.extendLeases([lease], T0 + 2, LEASE_MS);
      assert.equal(state?.state, "paused");
      await driver.write(lease, { steps: [done("a", "1")] }, T0 + 3);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a"]), [done("a", "1")]);
      // The activation hands the run back: it stays paused, without an owner.
      await driver.write(lease, { run: { status: "running" } }, T0 + 4);
      const parked = (await driver.getRun("run-1"))!;
      assert.equal(parked.status, "paused");
      assert.equal(parked.leaseOwner, undefined);
      assert.deepEqual(ids(await claimAll(driver, T0 + 10 * LEASE_MS)), []);
      await driver.resumeRun("run-1", T0 + 5);
      const [again] = await claimAll(driver, T0 + 5);
      assert.equal(again?.run.id, "run-1");
      assert.equal(again?.previousStatus, "running");
      assert.equal(again?.previousOwner, undefined, "a handed-back run is no takeover");
      assert.deepEqual(await timeline(driver, "run-1"), [
        "run.created",
        "run.started",
        "run.paused",
        "row:a",
        "run.resumed",
      ]);
    },
  },
  {
    name:
      "a write under a paused run's lease is kept and reports the pause before it settles, whatever its shape",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      const other = await started(driver, "run-2");
      const { notices, off } = collect(driver);
      await driver.write(lease, { steps: [done("a", "1")] }, T0 + 1);
      assert.ok(!has(notices, "paused", "run-1"), "a running run's write reports nothing");
      await driver.pauseRun("run-1", T0 + 2);
      await driver.sendSignal("run-1", "go", '"p"', T0 + 2);
      const failed = { type: "step.failed" as const, at: T0 + 4, step: "c", attempt: 1 };
      const signalRow = { key: "g", kind: "wait", state: "done" as const };
      const writes: [string, () => Promise<unknown>][] = [
        ["one row", () => driver.write(lease, { steps: [done("b", "2")] }, T0 + 3)],
        [
          "rows and an event",
          () =>
            driver.write(
              lease,
              { steps: [done("c", "3"), done("d", "4")], events: [failed] },
              T0 + 4,
            ),
        ],
        [
          "labels",
          () => driver.write(lease, { steps: [done("e", "5")], labels: { stage: "e" } }, T0 + 5),
        ],
        [
          "a reset of recoveries",
          () => driver.write(lease, { steps: [done("f", "6")], clearRecoveries: true }, T0 + 6),
        ],
        ["a consumed signal", () => driver.consumeSignal(lease, ["go"], signalRow, {}, T0 + 7)],
        ["rows already done", () => driver.write(lease, { steps: [done("b", "9")] }, T0 + 8)],
        // Written at once with another run's rows (drivers may group them).
        ["one row beside a running run's", async () => {
          await Promise.all([
            driver.write(lease, { steps: [done("h", "8")] }, T0 + 9),
            driver.write(other, { steps: [done("h", "8")] }, T0 + 9),
          ]);
        }],
      ];
      for (const [what, write] of writes) {
        notices.length = 0;
        let reported: boolean | undefined;
        await write().then(() => reported = has(notices, "paused", "run-1"));
        assert.equal(reported, true, `${what}: the pause is reported before the write settles`);
        assert.ok(!has(notices, "paused", "run-2"), `${what}: only the paused run's`);
      }
      off();
      const keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
      assert.deepEqual((await rowsOf(driver, "run-1", keys)).map((row) => row.key), keys);
      assert.equal((await driver.readSteps("run-1", ["b"])).get("b")?.data, "2");
      assert.deepEqual((await rowsOf(driver, "run-2", ["h"])).map((row) => row.data), ["8"]);
      const run = (await driver.getRun("run-1"))!;
      assert.equal(run.status, "paused");
      assert.deepEqual(run.labels, { stage: "e" });
    },
  },
  {
    name: "a paused running run that suspends resumes suspended; one that ends ends",
    async fn(driver) {
      const sleeper = await startedAlone(driver, "sleeper", T0);
      await driver.pauseRun("sleeper", T0 + 1);
      await driver.write(sleeper, { run: { status: "sleeping", dueAt: T0 + 100 } }, T0 + 2);
      assert.equal((await driver.getRun("sleeper"))?.status, "paused");
      assert.deepEqual(ids(await claimAll(driver, T0 + 1000, { workflows: ["sleeper"] })), []);
      const resumed = await driver.resumeRun("sleeper", T0 + 50);
      assert.equal(resumed.status, "sleeping");
      assert.equal(resumed.dueAt, T0 + 100);

      const ender = await started(driver, "ender");
      await driver.pauseRun("ender", T0 + 1);
      await driver.write(ender, { run: { status: "completed", output: "7" } }, T0 + 2);
      const ended = (await driver.getRun("ender"))!;
      assert.equal(ended.status, "completed");
      assert.equal(ended.output, "7");
      await assert.rejects(driver.resumeRun("ender", T0 + 3), InvalidStateError);

      // A paused run whose worker died is taken over after the resume, like any expired lease.
      const dead = await started(driver, "dead", T0, 1_000);
      await driver.pauseRun("dead", T0 + 1);
      await driver.resumeRun("dead", T0 + 2);
      assert.deepEqual(ids(await claimAll(driver, T0 + 500)), []);
      const [takeover] = await claimAll(driver, T0 + 1_000, { workerId: "worker-2" });
      assert.equal(takeover?.previousOwner, "worker-1");
      await assert.rejects(driver.write(dead, { steps: [done("x")] }, T0 + 1_001));
    },
  },
  {
    name: "cancelRun takes paused runs; pauseRun and resumeRun refuse unknown and finished runs",
    async fn(driver) {
      await assert.rejects(driver.pauseRun("nope", T0), RunNotFoundError);
      await assert.rejects(driver.resumeRun("nope", T0), RunNotFoundError);
      const lease = await started(driver, "run-1");
      await driver.pauseRun("run-1", T0 + 1);
      const { notices, off } = collect(driver);
      const cancelled = await driver.cancelRun("run-1", "stop", T0 + 2);
      off();
      assert.equal(cancelled.status, "cancelled");
      assert.ok(has(notices, "cancelled", "run-1"));
      await assert.rejects(driver.write(lease, { steps: [done("a")] }, T0 + 3));
      await driver.createRun(newRun("run-2"), T0);
      for (const id of ["run-1", "run-2"]) {
        const before = await driver.getRun(id);
        const history = await driver.history(id);
        if (id === "run-1") await assert.rejects(driver.pauseRun(id, T0 + 4), InvalidStateError);
        await assert.rejects(driver.resumeRun(id, T0 + 4), InvalidStateError);
        assert.deepEqual(await driver.getRun(id), before);
        assert.deepEqual(await driver.history(id), history);
      }
    },
  },
  {
    name: "createRun records the rows a run starts with, after run.created, atomically with it",
    async fn(driver) {
      const rows = [done("a", '"x"', T0), done("b", "2", T0 + 1)];
      const { run, created } = await driver.createRun(newRun("fork-1", { steps: rows }), T0 + 5);
      assert.ok(created);
      assert.equal(run.status, "pending");
      assert.deepEqual(await rowsOf(driver, "fork-1", ["a", "b", "c"]), rows);
      assert.deepEqual(await timeline(driver, "fork-1"), ["run.created", "row:a", "row:b"]);
      // An existing id keeps its run and rows.
      const again = await driver.createRun(
        newRun("fork-1", { steps: [done("a", '"other"')] }),
        T0 + 6,
      );
      assert.equal(again.created, false);
      assert.deepEqual(await rowsOf(driver, "fork-1", ["a"]), [rows[0]]);
      // Flow-control keys, priority and parent are stored as for any new run.
      const keyed = await driver.createRun(
        newRun("fork-2", {
          steps: [done("a", "1", T0)],
          concurrencyKey: "k1",
          rateKey: "r1",
          priority: 3,
          parentId: "parent-1",
          dueAt: T0 + 3_600_000, // not claimable during this case
        }),
        T0 + 5,
      );
      const stored = await driver.getRun("fork-2");
      for (const run of [keyed.run, stored!]) {
        assert.equal(run.concurrencyKey, "k1");
        assert.equal(run.rateKey, "r1");
        assert.equal(run.priority, 3);
        assert.equal(run.parentId, "parent-1");
      }
      // The rows are the run's own: claimed, it resumes after them.
      assert.equal(run.leaseToken, 1, "its first claim is not taken for a fresh run");
      const [claim] = await claimAll(driver, T0 + 10);
      assert.equal(claim?.run.id, "fork-1");
      assert.equal(claim?.lease.token, 2);
      await driver.write(claim!.lease, { steps: [done("c", "3", T0 + 11)] }, T0 + 11);
      assert.deepEqual(await timeline(driver, "fork-1"), [
        "run.created",
        "row:a",
        "row:b",
        "run.started",
        "row:c",
      ]);
    },
  },
  {
    name: "recordWorker keeps one row per worker, forgets long-dead ones; removeWorker deletes",
    async fn(driver) {
      const serves = [{ workflow: "wf", version: "1", planHash: "h" }];
      const row = (id: string, lastSeenAt: number) => ({
        id,
        host: "box-'1\"",
        pid: 4242,
        startedAt: T0,
        lastSeenAt,
        heartbeatMs: 10_000,
        serves,
      });
      await driver.recordWorker(row("w-b", T0 + 1), T0 - 1);
      await driver.recordWorker(row("w-a", T0 + 2), T0 - 1);
      await driver.recordWorker(row("w-b", T0 + 3), T0 - 1);
      assert.deepEqual(await driver.listWorkers(), [row("w-a", T0 + 2), row("w-b", T0 + 3)]);
      await driver.recordWorker(row("w-c", T0 + 10), T0 + 3);
      assert.deepEqual(await driver.listWorkers(), [row("w-b", T0 + 3), row("w-c", T0 + 10)]);
      await driver.removeWorker("w-b");
      await driver.removeWorker("nobody");
      assert.deepEqual(await driver.listWorkers(), [row("w-c", T0 + 10)]);
    },
  },
  {
    name:
      "a write's labels merge onto the run's labels under the lease; a stale lease changes none",
    async fn(driver) {
      await driver.createRun(newRun("run-1", { labels: { team: "a", stage: "new" } }), T0);
      const [claim] = await claimAll(driver, T0);
      const lease = claim!.lease;
      await driver.write(
        lease,
        { steps: [done("a", "1")], labels: { stage: "paid", "k'\"": "v" } },
        T0 + 1,
      );
      assert.deepEqual((await driver.getRun("run-1"))?.labels, {
        team: "a",
        stage: "paid",
        "k'\"": "v",
      });
      assert.deepEqual(
        (await driver.listRuns({ labels: { stage: "paid" } })).runs.map((r) => r.id),
        ["run-1"],
      );
      assert.deepEqual((await driver.listRuns({ labels: { stage: "new" } })).runs, []);
      await driver.write(lease, { labels: { region: "eu" } }, T0 + 2);
      assert.equal((await driver.getRun("run-1"))?.labels.region, "eu");
      const stale = { ...lease, token: lease.token - 1 };
      await assert.rejects(driver.write(stale, { labels: { stage: "x" } }, T0 + 3));
      assert.equal((await driver.getRun("run-1"))?.labels.stage, "paid");
    },
  },
];
