// Engine + MemoryDriver + workers: idempotent starts, versions, plan mismatch, retry, purge,
// graceful stop, close.
import {
  DuplicateRunError,
  Engine,
  flow,
  InvalidStateError,
  ManualClock,
  MemoryDriver,
  PlanMismatchError,
  RunNotFoundError,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import assert from "node:assert/strict";
import { deferred } from "./_fixtures/deferred.ts";

const T0 = Date.UTC(2030, 0, 1);

Deno.test("an engine with a worker runs a workflow to completion", async () => {
  const wf = workflow<number>("basic").step("a", (n) => n + 1).sleep("s", 0).step(
    "b",
    (n) => n * 2,
  );
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
  await using worker = engine.worker();
  await worker.start();
  const handle = await engine.start(wf, 1);
  assert.equal(await handle.result(), 4);
  assert.equal(await engine.result(handle.id), 4);
  assert.equal((await engine.get(handle.id)).status, "completed");
});

Deno.test("a run started before any worker waits as pending, then runs when a worker starts", async () => {
  const wf = workflow<number>("later-worker").step("a", (n) => n + 1);
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
  const handle = await engine.start(wf, 1);
  assert.equal(await handle.status(), "pending");
  await using worker = engine.worker();
  await worker.start();
  assert.equal(await handle.result(), 2);
});

Deno.test("a run started beside a worker with a free slot is running once start resolves; with every slot busy it waits as pending", async () => {
  const gate = deferred();
  const started: number[] = [];
  const wf = workflow<number>("claimed-at-start").step("a", async (n) => {
    started.push(n);
    await gate.promise;
    return n;
  });
  await using engine = new Engine({
    driver: new MemoryDriver(),
    workflows: [wf],
    observers: [{ onRunStarted: (e) => started.push(-Number(e.runId.slice(1))) }],
  });
  await using worker = engine.worker({ concurrency: 1 });
  await worker.start();
  const first = await engine.start(wf, 1, { id: "r1" });
  // Claimed in the start's own write: the worker holds it before start resolves.
  assert.equal(await first.status(), "running");
  const second = await engine.start(wf, 2, { id: "r2" });
  assert.equal(await second.status(), "pending");
  gate.resolve();
  assert.deepEqual([await first.result(), await second.result()], [1, 2]);
  assert.deepEqual(started, [-1, 1, -2, 2], "each run starts once, observed before its step");
  const types = (await engine.history("r1")).map((e) => e.type);
  assert.deepEqual(types.slice(0, 2), ["run.created", "run.started"]);
});

Deno.test("start with an existing id returns the existing run (idempotent start)", async () => {
  let runs = 0;
  const wf = workflow<number>("idem").step("a", (n) => {
    runs++;
    return n;
  });
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
  const first = await engine.start(wf, 1, { id: "order-1" });
  const second = await engine.start(wf, 2, { id: "order-1" });
  assert.equal(first.id, second.id);
  await using worker = engine.worker();
  await worker.start();
  assert.equal(await second.result(), 1);
  assert.equal(await engine.start(wf, 3, { id: "order-1" }).then((h) => h.result()), 1);
  assert.equal(runs, 1);
});

Deno.test("the same id for another workflow is DuplicateRunError; for another version it is the existing run", async () => {
  const v1 = workflow<number>("dup", { version: "1" }).step("a", (n) => n);
  const v2 = workflow<number>("dup", { version: "2" }).step("a", (n) => n).step("b", (n) => n);
  const other = workflow<number>("dup-other").step("a", (n) => n);
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [v1, v2, other] });
  await engine.start(v1, 1, { id: "r" });
  await assert.rejects(engine.start(other, 1, { id: "r" }), DuplicateRunError);
  const again = await engine.start(v2, 1, { id: "r" });
  assert.equal(again.id, "r");
  assert.equal((await engine.get("r")).version, "1");
});

Deno.test("two versions of a workflow run side by side, each run on its own version", async () => {
  const clock = new ManualClock(T0);
  const v1 = workflow<string>("greet", { version: "1" })
    .step("hello", (n) => `hello ${n}`)
    .sleep("pause", "1h")
    .step("finish", (s) => `${s} (v1)`);
  const v2 = workflow<string>("greet", { version: "2" })
    .step("hello", (n) => `hi ${n}`)
    .sleep("pause", "1h")
    .step("polish", (s) => s.toUpperCase())
    .step("finish", (s) => `${s} (v2)`);
  assert.notEqual(v1.planHash, v2.planHash);
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [v1, v2], clock });
  await using worker = engine.worker();
  await worker.start();
  const old = await engine.start(v1, "ada");
  const fresh = await engine.start(v2, "bob");
  const byName = await engine.start<string, string>("greet", "cy");
  await clock.advance("1h");
  assert.equal(await old.result(), "hello ada (v1)");
  assert.equal(await fresh.result(), "HI BOB (v2)");
  assert.equal(await byName.result(), "HI CY (v2)");
  assert.equal((await engine.get(old.id)).version, "1");
  assert.equal((await engine.get(fresh.id)).planHash, v2.planHash);
});

