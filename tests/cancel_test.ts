// Cancellation: aborts steps in flight, stops the run, typed errors on finished runs.
import {
  CancelledError,
  flow,
  InvalidStateError,
  LocalRunner,
  ManualClock,
  RunNotFoundError,
  workflow,
} from "@sluice/sluice";
import assert from "node:assert/strict";
import { waitForStatus } from "@sluice/sluice/testing";
import { deferred } from "./_fixtures/deferred.ts";

const T0 = Date.UTC(2030, 0, 1);

Deno.test("cancel during a step aborts ctx.signal, stops the run and records the reason", async () => {
  const started = deferred();
  const finish = deferred<number>();
  const seen: { reason?: unknown } = {};
  let after = 0;
  const wf = workflow<number>("cancel-step")
    .step("long", async (_n, ctx) => {
      ctx.signal.addEventListener("abort", () => (seen.reason = ctx.signal.reason));
      started.resolve();
      return await finish.promise;
    })
    .step("after", (n) => {
      after++;
      return n;
    });
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await started.promise;
  await runner.cancel(handle.id, "user asked");
  finish.resolve(5);
  assert.ok(seen.reason instanceof CancelledError);
  await assert.rejects(handle.result(), (e: unknown) => {
    assert.ok(e instanceof CancelledError, String(e));
    assert.equal(e.code, "CANCELLED");
    assert.match(e.message, /user asked/);
    return true;
  });
  const record = await waitForStatus(runner, handle.id, "cancelled");
  assert.match(record.error?.message ?? "", /user asked/);
  assert.equal(after, 0);
  const history = await runner.history(handle.id);
  const cancelled = history.find((e) => e.type === "run.cancelled");
  assert.equal(cancelled?.reason, "user asked");
  assert.ok(!history.some((e) => e.type === "step.completed"));
  assert.equal(history.at(-1)?.type, "run.cancelled");
});

Deno.test("cancel aborts every branch in flight", async () => {
  const aborted: string[] = [];
  const running = [deferred(), deferred()];
  const hang = (i: number) => (_n: number, ctx: { step: string; signal: AbortSignal }) =>
    new Promise<number>((_resolve, reject) => {
      ctx.signal.addEventListener("abort", () => {
        aborted.push(ctx.step);
        reject(ctx.signal.reason);
      });
      running[i]!.resolve();
    });
  const wf = workflow<number>("cancel-branches").parallel("fan", [
    hang(0),
    flow<number>().step("inner", hang(1)),
  ]);
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await Promise.all(running.map((d) => d.promise));
  await handle.cancel();
  await assert.rejects(handle.result(), CancelledError);
  assert.deepEqual(aborted.sort(), ["fan/0", "fan/1/inner"]);
});

Deno.test("cancel a sleeping run: it stays cancelled when its timer comes due", async () => {
  const clock = new ManualClock(T0);
  let woke = 0;
  const wf = workflow<number>("cancel-sleep").sleep("nap", "1h").step("after", () => woke++);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("1m");
  assert.equal(await handle.status(), "sleeping");
  await handle.cancel("no longer needed");
  assert.equal(await handle.status(), "cancelled");
  await clock.advance("2h");
  assert.equal(woke, 0);
  assert.equal(await handle.status(), "cancelled");
  await assert.rejects(handle.result(), /no longer needed/);
});

Deno.test("cancel a waiting run: later signals are refused", async () => {
  const wf = workflow<number>("cancel-wait").waitForSignal("w", "go");
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await handle.cancel();
  await assert.rejects(handle.signal("go"), InvalidStateError);
  await assert.rejects(handle.result(), CancelledError);
});

Deno.test("cancel a run waiting to retry a step: no further attempt runs", async () => {
  const clock = new ManualClock(T0);
  let attempts = 0;
  const wf = workflow<number>("cancel-retry").step("flaky", () => {
    attempts++;
    throw new Error("down");
  }, { retry: { maxAttempts: 5, initialDelay: "1m" } });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance(0);
  assert.equal(attempts, 1);
  await handle.cancel();
  await clock.advance("1h");
  assert.equal(attempts, 1);
  assert.equal(await handle.status(), "cancelled");
});

Deno.test("cancel a pending run before it starts: no step runs", async () => {
  const clock = new ManualClock(T0);
  let ran = 0;
  const wf = workflow<number>("cancel-pending").step("go", () => ran++);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1, { startAt: T0 + 60_000 });
  await handle.cancel();
  await clock.advance("2m");
  assert.equal(ran, 0);
  assert.equal(await handle.status(), "cancelled");
});

Deno.test("cancel a finished run is InvalidStateError and changes nothing", async () => {
  const wf = workflow<number>("cancel-done").step("a", (n) => n + 1);
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  assert.equal(await handle.result(), 2);
  await assert.rejects(runner.cancel(handle.id), (e: unknown) => {
    assert.ok(e instanceof InvalidStateError);
    assert.match(e.message, /completed/);
    return true;
  });
  const record = await runner.get(handle.id);
  assert.equal(record.status, "completed");
  assert.equal(record.output, 2);
  const again = await runner.start(workflow<number>("cancel-twice").waitForSignal("w", "s"), 1);
  await again.cancel();
  await assert.rejects(again.cancel(), InvalidStateError);
});

Deno.test("cancel an unknown run is RunNotFoundError", async () => {
  await using runner = new LocalRunner();
  await assert.rejects(runner.cancel("missing"), RunNotFoundError);
  await assert.rejects(runner.cancel(""), TypeError);
  await assert.rejects(runner.cancel("missing", 5 as never), TypeError);
});
