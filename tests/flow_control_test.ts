// Flow control with real processes (SPEC §8.3): three worker processes share
// one SQLite file or one PostgreSQL schema. Every step appends its entry and
// exit to one log file (file order is a total order across processes); runs
// of a concurrency-limited workflow never execute more than the limit of
// their key at once, a rate-limited workflow begins no more than `limit` runs
// per period, and a higher priority is claimed first.
import assert from "node:assert/strict";
import { Engine, LocalRunner, ManualClock, MemoryDriver, schedule, workflow } from "@sluice/sluice";
import {
  type FlowMark,
  METER,
  metered,
  ranked,
  readFlowLog,
  THROTTLE_LIMIT,
  throttled,
} from "./_fixtures/flow_workflows.ts";
import { kill, spawnWorker, waitUntil, type WorkerProcess } from "./_fixtures/processes.ts";
import { makeTarget, targetKinds } from "./_fixtures/targets.ts";
import { SqliteDriver } from "@sluice/sluice/sqlite";
import { main } from "@sluice/sluice/cli";
import { dashboard } from "../cli/dashboard.ts";

const KEYS = ["a", "b", "c"];
const THROTTLED = 24;
const METERED = 9;
const RANKED = 12;

/** The most marks of one group that were between `in` and `out` at once, in file order. */
function mostAtOnce(marks: FlowMark[], group: (m: FlowMark) => string): Map<string, number> {
  const now = new Map<string, number>();
  const most = new Map<string, number>();
  for (const m of marks) {
    const g = group(m);
    const n = (now.get(g) ?? 0) + (m.phase === "in" ? 1 : -1);
    now.set(g, n);
    most.set(g, Math.max(most.get(g) ?? 0, n));
  }
  return most;
}

for (const kind of targetKinds()) {
  Deno.test(`${kind}: three worker processes hold concurrency limits per key, a rate limit and priority`, async () => {
    const target = await makeTarget(kind);
    const log = `${target.dir}/executions.log`;
    await using engine = new Engine({
      driver: target.open(),
      workflows: [throttled, metered, ranked],
    });
    const workers: WorkerProcess[] = [];
    try {
      // Every run exists before any worker claims, so priority decides the order.
      for (let i = 0; i < RANKED; i++) {
        await engine.start(ranked, i, { id: `ranked-${i}`, priority: i % 4 });
      }
      for (let i = 0; i < THROTTLED; i++) {
        await engine.start(throttled, { key: KEYS[i % KEYS.length]!, i }, { id: `thr-${i}` });
      }
      for (let i = 0; i < METERED; i++) await engine.start(metered, i, { id: `met-${i}` });
      const reader = target.open();
      try {
        assert.equal((await reader.getRun("thr-1"))?.concurrencyKey, "b", "the key is stored");
      } finally {
        await reader.close();
      }

      for (let i = 0; i < 3; i++) {
        workers.push(spawnWorker({ db: target.db, schema: target.schema, log, pollMs: 100 }));
      }
      await Promise.all(workers.map((w) => w.ready));
      await waitUntil(
        async () =>
          (await engine.list({ status: ["pending", "running", "sleeping"], limit: 1 })).runs
            .length === 0,
        120_000,
        "every run to finish",
        200,
      );
      const { runs } = await engine.list({ limit: 1000 });
      assert.equal(runs.length, THROTTLED + METERED + RANKED);
      for (const run of runs) assert.equal(run.status, "completed", run.id);
      const marks = readFlowLog(`${log}.flow`);
      const pids = new Set(marks.map((m) => m.pid));
      assert.ok(pids.size >= 2, `steps ran in ${pids.size} processes`);

      // Concurrency: per key, never more than the limit between entry and exit.
      const thr = marks.filter((m) => m.run.startsWith("thr-"));
      assert.equal(thr.length, THROTTLED * 2 * 2, "two steps per run, each in and out");
      const perKey = mostAtOnce(thr, (m) => m.key!);
      for (const key of KEYS) {
        assert.ok(perKey.get(key)! <= THROTTLE_LIMIT, `key ${key}: ${perKey.get(key)} at once`);
      }
      assert.ok(
        [...perKey.values()].some((n) => n === THROTTLE_LIMIT),
        "the limit was reached (runs did execute in parallel)",
      );
      assert.ok(mostAtOnce(thr, () => "all").get("all")! > THROTTLE_LIMIT, "keys run side by side");

      // Priority: `ranked` runs one at a time, so its entries follow its claims.
      const order = marks.filter((m) => m.run.startsWith("ranked-") && m.phase === "in")
        .map((m) => Number(m.run.slice("ranked-".length)));
      assert.equal(order.length, RANKED);
      const priorities = order.map((i) => i % 4);
      assert.deepEqual(priorities, [...priorities].sort((a, b) => b - a), `claim order ${order}`);
      assert.equal(
        mostAtOnce(marks.filter((m) => m.run.startsWith("ranked-")), () => "r").get("r"),
        1,
      );

      // Rate limit: the stored beginnings (run.started) of any METER.limit + 1
      // runs span at least a period. On PostgreSQL each process measures its
      // offset from the database clock, so the processes' timelines may
      // differ by a few milliseconds of round trip.
      const slack = kind === "postgres" ? 25 : 0;
      const starts: number[] = [];
      for (let i = 0; i < METERED; i++) {
        const started = (await engine.history(`met-${i}`)).find((e) => e.type === "run.started");
        starts.push(started!.at.getTime());
      }
      starts.sort((a, b) => a - b);
      for (let i = 0; i + METER.limit < starts.length; i++) {
        const span = starts[i + METER.limit]! - starts[i]!;
        assert.ok(span >= METER.periodMs - slack, `${METER.limit + 1} runs began within ${span}ms`);
      }
    } finally {
      for (const worker of workers) await kill(worker, "SIGKILL");
      await engine.close();
      await target.cleanup();
    }
  });
}

