import assert from "node:assert/strict";
import {
  DuplicateScheduleError,
  Engine,
  InvalidStateError,
  LocalRunner,
  ManualClock,
  MemoryDriver,
  schedule,
  ScheduleNotFoundError,
  SerializationError,
  workflow,
  WorkflowNotFoundError,
} from "../mod.ts";
import type { RunRecord, RunStatus } from "../mod.ts";

const MONDAY = Date.UTC(2026, 0, 5); // 00:00 UTC
const HOUR = 3_600_000;

const report = workflow<{ day: string }>("daily-report").step(
  "build",
  (input) => `report ${input.day}`,
);
const tick = workflow("tick").step("tick", () => "ok");

async function runsOf(
  runner: { list: LocalRunner["list"] },
  scheduleId: string,
): Promise<RunRecord[]> {
  const { runs } = await runner.list({ labels: { schedule: scheduleId }, limit: 1000 });
  return runs.sort((a, b) => a.id < b.id ? -1 : 1);
}

Deno.test("a LocalRunner with a ManualClock fires each slot of a week once, with slot run ids and labels", async () => {
  const clock = new ManualClock(MONDAY);
  const nightly = schedule("nightly-report", report, {
    cron: "0 3 * * *",
    timezone: "Europe/Berlin",
    input: (slot) => ({ day: slot.toISOString().slice(0, 10) }),
  });
  await using runner = new LocalRunner({ workflows: [report], schedules: [nightly], clock });
  await clock.advance("7d");
  const runs = await runsOf(runner, "nightly-report");
  assert.deepEqual(runs.map((r) => r.id), [
    "nightly-report@2026-01-05T02:00:00.000Z",
    "nightly-report@2026-01-06T02:00:00.000Z",
    "nightly-report@2026-01-07T02:00:00.000Z",
    "nightly-report@2026-01-08T02:00:00.000Z",
    "nightly-report@2026-01-09T02:00:00.000Z",
    "nightly-report@2026-01-10T02:00:00.000Z",
    "nightly-report@2026-01-11T02:00:00.000Z",
  ]);
  for (const run of runs) {
    assert.equal(run.status, "completed");
    assert.deepEqual(run.labels, { schedule: "nightly-report" });
    assert.equal(run.output, `report ${run.id.slice("nightly-report@".length, -14)}`);
  }
  const info = await runner.schedules.get("nightly-report");
  assert.equal(info.lastRunId, runs.at(-1)!.id);
  assert.equal(info.lastSlot?.toISOString(), "2026-01-11T02:00:00.000Z");
  assert.equal(info.nextAt?.toISOString(), "2026-01-12T02:00:00.000Z");
  assert.equal(info.skipped, 0);
  assert.equal(info.source, "declared");
});

Deno.test("the virtual clock fires an interval schedule as time skips", async () => {
  await using runner = new LocalRunner({
    workflows: [tick],
    schedules: [schedule("tick", tick, { every: "1h" })],
    clock: "virtual",
  });
  const sleeper = workflow("sleeper").sleep("wait", "5h").step("done", () => 1);
  await runner.run(sleeper, undefined);
  const runs = await runsOf(runner, "tick");
  assert.ok(runs.length >= 5 && runs.length <= 6, `${runs.length} runs in 5 hours`);
  for (const run of runs) assert.equal(new Date(run.id.split("@")[1]!).getTime() % HOUR, 0);
});

Deno.test("overlap 'skip' records a skipped slot while the previous run is unfinished; 'allow' starts it", async () => {
  for (const overlap of ["skip", "allow"] as const) {
    const clock = new ManualClock(MONDAY);
    const wf = workflow(`waits-${overlap}`).waitForSignal("go", "go");
    await using runner = new LocalRunner({
      workflows: [wf],
      schedules: [schedule("every-hour", wf, { every: "1h", overlap })],
      clock,
    });
    await clock.advance("1h"); // the first slot starts a run that waits for a signal
    await clock.advance("1h"); // the second slot finds it unfinished
    await clock.advance("1h");
    let runs = await runsOf(runner, "every-hour");
    const info = await runner.schedules.get("every-hour");
    if (overlap === "skip") {
      assert.deepEqual(runs.map((r) => r.id), ["every-hour@2026-01-05T01:00:00.000Z"]);
      assert.equal(info.skipped, 2);
      assert.equal(info.lastSlot?.toISOString(), "2026-01-05T03:00:00.000Z");
      assert.equal(info.lastRunId, "every-hour@2026-01-05T01:00:00.000Z");
      await runner.signal(runs[0]!.id, "go");
      await clock.advance("1h");
      runs = await runsOf(runner, "every-hour");
      assert.equal(runs.length, 2);
      assert.equal(runs[1]!.id, "every-hour@2026-01-05T04:00:00.000Z");
    } else {
      assert.equal(runs.length, 3);
      assert.equal(info.skipped, 0);
    }
  }
});

