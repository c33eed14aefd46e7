/**
 * The PostgreSQL driver's run creations: grouped by the `Batcher`
 * (`_batch.ts`), sent as one statement whose shape fits the group (scalars
 * for one run, which PostgreSQL keeps a generic plan of; arrays for several;
 * the flow-control, child and claim arrays only when a run needs them), and
 * settled from the rows it returns.
 *
 * @module
 */
import { StorageError } from "../../lib/errors.ts";
import { pendingRun } from "../../lib/driver_runs.ts";
import type { NewRun, StoredRun } from "../../lib/driver.ts";
import type { BatchItem } from "./_batch.ts";
import type { ControlHost } from "./_control.ts";
import type { Param } from "./_writes.ts";

/** A run creation, waiting to be grouped. */
export interface CreateItem extends BatchItem {
  run: NewRun;
  now: number;
  resolve(result: { run: StoredRun; created: boolean }): void;
}

/** The column arrays of grouped run creations (8 parameters). */
export function createParams(items: readonly { run: NewRun; now: number }[]): Param[] {
  const n = items.length;
  const ids: string[] = new Array(n);
  const workflows: string[] = new Array(n);
  const versions: string[] = new Array(n);
  const hashes: string[] = new Array(n);
  const inputs: (string | null)[] = new Array(n);
  const labels: string[] = new Array(n);
  const dueAt: number[] = new Array(n);
  const nows: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const { run, now } = items[i]!;
    ids[i] = run.id;
    workflows[i] = run.workflow;
    versions[i] = run.version;
    hashes[i] = run.planHash;
    inputs[i] = run.input ?? null;
    labels[i] = JSON.stringify(run.labels ?? {});
    dueAt[i] = run.claimFor === undefined || run.steps?.length
      ? run.dueAt
      : now + run.claimFor.leaseMs;
    nows[i] = now;
  }
  return [ids, workflows, versions, hashes, inputs, labels, dueAt, nows];
}

/**
 * The last arrays of grouped creations (`$14` … `$16`): the parent, the
 * `.call` flag, and the deadline under a workflow timeout.
 */
export function createChildParams(items: readonly { run: NewRun }[]): Param[] {
  return [
    items.map((item) => item.run.parentId ?? null),
    items.map((item) => item.run.parentCall ? 1 : 0),
    items.map((item) => item.run.deadlineAt ?? null),
  ];
}

/**
 * The owners of grouped creations (`$17`): the worker that claims each new run
 * at once (`NewRun.claimFor`), or null. A fork (a run with rows) is not claimed.
 */
export function createClaimParams(items: readonly { run: NewRun }[]): Param[] {
  return [
    items.map((item) => item.run.steps?.length ? null : item.run.claimFor?.workerId ?? null),
  ];
}

/**
 * Which arrays a new run needs besides the plain ones: `extras` (flow
 * control, parent, deadline), `claim` (claimed at once, `NewRun.claimFor`),
 * or none (`createRunsPlain`).
 */
export function createNeeds(run: NewRun): "extras" | "claim" | "none" {
  if (
    run.concurrencyKey !== undefined || run.rateKey !== undefined || (run.priority ?? 0) !== 0 ||
    run.parentId !== undefined || run.parentCall === true || run.deadlineAt !== undefined
  ) return "extras";
  return run.claimFor !== undefined && !run.steps?.length ? "claim" : "none";
}

/** The run a creation inserted, as stored (claimed at once with `NewRun.claimFor`). */
function createdRun({ run: newRun, now }: CreateItem): StoredRun {
  const run = pendingRun(newRun, now);
  const claimFor = newRun.steps?.length ? undefined : newRun.claimFor;
  if (claimFor !== undefined) {
    run.status = "running";
    run.leaseToken = 1;
    run.leaseOwner = claimFor.workerId;
    run.dueAt = now + claimFor.leaseMs;
  }
  return run;
}

/** The flow-control arrays of grouped creations (`$11` … `$13`): keys and priority. */
export function createFlowParams(items: readonly { run: NewRun }[]): Param[] {
  return [
    items.map((item) => item.run.concurrencyKey ?? ""),
    items.map((item) => item.run.rateKey ?? ""),
    items.map((item) => item.run.priority ?? 0),
  ];
}

/**
 * Settles grouped creations from the rows the statement returned (the runs it
 * inserted, as id and status): each such item gets the run it sent, as
 * stored, and `created` is called once per new run that is pending (not
 * claimed at once). Any other item names a run that existed (or that a
 * concurrent transaction inserted after the statement's snapshot): it is read.
 */
export function settleCreates(
  items: readonly CreateItem[],
  rows: readonly { id: string; status: string }[],
  created: (runId: string) => void,
  getRun: (runId: string) => Promise<StoredRun | undefined>,
): void {
  const inserted = new Map<string, string>();
  for (const row of rows) inserted.set(row.id, row.status);
  for (const item of items) {
    const status = inserted.get(item.run.id);
    if (status !== undefined) {
      inserted.delete(item.run.id);
      item.resolve({ run: createdRun(item), created: true });
      // A run claimed at once (NewRun.claimFor) is no one else's to claim.
      if (status === "pending") created(item.run.id);
      continue;
    }
    getRun(item.run.id).then((run) => {
      if (run) item.resolve({ run, created: false });
      else item.reject(new StorageError(`Cannot create run '${item.run.id}': retry`));
    }, item.reject);
  }
}

/** What `flushCreates` uses of the driver. */
export interface CreateHost extends ControlHost {
  /** Sends a notice to other processes once the write committed (`_notify.ts`). */
  notify(payload: string): void;
}

/** Sends grouped creations as one statement and settles each item. */
export async function flushCreates(host: CreateHost, items: CreateItem[]): Promise<void> {
  // Runs that use no flow control, parent or deadline (the common start)
  // bind ten parameters (eleven with owners), not seventeen.
  let needs: "extras" | "claim" | "none" = "none";
  for (const { run } of items) {
    const need = createNeeds(run);
    if (need === "extras" || needs === "none") needs = need;
  }
  const params = [...createParams(items), host.channel, host.payload("runnable", "")];
  if (needs === "extras") {
    params.push(...createFlowParams(items), ...createChildParams(items));
  }
  if (needs !== "none") params.push(...createClaimParams(items));
  // One run: the statement of scalars, which keeps a generic plan (CreateShape.one).
  const one = items.length === 1;
  const st = one ? host.statements.oneRun : host.statements;
  const rows = await host.query(
    one ? `create run '${items[0]!.run.id}'` : `create ${items.length} runs`,
    needs === "extras"
      ? st.createRunsQuiet
      : needs === "claim"
      ? st.createRunsClaimed
      : st.createRunsPlain,
    one ? params.map((p) => Array.isArray(p) ? (p as readonly Param[])[0] ?? null : p) : params,
  ) as unknown as { id: string; status: string; notified: number }[];
  if (rows.some((row) => row.notified > 0)) host.notify(host.payload("runnable", ""));
  settleCreates(
    items,
    rows,
    (runId) => host.emit(["runnable"], runId),
    (runId) => host.getRun(runId),
  );
}
