// LocalRunner: run, start, get, list, history, idempotent start, disposal.
import {
  DuplicateRunError,
  InvalidStateError,
  LocalRunner,
  ManualClock,
  workflow,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from "@sluice/sluice";
import assert from "node:assert/strict";
import { waitForStatus } from "@sluice/sluice/testing";

const T0 = Date.UTC(2030, 0, 1);

Deno.test("run() starts a run and resolves with its output", async () => {
  const wf = workflow<{ a: number }>("add").step("sum", (v) => v.a + 1);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, { a: 41 }), 42);
});

Deno.test("run() rejects with WorkflowFailedError when the run fails", async () => {
  const wf = workflow<number>("boom").step("explode", () => {
    throw new Error("kaboom");
  });
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 1), (e: unknown) => {
    assert.ok(e instanceof WorkflowFailedError);
    assert.equal((e.cause as Error).message, "kaboom");
    return true;
  });
});

Deno.test("start() returns a handle with the id, status, result, signal and cancel", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("handle").waitForSignal<number>("w", "go").step("x", (n) => n * 2);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1, { id: "h-1" });
  assert.equal(handle.id, "h-1");
  await clock.advance(0);
  assert.equal(await handle.status(), "waiting");
  await handle.signal("go", 21);
  assert.equal(await handle.result(), 42);
  assert.equal(await handle.status(), "completed");
  const other = await runner.start(wf, 1);
  assert.match(other.id, /^[\x21-\x7e]+$/);
  assert.notEqual(other.id, handle.id);
  await other.cancel("bye");
  assert.equal(await other.status(), "cancelled");
});

Deno.test("start() with an existing id returns the existing run without running it again", async () => {
  let runs = 0;
  const wf = workflow<number>("idempotent").step("count", (n) => {
    runs++;
    return n;
  });
  await using runner = new LocalRunner();
  const first = await runner.start(wf, 1, { id: "same-id" });
  assert.equal(await first.result(), 1);
  const second = await runner.start(wf, 2, { id: "same-id" });
  assert.equal(second.id, "same-id");
  assert.equal(await second.result(), 1);
  assert.equal(runs, 1);
  assert.equal((await runner.get("same-id")).input, 1);
  assert.equal((await runner.list()).runs.length, 1);
});

Deno.test("start() with an id taken by another workflow is DuplicateRunError", async () => {
  const a = workflow<number>("first-wf").step("a", (n) => n);
  const b = workflow<number>("second-wf").step("b", (n) => n);
  await using runner = new LocalRunner();
  await runner.start(a, 1, { id: "taken" });
  await assert.rejects(runner.start(b, 1, { id: "taken" }), (e: unknown) => {
    assert.ok(e instanceof DuplicateRunError);
    assert.equal(e.code, "DUPLICATE_RUN");
    assert.match(e.message, /'taken'/);
    assert.match(e.message, /'first-wf'/);
    return true;
  });
});

Deno.test("start() accepts the name of a registered workflow", async () => {
  const wf = workflow<number>("by-name").step("a", (n) => n + 1);
  await using runner = new LocalRunner({ workflows: [wf] });
  const handle = await runner.start<number, number>("by-name", 1);
  assert.equal(await handle.result(), 2);
  await assert.rejects(runner.start("unknown", 1), WorkflowNotFoundError);
});

Deno.test("start() validates ids, labels and startAt", async () => {
  const wf = workflow<number>("validated").step("a", (n) => n);
  await using runner = new LocalRunner();
  await assert.rejects(runner.start(wf, 1, { id: "" }), TypeError);
  await assert.rejects(runner.start(wf, 1, { id: "has space" }), TypeError);
  await assert.rejects(runner.start(wf, 1, { labels: { k: 1 as never } }), TypeError);
  await assert.rejects(runner.start(wf, 1, { startAt: "tomorrow" as never }), TypeError);
  await assert.rejects(runner.start({} as never, 1), TypeError);
  assert.deepEqual((await runner.list()).runs, []);
});

