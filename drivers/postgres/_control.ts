/**
 * Run control on PostgreSQL: signalling, cancelling, retrying, pausing,
 * resuming and purging runs, one statement each (the update, its history event and its
 * `NOTIFY`), and the error when the run's status refuses it; creating a run
 * with the rows it starts with (a fork); the workers' rows.
 *
 * @module
 */
import {
  type CancelRunOptions,
  type DriverNotice,
  isFinished,
  type NewRun,
  type PurgeOptions,
  type RunStatus,
  type SendSignalOptions,
  type StoredRun,
  type StoredWorker,
} from "../../lib/driver.ts";
import {
  cancelledErrorInfo,
  cancellingErrorInfo,
  refusal,
  refusedError,
} from "../../lib/driver_policy.ts";
import { cancelledDetail, signalRowData } from "../../lib/formats.ts";
import { RunNotFoundError } from "../../lib/errors.ts";
import {
  type RunColumns,
  runFromColumns,
  type WorkerColumns,
  workerFromColumns,
  workerParams,
} from "../columns.ts";
import type { Statements } from "./_sql.ts";
import { type Param, type Query, stepArrays } from "./_writes.ts";
import { createChildParams, createFlowParams, createParams } from "./_creates.ts";

/** What run control needs from the driver. */
export interface ControlHost {
  readonly query: Query;
  readonly statements: Statements;
  readonly channel: string;
  payload(types: string, runId: string): string;
  emit(types: readonly DriverNotice["type"][], runId: string, reason?: string): void;
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

/**
 * Runs `apply` until it changes the run (a result other than `undefined`);
 * otherwise throws what the run's status calls for: `RunNotFoundError`, or
 * the refusal of `operation` once the run is finished (or after a few races
 * with a concurrent change).
 */
async function applied<T>(
  host: ControlHost,
  operation: "signal" | "cancel",
  runId: string,
  apply: () => Promise<T | undefined>,
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    const result = await apply();
    if (result !== undefined) return result;
    const status = await host.status(runId);
    if (status === undefined) throw new RunNotFoundError(runId);
    if (isFinished(status) || attempt >= 3) throw refusedError(operation, runId, status);
  }
}

/** Puts a signal in the inbox and wakes a run waiting for it (`Driver.sendSignal`). */
export function sendSignal(
  host: ControlHost,
  runId: string,
  name: string,
  payload: string | undefined,
  now: number,
  options: SendSignalOptions | undefined,
): Promise<boolean> {
  const detail = signalRowData(name, payload);
  const id = options?.id ?? null;
  return applied(host, "signal", runId, async () => {
    const [row] = await host.query(`signal run '${runId}'`, host.statements.sendSignal, [
      runId,
      name,
      payload ?? null,
      now,
      detail,
      host.channel,
      host.payload("runnable,signal", runId),
      host.payload("signal", runId),
      id,
    ]) as { woke: boolean; notified: number }[];
    if (row) {
      host.emit(row.woke ? ["runnable", "signal"] : ["signal"], runId);
      return true;
    }
    // A repeated id is a no-op, checked before the finished-run refusal.
    if (id !== null) {
      const [held] = await host.query(`read run '${runId}'`, host.statements.hasSignalId, [
        runId,
        id,
      ]);
      if (held) return false;
    }
    return undefined;
  });
}

/**
 * Cancels an unfinished run and revokes its lease (`Driver.cancelRun`); with
 * `compensate`, hands it back with its cancel error instead, due now, for the
 * next claim to compensate it and end it.
 */
export function cancelRun(
  host: ControlHost,
  runId: string,
  reason: string | undefined,
  now: number,
  options: CancelRunOptions | undefined,
): Promise<StoredRun> {
  const compensate = options?.compensate === true;
  const notices: DriverNotice["type"][] = [
    "cancelled",
    "released",
    compensate ? "runnable" : "finished",
  ];
  const error = JSON.stringify(
    compensate ? cancellingErrorInfo(runId, reason) : cancelledErrorInfo(runId, reason),
  );
  const payload = host.payload(notices.join(","), runId);
  const text = compensate ? host.statements.cancelCompensating : host.statements.cancelRun;
  const params: Param[] = compensate
    ? [runId, error, now, host.channel, payload]
    : [runId, error, now, cancelledDetail(reason) ?? null, host.channel, payload];
  return applied(host, "cancel", runId, async () => {
    const [row] = await host.query(`cancel run '${runId}'`, text, params);
    if (!row) return undefined;
    host.emit(notices, runId, reason);
    const woke = (row as { woke_parent?: string | null }).woke_parent;
    if (woke) host.emit(["runnable", "signal"], woke);
    return runFromColumns(row as unknown as RunColumns);
  });
}

/** Makes a failed or cancelled run claimable again (`Driver.retryRun`). */
export async function retryRun(
  host: ControlHost,
  runId: string,
  now: number,
  options: { deadlineAt?: number } | undefined,
): Promise<StoredRun> {
  const [row] = await host.query(`retry run '${runId}'`, host.statements.retryRun, [
    runId,
    now,
    host.channel,
    host.payload("runnable", runId),
    options?.deadlineAt ?? null,
  ]);
  if (row) {
    host.emit(["runnable"], runId);
    return runFromColumns(row as unknown as RunColumns);
  }
  const status = await host.status(runId);
  if (status === undefined) throw new RunNotFoundError(runId);
  throw refusedError("retry", runId, status);
}

/** Deletes finished runs (and their rows) last updated before a time (`Driver.purge`). */
export async function purge(
  host: ControlHost,
  finishedBefore: number,
  options: PurgeOptions,
): Promise<number> {
  const [row] = await host.query("purge finished runs", host.statements.purge, [
    finishedBefore,
    options.status === undefined ? ["completed", "failed", "cancelled"] : [options.status],
    options.limit ?? null,
  ]) as { count: number }[];
  return row?.count ?? 0;
}
