/**
 * Pausing and resuming runs on PostgreSQL: one statement each (the update,
 * its history event and its `NOTIFY`), and the error when the run's status
 * refuses it.
 *
 * @module
 */
import type { DriverNotice, NewRun, RunStatus, StoredRun, StoredWorker } from "../../lib/driver.ts";
import { refusal } from "../../lib/driver_policy.ts";
import { RunNotFoundError } from "../../lib/errors.ts";
import {
  type RunColumns,
  runFromColumns,
  type WorkerColumns,
  workerFromColumns,
  workerParams,
} from "../columns.ts";
import type { Statements } from "./_sql.ts";
import {
  createChildParams,
  createFlowParams,
  createParams,
  type Query,
  stepArrays,
} from "./_writes.ts";

/** What pausing and resuming need from the driver. */
export interface ControlHost {
  readonly query: Query;
  readonly statements: Statements;
  readonly channel: string;
  payload(types: string, runId: string): string;
  emit(types: readonly DriverNotice["type"][], runId: string): void;
  status(runId: string): Promise<RunStatus | undefined>;
  getRun(runId: string): Promise<StoredRun | undefined>;
}

/** Creates a run with the rows it starts with (a fork), in one statement. */
export async function createWithSteps(
  host: ControlHost,
  run: NewRun,
  now: number,
): Promise<{ run: StoredRun; created: boolean }> {
  const [row] = await host.query(`create run '${run.id}'`, host.statements.createWithSteps, [
    ...createParams([{ run, now }]),
    host.channel,
    host.payload("runnable", ""),
    ...stepArrays(run.steps ?? [], 1),
    ...createFlowParams([{ run }]),
    ...createChildParams([{ run }]),
  ]);
  if (row) {
    const created = row.created === true;
    if (created) host.emit(["runnable"], run.id);
    return { run: runFromColumns(row as unknown as RunColumns), created };
  }
  // Inserted by a concurrent transaction after this statement's snapshot.
  const existing = await host.getRun(run.id);
  if (!existing) throw new RunNotFoundError(run.id);
  return { run: existing, created: false };
}

/** Pauses (`pause`) or resumes (`resume`) a run, as `Driver.pauseRun`/`resumeRun` say. */
export async function controlRun(
  host: ControlHost,
  operation: "pause" | "resume",
  runId: string,
  now: number,
): Promise<StoredRun> {
  const notice = operation === "pause" ? "paused" : "runnable";
  const text = operation === "pause" ? host.statements.pauseRun : host.statements.resumeRun;
  const [row] = await host.query(`${operation} run '${runId}'`, text, [
    runId,
    now,
    host.channel,
    host.payload(notice, runId),
  ]);
  if (row) {
    host.emit([notice], runId);
    return runFromColumns(row as unknown as RunColumns);
  }
  const status = await host.status(runId);
  if (status === undefined) throw new RunNotFoundError(runId);
  const refused = refusal(operation, runId, status);
  if (refused) throw refused;
  // Paused already (or changed meanwhile): pausing again changes nothing.
  const run = await host.getRun(runId);
  if (!run) throw new RunNotFoundError(runId);
  return run;
}

/** Records a worker's heartbeat row; forgets rows not seen since `forgetBefore`. */
export async function recordWorker(
  host: ControlHost,
  worker: StoredWorker,
  forgetBefore: number,
): Promise<void> {
  await host.query(`record worker '${worker.id}'`, host.statements.recordWorker, [
    ...workerParams(worker),
    forgetBefore,
  ]);
}

/** Every worker row, in id order. */
export async function listWorkers(host: ControlHost): Promise<StoredWorker[]> {
  const rows = await host.query("list workers", host.statements.listWorkers, []);
  return rows.map((row) => workerFromColumns(row as unknown as WorkerColumns));
}
