// Workflow timeout: a durable deadline from the run's start that fires while the run sleeps,
// waits for a signal or runs a step; in-flight steps abort, compensation runs, WorkflowTimeoutError.
import {
  Engine,
  LocalRunner,
  ManualClock,
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
