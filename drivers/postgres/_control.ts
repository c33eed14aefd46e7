/**
 * Pausing and resuming runs on PostgreSQL: one statement each (the update,
 * its history event and its `NOTIFY`), and the error when the run's status
 * refuses it.
 *
 * @module
 */
import type { DriverNotice, RunStatus, StoredRun } from "../../lib/driver.ts";
import { refusal } from "../../lib/driver_policy.ts";
import { RunNotFoundError } from "../../lib/errors.ts";
import { type RunColumns, runFromColumns } from "../columns.ts";
import type { Statements } from "./_sql.ts";
import type { Query } from "./_writes.ts";

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
