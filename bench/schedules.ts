/**
 * Schedules on SQLite (SPEC §6): 1,000 schedules firing every minute, one
 * worker. Firing lateness is the time from a slot to its run's creation (the
 * run started, durably); the time to the run's first step is shown too (it
 * also counts executing 1,000 runs at once). The idle CPU is measured between
 * two slots. Takes about two minutes of wall time.
 */
import { Engine, schedule, workflow } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { percentile, type Row } from "./_harness.ts";
import { cpuMs } from "./_durable.ts";

const COUNT = 1_000;
/** Worker concurrency: every run of a slot may execute at once. */
const CONCURRENCY = 1_000;
const MINUTE = 60_000;
const SLOTS = 2;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Runs the schedules scenario. */
export async function scheduleScenarios(): Promise<Row[]> {
  const dir = await Deno.makeTempDir({ prefix: "sluice-bench-schedules-" });
  try {
    const late: number[] = [];
    const tick = workflow<number>("bench-tick").step("tick", (slot, ctx) => {
      late.push(ctx.now().getTime() - slot);
      return slot;
    });
    const schedules = Array.from({ length: COUNT }, (_, i) =>
      schedule(`bench-${i}`, tick, {
        cron: "* * * * *",
        overlap: "allow",
        input: (slot) => slot.getTime(),
      }));
    await using engine = new Engine({
      driver: new SqliteDriver({ path: `${dir}/schedules.db` }),
      workflows: [tick],
      schedules,
    });
    const opening = performance.now();
    await using worker = engine.worker({ concurrency: CONCURRENCY });
    await worker.start(); // writes the 1,000 declared schedules first
    const openMs = performance.now() - opening;
    // Idle: from 15 s after a slot to 15 s before the next one.
    const firstSlot = Math.ceil(Date.now() / MINUTE) * MINUTE;
    await sleep(firstSlot + 15_000 - Date.now());
    const before = await cpuMs();
    const idleStart = performance.now();
    await sleep(firstSlot + MINUTE - 15_000 - Date.now());
    const idleMs = performance.now() - idleStart;
    const idleCpu = (await cpuMs()) - before;
    while (late.length < COUNT * SLOTS) await sleep(100);
    const created: number[] = [];
    for (let cursor: string | undefined, more = true; more;) {
      const page = await engine.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
      for (const run of page.runs) created.push(run.createdAt.getTime() - (run.input as number));
      cursor = page.nextCursor;
      more = cursor !== undefined;
    }
    const seconds = (ms: number) =>
      ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
    return [
      {
        scenario:
          "1,000 schedules every minute (SQLite, one worker): slot → run started, p99 (p50)",
        figure: `${seconds(percentile(created, 0.99))} (${seconds(percentile(created, 0.5))})`,
        baseline: `the slot; ${created.length} runs, declared in ${(openMs / 1000).toFixed(1)} s`,
        ratio: percentile(created, 0.99) / 1000,
        target: "≤ 1 s",
        ok: percentile(created, 0.99) <= 1000,
      },
      {
        scenario: `… slot → the run's first step, concurrency ${CONCURRENCY}, p99 (p50)`,
        figure: `${seconds(percentile(late, 0.99))} (${seconds(percentile(late, 0.5))})`,
        baseline: "the slot",
        ratio: percentile(late, 0.99) / 1000,
        target: "≤ 1 s",
        ok: percentile(late, 0.99) <= 1000,
      },
      {
        scenario: "1,000 schedules every minute (SQLite): CPU of the idle worker between slots",
        figure: `${idleCpu.toFixed(0)} ms CPU`,
        baseline: `${(idleMs / 1000).toFixed(0)} s wall`,
        ratio: idleCpu / idleMs,
        target: "~0 (no busy-polling)",
        ok: idleCpu / idleMs < 0.02,
      },
    ];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
