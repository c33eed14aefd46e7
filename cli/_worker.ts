/**
 * `sluice worker` and `sluice schedules`: run a worker for the workflows and
 * schedules a module exports, and operate schedules.
 *
 * @module
 */
import { Workflow } from "../lib/builder.ts";
import type { Engine } from "../lib/engine.ts";
import { Schedule } from "../lib/schedule.ts";
import type { ScheduleInfo } from "../lib/schedules.ts";
import { brief, json, table } from "./_format.ts";
import type { CliIo } from "./mod.ts";

/** What a module exports: its named workflows and its schedules (with their workflows). */
export interface ModuleExports {
  // deno-lint-ignore no-explicit-any
  workflows: Workflow<any, any, any>[];
  schedules: Schedule<unknown>[];
}

/** Imports a module and collects every exported `Workflow` and `Schedule`. */
export async function loadModule(file: string): Promise<ModuleExports> {
  const url = new URL(file, `file://${Deno.cwd()}/`).href;
  const module = await import(url) as Record<string, unknown>;
  const workflows = new Set<Workflow<unknown, unknown, unknown>>();
  const schedules: Schedule<unknown>[] = [];
  for (const value of Object.values(module)) {
    if (value instanceof Workflow && value.name !== "") workflows.add(value);
    else if (value instanceof Schedule) {
      schedules.push(value);
      workflows.add(value.workflow);
    }
  }
  return { workflows: [...workflows], schedules };
}

/**
 * Runs a worker until SIGINT or SIGTERM, then stops it gracefully (steps in
 * flight finish or hand their runs back).
 */
export async function runWorker(
  engine: Engine,
  found: ModuleExports,
  options: { concurrency?: number },
  io: CliIo,
): Promise<number> {
  const worker = engine.worker(
    options.concurrency === undefined ? {} : { concurrency: options.concurrency },
  );
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => stop = resolve);
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    await worker.start();
    io.out(
      `Worker ${worker.id} serving ${found.workflows.length} workflow(s) and ${found.schedules.length} schedule(s); stop with Ctrl+C`,
    );
    await stopped;
    io.out(`Stopping worker ${worker.id}…`);
    await worker.stop();
    io.out("Stopped");
    return 0;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
}

function timing(s: ScheduleInfo): string {
  if (s.cron !== undefined) return s.timezone === "UTC" ? s.cron : `${s.cron} (${s.timezone})`;
  return `every ${s.every! % 1000 === 0 ? `${s.every! / 1000}s` : `${s.every}ms`}`;
}

/** The schedules table of `sluice schedules list`. */
export function schedulesTable(schedules: ScheduleInfo[]): string {
  return table(
    ["ID", "WORKFLOW", "WHEN", "STATE", "NEXT", "LAST RUN", "SKIPPED", "SOURCE"],
    schedules.map((s) => [
      s.id,
      s.workflow,
      timing(s),
      s.paused ? "paused" : "active",
      s.nextAt ? brief(s.nextAt) : "",
      s.lastRunId ?? "",
      String(s.skipped),
      s.source,
    ]),
  );
}

/** `sluice schedules [list|pause|resume|trigger|delete] [id]`. */
export async function schedulesCommand(
  engine: Engine,
  args: readonly string[],
  options: { json: boolean; module: boolean },
  io: CliIo,
): Promise<number> {
  const [action = "list", id] = args;
  if (action === "list") {
    const schedules = await engine.schedules.list();
    io.out(options.json ? json(schedules) : schedulesTable(schedules));
    return 0;
  }
  if (!["pause", "resume", "trigger", "delete"].includes(action)) {
    throw new TypeError(
      `Cannot run 'schedules ${action}': use list, pause, resume, trigger or delete`,
    );
  }
  if (id === undefined) throw new TypeError(`Missing a schedule id for 'schedules ${action}'`);
  switch (action) {
    case "pause":
    case "resume": {
      const info = await engine.schedules[action](id);
      io.out(options.json ? json(info) : `${info.paused ? "Paused" : "Resumed"} ${id}`);
      return 0;
    }
    case "trigger": {
      if (!options.module) {
        throw new TypeError(
          `Cannot trigger schedule '${id}' without its workflow: pass --module with the module that exports it`,
        );
      }
      const run = await engine.schedules.trigger(id);
      io.out(options.json ? json({ runId: run.id }) : `Started ${run.id}`);
      return 0;
    }
    default: {
      await engine.schedules.delete(id);
      io.out(options.json ? json({ ok: true }) : `Deleted ${id}`);
      return 0;
    }
  }
}
