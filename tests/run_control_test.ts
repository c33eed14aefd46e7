// Run control (SPEC §8.3) through an Engine and its worker on every driver with real storage:
// pause lets the step in flight finish and be checkpointed and begins no new step until resume;
// fork reuses the results before `from` without running their bodies again; retry resumes a
// cancelled run.
import assert from "node:assert/strict";
import { CancelledError, Engine, flow, workflow } from "@sluice/sluice";
import { SqliteDriver } from "@sluice/sluice/sqlite";
import { waitForStatus } from "@sluice/sluice/testing";
import { driverFactories } from "./_fixtures/drivers.ts";
import { paced, PACED_STEPS, readFlowLog } from "./_fixtures/flow_workflows.ts";
import { kill, spawnWorker, waitUntil } from "./_fixtures/processes.ts";
import { makeTarget, targetKinds } from "./_fixtures/targets.ts";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => resolve = r);
  return { promise, resolve };
}

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: pause, resume, fork and retry of a cancelled run through a worker`, async () => {
    const gate = deferred();
    const inFlight = deferred();
    const bodies = { slow: 0, next: 0, last: 0 };
    const wf = workflow<number>("control")
      .step("slow", async (n) => {
        bodies.slow++;
        inFlight.resolve();
        await gate.promise;
        return n + 1;
      })
      .step("next", (n) => {
        bodies.next++;
        return n * 10;
      })
      .waitForSignal<number>("extra", "extra")
      .step("last", (extra, ctx) => {
        bodies.last++;
        return extra + ctx.input;
      });
    await using engine = new Engine({ driver: await create(), workflows: [wf] });
    await using worker = engine.worker({ pollInterval: 50 });
    await worker.start();

    const run = await engine.start(wf, 1, { id: "control-1" });
    await inFlight.promise;
    await engine.pause(run.id);
    assert.equal((await engine.get(run.id)).status, "paused");
    gate.resolve();
    for (let i = 0;; i++) {
      const history = await engine.history(run.id);
      if (history.some((e) => e.type === "step.completed" && e.step === "slow")) break;
      assert.ok(i < 400, "the step in flight is checkpointed");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal((await engine.get(run.id)).status, "paused");
    assert.deepEqual(bodies, { slow: 1, next: 0, last: 0 }, "no new step began");
    await engine.signal(run.id, "extra", 5); // waits in the inbox
    await engine.resume(run.id);
    assert.equal(await run.result(), 6);
    assert.deepEqual(bodies, { slow: 1, next: 1, last: 1 });

    // The signal's recorded value is reused too: no wait.
    const fork = await engine.fork<number>(run.id, { from: "last", input: 100, id: "control-2" });
    assert.equal(await fork.result(), 105);
    assert.deepEqual(bodies, { slow: 1, next: 1, last: 2 }, "only 'last' ran again");

    const again = await engine.fork<number>(run.id, { from: "extra", id: "control-3" });
    await waitForStatus(engine, again.id, "waiting");
    await engine.cancel(again.id, "by mistake");
    await assert.rejects(again.result(), CancelledError);
    await engine.retry(again.id);
    await waitForStatus(engine, again.id, "waiting");
    await engine.signal(again.id, "extra", 1);
    assert.equal(await again.result(), 2);
    assert.deepEqual(bodies, { slow: 1, next: 1, last: 3 });
  });
}

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: a paused run keeps its concurrency slot while its step in flight finishes`, async () => {
    const gate = deferred();
    const aStarted = deferred();
    const started: string[] = [];
    const wf = workflow<string>("one-at-a-time", { concurrency: 1 })
      .step("work", async (id) => {
        started.push(id);
        if (id === "a") {
          aStarted.resolve();
          await gate.promise;
        }
        return id;
      })
      .step("tail", (id) => id.toUpperCase());
    await using engine = new Engine({ driver: await create(), workflows: [wf] });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    try {
      await engine.start(wf, "a", { id: "a" });
      await aStarted.promise;
      await engine.pause("a");
      const b = await engine.start(wf, "b", { id: "b" });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(started, ["a"], "b waits: a's step still executes");
      gate.resolve();
      assert.equal(await b.result(), "B", "b runs once a's step is checkpointed and handed back");
      assert.equal((await engine.get("a")).status, "paused");
      await engine.resume("a");
      assert.equal(await engine.result("a"), "A");
      assert.deepEqual(started, ["a", "b"]);
    } finally {
      gate.resolve();
    }
  });

  Deno.test(`${name}: workers() lists live workers; a run no live worker serves is stalled`, async () => {
    const wf = workflow<number>("served").step("n", (n) => n);
    const driver = await create();
    await using engine = new Engine({ driver, workflows: [wf] });
    // No worker anywhere: the run is flagged, in get and in list.
    const run = await engine.start(wf, 1, { id: "served-1", startAt: Date.now() + 3_600_000 });
    assert.equal((await engine.get(run.id)).stalled, "no-worker");
    assert.equal((await engine.list()).runs[0]?.stalled, "no-worker");
    assert.deepEqual(await engine.workers(), []);
    const worker = engine.worker({ id: "w-here", heartbeatInterval: "1s" });
    await worker.start();
    const [live] = await engine.workers();
    assert.equal(live?.id, "w-here");
    assert.deepEqual(live?.serves, [{ workflow: "served", version: "1", planHash: wf.planHash }]);
    assert.equal(typeof live?.pid, "number");
    assert.equal((await engine.get(run.id)).stalled, undefined);
    await worker.stop();
    assert.deepEqual(await engine.workers(), [], "a stopped worker removes its row");
    assert.equal((await engine.get(run.id)).stalled, "no-worker");
    // A worker elsewhere: live while seen within three heartbeat intervals.
    const elsewhere = (lastSeenAt: number) => ({
      id: "w-elsewhere",
      host: "other",
      pid: 1,
      startedAt: lastSeenAt,
      lastSeenAt,
      heartbeatMs: 1_000,
      serves: [{ workflow: "served", version: "1", planHash: wf.planHash }],
    });
    await driver.recordWorker(elsewhere(Date.now() - 2_000), 0);
    assert.equal((await engine.get(run.id)).stalled, undefined);
    assert.deepEqual((await engine.workers()).map((w) => w.id), ["w-elsewhere"]);
    await driver.recordWorker(elsewhere(Date.now() - 4_000), 0);
    assert.equal((await engine.get(run.id)).stalled, "no-worker");
    assert.deepEqual(await engine.workers(), []);
    // Serving another version of the workflow does not count.
    await driver.recordWorker({
      ...elsewhere(Date.now()),
      serves: [{ workflow: "served", version: "2", planHash: "other" }],
    }, 0);
    assert.equal((await engine.get(run.id)).stalled, "no-worker");
    await engine.cancel(run.id);
    assert.equal((await engine.get(run.id)).stalled, undefined, "a finished run is never stalled");
  });
}

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: retention purges finished runs older than their status's limit`, async () => {
    const wf = workflow<number>("kept").step("n", (n) => {
      if (n < 0) throw new Error("negative");
      return n;
    });
    await using engine = new Engine({
      driver: await create(),
      workflows: [wf],
      retention: { completed: "1s" },
    });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    for (const n of [1, 2, 3]) assert.equal(await (await engine.start(wf, n)).result(), n);
    const failed = await engine.start(wf, -1, { id: "kept-failed" });
    await assert.rejects(failed.result());
    for (let i = 0; (await engine.list()).runs.length > 1; i++) {
      assert.ok(i < 300, "completed runs are purged after a second");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual((await engine.list()).runs.map((r) => r.id), ["kept-failed"]);
  });
}

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: ctx.setLabels merges labels onto the run with the step's checkpoint`, async () => {
    const wf = workflow<number>("labelled")
      .step("charge", (n, ctx) => {
        ctx.setLabels({ stage: "charged" });
        return n;
      })
      .step("ship", (n, ctx) => {
        ctx.setLabels({ stage: "shipped", carrier: "ups" });
        return n;
      })
      .step("bad", (n, ctx) => {
        if (n < 0) ctx.setLabels({ ok: "x", count: 5 as unknown as string });
        return n;
      });
    await using engine = new Engine({ driver: await create(), workflows: [wf] });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const run = await engine.start(wf, 1, { labels: { team: "a" } });
    assert.equal(await run.result(), 1);
    assert.deepEqual((await engine.get(run.id)).labels, {
      team: "a",
      stage: "shipped",
      carrier: "ups",
    });
    const found = await engine.list({ labels: { carrier: "ups" } });
    assert.deepEqual(found.runs.map((r) => r.id), [run.id]);
    const bad = await engine.start(wf, -1, { labels: { team: "b" } });
    await assert.rejects(bad.result(), /count/);
    assert.deepEqual((await engine.get(bad.id)).labels, {
      team: "b",
      stage: "shipped",
      carrier: "ups",
    });
  });
}

