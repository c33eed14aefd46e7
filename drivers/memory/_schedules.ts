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

/** Schedules in a map; runs are created through the driver's own `createRun`. */
export class MemorySchedules {
  readonly #rows = new Map<string, StoredSchedule>();
  readonly #createRun: (run: NewRun, now: number) => void;
  readonly #changed: () => void;

  /**
   * @param createRun Creates a run idempotently, synchronously.
   * @param changed Reports a change to the driver's listeners.
   */
  constructor(createRun: (run: NewRun, now: number) => void, changed: () => void) {
    this.#createRun = createRun;
    this.#changed = changed;
  }

  clear(): void {
    this.#rows.clear();
  }

  insert(schedule: NewSchedule, now: number): { schedule: StoredSchedule; created: boolean } {
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
    this.#changed();
    return { schedule: copy(row), created: true };
  }

  get(id: string): StoredSchedule | undefined {
    const row = this.#rows.get(id);
    return row && copy(row);
  }

  list(): StoredSchedule[] {
    return [...this.#rows.values()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
      .map(copy);
  }

  claim(options: ScheduleClaimOptions): StoredSchedule[] {
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

  nextAt(workflows: readonly string[], functionIds: readonly string[]): number | undefined {
    let next: number | undefined;
    for (const row of this.#rows.values()) {
      if (row.paused || !firedBy(row, workflows, functionIds)) continue;
      const at = Math.max(row.nextAt, row.claimedUntil ?? row.nextAt);
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  change(change: ScheduleChange, now: number): StoredSchedule | undefined {
    const row = this.#rows.get(change.id);
    if (!row || row.rev !== change.rev) return undefined;
    for (const run of change.runs ?? []) this.#createRun(run, now);
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
    this.#changed();
    return copy(row);
  }

  delete(id: string): boolean {
    const deleted = this.#rows.delete(id);
    if (deleted) this.#changed();
    return deleted;
  }
}