async function engineOverDay(catchUp: "latest" | "all" | "none") {
  const clock = new ManualClock(MONDAY + 10 * 60_000);
  const driver = new MemoryDriver();
  const engine = new Engine({
    driver,
    workflows: [tick],
    schedules: [schedule("hourly", tick, { cron: "0 * * * *", catchUp })],
    clock,
  });
  let worker = engine.worker();
  await worker.start();
  await clock.advance("1h"); // 01:00 fires
  await worker.stop();
  await clock.advance("1d"); // every worker stopped for a day: 24 slots pass unseen
  worker = engine.worker();
  await worker.start();
  await clock.advance("1m");
  const runs = await runsOf(engine, "hourly");
  await worker.stop();
  await engine.close();
  return runs;
}

Deno.test("after a day with no worker, catchUp 'latest' fires one run, 'all' each, 'none' none", async () => {
  const latest = await engineOverDay("latest");
  assert.deepEqual(latest.map((r) => r.id), [
    "hourly@2026-01-05T01:00:00.000Z",
    "hourly@2026-01-06T01:00:00.000Z",
  ]);
  const all = await engineOverDay("all");
  assert.equal(all.length, 1 + 24);
  assert.equal(all.at(-1)!.id, "hourly@2026-01-06T01:00:00.000Z");
  const none = await engineOverDay("none");
  assert.deepEqual(none.map((r) => r.id), ["hourly@2026-01-05T01:00:00.000Z"]);
  for (const run of [...latest, ...all, ...none]) assert.equal(run.status, "completed");
});

Deno.test("catchUp 'all' starts at most the newest 100 missed slots", async () => {
  const clock = new ManualClock(MONDAY + 30_000);
  await using engine = new Engine({
    driver: new MemoryDriver(),
    workflows: [tick],
    schedules: [schedule("minutely", tick, { every: "1m", catchUp: "all" })],
    clock,
  });
  await engine.schedules.list(); // writes the declared schedule: first slot 00:01
  await clock.advance("1000m");
  await using worker = engine.worker();
  await worker.start();
  await clock.advance("1s");
  const runs = await runsOf(engine, "minutely");
  // 00:01 .. 16:39 are missed (the newest 100, from 15:00, fire); 16:40 is 30 s late: on time.
  assert.equal(runs.length, 101);
  assert.equal(runs[0]!.id, "minutely@2026-01-05T15:00:00.000Z");
  assert.equal(runs.at(-1)!.id, "minutely@2026-01-05T16:40:00.000Z");
});

Deno.test("a paused schedule skips its slots and does not catch them up on resume", async () => {
  const clock = new ManualClock(MONDAY);
  await using runner = new LocalRunner({ workflows: [tick], clock });
  await runner.schedules.upsert(schedule("tick", tick, { every: "1h" }));
  await clock.advance("2h");
  assert.equal((await runsOf(runner, "tick")).length, 2);
  const paused = await runner.schedules.pause("tick");
  assert.equal(paused.paused, true);
  assert.equal(paused.nextAt, undefined);
  await clock.advance("5h");
  assert.equal((await runsOf(runner, "tick")).length, 2);
  await clock.advance("30m");
  const resumed = await runner.schedules.resume("tick");
  assert.equal(resumed.paused, false);
  assert.equal(resumed.skipped, 5);
  assert.equal(resumed.nextAt?.toISOString(), "2026-01-05T08:00:00.000Z");
  await clock.advance("1h");
  const runs = await runsOf(runner, "tick");
  assert.deepEqual(runs.map((r) => r.id.split("@")[1]), [
    "2026-01-05T01:00:00.000Z",
    "2026-01-05T02:00:00.000Z",
    "2026-01-05T08:00:00.000Z",
  ]);
  // Pausing twice or resuming a running schedule changes nothing.
  assert.equal((await runner.schedules.resume("tick")).skipped, 5);
});

