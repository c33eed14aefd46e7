/**
 * The schedules table of the memory driver: the reference semantics of
 * `ScheduleStore`.
 *
 * @module
 */
import type { NewRun } from "../../lib/driver.ts";
import type {
  NewSchedule,
  ScheduleChange,
  ScheduleClaimOptions,
  ScheduleStore,
  StoredSchedule,
} from "../../lib/schedule_store.ts";

function copy(row: StoredSchedule): StoredSchedule {
  return { ...row };
}

/** Whether a claim may take the row at `now`. */
function claimable(row: StoredSchedule, now: number): boolean {
  return !row.paused && row.nextAt <= now &&
    (row.claimedUntil === undefined || row.claimedUntil <= now);
}

/** Whether the row is fired by a process serving `workflows` with these function ids. */
export function firedBy(
  row: StoredSchedule,
  workflows: readonly string[],
  functionIds: readonly string[],
): boolean {
  return workflows.includes(row.workflow) &&
    (!row.inputFunction || functionIds.includes(row.id));
}

/** What the memory schedule store needs from its driver. */
export interface MemoryScheduleHost {
  /** Throws `InvalidStateError` when the driver is closed. */
  check(): void;
  /** Creates a run idempotently, synchronously. */
  createRun(run: NewRun, now: number): void;
  /** Reports a change to the driver's listeners. */
  changed(id: string): void;
}

/** Schedules in a map; runs are created through the driver's own `createRun`. */
export class MemorySchedules implements ScheduleStore {
  readonly #rows = new Map<string, StoredSchedule>();
  readonly #host: MemoryScheduleHost;

  constructor(host: MemoryScheduleHost) {
    this.#host = host;
  }

  /** Drops every schedule (the driver closes). */
  clear(): void {
    this.#rows.clear();
  }

  /** Runs `fn` unless the driver is closed, as a settled promise. */
  #do<T>(fn: () => T): Promise<T> {
    try {
      this.#host.check();
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  insertSchedule(
    schedule: NewSchedule,
    now: number,
  ): Promise<{ schedule: StoredSchedule; created: boolean }> {
    return this.#do(() => this.#insert(schedule, now));
  }

  getSchedule(id: string): Promise<StoredSchedule | undefined> {
    return this.#do(() => this.#get(id));
  }

  listSchedules(): Promise<StoredSchedule[]> {
    return this.#do(() => this.#list());
  }

  claimSchedules(options: ScheduleClaimOptions): Promise<StoredSchedule[]> {
    return this.#do(() => this.#claim(options));
  }

  nextScheduleAt(
    workflows: readonly string[],
    functionIds: readonly string[],
  ): Promise<number | undefined> {
    return this.#do(() => this.#nextAt(workflows, functionIds));
  }

  changeSchedule(change: ScheduleChange, now: number): Promise<StoredSchedule | undefined> {
    return this.#do(() => this.#change(change, now));
  }

  deleteSchedule(id: string): Promise<boolean> {
    return this.#do(() => this.#delete(id));
  }

  #insert(schedule: NewSchedule, now: number): { schedule: StoredSchedule; created: boolean } {
    const existing = this.#rows.get(schedule.id);
    if (existing) return { schedule: copy(existing), created: false };
    const row: StoredSchedule = {
      ...schedule,
      paused: false,
      skipped: 0,
      rev: 1,
      createdAt: now,
      updatedAt: now,
    };
    this.#rows.set(row.id, row);
    this.#host.changed(row.id);
    return { schedule: copy(row), created: true };
  }

  #get(id: string): StoredSchedule | undefined {
    const row = this.#rows.get(id);
    return row && copy(row);
  }

  #list(): StoredSchedule[] {
    return [...this.#rows.values()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
      .map(copy);
  }

  #claim(options: ScheduleClaimOptions): StoredSchedule[] {
    const claimed: StoredSchedule[] = [];
    for (const row of this.#rows.values()) {
      if (claimed.length >= options.limit) break;
      if (!claimable(row, options.now)) continue;
      if (!firedBy(row, options.workflows, options.functionIds)) continue;
      row.claimedUntil = options.now + options.leaseMs;
      row.rev++;
      claimed.push(copy(row));
    }
    return claimed;
  }

  #nextAt(workflows: readonly string[], functionIds: readonly string[]): number | undefined {
    let next: number | undefined;
    for (const row of this.#rows.values()) {
      if (row.paused || !firedBy(row, workflows, functionIds)) continue;
      const at = Math.max(row.nextAt, row.claimedUntil ?? row.nextAt);
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  #change(change: ScheduleChange, now: number): StoredSchedule | undefined {
    const row = this.#rows.get(change.id);
    if (!row || row.rev !== change.rev) return undefined;
    for (const run of change.runs ?? []) this.#host.createRun(run, now);
    if (change.workflow !== undefined) row.workflow = change.workflow;
    if (change.spec !== undefined) row.spec = change.spec;
    if (change.source !== undefined) row.source = change.source;
    if (change.inputFunction !== undefined) row.inputFunction = change.inputFunction;
    if (change.paused !== undefined) row.paused = change.paused;
    if (change.nextAt !== undefined) row.nextAt = change.nextAt;
    if (change.lastSlot !== undefined) row.lastSlot = change.lastSlot;
    if (change.lastRunId !== undefined) row.lastRunId = change.lastRunId;
    if (change.skipped !== undefined) row.skipped += change.skipped;
    delete row.claimedUntil;
    row.rev++;
    row.updatedAt = now;
    this.#host.changed(row.id);
    return copy(row);
  }

  #delete(id: string): boolean {
    const deleted = this.#rows.delete(id);
    if (deleted) this.#host.changed(id);
    return deleted;
  }
}
