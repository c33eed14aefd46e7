/**
 * Flow control (SPEC §8.3): claim throughput of a backlog of one-step runs
 * drained by one worker, with a concurrency limit per key and with a rate
 * limit, against the same workload without limits, in the same run, on
 * SQLite and PostgreSQL. The limits are set high enough not to throttle, so
 * the ratio is the cost of enforcing them in the claim.
 */
import postgres from "postgres";
import { type Driver, Engine, type Workflow, workflow, type WorkflowOptions } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { median, perSecond, type Row } from "./_harness.ts";

const URL = Deno.env.get("SLUICE_POSTGRES_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
const RUNS = 1_000;
/** Rounds per variant, interleaved, so load from elsewhere hits every variant alike. */
const ROUNDS = 3;
const WORKER_CONCURRENCY = 16;

type Input = { i: number };

const variants: Record<string, WorkflowOptions<Input>> = {
  "no limits": {},
  "concurrency 8 per key, 4 keys": { concurrency: { limit: 8, key: (v) => `k${v.i % 4}` } },
  "rate limit 1,000,000/min": { rateLimit: { limit: 1_000_000, period: "1m" } },
};

/** Runs/s for a backlog of RUNS runs drained by one worker (the starts are not timed). */
async function drain(driver: Driver, wf: Workflow<Input, number, Input>): Promise<number> {
  await using engine = new Engine({ driver, workflows: [wf] });
  const handles = [];
  for (let i = 0; i < RUNS; i++) handles.push(await engine.start(wf, { i }));
  await using worker = engine.worker({ concurrency: WORKER_CONCURRENCY, pollInterval: 1000 });
  const started = performance.now();
  await worker.start();
  await Promise.all(handles.map((h) => h.result()));
  return (RUNS * 1000) / (performance.now() - started);
}

async function scenarios(
  kind: string,
  open: (variant: number) => Promise<{ driver: Driver; cleanup: () => Promise<void> }>,
): Promise<Row[]> {
  const samples: number[][] = Object.keys(variants).map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, options] of Object.values(variants).entries()) {
      const wf = workflow<Input>(`bench-flow-${i}`, options).step("a", (v) => v.i);
      const { driver, cleanup } = await open(round * 10 + i);
      try {
        samples[i]!.push(await drain(driver, wf));
      } finally {
        await cleanup();
      }
    }
  }
  const rates = samples.map(median);
  const base = rates[0]!;
  return Object.keys(variants).map((name, i) => ({
    scenario: `${kind}, claim throughput, ${RUNS} one-step runs, ${name} (median of ${ROUNDS})`,
    figure: perSecond(rates[i]!, "runs"),
    baseline: `no limits: ${perSecond(base, "runs")}`,
    ratio: rates[i]! / base,
    target: i === 0 ? "baseline" : "≥ 0.5× no limits",
    ok: i === 0 || rates[i]! / base >= 0.5,
  }));
}

/** Runs the flow-control scenarios. */
export async function flowScenarios(): Promise<Row[]> {
  const dir = await Deno.makeTempDir({ prefix: "sluice-bench-flow-" });
  const sqlite = await scenarios("SQLite", (i) =>
    Promise.resolve({
      driver: new SqliteDriver({ path: `${dir}/flow-${i}.db` }),
      cleanup: () => Promise.resolve(),
    }));
  await Deno.remove(dir, { recursive: true });
  const pg = await scenarios("PostgreSQL", (i) => {
    const schema = `sluice_bench_flow_${i}_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
    return Promise.resolve({
      driver: new PostgresDriver({ url: URL, schema }),
      cleanup: async () => {
        const sql = postgres(URL, { max: 1, onnotice: () => {} });
        await sql.unsafe(`drop schema if exists "${schema}" cascade`);
        await sql.end();
      },
    });
  });
  return [...sqlite, ...pg];
}
