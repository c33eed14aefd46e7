/**
 * The in-memory storage driver: the reference semantics of the driver
 * interface, in one process, with no durability.
 *
 * @module
 */
import { MinHeap } from "../../lib/heap.ts";
import {
  type CancelRunOptions,
  type Claim,
  type ClaimOptions,
  type ConsumedSignal,
  decodeCursor,
  type Driver,
  type DriverNotice,
  encodeCursor,
  type FlowLimitsByWorkflow,
  isFinished,
  type Lease,
  type LeaseState,
  type NewRun,
  type NewSignal,
  pendingRun,
  type PurgeOptions,
  type RunFilter,
  type SendSignalOptions,
  type StepRow,
  type StoredEvent,
  type StoredFeedItem,
  type StoredHistoryItem,
  type StoredHistoryPage,
  type StoredRun,
  type StoredRunPage,
  type StoredWorker,
  type WriteBatch,
} from "../../lib/driver.ts";
import {
  hasFlowLimits,
  planFlowClaim,
  planFlowNextDue,
  runPlanSync,
} from "../../lib/flow_claim.ts";
import { LIST_PAGE } from "../../lib/driver_policy.ts";
import { InvalidStateError, LeaseLostError, RunNotFoundError } from "../../lib/errors.ts";
import type { ScheduleStore } from "../../lib/schedule_store.ts";
import { MemorySchedules } from "./_schedules.ts";
import { MemoryFeed } from "./_feed.ts";
import {
  cancel,
  copyRun,
  deliverSignal,
  flowRead,
  isEvent,
  type MemoryRun,
  pause,
  resume,
  retry,
  type RunsHost,
  wakeParent,
} from "./_runs.ts";
import { recoveredDetail, signalRowData } from "../../lib/formats.ts";

interface DueEntry {
  id: string;
  dueAt: number;
}

/**
 * Keeps runs in memory: the reference semantics of the driver interface, in
 * one process. `LocalRunner` uses it; an `Engine` can too, for tests.
 *
 * For speed, checkpoint rows are stored and returned by reference, not copied:
 * treat the `StepRow` objects you write or read as read-only (the engine does).
 *
 * @example Run a workflow on the in-memory driver
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("inc").step("inc", (n) => n + 1);
 * await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
 * await using worker = engine.worker();
 * await worker.start();
 * const run = await engine.start(wf, 1);
 * assert.equal(await run.result(), 2);
 * ```
 */
