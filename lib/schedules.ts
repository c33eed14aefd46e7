/**
 * `engine.schedules` (and `runner.schedules`): dynamic schedules and the
 * operations on every schedule; and the writing of declared schedules when an
 * engine opens. One implementation behind both front doors.
 *
 * @module
 */
import type { Driver } from "./driver.ts";
import { InvalidStateError, WorkflowNotFoundError } from "./errors.ts";
import type { RunHandle } from "./records.ts";
import {
  decodeScheduleSpec,
  encodeScheduleSpec,
  Schedule,
  type ScheduleCatchUp,
  type ScheduleOverlap,
  type ScheduleSpec,
} from "./schedule.ts";
import { DuplicateScheduleError, ScheduleNotFoundError } from "./schedule_errors.ts";
import type { ScheduleChange, ScheduleSource, StoredSchedule } from "./schedule_store.ts";
import { ruleOf, SCHEDULE_LABEL, type SchedulerHost, slotInput, specOf } from "./scheduler.ts";
import { manualRunId } from "./slots.ts";
import { MAX_TIME_MS } from "./time.ts";
import { decodeValue, encodeValue } from "./values.ts";
import { describe } from "./validate.ts";

/**
 * A schedule as stored, with its state: what `schedules.get()` and
 * `schedules.list()` return.
 *
 * @example Read a schedule's state
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, ManualClock, schedule, type ScheduleInfo, workflow } from "@sluice/sluice";
 *
 * const ping = workflow("ping").step("ping", () => "pong");
 * const clock = new ManualClock(Date.UTC(2026, 0, 1, 9, 58));
 * await using runner = new LocalRunner({ workflows: [ping], clock });
 * await runner.schedules.upsert(schedule("ping-hourly", ping, { cron: "0 * * * *" }));
 * await clock.advance("3m");
 * const info: ScheduleInfo = await runner.schedules.get("ping-hourly");
 * assert.equal(info.lastSlot?.toISOString(), "2026-01-01T10:00:00.000Z");
 * assert.equal(info.lastRunId, "ping-hourly@2026-01-01T10:00:00.000Z");
 * assert.equal(info.nextAt?.toISOString(), "2026-01-01T11:00:00.000Z");
 * assert.equal(info.skipped, 0);
 * ```
 */
export interface ScheduleInfo {
  /** The schedule id. */
  id: string;
  /** The workflow name. */
  workflow: string;
  /** The cron expression, for a cron schedule. */
  cron?: string;
  /** The interval in milliseconds, for an interval schedule. */
  every?: number;
  /** The time zone of `cron` (`"UTC"` for `every`). */
  timezone: string;
  /** The overlap policy. */
  overlap: ScheduleOverlap;
  /** The catch-up policy. */
  catchUp: ScheduleCatchUp;
  /** The constant input, if any (a function input is not stored). */
  input?: unknown;
  /** Whether its input is a function of the slot, declared in code. */
  inputFunction: boolean;
  /** Whether it is paused. */
  paused: boolean;
  /** The next slot; absent while paused. */
  nextAt?: Date;
  /** The newest slot fired or skipped. */
  lastSlot?: Date;
  /** The run of the newest fired slot. */
  lastRunId?: string;
  /** Slots skipped by `overlap` or while paused. */
  skipped: number;
  /** `declared` in code (the `schedules` option) or `dynamic` (`schedules.upsert`). */
  source: ScheduleSource;
  /** When it was first written. */
  createdAt: Date;
  /** When it last changed. */
  updatedAt: Date;
}

/** What `Schedules` and the worker need from the engine. */
export interface SchedulesHost extends SchedulerHost {
  /** Throws when the engine is closed. */
  check(): void;
  /** Resolves once the declared schedules are written. */
  ready(): Promise<void>;
}

/** Starts a run, as `engine.start` does. */
export type StartRun = (
  workflow: string,
  input: unknown,
  options: { id: string; labels: Record<string, string> },
) => Promise<RunHandle<unknown>>;

/** How often a compare-and-set change is tried again when a worker's claim moved `rev`. */
const CHANGE_ATTEMPTS = 20;

