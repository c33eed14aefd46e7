/**
 * `deno task bench [memory|sqlite|postgres ...]`: runs the benchmark scenarios
 * of SPEC §6 and prints one table. Every figure comes with a baseline measured
 * in the same run on the same machine; ratios are what count.
 */
import type { Row } from "./_harness.ts";
import { printTable } from "./_harness.ts";
import { memoryScenarios } from "./memory.ts";
import { sqliteScenarios } from "./sqlite.ts";
import { postgresScenarios } from "./postgres.ts";
import { fairnessScenarios } from "./fairness.ts";
import { scheduleScenarios } from "./schedules.ts";
import { flowScenarios } from "./flow.ts";
import { breakdownScenarios, runScenarios } from "./runs.ts";
import { scaleScenarios } from "./scale.ts";
import { dashboardScenarios } from "./dashboard.ts";

const groups: Record<string, () => Promise<Row[]>> = {
  memory: memoryScenarios,
  sqlite: sqliteScenarios,
  postgres: postgresScenarios,
  fairness: fairnessScenarios,
  schedules: scheduleScenarios,
  flow: flowScenarios,
  runs: runScenarios,
  dashboard: dashboardScenarios,
};
/** Groups run only when named (they print a breakdown or take long). */
const optional: Record<string, () => Promise<Row[]>> = {
  breakdown: breakdownScenarios,
  scale: scaleScenarios,
};

const wanted = Deno.args.length > 0 ? Deno.args : Object.keys(groups);
const rows: Row[] = [];
for (const name of wanted) {
  const run = groups[name] ?? optional[name];
  if (!run) {
    console.error(
      `Unknown benchmark group '${name}': use ${
        [...Object.keys(groups), ...Object.keys(optional)].join(", ")
      }`,
    );
    Deno.exit(2);
  }
  console.error(`running ${name} scenarios…`);
  rows.push(...await run());
}
printTable(rows);