Deno.test("trigger() starts one run now with a manual id; delete() stops the schedule", async () => {
  const clock = new ManualClock(MONDAY + 1234);
  await using runner = new LocalRunner({ workflows: [report], clock });
  await runner.schedules.upsert(
    schedule("report.acme", report, { cron: "0 6 * * *", input: { day: "any" } }),
  );
  const run = await runner.schedules.trigger("report.acme");
  assert.equal(run.id, "report.acme@manual-2026-01-05T00:00:01.234Z");
  assert.equal(await run.result(), "report any");
  assert.deepEqual((await runner.get(run.id)).labels, { schedule: "report.acme" });
  assert.equal((await runner.schedules.get("report.acme")).lastRunId, undefined);
  await runner.schedules.delete("report.acme");
  await assert.rejects(runner.schedules.get("report.acme"), ScheduleNotFoundError);
  await clock.advance("1d");
  assert.equal((await runsOf(runner, "report.acme")).length, 1);
});

Deno.test("upsert() keeps a schedule's state when unchanged and restarts its slots when the timing changes", async () => {
  const clock = new ManualClock(MONDAY);
  await using runner = new LocalRunner({ workflows: [tick], clock });
  const first = await runner.schedules.upsert(schedule("t", tick, { every: "1h" }));
  assert.equal(first.source, "dynamic");
  assert.equal(first.nextAt?.toISOString(), "2026-01-05T01:00:00.000Z");
  await clock.advance("90m");
  const same = await runner.schedules.upsert(schedule("t", tick, { every: "1h" }));
  assert.equal(same.lastRunId, "t@2026-01-05T01:00:00.000Z");
  assert.equal(same.nextAt?.toISOString(), "2026-01-05T02:00:00.000Z");
  const policy = await runner.schedules.upsert(
    schedule("t", tick, { every: "1h", overlap: "allow" }),
  );
  assert.equal(policy.overlap, "allow");
  assert.equal(policy.nextAt?.toISOString(), "2026-01-05T02:00:00.000Z");
  const timing = await runner.schedules.upsert(schedule("t", tick, { every: "15m" }));
  assert.equal(timing.nextAt?.toISOString(), "2026-01-05T01:45:00.000Z");
  assert.equal(timing.lastRunId, "t@2026-01-05T01:00:00.000Z");
  assert.deepEqual((await runner.schedules.list()).map((s) => s.id), ["t"]);
});

Deno.test("declared schedules are written when the engine opens; a removed one is removed, dynamic ones stay", async () => {
  const clock = new ManualClock(MONDAY);
  const driver = new MemoryDriver();
  const other = workflow("other").step("o", () => 1);
  {
    const engine = new Engine({
      driver,
      workflows: [tick, other],
      schedules: [schedule("a", tick, { every: "1h" }), schedule("b", tick, { every: "2h" })],
      clock,
    });
    await engine.schedules.upsert(schedule("dyn", tick, { every: "1h" }));
    assert.deepEqual((await engine.schedules.list()).map((s) => `${s.id}:${s.source}`), [
      "a:declared",
      "b:declared",
      "dyn:dynamic",
    ]);
  }
  // Another process (same storage), whose code declares only 'b' (changed) and 'c'.
  const engine = new Engine({
    driver,
    workflows: [tick],
    schedules: [schedule("b", tick, { every: "3h" }), schedule("c", tick, { cron: "0 0 * * *" })],
    clock,
  });
  const list = await engine.schedules.list();
  assert.deepEqual(list.map((s) => `${s.id}:${s.source}`), [
    "b:declared",
    "c:declared",
    "dyn:dynamic",
  ]);
  assert.equal(list[0]!.every, 3 * HOUR);
  // An engine that declares nothing leaves declared schedules alone.
  const reader = new Engine({ driver, workflows: [tick], clock });
  assert.equal((await reader.schedules.list()).length, 3);
  await assert.rejects(reader.schedules.delete("b"), InvalidStateError);
  await assert.rejects(
    reader.schedules.upsert(schedule("b", tick, { every: "1h" })),
    DuplicateScheduleError,
  );
  await engine.close();
  await reader.close();
});