function toInfo(row: StoredSchedule): ScheduleInfo {
  const spec = decodeScheduleSpec(row.spec);
  const info: ScheduleInfo = {
    id: row.id,
    workflow: row.workflow,
    timezone: spec.timezone,
    overlap: spec.overlap,
    catchUp: spec.catchUp,
    inputFunction: spec.inputFunction === true,
    paused: row.paused,
    skipped: row.skipped,
    source: row.source,
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
  };
  if (spec.cron !== undefined) info.cron = spec.cron;
  if (spec.every !== undefined) info.every = spec.every;
  if (spec.input !== undefined) info.input = decodeValue(spec.input);
  if (!row.paused && row.nextAt < MAX_TIME_MS) info.nextAt = new Date(row.nextAt);
  if (row.lastSlot !== undefined) info.lastSlot = new Date(row.lastSlot);
  if (row.lastRunId !== undefined) info.lastRunId = row.lastRunId;
  return info;
}

function checkId(id: unknown): asserts id is string {
  if (typeof id !== "string" || id.length === 0 || id.length > 128) {
    throw new TypeError(`Cannot use schedule id ${describe(id)}: pass the id of a schedule`);
  }
}

/**
 * The schedules of an engine or runner: `upsert`, `get`, `list`, `pause`,
 * `resume`, `trigger` and `delete`. Get it as `engine.schedules`.
 *
 * @example Add a dynamic schedule, pause it and trigger it by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, schedule, workflow } from "@sluice/sluice";
 *
 * const report = workflow<{ tenant: string }>("report").step("build", (i) => `report ${i.tenant}`);
 * await using runner = new LocalRunner({ workflows: [report] });
 * await runner.schedules.upsert(
 *   schedule("report.acme", report, { cron: "0 6 * * *", input: { tenant: "acme" } }),
 * );
 * const paused = await runner.schedules.pause("report.acme");
 * assert.equal(paused.paused, true);
 * const run = await runner.schedules.trigger("report.acme");
 * assert.equal(await run.result(), "report acme");
 * assert.match(run.id, /^report\.acme@manual-/);
 * ```
 */
export class Schedules {
  readonly #host: SchedulesHost;
  readonly #start: StartRun;

  /** @ignore Use `engine.schedules`. */
  constructor(host: SchedulesHost, start: StartRun) {
    this.#host = host;
    this.#start = start;
  }

  /**
   * Creates or updates a dynamic schedule. Its state (next slot, last run,
   * skips, paused) is kept when its timing and policies are unchanged; a new
   * cron expression or interval starts from the first slot after now.
   *
   * @param def A schedule made with `schedule()`, with a JSON input (other
   * processes must be able to fire it) and a workflow registered here.
   * @returns The stored schedule.
   * @throws {TypeError} When `def` is not a schedule or its input is a function.
   * @throws {WorkflowNotFoundError} When its workflow is not registered.
   * @throws {DuplicateScheduleError} When the id is held by another workflow
   * or by a schedule declared in code.
   */
  // deno-lint-ignore no-explicit-any
  async upsert(def: Schedule<any>): Promise<ScheduleInfo> {
    const host = this.#host;
    host.check();
    if (!(def instanceof Schedule)) {
      throw new TypeError(
        `Cannot upsert ${
          typeof def === "object" ? "an object" : `a ${typeof def}`
        } as a schedule: make it with schedule()`,
      );
    }
    if (typeof def.input === "function") {
      throw new TypeError(
        `Cannot upsert schedule '${def.id}' with a function input: other processes must fire it, so give a constant JSON input (a function input is for schedules declared in code)`,
      );
    }
    if (host.latest(def.workflow.name) === undefined) {
      throw new WorkflowNotFoundError(def.workflow.name);
    }
    const spec = specOf(def);
    if (spec.input !== undefined) {
      encodeValue(def.input, `the input of schedule '${def.id}'`, host.maxPayloadBytes);
    }
    await host.ready();
    const row = await writeSchedule(host, def, spec, "dynamic");
    return toInfo(row);
  }

