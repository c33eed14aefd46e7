// Workflow timeout: a durable deadline from the run's start that fires while the run sleeps,
// waits for a signal or runs a step; in-flight steps abort, compensation runs, WorkflowTimeoutError.
import {
  Engine,
  LocalRunner,
  ManualClock,
  MemoryDriver,
  workflow,
  WorkflowFailedError,
  WorkflowTimeoutError,
} from "@sluice/sluice";
import assert from "node:assert/strict";
import { driverFactories } from "./_fixtures/drivers.ts";

const T0 = Date.UTC(2030, 0, 1);

function isTimeout(error: unknown): boolean {
  assert.ok(error instanceof WorkflowFailedError, String(error));
  assert.ok(error.cause instanceof WorkflowTimeoutError, String(error.cause));
  assert.equal(error.cause.code, "WORKFLOW_TIMEOUT");
  return true;
}

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: a workflow timeout fires while the run sleeps, and compensation runs`, async () => {
    const undone: string[] = [];
    const wf = workflow<number>("nap", { timeout: "1h" })
      .step("book", (n) => `booking ${n}`, { compensate: (o) => void undone.push(o) })
      .sleep("nap", "2h")
      .step("after", () => "never");
    const clock = new ManualClock(T0);
    await using engine = new Engine({ driver: await create(), workflows: [wf], clock });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const run = await engine.start(wf, 1, { id: "nap-1" });
    const settled = run.result().catch((e) => e);
    await clock.advance("30m");
    const sleeping = await engine.get("nap-1");
    assert.equal(sleeping.status, "sleeping");
    assert.equal(sleeping.wakeAt?.getTime(), T0 + 3_600_000, "the deadline is the run's due time");
    await clock.advance("30m");
    assert.ok(isTimeout(await settled));
    assert.deepEqual(undone, ["booking 1"]);
    const record = await engine.get("nap-1");
    assert.equal(record.status, "failed");
    assert.equal(record.error?.code, "WORKFLOW_TIMEOUT");
    assert.equal(record.compensated, true);
    assert.equal(clock.now(), T0 + 3_600_000);
  });
}

Deno.test("a workflow timeout fires while the run waits for a signal", async () => {
  const wf = workflow<number>("gate", { timeout: "10m" }).waitForSignal("approval", "approved");
  const clock = new ManualClock(T0);
  await using runner = new LocalRunner({ clock });
  const run = await runner.start(wf, 1);
  const settled = run.result().catch((e) => e);
  await clock.advance("9m");
  assert.equal((await runner.get(run.id)).status, "waiting");
  await clock.advance("1m");
  assert.ok(isTimeout(await settled));
  assert.equal((await runner.get(run.id)).compensated, undefined, "nothing to compensate");
});

Deno.test("a workflow timeout aborts a step in flight through ctx.signal", async () => {
  const seen: unknown[] = [];
  const wf = workflow<number>("busy", { timeout: "5s" }).step(
    "work",
    (_n, ctx) =>
      new Promise<number>((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => {
          seen.push(ctx.signal.reason);
          reject(ctx.signal.reason);
        });
      }),
  );
  const clock = new ManualClock(T0);
  await using runner = new LocalRunner({ clock });
  const run = await runner.start(wf, 1);
  const settled = run.result().catch((e) => e);
  await clock.advance("4s");
  assert.equal((await runner.get(run.id)).status, "running");
  await clock.advance("1s");
  assert.ok(isTimeout(await settled));
  assert.equal(seen.length, 1);
  assert.ok(seen[0] instanceof WorkflowTimeoutError);
});

Deno.test("a workflow timeout counts from startAt", async () => {
  const wf = workflow<number>("later", { timeout: "1h" }).sleep("nap", "50m").step("n", (n) => n);
  const clock = new ManualClock(T0);
  await using runner = new LocalRunner({ clock });
  const run = await runner.start(wf, 7, { startAt: T0 + 2 * 3_600_000 });
  await clock.advance("2h");
  await clock.advance("50m");
  assert.equal(await run.result(), 7);
});

Deno.test("a run that finishes in time is not affected, and the plan shows the timeout", async () => {
  const wf = workflow<number>("quick", { timeout: "1m" }).step("n", (n) => n + 1);
  assert.equal(wf.plan.timeoutMs, 60_000);
  assert.equal(workflow("plain").plan.timeoutMs, undefined);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 1), 2);
});

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: the deadline counts from the run's creation, not from its first claim`, async () => {
    const undone: string[] = [];
    const wf = workflow<number>("late-claim", { timeout: "1h" })
      .step("book", (n) => `booking ${n}`, { compensate: (o) => void undone.push(o) })
      .sleep("nap", "20m")
      .step("after", () => "in time");
    const clock = new ManualClock(T0);
    await using engine = new Engine({ driver: await create(), workflows: [wf], clock });
    const run = await engine.start(wf, 1, { id: "late-1" });
    const later = await engine.start(wf, 2, { id: "late-2", startAt: T0 + 30 * 60_000 });
    // Stored when created: the start (or startAt) plus the timeout.
    assert.equal((await engine.driver.getRun("late-1"))?.deadlineAt, T0 + 3_600_000);
    assert.equal((await engine.driver.getRun("late-2"))?.deadlineAt, T0 + 90 * 60_000);
    const settled = run.result().catch((e) => e);
    await clock.advance("50m"); // every worker busy (none here): the runs stay pending
    assert.equal((await engine.get("late-1")).status, "pending");
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    await clock.advance("10m"); // first claimed at 50m, it sleeps until the deadline, not 70m
    assert.ok(isTimeout(await settled));
    assert.deepEqual(undone, ["booking 1"]);
    assert.equal((await engine.get("late-1")).compensated, true);
    // The delayed run counts from its startAt: it sleeps past 60m and completes at 80m.
    await clock.advance("20m");
    assert.equal(await later.result(), "in time");
  });

  Deno.test(`${name}: get and list show a run's deadline; retry renews it; no timeout, no deadline`, async () => {
    const timed = workflow<number>("shown", { timeout: "1h" }).waitForSignal("go", "go");
    const plain = workflow<number>("unbounded").step("n", (n) => n);
    const clock = new ManualClock(T0);
    await using engine = new Engine({ driver: await create(), workflows: [timed, plain], clock });
    await engine.start(timed, 1, { id: "shown-1" });
    await engine.start(timed, 2, { id: "shown-2", startAt: T0 + 60_000 });
    await engine.start(plain, 3, { id: "plain-1" });
    assert.equal((await engine.get("shown-1")).deadlineAt?.getTime(), T0 + 3_600_000);
    const listed = new Map((await engine.list()).runs.map((r) => [r.id, r.deadlineAt?.getTime()]));
    assert.deepEqual(Object.fromEntries(listed), {
      "shown-1": T0 + 3_600_000,
      "shown-2": T0 + 3_660_000,
      "plain-1": undefined,
    });
    assert.ok(!("deadlineAt" in await engine.get("plain-1")));
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    await clock.advance("1h");
    const failed = await engine.get("shown-1");
    assert.equal(failed.status, "failed");
    assert.equal(failed.deadlineAt?.getTime(), T0 + 3_600_000, "kept once finished");
    await engine.retry("shown-1");
    assert.equal((await engine.get("shown-1")).deadlineAt?.getTime(), clock.now() + 3_600_000);
  });

  Deno.test(`${name}: a run that sat pending past its deadline fails when a worker sees it; retry and fork get fresh deadlines`, async () => {
    let calls = 0;
    const wf = workflow<number>("stale", { timeout: "10m" })
      .step("work", (n) => {
        calls++;
        return n;
      })
      .waitForSignal<number>("more", "more")
      .step("sum", (n) => n + 1);
    const clock = new ManualClock(T0);
    await using engine = new Engine({ driver: await create(), workflows: [wf], clock });
    const run = await engine.start(wf, 1, { id: "stale-1" });
    await clock.advance("15m");
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    assert.ok(isTimeout(await run.result().catch((e) => e)));
    assert.equal(calls, 0, "no step ran");
    const types = (await engine.history("stale-1")).map((e) => e.type);
    assert.deepEqual(types.filter((t) => t.startsWith("step.")), []);
    assert.equal(types.at(-1), "run.failed");
    // retry(): a fresh deadline from the retry (10m), so it does not time out at once.
    await engine.retry("stale-1");
    assert.equal(
      (await engine.driver.getRun("stale-1"))?.deadlineAt,
      clock.now() + 600_000,
    );
    await clock.advance("1m");
    assert.equal((await engine.get("stale-1")).status, "waiting");
    await engine.signal("stale-1", "more", 5);
    assert.equal(await run.result(), 6);
    assert.equal(calls, 1);
    // fork(): its own deadline from now; it times out 10m later, not at once.
    const fork = await engine.fork("stale-1", { id: "stale-2" });
    assert.equal((await engine.driver.getRun("stale-2"))?.deadlineAt, clock.now() + 600_000);
    const forked = fork.result().catch((e) => e);
    await clock.advance("9m");
    assert.equal((await engine.get("stale-2")).status, "waiting");
    await clock.advance("1m");
    assert.ok(isTimeout(await forked));
  });
}

Deno.test("a run stored without a deadline (before runs had one) counts from its first claim", async () => {
  const wf = workflow<number>("legacy", { timeout: "10m" }).sleep("nap", "1h");
  const clock = new ManualClock(T0);
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf], clock });
  // As an older Sluice stored it: no deadlineAt.
  await engine.driver.createRun({
    id: "old-1",
    workflow: wf.name,
    version: wf.version,
    planHash: wf.planHash,
    input: "1",
    labels: {},
    dueAt: T0,
  }, T0);
  await clock.advance("5m");
  await using worker = engine.worker({ pollInterval: 20 });
  await worker.start();
  const settled = engine.result("old-1").catch((e) => e);
  await clock.advance("9m");
  assert.equal((await engine.get("old-1")).status, "sleeping");
  assert.equal((await engine.get("old-1")).wakeAt?.getTime(), T0 + 15 * 60_000);
  await clock.advance("1m");
  assert.ok(isTimeout(await settled));
});