Deno.test("registering one name and version twice with different plans is a TypeError", () => {
  const a = workflow<number>("clash").step("a", (n) => n);
  const b = workflow<number>("clash").step("b", (n) => n);
  assert.throws(
    () => new Engine({ driver: new MemoryDriver(), workflows: [a, b] }),
    /version '1' twice with different plans/,
  );
});

Deno.test("a run whose plan hash is not registered fails with PlanMismatchError and runs no step", async () => {
  const clock = new ManualClock(T0);
  const driver = new MemoryDriver();
  let oldSteps = 0;
  let newSteps = 0;
  const before = workflow<number>("billing")
    .step("charge", (n) => {
      oldSteps++;
      return n;
    })
    .sleep("wait", "1h")
    .step("receipt", (n) => {
      oldSteps++;
      return n;
    });
  const changed = workflow<number>("billing")
    .step("charge", (n) => {
      newSteps++;
      return n;
    })
    .sleep("wait", "1h")
    .step("audit", (n) => {
      newSteps++;
      return n;
    })
    .step("receipt", (n) => {
      newSteps++;
      return n;
    });
  const a = new Engine({ driver, workflows: [before], clock });
  const workerA = a.worker();
  await workerA.start();
  const handle = await a.start(before, 5, { id: "bill-1" });
  await clock.advance(0);
  assert.equal(await handle.status(), "sleeping");
  assert.equal(oldSteps, 1);
  await workerA.stop();

  const b = new Engine({ driver, workflows: [changed], clock });
  try {
    const workerB = b.worker();
    await workerB.start();
    await clock.advance("1h");
    const error = await b.result("bill-1").catch((e) => e);
    assert.ok(error instanceof WorkflowFailedError, String(error));
    assert.ok(error.cause instanceof PlanMismatchError, String(error.cause));
    assert.equal((error.cause as PlanMismatchError).code, "PLAN_MISMATCH");
    assert.match((error.cause as Error).message, /'bill-1'/);
    assert.match((error.cause as Error).message, new RegExp(before.planHash));
    assert.equal(newSteps, 0);
    assert.equal(oldSteps, 1);

    // Registering the run's version alongside the new one and retrying completes it.
    const restored = workflow<number>("billing", { version: "1-old" })
      .step("charge", (n) => {
        oldSteps++;
        return n;
      })
      .sleep("wait", "1h")
      .step("receipt", (n) => {
        oldSteps++;
        return n * 10;
      });
    b.register(restored);
    await b.retry("bill-1");
    assert.equal(await b.result("bill-1"), 50);
    assert.equal(oldSteps, 2, "the completed charge step is not run again");
    assert.equal(newSteps, 0);
    await workerB.stop();
  } finally {
    await b.close();
    await a.close().catch(() => {});
  }
});

Deno.test("retry(runId) resumes a failed run from the failed step", async () => {
  const calls: string[] = [];
  let broken = true;
  const wf = workflow<number>("resumable")
    .step("a", (n) => {
      calls.push("a");
      return n + 1;
    })
    .step("b", (n) => {
      calls.push("b");
      if (broken) throw new Error("b is broken");
      return n * 2;
    })
    .step("c", (n) => {
      calls.push("c");
      return n + 100;
    });
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
  await using worker = engine.worker();
  await worker.start();
  const handle = await engine.start(wf, 1);
  await assert.rejects(handle.result(), WorkflowFailedError);
  assert.deepEqual(calls, ["a", "b"]);
  broken = false;
  await engine.retry(handle.id);
  assert.equal(await handle.result(), 104);
  assert.deepEqual(calls, ["a", "b", "b", "c"]);
  const history = await engine.history(handle.id);
  assert.ok(history.some((e) => e.type === "run.retried"));
  assert.equal(history.at(-1)!.type, "run.completed");
});

