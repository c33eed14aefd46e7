/**
 * Signal-with-start on PostgreSQL (`Driver.startWithSignal`): one
 * transaction creates the run unless it exists, locks it, and signals it with
 * the statement of `sendSignal`, so concurrent callers racing on one id make
 * one run and each put their signal in its inbox once.
 *
 * @module
 */
import { type RunColumns, runFromColumns } from "../columns.ts";
import type { NewRun, NewSignal, StoredRun } from "../../lib/driver.ts";
import { RunNotFoundError } from "../../lib/errors.ts";
import { isFinished } from "../../lib/driver.ts";
import { refusedError } from "../../lib/driver_policy.ts";
import { signalRowData } from "../../lib/formats.ts";
import type { TxQuery } from "./_schedules.ts";
import type { Statements } from "./_sql.ts";
import {
  createChildParams,
  createClaimParams,
  createFlowParams,
  createParams,
} from "./_creates.ts";

/** What signal-with-start needs from the driver. */
export interface SignalStartHost {
  readonly statements: Statements;
  readonly channel: string;
  payload(types: string, runId: string): string;
  transaction<T>(what: string, fn: (tx: TxQuery) => Promise<T>): Promise<T>;
  emit(types: ("runnable" | "signal")[], runId: string): void;
}

/** `Driver.startWithSignal` on PostgreSQL. */
export async function startWithSignal(
  host: SignalStartHost,
  newRun: NewRun,
  signal: NewSignal,
  now: number,
): Promise<{ run: StoredRun; created: boolean; delivered: boolean }> {
  const st = host.statements;
  const items = [{ run: newRun, now }];
  const runId = newRun.id;
  const id = signal.id ?? null;
  const result = await host.transaction(`start run '${runId}' with a signal`, async (tx) => {
    // Waits for a concurrent creator of the same id, then leaves its run alone.
    const rows = await tx<RunColumns & { created: boolean }>(st.createRuns, [
      ...createParams(items),
      host.channel,
      host.payload("runnable", ""),
      ...createFlowParams(items),
      ...createChildParams(items),
      ...createClaimParams(items),
    ]);
    const created = rows[0]?.created === true;
    // A new statement: sees the run a concurrent caller committed.
    const [locked] = await tx<RunColumns>(st.lockRun, [runId]);
    if (!locked) throw new RunNotFoundError(runId); // purged since the insert
    const run = runFromColumns(locked);
    if (run.workflow !== newRun.workflow) return { run, created, delivered: false, woke: false };
    const [sent] = await tx<{ woke: boolean }>(st.sendSignal, [
      runId,
      signal.name,
      signal.payload ?? null,
      now,
      signalRowData(signal.name, signal.payload),
      host.channel,
      host.payload("runnable,signal", runId),
      host.payload("signal", runId),
      id,
    ]);
    if (sent) return { run, created, delivered: true, woke: sent.woke };
    if (id !== null && (await tx(st.hasSignalId, [runId, id])).length > 0) {
      return { run, created, delivered: false, woke: false };
    }
    // The run is locked and unfinished runs take signals: only a finished one is left.
    throw refusedError("signal", runId, isFinished(run.status) ? run.status : "completed");
  });
  if (result.created) host.emit(["runnable"], runId);
  if (result.delivered) host.emit(result.woke ? ["runnable", "signal"] : ["signal"], runId);
  return { run: result.run, created: result.created, delivered: result.delivered };
}
