// Checkpoints and determinism across suspensions: recorded decisions, signals consumed once,
// branches and items resumed where they stopped, leases kept alive by heartbeats.
import {
  CancelledError,
  Engine,
  flow,
  LocalRunner,
  ManualClock,
  MemoryDriver,
  type StepContext,
  workflow,
} from "@sluice/sluice";
import assert from "node:assert/strict";
import { deferred } from "./_fixtures/deferred.ts";

const T0 = Date.UTC(2030, 0, 1);

Deno.test("an if decision is recorded: resuming inside a branch does not evaluate it again", async () => {
  const clock = new ManualClock(T0);
  let evaluations = 0;
  const wf = workflow<number>("decided").if(
    "coin",
    () => ++evaluations === 1,
    flow<number>().sleep("nap", "1h").step("heads", () => "heads"),
    flow<number>().sleep("nap", "1h").step("tails", () => "tails"),
  );
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("1h");
  assert.equal(await handle.result(), "heads");
  assert.equal(evaluations, 1);
});

Deno.test("a sleepUntil time is recorded: resuming does not compute it again", async () => {
  const clock = new ManualClock(T0);
  let computed = 0;
  const wf = workflow<number>("wake-once")
    .sleepUntil("at", () => {
      computed++;
      return clock.now() + 60_000;
    })
    .step("done", (_n, ctx) => ctx.now().getTime() - T0);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("30s");
  await clock.advance("30s");
  assert.equal(await handle.result(), 60_000);
  assert.equal(computed, 1);
});

Deno.test("a consumed signal is not consumed again when the run resumes later", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("once-each")
    .waitForSignal<number>("first", "x")
    .sleep("nap", "1h")
    .step("hold", (n) => [n])
    .waitForSignal<number>("second", "x")
    .sleep("nap2", "1h");
  const collect = workflow<number>("once-each-collect")
    .waitForSignal<number>("first", "x")
    .sleep("nap", "1h")
    .parallel("both", [(n: number) => n, flow<number>().waitForSignal<number>("second", "x")]);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(collect, 0);
  await handle.signal("x", 1);
  await handle.signal("x", 2);
  await handle.signal("x", 3);
  await clock.advance("1h");
  assert.deepEqual(await handle.result(), [1, 2]);
  const other = await runner.start(wf, 0);
  await other.signal("x", 10);
  await clock.advance("1h");
  await other.signal("x", 20);
  await clock.advance("1h");
  assert.equal(await other.result(), 20);
});

Deno.test("a sleeping branch and a waiting branch resume independently", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("sleep-and-wait").parallel("both", {
    timer: flow<number>().sleep("nap", "1h").step("woke", (_n, ctx) => ctx.now().getTime() - T0),
    approval: flow<number>().waitForSignal<string>("w", "go"),
  });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("10m");
  const record = await runner.get(handle.id);
  assert.equal(record.status, "waiting");
  assert.deepEqual(record.waitingFor, ["go"]);
  assert.equal(record.wakeAt?.getTime(), T0 + 3_600_000);
  await handle.signal("go", "yes");
  await clock.advance(0);
  assert.equal(await handle.status(), "sleeping");
  await clock.advance("50m");
  assert.deepEqual(await handle.result(), { timer: 3_600_000, approval: "yes" });
});

Deno.test("a wait timeout in one branch fires while the other branch waits for a signal", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("timeout-branch").parallel("both", [
    flow<number>().waitForSignal<string>("a", "first", {
      timeout: "1h",
      onTimeout: () => "no answer",
    }),
    flow<number>().waitForSignal<string>("b", "second"),
  ]);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("1h");
  assert.equal(await handle.status(), "waiting");
  await handle.signal("second", "B");
  assert.deepEqual(await handle.result(), ["no answer", "B"]);
});

