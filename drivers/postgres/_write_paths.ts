/**
 * The PostgreSQL driver's writes that are not grouped (`_batch.ts` groups the
 * plain checkpoints): a write that moves the run (one statement), and the rare
 * ones that need a transaction: the first write after a takeover (with the
 * reset of `recoveries`), a write that sets labels, and taking a signal whose
 * batch moves the run, sets labels or rewrites the signal's own row. Also the
 * fenced drop of inbox entries that rides before a write.
 *
 * @module
 */
import type postgres from "postgres";
import type {
  ConsumedSignal,
  Driver,
  DriverNotice,
  Lease,
  RunTransition,
  StepRow,
  StoredEvent,
  WriteBatch,
} from "../../lib/driver.ts";
import { LeaseLostError } from "../../lib/errors.ts";
import type { ControlHost } from "./_control.ts";
import { toStorageError } from "./_errors.ts";
import {
  consumeParams,
  dueNotices,
  lastRows,
  transitionQuery,
  type WriteQueries,
} from "./_writes.ts";

/** What these writes need from the driver, besides what run control needs. */
export interface WriteHost extends ControlHost {
  readonly sql: postgres.Sql;
  readonly secrets: readonly string[];
  readonly writeQueries: WriteQueries;
  /** History grew: tells watchers (`written`). */
  historyGrew(batch: WriteBatch): void;
  /** Sends a notice to other processes once the write committed (`_notify.ts`). */
  notify(payload: string): void;
}

type Tx = postgres.TransactionSql;

/** What a transition statement returns (see `transition` in `_sql.ts`). */
interface TransitionRow {
  due_at: number | null;
  /** The run's status after it (`paused` when a paused run was handed back). */
  status: string;
  notified: number;
  /** The notice's payload, sent by the driver once the write committed. */
  notify: string;
  woke_parent: string | null;
}

/** A committed transition: its row and the notices its query named. */
interface Moved {
  row: TransitionRow;
  notices: DriverNotice["type"][];
}

/** Sends and reports the notices of a committed transition. */
function announce(host: WriteHost, runId: string, { row, notices }: Moved, now: number): void {
  if (row.notified > 0) {
    host.notify(row.notify);
    host.emit(dueNotices(notices, row.due_at, now, row.status), runId);
  }
  if (row.woke_parent) {
    host.notify(host.payload("runnable,signal", row.woke_parent));
    host.emit(["runnable", "signal"], row.woke_parent);
  }
}

/** The statement and parameters of a write that moves the run. */
function transitionOf(
  host: WriteHost,
  lease: Lease,
  batch: WriteBatch & { run: RunTransition },
  now: number,
  pos: number,
): ReturnType<typeof transitionQuery> {
  const payload = (types: string) => host.payload(types, lease.runId);
  return transitionQuery(host.statements, lease, batch, now, pos, host.channel, payload);
}

/** A write that moves the run: one statement. */
export async function transition(
  host: WriteHost,
  lease: Lease,
  batch: WriteBatch,
  now: number,
): Promise<void> {
  const query = transitionOf(host, lease, batch as WriteBatch & { run: RunTransition }, now, 0);
  const [row] = await host.query(
    `record the ${batch.run!.status} state of run '${lease.runId}'`,
    query.text,
    query.params,
  ) as unknown as TransitionRow[];
  if (!row) throw new LeaseLostError(lease.runId);
  announce(host, lease.runId, { row, notices: query.notices }, now);
}

/** Moves the run inside a transaction (its lease checked by the statement). */
async function moveInTx(
  host: WriteHost,
  tx: Tx,
  lease: Lease,
  batch: WriteBatch & { run: RunTransition },
  now: number,
  pos: number,
): Promise<Moved> {
  const query = transitionOf(host, lease, batch, now, pos);
  const [row] = await tx.unsafe(query.text, query.params as never[]) as unknown as TransitionRow[];
  if (!row) throw new LeaseLostError(lease.runId);
  return { row, notices: query.notices };
}

/**
 * Writes rows and events inside a transaction whose earlier statement checked
 * the lease (with the fence that accepts a paused run: that statement reported
 * the pause).
 */
async function writeInTx(
  host: WriteHost,
  tx: Tx,
  lease: Lease,
  steps: StepRow[],
  events: StoredEvent[],
  pos: number,
): Promise<void> {
  const write = host.writeQueries.query(
    [{
      lease,
      steps,
      events,
      resolve: () => {},
      reject: () => {},
    }],
    pos,
    true,
  );
  await tx.unsafe(write.text, write.params as never[]);
}

/**
 * Resets the run's `recoveries` inside a transaction, fenced by the lease;
 * resolves whether the run is paused.
 */
async function clearRecoveries(host: WriteHost, tx: Tx, lease: Lease): Promise<boolean> {
  const [held] = await tx.unsafe(host.statements.clearRecoveries, [lease.runId, lease.token]);
  if (!held) throw new LeaseLostError(lease.runId);
  return held.paused as boolean;
}

/** Checkpointed while paused: the activation begins no new step (see `Driver.write`). */
function reportPaused(host: WriteHost, lease: Lease, paused: boolean): void {
  if (paused) host.emit(["paused"], lease.runId);
}

/**
 * The first write after a takeover (rare): the rows and the reset of the
 * run's `recoveries` in one transaction, fenced by the reset.
 */
