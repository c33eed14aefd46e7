/**
 * Workers are visible: each started worker keeps a heartbeat row (id, host,
 * pid, started, last seen, the workflow versions it serves), and a run that
 * no live worker can execute is flagged `stalled: "no-worker"` when read.
 *
 * @module
 */
import { hostname } from "node:os";
import process from "node:process";
import type { StoredRun, StoredWorker } from "./driver.ts";
import { isFinished } from "./driver.ts";
import type { Runtime } from "./runtime.ts";
import { unrefTimer } from "./timers.ts";

/** How long a worker row outlives its last heartbeat before a heartbeat deletes it. */
const FORGET_AFTER_MS = 24 * 60 * 60 * 1000;

/** Whether a worker row is live at `now`: seen within three of its heartbeat intervals. */
export function isLive(worker: StoredWorker, now: number): boolean {
  return worker.lastSeenAt >= now - 3 * worker.heartbeatMs;
}

function machineName(): string {
  try {
    return hostname();
  } catch {
    // Deno without --allow-sys=hostname: the row still names the pid.
    return "unknown";
  }
}

/** @internal A started worker's heartbeat row, refreshed on a timer of real time. */
export class Presence {
  readonly #rt: Runtime;
  readonly #id: string;
  readonly #heartbeatMs: number;
  #startedAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = true;
  #writing: Promise<void> | undefined;

  constructor(rt: Runtime, id: string, heartbeatMs: number) {
    this.#rt = rt;
    this.#id = id;
    this.#heartbeatMs = heartbeatMs;
  }

  /** Records the row now and every heartbeat interval until `stop()`. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#startedAt = this.#rt.clock.now();
    this.#rt.localWorkers.add(this.#id);
    this.#beat();
  }

  #beat(): void {
    if (this.#stopped) return;
    const rt = this.#rt;
    const now = rt.clock.now();
    const row: StoredWorker = {
      id: this.#id,
      host: machineName(),
      pid: process.pid,
      startedAt: this.#startedAt,
      lastSeenAt: now,
      heartbeatMs: this.#heartbeatMs,
      serves: rt.served(),
    };
    this.#writing = rt.driver.recordWorker(row, now - FORGET_AFTER_MS).catch((error) => {
      rt.logger.warn(`worker ${this.#id} cannot record its heartbeat`, {
        error: error instanceof Error ? error.message : String(error),
      });
    }).finally(() => {
      if (this.#stopped) return;
      this.#timer = setTimeout(() => this.#beat(), this.#heartbeatMs);
      unrefTimer(this.#timer);
    });
  }

  /** Stops the heartbeats and deletes the row. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#rt.localWorkers.delete(this.#id);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing; // so the last heartbeat cannot land after the removal
    await this.#rt.driver.removeWorker(this.#id).catch(() => {
      // the row expires on its own
    });
  }
}

/**
 * The ids of the runs among `runs` that no live worker can execute: their
 * workflow's version (plan hash) is served by no worker of this process and
 * by no worker row seen within three heartbeat intervals. Finished and paused
 * runs are never stalled.
 */
export async function stalledRuns(rt: Runtime, runs: readonly StoredRun[]): Promise<Set<string>> {
  const stalled = new Set<string>();
  const open = runs.filter((run) =>
    !isFinished(run.status) && run.status !== "paused" &&
    !(rt.localWorkers.size > 0 && rt.workflowFor(run) !== undefined)
  );
  if (open.length === 0) return stalled;
  const now = rt.clock.now();
  const served = new Set<string>();
  for (const worker of await rt.driver.listWorkers()) {
    if (!isLive(worker, now)) continue;
    for (const s of worker.serves) served.add(`${s.workflow}\u0000${s.planHash}`);
  }
  for (const run of open) {
    if (!served.has(`${run.workflow}\u0000${run.planHash}`)) stalled.add(run.id);
  }
  return stalled;
}
