/** PostgreSQL scenarios of SPEC §6, each against raw INSERTs measured in the same run. */
import postgres from "postgres";
import { Engine, workflow } from "../mod.ts";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { median, perSecond, type Row, us } from "./_harness.ts";
import { chain, runConcurrently } from "./_durable.ts";

export const URL = Deno.env.get("SLUICE_POSTGRES_URL") ?? "postgres://postgres@127.0.0.1:5432/test";

export async function withSchema<T>(fn: (schema: string) => Promise<T>): Promise<T> {
  const schema = `sluice_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  try {
    return await fn(schema);
  } finally {
    const sql = postgres(URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`drop schema if exists "${schema}" cascade`);
    await sql.end();
  }
}

/** Raw autocommit single-row INSERTs: µs each one after another, and the rate with 16 connections. */
export async function rawInserts(): Promise<{ sequential: number; rate16: number }> {
  const sql = postgres(URL, { max: 16, onnotice: () => {} });
  try {
    await sql`drop table if exists sluice_bench_raw`;
    await sql`create table sluice_bench_raw (id bigserial primary key, run text, v text)`;
    for (let i = 0; i < 200; i++) {
      await sql`insert into sluice_bench_raw (run, v) values ('w', 'x')`;
    }
    const samples: number[] = [];
    for (let round = 0; round < 5; round++) {
      const started = performance.now();
      for (let i = 0; i < 300; i++) {
        await sql`insert into sluice_bench_raw (run, v) values ('r', 'x')`;
      }
      samples.push(((performance.now() - started) * 1000) / 300);
    }
    const started = performance.now();
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let i = 0; i < 300; i++) {
        await sql`insert into sluice_bench_raw (run, v) values ('c', 'x')`;
      }
    }));
    const rate16 = (16 * 300 * 1000) / (performance.now() - started);
    await sql`drop table sluice_bench_raw`;
    return { sequential: median(samples), rate16 };
  } finally {
    await sql.end();
  }
}

async function sequentialSteps(steps: number): Promise<number> {
  return await withSchema(async (schema) => {
    const wf = chain(steps);
    await using engine = new Engine({
      driver: new PostgresDriver({ url: URL, schema }),
      workflows: [wf],
    });
    await using worker = engine.worker({ concurrency: 1 });
    await worker.start();
    await (await engine.start(wf, 0)).result();
    const samples: number[] = [];
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      await (await engine.start(wf, round)).result();
      samples.push(((performance.now() - started) * 1000) / steps);
    }
    return median(samples);
  });
}

async function starts(count: number, inFlight: number): Promise<number> {
  return await withSchema(async (schema) => {
    const wf = workflow<number>("bench-start").step("a", (n) => n);
    await using engine = new Engine({
      driver: new PostgresDriver({ url: URL, schema }),
      workflows: [wf],
    });
    await engine.start(wf, 0);
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next < count) {
        next++;
        await engine.start(wf, next);
      }
    }));
    return (count * 1000) / (performance.now() - started);
  });
}

/** Runs the PostgreSQL scenarios. */
export async function postgresScenarios(): Promise<Row[]> {
  const raw = await rawInserts();
  const seq = await sequentialSteps(300);
  const concurrentMs = await withSchema((schema) =>
    runConcurrently(new PostgresDriver({ url: URL, schema }), chain(200), 8)
  );
  const concurrentRate = (8 * 200 * 1000) / concurrentMs;
  const startRate = await starts(3000, 64);
  return [
    {
      scenario: "PostgreSQL, sequential steps of one run (300 steps)",
      figure: `${us(seq)}/step`,
      baseline: `raw INSERT ${us(raw.sequential)}`,
      ratio: seq / raw.sequential,
      target: "≤ 1.3× raw",
      ok: seq / raw.sequential <= 1.3,
    },
    {
      scenario: "PostgreSQL, 8 concurrent runs × 200 steps",
      figure: perSecond(concurrentRate, "steps"),
      baseline: `raw INSERT, 16 conns: ${perSecond(raw.rate16, "rows")}`,
      ratio: concurrentRate / raw.rate16,
      target: "≥ 6,400 steps/s",
      ok: concurrentRate >= 6400,
    },
    {
      scenario: "PostgreSQL, workflow starts (64 in flight)",
      figure: perSecond(startRate, "starts"),
      baseline: `raw INSERT, 16 conns: ${perSecond(raw.rate16, "rows")}`,
      ratio: startRate / raw.rate16,
      target: "≥ 3,000 starts/s",
      ok: startRate >= 3000,
    },
  ];
}
