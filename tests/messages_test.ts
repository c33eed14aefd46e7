// Messages between runs (SPEC §8.2): signal ids delivered at most once per
// run, `ctx.signalRun` sending exactly once when its step re-runs (a retry, and
// a worker process SIGKILLed after the signal but before the checkpoint), and
// signal-with-start, atomic when many callers race on one id.
import assert from "node:assert/strict";
import {
  DuplicateRunError,
  Engine,
  flow,
  InvalidStateError,
  LocalRunner,
  type Observer,
  RunNotFoundError,
  workflow,
} from "@sluice/sluice";
import { SqliteDriver } from "@sluice/sluice/sqlite";
import { pinger } from "./_fixtures/chaos_workflows.ts";
import { kill, readExecutions, spawnWorker, waitUntil } from "./_fixtures/processes.ts";
import { makeTarget, targetKinds } from "./_fixtures/targets.ts";

/** A run that waits for `ping` twice and outputs both payloads. */
const inbox = workflow("inbox")
  .waitForSignal("first", "ping")
  .waitForSignal("second", "ping", { combine: (first, second) => [first, second] });

async function received(client: Engine | LocalRunner, runId: string): Promise<number> {
  return (await client.history(runId)).filter((e) => e.type === "signal.received").length;
}

Deno.test("signal ids: a repeat is a no-op on SQLite, also after the run finished and across engines", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/runs.db`;
  const seen: string[] = [];
  const observer: Observer = { onSignalReceived: (e) => void seen.push(String(e.payload)) };
  try {
    await using a = new Engine({ driver: new SqliteDriver({ path }), workflows: [inbox] });
    await using b = new Engine({
      driver: new SqliteDriver({ path }),
      workflows: [inbox],
      observers: [observer],
    });
    const run = await a.start(inbox, undefined, { id: "box-1" });
    await a.signal("box-1", "ping", 1, { id: "p-1" });
    await b.signal("box-1", "ping", 2, { id: "p-1" });
    assert.deepEqual(seen, [], "a repeat reaches no observer");
    await b.signal("box-1", "ping", 3, { id: "p-2" });
    assert.deepEqual(seen, ["3"]);
    await using worker = a.worker({ pollInterval: 20 });
    await worker.start();
    assert.deepEqual(await run.result(), [1, 3]);
    await b.signal("box-1", "ping", 4, { id: "p-2" });
    await assert.rejects(b.signal("box-1", "ping", 5, { id: "p-3" }), /completed/);
    assert.equal(await received(a, "box-1"), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ctx.signalRun: a step retried after signalling signals once; a second call in the attempt is a second signal", async () => {
  let attempts = 0;
  const sender = workflow<string>("sender").step("send", async (target, ctx) => {
    attempts++;
    await ctx.signalRun(target, "ping", `a${ctx.attempt}`);
    if (ctx.attempt === 1) throw new Error("fails after signalling");
    await ctx.signalRun(target, "ping", `b${ctx.attempt}`);
    return "sent";
  }, { retry: { maxAttempts: 3, initialDelay: 0 } });
  await using runner = new LocalRunner({ workflows: [inbox, sender] });
  const run = await runner.start(inbox, undefined, { id: "box-2" });
  assert.equal(await runner.run(sender, "box-2"), "sent");
  assert.equal(attempts, 2);
  // Attempt 1 sent a1 (1st call); attempt 2's 1st call has the same id, its 2nd is new.
  assert.deepEqual(await run.result(), ["a1", "b2"]);
  assert.equal(await received(runner, "box-2"), 2);
});

Deno.test("ctx.signalRun: an explicit id, and a bad one failing the step", async () => {
  const sender = workflow<string>("explicit").step("send", async (target, ctx) => {
    await ctx.signalRun(target, "ping", 1, { id: "the-one" });
    await ctx.signalRun(target, "ping", 2, { id: "the-one" });
    await ctx.signalRun(target, "ping", 3);
    return "sent";
  });
  const bad = workflow<string>("bad").step("send", async (target, ctx) => {
    await ctx.signalRun(target, "ping", 1, { id: "has space" });
  });
  await using runner = new LocalRunner({ workflows: [inbox, sender, bad] });
  const run = await runner.start(inbox, undefined, { id: "box-3" });
  assert.equal(await runner.run(sender, "box-3"), "sent");
  assert.deepEqual(await run.result(), [1, 3]);
  await assert.rejects(runner.run(bad, "box-3"), (e: Error) => {
    assert.ok(e.cause instanceof Error && /signal id 'has space'/.test(e.cause.message));
    return true;
  });
});

Deno.test("sqlite: a worker SIGKILLed after ctx.signalRun but before the checkpoint; the re-run step does not signal twice", async () => {
  const target = await makeTarget("sqlite");
  const log = `${target.dir}/executions.log`;
  // The worker processes do not run `inbox`: its run stays pending and keeps its inbox.
  await using engine = new Engine({ driver: target.open(), workflows: [inbox, pinger] });
  const workerA = spawnWorker({ db: target.db, log, leaseMs: 1000 });
  let workerB: ReturnType<typeof spawnWorker> | undefined;
  try {
    await workerA.ready;
    await engine.start(inbox, undefined, { id: "box-4" });
    const run = await engine.start(pinger, "box-4", { id: "pinger-1" });
    await waitUntil(
      () => readExecutions(log).some((e) => e.step === "ping/sent"),
      20_000,
      "worker A to send the signal",
    );
    await kill(workerA, "SIGKILL");
    workerB = spawnWorker({ db: target.db, log, leaseMs: 1000 });
    await workerB.ready;
    assert.equal(await run.result(), "box-4");
    const sent = readExecutions(log).filter((e) => e.step === "ping/sent");
    assert.equal(sent.length, 2, "the step ran in both workers");
    assert.notEqual(sent[0]!.pid, sent[1]!.pid);
    assert.equal(await received(engine, "box-4"), 1, "the target received one signal");
  } finally {
    await kill(workerA, "SIGKILL");
    if (workerB) await kill(workerB, "SIGKILL");
    await engine.close();
    await target.cleanup();
  }
});

/** Takes 20 `item` signals, one at a time, and outputs their payloads in consumption order. */
const collector = workflow<unknown[]>("collector").loop(
  "take",
  20,
  flow<unknown[]>().waitForSignal("got", "item", {
    combine: (items: unknown[], item: unknown) => [...items, item],
  }),
);

Deno.test("signal-with-start: creates and signals, signals an unfinished run, refuses a finished one and another workflow's id", async () => {
  const other = workflow("other").step("noop", () => "x");
  await using runner = new LocalRunner({ workflows: [inbox, other] });
  const first = await runner.start(inbox, undefined, {
    id: "box-5",
    signal: { name: "ping", payload: 1, id: "s-1" },
  });
  assert.equal((await runner.get("box-5")).workflow, "inbox");
  await runner.start(inbox, undefined, {
    id: "box-5",
    signal: { name: "ping", payload: 9, id: "s-1" },
  });
  await runner.start(inbox, undefined, { id: "box-5", signal: { name: "ping", payload: 2 } });
  assert.deepEqual(await first.result(), [1, 2]);
  await assert.rejects(
    runner.start(inbox, undefined, { id: "box-5", signal: { name: "ping", payload: 3 } }),
    InvalidStateError,
  );
  // A repeated id is a no-op, also on the finished run.
  await runner.start(inbox, undefined, {
    id: "box-5",
    signal: { name: "ping", payload: 9, id: "s-1" },
  });
  assert.equal(await received(runner, "box-5"), 2);
  await runner.run(other, undefined, { id: "taken" });
  await assert.rejects(
    runner.start(inbox, undefined, { id: "taken", signal: { name: "ping", payload: 1 } }),
    DuplicateRunError,
  );
  assert.equal(await received(runner, "taken"), 0, "the other workflow's run is not signalled");
  await assert.rejects(
    runner.start(inbox, undefined, { id: "box-6", signal: { name: "bad name" } }),
    TypeError,
  );
  await assert.rejects(runner.get("box-6"), RunNotFoundError, "bad input creates nothing");
});

for (const kind of targetKinds()) {
  Deno.test(`${kind}: 20 callers racing signal-with-start on one id make one run holding each signal once, consumed in order`, async () => {
    const target = await makeTarget(kind);
    const engines = Array.from(
      { length: 4 },
      () => new Engine({ driver: target.open(), workflows: [collector] }),
    );
    try {
      const callers = Array.from(
        { length: 20 },
        (_, i) =>
          engines[i % engines.length]!.start(collector, [], {
            id: "race-1",
            signal: { name: "item", payload: i, id: `caller-${i}` },
          }),
      );
      const handles = await Promise.all(callers);
      assert.ok(handles.every((h) => h.id === "race-1"));
      const engine = engines[0]!;
      assert.equal((await engine.list({ workflow: "collector" })).runs.length, 1, "one run");
      // The inbox order: the driver's history in write order (`history()` orders by time).
      const reader = target.open();
      const sent = (await reader.history("race-1")).flatMap((item) =>
        item.source === "event" && item.event.type === "signal.received"
          ? [(JSON.parse(item.event.detail!) as { payload: unknown }).payload]
          : []
      );
      await reader.close();
      assert.deepEqual([...sent].sort((a, b) => Number(a) - Number(b)), [...Array(20).keys()]);
      // A repeat of one caller changes nothing.
      await engines[1]!.start(collector, [], {
        id: "race-1",
        signal: { name: "item", payload: 99, id: "caller-3" },
      });
      await using worker = engine.worker({ pollInterval: 20 });
      await worker.start();
      assert.deepEqual(await handles[0]!.result(), sent, "consumed in inbox order");
    } finally {
      for (const engine of engines) await engine.close();
      await target.cleanup();
    }
  });
}
