/**
 * The cost of fairness (SPEC §2): a busy worker yields to the event loop once
 * per time slice. Sequential no-op steps on the memory driver and on a SQLite
 * file, with yielding on and off, rounds interleaved so that both see the same
 * machine load.
 */
import { setImmediate } from "node:timers";
import { Engine, LocalRunner } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { setYieldSlice, SLICE_MS } from "../lib/yield.ts";
import { median, type Row, us } from "./_harness.ts";
import { chain } from "./_durable.ts";

const STEPS = 1_000;

/** Event-loop turns that end each timed round (see `perStep`). */
const SETTLE_TURNS = 3;

/**
 * Microseconds per step of `runs` runs of a 1,000-step chain on `run`. The
 * timed window ends with a few event-loop turns: work that never yields
 * defers the macrotasks that came due meanwhile (timers, V8's own tasks) to
 * the first turn after the loop, and without these turns that deferred work
 * would fall outside the window of the never-yielding side only.
 */
async function perStep(runs: number, run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < runs; i++) await run();
  for (let i = 0; i < SETTLE_TURNS; i++) await new Promise((resolve) => setImmediate(resolve));
  return ((performance.now() - started) * 1000) / (runs * STEPS);
}

/** Median µs per step with yielding on and off, over interleaved rounds. */
async function compare(
  rounds: number,
  measure: () => Promise<number>,
): Promise<{ on: number; off: number }> {
  const on: number[] = [];
  const off: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const slice of round % 2 ? [SLICE_MS, Infinity] : [Infinity, SLICE_MS]) {
      const previous = setYieldSlice(slice);
      try {
        (slice === Infinity ? off : on).push(await measure());
      } finally {
        setYieldSlice(previous);
      }
    }
  }
  return { on: median(on), off: median(off) };
}

async function memory(): Promise<number> {
  const wf = chain(STEPS);
  await using runner = new LocalRunner({ workflows: [wf] });
  for (let i = 0; i < 3; i++) await runner.run(wf, 1);
  return await perStep(40, () => runner.run(wf, 1));
}

async function sqlite(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "sluice-bench-" });
  try {
    const wf = chain(STEPS);
    await using engine = new Engine({
      driver: new SqliteDriver({ path: `${dir}/bench.db` }),
      workflows: [wf],
    });
    await using worker = engine.worker({ concurrency: 1 });
    await worker.start();
    await (await engine.start(wf, 0)).result();
    return await perStep(3, async () => await (await engine.start(wf, 1)).result());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function row(driver: string, { on, off }: { on: number; off: number }): Row {
  const ratio = on / off;
  return {
    scenario: `${driver}, 1,000 sequential steps, yielding every ${SLICE_MS} ms (per step)`,
    figure: us(on),
    baseline: `${us(off)} (never yielding)`,
    ratio,
    target: "≤ 1.05×",
    ok: ratio <= 1.05,
  };
}

/** Runs the fairness scenarios. */
export async function fairnessScenarios(): Promise<Row[]> {
  return [row("memory", await compare(15, memory)), row("SQLite", await compare(11, sqlite))];
}
