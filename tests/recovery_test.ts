// Takeovers (SPEC §8.3, issue 7 item 5): a step that blocks its process longer
// than the lease, or kills it, is taken over by another worker each time. Each
// takeover is a run.recovered event and a warning; after maxRecoveries of them
// in a row the run fails with RecoveryLimitError instead of livelocking, and
// the workers still shut down cleanly.
import assert from "node:assert/strict";
import { Engine, type HistoryEvent, RecoveryLimitError, WorkflowFailedError } from "@sluice/sluice";
import { hog, suicide } from "./_fixtures/chaos_workflows.ts";
import {
  kill,
  readExecutions,
  spawnWorker,
  waitUntil,
  type WorkerProcess,
} from "./_fixtures/processes.ts";
import { makeTarget, type Target, targetKinds } from "./_fixtures/targets.ts";

const LEASE_MS = 500;
const MAX_RECOVERIES = 2;

function worker(target: Target, log: string, id: string, leaseMs = LEASE_MS): WorkerProcess {
  return spawnWorker({
    db: target.db,
    schema: target.schema,
    log,
    id,
    leaseMs,
    pollMs: 50,
    delayMs: 0,
    maxRecoveries: MAX_RECOVERIES,
  });
}

/** Stops a worker with SIGTERM and returns its exit code. */
async function terminate(process: WorkerProcess): Promise<number> {
  await kill(process, "SIGTERM");
  return (await process.exited).code;
}