  /**
   * Reads a schedule.
   *
   * @throws {ScheduleNotFoundError} When no schedule has the id.
   */
  async get(id: string): Promise<ScheduleInfo> {
    return toInfo(await this.#read(id));
  }

  /** Every schedule, by id. */
  async list(): Promise<ScheduleInfo[]> {
    this.#host.check();
    await this.#host.ready();
    return (await this.#host.store.listSchedules()).map(toInfo);
  }

  /**
   * Pauses a schedule: its slots are skipped (counted in `skipped`) until it
   * resumes, and never caught up.
   *
   * @throws {ScheduleNotFoundError} When no schedule has the id.
   */
  pause(id: string): Promise<ScheduleInfo> {
    return this.#change(id, (row) => row.paused ? undefined : { id, rev: row.rev, paused: true });
  }

  /**
   * Resumes a paused schedule from the first slot after now; the slots that
   * fell while it was paused are counted in `skipped`.
   *
   * @throws {ScheduleNotFoundError} When no schedule has the id.
   */
  resume(id: string): Promise<ScheduleInfo> {
    return this.#change(id, (row, now) => {
      if (!row.paused) return undefined;
      const change: ScheduleChange = { id, rev: row.rev, paused: false };
      if (row.nextAt <= now) {
        const rule = ruleOf(row.spec, decodeScheduleSpec(row.spec));
        change.skipped = rule.count(row.nextAt, now);
        change.nextAt = rule.next(now) ?? MAX_TIME_MS;
      }
      return change;
    });
  }

  /**
   * Starts one run of a schedule now, with the id `<scheduleId>@manual-<ISO>`
   * and the label `{ schedule: <scheduleId> }`; the schedule is unchanged.
   *
   * @throws {ScheduleNotFoundError} When no schedule has the id.
   * @throws {WorkflowNotFoundError} When its workflow is not registered here.
   */
  async trigger(id: string): Promise<RunHandle<unknown>> {
    const host = this.#host;
    const row = await this.#read(id);
    const now = host.now();
    const spec = decodeScheduleSpec(row.spec);
    const input = slotInput(host, id, spec, now);
    return await this.#start(row.workflow, decodeValue(input), {
      id: manualRunId(id, now),
      labels: { [SCHEDULE_LABEL]: id },
    });
  }

  /**
   * Deletes a dynamic schedule; runs it started stay. A schedule declared in
   * code is removed by removing it from the code.
   *
   * @throws {ScheduleNotFoundError} When no schedule has the id.
   * @throws {InvalidStateError} When the schedule is declared in code.
   */
  async delete(id: string): Promise<void> {
    const row = await this.#read(id);
    if (row.source === "declared") {
      throw new InvalidStateError(
        `Cannot delete schedule '${id}': it is declared in code; remove it from the engine's 'schedules' instead`,
      );
    }
    if (!(await this.#host.store.deleteSchedule(id))) throw new ScheduleNotFoundError(id);
  }

  async #read(id: string): Promise<StoredSchedule> {
    this.#host.check();
    checkId(id);
    await this.#host.ready();
    const row = await this.#host.store.getSchedule(id);
    if (row === undefined) throw new ScheduleNotFoundError(id);
    return row;
  }

  async #change(
    id: string,
    make: (row: StoredSchedule, now: number) => ScheduleChange | undefined,
  ): Promise<ScheduleInfo> {
    for (let attempt = 0;; attempt++) {
      const row = await this.#read(id);
      const now = this.#host.now();
      const change = make(row, now);
      if (change === undefined) return toInfo(row);
      const changed = await this.#host.store.changeSchedule(change, now);
      if (changed !== undefined) return toInfo(changed);
      if (attempt >= CHANGE_ATTEMPTS) {
        throw new Error(`Cannot change schedule '${id}': it kept changing; try again`);
      }
    }
  }
}

/**
 * Writes one schedule: inserts it, or updates its workflow, spec and source,
 * keeping its state when the timing is unchanged.
 */
async function writeSchedule(
  host: SchedulerHost,
  def: Schedule<unknown>,
  spec: ScheduleSpec,
  source: ScheduleSource,
): Promise<StoredSchedule> {
  const specText = encodeScheduleSpec(spec);
  for (let attempt = 0;; attempt++) {
    const now = host.now();
    const nextAt = ruleOf(specText, spec).next(now) ?? MAX_TIME_MS;
    const { schedule: row, created } = await host.store.insertSchedule({
      id: def.id,
      workflow: def.workflow.name,
      spec: specText,
      source,
      inputFunction: spec.inputFunction === true,
      nextAt,
    }, now);
    if (created) return row;
    if (source === "dynamic") {
      if (row.source === "declared") {
        throw new DuplicateScheduleError(
          def.id,
          "it is declared in code; change it there, or use another id",
        );
      }
      if (row.workflow !== def.workflow.name) {
        throw new DuplicateScheduleError(
          def.id,
          `the id belongs to a schedule of workflow '${row.workflow}'; use another id`,
        );
      }
    }
    if (row.spec === specText && row.workflow === def.workflow.name && row.source === source) {
      return row;
    }
    const change: ScheduleChange = {
      id: def.id,
      rev: row.rev,
      workflow: def.workflow.name,
      spec: specText,
      source,
      inputFunction: spec.inputFunction === true,
    };
    if (timingChanged(decodeScheduleSpec(row.spec), spec)) change.nextAt = nextAt;
    const changed = await host.store.changeSchedule(change, now);
    if (changed !== undefined) return changed;
    if (attempt >= CHANGE_ATTEMPTS) {
      throw new Error(`Cannot write schedule '${def.id}': it kept changing; try again`);
    }
  }
}

