// loop and while: counts, conditions, limits, long loops, sleeps inside bodies.
import { flow, LocalRunner, ManualClock, workflow, type WorkflowFailedError } from "@sluice/sluice";
import assert from "node:assert/strict";

Deno.test("loop runs its body a fixed number of times, feeding each output to the next", async () => {
  const seen: number[] = [];
  const wf = workflow<number>("thrice").loop("add", 3, (n: number) => {
    seen.push(n);
    return n + 10;
  });
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 1), 31);
  assert.deepEqual(seen, [1, 11, 21]);
});

Deno.test("loop takes its count from a function of the value", async () => {
  const wf = workflow<{ times: number; total: number }>("dynamic")
    .loop("repeat", (v) => v.times, (v) => ({ ...v, total: v.total + 1 }))
    .step("result", (v) => v.total);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, { times: 5, total: 0 }), 5);
  assert.equal(await runner.run(wf, { times: 0, total: 7 }), 7);
});

Deno.test("loop zero times passes the value through", async () => {
  let calls = 0;
  const wf = workflow<string>("never").loop("none", 0, (v: string) => {
    calls++;
    return v + "!";
  });
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, "same"), "same");
  assert.equal(calls, 0);
});

Deno.test("loop with a sub-flow body runs every step of each iteration in order", async () => {
  const keys: string[] = [];
  const body = flow<number>()
    .step("charge", (n, ctx) => {
      keys.push(ctx.step);
      return n + 1;
    })
    .step("record", (n, ctx) => {
      keys.push(ctx.step);
      return n * 2;
    });
  const wf = workflow<number>("body").loop("l", 2, body);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 0), 6);
  assert.deepEqual(keys, ["l#0/charge", "l#0/record", "l#1/charge", "l#1/record"]);
});

Deno.test("a loop count that is not a non-negative integer fails the run clearly", async () => {
  await using runner = new LocalRunner();
  for (const count of [-1, 1.5, NaN, "3"]) {
    const wf = workflow<number>("bad-count").loop("l", () => count as number, (n: number) => n);
    await assert.rejects(runner.run(wf, 1), (e: WorkflowFailedError) => {
      assert.equal(e.step, "l");
      assert.match((e.cause as Error).message, /loop 'l'/);
      return true;
    });
  }
});

Deno.test("while runs its body as long as the condition holds on the current value", async () => {
  const wf = workflow<number>("double").while("grow", (n) => n < 100, (n: number) => n * 2);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 3), 192);
  assert.equal(await runner.run(wf, 500), 500);
});

Deno.test("while that reaches maxIterations fails the run with a clear error", async () => {
  let calls = 0;
  const wf = workflow<number>("runaway")
    .while("forever", () => true, (n: number) => {
      calls++;
      return n + 1;
    }, { maxIterations: 5 })
    .step("after", (n) => n);
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 0), (e: WorkflowFailedError) => {
    assert.equal(e.step, "forever");
    const cause = e.cause as Error;
    assert.equal(cause.name, "RangeError");
    assert.match(cause.message, /'forever'/);
    assert.match(cause.message, /5 iterations/);
    assert.match(cause.message, /maxIterations/);
    return true;
  });
  assert.equal(calls, 5);
});

Deno.test("while that stops exactly at maxIterations completes", async () => {
  const wf = workflow<number>("exact").while("count", (n) => n < 3, (n: number) => n + 1, {
    maxIterations: 3,
  });
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 0), 3);
});

Deno.test("while defaults to a limit of 10,000 iterations", async () => {
  const wf = workflow<number>("default-limit").while("up", () => true, (n: number) => n + 1);
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 0), /10000 iterations/);
});

Deno.test("a loop of 10,000 iterations completes", async () => {
  const body = flow<number>().step("inc", (n) => n + 1);
  const wf = workflow<number>("long").loop("many", 10_000, body);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 0), 10_000);
});

Deno.test("a while of 10,000 iterations completes within its limit", async () => {
  const wf = workflow<number>("long-while").while("w", (n) => n < 10_000, (n: number) => n + 1, {
    maxIterations: 10_000,
  });
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 0), 10_000);
});

Deno.test("a loop whose body sleeps resumes each iteration after its timer", async () => {
  const clock = new ManualClock(Date.UTC(2030, 0, 1));
  const ticks: number[] = [];
  const body = flow<number>().sleep("wait", "1h").step("tick", (n, ctx) => {
    ticks.push(ctx.now().getUTCHours());
    return n + 1;
  });
  const wf = workflow<number>("hourly").loop("hours", 3, body);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 0);
  await clock.advance("2h");
  assert.deepEqual(ticks, [1, 2]);
  assert.equal(await handle.status(), "sleeping");
  await clock.advance("1h");
  assert.equal(await handle.result(), 3);
  assert.deepEqual(ticks, [1, 2, 3]);
});

Deno.test("a while whose body waits for signals stops when the condition fails", async () => {
  const gather = workflow<number>("gather").while(
    "untilStop",
    (v) => v !== -1,
    flow<number>().waitForSignal<number>("take", "n"),
  );
  await using runner = new LocalRunner();
  const handle = await runner.start(gather, 0);
  for (const n of [5, 6, -1, 7]) await handle.signal("n", n);
  assert.equal(await handle.result(), -1);
  const consumed = (await runner.history(handle.id))
    .filter((e) => e.type === "step.completed")
    .map((e) => e.step);
  assert.deepEqual(consumed, ["untilStop#0/take", "untilStop#1/take", "untilStop#2/take"]);
});
