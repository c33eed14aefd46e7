// Clocks: ManualClock moved by hand, the real clock, and the testing entry point.
import {
  flow,
  LocalRunner,
  ManualClock as MainManualClock,
  realClock,
  resource,
  workflow,
} from "@sluice/sluice";
import { ManualClock } from "@sluice/sluice/testing";
import assert from "node:assert/strict";
import { deferred } from "./_fixtures/deferred.ts";

const T0 = Date.UTC(2030, 0, 1);

Deno.test("the testing entry point exports the same ManualClock", () => {
  assert.equal(ManualClock, MainManualClock);
});

Deno.test("ManualClock starts at the given Date or epoch ms and stands still", async () => {
  assert.equal(new ManualClock(new Date(T0)).now(), T0);
  const clock = new ManualClock(T0);
  assert.equal(clock.now(), T0);
  await new Promise((resolve) => setTimeout(resolve, 2));
  assert.equal(clock.now(), T0);
  const before = Date.now();
  const byDefault = new ManualClock().now();
  assert.ok(byDefault >= before && byDefault <= Date.now());
  assert.throws(() => new ManualClock(new Date(NaN)), RangeError);
  assert.throws(() => new ManualClock(Infinity), RangeError);
});

Deno.test("ManualClock.advance moves time by a duration", async () => {
  const clock = new ManualClock(0);
  await clock.advance("1h30m");
  assert.equal(clock.now(), 5_400_000);
  await clock.advance(250);
  assert.equal(clock.now(), 5_400_250);
  await clock.advance(0);
  assert.equal(clock.now(), 5_400_250);
  await assert.rejects(clock.advance(-1), RangeError);
  await assert.rejects(clock.advance("soon"), RangeError);
  assert.equal(clock.now(), 5_400_250);
});

Deno.test("ManualClock.advance fires due timers in due order, each at its own time", async () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const at = (name: string) => () => fired.push(`${name}@${clock.now()}`);
  clock.setTimer(3_000, at("c"));
  clock.setTimer(1_000, at("a1"));
  clock.setTimer(2_000, at("b"));
  clock.setTimer(1_000, at("a2"));
  clock.setTimer(10_000, at("late"));
  await clock.advance(999);
  assert.deepEqual(fired, []);
  await clock.advance(2_001);
  assert.deepEqual(fired, ["a1@1000", "a2@1000", "b@2000", "c@3000"]);
  assert.equal(clock.now(), 3_000);
  await clock.advance("7s");
  assert.deepEqual(fired.at(-1), "late@10000");
});

Deno.test("a cancelled ManualClock timer never fires", async () => {
  const clock = new ManualClock(0);
  let fired = 0;
  const timer = clock.setTimer(100, () => fired++);
  timer.cancel();
  await clock.advance(1_000);
  assert.equal(fired, 0);
  timer.cancel();
});

Deno.test("a timer set by a firing timer fires in the same advance when it falls due", async () => {
  const clock = new ManualClock(0);
  const fired: number[] = [];
  clock.setTimer(100, () => {
    fired.push(clock.now());
    clock.setTimer(clock.now() + 100, () => fired.push(clock.now()));
    clock.setTimer(clock.now() + 10_000, () => fired.push(clock.now()));
  });
  await clock.advance(500);
  assert.deepEqual(fired, [100, 200]);
  await clock.advance(10_000);
  assert.deepEqual(fired, [100, 200, 10_100]);
});

Deno.test("a ManualClock timer in the past fires on the next advance", async () => {
  const clock = new ManualClock(1_000);
  let fired = 0;
  clock.setTimer(0, () => fired++);
  assert.equal(fired, 0);
  await clock.advance(0);
  assert.equal(fired, 1);
});

Deno.test("realClock reads the wall clock and fires timers after their time", async () => {
  const before = Date.now();
  const now = realClock.now();
  assert.ok(now >= before && now <= Date.now());
  const fired = await new Promise<number>((resolve) => {
    const start = Date.now();
    realClock.setTimer(start + 10, () => resolve(Date.now() - start));
  });
  assert.ok(fired >= 9, `${fired}ms`);
  let cancelled = 0;
  const timer = realClock.setTimer(Date.now() + 5, () => cancelled++);
  timer.cancel();
  await new Promise((resolve) => setTimeout(resolve, 15));
  assert.equal(cancelled, 0);
});

Deno.test("ManualClock.advance waits for engine work however long it takes, with no real-time guess", async () => {
  // The run's dependencies take 100 ms of real time to build before the run
  // reaches its sleep: a clock that took 25 ms of quiet for waiting on it would
  // move time on before the sleep set its timer, and the run would still sleep.
  const clock = new ManualClock(T0);
  const wf = workflow<number>("slow-start").sleep("nap", "1h").step("done", (n) => n + 1);
  await using runner = new LocalRunner({
    clock,
    deps: {
      db: resource(async () => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        return "db";
      }),
    },
  });
  const run = await runner.start(wf, 1);
  await clock.advance("1h");
  assert.equal(await run.status(), "completed");
  assert.equal(await run.result(), 2);
});

Deno.test("ManualClock.advance moves on while a step body runs, waking a sleeping sibling branch", async () => {
  const clock = new ManualClock(T0);
  const release = deferred<string>();
  const woke: number[] = [];
  const wf = workflow<number>("busy-sibling").parallel("both", {
    slow: () => release.promise,
    later: flow<number>().sleep("nap", "1h").step("after", (n) => {
      woke.push(clock.now());
      return n;
    }),
  });
  await using runner = new LocalRunner({ clock });
  const run = await runner.start(wf, 7);
  await clock.advance("1h");
  assert.deepEqual(woke, [T0 + 3_600_000]);
  assert.equal(await run.status(), "running");
  release.resolve("done");
  assert.deepEqual(await run.result(), { slow: "done", later: 7 });
});
