/**
 * What the dashboard needs from an engine, and the plans it draws.
 *
 * @module
 */
import type { Engine } from "../lib/engine.ts";
import type { Workflow } from "../lib/builder.ts";
import type { Plan } from "../lib/plan.ts";

/**
 * The operations the dashboard uses: an `Engine` has them all.
 *
 * @example An engine is a dashboard client
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver } from "@sluice/sluice";
 * import type { DashboardClient } from "@sluice/sluice/cli";
 *
 * await using engine = new Engine({ driver: new MemoryDriver() });
 * const client: DashboardClient = engine;
 * assert.deepEqual((await client.list()).runs, []);
 * ```
 */
export type DashboardClient = Pick<
  Engine,
  | "get"
  | "list"
  | "history"
  | "signal"
  | "cancel"
  | "retry"
  | "pause"
  | "resume"
  | "watch"
  | "fork"
  | "workers"
  | "schedules"
>;

/** Finds the plan of a run's workflow version by name and plan hash. */
export class PlanIndex {
  readonly #byKey = new Map<string, Plan>();

  /** Indexes workflows. */
  // deno-lint-ignore no-explicit-any
  constructor(workflows: readonly Workflow<any, any>[]) {
    for (const wf of workflows) this.#byKey.set(`${wf.name}\u0000${wf.planHash}`, wf.plan);
  }

  /** The plan a run started with, when its workflow version is known here. */
  find(workflow: string, planHash: string): Plan | undefined {
    return this.#byKey.get(`${workflow}\u0000${planHash}`);
  }
}
