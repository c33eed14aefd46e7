/**
 * Scale: a store holding a million finished runs against an empty one, on
 * SQLite and PostgreSQL. Both stores hold the same live runs (created through
 * the public API); the full one also a bulk copy of one real finished run
 * (`_bulk.ts`). Measured with the public API: a fresh run's claim, the next
 * due time, one-step runs end to end, and the first page of `list` without
 * and with the common filters. The query plans of those statements are
 * printed (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN (ANALYZE, BUFFERS)` on
 * PostgreSQL).
 */
import postgres from "postgres";
import { DatabaseSync } from "node:sqlite";
import { type Driver, Engine, type RunFilter, workflow } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { listStatement, Statements } from "../drivers/sqlite/internals.ts";
import { listQuery, statements as pgStatements } from "../drivers/postgres/internals.ts";
import { median } from "./_harness.ts";
import { chain } from "./_durable.ts";
import { fillPostgres, fillSqlite } from "./_bulk.ts";
import { URL as POSTGRES_URL } from "./postgres.ts";

/** The list pages measured: the default page and the common filters. */
export const LIST_FILTERS: { name: string; filter: RunFilter }[] = [
  { name: "list(), first page", filter: {} },
  { name: "list({ status: 'pending' }) (5 of them)", filter: { status: "pending" } },
  { name: "list({ status: 'completed' })", filter: { status: "completed" } },
  { name: "list({ workflow }) (121 live runs)", filter: { workflow: "bench-chain-1" } },
  { name: "list({ labels }) (121 live runs)", filter: { labels: { tenant: "live" } } },
];

/** The figures of one store (milliseconds, medians), and its plans. */
export interface StoreFigures {
  /** Runs stored. */
  stored: number;
  claim: number;
  nextDue: number;
  run: number;
  list: number[];
  plans: string[];
  /** PostgreSQL: the server-side execution time of claim, next due and each list (ms, medians). */
  exec?: number[];
}

const ROUNDS = 31;

/** The milliseconds of the part of a call that was timed. */
class Part {
  constructor(readonly ms: number) {}
}

/**
 * Times `fn` on each store in turn, round after round (so both see the same
 * machine load); returns each store's median milliseconds. `fn` may return a
 * `Part` to report the milliseconds of the part it timed itself.
 */
async function interleaved(
  stores: number,
  fn: (store: number) => Promise<unknown>,
): Promise<number[]> {
  const samples: number[][] = Array.from({ length: stores }, () => []);
  for (let round = -3; round < ROUNDS; round++) {
    for (let i = 0; i < stores; i++) {
      const started = performance.now();
      const part = await fn(i);
      const ms = part instanceof Part ? part.ms : performance.now() - started;
      if (round >= 0) samples[i]!.push(ms);
    }
  }
  return samples.map(median);
}

const parked = workflow<number>("scale-parked").step("s", (v: number) => v);

/**
 * The live runs every store holds: 121 finished one-step runs (label
 * tenant=live; more than a page), 5 pending.
 */
async function live(driver: () => Driver, fill: (templateId: string) => Promise<void>) {
  const wf = chain(1);
  {
    await using engine = new Engine({ driver: driver(), workflows: [wf] });
    await using worker = engine.worker({ concurrency: 8 });
    await worker.start();
    const template = await engine.start(wf, 0, { labels: { tenant: "live" } });
    await template.result();
    await worker.stop();
    await engine.close();
    await fill(template.id);
  }
  const engine = new Engine({ driver: driver(), workflows: [wf, parked] });
  {
    await using worker = engine.worker({ concurrency: 8 });
    await worker.start();
    const handles = await Promise.all(
      Array.from({ length: 120 }, (_, i) => engine.start(wf, i, { labels: { tenant: "live" } })),
    );
    await Promise.all(handles.map((h) => h.result()));
  }
  // Pending, due in a day: never claimed here.
  for (let i = 0; i < 5; i++) {
    await engine.start(parked, i, { startAt: Date.now() + 86_400_000 });
  }
  return engine;
}

/** Measures the stores, interleaved (no worker running but the ones timed end to end). */
async function measure(engines: Engine[]): Promise<Omit<StoreFigures, "plans" | "stored">[]> {
  const wf = chain(1);
  const lists: number[][] = [];
  for (const { filter } of LIST_FILTERS) {
    lists.push(await interleaved(engines.length, (i) => engines[i]!.list(filter)));
  }
  const claims = await interleaved(engines.length, async (i) => {
    const engine = engines[i]!;
    await engine.start(wf, 1);
    const now = Date.now();
    const started = performance.now();
    const claimed = await engine.driver.claimRuns({
      workerId: "scale-bench",
      now,
      leaseMs: 60_000,
      limit: 1,
      workflows: [wf.name],
    });
    const ms = performance.now() - started;
    if (claimed.length !== 1) throw new Error("the bench claimed no run");
    return new Part(ms);
  });
  const nextDue = await interleaved(
    engines.length,
    (i) => engines[i]!.driver.nextDueAt([wf.name, parked.name]),
  );
  const workers = engines.map((engine) => engine.worker({ concurrency: 1 }));
  let runs: number[];
  try {
    for (const worker of workers) await worker.start();
    runs = await interleaved(
      engines.length,
      async (i) => await (await engines[i]!.start(wf, 1)).result(),
    );
  } finally {
    for (const worker of workers) await worker.stop();
  }
  return engines.map((_, i) => ({
    claim: claims[i]!,
    nextDue: nextDue[i]!,
    run: runs[i]!,
    list: lists.map((l) => l[i]!),
  }));
}

