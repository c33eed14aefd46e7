/**
 * Scale scenarios (`deno task bench scale`, not in the default set: they take
 * minutes). `SLUICE_BENCH_STORED` sets the stored runs (1,000,000),
 * `SLUICE_BENCH_RUNS` the runs of the memory scenario (100,000).
 *
 * - A store holding a million finished runs against an empty one, SQLite and
 *   PostgreSQL: a fresh run's claim, the next due time, a one-step run end to
 *   end and the first `list` page, plain and filtered (`_scale_stores.ts`);
 *   the query plans go to stderr.
 * - One, two and three worker processes draining one backlog on one
 *   PostgreSQL database (`_scale_workers.ts`).
 * - A worker's resident memory over 100,000 runs, in a process of its own
 *   with a forced GC at each mark (`_scale_memory.ts`).
 */
import type { Row } from "./_harness.ts";
import { LIST_FILTERS, postgresStores, sqliteStores, type StoreFigures } from "./_scale_stores.ts";
import { drainRate } from "./_scale_workers.ts";

const ms = (value: number) => `${value < 1 ? value.toFixed(3) : value.toFixed(2)} ms`;

/** The rows comparing a full store with an empty one. */
function storeRows(kind: string, empty: StoreFigures, full: StoreFigures): Row[] {
  const stored = `${full.stored.toLocaleString("en-US")} runs stored`;
  const row = (what: string, figure: number, baseline: number): Row => ({
    scenario: `${kind}, ${stored}: ${what}`,
    figure: ms(figure),
    baseline: `${ms(baseline)} (${empty.stored} runs)`,
    ratio: figure / baseline,
    target: "≤ 1.2× the small store",
    ok: figure / baseline <= 1.2,
  });
  const rows = [
    row("claim a fresh run (claimRuns)", full.claim, empty.claim),
    row("next due time (nextDueAt)", full.nextDue, empty.nextDue),
    row("one-step run end to end", full.run, empty.run),
    ...LIST_FILTERS.map(({ name }, i) => row(name, full.list[i]!, empty.list[i]!)),
  ];
  if (full.exec && empty.exec) {
    // For reference: the server's own time, which the client's load does not blur.
    const names = ["claim", "next due", ...LIST_FILTERS.map((l) => l.name)];
    for (const [i, name] of names.entries()) {
      rows.push({
        ...row(`${name}, database time (EXPLAIN ANALYZE)`, full.exec[i]!, empty.exec[i]!),
        target: "— (reference)",
        ok: undefined,
      });
    }
  }
  return rows;
}

function printPlans(kind: string, figures: StoreFigures): void {
  console.error(`\n${kind}, ${figures.stored.toLocaleString("en-US")} runs stored: query plans`);
  for (const plan of figures.plans) console.error(`  ${plan}`);
}

/** Runs/s of 1, 2 and 3 worker processes, as rows against one. */
async function workerRows(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [steps, runs] of [[1, 3_000], [10, 1_000]] as const) {
    const rates: number[] = [];
    for (const workers of [1, 2, 3]) rates.push(await drainRate(workers, steps, runs, 32));
    for (const workers of [2, 3]) {
      const rate = rates[workers - 1]!;
      rows.push({
        scenario: `PostgreSQL, ${workers} worker processes drain ${runs.toLocaleString("en-US")} ${
          steps === 1 ? "one-step" : `${steps}-step`
        } runs`,
        figure: `${Math.round(rate).toLocaleString("en-US")} runs/s`,
        baseline: `one process: ${Math.round(rates[0]!).toLocaleString("en-US")} runs/s`,
        ratio: rate / rates[0]!,
        target: "≥ 1× one process",
        ok: rate >= rates[0]!,
      });
    }
  }
  return rows;
}

interface MemoryMark {
  done: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  young: number;
  db: number;
}

/** The memory process's marks. */
async function memoryMarks(total: number): Promise<MemoryMark[]> {
  const script = new URL("./_scale_memory.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--v8-flags=--expose-gc", script, String(total)],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error("the memory process failed");
  return new TextDecoder().decode(output.stdout).trim().split("\n").map((line) =>
    JSON.parse(line) as MemoryMark
  );
}

async function memoryRows(total: number): Promise<Row[]> {
  const marks = await memoryMarks(total);
  const at = (done: number) => marks.find((m) => m.done === done)!;
  const first = at(1_000);
  const half = at(Math.round(total / 2));
  const last = at(total);
  console.error("\nmemory marks (MB, after a forced GC):");
  for (const m of marks) {
    console.error(
      `  ${m.done.toLocaleString("en-US")} runs: RSS ${m.rss.toFixed(0)}, V8 heap ${
        m.heapTotal.toFixed(0)
      } (young generation ${m.young.toFixed(0)}, in use ${m.heapUsed.toFixed(1)}), database ${
        m.db.toFixed(0)
      }`,
    );
  }
  const n = total.toLocaleString("en-US");
  return [{
    scenario: `a worker over ${n} runs (SQLite, 64 in flight): resident memory`,
    figure: `${last.rss.toFixed(0)} MB`,
    baseline: `${first.rss.toFixed(0)} MB after 1,000`,
    ratio: last.rss / first.rss,
    target: "≤ 1.2×",
    ok: last.rss / first.rss <= 1.2,
  }, {
    scenario: `… resident memory over the second half of the runs (caches at their size)`,
    figure: `${last.rss.toFixed(0)} MB`,
    baseline: `${half.rss.toFixed(0)} MB after ${half.done.toLocaleString("en-US")}`,
    ratio: last.rss / half.rss,
    target: "≤ 1.2×",
    ok: last.rss / half.rss <= 1.2,
  }, {
    scenario: `… JS heap in use after a forced GC (leaks)`,
    figure: `${last.heapUsed.toFixed(1)} MB`,
    baseline: `${first.heapUsed.toFixed(1)} MB after 1,000`,
    ratio: last.heapUsed / first.heapUsed,
    target: "≤ 1.2× (no leak)",
    ok: last.heapUsed / first.heapUsed <= 1.2,
  }];
}

/** Runs the scale scenarios. */
export async function scaleScenarios(): Promise<Row[]> {
  const stored = Number(Deno.env.get("SLUICE_BENCH_STORED") ?? 1_000_000);
  const total = Number(Deno.env.get("SLUICE_BENCH_RUNS") ?? 100_000);
  const rows: Row[] = [];
  const [sqliteEmpty, sqliteFull] = await sqliteStores(stored);
  printPlans("SQLite", sqliteFull!);
  rows.push(...storeRows("SQLite", sqliteEmpty!, sqliteFull!));
  const [pgEmpty, pgFull] = await postgresStores(stored);
  printPlans("PostgreSQL", pgFull!);
  rows.push(...storeRows("PostgreSQL", pgEmpty!, pgFull!));
  rows.push(...await workerRows());
  rows.push(...await memoryRows(total));
  return rows;
}
