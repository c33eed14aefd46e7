// Child workflows under crashes (SPEC §8.2, §7): a worker process SIGKILLed
// while its parent run has the `.call` in flight and the child already runs;
// the next worker resumes both, and the parent never starts a second child.
import assert from "node:assert/strict";
import { Engine } from "@sluice/sluice";
import { caller } from "./_fixtures/chaos_workflows.ts";
import { kill, readExecutions, spawnWorker, waitUntil } from "./_fixtures/processes.ts";
import { makeTarget, targetKinds } from "./_fixtures/targets.ts";

for (const kind of targetKinds()) {
  Deno.test(`${kind}: a worker killed right after a .call started its child; the resumed parent reuses that child`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    await using engine = new Engine({ driver: target.open(), workflows: [caller] });
    const workerA = spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 });
    let workerB: ReturnType<typeof spawnWorker> | undefined;
    try {
      await workerA.ready;
      const run = await engine.start(caller, 4, { id: "parent-1" });
      await waitUntil(
        () => readExecutions(log).some((e) => e.step === "charge"),
        20_000,
        "worker A to start the child and run its step",
      );
      await kill(workerA, "SIGKILL");
      workerB = spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 1000 });
      await workerB.ready;
      // before: 5; the child charges 5 * 10; hold passes 5 through.
      assert.equal(await run.result(), 55);

      const children = (await engine.list({ parentId: "parent-1" })).runs;
      assert.deepEqual(children.map((r) => r.id), ["parent-1/both/pay/pay"], "one child, ever");
      assert.equal(children[0]!.status, "completed");
      const executions = readExecutions(log);
      const byStep = (step: string) => executions.filter((e) => e.step === step);
      assert.equal(byStep("before").length, 1, "the completed step is not run again");
      assert.ok(byStep("charge").every((e) => e.run === "parent-1/both/pay/pay"));
      assert.ok(byStep("charge").length <= 2, "the child's step ran at most once per worker");
      assert.equal(byStep("after").length, 1);
    } finally {
      await kill(workerA, "SIGKILL");
      if (workerB) await kill(workerB, "SIGKILL");
      await engine.close();
      await target.cleanup();
    }
  });
}
