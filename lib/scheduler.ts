/**
 * Firing schedules, inside every worker, with no leader: claim the due
 * schedule rows, work out their slots, and write the slots' runs together
 * with the row's new state in one compare-and-set change. Two workers that
 * race for a slot produce one run (or one recorded skip): only one change is
 * applied, and run ids are deterministic.
 *
 * @module
 */
import { type AnyWorkflow, workflowFlow, workflowTimeout } from "./builder.ts";
import { flowKeys } from "./flow.ts";
import { isFinished, type NewRun, type StoredRun } from "./driver.ts";
import type { Logger } from "./logger.ts";
import {
  decodeScheduleSpec,
  ruleOfSpec,
  type Schedule,
  scheduleInternals,
  type ScheduleSpec,
} from "./schedule.ts";
import type { ScheduleChange, ScheduleStore, StoredSchedule } from "./schedule_store.ts";
import { dueSlots, type SlotRule, slotRunId } from "./slots.ts";
import { deadlineFrom, MAX_TIME_MS } from "./time.ts";
import { decodeValue, encodeValue } from "./values.ts";

/** How long a worker's claim on a due schedule lasts: well inside the minute a slot may be late. */
export const SCHEDULE_CLAIM_MS = 10_000;

/** Most schedules one worker claims at once (their runs are written in one group commit on SQLite). */
export const SCHEDULE_CLAIM_LIMIT = 1_000;

/** The label key of a schedule's runs: `{ schedule: <scheduleId> }`. */
export const SCHEDULE_LABEL = "schedule";

/** What the scheduler needs from the engine. */
export interface SchedulerHost {
  /** The schedule storage (the driver). */
  readonly store: ScheduleStore;
  /** The engine clock's time. */
  now(): number;
  /** Names of the workflows this process serves. */
  readonly workflowNames: readonly string[];
  /** The newest registered version of a workflow. */
  latest(name: string): AnyWorkflow | undefined;
  /** The schedules declared in this process's code, by id. */
  readonly declared: ReadonlyMap<string, Schedule<unknown>>;
  /** Size limit of each stored value. */
  readonly maxPayloadBytes: number;
  /** Reads a run (for `overlap: "skip"`). */
  getRun(runId: string): Promise<StoredRun | undefined>;
  /** The logger. */
  readonly logger: Logger;
}

const rules = new Map<string, SlotRule>();

/** The slot rule of a stored spec, cached by its text (croner parses once). */
export function ruleOf(specText: string, spec: ScheduleSpec): SlotRule {
  let rule = rules.get(specText);
  if (rule === undefined) {
    if (rules.size >= 10_000) rules.clear();
    rules.set(specText, rule = ruleOfSpec(spec));
  }
  return rule;
}

/** Ids of declared schedules whose input is a function: only this process can fire them. */
export function functionIds(host: SchedulerHost): string[] {
  const ids: string[] = [];
  for (const [id, s] of host.declared) if (typeof s.input === "function") ids.push(id);
  return ids;
}

/** When the next schedule this process can fire is due, if any. */
export function nextScheduleAt(host: SchedulerHost): Promise<number | undefined> {
  if (host.workflowNames.length === 0) return Promise.resolve(undefined);
  return host.store.nextScheduleAt(host.workflowNames, functionIds(host));
}

/**
 * Claims the due schedules this process can fire and fires each.
 *
 * @returns How many schedules were claimed.
 */
export async function fireDueSchedules(host: SchedulerHost): Promise<number> {
  if (host.workflowNames.length === 0) return 0;
  const now = host.now();
  const rows = await host.store.claimSchedules({
    now,
    leaseMs: SCHEDULE_CLAIM_MS,
    limit: SCHEDULE_CLAIM_LIMIT,
    workflows: host.workflowNames,
    functionIds: functionIds(host),
  });
  await Promise.all(rows.map((row) => fireSchedule(host, row, now)));
  return rows.length;
}

async function fireSchedule(host: SchedulerHost, row: StoredSchedule, now: number): Promise<void> {
  const spec = decodeScheduleSpec(row.spec);
  const due = dueSlots(ruleOf(row.spec, spec), spec.catchUp, row.nextAt, now);
  const change: ScheduleChange = { id: row.id, rev: row.rev, nextAt: due.next ?? MAX_TIME_MS };
  if (due.fire.length > 0) {
    change.lastSlot = due.fire.at(-1)!;
    if (spec.overlap === "skip" && await previousRunUnfinished(host, row)) {
      change.skipped = due.fire.length;
    } else {
      const runs = slotRuns(host, row, spec, due.fire);
      change.runs = runs;
      if (runs.length < due.fire.length) change.skipped = due.fire.length - runs.length;
      if (runs.length > 0) change.lastRunId = runs.at(-1)!.id;
    }
  }
  if (due.missed) {
    host.logger.warn("schedule missed slots while no worker ran", {
      schedule: row.id,
      catchUp: spec.catchUp,
      fired: change.runs?.length ?? 0,
    });
  }
  await host.store.changeSchedule(change, now);
}

async function previousRunUnfinished(host: SchedulerHost, row: StoredSchedule): Promise<boolean> {
  if (row.lastRunId === undefined) return false;
  const run = await host.getRun(row.lastRunId);
  return run !== undefined && !isFinished(run.status);
}

/** The runs of a schedule's slots; a slot whose input cannot be made is logged and skipped. */
function slotRuns(
  host: SchedulerHost,
  row: StoredSchedule,
  spec: ScheduleSpec,
  slots: readonly number[],
): NewRun[] {
  const wf = host.latest(row.workflow);
  if (wf === undefined) return [];
  const runs: NewRun[] = [];
  for (const slot of slots) {
    const id = slotRunId(row.id, slot);
    let input: string | undefined;
    let keys: { concurrencyKey?: string; rateKey?: string };
    try {
      input = slotInput(host, row.id, spec, slot);
      // Flow-control keys, as at start (a key function that throws skips the slot).
      keys = flowKeys(workflowFlow(wf), decodeValue(input), wf.name);
    } catch (error) {
      host.logger.error("schedule input failed; the slot is skipped", {
        schedule: row.id,
        run: id,
        error: error instanceof Error ? error.message : String(error),
      });
      continue;
    }
    runs.push({
      id,
      workflow: wf.name,
      version: wf.version,
      planHash: wf.planHash,
      ...(input === undefined ? {} : { input }),
      labels: { [SCHEDULE_LABEL]: row.id },
      dueAt: host.now(),
      ...keys,
      ...deadlineFrom(workflowTimeout(wf), host.now()),
    });
  }
  return runs;
}

/** The encoded input of one slot's run. */
export function slotInput(
  host: Pick<SchedulerHost, "declared" | "maxPayloadBytes">,
  id: string,
  spec: ScheduleSpec,
  slot: number,
): string | undefined {
  if (!spec.inputFunction) return spec.input;
  const declared = host.declared.get(id);
  if (declared === undefined || typeof declared.input !== "function") {
    throw new TypeError(
      `Cannot make the input of schedule '${id}': its input is a function declared in code that this process does not have`,
    );
  }
  const fn = declared.input as (slot: Date) => unknown;
  return encodeValue(fn(new Date(slot)), `the input of schedule '${id}'`, host.maxPayloadBytes);
}

/** The stored spec of a declared or upserted schedule (internal). */
export function specOf(s: Schedule<unknown>): ScheduleSpec {
  return scheduleInternals(s).spec;
}