Deno.test("flow options are tunable: they leave the plan hash alone", () => {
  const plain = workflow<number>("tunable").step("s", (n) => n);
  const limited = workflow<number>("tunable", {
    concurrency: { limit: 2, key: (n) => String(n % 2) },
    rateLimit: { limit: 5, period: "1m" },
  }).step("s", (n) => n);
  assert.equal(limited.planHash, plain.planHash);
  assert.deepEqual(limited.plan, plain.plan);
});

Deno.test("a key is computed once, at start, from the input", async () => {
  const seen: unknown[] = [];
  const wf = workflow<{ tenant: string }>("keyed-once", {
    concurrency: {
      limit: 1,
      key: (input) => {
        seen.push(input);
        return input.tenant;
      },
    },
  }).sleep("nap", "1h").step("s", (i) => i.tenant);
  await using runner = new LocalRunner({ clock: "virtual", workflows: [wf] });
  const run = await runner.start(wf, { tenant: "acme" });
  assert.equal(await run.result(), "acme");
  assert.deepEqual(seen, [{ tenant: "acme" }], "not again on wake-up or claim");
});

Deno.test("get, list, the CLI and the dashboard show a run's priority and flow-control keys", async () => {
  const wf = workflow<{ tenant: string }>("keyed-shown", {
    concurrency: { limit: 1, key: (input) => input.tenant },
    rateLimit: { limit: 5, period: "1m", key: (input) => `api-${input.tenant}` },
  }).step("s", (i) => i.tenant);
  const plain = workflow<number>("plain-shown").step("s", (n) => n);
  const dir = await Deno.makeTempDir({ prefix: "sluice-keys-" });
  const path = `${dir}/keys.db`;
  try {
    await using engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [wf, plain] });
    await engine.start(wf, { tenant: "acme" }, { id: "keyed", priority: 3 });
    await engine.start(plain, 1, { id: "plain" });
    const keyed = await engine.get("keyed");
    assert.deepEqual(
      [keyed.priority, keyed.concurrencyKey, keyed.rateKey],
      [3, "acme", "api-acme"],
    );
    const bare = await engine.get("plain");
    assert.ok(!("priority" in bare) && !("concurrencyKey" in bare) && !("rateKey" in bare));
    assert.deepEqual((await engine.list({ workflow: "keyed-shown" })).runs, [keyed]);
    const out: string[] = [];
    const code = await main(["show", "keyed", "--db", path], {
      out: (t) => void out.push(t),
      err: (t) => void out.push(t),
    });
    assert.equal(code, 0, out.join("\n"));
    assert.match(out.join("\n"), /^Priority {2}3\nKeys {6}concurrency acme, rate api-acme$/m);
    const page = await (await dashboard(engine)(new Request("http://localhost/runs/keyed"))).text();
    assert.match(page, /<span id="priority">3<\/span>/);
    assert.match(page, /<code id="flow-keys">concurrency acme, rate api-acme<\/code>/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LocalRunner: a concurrency limit per key holds, and sleeping runs free their slot", async () => {
  let active = 0;
  let most = 0;
  let workedBeforeFirstWake: number | undefined;
  let worked = 0;
  const wf = workflow<number>("local-limited", {
    concurrency: { limit: 2, key: (n) => `${n % 2}` },
  })
    .step("work", async (n) => {
      active++;
      most = Math.max(most, active);
      await new Promise((resolve) => setTimeout(resolve, 5));
      active--;
      worked++;
      return n;
    })
    .sleep("nap", "1s")
    .step("done", (n) => {
      workedBeforeFirstWake ??= worked;
      return n;
    });
  // The virtual clock jumps to the wake-up only once nothing runs: if sleeping
  // runs held their slots, only 4 runs could have worked before it.
  await using runner = new LocalRunner({ clock: "virtual", workflows: [wf] });
  const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => runner.start(wf, i)));
  assert.deepEqual(await Promise.all(runs.map((r) => r.result())), [...Array(12).keys()]);
  assert.equal(most, 4, "2 per key, 2 keys");
  assert.equal(workedBeforeFirstWake, 12);
});

