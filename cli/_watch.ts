/**
 * `sluice watch [runId]`: history events as they are committed, a line each
 * (`--json`: one JSON object a line, with its cursor, for scripts). Without a
 * run id it follows every run (or one workflow's) from now on until SIGINT;
 * with one it prints the run's events from its start and ends with the run.
 *
 * @module
 */
import type { RunClient } from "../lib/client.ts";
import type { WatchEvent } from "../lib/watch.ts";
import type { CliIo } from "./mod.ts";
import { eventDetail } from "./_format.ts";

const FINAL = new Set(["run.completed", "run.failed", "run.cancelled"]);

/** One line for people: time, run, event, step and what it carries. */
export function watchLine(e: WatchEvent): string {
  const detail = eventDetail({ ...e.detail, type: e.type, at: e.at, seq: 0 } as never);
  return [
    e.at.toISOString().replace("T", " ").slice(0, 23),
    e.runId,
    e.type,
    e.step ?? "",
    e.detail.attempt !== undefined ? `attempt ${e.detail.attempt}` : "",
    detail,
  ].filter((part) => part !== "").join("  ");
}

/** Runs `sluice watch`; resolves with the exit code once the watch ends. */
export async function watchCommand(
  client: RunClient,
  runId: string | undefined,
  options: { json: boolean; after?: string; workflow?: string },
  io: CliIo,
): Promise<number> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  try {
    if (runId !== undefined) await client.get(runId); // an unknown run is an error at once
    const after = options.after; // without it: from now on, or the run's start
    const events = client.watch(
      {
        ...(runId !== undefined ? { runId } : {}),
        ...(options.workflow !== undefined ? { workflow: options.workflow } : {}),
      },
      { signal: controller.signal, ...(after !== undefined ? { after } : {}) },
    );
    for await (const e of events) {
      io.out(options.json ? JSON.stringify(e) : watchLine(e));
      if (runId !== undefined && FINAL.has(e.type)) break;
    }
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
  }
}
