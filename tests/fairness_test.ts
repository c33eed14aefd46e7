// Fairness (SPEC §2, issue 7 item 1): a busy worker yields to its process's
// event loop between claim and write cycles. On SQLite every driver call
// settles in microtasks, so without yielding a worker draining work starves
// timers, lease heartbeats, signal handlers and the host's own I/O, and an
// idle worker in another process takes its runs over.
import assert from "node:assert/strict";
import { cpuUsage } from "node:process";
import { Engine, LocalRunner, type Worker, workflow } from "@sluice/sluice";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { setSpinGate, spin } from "./_fixtures/chaos_workflows.ts";
import { deferred } from "./_fixtures/deferred.ts";
import { kill, readExecutions, spawnWorker, waitUntil } from "./_fixtures/processes.ts";
import { makeTarget } from "./_fixtures/targets.ts";

/**
 * Watches the event loop with a 10 ms interval; `stop()` returns the longest
 * stall: the CPU time this process used between two ticks. (The wall-clock gap
 * also counts the time a loaded, shared machine gave to other processes; the
 * CPU time is what this process kept the loop from its timers.)
 */
function watchEventLoop(onTick: () => void = () => {}): { stop(): number; ticks(): number } {
  const cpuMs = () => {
    const usage = cpuUsage();
    return (usage.user + usage.system) / 1000;
  };
  let last = cpuMs();
  let longest = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = cpuMs();
    longest = Math.max(longest, now - last);
    last = now;
    ticks++;
    onTick();
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(longest, cpuMs() - last);
    },
    ticks: () => ticks,
  };
}

/** The longest stall allowed: ten intervals, far below a lease. */
const STALL_MS = 100;
const LEASE_MS = 600;

Deno.test("sqlite: a worker draining a 100,000-iteration loop keeps its event loop, its heartbeats and its run, beside an idle worker process", async () => {
  const target = await makeTarget("sqlite");
  const log = `${target.dir}/executions.log`;
  const probe = new SqliteDriver({ path: target.db });
  const engine = new Engine({ driver: target.open(), workflows: [spin] });
  const worker: Worker = engine.worker({ leaseMs: LEASE_MS, pollInterval: 50, id: "busy" });
  const gate = deferred();
  setSpinGate(() => gate.promise);
  const idle = spawnWorker({ db: target.db, log, leaseMs: LEASE_MS, pollMs: 50, id: "idle" });
  try {
    await worker.start();
    const run = await engine.start(spin, 100_000, { id: "spin-1" });
    await waitUntil(
      async () => (await probe.getRun(run.id))?.leaseOwner === "busy",
      10_000,
      "the claim",
    );
    await idle.ready;

    // Every 10 ms: the lease must be held by the busy worker and unexpired.
    const leaseExpiries: number[] = [];
    const problems: string[] = [];
    const watch = watchEventLoop(() => {
      void probe.getRun(run.id).then((stored) => {
        if (!stored || stored.status !== "running") return;
        const now = Date.now();
        if (stored.leaseOwner !== "busy" || stored.leaseToken !== 1) {
          problems.push(`owner ${stored.leaseOwner} token ${stored.leaseToken}`);
        } else if (stored.dueAt! <= now) {
          problems.push(`lease expired ${now - stored.dueAt!}ms ago`);
        }
        if (stored.dueAt !== leaseExpiries.at(-1)) leaseExpiries.push(stored.dueAt!);
      });
    });
    const started = performance.now();
    gate.resolve();
    assert.equal(await run.result(), 100_000);
    const elapsed = performance.now() - started;
    const endedAt = Date.now();
    const longest = watch.stop();

    assert.ok(longest < STALL_MS, `the longest event-loop stall was ${longest.toFixed(0)}ms`);
    assert.deepEqual(problems, [], "the busy worker held its lease throughout");
    // A heartbeat every leaseMs / 3, from the claim to the end: each one
    // moved the lease expiry on, and none came late.
    const gaps = leaseExpiries.slice(1).map((at, i) => at - leaseExpiries[i]!);
    gaps.push(endedAt + LEASE_MS - leaseExpiries.at(-1)!);
    assert.ok(gaps.length >= 3, `${gaps.length - 1} heartbeats in ${elapsed.toFixed(0)}ms`);
    assert.ok(
      gaps.every((gap) => gap < LEASE_MS / 3 + STALL_MS),
      `heartbeats went out on time: ${gaps.join(", ")}`,
    );

    assert.equal((await probe.getRun(run.id))?.leaseToken, 1, "the run never changed hands");
    assert.deepEqual(readExecutions(log), [], "the idle worker ran no step body");
    const history = await engine.history(run.id);
    assert.equal(history.filter((e) => e.type === "step.completed").length, 100_001);
    assert.equal(history.filter((e) => (e.type as string) === "run.recovered").length, 0);
  } finally {
    setSpinGate(() => {});
    await kill(idle, "SIGTERM");
    await worker.stop();
    await engine.close();
    await probe.close();
    await target.cleanup();
  }
  assert.equal((await idle.exited).code, 0, `the idle worker stopped cleanly: ${idle.stderr()}`);
});

Deno.test("sqlite: a worker draining a 2,000-run backlog keeps its event loop", async () => {
  const target = await makeTarget("sqlite");
  const engine = new Engine({ driver: target.open(), workflows: [spin] });
  const worker = engine.worker({ leaseMs: LEASE_MS, concurrency: 10, id: "busy" });
  try {
    const runs = [];
    for (let i = 0; i < 2_000; i++) runs.push(await engine.start(spin, 3, { id: `backlog-${i}` }));
    // Watched from the interval itself: 2,000 result() waiters would poll too.
    const done = deferred();
    let checking = false;
    const watch = watchEventLoop(() => {
      if (checking) return;
      checking = true;
      void engine.list({ status: ["pending", "running"], limit: 1 }).then((page) => {
        checking = false;
        if (page.runs.length === 0) done.resolve();
      });
    });
    await worker.start();
    await done.promise;
    const longest = watch.stop();
    assert.ok(longest < STALL_MS, `the longest event-loop stall was ${longest.toFixed(0)}ms`);
    const page = await engine.list({ status: "completed", limit: 1_000 });
    assert.equal(page.runs.length, 1_000);
    for (const run of runs.slice(0, 10)) assert.equal(await run.result(), 3);
  } finally {
    await worker.stop();
    await engine.close();
    await target.cleanup();
  }
});

Deno.test("LocalRunner: draining a 100,000-iteration loop keeps timers running", async () => {
  const loop = workflow<number>("loop").loop("spin", (n) => n, (n) => n + 1);
  await using runner = new LocalRunner({ workflows: [loop] });
  const watch = watchEventLoop();
  assert.equal(await runner.run(loop, 100_000), 200_000);
  const longest = watch.stop();
  assert.ok(watch.ticks() > 0, "the interval ticked");
  assert.ok(longest < STALL_MS, `the longest event-loop stall was ${longest.toFixed(0)}ms`);
});