export async function writeClearing(
  host: WriteHost,
  lease: Lease,
  steps: StepRow[],
  events: StoredEvent[],
): Promise<void> {
  let paused = false;
  try {
    await host.sql.begin(async (tx) => {
      if (steps.length > 0 || events.length > 0) {
        await writeInTx(host, tx, lease, steps, events, 0);
      }
      paused = await clearRecoveries(host, tx, lease);
    });
  } catch (error) {
    throw toStorageError(`record checkpoints of run '${lease.runId}'`, error, host.secrets);
  }
  reportPaused(host, lease, paused);
}

/**
 * Merges labels (`ctx.setLabels`) inside a write's transaction, fenced by the
 * lease; resolves whether the run is paused.
 */
async function mergeLabels(
  host: WriteHost,
  tx: Tx,
  lease: Lease,
  labels: Record<string, string>,
): Promise<boolean> {
  const [held] = await tx.unsafe(host.statements.mergeLabels, [
    lease.runId,
    lease.token,
    JSON.stringify(labels),
  ]);
  if (!held) throw new LeaseLostError(lease.runId);
  return held.paused as boolean;
}

/**
 * A write that sets labels (`ctx.setLabels`, rare): the labels, the rows and
 * events, the transition or the reset of `recoveries`, in one transaction,
 * so the labels land with the step's checkpoint or not at all.
 */
export async function writeLabelled(
  host: WriteHost,
  lease: Lease,
  batch: WriteBatch,
  now: number,
): Promise<void> {
  const steps = lastRows(batch.steps);
  const events = batch.events ?? [];
  let moved: Moved | undefined;
  let paused = false;
  try {
    await host.sql.begin(async (tx) => {
      paused = await mergeLabels(host, tx, lease, batch.labels!);
      if (batch.run) {
        moved = await moveInTx(host, tx, lease, { ...batch, steps, run: batch.run }, now, 0);
        return;
      }
      // The label merge verified the lease and holds the run's row lock.
      if (steps.length > 0 || events.length > 0) {
        await writeInTx(host, tx, lease, steps, events, 0);
      }
      if (batch.clearRecoveries) await clearRecoveries(host, tx, lease);
    });
  } catch (error) {
    throw toStorageError(`record checkpoints of run '${lease.runId}'`, error, host.secrets);
  }
  if (moved) announce(host, lease.runId, moved, now);
  else reportPaused(host, lease, paused);
}

/**
 * Drops inbox entries by name (a `.call` child's wake-up, once read) before
 * the write they ride with, fenced; dropping twice is harmless, and so is a
 * drop whose write is then lost (the entry only wakes a parent whose child
 * is finished, which a new lease holder reads again anyway).
 */
export async function dropSignals(host: WriteHost, lease: Lease, names: string[]): Promise<void> {
  const [held] = await host.query(
    `drop wake-ups of run '${lease.runId}'`,
    host.statements.dropSignals,
    [lease.runId, lease.token, names],
  );
  if (!held) throw new LeaseLostError(lease.runId);
}

/** Takes the oldest matching signal from the inbox and records it, in one statement. */
export async function consumeSignal(
  host: WriteHost,
  ...[lease, names, row, batch, now]: Parameters<Driver["consumeSignal"]>
): Promise<ConsumedSignal | undefined> {
  if (batch.dropSignals) await dropSignals(host, lease, batch.dropSignals);
  const steps = lastRows(batch.steps);
  const events = batch.events ?? [];
  const what = `take a signal for run '${lease.runId}'`;
  const consume = (
    sql: postgres.Sql | Tx,
    stepsNow: StepRow[],
    eventsNow: StoredEvent[],
  ) =>
    sql.unsafe(
      host.statements.consumeSignal,
      consumeParams(lease, names, row, stepsNow, eventsNow) as never[],
    );
  let paused = false;
  const result = (rows: Record<string, unknown>[]): ConsumedSignal | undefined => {
    const first = rows[0] as
      | { held: number; paused: boolean; name: string | null; payload: string | null }
      | undefined;
    if (!first || first.held === 0) throw new LeaseLostError(lease.runId);
    paused = first.paused;
    if (first.name === null) return undefined;
    const consumed: ConsumedSignal = { name: first.name };
    if (first.payload !== null) consumed.payload = first.payload;
    return consumed;
  };
  if (!batch.run && !batch.labels && !steps.some((step) => step.key === row.key)) {
    let taken: ConsumedSignal | undefined;
    try {
      taken = result(await consume(host.sql, steps, events));
    } catch (error) {
      throw toStorageError(what, error, host.secrets);
    }
    host.historyGrew(batch);
    reportPaused(host, lease, paused);
    return taken;
  }
  // Rare: the batch moves the run, sets labels, or rewrites the signal's own
  // row. Statements in one transaction keep the reference order of effects.
  let moved: Moved | undefined;
  try {
    const consumed = await host.sql.begin(async (tx) => {
      const taken = result(await consume(tx, [], []));
      if (batch.labels) await mergeLabels(host, tx, lease, batch.labels);
      if (batch.run) {
        moved = await moveInTx(host, tx, lease, { ...batch, steps, run: batch.run }, now, 1);
      } else {
        // The consume above verified the lease and holds the run's row lock.
        await writeInTx(host, tx, lease, steps, events, 1);
      }
      return taken;
    });
    if (moved) announce(host, lease.runId, moved, now);
    else reportPaused(host, lease, paused);
    host.historyGrew(batch);
    return consumed;
  } catch (error) {
    throw toStorageError(what, error, host.secrets);
  }
}