Deno.test("retry(runId) does not re-run parallel branches that completed", async () => {
  const calls: string[] = [];
  let broken = true;
  const wf = workflow<number>("resume-parallel")
    .parallel("fan", [
      (n: number, ctx) => {
        calls.push(ctx.step);
        return n;
      },
      (n: number, ctx) => {
        calls.push(ctx.step);
        if (broken) throw new Error("branch broken");
        return n + 1;
      },
      (n: number, ctx) => {
        calls.push(ctx.step);
        return n + 2;
      },
    ], { concurrency: 1 })
    .step("after", (v, ctx) => {
      calls.push(ctx.step);
      return v;
    });
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
  await using worker = engine.worker();
  await worker.start();
  const handle = await engine.start(wf, 1);
  await assert.rejects(handle.result(), /branch broken/);
  assert.deepEqual(calls, ["fan/0", "fan/1"]);
  broken = false;
  await engine.retry(handle.id);
  assert.deepEqual(await handle.result(), [1, 2, 3]);
  assert.deepEqual(calls, ["fan/0", "fan/1", "fan/1", "fan/2", "after"]);
});

Deno.test("a loop iteration that failed resumes there after retry(runId)", async () => {
  const calls: string[] = [];
  let broken = true;
  const wf = workflow<number>("resume-loop").loop("l", 4, (n: number, ctx) => {
    calls.push(ctx.step);
    if (broken && ctx.step === "l#2") throw new Error("iteration broken");
    return n + 1;
  });
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
  await using worker = engine.worker();
  await worker.start();
  const handle = await engine.start(wf, 0);
  await assert.rejects(handle.result(), /iteration broken/);
  broken = false;
  await engine.retry(handle.id);
  assert.equal(await handle.result(), 4);
  assert.deepEqual(calls, ["l#0", "l#1", "l#2", "l#2", "l#3"]);
});

Deno.test("retry(runId) of an unfinished, completed or unknown run is a typed error", async () => {
  const wf = workflow<number>("no-retry").waitForSignal("w", "s");
  const done = workflow<number>("done").step("a", (n) => n);
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf, done] });
  await using worker = engine.worker();
  await worker.start();
  const waiting = await engine.start(wf, 1);
  await assert.rejects(engine.retry(waiting.id), InvalidStateError);
  const completed = await engine.start(done, 1);
  await completed.result();
  await assert.rejects(engine.retry(completed.id), InvalidStateError);
  await assert.rejects(engine.retry("nobody"), RunNotFoundError);
});

Deno.test("the attempt count survives a worker restart", async () => {
  const clock = new ManualClock(T0);
  const driver = new MemoryDriver();
  const attempts: number[] = [];
  const wf = workflow<number>("durable-attempts").step("flaky", (n, ctx) => {
    attempts.push(ctx.attempt);
    if (ctx.attempt < 3) throw new Error("down");
    return n;
  }, { retry: { maxAttempts: 5, initialDelay: "1m" } });
  await using engine = new Engine({ driver, workflows: [wf], clock });
  const first = engine.worker();
  await first.start();
  const handle = await engine.start(wf, 1);
  await clock.advance(0);
  await first.stop();
  assert.deepEqual(attempts, [1]);
  await clock.advance("1m");
  assert.deepEqual(attempts, [1]);
  const second = engine.worker();
  await second.start();
  await clock.advance(0);
  assert.deepEqual(attempts, [1, 2]);
  await clock.advance("2m");
  assert.equal(await handle.result(), 1);
  assert.deepEqual(attempts, [1, 2, 3]);
  await second.stop();
});

Deno.test("purge deletes finished runs last updated before a time and keeps the rest", async () => {
  const clock = new ManualClock(T0);
  const quick = workflow<number>("quick").step("a", (n) => n);
  const slow = workflow<number>("slow").waitForSignal("w", "s");
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [quick, slow], clock });
  await using worker = engine.worker();
  await worker.start();
  const old = await engine.start(quick, 1, { id: "old" });
  await old.result();
  const waiting = await engine.start(slow, 1, { id: "waiting" });
  await clock.advance("1d");
  const recent = await engine.start(quick, 1, { id: "recent" });
  await recent.result();
  assert.equal(await engine.purge({ finishedBefore: new Date(T0 + 3_600_000) }), 1);
  await assert.rejects(engine.get("old"), RunNotFoundError);
  await assert.rejects(engine.history("old"), RunNotFoundError);
  assert.equal((await engine.get("recent")).status, "completed");
  assert.equal((await engine.get(waiting.id)).status, "waiting");
  assert.equal(await engine.purge({ finishedBefore: T0 + 2 * 86_400_000 }), 1);
  assert.deepEqual((await engine.list()).runs.map((r) => r.id), ["waiting"]);
  await assert.rejects(engine.purge({ finishedBefore: "yesterday" as never }), TypeError);
});

