/**
 * Scale scenarios (`deno task bench scale`, not in the default set: they take
 * minutes). A worker's resident memory after 100,000 runs against after 1,000
 * (SQLite file, one engine and worker, 64 runs in flight).
 */
import { Engine } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import type { Row } from "./_harness.ts";
import { chain } from "./_durable.ts";
import { withFile } from "./sqlite.ts";

const MB = 1024 * 1024;

/** Runs `total` one-step runs, `inFlight` at a time; calls `at(done)` at each checkpoint. */
async function drive(
  engine: Engine,
  total: number,
  inFlight: number,
  checkpoints: number[],
  at: (done: number) => void,
): Promise<void> {
  const wf = chain(1);
  let next = 0;
  let done = 0;
  const marks = [...checkpoints];
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < total) {
      next++;
      await (await engine.start(wf, next)).result();
      done++;
      if (marks.length > 0 && done >= marks[0]!) at(marks.shift()!);
    }
  }));
}

/** Resident memory (MB) of a worker process after 1,000 and after 100,000 runs. */
async function residentMemory(
  total: number,
): Promise<{ early: number; late: number; earlyHeap: number; lateHeap: number }> {
  return await withFile(async (path) => {
    const wf = chain(1);
    await using engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [wf] });
    await using worker = engine.worker({ concurrency: 64 });
    await worker.start();
    const rss: Record<number, number> = {};
    const heap: Record<number, number> = {};
    await drive(engine, total, 64, [1_000, total], (done) => {
      const usage = Deno.memoryUsage();
      rss[done] = usage.rss / MB;
      heap[done] = usage.heapUsed / MB;
    });
    return {
      early: rss[1_000]!,
      late: rss[total]!,
      earlyHeap: heap[1_000]!,
      lateHeap: heap[total]!,
    };
  });
}

/** Runs the scale scenarios. */
export async function scaleScenarios(): Promise<Row[]> {
  const total = Number(Deno.env.get("SLUICE_BENCH_RUNS") ?? 100_000);
  const memory = await residentMemory(total);
  return [{
    scenario: `a worker over ${total.toLocaleString("en-US")} runs (SQLite): resident memory`,
    figure: `${memory.late.toFixed(0)} MB (JS heap used ${memory.lateHeap.toFixed(0)} MB)`,
    baseline: `${memory.early.toFixed(0)} MB (heap ${memory.earlyHeap.toFixed(0)} MB) after 1,000`,
    ratio: memory.late / memory.early,
    target: "≤ 1.2× (no leak)",
    ok: memory.late / memory.early <= 1.2,
  }];
}