// A pause from another process: the worker process learns of it at its next
// checkpoint write (the write finds the run paused, in the same statement or
// transaction), so no step begins after pause() returned, except one whose
// previous checkpoint committed before the pause did and that was about to
// begin. Every step's entry is appended to one log file by the worker.
for (const kind of targetKinds()) {
  Deno.test(`${kind}: a pause from another process stops the worker's run at the next step boundary`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    const marks = () => readFlowLog(`${log}.flow`).filter((m) => m.run === "paced-1");
    const entries = () => marks().filter((m) => m.phase === "in");
    await using engine = new Engine({ driver: target.open(), workflows: [paced] });
    // A lease of 30 s: the worker's heartbeat (every 10 s) cannot be what stops it.
    const worker = spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 30_000 });
    try {
      await worker.ready;
      await engine.start(paced, 0, { id: "paced-1" });
      await waitUntil(() => entries().length >= 5, 60_000, "the run to take a few steps", 5);
      await engine.pause("paced-1");
      const atPause = entries().length;
      // The step in flight finishes and is checkpointed; then nothing moves.
      await waitUntil(
        () => marks().filter((m) => m.phase === "out").length === entries().length,
        30_000,
        "the step in flight to finish",
        5,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // 60+ steps' worth
      const begun = entries().length;
      assert.ok(
        begun - atPause <= 1,
        `${
          begun - atPause
        } steps began after pause() returned (at most the one already on its way)`,
      );
      assert.ok(begun < PACED_STEPS, "the run did not go on to the end");
      assert.equal((await engine.get("paced-1")).status, "paused");
      const checkpointed = (await engine.history("paced-1"))
        .filter((e) => e.type === "step.completed" && e.step?.endsWith("/beat")).length;
      assert.equal(checkpointed, begun, "every step that began was checkpointed");

      await engine.resume("paced-1");
      await waitForStatus(engine, "paced-1", "completed", { timeoutMs: 60_000 });
      assert.equal(await engine.result("paced-1"), PACED_STEPS);
      const all = entries();
      assert.equal(all.length, PACED_STEPS, "no step ran twice");
      assert.equal(new Set(all.map((m) => m.step)).size, PACED_STEPS);
    } finally {
      await kill(worker, "SIGKILL");
      await engine.close();
      await target.cleanup();
    }
  });
}

