// Durable timers: sleep, sleepUntil, delayed starts, the virtual and manual clocks.
import { LocalRunner, ManualClock, workflow } from "@sluice/sluice";
import assert from "node:assert/strict";

const T0 = Date.UTC(2030, 0, 1);

Deno.test("sleep suspends the run until its time and passes the value through", async () => {
  const clock = new ManualClock(T0);
  let wokeAt: number | undefined;
  const wf = workflow<{ n: number }>("nap")
    .step("before", (v) => ({ n: v.n + 1 }))
    .sleep("nap", "1h30m")
    .step("after", (v, ctx) => {
      wokeAt = ctx.now().getTime();
      return v;
    });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, { n: 1 });
  await clock.advance(0);
  const sleeping = await runner.get(handle.id);
  assert.equal(sleeping.status, "sleeping");
  assert.equal(sleeping.wakeAt?.getTime(), T0 + 5_400_000);
  await clock.advance("1h29m");
  assert.equal(wokeAt, undefined);
  assert.equal(await handle.status(), "sleeping");
  await clock.advance("1m");
  assert.deepEqual(await handle.result(), { n: 2 });
  assert.equal(wokeAt, T0 + 5_400_000);
});

Deno.test("sleepUntil a Date waits until that time", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<string>("until-date")
    .sleepUntil("wake", new Date(T0 + 60_000))
    .step("done", (v, ctx) => `${v}@${ctx.now().getTime() - T0}`);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, "x");
  await clock.advance("59s");
  assert.equal(await handle.status(), "sleeping");
  await clock.advance("1s");
  assert.equal(await handle.result(), "x@60000");
});

Deno.test("sleepUntil epoch milliseconds waits until that time", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("until-ms").sleepUntil("wake", T0 + 10_000).step("done", (n) => n);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 5);
  await clock.advance("9999ms");
  assert.equal(await handle.status(), "sleeping");
  await clock.advance(1);
  assert.equal(await handle.result(), 5);
});

Deno.test("sleepUntil a function of the value waits until the time it returns", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<{ at: string }>("until-fn")
    .sleepUntil("due", (v) => new Date(v.at))
    .step("remind", (v, ctx) => ({ ...v, now: ctx.now().toISOString() }));
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, { at: "2030-01-02T00:00:00.000Z" });
  await clock.advance("23h");
  assert.equal(await handle.status(), "sleeping");
  assert.equal((await runner.get(handle.id)).wakeAt?.toISOString(), "2030-01-02T00:00:00.000Z");
  await clock.advance("1h");
  assert.deepEqual(await handle.result(), {
    at: "2030-01-02T00:00:00.000Z",
    now: "2030-01-02T00:00:00.000Z",
  });
});

Deno.test("sleepUntil a time in the past continues at once", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("until-past")
    .sleepUntil("fixed", T0 - 1_000)
    .sleepUntil("computed", () => new Date(T0 - 60_000))
    .sleepUntil("now", () => T0)
    .step("done", (n) => n + 1);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  assert.equal(await handle.result(), 2);
  const history = await runner.history(handle.id);
  assert.ok(!history.some((e) => e.type === "run.sleeping"));
});

Deno.test("sleepUntil fails the run when its function returns no valid time", async () => {
  const wf = workflow<number>("until-bad").sleepUntil("broken", () => "soon" as never);
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 1), (e: Error & { step?: string }) => {
    assert.equal(e.name, "WorkflowFailedError");
    assert.equal(e.step, "broken");
    assert.match((e.cause as Error).message, /'broken'/);
    return true;
  });
});

Deno.test("a workflow that sleeps for a day finishes at once on the virtual clock", async () => {
  const wf = workflow<number>("day-nap")
    .step("start", (n, ctx) => ({ n, at: ctx.now().getTime() }))
    .sleep("nap", "1d")
    .step("end", (v, ctx) => ctx.now().getTime() - v.at);
  await using runner = new LocalRunner({ clock: "virtual" });
  const slept = await runner.run(wf, 1);
  assert.ok(slept >= 86_400_000, `${slept}`);
});

Deno.test("1,000 runs that each sleep for a day finish under the virtual clock", async () => {
  const wf = workflow<number>("many-naps").sleep("nap", "1d").step("inc", (n) => n + 1);
  await using runner = new LocalRunner({ clock: "virtual" });
  const handles = await Promise.all(Array.from({ length: 1_000 }, (_, i) => runner.start(wf, i)));
  const results = await Promise.all(handles.map((h) => h.result()));
  assert.deepEqual(results, Array.from({ length: 1_000 }, (_, i) => i + 1));
  const page = await runner.list({ status: "completed", limit: 1000 });
  assert.equal(page.runs.length, 1_000);
});

Deno.test("ManualClock.advance fires the timers of several runs in due order", async () => {
  const clock = new ManualClock(T0);
  const order: string[] = [];
  const wf = workflow<{ name: string; wait: number }>("ordered")
    .sleep("pause", 0)
    .sleepUntil("wake", (v) => T0 + v.wait)
    .step("record", (v, ctx) => {
      order.push(`${v.name}@${ctx.now().getTime() - T0}`);
      return v.name;
    });
  await using runner = new LocalRunner({ clock });
  const handles = [
    await runner.start(wf, { name: "c", wait: 3_000 }),
    await runner.start(wf, { name: "a", wait: 1_000 }),
    await runner.start(wf, { name: "b", wait: 2_000 }),
  ];
  await clock.advance("10s");
  assert.deepEqual(order, ["a@1000", "b@2000", "c@3000"]);
  for (const handle of handles) assert.equal(await handle.status(), "completed");
});

Deno.test("startAt delays the first step durably until its time", async () => {
  const clock = new ManualClock(T0);
  let ran = 0;
  const wf = workflow<number>("delayed").step("go", (n) => {
    ran++;
    return n;
  });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 3, { startAt: new Date(T0 + 3_600_000) });
  await clock.advance("59m");
  assert.equal(ran, 0);
  assert.equal(await handle.status(), "pending");
  await clock.advance("1m");
  assert.equal(await handle.result(), 3);
  assert.equal(ran, 1);
  const late = await runner.start(wf, 4, { startAt: T0 + 3_600_000 + 1_000 });
  await clock.advance("999ms");
  assert.equal(await late.status(), "pending");
  await clock.advance("1ms");
  assert.equal(await late.result(), 4);
});

Deno.test("startAt in the past starts at once", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("past-start").step("go", (n) => n + 1);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1, { startAt: T0 - 60_000 });
  assert.equal(await handle.result(), 2);
});

Deno.test("a sleeping run shows in history with its wake time", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("sleep-history").sleep("nap", "5m").step("done", (n) => n);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("5m");
  await handle.result();
  const history = await runner.history(handle.id);
  const sleeping = history.find((e) => e.type === "run.sleeping")!;
  assert.equal(sleeping.wakeAt?.getTime(), T0 + 300_000);
  assert.deepEqual(history.map((e) => e.type), [
    "run.created",
    "run.started",
    "run.sleeping",
    "step.started",
    "step.completed",
    "run.completed",
  ]);
});

Deno.test("a sleep of zero continues at once", async () => {
  const wf = workflow<number>("zero-sleep").sleep("none", 0).step("done", (n) => n + 1);
  await using runner = new LocalRunner({ clock: new ManualClock(T0) });
  assert.equal(await runner.run(wf, 1), 2);
});