export class MemoryDriver implements Driver {
  /** The driver kind. */
  readonly kind: string = "memory";
  /** Memory is never shared with other processes, so notices are complete. */
  readonly shared: boolean = false;
  #runs = new Map<string, MemoryRun>();
  #due = new Map<string, MinHeap<DueEntry>>();
  #listeners = new Set<(notice: DriverNotice) => void>();
  #workers = new Map<string, StoredWorker>();
  /** Every history item of every run, in write order (purged runs' items are dropped). */
  readonly #feed = new MemoryFeed<MemoryRun>(() => this.#notify("written"));
  #closed = false;
  readonly #schedules = new MemorySchedules({
    check: () => this.#check(),
    createRun: (run, now) => void this.createRun(run, now),
    changed: (id) => this.#notify("schedule", id),
  });
  /** The schedule table (drivers/memory/_schedules.ts). */
  readonly scheduleStore: ScheduleStore = this.#schedules;
  /** Set once a run with a non-zero priority exists: claims then order by priority. */
  #prioritized = false;
  /** What `_runs.ts` uses of this driver. */
  readonly #host: RunsHost = {
    find: (runId) => this.#runs.get(runId),
    append: (stored, entry) => this.#append(stored, entry),
    notify: (type, runId, reason) => this.#notify(type, runId, reason),
    schedule: (run) => this.#schedule(run),
  };

  #check(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): InvalidStateError {
    return new InvalidStateError("Cannot use a closed MemoryDriver: create a new one");
  }

  /** Appends to a run's history and to the feed (which tells its readers: `_feed.ts`). */
  #append(stored: MemoryRun, entry: StepRow | StoredEvent): void {
    this.#feed.append(stored, stored.log.push(entry) - 1);
  }

  #notify(type: DriverNotice["type"], runId?: string, reason?: string): void {
    const notice: DriverNotice = runId === undefined ? { type } : { type, runId };
    if (reason !== undefined) notice.reason = reason;
    for (const listener of this.#listeners) listener(notice);
  }

  #schedule(run: StoredRun): void {
    if (run.dueAt === undefined) return;
    let heap = this.#due.get(run.workflow);
    if (!heap) this.#due.set(run.workflow, heap = new MinHeap());
    heap.push(run.dueAt, { id: run.id, dueAt: run.dueAt });
  }

  /** Drops stale entries from the top of a heap; returns the top live entry. */
  #top(heap: MinHeap<DueEntry>): DueEntry | undefined {
    for (;;) {
      const entry = heap.peek();
      if (!entry) return undefined;
      const run = this.#runs.get(entry.id)?.run;
      if (run && run.dueAt === entry.dueAt && !isFinished(run.status)) return entry;
      heap.pop();
    }
  }

  #fenced(lease: Lease): MemoryRun {
    const stored = this.#runs.get(lease.runId);
    if (
      !stored || stored.run.leaseToken !== lease.token ||
      (stored.run.status !== "running" && stored.run.status !== "paused") ||
      stored.run.leaseOwner === undefined
    ) {
      throw new LeaseLostError(lease.runId);
    }
    return stored;
  }

  #get(runId: string): MemoryRun {
    const stored = this.#runs.get(runId);
    if (!stored) throw new RunNotFoundError(runId);
    return stored;
  }

  /** Nothing to migrate in memory. */
  migrate(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    return Promise.resolve();
  }

  /** Drops everything; later calls throw `InvalidStateError`. */
  close(): Promise<void> {
    this.#closed = true;
    this.#runs.clear();
    this.#feed.clear();
    this.#due.clear();
    this.#schedules.clear();
    this.#listeners.clear();
    return Promise.resolve();
  }

  /** Same as {@linkcode MemoryDriver.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Stores a new pending run, or returns the existing one with that id. */
  createRun(newRun: NewRun, now: number): Promise<{ run: StoredRun; created: boolean }> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const existing = this.#runs.get(newRun.id);
    if (existing) return Promise.resolve({ run: copyRun(existing.run), created: false });
    const run = pendingRun(newRun, now);
    if (run.priority) this.#prioritized = true;
    const stored: MemoryRun = { run, steps: new Map(), log: [], inbox: [] };
    this.#append(stored, { type: "run.created", at: now });
    for (const row of newRun.steps ?? []) {
      stored.steps.set(row.key, row);
      this.#append(stored, row);
    }
    this.#runs.set(run.id, stored);
    const claimFor = newRun.claimFor;
    if (claimFor !== undefined && !newRun.steps?.length) {
      const options = { ...claimFor, now, limit: 1, workflows: [run.workflow] };
      return Promise.resolve({ run: this.#claimOne(stored, options, false).run, created: true });
    }
    this.#schedule(run);
    this.#notify("runnable", run.id);
    return Promise.resolve({ run: copyRun(run), created: true });
  }

  /** Reads a run. */
  getRun(runId: string): Promise<StoredRun | undefined> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const stored = this.#runs.get(runId);
    return Promise.resolve(stored ? copyRun(stored.run) : undefined);
  }

  /** Lists runs newest first. */
  listRuns(filter: RunFilter): Promise<StoredRunPage> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const statuses = filter.status === undefined
      ? undefined
      : Array.isArray(filter.status)
      ? filter.status
      : [filter.status];
    const after = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    const limit = filter.limit ?? LIST_PAGE.default;
    const matches: StoredRun[] = [];
    for (const { run } of this.#runs.values()) {
      if (statuses && !statuses.includes(run.status)) continue;
      if (filter.workflow !== undefined && run.workflow !== filter.workflow) continue;
      if (filter.labels) {
        const labels = filter.labels;
        if (!Object.keys(labels).every((k) => run.labels[k] === labels[k])) continue;
      }
      if (filter.createdAfter !== undefined && run.createdAt < filter.createdAfter) continue;
      if (filter.createdBefore !== undefined && run.createdAt > filter.createdBefore) continue;
      if (filter.parentId !== undefined && run.parentId !== filter.parentId) continue;
      if (
        after &&
        !(run.createdAt < after[0] || (run.createdAt === after[0] && run.id < after[1]))
      ) continue;
      matches.push(run);
    }
    matches.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const runs = matches.slice(0, limit).map(copyRun);
    const page: StoredRunPage = { runs };
    if (matches.length > limit) {
      const last = runs[runs.length - 1]!;
      page.nextCursor = encodeCursor(last.createdAt, last.id);
    }
    return Promise.resolve(page);
  }

  /** The run's events and checkpoint rows with their write order. */
  history(runId: string, page?: StoredHistoryPage): Promise<StoredHistoryItem[]> {
    try {
      this.#check();
      const log = this.#get(runId).log;
      // The log only grows, so an entry's index is its seq.
      const from = page?.after === undefined ? 0 : Math.max(0, Math.floor(page.after) + 1);
      const to = page === undefined ? log.length : Math.min(log.length, from + page.limit);
      const items: StoredHistoryItem[] = [];
      for (let seq = from; seq < to; seq++) {
        const entry = log[seq]!;
        items.push(
          isEvent(entry)
            ? { source: "event", seq, event: entry }
            : { source: "step", seq, row: entry },
        );
      }
      return Promise.resolve(items);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Claims due runs: higher priority first, then due order, within the flow limits. */
  claimRuns(options: ClaimOptions): Promise<Claim[]> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const claims: Claim[] = [];
    if (this.#prioritized || hasFlowLimits(options.flow, options.workflows)) {
      const workflows = new Set(options.workflows);
      const flow = options.flow ?? {};
      runPlanSync(planFlowClaim(flow, options.now, options.limit), (read) => {
        if (read.read !== "claim") return flowRead(this.#runs.values(), read, workflows);
        claims.push(this.#claimOne(this.#runs.get(read.candidate.id)!, options, read.begins));
      });
      return Promise.resolve(claims);
    }
    while (claims.length < options.limit) {
      let best: DueEntry | undefined;
      let bestHeap: MinHeap<DueEntry> | undefined;
      for (const workflow of options.workflows) {
        const heap = this.#due.get(workflow);
        const top = heap && this.#top(heap);
        if (top && top.dueAt <= options.now && (!best || top.dueAt < best.dueAt)) {
          best = top;
          bestHeap = heap;
        }
      }
      if (!best || !bestHeap) break;
      bestHeap.pop();
      claims.push(this.#claimOne(this.#runs.get(best.id)!, options, false));
    }
    return Promise.resolve(claims);
  }

  #claimOne(stored: MemoryRun, options: ClaimOptions, begins: boolean): Claim {
    const run = stored.run;
    const previousStatus = run.status;
    // A running run with an owner is due only once its lease expired: a takeover.
    const previousOwner = previousStatus === "running" ? run.leaseOwner : undefined;
    run.status = "running";
    run.leaseToken++;
    run.leaseOwner = options.workerId;
    run.dueAt = options.now + options.leaseMs;
    delete run.waitingFor;
    if (previousStatus === "pending") {
      run.updatedAt = options.now;
      this.#append(stored, { type: "run.started", at: options.now });
    }
    if (begins) stored.beganAt = options.now;
    if (previousOwner !== undefined) {
      run.recoveries = (run.recoveries ?? 0) + 1;
      const detail = recoveredDetail(previousOwner, options.workerId);
      this.#append(stored, { type: "run.recovered", at: options.now, detail });
    }
    this.#schedule(run);
    const claim: Claim = {
      run: copyRun(run),
      lease: { runId: run.id, token: run.leaseToken },
      previousStatus,
    };
    if (previousOwner !== undefined) claim.previousOwner = previousOwner;
    return claim;
  }

  /** The earliest due time among runs of these workflows (within the flow limits). */
  nextDueAt(
    workflows: readonly string[],
    flow?: { now: number; limits: FlowLimitsByWorkflow },
  ): Promise<number | undefined> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (flow && hasFlowLimits(flow.limits, workflows)) {
      const names = new Set(workflows);
      const plan = planFlowNextDue(flow.limits, flow.now);
      return Promise.resolve(
        runPlanSync(plan, (read) => flowRead(this.#runs.values(), read, names)),
      );
    }
    let next: number | undefined;
    for (const workflow of workflows) {
      const heap = this.#due.get(workflow);
      const top = heap && this.#top(heap);
      if (top && (next === undefined || top.dueAt < next)) next = top.dueAt;
    }
    return Promise.resolve(next);
  }

  /** Extends the leases still held. */
  extendLeases(leases: readonly Lease[], now: number, leaseMs: number): Promise<LeaseState[]> {
    if (this.#closed) return Promise.reject(this.#closedError());
    return Promise.resolve(leases.map((lease) => {
      const stored = this.#runs.get(lease.runId);
      const signals = stored?.inbox.some((entry) => !entry.consumed) ?? false;
      if (!stored || stored.run.status === "cancelled") {
        return { runId: lease.runId, state: "cancelled", signals };
      }
      const run = stored.run;
      if (stored.paused && run.leaseToken === lease.token && run.leaseOwner) {
        stored.paused.dueAt = now + leaseMs;
        return { runId: lease.runId, state: "paused", signals };
      }
      if (run.leaseToken !== lease.token || run.status !== "running" || !run.leaseOwner) {
        return { runId: lease.runId, state: "lost", signals };
      }
      run.dueAt = now + leaseMs;
      this.#schedule(run);
      return { runId: lease.runId, state: "held", signals };
    }));
  }

  /** Reads checkpoint rows by key. */
  readSteps(runId: string, keys: readonly string[]): Promise<Map<string, StepRow>> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const rows = new Map<string, StepRow>();
    const steps = this.#runs.get(runId)?.steps;
    if (steps) {
      for (const key of keys) {
        const row = steps.get(key);
        if (row) rows.set(key, row);
      }
    }
    return Promise.resolve(rows);
  }

  #apply(stored: MemoryRun, batch: WriteBatch, now: number): void {
    if (batch.clearRecoveries) delete stored.run.recoveries;
    if (batch.labels) stored.run.labels = { ...stored.run.labels, ...batch.labels };
    const drop = batch.dropSignals;
    if (drop) stored.inbox = stored.inbox.filter((entry) => !drop.includes(entry.name));
    const steps = batch.steps;
    if (steps) {
      for (let i = 0; i < steps.length; i++) {
        const row = steps[i]!;
        if (stored.steps.get(row.key)?.state === "done") continue;
        stored.steps.set(row.key, row);
        this.#append(stored, row);
      }
    }
    if (batch.events) { for (const event of batch.events) this.#append(stored, event); }
    const transition = batch.run;
    if (!transition) {
      // Checkpointed while paused: the activation begins no new step (see Driver.write).
      if (stored.paused) this.#notify("paused", stored.run.id);
      return;
    }
    const run = stored.run;
    const paused = stored.paused;
    if (paused) {
      // A paused run keeps its status: the transition sets what it resumes with.
      delete stored.paused;
      run.status = paused.status;
      // Its step in flight held a concurrency slot: handing the run back frees it.
      if (transition.status === "running") this.#notify("released", run.id);
      this.#transition(stored, transition, now);
      if (!isFinished(run.status)) {
        stored.paused = { status: run.status, dueAt: run.dueAt };
        run.status = "paused";
        delete run.dueAt;
      }
      return;
    }
    this.#transition(stored, transition, now);
  }

  #transition(stored: MemoryRun, transition: NonNullable<WriteBatch["run"]>, now: number): void {
    const run = stored.run;
    run.updatedAt = now;
    delete run.leaseOwner;
    delete run.recoveries;
    if (transition.status !== "running") this.#notify("released", run.id);
    switch (transition.status) {
      case "sleeping":
      case "waiting": {
        run.status = transition.status;
        const names = transition.waitingFor;
        if (names && names.length > 0) {
          run.waitingFor = [...names];
          const ready = stored.inbox.some((entry) => !entry.consumed && names.includes(entry.name));
          if (ready) run.dueAt = now;
          else if (transition.dueAt === undefined) delete run.dueAt;
          else run.dueAt = transition.dueAt;
        } else if (transition.dueAt === undefined) delete run.dueAt;
        else run.dueAt = transition.dueAt;
        this.#schedule(run);
        if (run.dueAt !== undefined && run.dueAt <= now) this.#notify("runnable", run.id);
        return;
      }
      case "completed":
        run.status = "completed";
        if (transition.output !== undefined) run.output = transition.output;
        delete run.dueAt;
        this.#notify("finished", run.id);
        wakeParent(this.#host, run, now);
        return;
      case "failed":
      case "cancelled":
        run.status = transition.status;
        run.error = transition.error;
        delete run.dueAt;
        this.#notify("finished", run.id);
        wakeParent(this.#host, run, now);
        return;
      case "running":
        run.dueAt = now;
        this.#schedule(run);
        this.#notify("runnable", run.id);
        return;
    }
  }

  /** Writes a batch under a lease. */
  write(lease: Lease, batch: WriteBatch, now: number): Promise<void> {
    try {
      this.#check();
      this.#apply(this.#fenced(lease), batch, now);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Takes the oldest matching signal from the inbox and records it. */
  consumeSignal(
    lease: Lease,
    names: readonly string[],
    row: StepRow,
    batch: WriteBatch,
    now: number,
  ): Promise<ConsumedSignal | undefined> {
    try {
      this.#check();
      const stored = this.#fenced(lease);
      const entry = stored.inbox.find((e) => !e.consumed && names.includes(e.name));
      if (entry) {
        entry.consumed = true;
        const done: StepRow = { ...row, data: signalRowData(entry.name, entry.payload) };
        stored.steps.set(row.key, done);
        this.#append(stored, done);
      }
      this.#apply(stored, batch, now);
      if (!entry) return Promise.resolve(undefined);
      const consumed: ConsumedSignal = { name: entry.name };
      if (entry.payload !== undefined) consumed.payload = entry.payload;
      return Promise.resolve(consumed);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Puts a signal in the inbox and wakes a run waiting for it. */
  sendSignal(
    runId: string,
    name: string,
    payload: string | undefined,
    now: number,
    options?: SendSignalOptions,
  ): Promise<boolean> {
    try {
      this.#check();
      return Promise.resolve(
        deliverSignal(this.#host, this.#get(runId), { name, payload, id: options?.id }, now),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Creates the run unless it exists, then signals it (nothing changes on a throw). */
  startWithSignal(
    newRun: NewRun,
    signal: NewSignal,
    now: number,
  ): Promise<{ run: StoredRun; created: boolean; delivered: boolean }> {
    try {
      this.#check();
      const existing = this.#runs.get(newRun.id);
      if (existing && existing.run.workflow !== newRun.workflow) {
        return Promise.resolve({ run: copyRun(existing.run), created: false, delivered: false });
      }
      if (existing) {
        const delivered = deliverSignal(this.#host, existing, signal, now);
        return Promise.resolve({ run: copyRun(existing.run), created: false, delivered });
      }
      void this.createRun(newRun, now);
      const stored = this.#runs.get(newRun.id)!;
      deliverSignal(this.#host, stored, signal, now);
      return Promise.resolve({ run: copyRun(stored.run), created: true, delivered: true });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Cancels an unfinished run and revokes its lease. */
  cancelRun(
    runId: string,
    reason: string | undefined,
    now: number,
    options?: CancelRunOptions,
  ): Promise<StoredRun> {
    try {
      this.#check();
      return Promise.resolve(cancel(this.#host, this.#get(runId), reason, now, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Makes a failed or cancelled run claimable again (a failed one from its failed step). */
  retryRun(runId: string, now: number, options?: { deadlineAt?: number }): Promise<StoredRun> {
    try {
      this.#check();
      return Promise.resolve(retry(this.#host, this.#get(runId), now, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Pauses an unfinished run; its lease, if any, stays valid. */
  pauseRun(runId: string, now: number): Promise<StoredRun> {
    try {
      this.#check();
      return Promise.resolve(pause(this.#host, this.#get(runId), now));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Resumes a paused run in the status it would have now. */
  resumeRun(runId: string, now: number): Promise<StoredRun> {
    try {
      this.#check();
      return Promise.resolve(resume(this.#host, this.#get(runId), now));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Records a worker's heartbeat row; forgets rows not seen since `forgetBefore`. */
  recordWorker(worker: StoredWorker, forgetBefore: number): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    for (const [id, row] of this.#workers) {
      if (row.lastSeenAt < forgetBefore) this.#workers.delete(id);
    }
    this.#workers.set(worker.id, structuredClone(worker));
    return Promise.resolve();
  }

  /** Deletes a worker's row. */
  removeWorker(workerId: string): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    this.#workers.delete(workerId);
    return Promise.resolve();
  }

  /** Every worker row, in id order. */
  listWorkers(): Promise<StoredWorker[]> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const rows = [...this.#workers.values()].sort((a, b) => a.id < b.id ? -1 : 1);
    return Promise.resolve(rows.map((row) => structuredClone(row)));
  }

  /** The unfinished `.call` children of failed, cancelled or purged parents (a scan). */
  orphanedChildren(limit: number): Promise<string[]> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const orphans: StoredRun[] = [];
    for (const { run } of this.#runs.values()) {
      if (!run.parentCall || run.parentId === undefined || isFinished(run.status)) continue;
      if ((run.error as { cancelling?: boolean } | undefined)?.cancelling) continue;
      const parent = this.#runs.get(run.parentId)?.run;
      if (parent && parent.status !== "failed" && parent.status !== "cancelled") continue;
      orphans.push(run);
    }
    orphans.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return Promise.resolve(orphans.slice(0, limit).map((run) => run.id));
  }

  /** Deletes finished runs last updated before a time. */
  purge(finishedBefore: number, options: PurgeOptions = {}): Promise<number> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const old = [...this.#runs.values()].map((stored) => stored.run).filter((run) =>
      isFinished(run.status) && run.updatedAt < finishedBefore &&
      (options.status === undefined || run.status === options.status)
    ).sort((a, b) => a.updatedAt - b.updatedAt);
    const doomed = options.limit === undefined ? old : old.slice(0, options.limit);
    for (const run of doomed) this.#runs.delete(run.id);
    if (doomed.length > 0) this.#feed.drop((stored) => this.#runs.get(stored.run.id) !== stored);
    return Promise.resolve(doomed.length);
  }

  /** Every run's history items in write order, after a cursor (an index of the feed). */
  feed(after: string | undefined, limit: number): Promise<StoredFeedItem[]> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const from = after === undefined ? 0 : Number(after) + 1;
    if (!Number.isInteger(from) || from < 0) {
      return Promise.reject(
        new TypeError(`Cannot read the feed after '${after}': pass a cursor it gave`),
      );
    }
    const items: StoredFeedItem[] = [];
    for (const { run: stored, seq, index } of this.#feed.read(from, limit)) {
      const entry = stored.log[seq]!;
      items.push({
        cursor: String(index),
        runId: stored.run.id,
        workflow: stored.run.workflow,
        item: isEvent(entry)
          ? { source: "event", seq, event: entry }
          : { source: "step", seq, row: entry },
      });
    }
    return Promise.resolve(items);
  }

  /** The cursor of the newest item of the feed. */
  feedEnd(): Promise<string | undefined> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const end = this.#feed.end();
    return Promise.resolve(end === undefined ? undefined : String(end));
  }

  /** Registers a listener for changes. */
  subscribe(listener: (notice: DriverNotice) => void): () => void {
    this.#check();
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