Deno.test("map with a concurrency limit resumes items in batches across sleeps", async () => {
  const clock = new ManualClock(T0);
  const started: string[] = [];
  const wf = workflow<number[]>("batched").map(
    "each",
    (v) => v,
    flow<number>()
      .step("begin", (n, ctx) => {
        started.push(`${n}@${(ctx.now().getTime() - T0) / 3_600_000}h`);
        return n;
      })
      .sleep("nap", "1h")
      .step("end", (n) => n * 10),
    { concurrency: 2 },
  );
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, [1, 2, 3, 4, 5]);
  await clock.advance(0);
  assert.deepEqual(started, ["1@0h", "2@0h"]);
  await clock.advance("1h");
  assert.deepEqual(started, ["1@0h", "2@0h", "3@1h", "4@1h"]);
  await clock.advance("1h");
  assert.deepEqual(started, ["1@0h", "2@0h", "3@1h", "4@1h", "5@2h"]);
  await clock.advance("1h");
  assert.deepEqual(await handle.result(), [10, 20, 30, 40, 50]);
});

Deno.test("a retry backoff in one branch suspends the run and resumes only that branch", async () => {
  const clock = new ManualClock(T0);
  const calls: string[] = [];
  const wf = workflow<number>("branch-backoff").parallel("both", [
    flow<number>().step("flaky", (n, ctx) => {
      calls.push(`flaky#${ctx.attempt}`);
      if (ctx.attempt === 1) throw new Error("later");
      return n;
    }, { retry: { maxAttempts: 2, initialDelay: "5m" } }),
    (n: number, ctx: StepContext) => {
      calls.push(ctx.step);
      return n + 1;
    },
  ]);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("1m");
  assert.equal(await handle.status(), "sleeping");
  await clock.advance("4m");
  assert.deepEqual(await handle.result(), [1, 2]);
  assert.deepEqual(calls, ["flaky#1", "both/1", "flaky#2"]);
});

Deno.test("heartbeats keep a long step's lease so no other worker takes the run", async () => {
  const clock = new ManualClock(T0);
  const driver = new MemoryDriver();
  const started = deferred();
  const release = deferred();
  let executions = 0;
  const wf = workflow<number>("long-step").step("slow", async (n) => {
    executions++;
    started.resolve();
    await release.promise;
    return n;
  });
  await using engine = new Engine({ driver, workflows: [wf], clock });
  const other = new Engine({ driver, workflows: [wf], clock });
  const one = engine.worker({ leaseMs: 1_000 });
  const two = other.worker({ leaseMs: 1_000 });
  try {
    await one.start();
    const handle = await engine.start(wf, 7);
    await started.promise;
    await two.start();
    await clock.advance("3s");
    assert.equal(executions, 1);
    assert.equal(await handle.status(), "running");
    release.resolve();
    assert.equal(await handle.result(), 7);
    assert.equal(executions, 1);
  } finally {
    release.resolve();
    await two.stop();
    await one.stop();
  }
});

Deno.test("ctx.heartbeat() rejects with CancelledError once the run is cancelled", async () => {
  const started = deferred();
  const cancelled = deferred();
  const outcome = deferred<unknown>();
  const wf = workflow<number>("beat-cancel").step("long", async (n, ctx) => {
    started.resolve();
    await cancelled.promise;
    try {
      await ctx.heartbeat();
      outcome.resolve("resolved");
    } catch (error) {
      outcome.resolve(error);
    }
    return n;
  });
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await started.promise;
  await handle.cancel();
  cancelled.resolve();
  assert.ok(await outcome.promise instanceof CancelledError);
});

Deno.test("a step running while a signal arrives leaves the signal for the wait after it", async () => {
  const started = deferred();
  const release = deferred();
  const wf = workflow<number>("signal-during-step")
    .step("busy", async (n) => {
      started.resolve();
      await release.promise;
      return n;
    })
    .waitForSignal<string>("wait", "go");
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await started.promise;
  await handle.signal("go", "sent while busy");
  release.resolve();
  assert.equal(await handle.result(), "sent while busy");
});