/** SQLite: an empty store and one holding `count` bulk-copied finished runs. */
export async function sqliteStores(count: number): Promise<StoreFigures[]> {
  const dir = await Deno.makeTempDir({ prefix: "sluice-scale-" });
  const paths = [`${dir}/empty.db`, `${dir}/full.db`];
  try {
    const engines: Engine[] = [];
    try {
      for (const [i, path] of paths.entries()) {
        engines.push(
          await live(
            () => new SqliteDriver({ path }),
            (template) => Promise.resolve(i === 0 ? undefined : fillSqlite(path, template, count)),
          ),
        );
      }
      const figures = await measure(engines);
      return figures.map((f, i) => {
        const db = new DatabaseSync(paths[i]!);
        try {
          const { n } = db.prepare("SELECT count(*) AS n FROM runs").get() as { n: number };
          return { ...f, stored: n, plans: sqlitePlans(db) };
        } finally {
          db.close();
        }
      });
    } finally {
      for (const engine of engines) await engine.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function sqlitePlans(db: DatabaseSync): string[] {
  {
    const s = new Statements(db);
    const plan = (name: string, sql: string, params: unknown[]) => {
      const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(params as never[])) as {
        detail: string;
      }[];
      return `${name}: ${rows.map((r) => r.detail).join("; ")}`;
    };
    const workflows = JSON.stringify(["bench-chain-1"]);
    const out = [
      plan("claim (priority ≠ 0)", s.claimPrioritized.sourceSQL, [Date.now(), workflows, 1]),
      plan("claim (priority 0)", s.claimPlain.sourceSQL, [Date.now(), workflows, 1]),
      plan("next due", s.nextDue.sourceSQL, [workflows]),
    ];
    for (const { name, filter } of LIST_FILTERS) {
      const { sql, params } = listStatement({ ...filter, limit: 50 });
      out.push(plan(name, sql, params));
    }
    return out;
  }
}

/** PostgreSQL: an empty store and one holding `count` bulk-copied finished runs. */
export async function postgresStores(count: number): Promise<StoreFigures[]> {
  const schemas = ["sluice_scale_empty", "sluice_scale"];
  const sql = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
  const drop = () =>
    Promise.all(schemas.map((schema) => sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)));
  try {
    await drop();
    const engines: Engine[] = [];
    try {
      for (const [i, schema] of schemas.entries()) {
        engines.push(
          await live(
            () => new PostgresDriver({ url: POSTGRES_URL, schema }),
            (template) =>
              i === 0 ? Promise.resolve() : fillPostgres(POSTGRES_URL, schema, template, count),
          ),
        );
      }
      // The bulk load's dirty pages written out, so they do not slow what is timed.
      await sql.unsafe("CHECKPOINT");
      const figures = await measure(engines);
      const out: StoreFigures[] = [];
      for (const [i, f] of figures.entries()) {
        const [{ n }] = await sql.unsafe(
          `SELECT count(*)::int AS n FROM ${schemas[i]}.runs`,
        ) as unknown as [{ n: number }];
        // A run due now, so the claim's plan shows a claim.
        await engines[i]!.start(chain(1), 1);
        const { plans, exec } = await postgresPlans(sql, schemas[i]!);
        out.push({ ...f, stored: n, plans, exec });
      }
      return out;
    } finally {
      for (const engine of engines) await engine.close();
    }
  } finally {
    await drop();
    await sql.end();
  }
}

/**
 * The plans of the claim, next-due and list statements on one schema, and the
 * median server-side execution time of each (EXPLAIN ANALYZE, 11 times; the
 * claim's writes rolled back), which the machine's load on the client side
 * does not blur.
 */
async function postgresPlans(
  sql: postgres.Sql,
  schema: string,
): Promise<{ plans: string[]; exec: number[] }> {
  const st = pgStatements(`"${schema}"`);
  const explain = async (text: string, params: unknown[]) => {
    let lines: string[] = [];
    await sql.begin(async (tx) => {
      const rows = await tx.unsafe(
        `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY ON) ${text}`,
        params as never[],
      );
      lines = rows.map((r) => String(r["QUERY PLAN"]));
      throw new Rollback();
    }).catch((error) => {
      if (!(error instanceof Rollback)) throw error;
    });
    return lines;
  };
  const statements: [string, string, unknown[]][] = [
    ["claim", st.claimRunsUpTo(1), [Date.now(), ["bench-chain-1"], 1, "explain", 60_000]],
    ["next due", st.nextDueAt, [["bench-chain-1", "scale-parked"]]],
    ...LIST_FILTERS.map(({ name, filter }): [string, string, unknown[]] => {
      const { text, params } = listQuery(st.listRuns, filter);
      return [name, text, params];
    }),
  ];
  const plans: string[] = [];
  const exec: number[] = [];
  for (const [name, text, params] of statements) {
    const samples: number[] = [];
    let lines: string[] = [];
    for (let i = 0; i < 11; i++) {
      lines = await explain(text, params);
      const ms = lines.map((l) => l.match(/Execution Time: ([\d.]+) ms/)?.[1]).find(Boolean);
      samples.push(Number(ms));
    }
    exec.push(median(samples));
    plans.push(`${name}:\n${lines.map((l) => `    ${l}`).join("\n")}`);
  }
  return { plans, exec };
}

class Rollback extends Error {}