/** The run's failure: a RecoveryLimitError at `step`. */
async function recoveryFailure(engine: Engine, runId: string, step: string): Promise<void> {
  const error = await engine.result(runId).then(
    () => assert.fail("the run should fail"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof WorkflowFailedError, String(error));
  const cause = error.cause as RecoveryLimitError;
  assert.ok(cause instanceof RecoveryLimitError, `cause: ${String(cause)}`);
  assert.equal(cause.code, "RECOVERY_LIMIT");
  assert.match(
    cause.message,
    new RegExp(
      `^Cannot run step '${step}' of run '${runId}' again: its lease expired ${
        MAX_RECOVERIES + 1
      } times in a row`,
    ),
  );
  const record = await engine.get(runId);
  assert.equal(record.status, "failed");
  assert.equal(record.error?.code, "RECOVERY_LIMIT");
  assert.equal(record.error?.step, step);
}

function recovered(history: HistoryEvent[]): HistoryEvent[] {
  return history.filter((event) => event.type === "run.recovered");
}

for (const kind of targetKinds()) {
  Deno.test(`${kind}: a step that blocks its process past the lease fails the run with RecoveryLimitError after maxRecoveries takeovers`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    await using engine = new Engine({ driver: target.open(), workflows: [hog] });
    const workers = [worker(target, log, "w-a"), worker(target, log, "w-b")];
    try {
      await Promise.all(workers.map((w) => w.ready));
      // Each execution of the step blocks its worker's event loop for 3 leases.
      await engine.start(hog, LEASE_MS * 3, { id: "hog-1" });
      await recoveryFailure(engine, "hog-1", "hog").catch(async (error) => {
        const history = await engine.history("hog-1");
        console.error(JSON.stringify(history), workers.map((w) => w.stderr()).join("\n"));
        throw error;
      });

      const history = await engine.history("hog-1");
      const takeovers = recovered(history);
      assert.equal(takeovers.length, MAX_RECOVERIES + 1);
      for (const event of takeovers) {
        assert.ok(["w-a", "w-b"].includes(event.previousWorker!), JSON.stringify(event));
        assert.ok(["w-a", "w-b"].includes(event.worker!), JSON.stringify(event));
      }
      assert.equal(history.at(-1)?.type, "run.failed");
      const executions = readExecutions(log);
      assert.equal(executions.filter((e) => e.step === "before").length, 1);
      assert.equal(
        executions.filter((e) => e.step === "hog").length,
        MAX_RECOVERIES + 1,
        "the step body ran once, then once per takeover allowed",
      );

      // Both workers shut down cleanly, even the one still blocked in the step.
      const codes = await Promise.all(workers.map(terminate));
      assert.deepEqual(codes, [0, 0], workers.map((w) => w.stderr()).join("\n"));
      const stderr = workers.map((w) => w.stderr()).join("\n");
      assert.match(stderr, /run hog-1: lost its lease with step 'hog' in flight/);
      assert.match(stderr, /took run hog-1 over from worker w-[ab], whose lease expired/);
    } finally {
      await Promise.all(workers.map((w) => kill(w, "SIGKILL")));
      await engine.close();
      await target.cleanup();
    }
  });

  Deno.test(`${kind}: a step that SIGKILLs its worker every time fails the run after maxRecoveries takeovers`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    await using engine = new Engine({ driver: target.open(), workflows: [suicide] });
    const spawned: WorkerProcess[] = [];
    try {
      await engine.start(suicide, 7, { id: "suicide-1" });
      // Start a new worker whenever the previous one died, until the run ends.
      for (let i = 1; (await engine.get("suicide-1")).status !== "failed"; i++) {
        assert.ok(i <= MAX_RECOVERIES + 2, "the run should have failed by now");
        const next = worker(target, log, `w-${i}`);
        spawned.push(next);
        let exited = false;
        void next.exited.then(() => exited = true);
        await waitUntil(
          async () => exited || (await engine.get("suicide-1")).status === "failed",
          30_000,
          `worker w-${i} to die or the run to fail`,
        );
      }
      await recoveryFailure(engine, "suicide-1", "die");
      const deaths = spawned.slice(0, -1);
      assert.equal(deaths.length, MAX_RECOVERIES + 1, "one worker died per execution");
      for (const dead of deaths) assert.equal((await dead.exited).signal, "SIGKILL");
      const executions = readExecutions(log);
      assert.equal(executions.filter((e) => e.step === "die").length, MAX_RECOVERIES + 1);
      assert.equal(executions.filter((e) => e.step === "before").length, 1);
      const takeovers = recovered(await engine.history("suicide-1"));
      assert.deepEqual(
        takeovers.map((e) => [e.previousWorker, e.worker]),
        [["w-1", "w-2"], ["w-2", "w-3"], ["w-3", "w-4"]],
      );
      assert.equal(await terminate(spawned.at(-1)!), 0, "the last worker stops cleanly");
    } finally {
      await Promise.all(spawned.map((w) => kill(w, "SIGKILL")));
      await engine.close();
      await target.cleanup();
    }
  });
}

Deno.test("retry() of a run failed with RecoveryLimitError resets the count and runs the step again", async () => {
  const target = await makeTarget("sqlite");
  const log = `${target.dir}/executions.log`;
  await using engine = new Engine({ driver: target.open(), workflows: [hog] });
  const workers = [worker(target, log, "w-a"), worker(target, log, "w-b")];
  try {
    await Promise.all(workers.map((w) => w.ready));
    await engine.start(hog, LEASE_MS * 3, { id: "hog-2" });
    await recoveryFailure(engine, "hog-2", "hog");
    // A worker whose lease outlasts the step: retry() runs it once more, to the end.
    await Promise.all(workers.map(terminate));
    workers.push(worker(target, log, "w-c", LEASE_MS * 10));
    await workers.at(-1)!.ready;
    await engine.retry("hog-2");
    assert.equal(await engine.result("hog-2"), LEASE_MS * 3);
    const hogs = readExecutions(log).filter((e) => e.step === "hog");
    assert.equal(hogs.length, MAX_RECOVERIES + 2);
    assert.equal(hogs.at(-1)!.pid, workers.at(-1)!.pid);
    assert.equal(recovered(await engine.history("hog-2")).length, MAX_RECOVERIES + 1);
  } finally {
    await Promise.all(workers.map((w) => kill(w, "SIGKILL")));
    await engine.close();
    await target.cleanup();
  }
});
