// Step timeouts: ctx.signal aborts with StepTimeoutError, the attempt fails, retries apply.
import {
  LocalRunner,
  ManualClock,
  StepTimeoutError,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import assert from "node:assert/strict";

Deno.test("a step timeout aborts ctx.signal with StepTimeoutError and fails the run", async () => {
  const clock = new ManualClock(0);
  const seen: { reason?: unknown } = {};
  const wf = workflow<number>("slow").step(
    "hang",
    (_n, ctx) =>
      new Promise<number>((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => {
          seen.reason = ctx.signal.reason;
          reject(ctx.signal.reason);
        });
      }),
    { timeout: "5s" },
  );
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  const outcome = handle.result().catch((e) => e);
  await clock.advance("4999ms");
  assert.equal(typeof seen.reason, "undefined");
  assert.equal(await handle.status(), "running");
  await clock.advance("1ms");
  const reason = seen.reason;
  assert.ok(reason instanceof StepTimeoutError);
  assert.equal(reason.code, "STEP_TIMEOUT");
  assert.match(reason.message, /'hang'.*5000ms/);
  const error = await outcome;
  assert.ok(error instanceof WorkflowFailedError);
  assert.ok(error.cause instanceof StepTimeoutError);
  assert.equal(error.step, "hang");
});

Deno.test("a timed-out attempt fails even when the function returns a value later", async () => {
  const clock = new ManualClock(0);
  let finish: ((value: number) => void) | undefined;
  let after = 0;
  const wf = workflow<number>("late").step(
    "ignoresSignal",
    () => new Promise<number>((resolve) => (finish = resolve)),
    { timeout: "1s" },
  ).step("after", (n) => {
    after++;
    return n;
  });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("1s");
  await assert.rejects(handle.result(), (e: WorkflowFailedError) => {
    assert.ok(e.cause instanceof StepTimeoutError);
    return true;
  });
  finish!(42);
  await clock.advance(0);
  assert.equal(await handle.status(), "failed");
  assert.equal(after, 0);
});

Deno.test("a timed-out attempt is retried and a later attempt can succeed", async () => {
  const clock = new ManualClock(0);
  const attempts: number[] = [];
  const wf = workflow<number>("retry-timeout").step(
    "sometimesSlow",
    (n, ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt === 1) {
        return new Promise<number>((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
        );
      }
      return n * 2;
    },
    { timeout: "2s", retry: { maxAttempts: 3, initialDelay: "1s" } },
  );
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 21);
  await clock.advance("2s");
  assert.deepEqual(attempts, [1]);
  assert.equal(await handle.status(), "sleeping");
  await clock.advance("1s");
  assert.equal(await handle.result(), 42);
  assert.deepEqual(attempts, [1, 2]);
  const failed = (await runner.history(handle.id)).find((e) => e.type === "step.failed");
  assert.equal(failed?.error?.code, "STEP_TIMEOUT");
});

Deno.test("a step that finishes within its timeout is unaffected and leaves no timer", async () => {
  const wf = workflow<number>("fast").step("quick", async (n, ctx) => {
    await Promise.resolve();
    assert.equal(ctx.signal.aborted, false);
    return n + 1;
  }, { timeout: "1h" });
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 1), 2);
});

Deno.test("a step timeout fires on the real clock too", async () => {
  const wf = workflow<number>("real-timeout").step(
    "hang",
    (_n, ctx) =>
      new Promise<number>((_resolve, reject) =>
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
      ),
    { timeout: 20 },
  );
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 1), (e: WorkflowFailedError) => {
    assert.ok(e.cause instanceof StepTimeoutError);
    return true;
  });
});

Deno.test("a day-long step timeout fires on a ManualClock without real waiting", async () => {
  const clock = new ManualClock(0);
  const wf = workflow<number>("day-timeout").step(
    "hang",
    (_n, ctx) =>
      new Promise<number>((_resolve, reject) =>
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
      ),
    { timeout: "1d" },
  );
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("1d");
  await assert.rejects(handle.result(), (e: WorkflowFailedError) => {
    assert.ok(e.cause instanceof StepTimeoutError);
    return true;
  });
});
