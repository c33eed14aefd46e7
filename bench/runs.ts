/**
 * The cost of a whole run (issue 13, SPEC §6): start, then await the result,
 * one after another with one worker in the same process; starts while a
 * worker drains them; 8 runs in flight. Each row's baseline is a raw commit of
 * the same database measured in the same run.
 */
import postgres from "postgres";
import { Engine, type Workflow } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import type { Driver } from "../lib/driver.ts";
import { median, perSecond, type Row, us } from "./_harness.ts";
import { chain } from "./_durable.ts";
import { rawCommit, withFile } from "./sqlite.ts";
import { rawInserts, URL, withSchema } from "./postgres.ts";
import { count, counted, perRun, type Tally } from "./_count.ts";

/** µs per run of `runs` runs of `wf`, each started and awaited one after another. */
export async function oneAfterAnother(
  driver: Driver,
  wf: Workflow<number, number, number>,
  runs: number,
  rounds: number,
): Promise<number> {
  await using engine = new Engine({ driver, workflows: [wf] });
  await using worker = engine.worker();
  await worker.start();
  for (let i = 0; i < 20; i++) await (await engine.start(wf, i)).result();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    for (let i = 0; i < runs; i++) await (await engine.start(wf, i)).result();
    samples.push(((performance.now() - started) * 1000) / runs);
  }
  return median(samples);
}

/** Starts per second, one after another, while a worker in the same process drains them. */
async function startsWhileDraining(driver: Driver, starts: number): Promise<number> {
  const wf = chain(1);
  await using engine = new Engine({ driver, workflows: [wf] });
  await using worker = engine.worker();
  await worker.start();
  for (let i = 0; i < 20; i++) await (await engine.start(wf, i)).result();
  const started = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < starts; i++) ids.push((await engine.start(wf, i)).id);
  const rate = (starts * 1000) / (performance.now() - started);
  // Not timed: every run is drained before the engine closes.
  for (const id of ids) await engine.result(id);
  return rate;
}

/** Steps per second with `inFlight` loops, each start → `steps` steps → result. */
export async function inFlight(
  driver: Driver,
  inFlight: number,
  steps: number,
  runs: number,
): Promise<number> {
  const wf = chain(steps);
  await using engine = new Engine({ driver, workflows: [wf] });
  await using worker = engine.worker({ concurrency: inFlight });
  await worker.start();
  for (let i = 0; i < 20; i++) await (await engine.start(wf, i)).result();
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < runs) {
      next++;
      await (await engine.start(wf, next)).result();
    }
  }));
  return (runs * steps * 1000) / (performance.now() - started);
}

const pg = (schema: string) => new PostgresDriver({ url: URL, schema });

/** Runs the run-cost scenarios. */
export async function runScenarios(): Promise<Row[]> {
  const sqliteRaw = await withFile((path) => Promise.resolve(rawCommit(path, 20_000)));
  const sqliteOne = await withFile((path) =>
    oneAfterAnother(new SqliteDriver({ path }), chain(1), 2_000, 3)
  );
  const raw = await rawInserts();
  const pgOne = await withSchema((schema) => oneAfterAnother(pg(schema), chain(1), 300, 3));
  const pgTen = await withSchema((schema) => oneAfterAnother(pg(schema), chain(10), 100, 3));
  const drain = await withSchema((schema) => startsWhileDraining(pg(schema), 3_000));
  const eight = await withSchema((schema) => inFlight(pg(schema), 8, 10, 1_600));
  const rawRate = 1_000_000 / raw.sequential;
  return [
    {
      scenario: "one-step run end to end (start → result, a worker running), SQLite (WAL, NORMAL)",
      figure: `${us(sqliteOne)}/run`,
      baseline: `raw commit ${us(sqliteRaw)}`,
      ratio: sqliteOne / sqliteRaw,
      target: "≤ 4 raw commits",
      ok: sqliteOne / sqliteRaw <= 4,
    },
    {
      scenario: "one-step run end to end (start → result, a worker running), PostgreSQL",
      figure: `${us(pgOne)}/run`,
      baseline: `raw INSERT ${us(raw.sequential)}`,
      ratio: pgOne / raw.sequential,
      target: "≤ 4 raw commits",
      ok: pgOne / raw.sequential <= 4,
    },
    {
      scenario: "ten-step run end to end, PostgreSQL",
      figure: `${us(pgTen)}/run`,
      baseline: `raw INSERT ${us(raw.sequential)}`,
      ratio: pgTen / raw.sequential,
      target: "— (issue: 4.2 ms; DBOS 13.2 ms)",
      ok: undefined,
    },
    {
      scenario: "PostgreSQL, starts one after another while a worker drains them",
      figure: perSecond(drain, "starts"),
      baseline: `raw INSERT one after another: ${perSecond(rawRate, "rows")}`,
      ratio: drain / rawRate,
      target: "≥ 3,000 starts/s",
      ok: drain >= 3000,
    },
    {
      scenario: "PostgreSQL, 8 runs in flight, each start → 10 steps → result",
      figure: perSecond(eight, "steps"),
      baseline: `raw INSERT, 16 conns: ${perSecond(raw.rate16, "rows")}`,
      ratio: eight / raw.rate16,
      target: "≥ 6,400 steps/s",
      ok: eight >= 6400,
    },
  ];
}

/**
 * `deno task bench breakdown`: where a one-step run's time goes, per driver
 * call (and per SQL statement on PostgreSQL), averaged over runs started and
 * awaited one after another. Prints the breakdown; adds no table rows.
 */
export async function breakdownScenarios(): Promise<Row[]> {
  const runs = 500;
  const sqliteTally: Tally = new Map();
  const sqliteUs = await withFile((path) =>
    oneAfterAnother(counted(new SqliteDriver({ path }), sqliteTally), chain(1), runs, 1)
  );
  const pgTally: Tally = new Map();
  const statements: Tally = new Map();
  const pgUs = await withSchema(async (schema) => {
    const sql = postgres(URL, {
      max: 10,
      onnotice: () => {},
      debug: (_conn, query) => count(statements, query.replace(/\s+/g, " ").slice(0, 90), 0),
    });
    try {
      return await oneAfterAnother(
        counted(new PostgresDriver({ sql, schema }), pgTally),
        chain(1),
        runs,
        1,
      );
    } finally {
      await sql.end();
    }
  });
  // The warm-up runs (20) are counted too.
  const total = runs + 20;
  console.log(`\nOne-step run, SQLite: ${us(sqliteUs)}/run; driver calls per run:`);
  for (const line of perRun(sqliteTally, total)) console.log(`  ${line}`);
  console.log(`\nOne-step run, PostgreSQL: ${us(pgUs)}/run; driver calls per run:`);
  for (const line of perRun(pgTally, total)) console.log(`  ${line}`);
  console.log(`PostgreSQL statements per run:`);
  for (const line of perRun(statements, total)) console.log(`  ${line.replace(/, 0\.0 µs$/, "")}`);
  console.log("");
  return [];
}
