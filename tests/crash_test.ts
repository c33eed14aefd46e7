// Crash recovery with real processes (SPEC §7, issue "durable execution"):
// worker processes over one SQLite file and over PostgreSQL, killed with
// SIGKILL in the middle of a step, and fencing of a worker frozen with SIGSTOP.
import assert from "node:assert/strict";
import { Engine, WorkflowFailedError } from "@sluice/sluice";
import { chaos, expectedChaos, saga, slow } from "./_fixtures/chaos_workflows.ts";
import { kill, readExecutions, spawnWorker, waitUntil } from "./_fixtures/processes.ts";
import { makeTarget, targetKinds } from "./_fixtures/targets.ts";

for (const kind of targetKinds()) {
  Deno.test(`${kind}: a worker killed in the middle of a step; another finishes the run without redoing completed steps`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    await using engine = new Engine({ driver: target.open(), workflows: [slow] });
    const workerA = spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 });
    let workerB: ReturnType<typeof spawnWorker> | undefined;
    try {
      await workerA.ready;
      const run = await engine.start(slow, 20, { id: "crash-1" });
      await waitUntil(
        () => readExecutions(log).some((e) => e.step === "block"),
        20_000,
        "worker A to enter the blocking step",
      );
      await kill(workerA, "SIGKILL");
      workerB = spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 });
      await workerB.ready;
      assert.equal(await run.result(), (20 + 1) * 2 + 100);

      const executions = readExecutions(log);
      const byStep = (step: string) => executions.filter((e) => e.step === step);
      assert.equal(byStep("before").length, 1, "the completed step is not run again");
      assert.equal(byStep("before")[0]!.pid, workerA.pid);
      const block = byStep("block");
      assert.equal(block.length, 2, "the interrupted step runs again");
      assert.deepEqual(block.map((e) => e.pid), [workerA.pid, workerB.pid]);
      assert.equal(block[0]!.key, block[1]!.key, "with the same idempotency key");
      assert.equal(block[0]!.key, "crash-1:block");
      assert.deepEqual(
        block.map((e) => e.attempt),
        [1, 1],
        "an interrupted attempt is not counted",
      );
      assert.equal(byStep("after").length, 1);

      const completed = (await engine.history(run.id)).filter((e) => e.type === "step.completed");
      assert.deepEqual(completed.map((e) => e.step), ["before", "block", "after"]);
    } finally {
      await kill(workerA, "SIGKILL");
      if (workerB) await kill(workerB, "SIGKILL");
      await engine.close();
      await target.cleanup();
    }
  });

  Deno.test(`${kind}: a run claimed by the worker of the process that started it survives that process's kill`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    await using engine = new Engine({ driver: target.open(), workflows: [slow] });
    // The process starts the run itself: its worker claims it in the start's write.
    const workerA = spawnWorker({
      db: target.db,
      schema: target.schema,
      log,
      leaseMs: 1000,
      startSlow: "claimed-1",
    });
    let workerB: ReturnType<typeof spawnWorker> | undefined;
    try {
      await workerA.ready;
      await waitUntil(
        () => readExecutions(log).some((e) => e.step === "block"),
        20_000,
        "worker A to enter the blocking step",
      );
      await kill(workerA, "SIGKILL");
      workerB = spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 });
      await workerB.ready;
      assert.equal(await engine.result("claimed-1"), (20 + 1) * 2 + 100);
      const executions = readExecutions(log);
      const byStep = (step: string) => executions.filter((e) => e.step === step);
      assert.deepEqual(byStep("before").map((e) => e.pid), [workerA.pid]);
      assert.deepEqual(byStep("block").map((e) => e.pid), [workerA.pid, workerB.pid]);
      const types = (await engine.history("claimed-1")).map((e) => e.type);
      assert.deepEqual(types.slice(0, 2), ["run.created", "run.started"]);
      assert.equal(types.filter((t) => t === "run.started").length, 1);
      assert.equal(types.filter((t) => t === "run.recovered").length, 1);
    } finally {
      await kill(workerA, "SIGKILL");
      if (workerB) await kill(workerB, "SIGKILL");
      await engine.close();
      await target.cleanup();
    }
  });

  Deno.test(`${kind}: runs survive two kills in a row and complete with the right outputs`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    await using engine = new Engine({ driver: target.open(), workflows: [chaos] });
    const workers = [spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 })];
    try {
      await workers[0]!.ready;
      const runs = [];
      for (let i = 0; i < 20; i++) {
        const run = await engine.start(chaos, { n: i }, { id: `multi-${i}` });
        await engine.signal(run.id, "go", i % 5);
        runs.push(run);
      }
      for (let k = 0; k < 2; k++) {
        await waitUntil(
          () => readExecutions(log).filter((e) => e.pid === workers[k]!.pid).length > 15,
          20_000,
          `worker ${k} to make progress`,
        );
        await kill(workers[k]!, "SIGKILL");
        workers.push(spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 }));
        await workers[k + 1]!.ready;
      }
      for (let i = 0; i < runs.length; i++) {
        assert.equal(await runs[i]!.result(), expectedChaos(i, i % 5));
      }
      const killed = new Set(workers.slice(0, 2).map((w) => w.pid));
      const seen = new Map<string, number[]>();
      for (const e of readExecutions(log)) {
        const key = `${e.run}/${e.step}`;
        seen.set(key, [...(seen.get(key) ?? []), e.pid]);
      }
      for (const [key, pids] of seen) {
        for (const pid of pids.slice(0, -1)) {
          assert.ok(
            killed.has(pid),
            `${key} ran again after a run in process ${pid}, which was not killed`,
          );
        }
      }
      for (const run of runs) {
        const keys = (await engine.history(run.id)).filter((e) => e.type === "step.completed")
          .map((e) => e.step);
        assert.equal(new Set(keys).size, keys.length, `${run.id}: each step result recorded once`);
      }
    } finally {
      for (const worker of workers) await kill(worker, "SIGKILL");
      await engine.close();
      await target.cleanup();
    }
  });

  Deno.test(`${kind}: a worker frozen with SIGSTOP past its lease writes nothing once resumed`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    await using engine = new Engine({ driver: target.open(), workflows: [slow] });
    const frozen = spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 });
    let rescuer: ReturnType<typeof spawnWorker> | undefined;
    try {
      await frozen.ready;
      const run = await engine.start(slow, 5, { id: "fenced-1" });
      await waitUntil(
        () => readExecutions(log).some((e) => e.step === "block" && e.pid === frozen.pid),
        20_000,
        "the first worker to enter the blocking step",
      );
      await kill(frozen, "SIGSTOP");
      await new Promise((resolve) => setTimeout(resolve, 1500)); // past the 1s lease
      rescuer = spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 });
      await rescuer.ready;
      assert.equal(await run.result(), (5 + 1) * 2 + 100);
      const before = JSON.stringify([await engine.get(run.id), await engine.history(run.id)]);

      await kill(frozen, "SIGCONT");
      // The frozen worker's step finishes (~1.5s) and its heartbeat fires: give it time to try.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const after = JSON.stringify([await engine.get(run.id), await engine.history(run.id)]);
      assert.equal(after, before, "the resumed worker wrote nothing");
      const completed = (await engine.history(run.id)).filter((e) => e.type === "step.completed");
      assert.deepEqual(completed.map((e) => e.step), ["before", "block", "after"]);
      const block = readExecutions(log).filter((e) => e.step === "block");
      assert.deepEqual(block.map((e) => e.pid), [frozen.pid, rescuer.pid]);
    } finally {
      await kill(frozen, "SIGCONT");
      await kill(frozen, "SIGKILL");
      if (rescuer) await kill(rescuer, "SIGKILL");
      await engine.close();
      await target.cleanup();
    }
  });

  Deno.test(`${kind}: a worker killed in the middle of compensating; after takeover no compensation runs twice and none is skipped`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    await using engine = new Engine({ driver: target.open(), workflows: [saga] });
    const workerA = spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 });
    let workerB: ReturnType<typeof spawnWorker> | undefined;
    try {
      await workerA.ready;
      const run = await engine.start(saga, 1, { id: "saga-1" });
      await waitUntil(
        () => readExecutions(log).some((e) => e.step === "b/compensate"),
        20_000,
        "worker A to start compensating b",
      );
      await kill(workerA, "SIGKILL");
      workerB = spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 });
      await workerB.ready;
      const error = await run.result().catch((e) => e);
      assert.ok(error instanceof WorkflowFailedError, String(error));
      assert.equal((error.cause as Error).message, "the last step fails");

      const executions = readExecutions(log);
      const steps = executions.map((e) => e.step);
      assert.deepEqual(
        steps.filter((s) => !s.endsWith("/compensate")),
        ["a", "b", "c", "fail"],
        "no forward step runs again after the takeover, the failed one included",
      );
      const undo = executions.filter((e) => e.step.endsWith("/compensate"));
      assert.deepEqual(
        undo.map((e) => e.step),
        [
          "c/compensate",
          "b/compensate",
          "b/compensate",
          "a/compensate",
        ],
        "the finished compensation of c is not repeated; b's interrupted one runs again; a's runs",
      );
      assert.deepEqual(undo.map((e) => e.pid), [
        workerA.pid,
        workerA.pid,
        workerB.pid,
        workerB.pid,
      ]);
      assert.equal(undo[1]!.key, undo[2]!.key, "with the same idempotency key");
      assert.deepEqual(undo.map((e) => e.attempt), [1, 1, 1, 1]);
      const record = await engine.get(run.id);
      assert.equal(record.status, "failed");
      assert.equal(record.compensated, true);
      const types = (await engine.history(run.id)).map((e) => e.type);
      assert.equal(types.filter((t) => t === "compensation.started").length, 1);
      assert.equal(types.filter((t) => t === "compensation.completed").length, 1);
      assert.equal(types.at(-1), "run.failed");
    } finally {
      await kill(workerA, "SIGKILL");
      if (workerB) await kill(workerB, "SIGKILL");
      await engine.close();
      await target.cleanup();
    }
  });
}
