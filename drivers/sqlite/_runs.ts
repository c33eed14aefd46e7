/**
 * What changes a run on SQLite, inside a job of the write queue (one
 * transaction): the rest of a fenced write after its rows (recoveries, labels,
 * dropped wake-ups, then the transition or a fold), run transitions, signals
 * and their delivery (a finished `.call` child's wake-up included), and
 * cancel, pause, resume and retry with the refusals of their statuses.
 *
 * @module
 */
import {
  type CancelRunOptions,
  childSignal,
  type DriverNotice,
  type Lease,
  type NewSignal,
  type RunStatus,
  type RunTransition,
  type StoredRun,
  type WriteBatch,
} from "../../lib/driver.ts";
import type { ErrorInfo } from "../../lib/errors.ts";
import { RunNotFoundError } from "../../lib/errors.ts";
import {
  cancelledErrorInfo,
  cancellingErrorInfo,
  refusal,
  retryDropsRow,
} from "../../lib/driver_policy.ts";
import {
  cancelledDetail,
  type ChildEnd,
  childFinishedDetail,
  signalRowData,
} from "../../lib/formats.ts";
import { type RunColumns, runFromColumns } from "../columns.ts";
import { FOLD_AT, type Journal, type LocalLease } from "./_journal.ts";
import type { Statements } from "./_statements.ts";

/** What these changes need from the driver; they run inside a write-queue job. */
export interface RunHost {
  /** The prepared statements (the database is open inside a job). */
  st(): Statements;
  readonly journal: Journal;
  /** Queues a notice, sent once the job's transaction committed. */
  notify(type: DriverNotice["type"], runId: string, reason?: string): void;
}

/** The columns of a run that decide what may happen to it. */
export interface StateRow {
  rid: number;
  status: RunStatus;
  waiting_for: string | null;
  error: string | null;
  journal_from: number | null;
  paused_status: RunStatus | null;
}

/** The state of a run; throws `RunNotFoundError` for an unknown id. */
export function runState(host: RunHost, runId: string): StateRow {
  const state = host.st().runState.get(runId) as StateRow | undefined;
  if (!state) throw new RunNotFoundError(runId);
  return state;
}

/**
 * The rest of a fenced write once its rows are appended: the reset of
 * `recoveries`, labels, dropped inbox entries, then the transition or a fold.
 */
export function applyBatch(
  host: RunHost,
  lease: Lease,
  local: LocalLease,
  batch: WriteBatch,
  now: number,
): void {
  const s = host.st();
  if (batch.clearRecoveries) s.clearRecoveries.run(local.rid, lease.token);
  if (batch.labels) s.mergeLabels.run(local.rid, JSON.stringify(batch.labels));
  if (batch.dropSignals) s.dropSignals.run(local.rid, JSON.stringify(batch.dropSignals));
  settle(host, lease, local, batch.run, now);
}

/** After the items of a fenced write: the transition, or a fold when the lease holds many rows. */
function settle(
  host: RunHost,
  lease: Lease,
  local: LocalLease,
  transition: RunTransition | undefined,
  now: number,
): void {
  if (transition) {
    host.journal.fold(local);
    host.journal.leases.delete(lease.runId);
    applyTransition(host, local.rid, lease.runId, transition, now);
  } else if (local.rows.size + local.events.length >= FOLD_AT) {
    host.journal.fold(local);
    host.st().setJournalFrom.run(local.rid);
  }
}

/** Applies a run transition (the lease is released) after folding. */
function applyTransition(
  host: RunHost,
  rid: number,
  runId: string,
  transition: RunTransition,
  now: number,
): void {
  const s = host.st();
  switch (transition.status) {
    case "sleeping":
    case "waiting": {
      const names = transition.waitingFor;
      let due: number | null = transition.dueAt ?? null;
      let waitingFor: string | null = null;
      if (names && names.length > 0) {
        waitingFor = JSON.stringify(names);
        if (s.hasSignalNamed.get(rid, waitingFor) !== undefined) due = now;
      }
      s.transition.run(rid, transition.status, now, due, waitingFor, null, null);
      host.notify("released", runId);
      if (due !== null && due <= now) host.notify("runnable", runId);
      return;
    }
    case "completed":
    case "failed":
    case "cancelled": {
      const completed = transition.status === "completed";
      const ended = s.transition.get(
        rid,
        transition.status,
        now,
        null,
        null,
        completed ? transition.output ?? null : null,
        completed ? null : JSON.stringify(transition.error),
      ) as unknown as Ended;
      host.notify("released", runId);
      host.notify("finished", runId);
      if (ended.call_parent !== null) {
        wakeParent(host, runId, ended.call_parent, transition.status, now);
      }
      return;
    }
    case "running": {
      const moved = s.transition.get(rid, "running", now, now, null, null, null) as
        | { status: RunStatus }
        | undefined;
      // Handed back while paused: its step in flight held a concurrency slot.
      if (moved?.status === "paused") host.notify("released", runId);
      host.notify("runnable", runId);
      return;
    }
  }
}

/** Delivers a signal (false for a repeated id); throws for a finished run. */
export function signal(
  host: RunHost,
  state: StateRow,
  runId: string,
  sent: NewSignal,
  now: number,
): boolean {
  const s = host.st();
  const { name, payload, id } = sent;
  if (id !== undefined && s.hasSignalId.get(state.rid, id) !== undefined) return false;
  const refused = refusal("signal", runId, state.status);
  if (refused) throw refused;
  if (id !== undefined) s.insertSignalId.run(state.rid, id);
  deliver(host, state, runId, name, payload, now);
  return true;
}

