/** Memory scenarios of SPEC §6: sequential steps and parallel branches on LocalRunner. */
import { LocalRunner, type Workflow, workflow } from "../mod.ts";
import { median, type Row, time, us } from "./_harness.ts";

function sequence(steps: number): Workflow<number, number, number> {
  let wf: Workflow<number, number, number> = workflow<number>(`bench-seq-${steps}`);
  for (let i = 0; i < steps; i++) wf = wf.step(`s${i}`, (v: number) => v);
  return wf;
}

function fanOut(branches: number): Workflow<number, unknown, number> {
  const list = Array.from({ length: branches }, () => (v: number) => v);
  return workflow<number>(`bench-par-${branches}`).parallel("fan", list);
}

/** Microseconds per unit for `runs` runs of `wf` on one fresh runner, median of rounds. */
async function perUnit(
  wf: Workflow<number, unknown, number>,
  units: number,
  runs: number,
  rounds: number,
): Promise<number> {
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await using runner = new LocalRunner();
    for (let i = 0; i < 5; i++) await runner.run(wf, 1);
    const [ms] = await time(
      async () => {
        for (let i = 0; i < runs; i++) await runner.run(wf, 1);
      },
      1,
      0,
    );
    samples.push((ms! * 1000) / (runs * units));
  }
  return median(samples);
}

/** One plain `await` of a resolved async function, in microseconds. */
async function awaitBaseline(): Promise<number> {
  // deno-lint-ignore require-await
  const step = async (v: number) => v;
  const samples = await time(
    async () => {
      let v = 0;
      for (let i = 0; i < 1_000_000; i++) v = await step(v);
      return v;
    },
    5,
    1,
  );
  return (median(samples) * 1000) / 1_000_000;
}

/** Runs the memory scenarios. */
export async function memoryScenarios(): Promise<Row[]> {
  const baseline = await awaitBaseline();
  const seq1000 = await perUnit(sequence(1000), 1000, 40, 7);
  const seq10 = await perUnit(sequence(10), 10, 2000, 7);
  const par100 = await perUnit(fanOut(100), 100, 400, 7);
  return [
    {
      scenario: "memory LocalRunner, 1,000 sequential no-op steps (per step)",
      figure: us(seq1000),
      baseline: `${us(baseline)} (one await)`,
      ratio: seq1000 / baseline,
      target: "≤ 1 µs per step",
      ok: seq1000 <= 1,
    },
    {
      scenario: "memory, per-step cost at 1,000 steps vs at 10",
      figure: `${us(seq1000)} vs ${us(seq10)}`,
      baseline: us(seq10),
      ratio: seq1000 / seq10,
      target: "≤ 1.5×",
      ok: seq1000 / seq10 <= 1.5,
    },
    {
      scenario: "memory, 100 parallel branches (per branch)",
      figure: us(par100),
      baseline: `${us(baseline)} (one await)`,
      ratio: par100 / baseline,
      target: "≤ 2 µs per branch",
      ok: par100 <= 2,
    },
  ];
}
