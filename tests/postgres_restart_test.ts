// PostgreSQL restarted mid-run (SPEC §7): workers reconnect, LISTEN is
// re-established, every run completes and nothing is lost.
import assert from "node:assert/strict";
import { Engine } from "@sluice/sluice";
import { chaos, expectedChaos } from "./_fixtures/chaos_workflows.ts";
import { POSTGRES_ENABLED } from "./_fixtures/drivers.ts";
import { kill, readExecutions, spawnWorker, waitUntil } from "./_fixtures/processes.ts";
import { makeTarget } from "./_fixtures/targets.ts";

const RUNS = 60;

async function restartPostgres(): Promise<void> {
  const versions = [...Deno.readDirSync("/etc/postgresql")].map((e) => e.name).sort();
  assert.ok(versions.length > 0, "a PostgreSQL cluster is installed");
  const output = await new Deno.Command("pg_ctlcluster", {
    args: ["--skip-systemctl-redirect", versions[0]!, "main", "restart", "-m", "fast"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
}

Deno.test({
  name: "postgres: a restart mid-run loses nothing; workers reconnect and LISTEN wakes them again",
  ignore: !POSTGRES_ENABLED,
  async fn() {
    const target = await makeTarget("postgres");
    const log = `${target.dir}/executions.log`;
    // A 30s poll interval: after the restart only LISTEN/NOTIFY can wake waiting runs quickly.
    const spawn = () =>
      spawnWorker({ db: target.db, schema: target.schema, log, leaseMs: 2000, pollMs: 30_000 });
    const workers = [spawn(), spawn()];
    const engine = new Engine({ driver: target.open(), workflows: [chaos] });
    try {
      await Promise.all(workers.map((w) => w.ready));
      for (let i = 0; i < RUNS; i++) await engine.start(chaos, { n: i }, { id: `pg-${i}` });
      await waitUntil(
        () => readExecutions(log).length > RUNS,
        30_000,
        "the workers to make progress",
      );
      await restartPostgres();
      // Wait (through reconnects) until every run waits for its signal.
      await waitUntil(
        async () => {
          try {
            const { runs } = await engine.list({ status: "waiting", limit: 1000 });
            return runs.length === RUNS;
          } catch {
            return false; // the engine's own pool reconnects too
          }
        },
        60_000,
        "every run to reach its wait after the restart",
      );
      const signalled = Date.now();
      for (let i = 0; i < RUNS; i++) await engine.signal(`pg-${i}`, "go", i % 3);
      for (let i = 0; i < RUNS; i++) {
        assert.equal(await engine.result(`pg-${i}`), expectedChaos(i, i % 3));
      }
      const wakeMs = Date.now() - signalled;
      assert.ok(wakeMs < 20_000, `notices woke the workers (took ${wakeMs}ms, poll is 30s)`);
      for (let i = 0; i < RUNS; i++) {
        const keys = (await engine.history(`pg-${i}`)).filter((e) => e.type === "step.completed")
          .map((e) => e.step);
        assert.equal(keys.length, 11, `pg-${i}: all steps recorded`);
        assert.equal(new Set(keys).size, keys.length, `pg-${i}: each result recorded once`);
      }
      console.log(`postgres restart: ${RUNS} runs completed; signals to results in ${wakeMs}ms`);
    } finally {
      for (const worker of workers) await kill(worker, "SIGKILL");
      await engine.close();
      await target.cleanup();
    }
  },
});
