/**
 * Conformance cases for flow control: concurrency limits, rate limits and
 * priority, enforced by the driver's claim.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ClaimOptions, Driver, DriverNotice, FlowLimitsByWorkflow } from "../lib/driver.ts";
import { done, newRun, T0, WF } from "./rows.ts";
import { collect, type ConformanceCase, has, ids, LEASE_MS } from "./_conformance_helpers.ts";

function claimWith(
  driver: Driver,
  now: number,
  flow: FlowLimitsByWorkflow | undefined,
  options: Partial<ClaimOptions> = {},
) {
  return driver.claimRuns({
    workerId: "worker-1",
    now,
    leaseMs: LEASE_MS,
    limit: 100,
    workflows: [WF],
    ...(flow ? { flow } : {}),
    ...options,
  });
}

async function createMany(driver: Driver, ids: string[], key: (id: string) => object = () => ({})) {
  for (const [i, id] of ids.entries()) {
    await driver.createRun(newRun(id, { dueAt: T0 + i, ...key(id) }), T0);
  }
}

/** The cases of this area. */
export const FLOW_CASES: ConformanceCase[] = [
  {
    name: "flow: keys and priority are stored with the run",
    async fn(driver) {
      await driver.createRun(
        newRun("keyed", { concurrencyKey: "eu", rateKey: "acme", priority: 7 }),
        T0,
      );
      await driver.createRun(newRun("plain"), T0);
      const keyed = await driver.getRun("keyed");
      assert.deepEqual([keyed?.concurrencyKey, keyed?.rateKey, keyed?.priority], ["eu", "acme", 7]);
      const plain = await driver.getRun("plain");
      assert.deepEqual(
        [plain?.concurrencyKey, plain?.rateKey, plain?.priority],
        [undefined, undefined, undefined],
      );
      const [claim] = await claimWith(driver, T0, undefined, { limit: 1 });
      assert.equal(claim?.run.id, "keyed", "the higher priority first");
      assert.equal(claim?.run.concurrencyKey, "eu");
    },
  },
  {
    name: "flow: a concurrency limit caps running runs per key; sleeping runs free their slot",
    async fn(driver) {
      const flow = { [WF]: { concurrency: 2 } };
      await createMany(driver, ["a1", "a2", "a3", "b1", "b2", "b3"], (id) => ({
        concurrencyKey: id[0],
      }));
      const first = await claimWith(driver, T0 + 10, flow);
      assert.deepEqual(ids(first).sort(), ["a1", "a2", "b1", "b2"]);
      assert.deepEqual(await claimWith(driver, T0 + 10, flow), [], "both keys are full");
      assert.equal(
        await driver.nextDueAt([WF], { now: T0 + 10, limits: flow }),
        first.map((c) => c.run.dueAt!).sort((a, b) => a - b)[0],
        "runs behind a full limit are not due: only the leases' expiry is",
      );
      const notices: DriverNotice[] = [];
      const off = driver.subscribe((notice) => notices.push(notice));
      const a1 = first.find((c) => c.run.id === "a1")!;
      await driver.write(a1.lease, { run: { status: "sleeping", dueAt: T0 + 1_000 } }, T0 + 20);
      off();
      assert.ok(
        notices.some((n) => n.type === "released" && n.runId === "a1"),
        "leaving running reports a freed slot",
      );
      assert.deepEqual(ids(await claimWith(driver, T0 + 20, flow)), ["a3"]);
      assert.deepEqual(
        await claimWith(driver, T0 + 1_000, flow),
        [],
        "the woken run waits for a slot of its key",
      );
      const [a2] = first.filter((c) => c.run.id === "a2");
      await driver.write(a2!.lease, { run: { status: "completed" } }, T0 + 1_001);
      assert.deepEqual(ids(await claimWith(driver, T0 + 1_002, flow)), ["a1"]);
      // Without the limit (tunable), the claim takes what is due.
      await driver.createRun(newRun("b4", { concurrencyKey: "b" }), T0);
      assert.deepEqual(ids(await claimWith(driver, T0 + 1_003, undefined)), ["b4", "b3"]);
    },
  },
  {
    name:
      "flow: a paused run whose step is in flight holds its slot until handed back (or its lease expires)",
    async fn(driver) {
      const flow = { [WF]: { concurrency: 1 } };
      await createMany(driver, ["p1", "p2"]);
      const [first] = await claimWith(driver, T0 + 5, flow);
      assert.equal(first?.run.id, "p1");
      await driver.pauseRun("p1", T0 + 6);
      assert.deepEqual(await claimWith(driver, T0 + 7, flow), [], "its step still executes");
      assert.equal(
        await driver.nextDueAt([WF], { now: T0 + 7, limits: flow }),
        undefined,
        "nothing is due: p1 is paused, p2 waits for the slot",
      );
      await driver.write(first!.lease, { steps: [done("s", "1")] }, T0 + 8);
      const { notices, off } = collect(driver);
      await driver.write(first!.lease, { run: { status: "running" } }, T0 + 9);
      off();
      assert.ok(has(notices, "released", "p1"), "the hand-back reports the freed slot");
      assert.deepEqual(ids(await claimWith(driver, T0 + 10, flow)), ["p2"]);
      // A paused run whose worker died stops counting when its lease expires.
      await driver.pauseRun("p2", T0 + 11);
      await driver.createRun(newRun("p3", { dueAt: T0 }), T0);
      assert.deepEqual(await claimWith(driver, T0 + 12, flow), []);
      assert.deepEqual(ids(await claimWith(driver, T0 + 10 + LEASE_MS, flow)), ["p3"]);
    },
  },
  {
    name: "flow: an expired lease is taken over even when its key is full",
    async fn(driver) {
      const flow = { [WF]: { concurrency: 1 } };
      await createMany(driver, ["x1", "x2"]);
      assert.deepEqual(ids(await claimWith(driver, T0 + 5, flow)), ["x1"]);
      const later = T0 + 5 + LEASE_MS;
      const takeover = await claimWith(driver, later, flow, { workerId: "worker-2" });
      assert.deepEqual(ids(takeover), ["x1"]);
      assert.equal(takeover[0]?.previousOwner, "worker-1");
    },
  },
  {
    name:
      "flow: a rate limit admits `limit` beginnings per period, per key; waking is no beginning",
    async fn(driver) {
      const flow = { [WF]: { rateLimit: { limit: 2, periodMs: 1_000 } } };
      await createMany(driver, ["r1", "r2", "r3", "r4", "r5", "k1"], (id) => ({
        rateKey: id[0],
      }));
      const first = await claimWith(driver, T0 + 10, flow);
      assert.deepEqual(ids(first).sort(), ["k1", "r1", "r2"]);
      assert.deepEqual(await claimWith(driver, T0 + 500, flow), []);
      assert.equal(
        await driver.nextDueAt([WF], { now: T0 + 500, limits: flow }),
        T0 + 1_010,
        "the window admits again one period after the oldest beginning",
      );
      const r1 = first.find((c) => c.run.id === "r1")!;
      await driver.write(r1.lease, { run: { status: "sleeping", dueAt: T0 + 600 } }, T0 + 550);
      assert.deepEqual(
        ids(await claimWith(driver, T0 + 600, flow)),
        ["r1"],
        "waking is no beginning",
      );
      assert.deepEqual(ids(await claimWith(driver, T0 + 1_010, flow)).sort(), ["r3", "r4"]);
      assert.deepEqual(await claimWith(driver, T0 + 1_500, flow), []);
    },
  },
  {
    name: "flow: higher priority is claimed first among due runs, without and with limits",
    async fn(driver) {
      await driver.createRun(newRun("p0", { dueAt: T0 }), T0);
      await driver.createRun(newRun("p5", { dueAt: T0 + 2, priority: 5 }), T0);
      await driver.createRun(newRun("low", { dueAt: T0 + 1, priority: -1 }), T0);
      await driver.createRun(newRun("later", { dueAt: T0 + 100, priority: 9 }), T0);
      assert.deepEqual(ids(await claimWith(driver, T0 + 10, undefined, { limit: 2 })), [
        "p5",
        "p0",
      ]);
      await driver.createRun(newRun("q1", { dueAt: T0, priority: 1 }), T0);
      await driver.createRun(newRun("q3", { dueAt: T0 + 1, priority: 3 }), T0);
      const flow = { [WF]: { concurrency: 4 } };
      assert.deepEqual(ids(await claimWith(driver, T0 + 10, flow)), ["q3", "q1"]);
      assert.deepEqual(ids(await claimWith(driver, T0 + 100, flow)), [], "the limit is full");
    },
  },
  {
    name: "flow: concurrent claimers never exceed a concurrency limit",
    async fn(driver) {
      const flow = { [WF]: { concurrency: 3 } };
      const all = Array.from({ length: 20 }, (_, i) => `c${i}`);
      await createMany(driver, all);
      const rounds = await Promise.all(
        Array.from(
          { length: 6 },
          (_, i) => claimWith(driver, T0 + 100, flow, { workerId: `w-${i}`, limit: 2 }),
        ),
      );
      const claimed = rounds.flat();
      assert.ok(claimed.length <= 3, `${claimed.length} claimed under a limit of 3`);
      const running = await driver.listRuns({ status: "running" });
      assert.ok(running.runs.length <= 3);
      // Once the claimers are done, a claim fills the limit exactly.
      const more = await claimWith(driver, T0 + 100, flow);
      assert.equal(claimed.length + more.length, 3);
    },
  },
];
