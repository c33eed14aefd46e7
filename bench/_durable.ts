/** Workloads shared by the SQLite and PostgreSQL benchmarks. */
import { type Driver, Engine, type Workflow, workflow } from "../mod.ts";

/** A workflow of `steps` sequential no-op steps. */
export function chain(steps: number): Workflow<number, number, number> {
  let wf: Workflow<number, number, number> = workflow<number>(`bench-chain-${steps}`);
  for (let i = 0; i < steps; i++) wf = wf.step(`s${i}`, (v: number) => v);
  return wf;
}

/**
 * Runs `runs` runs of `wf` at once on one engine and worker over `driver`;
 * returns the wall time in milliseconds (from the first start to the last result).
 */
export async function runConcurrently(
  driver: Driver,
  wf: Workflow<number, number, number>,
  runs: number,
): Promise<number> {
  await using engine = new Engine({ driver, workflows: [wf] });
  await using worker = engine.worker({ concurrency: Math.max(runs, 1), pollInterval: 1000 });
  await worker.start();
  // Warm up: one run through every code path.
  await (await engine.start(wf, 0)).result();
  const started = performance.now();
  const handles = await Promise.all(Array.from({ length: runs }, (_, i) => engine.start(wf, i)));
  await Promise.all(handles.map((h) => h.result()));
  return performance.now() - started;
}

/** Milliseconds of CPU time (user + system) this process has used. */
export async function cpuMs(): Promise<number> {
  const { cpuUsage } = await import("node:process");
  const usage = cpuUsage();
  return (usage.user + usage.system) / 1000;
}
