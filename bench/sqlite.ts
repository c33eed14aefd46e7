/** SQLite scenarios of SPEC §6, each against a raw commit measured in the same run. */
import { DatabaseSync } from "node:sqlite";
import { Engine, workflow } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { median, percentile, perSecond, type Row, us } from "./_harness.ts";
import { chain, cpuMs, runConcurrently } from "./_durable.ts";

export async function withFile<T>(fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "sluice-bench-" });
  try {
    return await fn(`${dir}/bench.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A raw single-row autocommit INSERT on a WAL file with synchronous=NORMAL, in
 * µs: SQLite's defaults otherwise (4 KiB pages; with Sluice's 1 KiB pages the
 * same commit is about a quarter cheaper, see ARCHITECTURE.md "SQLite pages").
 */
export function rawCommit(path: string, count: number): number {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
    db.exec("CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, run TEXT, v TEXT)");
    const insert = db.prepare("INSERT INTO raw (run, v) VALUES (?, ?)");
    for (let i = 0; i < 1000; i++) insert.run("warm", "x");
    const started = performance.now();
    for (let i = 0; i < count; i++) insert.run("r", "x");
    return ((performance.now() - started) * 1000) / count;
  } finally {
    db.close();
  }
}

/** Microseconds per step of `steps` sequential steps in one run, median of rounds. */
async function sequential(steps: number, runs: number, rounds: number): Promise<number> {
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    samples.push(
      await withFile(async (path) => {
        const ms = await runSequentialRuns(new SqliteDriver({ path }), steps, runs);
        return (ms * 1000) / (steps * runs);
      }),
    );
  }
  return median(samples);
}

async function runSequentialRuns(
  driver: SqliteDriver,
  steps: number,
  runs: number,
): Promise<number> {
  const wf = chain(steps);
  await using engine = new Engine({ driver, workflows: [wf] });
  await using worker = engine.worker({ concurrency: 1 });
  await worker.start();
  await (await engine.start(wf, 0)).result();
  const started = performance.now();
  for (let i = 0; i < runs; i++) await (await engine.start(wf, i)).result();
  return performance.now() - started;
}

/** Wakes of many sleeping runs: lateness after the due time, and idle CPU. */
async function sleepers(count: number): Promise<{ p99: number; p50: number; idleCpu: number }> {
  return await withFile(async (path) => {
    const late: number[] = [];
    const wf = workflow<number>("bench-sleeper")
      .sleepUntil("due", (at) => at)
      .step("woke", (at, ctx) => {
        late.push(ctx.now().getTime() - at);
        return at;
      });
    await using engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [wf] });
    await using worker = engine.worker({ concurrency: 200 });
    await worker.start();
    const base = Date.now() + 8_000;
    for (let i = 0; i < count; i++) await engine.start(wf, base + (i * 4_000) / count);
    // Idle: every run sleeps now; the worker should use (almost) no CPU.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, base - Date.now() - 2_500)));
    const before = await cpuMs();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const idleCpu = (await cpuMs()) - before;
    while (late.length < count) await new Promise((resolve) => setTimeout(resolve, 100));
    return { p99: percentile(late, 0.99), p50: percentile(late, 0.5), idleCpu };
  });
}

/** Runs the SQLite scenarios. */
export async function sqliteScenarios(): Promise<Row[]> {
  const raw = await withFile((path) => Promise.resolve(rawCommit(path, 20_000)));
  const seq1000 = await sequential(1000, 3, 5);
  const seq10 = await sequential(10, 100, 5);
  const seq10k = await sequential(10_000, 1, 3);
  const concurrentMs = await withFile((path) =>
    runConcurrently(new SqliteDriver({ path }), chain(200), 64)
  );
  const concurrentRate = (64 * 200 * 1000) / concurrentMs;
  const singleRunRate = 1_000_000 / seq1000;
  const rawRate = 1_000_000 / raw;
  const wake = await sleepers(10_000);
  return [
    {
      scenario: "SQLite file (WAL, NORMAL), sequential steps of one run (1,000 steps)",
      figure: `${us(seq1000)}/step`,
      baseline: `raw commit ${us(raw)}`,
      ratio: seq1000 / raw,
      target: "≤ 1.5× raw",
      ok: seq1000 / raw <= 1.5,
    },
    {
      scenario: "SQLite, per-step cost at 10,000 steps vs at 10",
      figure: `${us(seq10k)} vs ${us(seq10)}`,
      baseline: `${us(seq10)} (10 steps)`,
      ratio: seq10k / seq10,
      target: "≤ 1.2×",
      ok: seq10k / seq10 <= 1.2,
    },
    {
      scenario: "SQLite, 64 concurrent runs × 200 steps (group commit), vs raw commit rate",
      figure: perSecond(concurrentRate, "steps"),
      baseline: perSecond(rawRate, "commits"),
      ratio: concurrentRate / rawRate,
      target: "≥ 3× the single-commit rate",
      ok: concurrentRate / rawRate >= 3,
    },
    {
      scenario: "SQLite, 64 concurrent runs vs one run at a time (same engine)",
      figure: perSecond(concurrentRate, "steps"),
      baseline: perSecond(singleRunRate, "steps"),
      ratio: concurrentRate / singleRunRate,
      target: "≥ 3× (group commit pays)",
      ok: concurrentRate / singleRunRate >= 3,
    },
    {
      scenario: "10,000 sleeping runs (SQLite): wake lateness p99 (p50)",
      figure: `${wake.p99.toFixed(0)} ms (${wake.p50.toFixed(0)} ms)`,
      baseline: "due time",
      ratio: wake.p99 / 100,
      target: "≤ 100 ms",
      ok: wake.p99 <= 100,
    },
    {
      scenario: "10,000 sleeping runs (SQLite): CPU of the idle worker over 2 s",
      figure: `${wake.idleCpu.toFixed(0)} ms CPU`,
      baseline: "2,000 ms wall",
      ratio: wake.idleCpu / 2000,
      target: "~0 (no busy-polling)",
      ok: wake.idleCpu / 2000 < 0.02,
    },
  ];
}