Deno.test("scheduled runs get their flow-control keys from the slot's input", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 5));
  const report = workflow<{ day: string }>("keyed-report", {
    concurrency: { limit: 1, key: (input) => `day-${input.day}` },
  }).step("s", (i) => i.day);
  const nightly = schedule("keyed-nightly", report, {
    cron: "0 3 * * *",
    input: (slot) => ({ day: slot.toISOString().slice(0, 10) }),
  });
  const driver = new MemoryDriver();
  await using engine = new Engine({ driver, workflows: [report], schedules: [nightly], clock });
  await using worker = engine.worker();
  await worker.start();
  await clock.advance("1d");
  const { runs } = await engine.list({ workflow: "keyed-report" });
  assert.equal(runs.length, 1);
  assert.equal((await driver.getRun(runs[0]!.id))?.concurrencyKey, "day-2026-01-05");
});

Deno.test("a .call child gets its flow-control keys from its input and waits for a slot", async () => {
  let active = 0;
  let most = 0;
  const charge = workflow<{ card: string }>("keyed-charge", {
    concurrency: { limit: 1, key: (input) => input.card },
  }).step("charge", async (i) => {
    active++;
    most = Math.max(most, active);
    await new Promise((resolve) => setTimeout(resolve, 5));
    active--;
    return i.card;
  });
  const order = workflow<{ card: string }>("keyed-order").call("pay", charge);
  const driver = new MemoryDriver();
  await using engine = new Engine({ driver, workflows: [order, charge] });
  await using worker = engine.worker();
  await worker.start();
  const runs = await Promise.all(
    Array.from({ length: 4 }, (_, i) => engine.start(order, { card: "visa" }, { id: `o-${i}` })),
  );
  assert.deepEqual(await Promise.all(runs.map((r) => r.result())), Array(4).fill("visa"));
  assert.equal(most, 1, "one charge per card at once");
  assert.equal((await driver.getRun("o-0/pay"))?.concurrencyKey, "visa");
});

for (const kind of ["memory", "sqlite"] as const) {
  Deno.test(`${kind}: purge keeps finished runs that still count toward a rate limit (retention uses the same cut-off)`, async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    const wf = workflow<number>("purge-rate", { rateLimit: { limit: 1, period: "1h" } })
      .step("work", (n) => n);
    const dir = await Deno.makeTempDir();
    const driver = kind === "memory"
      ? new MemoryDriver()
      : new SqliteDriver({ path: `${dir}/r.db` });
    await using engine = new Engine({ driver, clock, workflows: [wf] });
    await using worker = engine.worker({ pollInterval: 10 });
    await worker.start();
    const first = await engine.start(wf, 1);
    assert.equal(await first.result(), 1);
    await clock.advance("1m");
    // A purge of everything finished so far keeps the run that began within the period.
    assert.equal(await engine.purge({ finishedBefore: clock.now() }), 0);
    assert.equal((await engine.get(first.id)).status, "completed");
    const second = await engine.start(wf, 2);
    await clock.advance("10m");
    assert.equal(await second.status(), "pending", "the kept run still fills the window");
    await clock.advance("1h");
    assert.equal(await second.result(), 2);
    // Past its period the first run no longer counts, so it goes.
    assert.equal(await engine.purge({ finishedBefore: clock.now() - 60 * 60_000 + 1 }), 1);
    await assert.rejects(engine.get(first.id));
    await worker.stop();
    await Deno.remove(dir, { recursive: true });
  });
}