function timingChanged(before: ScheduleSpec, after: ScheduleSpec): boolean {
  return before.cron !== after.cron || before.every !== after.every ||
    before.timezone !== after.timezone;
}

/**
 * Checks the `schedules` option of an engine: schedules with unique ids whose
 * workflows are registered.
 */
export function checkDeclared(
  schedules: unknown,
  registered: (name: string) => boolean,
): Schedule<unknown>[] {
  if (!Array.isArray(schedules)) {
    throw new TypeError(
      `Cannot use 'schedules' of type ${typeof schedules}: pass an array of schedule() results`,
    );
  }
  const ids = new Set<string>();
  for (const s of schedules) {
    if (!(s instanceof Schedule)) {
      throw new TypeError("Cannot use an entry of 'schedules' that is not made with schedule()");
    }
    if (ids.has(s.id)) {
      throw new TypeError(`Cannot declare schedule '${s.id}' twice: give each schedule its own id`);
    }
    ids.add(s.id);
    if (!registered(s.workflow.name)) {
      throw new TypeError(
        `Cannot declare schedule '${s.id}': its workflow '${s.workflow.name}' is not registered, add it to 'workflows'`,
      );
    }
  }
  return schedules as Schedule<unknown>[];
}

/**
 * Writes the declared schedules when an engine opens: new ones are inserted,
 * changed ones updated, and declared rows of this engine's workflows that it
 * no longer declares are deleted (code is their source of truth).
 */
export async function syncDeclared(
  host: SchedulerHost,
  schedules: readonly Schedule<unknown>[],
): Promise<void> {
  for (const s of schedules) await writeSchedule(host, s, specOf(s), "declared");
  const declared = new Set(schedules.map((s) => s.id));
  const served = new Set(host.workflowNames);
  for (const row of await host.store.listSchedules()) {
    if (row.source === "declared" && !declared.has(row.id) && served.has(row.workflow)) {
      await host.store.deleteSchedule(row.id);
    }
  }
}

/** What {@linkcode scheduleHost} reads from the runtime. */
export interface ScheduleRuntime {
  readonly driver: Driver;
  readonly clock: { now(): number };
  readonly workflowNames: readonly string[];
  readonly maxPayloadBytes: number;
  readonly logger: SchedulerHost["logger"];
  check(): void;
  clockReady(): Promise<void> | undefined;
  latestVersion(name: string): ReturnType<SchedulerHost["latest"]>;
}

/**
 * The schedules of a runtime: the host that workers fire with and that
 * `Schedules` reads and writes through. Declared schedules (`undefined` when the engine declares
 * none) are written once, before the first firing or operation.
 */
export function scheduleHost(
  rt: ScheduleRuntime,
  declared: readonly Schedule<unknown>[] | undefined,
): SchedulesHost {
  let synced: Promise<void> | undefined;
  const host: SchedulesHost = {
    store: rt.driver.scheduleStore,
    now: () => rt.clock.now(),
    get workflowNames() {
      return rt.workflowNames;
    },
    latest: (name) => rt.latestVersion(name),
    declared: new Map((declared ?? []).map((s) => [s.id, s])),
    maxPayloadBytes: rt.maxPayloadBytes,
    getRun: (runId) => rt.driver.getRun(runId),
    logger: rt.logger,
    check: () => rt.check(),
    ready() {
      return synced ??= (async () => {
        await rt.clockReady();
        if (declared !== undefined) await syncDeclared(host, declared);
      })().catch((error) => {
        synced = undefined;
        throw error;
      });
    },
  };
  return host;
}