Deno.test("worker.stop() lets the step in flight finish and hands the run to another worker", async () => {
  const driver = new MemoryDriver();
  const inFlight = deferred();
  const release = deferred();
  const calls: string[] = [];
  const wf = workflow<number>("handover")
    .step("a", async (n, ctx) => {
      calls.push(`a by ${ctx.deps.worker}`);
      inFlight.resolve();
      await release.promise;
      return n + 1;
    })
    .step("b", (n, ctx) => {
      calls.push(`b by ${ctx.deps.worker}`);
      return n * 10;
    });
  await using first = new Engine({ driver, workflows: [wf], deps: { worker: "one" } });
  const second = new Engine({ driver, workflows: [wf], deps: { worker: "two" } });
  const workerOne = first.worker();
  await workerOne.start();
  const handle = await first.start(wf, 1);
  await inFlight.promise;
  let stopped = false;
  const stopping = workerOne.stop().then(() => (stopped = true));
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(stopped, false, "stop() waits for the step in flight");
  release.resolve();
  await stopping;
  assert.deepEqual(calls, ["a by one"]);
  assert.equal(await handle.status(), "running");
  const workerTwo = second.worker();
  await workerTwo.start();
  assert.equal(await handle.result(), 20);
  assert.deepEqual(calls, ["a by one", "b by two"]);
  await workerTwo.stop();
});

Deno.test("worker concurrency caps the runs executed at once", async () => {
  let now = 0;
  let max = 0;
  const wf = workflow<number>("capped-runs").step("work", async (n) => {
    now++;
    max = Math.max(max, now);
    await new Promise((resolve) => setTimeout(resolve, 2));
    now--;
    return n;
  });
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
  await using worker = engine.worker({ concurrency: 2 });
  await worker.start();
  const handles = await Promise.all([1, 2, 3, 4, 5].map((n) => engine.start(wf, n)));
  assert.deepEqual(await Promise.all(handles.map((h) => h.result())), [1, 2, 3, 4, 5]);
  assert.equal(max, 2);
});

Deno.test("worker options are validated", async () => {
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [] });
  assert.throws(() => engine.worker({ concurrency: 0 }), RangeError);
  assert.throws(() => engine.worker({ leaseMs: 10 }), RangeError);
  assert.throws(() => engine.worker({ pollInterval: "1ms" }), RangeError);
  assert.throws(() => engine.worker({ id: "" }), TypeError);
});

Deno.test("engine.close() stops workers and closes the driver", async () => {
  const driver = new MemoryDriver();
  const wf = workflow<number>("closing").waitForSignal("w", "s");
  const engine = new Engine({ driver, workflows: [wf] });
  const worker = engine.worker();
  await worker.start();
  const handle = await engine.start(wf, 1);
  await engine.close();
  assert.equal(worker.running, false);
  await assert.rejects(driver.getRun(handle.id), InvalidStateError);
  await assert.rejects(engine.start(wf, 1), InvalidStateError);
  await assert.rejects(engine.get(handle.id), InvalidStateError);
  await assert.rejects(engine.signal(handle.id, "s"), InvalidStateError);
  assert.throws(() => engine.worker(), InvalidStateError);
  await engine.close();
});

Deno.test("an Engine needs a driver", () => {
  assert.throws(() => new Engine({} as never), TypeError);
  assert.throws(() => new Engine(undefined as never), TypeError);
});

Deno.test("engine signals, cancels, lists and reads history like the LocalRunner", async () => {
  const wf = workflow<number>("engine-ops")
    .waitForSignal<number>("w", "go")
    .loop("l", 2, flow<number>().step("inc", (n) => n + 1));
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
  await using worker = engine.worker();
  await worker.start();
  const a = await engine.start(wf, 0, { labels: { k: "a" } });
  const b = await engine.start(wf, 0, { labels: { k: "b" } });
  await engine.signal(a.id, "go", 40);
  await engine.cancel(b.id, "not needed");
  assert.equal(await a.result(), 42);
  assert.deepEqual((await engine.list({ labels: { k: "b" } })).runs.map((r) => r.status), [
    "cancelled",
  ]);
  const steps = (await engine.history(a.id))
    .filter((e) => e.type === "step.completed")
    .map((e) => e.step);
  assert.deepEqual(steps, ["w", "l#0/inc", "l#1/inc"]);
  assert.equal(engine.handle(a.id).id, a.id);
  assert.equal(await engine.handle(a.id).result(), 42);
});
