// Every time that reaches storage is valid on every driver: whole epoch ms from
// MIN_TIME_MS to MAX_TIME_MS, decided once in the engine. Each case once left a
// PostgreSQL run stuck `running` (re-claimed every lease, never failed).
import assert from "node:assert/strict";
import { waitForStatus } from "@sluice/sluice/testing";
import {
  Engine,
  ManualClock,
  MAX_DURATION_MS,
  MAX_TIME_MS,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import { driverFactories } from "./_fixtures/drivers.ts";

const T0 = Date.UTC(2030, 0, 1);

const fractional = workflow<string>("times-fractional")
  .sleepUntil("wake", () => T0 + 1500.5)
  .step("done", (v, ctx) => `${v}@${ctx.now().getTime() - T0}`);
const farFuture = workflow<number>("times-far").sleepUntil("wake", () => 1e300);
const notATime = workflow<number>("times-nan").sleepUntil("wake", () => new Date("nope"));
const longest = workflow<number>("times-longest").sleep("nap", MAX_DURATION_MS);
const longWait = workflow<number>("times-long-wait").waitForSignal<number>("go", "go", {
  timeout: MAX_DURATION_MS,
});
const longRetry = workflow<number>("times-long-retry").step("flaky", (n, ctx) => {
  if (ctx.attempt === 1) throw new Error("once");
  return n;
}, { retry: { maxAttempts: 2, initialDelay: MAX_DURATION_MS, maxDelay: MAX_DURATION_MS } });
const started = workflow<number>("times-started").step("inc", (n) => n + 1);
const workflows = [fractional, farFuture, notATime, longest, longWait, longRetry, started];

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: out-of-range durations and times are refused when built or started`, async () => {
    assert.throws(() => workflow("w").sleep("s", 1e300), RangeError);
    assert.throws(() => workflow("w").sleep("s", "99999999999d"), /at most/);
    assert.throws(
      () => workflow("w").step("a", (v) => v, { retry: { initialDelay: 1e300 } }),
      /'initialDelay'.*1e\+300/,
    );
    assert.throws(() => workflow("w").sleepUntil("s", 1e300), RangeError);
    assert.throws(() => workflow("w").step("a", (v) => v, { timeout: 1e300 }), RangeError);
    await using engine = new Engine({ driver: await create(), workflows });
    await assert.rejects(engine.start(started, 1, { startAt: 1e300 }), /'startAt' 1e\+300/);
    await assert.rejects(engine.start(started, 1, { startAt: -1e300 }), RangeError);
    await assert.rejects(engine.start(started, 1, { startAt: "soon" as never }), TypeError);
    assert.deepEqual((await engine.list()).runs, [], "nothing was stored");
  });

  Deno.test(`${name}: fractional times round to the nearest millisecond and the run completes`, async () => {
    const clock = new ManualClock(T0);
    await using engine = new Engine({ driver: await create(), workflows, clock });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const later = await engine.start(started, 1, { id: "later", startAt: T0 + 0.5 });
    const run = await engine.start(fractional, "x", { id: "fractional" });
    await waitForStatus(engine, "fractional", "sleeping");
    assert.equal((await engine.get("fractional")).wakeAt?.getTime(), T0 + 1501);
    await clock.advance(1501);
    assert.equal(await run.result(), "x@1501");
    assert.equal(await later.result(), 2);
  });

  Deno.test(`${name}: a sleepUntil function returning no storable time fails the run`, async () => {
    await using engine = new Engine({
      driver: await create(),
      workflows,
      clock: new ManualClock(T0),
    });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    for (
      const [wf, cause] of [[farFuture, RangeError], [notATime, TypeError]] as const
    ) {
      const run = await engine.start(wf, 1);
      await assert.rejects(run.result(), (error: WorkflowFailedError) => {
        assert.ok(error instanceof WorkflowFailedError);
        assert.equal((error.cause as Error).name, cause.name);
        assert.match((error.cause as Error).message, /sleepUntil 'wake'/);
        return true;
      });
      assert.equal(await run.status(), "failed");
    }
  });

  Deno.test(`${name}: wake times computed past the range are clamped to MAX_TIME_MS`, async () => {
    const clock = new ManualClock(T0);
    await using engine = new Engine({ driver: await create(), workflows, clock });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const ids = ["sleep", "wait", "retry"];
    const sleep = await engine.start(longest, 1, { id: "sleep" });
    const wait = await engine.start(longWait, 1, { id: "wait" });
    const retry = await engine.start(longRetry, 1, { id: "retry" });
    for (const id of ids) {
      await waitForStatus(engine, id, id === "wait" ? "waiting" : "sleeping");
      assert.equal((await engine.get(id)).wakeAt?.getTime(), MAX_TIME_MS, id);
    }
    await wait.signal("go", 7);
    assert.equal(await wait.result(), 7);
    await sleep.cancel("end of test");
    await retry.cancel("end of test");
    const history = await engine.history("retry");
    assert.equal(history.find((e) => e.type === "step.retried")?.wakeAt?.getTime(), MAX_TIME_MS);
  });
}
