/**
 * Conformance cases. Runs, claims and leases: creating runs, claiming them once
 * and in due order, expired and stale leases, extending leases.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { StoredRun } from "../lib/driver.ts";
import { done, newRun, T0, WF } from "./rows.ts";
import { LeaseLostError } from "../lib/errors.ts";
import {
  claimAll,
  collect,
  type ConformanceCase,
  has,
  ids,
  LEASE_MS,
  pending,
  rowsOf,
  started,
  timeline,
} from "./_conformance_helpers.ts";

/** The cases of this area. */
export const RUNS_CASES: ConformanceCase[] = [
  {
    name: "createRun stores a pending run and returns the existing run for a known id",
    async fn(driver) {
      const { run, created } = await driver.createRun(
        newRun("run-1", { input: '{"a":1}', labels: { team: "core" } }),
        T0,
      );
      assert.equal(created, true);
      const expected: StoredRun = {
        id: "run-1",
        workflow: WF,
        version: "1",
        planHash: "hash-1",
        status: "pending",
        input: '{"a":1}',
        labels: { team: "core" },
        createdAt: T0,
        updatedAt: T0,
        dueAt: T0,
        leaseToken: 0,
      };
      assert.deepEqual(run, expected);
      assert.deepEqual(await driver.getRun("run-1"), expected);
      const again = await driver.createRun(
        newRun("run-1", { workflow: "another", version: "2", input: '"x"', dueAt: T0 + 5 }),
        T0 + 10,
      );
      assert.equal(again.created, false);
      assert.deepEqual(again.run, expected);
      assert.deepEqual(await driver.getRun("run-1"), expected);
      assert.deepEqual(await timeline(driver, "run-1"), ["run.created"]);
      assert.equal(await driver.getRun("missing"), undefined);
      const bare = await driver.createRun(newRun("run-2"), T0);
      assert.equal("input" in bare.run, false);
      assert.equal("input" in (await driver.getRun("run-2"))!, false);
    },
  },
  {
    name:
      "createRun returns each new run as getRun reads it back, plain or with keys, priority, parent, deadline and claim, created together",
    async fn(driver) {
      const rich = newRun("rich", {
        input: '{"n":1}',
        labels: { team: "core", tier: "gold" },
        concurrencyKey: "tenant-1",
        rateKey: "tenant-1",
        priority: 5,
        parentId: "parent-1",
        parentCall: true,
        deadlineAt: T0 + 60_000,
        claimFor: { workerId: "worker-1", leaseMs: 1_000 },
      });
      // Started at once, so that a driver that groups creations gets them together.
      const made = await Promise.all([
        driver.createRun(newRun("plain", { input: '"x"' }), T0),
        driver.createRun(rich, T0),
        driver.createRun(newRun("keyed", { concurrencyKey: "k", priority: -1 }), T0),
      ]);
      for (const { run, created } of made) {
        assert.equal(created, true);
        assert.deepEqual(run, await driver.getRun(run.id));
      }
      const [plain, stored, keyed] = made.map(({ run }) => run);
      assert.equal(plain!.status, "pending");
      assert.equal(stored!.status, "running");
      assert.equal(stored!.leaseOwner, "worker-1");
      assert.equal(stored!.parentId, "parent-1");
      assert.equal(stored!.parentCall, true);
      assert.equal(stored!.deadlineAt, T0 + 60_000);
      assert.equal(stored!.priority, 5);
      assert.deepEqual(stored!.labels, { team: "core", tier: "gold" });
      assert.equal(keyed!.concurrencyKey, "k");
      assert.equal(keyed!.priority, -1);
    },
  },
  {
    name:
      "createRun with claimFor stores the run running under that worker's lease, without a runnable notice",
    async fn(driver) {
      const { notices, off } = collect(driver);
      const claimFor = { workerId: "worker-1", leaseMs: 1_000 };
      const { run, created } = await driver.createRun(newRun("run-1", { claimFor }), T0);
      await driver.createRun(newRun("run-2"), T0);
      off();
      assert.equal(created, true);
      assert.equal(run.status, "running");
      assert.equal(run.leaseOwner, "worker-1");
      assert.equal(run.leaseToken, 1);
      assert.equal(run.dueAt, T0 + 1_000);
      assert.equal(run.updatedAt, T0);
      assert.deepEqual(await driver.getRun("run-1"), run);
      assert.deepEqual(await timeline(driver, "run-1"), ["run.created", "run.started"]);
      assert.equal(has(notices, "runnable", "run-1"), false, "no one else may claim it");
      assert.equal(has(notices, "runnable", "run-2"), true);
      // Claimed once: others see it only as a running run whose lease has not expired.
      assert.deepEqual(ids(await claimAll(driver, T0 + 999, { workerId: "worker-2" })), ["run-2"]);
      await driver.write({ runId: "run-1", token: 1 }, { steps: [done("a")] }, T0 + 1);
      const again = await driver.createRun(
        newRun("run-1", { claimFor: { workerId: "worker-2", leaseMs: 1_000 } }),
        T0 + 2,
      );
      assert.equal(again.created, false);
      assert.equal(again.run.leaseOwner, "worker-1", "an existing run is not claimed again");
      const [takeover] = await claimAll(driver, T0 + 1_000, { workerId: "worker-2" });
      assert.equal(takeover?.run.id, "run-1");
      assert.equal(takeover?.previousOwner, "worker-1");
      assert.equal(takeover?.lease.token, 2);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a"]), [done("a")]);
    },
  },
  {
    name: "claimRuns never hands the same run to two concurrent claimers",
    async fn(driver) {
      for (let i = 0; i < 20; i++) {
        await driver.createRun(newRun(`run-${String(i).padStart(2, "0")}`, { dueAt: T0 + i }), T0);
      }
      const batches = await Promise.all(
        Array.from(
          { length: 8 },
          (_, i) => claimAll(driver, T0 + 100, { workerId: `worker-${i}`, limit: 3 }),
        ),
      );
      const claimed = batches.flatMap(ids);
      assert.equal(claimed.length, 20, "every due run is claimed");
      assert.equal(new Set(claimed).size, 20, "no run is claimed twice");
      batches.forEach((claims, i) => {
        for (const claim of claims) {
          assert.equal(claim.run.status, "running");
          assert.equal(claim.run.leaseOwner, `worker-${i}`);
          assert.equal(claim.run.dueAt, T0 + 100 + LEASE_MS);
          assert.equal(claim.previousStatus, "pending");
          assert.deepEqual(claim.lease, { runId: claim.run.id, token: 1 });
          assert.equal(claim.run.leaseToken, 1);
        }
      });
      assert.deepEqual(await claimAll(driver, T0 + 200), []);
    },
  },
  {
    name: "claimRuns honours due order, the workflows filter and the limit",
    async fn(driver) {
      await driver.createRun(newRun("a", { dueAt: T0 + 30 }), T0);
      await driver.createRun(newRun("b", { dueAt: T0 + 10 }), T0);
      await driver.createRun(newRun("c", { dueAt: T0 + 20 }), T0);
      await driver.createRun(newRun("d", { dueAt: T0 + 5, workflow: "other" }), T0);
      await driver.createRun(newRun("e", { dueAt: T0 + 1_000 }), T0);
      assert.equal(await driver.nextDueAt([WF]), T0 + 10);
      assert.equal(await driver.nextDueAt([WF, "other"]), T0 + 5);
      assert.equal(await driver.nextDueAt(["unknown"]), undefined);
      assert.deepEqual(await claimAll(driver, T0 + 4), []);
      assert.deepEqual(ids(await claimAll(driver, T0 + 100, { limit: 2 })), ["b", "c"]);
      assert.deepEqual(ids(await claimAll(driver, T0 + 100, { limit: 10 })), ["a"]);
      assert.deepEqual(await claimAll(driver, T0 + 100, { workflows: [] }), []);
      assert.deepEqual(ids(await claimAll(driver, T0 + 100, { workflows: ["other"] })), ["d"]);
      assert.equal(await driver.nextDueAt([WF]), T0 + 1_000);
      assert.deepEqual(ids(await claimAll(driver, T0 + 1_000)), ["e"]);
      const claimed = (await driver.getRun("b"))!;
      assert.equal(claimed.updatedAt, T0 + 100);
      assert.deepEqual(await timeline(driver, "b"), ["run.created", "run.started"]);
    },
  },
  {
    name: "an expired lease makes the run claimable again with a higher token",
    async fn(driver) {
      const first = await started(driver, "run-1", T0, 1_000);
      assert.equal(first.token, 1);
      assert.deepEqual(await claimAll(driver, T0 + 999, { workerId: "worker-2" }), []);
      const [again] = await claimAll(driver, T0 + 1_000, { workerId: "worker-2" });
      assert.ok(again);
      assert.equal(again.previousStatus, "running");
      assert.equal(again.lease.token, 2);
      assert.equal(again.run.leaseOwner, "worker-2");
      assert.equal(again.run.updatedAt, T0, "a reclaim is not a status change");
      await assert.rejects(driver.write(first, { steps: [done("a")] }, T0 + 1_001), LeaseLostError);
      await driver.write(again.lease, { steps: [done("a", "1")] }, T0 + 1_001);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a"]), [done("a", "1")]);
      assert.deepEqual(await timeline(driver, "run-1"), [
        "run.created",
        "run.started",
        "run.recovered",
        "row:a",
      ]);
    },
  },
  {
    name:
      "a takeover is a recovery: counted, recorded, and reset by a flagged write or a transition",
    async fn(driver) {
      const recoveries = async () => (await driver.getRun("run-1"))!.recoveries;
      await started(driver, "run-1", T0, 1_000);
      assert.equal(await recoveries(), undefined);
      const [second] = await claimAll(driver, T0 + 1_000, { workerId: "worker-2", leaseMs: 1_000 });
      assert.equal(second?.previousOwner, "worker-1");
      assert.equal(second?.run.recoveries, 1);
      const [third] = await claimAll(driver, T0 + 2_000, { workerId: "worker-3", leaseMs: 1_000 });
      assert.equal(third?.previousOwner, "worker-2");
      assert.equal(third?.run.recoveries, 2);
      await driver.write(third.lease, { steps: [done("a")] }, T0 + 2_001);
      assert.equal(await recoveries(), 2, "an unflagged write keeps the count");
      await driver.write(third.lease, { steps: [done("b")], clearRecoveries: true }, T0 + 2_002);
      assert.equal(await recoveries(), undefined, "a flagged write resets it");
      const [fourth] = await claimAll(driver, T0 + 4_000, { leaseMs: 1_000 });
      assert.equal(fourth?.run.recoveries, 1);
      await assert.rejects(
        driver.write(third.lease, { clearRecoveries: true }, T0 + 4_001),
        LeaseLostError,
      );
      assert.equal(await recoveries(), 1, "a stale flagged write changes nothing");
      await driver.write(fourth.lease, { run: { status: "running" } }, T0 + 4_002);
      assert.equal(await recoveries(), undefined, "a transition resets it");
      const [fifth] = await claimAll(driver, T0 + 4_002, { workerId: "worker-2" });
      assert.equal(fifth?.previousStatus, "running");
      assert.equal(fifth?.previousOwner, undefined, "a handed-back run is not taken over");
      const recovered = (await driver.history("run-1")).flatMap((item) =>
        item.source === "event" && item.event.type === "run.recovered"
          ? [{ at: item.event.at, ...JSON.parse(item.event.detail!) }]
          : []
      );
      assert.deepEqual(recovered, [
        { at: T0 + 1_000, previousWorker: "worker-1", worker: "worker-2" },
        { at: T0 + 2_000, previousWorker: "worker-2", worker: "worker-3" },
        { at: T0 + 4_000, previousWorker: "worker-3", worker: "worker-1" },
      ]);
    },
  },
  {
    name: "a stale lease is refused on every fenced write and leaves data unchanged",
    async fn(driver) {
      const stale = await started(driver, "run-1", T0, 1_000);
      await driver.write(stale, { steps: [done("a", "1"), pending("b", '{"n":1}')] }, T0 + 1);
      const [fresh] = await claimAll(driver, T0 + 2_000, { workerId: "worker-2" });
      assert.ok(fresh);
      await driver.sendSignal("run-1", "go", '"payload"', T0 + 2_001);
      const keys = ["a", "b", "c", "wait"];
      const before = {
        run: await driver.getRun("run-1"),
        rows: await rowsOf(driver, "run-1", keys),
        history: await driver.history("run-1"),
      };
      const attempts: [string, () => Promise<unknown>][] = [
        ["a row", () => driver.write(stale, { steps: [done("c", "3")] }, T0 + 2_002)],
        [
          "a done row over a pending one",
          () => driver.write(stale, { steps: [done("b", "2")] }, T0 + 2_002),
        ],
        ["several rows", () =>
          driver.write(
            stale,
            { steps: Array.from({ length: 6 }, (_, i) => done(`c${i}`, String(i))) },
            T0 + 2_002,
          )],
        [
          "an event",
          () => driver.write(stale, { events: [{ type: "step.failed", at: T0, step: "c" }] }, T0),
        ],
        ["an empty batch", () => driver.write(stale, {}, T0 + 2_002)],
        [
          "a completion",
          () => driver.write(stale, { run: { status: "completed", output: "1" } }, T0 + 2_002),
        ],
        ["a failure", () =>
          driver.write(
            stale,
            { run: { status: "failed", error: { name: "Error", message: "x" } } },
            T0 + 2_002,
          )],
        [
          "a sleep",
          () => driver.write(stale, { run: { status: "sleeping", dueAt: T0 + 9_000 } }, T0 + 2_002),
        ],
        ["a release", () => driver.write(stale, { run: { status: "running" } }, T0 + 2_002)],
        [
          "a signal consumption",
          () => driver.consumeSignal(stale, ["go"], done("wait"), {}, T0 + 2_002),
        ],
        [
          "a token never issued",
          () => driver.write({ runId: "run-1", token: 99 }, { steps: [done("c")] }, T0 + 2_002),
        ],
        [
          "an unknown run",
          () => driver.write({ runId: "nope", token: 1 }, { steps: [done("c")] }, T0 + 2_002),
        ],
      ];
      for (const [what, attempt] of attempts) {
        await assert.rejects(async () => await attempt(), LeaseLostError, `${what} is refused`);
      }
      assert.deepEqual(await driver.getRun("run-1"), before.run);
      assert.deepEqual(await rowsOf(driver, "run-1", keys), before.rows);
      assert.deepEqual(await driver.history("run-1"), before.history);
      const got = await driver.consumeSignal(fresh.lease, ["go"], done("wait"), {}, T0 + 2_003);
      assert.deepEqual(got, { name: "go", payload: '"payload"' });
    },
  },
  {
    name: "extendLeases reports held, lost and cancelled leases and pending signals",
    async fn(driver) {
      for (const id of ["a", "b", "c"]) await driver.createRun(newRun(id), T0);
      const claims = await claimAll(driver, T0, { leaseMs: 1_000 });
      const lease = (id: string) => claims.find((c) => c.run.id === id)!.lease;
      await driver.sendSignal("b", "go", undefined, T0 + 1);
      assert.deepEqual(await driver.extendLeases([lease("b")], T0 + 500, 1_000), [
        { runId: "b", state: "held", signals: true },
      ]);
      assert.equal((await driver.getRun("b"))!.dueAt, T0 + 1_500);
      await driver.cancelRun("c", "stop", T0 + 600);
      assert.deepEqual(ids(await claimAll(driver, T0 + 1_200, { workerId: "worker-2" })), ["a"]);
      const states = await driver.extendLeases(
        [lease("a"), lease("b"), lease("c"), { runId: "nope", token: 1 }],
        T0 + 1_200,
        1_000,
      );
      assert.deepEqual(states, [
        { runId: "a", state: "lost", signals: false },
        { runId: "b", state: "held", signals: true },
        { runId: "c", state: "cancelled", signals: false },
        { runId: "nope", state: "cancelled", signals: false },
      ]);
      assert.equal((await driver.getRun("b"))!.dueAt, T0 + 2_200);
      assert.deepEqual(await driver.extendLeases([], T0, 1_000), []);
    },
  },
];