/** What the transition that ends a run returns: the parent a `.call` child wakes. */
interface Ended {
  status: RunStatus;
  call_parent: string | null;
}

/** The parent of a `.call` child (by rid), if it is one. */
function callParent(host: RunHost, rid: number): string | null {
  const child = host.st().callParent.get(rid) as { parent_id: string | null } | undefined;
  return child?.parent_id ?? null;
}

/**
 * A `.call` child finished: its wake-up goes to the parent's inbox (and a
 * `child.finished` event to its history), in the same transaction, unless
 * the parent finished.
 */
function wakeParent(
  host: RunHost,
  childId: string,
  parentId: string,
  status: ChildEnd,
  now: number,
): void {
  const parent = host.st().runState.get(parentId) as StateRow | undefined;
  if (!parent || refusal("signal", parentId, parent.status)) return;
  const detail = childFinishedDetail(childId, status);
  deliver(host, parent, parentId, childSignal(childId), undefined, now, detail);
}

/**
 * Inbox entry, history event and wake-up of a signal to an unfinished run;
 * `childFinished` (a child's wake-up) makes the event a `child.finished`.
 */
function deliver(
  host: RunHost,
  state: StateRow,
  runId: string,
  name: string,
  payload: string | undefined,
  now: number,
  childFinished?: string,
): void {
  const s = host.st();
  const seq = childFinished === undefined
    ? host.journal.event(state.rid, "signal.received", now, signalRowData(name, payload))
    : host.journal.event(state.rid, "child.finished", now, childFinished);
  s.insertSignal.run(state.rid, seq, name, payload ?? null);
  const awaited = state.waiting_for !== null &&
    (JSON.parse(state.waiting_for) as string[]).includes(name);
  if (awaited && state.status === "waiting") {
    s.setDue.run(state.rid, now);
    host.notify("runnable", runId);
  } else if (awaited && state.paused_status === "waiting") s.setPausedDue.run(state.rid, now);
  host.notify("signal", runId);
}

/** Cancels an unfinished run and revokes its lease (`Driver.cancelRun`). */
export function cancel(
  host: RunHost,
  runId: string,
  reason: string | undefined,
  now: number,
  options: CancelRunOptions | undefined,
): StoredRun {
  const s = host.st();
  const state = runState(host, runId);
  const refused = refusal("cancel", runId, state.status);
  if (refused) throw refused;
  if (state.journal_from !== null) host.journal.recover(state.rid, state.journal_from);
  const compensate = options?.compensate === true;
  const row = compensate
    ? s.cancelCompensating.get(state.rid, JSON.stringify(cancellingErrorInfo(runId, reason)), now)
    : s.cancelRun.get(state.rid, JSON.stringify(cancelledErrorInfo(runId, reason)), now);
  if (!compensate) {
    host.journal.event(state.rid, "run.cancelled", now, cancelledDetail(reason) ?? null);
  }
  host.journal.leases.delete(runId);
  host.notify("cancelled", runId, reason);
  if (state.status === "running") host.notify("released", runId);
  // Compensating: handed back, due now, for the next claim to compensate it and end it.
  if (compensate) host.notify("runnable", runId);
  else {
    host.notify("finished", runId);
    const parentId = callParent(host, state.rid);
    if (parentId !== null) wakeParent(host, runId, parentId, "cancelled", now);
  }
  return runFromColumns(row as unknown as RunColumns);
}

/** Pauses an unfinished run; its lease, if any, stays valid (`Driver.pauseRun`). */
export function pause(host: RunHost, runId: string, now: number): StoredRun {
  const s = host.st();
  const state = runState(host, runId);
  const refused = refusal("pause", runId, state.status);
  if (refused) throw refused;
  const row = s.pauseRun.get(state.rid, now) as RunColumns | undefined;
  if (!row) return runFromColumns(s.getRun.get(runId) as unknown as RunColumns);
  host.journal.event(state.rid, "run.paused", now);
  host.notify("paused", runId);
  return runFromColumns(row);
}

/** Resumes a paused run in the status it would have now (`Driver.resumeRun`). */
export function resume(host: RunHost, runId: string, now: number): StoredRun {
  const s = host.st();
  const state = runState(host, runId);
  const refused = refusal("resume", runId, state.status);
  if (refused) throw refused;
  const run = runFromColumns(s.resumeRun.get(state.rid, now) as unknown as RunColumns);
  host.journal.event(state.rid, "run.resumed", now);
  if (run.dueAt !== undefined && run.dueAt <= now) host.notify("runnable", runId);
  return run;
}

/** Makes a failed or cancelled run claimable again, a failed one from its failed step (`Driver.retryRun`). */
export function retry(
  host: RunHost,
  runId: string,
  now: number,
  options: { deadlineAt?: number } | undefined,
): StoredRun {
  const s = host.st();
  const state = runState(host, runId);
  const refused = refusal("retry", runId, state.status);
  if (refused) throw refused;
  const failedStep = retryDropsRow(
    state.error === null ? undefined : JSON.parse(state.error) as ErrorInfo,
  );
  if (failedStep !== undefined) {
    s.dropPendingRow.run(state.rid, failedStep);
    s.dropPendingIndex.run(state.rid, failedStep);
  }
  const row = s.retryRun.get(state.rid, now, options?.deadlineAt ?? null) as unknown as RunColumns;
  host.journal.event(state.rid, "run.retried", now);
  host.notify("runnable", runId);
  return runFromColumns(row);
}
