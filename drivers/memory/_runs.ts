/**
 * The memory driver's runs and what changes them off the step's hot path:
 * the stored form of a run, signal delivery (a finished `.call` child's
 * wake-up included), cancel, retry, pause and resume with the refusals of
 * their statuses, and the flow planner's reads (a scan: the reference, not a
 * fast path). Checkpoint writes and claims stay in `mod.ts`.
 *
 * @module
 */
import {
  type CancelRunOptions,
  childSignal,
  type DriverNotice,
  isFinished,
  type NewSignal,
  type RunStatus,
  type StepRow,
  type StoredEvent,
  type StoredRun,
} from "../../lib/driver.ts";
import {
  FLOW_KEY_SEPARATOR,
  type FlowAnswer,
  type FlowCandidate,
  type FlowRead,
} from "../../lib/flow_claim.ts";
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

/** One entry of a run's inbox. */
export interface InboxEntry {
  name: string;
  payload: string | undefined;
  consumed: boolean;
}

/** A run as the memory driver keeps it. */
export interface MemoryRun {
  run: StoredRun;
  /** The latest row of each step key. */
  steps: Map<string, StepRow>;
  /** Every row and event, in write order (the index orders the history). */
  log: (StepRow | StoredEvent)[];
  inbox: InboxEntry[];
  /** The ids of the signals the run took (at most once each). */
  signalIds?: Set<string>;
  /** While paused: the status and due time the run resumes with. */
  paused?: { status: RunStatus; dueAt: number | undefined };
  /** When the run began under a rate limit (its first claim from `pending`). */
  beganAt?: number;
}

/** Whether a history entry is an event (not a step row). */
export function isEvent(entry: StepRow | StoredEvent): entry is StoredEvent {
  return "type" in entry;
}

/** A copy of a run that callers may keep (labels and `waitingFor` copied too). */
export function copyRun(run: StoredRun): StoredRun {
  const copy = { ...run, labels: { ...run.labels } };
  if (run.waitingFor) copy.waitingFor = [...run.waitingFor];
  return copy;
}

/** What these changes need from the driver. */
export interface RunsHost {
  /** The stored run, if any. */
  find(runId: string): MemoryRun | undefined;
  /** Appends to a run's history and to the feed. */
  append(stored: MemoryRun, entry: StepRow | StoredEvent): void;
  notify(type: DriverNotice["type"], runId?: string, reason?: string): void;
  /** Puts the run's due time in the due heap of its workflow. */
  schedule(run: StoredRun): void;
}

/** Delivers a signal (false for a repeated id); throws for a finished run. */
export function deliverSignal(
  host: RunsHost,
  stored: MemoryRun,
  sent: NewSignal,
  now: number,
): boolean {
  const { name, payload, id } = sent;
  const run = stored.run;
  const runId = run.id;
  if (id !== undefined && stored.signalIds?.has(id)) return false;
  const refused = refusal("signal", runId, run.status);
  if (refused) throw refused;
  if (id !== undefined) (stored.signalIds ??= new Set()).add(id);
  stored.inbox.push({ name, payload, consumed: false });
  const detail = signalRowData(name, payload);
  host.append(stored, { type: "signal.received", at: now, detail });
  const paused = stored.paused;
  if (paused?.status === "waiting" && run.waitingFor?.includes(name)) paused.dueAt = now;
  if (run.status === "waiting" && run.waitingFor?.includes(name)) {
    run.dueAt = now;
    host.schedule(run);
    host.notify("runnable", runId);
  }
  host.notify("signal", runId);
  return true;
}

/**
 * A `.call` child finished: its wake-up goes to the parent's inbox (and a
 * `child.finished` event to its history) and wakes the parent when it waits
 * for it.
 */
export function wakeParent(host: RunsHost, child: StoredRun, now: number): void {
  if (!child.parentCall || child.parentId === undefined) return;
  const parent = host.find(child.parentId);
  if (!parent || refusal("signal", child.parentId, parent.run.status)) return;
  const name = childSignal(child.id);
  parent.inbox.push({ name, payload: undefined, consumed: false });
  host.append(parent, {
    type: "child.finished",
    at: now,
    detail: childFinishedDetail(child.id, child.status as ChildEnd),
  });
  if (parent.run.status === "waiting" && parent.run.waitingFor?.includes(name)) {
    parent.run.dueAt = now;
    host.schedule(parent.run);
    host.notify("runnable", parent.run.id);
  } else if (parent.paused?.status === "waiting" && parent.run.waitingFor?.includes(name)) {
    parent.paused.dueAt = now;
  }
  host.notify("signal", parent.run.id);
}

/**
 * Cancels an unfinished run and revokes its lease (`Driver.cancelRun`); with
 * `compensate`, hands it back with the cancel error instead: the next claim
 * compensates, then ends it.
 */