Deno.test("get() returns the run record", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<{ n: number }>("recorded", { version: "7" }).sleep("nap", "1m").step(
    "done",
    (v) => ({ doubled: v.n * 2 }),
  );
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, { n: 2 }, { id: "rec-1", labels: { team: "billing" } });
  await clock.advance("1m");
  await handle.result();
  const record = await runner.get("rec-1");
  assert.equal(record.id, "rec-1");
  assert.equal(record.workflow, "recorded");
  assert.equal(record.version, "7");
  assert.equal(record.planHash, wf.planHash);
  assert.equal(record.status, "completed");
  assert.deepEqual(record.input, { n: 2 });
  assert.deepEqual(record.output, { doubled: 4 });
  assert.deepEqual(record.labels, { team: "billing" });
  assert.equal(record.createdAt.getTime(), T0);
  assert.equal(record.updatedAt.getTime(), T0 + 60_000);
  assert.equal(record.error, undefined);
});

Deno.test("list() filters by status, workflow and labels, newest first", async () => {
  const clock = new ManualClock(T0);
  const a = workflow<number>("list-a").waitForSignal("w", "go");
  const b = workflow<number>("list-b").step("x", (n) => n);
  await using runner = new LocalRunner({ clock });
  await runner.start(a, 1, { id: "a1", labels: { env: "prod", team: "x" } });
  await clock.advance(1);
  await runner.start(b, 1, { id: "b1", labels: { env: "prod" } });
  await clock.advance(1);
  await runner.start(a, 1, { id: "a2", labels: { env: "dev" } });
  await clock.advance(1);
  await runner.get("b1").then((r) => assert.equal(r.status, "completed"));
  const ids = async (filter: Parameters<typeof runner.list>[0]) =>
    (await runner.list(filter)).runs.map((r) => r.id);
  assert.deepEqual(await ids({}), ["a2", "b1", "a1"]);
  assert.deepEqual(await ids({ status: "waiting" }), ["a2", "a1"]);
  assert.deepEqual(await ids({ status: ["completed", "failed"] }), ["b1"]);
  assert.deepEqual(await ids({ workflow: "list-a" }), ["a2", "a1"]);
  assert.deepEqual(await ids({ labels: { env: "prod" } }), ["b1", "a1"]);
  assert.deepEqual(await ids({ labels: { env: "prod", team: "x" } }), ["a1"]);
  assert.deepEqual(await ids({ workflow: "list-b", status: "waiting" }), []);
  await assert.rejects(runner.list({ status: "sleepy" as never }), TypeError);
  await assert.rejects(runner.list({ limit: 0 }), RangeError);
  await assert.rejects(runner.list({ cursor: "garbage" }), TypeError);
});

Deno.test("list() pages with a cursor until every run is seen once", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("paged").step("x", (n) => n);
  await using runner = new LocalRunner({ clock });
  for (let i = 0; i < 7; i++) {
    await runner.start(wf, i, { id: `run-${i}` });
    if (i % 3 === 0) await clock.advance(1);
  }
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await runner.list({ limit: 3, ...(cursor ? { cursor } : {}) });
    assert.ok(page.runs.length <= 3);
    seen.push(...page.runs.map((r) => r.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  assert.equal(pages, 3);
  assert.equal(seen.length, 7);
  assert.deepEqual([...seen].sort(), Array.from({ length: 7 }, (_, i) => `run-${i}`));
  const times = await Promise.all(seen.map(async (id) => (await runner.get(id)).createdAt));
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1]! >= times[i]!);
});