Deno.test("schedules refuse bad input with a typed error and change nothing", async () => {
  const clock = new ManualClock(MONDAY);
  const other = workflow("other").step("o", () => 1);
  await using runner = new LocalRunner({ workflows: [tick, other, report], clock });
  await runner.schedules.upsert(schedule("taken", tick, { every: "1h" }));
  const before = JSON.stringify(await runner.schedules.list());
  const unregistered = workflow("unregistered").step("u", () => 1);
  await assert.rejects(
    runner.schedules.upsert(schedule("u", unregistered, { every: "1h" })),
    WorkflowNotFoundError,
  );
  await assert.rejects(
    runner.schedules.upsert(schedule("taken", other, { every: "1h" })),
    (error: unknown) =>
      error instanceof DuplicateScheduleError && /workflow 'tick'/.test(error.message),
  );
  await assert.rejects(
    runner.schedules.upsert(schedule("fn", report, { every: "1h", input: () => ({ day: "x" }) })),
    (error: unknown) => error instanceof TypeError && /function input/.test(error.message),
  );
  await assert.rejects(runner.schedules.upsert({ id: "x" } as never), TypeError);
  for (const op of ["get", "pause", "resume", "trigger", "delete"] as const) {
    await assert.rejects(runner.schedules[op]("missing"), ScheduleNotFoundError);
    await assert.rejects(runner.schedules[op](42 as never), TypeError);
  }
  assert.equal(JSON.stringify(await runner.schedules.list()), before);
  const bigRunner = new LocalRunner({ workflows: [report], clock, maxPayloadBytes: 64 });
  await assert.rejects(
    bigRunner.schedules.upsert(
      schedule("big", report, { every: "1h", input: { day: "x".repeat(100) } }),
    ),
    (error: unknown) => (error as Error).name === "PayloadTooLargeError",
  );
  assert.deepEqual(await bigRunner.schedules.list(), []);
  await bigRunner.close();
  await assert.rejects(bigRunner.schedules.list(), InvalidStateError);
  assert.throws(
    () => schedule("s", report, { every: "1h", input: { day: Symbol("x") } as never }),
    SerializationError,
  );
});

Deno.test("the schedules option is checked when the engine is made", () => {
  const driver = new MemoryDriver();
  const s = schedule("s", tick, { every: "1h" });
  assert.throws(
    () => new Engine({ driver, workflows: [], schedules: [s] }),
    /workflow 'tick' is not registered/,
  );
  assert.throws(() => new Engine({ driver, workflows: [tick], schedules: [s, s] }), /twice/);
  assert.throws(() => new Engine({ driver, workflows: [tick], schedules: s as never }), TypeError);
  assert.throws(
    () => new Engine({ driver, workflows: [tick], schedules: [{}] as never }),
    TypeError,
  );
});

Deno.test("a slot whose input function throws is skipped and logged; the next slot fires", async () => {
  const clock = new ManualClock(MONDAY);
  const errors: string[] = [];
  let calls = 0;
  const flaky = schedule("flaky", report, {
    every: "1h",
    input: (slot) => {
      if (calls++ === 0) throw new Error("no data yet");
      return { day: slot.toISOString() };
    },
  });
  await using runner = new LocalRunner({
    workflows: [report],
    schedules: [flaky],
    clock,
    logger: { debug() {}, info() {}, warn() {}, error: (message) => void errors.push(message) },
  });
  await clock.advance("2h");
  const runs = await runsOf(runner, "flaky");
  assert.deepEqual(runs.map((r) => r.id), ["flaky@2026-01-05T02:00:00.000Z"]);
  assert.equal((await runner.schedules.get("flaky")).skipped, 1);
  assert.equal(errors.length, 1);
});

Deno.test("a daily schedule fires at its slot and not before", async () => {
  const clock = new ManualClock(MONDAY);
  await using runner = new LocalRunner({
    workflows: [tick],
    schedules: [schedule("daily", tick, { cron: "0 12 * * *" })],
    clock,
  });
  await clock.advance("11h");
  assert.equal((await runsOf(runner, "daily")).length, 0);
  await clock.advance("1h");
  const [run] = await runsOf(runner, "daily");
  assert.equal(run?.id, "daily@2026-01-05T12:00:00.000Z");
  const status: RunStatus | undefined = run?.status;
  assert.equal(status, "completed");
});