// A branch that waited in-process (a sleep beside a running branch) makes no
// write before its next step, so it asks storage on waking: a pause made
// through another connection, which this process hears of by no notice,
// stops it before that step.
Deno.test("sqlite: a branch waking from an in-process sleep begins no step after a pause made through another connection", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sluice-pause-" });
  const path = `${dir}/runs.db`;
  const gate = deferred();
  const slowStarted = deferred();
  let after = 0;
  const wf = workflow<number>("paused-branches").parallel("both", [
    flow<number>().step("slow", async (n) => {
      slowStarted.resolve();
      await gate.promise;
      return n;
    }),
    flow<number>().sleep("nap", "300ms").step("after", (n) => {
      after++;
      return n + 1;
    }),
  ]);
  try {
    await using engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [wf] });
    await using worker = engine.worker({ pollInterval: 20, leaseMs: 30_000 });
    await worker.start();
    await using other = new Engine({ driver: new SqliteDriver({ path }), workflows: [wf] });
    const run = await engine.start(wf, 1, { id: "branches-1" });
    try {
      await slowStarted.promise;
      await other.pause(run.id);
      await new Promise((resolve) => setTimeout(resolve, 800)); // the nap ends at 300 ms
      assert.equal(after, 0, "the step after the nap did not begin");
      gate.resolve();
      await waitUntil(
        async () => (await engine.history(run.id)).some((e) => e.step === "both/0/slow"),
        10_000,
        "the step in flight to be checkpointed",
      );
      assert.equal((await other.get(run.id)).status, "paused");
      await other.resume(run.id);
      assert.deepEqual(await run.result(), [1, 2]);
      assert.equal(after, 1);
    } finally {
      gate.resolve(); // a failed assertion must not leave the step (and the worker's stop) hanging
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
