// Clock skew between machines, as it happens in production: worker processes
// whose system clock is off (run under `faketime`, which shifts Date.now() and
// leaves timers alone) beside a worker on the true clock, over one PostgreSQL
// schema. On PostgreSQL with the real clock the engine keeps time on the
// database's clock, so the skewed worker neither steals live leases nor wakes
// timers early; it warns about its clock, and refuses to start when it is more
// than 5 minutes off.
import assert from "node:assert/strict";
import { Engine, ManualClock, workflow } from "@sluice/sluice";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { NAP_MS, napper, slow } from "./_fixtures/chaos_workflows.ts";
import { POSTGRES_ENABLED, POSTGRES_URL } from "./_fixtures/drivers.ts";
import {
  type Execution,
  kill,
  readExecutions,
  spawnWorker,
  waitUntil,
  type WorkerProcess,
} from "./_fixtures/processes.ts";
import { makeTarget, type Target } from "./_fixtures/targets.ts";

const AHEAD_60S = ["faketime", "-f", "+60s"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Fails loudly when faketime is missing (`.ci/run` installs it). */
async function requireFaketime(): Promise<void> {
  const probe = await new Deno.Command("faketime", { args: ["-f", "+60s", "true"] }).output()
    .catch(() => undefined);
  if (!probe?.success) {
    throw new Error("Cannot run the clock-skew tests without faketime: apt-get install faketime");
  }
}

/** Runs `body` over a fresh PostgreSQL target, then kills its workers and drops it. */
async function withTarget(
  body: (
    target: Target,
    spawn: (prefix?: string[], concurrency?: number) => WorkerProcess,
  ) => Promise<void>,
): Promise<void> {
  await requireFaketime();
  const target = await makeTarget("postgres");
  const workers: WorkerProcess[] = [];
  const spawn = (prefix?: string[], concurrency = 4) => {
    const worker = spawnWorker({
      db: target.db,
      schema: target.schema,
      log: `${target.dir}/executions.log`,
      leaseMs: 2000,
      concurrency,
      pollMs: 100,
      ...(prefix ? { prefix } : {}),
    });
    workers.push(worker);
    return worker;
  };
  try {
    await body(target, spawn);
  } finally {
    await Promise.all(workers.map((w) => kill(w)));
    await target.cleanup();
  }
}

function countByKey(executions: readonly Execution[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of executions) counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
  return counts;
}

Deno.test({
  name: "postgres: a worker 60s ahead steals no live lease, and warns about its clock",
  ignore: !POSTGRES_ENABLED,
  fn: () =>
    withTarget(async (target, spawn) => {
      const RUNS = 16;
      await using engine = new Engine({ driver: target.open(), workflows: [slow] });
      const onTime = spawn();
      // With more slots than runs left, the skewed worker keeps looking for
      // work while the other one holds leases: every one of them would look
      // expired to it if it compared them on its own clock.
      const ahead = spawn(AHEAD_60S, 8);
      await Promise.all([onTime.ready, ahead.ready]);
      // The skewed worker measured the database's clock and says how far off it is.
      const warning = ahead.stderr().match(/60\.\ds ahead of the database's.*offsetMs: (-\d+)/s);
      assert.ok(warning, `expected a clock-skew warning, got: ${ahead.stderr()}`);
      assert.ok(Math.abs(Number(warning[1]) + 60_000) < 2_000, `offset ${warning[1]}`);
      assert.ok(!onTime.stderr().includes("ahead of"), onTime.stderr());

      for (let i = 0; i < RUNS; i++) await engine.start(slow, i, { id: `slow-${i}` });
      await waitUntil(
        async () => {
          const open = await engine.list({ status: ["pending", "running"], limit: 1 });
          return open.runs.length === 0;
        },
        60_000,
        "every run to finish",
      );

      const log = `${target.dir}/executions.log`;
      const executions = readExecutions(log);
      const twice = [...countByKey(executions)].filter(([, n]) => n > 1);
      assert.deepEqual(twice, [], "no step body ran twice");
      assert.equal(executions.length, RUNS * 3, "every step ran once");
      for (let i = 0; i < RUNS; i++) {
        assert.equal(await engine.result(`slow-${i}`), (i + 1) * 2 + 100);
      }
      // Both workers held leases at the same time, so the skewed one had live
      // leases to steal.
      const pids = new Set(executions.map((e) => e.pid));
      assert.ok(pids.has(onTime.pid) && pids.has(ahead.pid), "both workers ran steps");
    }),
});

Deno.test({
  name: "postgres: a sleep recorded by one worker does not fire early on a worker 60s ahead",
  ignore: !POSTGRES_ENABLED,
  fn: () =>
    withTarget(async (target, spawn) => {
      await using engine = new Engine({ driver: target.open(), workflows: [napper] });
      const onTime = spawn();
      await onTime.ready;
      await engine.start(napper, 5, { id: "nap-1" });
      await waitUntil(async () => (await engine.get("nap-1")).status === "sleeping", 20_000, "nap");
      // The worker on the true clock recorded the sleep: its wake time is on the
      // database's timeline (this host's clock is the database's).
      const wakeAt = (await engine.get("nap-1")).wakeAt!.getTime();
      const [before] = await engine.history("nap-1").then((h) =>
        h.filter((e) => e.type === "run.sleeping")
      );
      const recorded = wakeAt - before!.at.getTime();
      assert.ok(Math.abs(recorded - NAP_MS) < 100, `a nap of ${recorded}ms`);
      await kill(onTime, "SIGTERM");

      const ahead = spawn(AHEAD_60S);
      await ahead.ready;
      assert.ok(
        Date.now() < wakeAt - NAP_MS / 2,
        "the skewed worker is up well before the wake time",
      );
      const log = `${target.dir}/executions.log`;
      const ranAfter = () => readExecutions(log).find((e) => e.step === "after");
      let lastSeenAsleep = Date.now();
      while (!ranAfter()) {
        lastSeenAsleep = Date.now();
        assert.ok(lastSeenAsleep < wakeAt + 10_000, "the sleep should end");
        await sleep(20);
      }
      // It was still asleep until (about) its wake time, then the skewed worker woke it.
      assert.ok(
        lastSeenAsleep >= wakeAt - 100,
        `the sleep was cut short by ${wakeAt - lastSeenAsleep}ms`,
      );
      assert.equal(ranAfter()!.pid, ahead.pid);
      assert.equal(await engine.result("nap-1"), 12);
    }),
});

Deno.test({
  name: "postgres: a worker 10 minutes ahead refuses to start with ClockSkewError",
  ignore: !POSTGRES_ENABLED,
  fn: () =>
    withTarget(async (_target, spawn) => {
      const worker = spawn(["faketime", "-f", "+10m"]);
      await assert.rejects(worker.ready, /exited before it was ready/);
      const status = await worker.exited;
      assert.equal(status.success, false);
      await waitUntil(() => worker.stderr().includes("ClockSkewError"), 5_000, "the error");
      assert.match(
        worker.stderr(),
        /ClockSkewError: Cannot work with a clock 600\.\ds ahead of the database's \(the limit is 300s\)/,
      );
    }),
});

Deno.test({
  name: "postgres: storageTime() reads the database's clock, without needing the schema",
  ignore: !POSTGRES_ENABLED,
  async fn() {
    await using driver = new PostgresDriver({ url: POSTGRES_URL, schema: "never_created_here" });
    const before = Date.now();
    const at = await driver.storageTime();
    const after = Date.now();
    // The database runs on this host, so its clock is this process's clock.
    assert.ok(at >= before - 50 && at <= after + 50, `${at} outside [${before}, ${after}]`);
    assert.ok(await driver.storageTime() >= at);
  },
});

Deno.test({
  name: "postgres: an engine keeps an injected clock instead of the database's",
  ignore: !POSTGRES_ENABLED,
  async fn() {
    const target = await makeTarget("postgres");
    try {
      const clock = new ManualClock(new Date("2030-01-01T00:00:00Z"));
      const wf = workflow<number>("inc").step("inc", (n) => n + 1);
      await using engine = new Engine({ driver: target.open(), workflows: [wf], clock });
      await using worker = engine.worker();
      await worker.start();
      const run = await engine.start(wf, 1);
      assert.equal(await run.result(), 2);
      const record = await engine.get(run.id);
      assert.equal(record.createdAt.toISOString(), "2030-01-01T00:00:00.000Z");
    } finally {
      await target.cleanup();
    }
  },
});