Deno.test("history() lists a run's events in order with step keys and times", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("story")
    .step("first", (n) => n + 1)
    .sleep("nap", "1m")
    .waitForSignal<number>("approval", "approved")
    .step("last", (n) => n * 2);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("1m");
  await clock.advance("1s");
  await handle.signal("approved", 5);
  assert.equal(await handle.result(), 10);
  const history = await runner.history(handle.id);
  assert.deepEqual(
    history.map((e) => e.step ? `${e.type} ${e.step}` : e.type),
    [
      "run.created",
      "run.started",
      "step.started first",
      "step.completed first",
      "run.sleeping",
      "run.waiting",
      "step.started approval",
      "signal.received",
      "step.completed approval",
      "step.started last",
      "step.completed last",
      "run.completed",
    ],
  );
  for (let i = 1; i < history.length; i++) {
    assert.ok(history[i]!.at instanceof Date);
    assert.ok(history[i - 1]!.at.getTime() <= history[i]!.at.getTime(), `ordered at ${i}`);
  }
  const first = history.find((e) => e.type === "step.completed" && e.step === "first")!;
  assert.equal(first.output, 2);
  assert.equal(first.attempt, 1);
  assert.deepEqual(history.find((e) => e.type === "run.waiting")!.signals, ["approved"]);
  const received = history.find((e) => e.type === "signal.received")!;
  assert.equal(received.signal, "approved");
  assert.equal(received.payload, 5);
  assert.equal(history.find((e) => e.type === "run.sleeping")!.wakeAt?.getTime(), T0 + 60_000);
});

Deno.test("history() of a failed run ends with run.failed, of a cancelled one with run.cancelled", async () => {
  await using runner = new LocalRunner();
  const failing = await runner.start(
    workflow<number>("h-fail").step("bad", () => {
      throw new Error("x");
    }),
    1,
  );
  await failing.result().catch(() => {});
  const failed = await runner.history(failing.id);
  assert.deepEqual(failed.map((e) => e.type), [
    "run.created",
    "run.started",
    "step.started",
    "step.failed",
    "run.failed",
  ]);
  assert.equal(failed[2]!.step, "bad");
  assert.equal(failed[2]!.attempt, 1);
  assert.equal(failed[3]!.step, "bad");
  const waiting = await runner.start(workflow<number>("h-cancel").waitForSignal("w", "s"), 1);
  await waiting.cancel("stop");
  const cancelled = await runner.history(waiting.id);
  assert.equal(cancelled.at(-1)!.type, "run.cancelled");
  assert.equal(cancelled.at(-1)!.reason, "stop");
});

Deno.test("await using a runner with sleeping and waiting runs leaves no timer behind", async () => {
  const wf = workflow<number>("left-behind").sleep("long", "1h").step("never", (n) => n);
  const waits = workflow<number>("left-waiting").waitForSignal("w", "s", { timeout: "1d" });
  {
    await using runner = new LocalRunner();
    const sleeping = await runner.start(wf, 1);
    const waiting = await runner.start(waits, 1);
    await runner.start(wf, 1, { startAt: Date.now() + 3_600_000 });
    await waitForStatus(runner, sleeping.id, "sleeping");
    await waitForStatus(runner, waiting.id, "waiting");
  }
  {
    await using runner = new LocalRunner({ clock: "virtual" });
    await runner.start(waits, 1);
    await runner.start(wf, 1);
  }
  {
    await using runner = new LocalRunner({ clock: new ManualClock(T0) });
    await runner.start(wf, 1);
  }
});

Deno.test("a closed runner refuses further calls with InvalidStateError", async () => {
  const wf = workflow<number>("closed").step("a", (n) => n);
  const runner = new LocalRunner();
  await runner.run(wf, 1);
  await runner.close();
  await runner.close();
  await assert.rejects(runner.start(wf, 1), InvalidStateError);
  await assert.rejects(runner.list(), InvalidStateError);
  assert.throws(() => runner.override("a", (n: number) => n), InvalidStateError);
});

Deno.test("closing a runner releases result() waiters", async () => {
  const wf = workflow<number>("released").waitForSignal("w", "s");
  const runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  const pending = handle.result().catch((e) => e);
  await runner.close();
  assert.ok(await pending instanceof InvalidStateError);
});

Deno.test("LocalRunner rejects a clock that is not a clock", () => {
  assert.throws(() => new LocalRunner({ clock: "fast" as never }), TypeError);
  assert.throws(() => new LocalRunner(5 as never), TypeError);
});
