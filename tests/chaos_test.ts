// Chaos under load (SPEC §7): hundreds of runs of about ten steps with a sleep,
// a parallel fan-out, a signal and a loop; three worker processes; a random
// worker killed with SIGKILL every few hundred milliseconds and replaced, until
// every run has finished. Checked from storage and from the log of step side
// effects. Flow control is on: the workflow has a concurrency limit per key
// and runs start with priorities. `SLUICE_SOAK=1` runs a longer variant.
import assert from "node:assert/strict";
import { Engine } from "@sluice/sluice";
import { chaos, expectedChaos } from "./_fixtures/chaos_workflows.ts";
import {
  type Execution,
  kill,
  readExecutions,
  spawnWorker,
  type WorkerProcess,
} from "./_fixtures/processes.ts";
import { makeTarget, targetKinds } from "./_fixtures/targets.ts";

const SOAK = Deno.env.get("SLUICE_SOAK") === "1";
const RUNS = SOAK ? 3000 : 300;
const WORKERS = 3;
const DEADLINE_MS = SOAK ? 900_000 : 180_000;
const STEPS = ["a", "b", "c", "fan/x", "fan/y", "d", "gate", "e", "rep#0", "rep#1", "f"];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of targetKinds()) {
  Deno.test(`${kind}: ${RUNS} runs finish correctly while workers are killed at random`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    await using engine = new Engine({ driver: target.open(), workflows: [chaos] });
    const spawn = () =>
      spawnWorker({
        db: target.db,
        schema: target.schema,
        log,
        leaseMs: 3000,
        concurrency: 8,
        // The kills here are random, not a poison step: on a loaded machine a run
        // can lose several activations in a row before their first write, which
        // the recovery cap (default 5, tested in recovery_test.ts) would end.
        maxRecoveries: 1000,
        pollMs: 100,
      });
    const workers: WorkerProcess[] = Array.from({ length: WORKERS }, spawn);
    const all = [...workers];
    const kills: { pid: number; at: number }[] = [];
    const started = Date.now();
    try {
      await Promise.all(workers.map((w) => w.ready));
      const payload = (i: number) => (i * 7) % 11;
      for (let i = 0; i < RUNS; i++) {
        await engine.start(chaos, { n: i }, { id: `chaos-${i}`, priority: i % 3 });
        // Half the signals arrive before the run reaches its wait (the inbox keeps them).
        if (i % 2 === 0) await engine.signal(`chaos-${i}`, "go", payload(i));
      }
      let done = false;
      const signaller = (async () => {
        for (let i = 1; i < RUNS; i += 2) {
          await sleep(Math.random() * 20);
          await engine.signal(`chaos-${i}`, "go", payload(i));
        }
      })();
      const killer = (async () => {
        while (!done) {
          await sleep(200 + Math.random() * 400);
          if (done) break;
          const index = Math.floor(Math.random() * workers.length);
          const victim = workers[index]!;
          kills.push({ pid: victim.pid, at: Date.now() });
          await kill(victim, "SIGKILL");
          const replacement = spawn();
          workers[index] = replacement;
          all.push(replacement);
        }
      })();
      await signaller;
      for (;;) {
        const open = await engine.list({
          status: ["pending", "running", "sleeping", "waiting"],
          limit: 1,
        });
        if (open.runs.length === 0) break;
        assert.ok(Date.now() - started < DEADLINE_MS, "every run should finish in time");
        await sleep(250);
      }
      done = true;
      await killer;

      // Every run completed with the right output, recorded in storage.
      let completed = 0;
      for (let page = await engine.list({ limit: 1000 });;) {
        for (const run of page.runs) {
          assert.equal(run.status, "completed", `${run.id}: ${JSON.stringify(run.error)}`);
          const i = Number(run.id.slice("chaos-".length));
          assert.equal(run.output, expectedChaos(i, payload(i)), run.id);
          completed++;
        }
        if (!page.nextCursor) break;
        page = await engine.list({ limit: 1000, cursor: page.nextCursor });
      }
      assert.equal(completed, RUNS);

      // Every step result is recorded exactly once.
      for (let i = 0; i < RUNS; i++) {
        const keys = (await engine.history(`chaos-${i}`))
          .filter((e) => e.type === "step.completed")
          .map((e) => e.step!)
          .sort();
        assert.deepEqual(keys, [...STEPS].sort(), `chaos-${i}: one result per step`);
      }

      // No step body ran more than once plus the kills that hit it: every
      // execution but the last of a step happened in a process killed after it.
      const executions = readExecutions(log);
      const byStep = new Map<string, Execution[]>();
      for (const e of executions) {
        const key = `${e.run}/${e.step}`;
        byStep.set(key, [...(byStep.get(key) ?? []), e]);
      }
      let reruns = 0;
      for (const [key, list] of byStep) {
        for (const earlier of list.slice(0, -1)) {
          reruns++;
          const hit = kills.some((k) => k.pid === earlier.pid && k.at >= earlier.at);
          assert.ok(hit, `${key} ran again after running in process ${earlier.pid}, never killed`);
        }
      }
      const bodies = RUNS * (STEPS.length - 1);
      assert.equal(byStep.size, bodies, "every step body ran at least once");
      console.log(
        `${kind} chaos: ${RUNS} runs, ${completed} completed, ${kills.length} kills, ` +
          `${executions.length} step body executions for ${bodies} step bodies, ` +
          `${reruns} re-executed after a kill, ${((Date.now() - started) / 1000).toFixed(1)}s`,
      );
      assert.ok(kills.length >= 3, "the test killed workers along the way");
    } finally {
      for (const worker of all) await kill(worker, "SIGKILL");
      await engine.close();
      await target.cleanup();
    }
  });
}
