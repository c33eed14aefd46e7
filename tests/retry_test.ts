// Per-step retries: attempts, exponential backoff on durable timers, NonRetryableError.
import {
  flow,
  LocalRunner,
  ManualClock,
  NonRetryableError,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import assert from "node:assert/strict";

const T0 = Date.UTC(2030, 0, 1);

Deno.test("a step has one attempt by default", async () => {
  let calls = 0;
  const wf = workflow<number>("once").step("fail", () => {
    calls++;
    throw new Error("nope");
  });
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 1), WorkflowFailedError);
  assert.equal(calls, 1);
});

Deno.test("maxAttempts bounds the attempts, then the run fails with the last error", async () => {
  const attempts: number[] = [];
  const wf = workflow<number>("bounded").step("fail", (_n, ctx) => {
    attempts.push(ctx.attempt);
    throw new Error(`failure ${ctx.attempt}`);
  }, { retry: { maxAttempts: 4, initialDelay: 0 } });
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 1), (e: WorkflowFailedError) => {
    assert.equal(e.step, "fail");
    assert.equal((e.cause as Error).message, "failure 4");
    return true;
  });
  assert.deepEqual(attempts, [1, 2, 3, 4]);
});

Deno.test("a step that succeeds on a later attempt lets the run complete", async () => {
  const wf = workflow<number>("eventually").step("flaky", (n, ctx) => {
    if (ctx.attempt < 3) throw new Error("not yet");
    return n * 2;
  }, { retry: { maxAttempts: 5, initialDelay: 0 } }).step("next", (n) => n + 1);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 10), 21);
});

Deno.test("retry waits 1s, 2s, 4s, then the 5s cap between attempts on a ManualClock", async () => {
  const clock = new ManualClock(T0);
  const times: number[] = [];
  const wf = workflow<number>("backoff").step("flaky", () => {
    times.push(clock.now() - T0);
    throw new Error("down");
  }, { retry: { maxAttempts: 6, initialDelay: "1s", backoff: 2, maxDelay: "5s" } });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  const failed = handle.result().catch((e) => e);
  await clock.advance(0);
  assert.deepEqual(times, [0]);
  let at = 0;
  for (const delay of [1_000, 2_000, 4_000, 5_000, 5_000]) {
    const count = times.length;
    await clock.advance(delay - 1);
    assert.equal(times.length, count, `no attempt before ${at + delay}ms`);
    assert.equal(await handle.status(), "sleeping");
    await clock.advance(1);
    at += delay;
    assert.equal(times.length, count + 1, `one attempt at ${at}ms`);
  }
  assert.deepEqual(times, [0, 1_000, 3_000, 7_000, 12_000, 17_000]);
  const error = await failed;
  assert.ok(error instanceof WorkflowFailedError);
  assert.equal((error.cause as Error).message, "down");
  assert.equal(await handle.status(), "failed");
  await clock.advance("1h");
  assert.equal(times.length, 6);
});

Deno.test("a run waiting to retry is sleeping with the retry time as wakeAt", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("sleepy-retry").step("flaky", (n, ctx) => {
    if (ctx.attempt === 1) throw new Error("first");
    return n;
  }, { retry: { maxAttempts: 2, initialDelay: "30s" } });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 9);
  await clock.advance(0);
  const record = await runner.get(handle.id);
  assert.equal(record.status, "sleeping");
  assert.equal(record.wakeAt?.getTime(), T0 + 30_000);
  await clock.advance("30s");
  assert.equal(await handle.result(), 9);
});

Deno.test("jitter randomises each delay downwards within its fraction", async () => {
  const clock = new ManualClock(T0);
  const times: number[] = [];
  const wf = workflow<number>("jitter").step("flaky", (n, ctx) => {
    times.push(clock.now() - T0);
    if (ctx.attempt === 1) throw new Error("first");
    return n;
  }, { retry: { maxAttempts: 2, initialDelay: "10s", jitter: 0.5 } });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("4999ms");
  assert.equal(times.length, 1);
  await clock.advance("5001ms");
  assert.equal(await handle.result(), 1);
  assert.equal(times.length, 2);
  assert.ok(times[1]! >= 5_000 && times[1]! <= 10_000, `${times[1]}`);
});

Deno.test("NonRetryableError stops retrying at once", async () => {
  let calls = 0;
  const wf = workflow<number>("fatal").step("charge", () => {
    calls++;
    throw new NonRetryableError("The card is invalid");
  }, { retry: { maxAttempts: 5, initialDelay: 0 } });
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 1), (e: WorkflowFailedError) => {
    assert.equal((e.cause as Error).name, "NonRetryableError");
    assert.equal((e.cause as Error).message, "The card is invalid");
    return true;
  });
  assert.equal(calls, 1);
});

Deno.test("history shows step.failed and step.retried for each failed attempt", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("retry-history").step("flaky", (n, ctx) => {
    if (ctx.attempt < 3) throw new TypeError(`bad ${ctx.attempt}`);
    return n;
  }, { retry: { maxAttempts: 3, initialDelay: "1s" } });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("3s");
  assert.equal(await handle.result(), 1);
  const history = await runner.history(handle.id);
  const stepEvents = history
    .filter((e) => e.step === "flaky" && e.type !== "step.started")
    .map((e) => [e.type, e.attempt]);
  assert.deepEqual(stepEvents, [
    ["step.failed", 1],
    ["step.retried", 2],
    ["step.failed", 2],
    ["step.retried", 3],
    ["step.completed", 3],
  ]);
  const failed = history.find((e) => e.type === "step.failed")!;
  assert.equal(failed.error?.name, "TypeError");
  assert.equal(failed.error?.message, "bad 1");
  const retried = history.filter((e) => e.type === "step.retried");
  assert.deepEqual(retried.map((e) => e.wakeAt?.getTime()), [T0 + 1_000, T0 + 3_000]);
  assert.ok(history.some((e) => e.type === "run.sleeping"));
  assert.equal(history.at(-1)!.type, "run.completed");
});

Deno.test("a failing step inside a loop body retries only that step", async () => {
  const calls: string[] = [];
  const body = flow<number>().step("charge", (n, ctx) => {
    calls.push(`${ctx.step}@${ctx.attempt}`);
    if (ctx.step === "l#1/charge" && ctx.attempt === 1) throw new Error("once");
    return n + 1;
  }, { retry: { maxAttempts: 2, initialDelay: 0 } });
  const wf = workflow<number>("loop-retry").loop("l", 3, body);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 0), 3);
  assert.deepEqual(calls, ["l#0/charge@1", "l#1/charge@1", "l#1/charge@2", "l#2/charge@1"]);
});