export function cancel(
  host: RunsHost,
  stored: MemoryRun,
  reason: string | undefined,
  now: number,
  options: CancelRunOptions | undefined,
): StoredRun {
  const run = stored.run;
  const runId = run.id;
  const refused = refusal("cancel", runId, run.status);
  if (refused) throw refused;
  const wasRunning = run.status === "running";
  const compensate = options?.compensate === true;
  run.status = compensate ? "running" : "cancelled";
  delete stored.paused;
  run.error = compensate ? cancellingErrorInfo(runId, reason) : cancelledErrorInfo(runId, reason);
  run.leaseToken++;
  delete run.leaseOwner;
  delete run.waitingFor;
  if (compensate) run.dueAt = now;
  else delete run.dueAt;
  run.updatedAt = now;
  if (compensate) host.schedule(run);
  else {
    const detail = cancelledDetail(reason);
    const event: StoredEvent = { type: "run.cancelled", at: now };
    if (detail) event.detail = detail;
    host.append(stored, event);
  }
  host.notify("cancelled", runId, reason);
  if (wasRunning) host.notify("released", runId);
  if (compensate) host.notify("runnable", runId);
  else {
    host.notify("finished", runId);
    wakeParent(host, run, now);
  }
  return copyRun(run);
}

/** Makes a failed or cancelled run claimable again, a failed one from its failed step (`Driver.retryRun`). */
export function retry(
  host: RunsHost,
  stored: MemoryRun,
  now: number,
  options: { deadlineAt?: number } | undefined,
): StoredRun {
  const run = stored.run;
  const runId = run.id;
  const refused = refusal("retry", runId, run.status);
  if (refused) throw refused;
  const failedStep = retryDropsRow(run.error);
  if (failedStep !== undefined && stored.steps.get(failedStep)?.state === "pending") {
    stored.steps.delete(failedStep);
  }
  run.status = "pending";
  delete run.error;
  delete run.recoveries;
  if (options?.deadlineAt === undefined) delete run.deadlineAt;
  else run.deadlineAt = options.deadlineAt;
  run.dueAt = now;
  run.updatedAt = now;
  host.append(stored, { type: "run.retried", at: now });
  host.schedule(run);
  host.notify("runnable", runId);
  return copyRun(run);
}

/** Pauses an unfinished run; its lease, if any, stays valid (`Driver.pauseRun`). */
export function pause(host: RunsHost, stored: MemoryRun, now: number): StoredRun {
  const run = stored.run;
  const refused = refusal("pause", run.id, run.status);
  if (refused) throw refused;
  if (!stored.paused) {
    stored.paused = { status: run.status, dueAt: run.dueAt };
    run.status = "paused";
    delete run.dueAt;
    run.updatedAt = now;
    host.append(stored, { type: "run.paused", at: now });
    host.notify("paused", run.id);
  }
  return copyRun(run);
}

/** Resumes a paused run in the status it would have now (`Driver.resumeRun`). */
export function resume(host: RunsHost, stored: MemoryRun, now: number): StoredRun {
  const run = stored.run;
  const refused = refusal("resume", run.id, run.status);
  if (refused) throw refused;
  const paused = stored.paused!;
  delete stored.paused;
  run.status = paused.status;
  if (paused.dueAt !== undefined) run.dueAt = paused.dueAt;
  run.updatedAt = now;
  host.append(stored, { type: "run.resumed", at: now });
  host.schedule(run);
  if (run.dueAt !== undefined && run.dueAt <= now) host.notify("runnable", run.id);
  return copyRun(run);
}

/** Answers the flow planner's reads by scanning the runs (the reference, not the fast path). */
export function flowRead(
  runs: Iterable<MemoryRun>,
  read: FlowRead,
  workflows: ReadonlySet<string>,
): FlowAnswer {
  const mine = [...runs].filter((m) => workflows.has(m.run.workflow));
  switch (read.read) {
    case "running":
      // Executing: running, or paused with a step in flight (lease held, not expired).
      return mine.filter(({ run, paused }) =>
        run.workflow === read.workflow && (run.concurrencyKey ?? "") === read.key &&
        (run.status === "running" ||
          (paused !== undefined && run.leaseOwner !== undefined &&
            (paused.dueAt ?? -Infinity) > read.now))
      ).length;
    case "begun": {
      let count = 0;
      let oldest: number | undefined;
      for (const m of mine) {
        if ((m.run.rateKey ?? "") !== read.key || m.run.workflow !== read.workflow) continue;
        if (m.beganAt === undefined || m.beganAt <= read.since) continue;
        count++;
        if (oldest === undefined || m.beganAt < oldest) oldest = m.beganAt;
      }
      return oldest === undefined ? { count } : { count, oldest };
    }
    case "candidates": {
      const blockedC = new Set(read.blockedConcurrency);
      const blockedR = new Set(read.blockedRate);
      const rows: (FlowCandidate & { priority: number })[] = [];
      for (const { run, beganAt } of mine) {
        if (run.dueAt === undefined || run.dueAt > read.dueBy || isFinished(run.status)) continue;
        const c = {
          id: run.id,
          workflow: run.workflow,
          status: run.status,
          concurrencyKey: run.concurrencyKey ?? "",
          rateKey: run.rateKey ?? "",
          begun: beganAt !== undefined,
          dueAt: run.dueAt,
          priority: run.priority ?? 0,
        };
        const sep = FLOW_KEY_SEPARATOR;
        if (c.status !== "running" && blockedC.has(c.workflow + sep + c.concurrencyKey)) continue;
        if (c.status === "pending" && !c.begun && blockedR.has(c.workflow + sep + c.rateKey)) {
          continue;
        }
        rows.push(c);
      }
      const byDue = (a: typeof rows[0], b: typeof rows[0]) =>
        a.dueAt - b.dueAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
      rows.sort(read.order === "due" ? byDue : (a, b) => b.priority - a.priority || byDue(a, b));
      return rows.slice(0, read.limit);
    }
    case "claim":
      return;
  }
}
