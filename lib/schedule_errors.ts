/**
 * The domain errors of schedules.
 *
 * @module
 */
import { SluiceError } from "./errors.ts";

/**
 * No schedule has the id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, ScheduleNotFoundError } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner();
 * await assert.rejects(runner.schedules.pause("nope"), ScheduleNotFoundError);
 * ```
 */
export class ScheduleNotFoundError extends SluiceError {
  /** The schedule id that was looked up. */
  readonly scheduleId: string;
  /**
   * Creates the error.
   *
   * @param scheduleId The unknown schedule id.
   */
  constructor(scheduleId: string) {
    super(
      "SCHEDULE_NOT_FOUND",
      `Cannot find schedule '${scheduleId}': check the id with schedules.list()`,
    );
    this.scheduleId = scheduleId;
  }
}

/**
 * A schedule id is held by a schedule of another workflow, or by a schedule
 * declared in code when a dynamic one is written (or the other way round).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DuplicateScheduleError, LocalRunner, schedule, workflow } from "@sluice/sluice";
 *
 * const a = workflow("a").step("a", () => 1);
 * const b = workflow("b").step("b", () => 2);
 * await using runner = new LocalRunner({ workflows: [a, b] });
 * await runner.schedules.upsert(schedule("tick", a, { every: "1m" }));
 * await assert.rejects(
 *   runner.schedules.upsert(schedule("tick", b, { every: "1m" })),
 *   DuplicateScheduleError,
 * );
 * ```
 */
export class DuplicateScheduleError extends SluiceError {
  /** The contested schedule id. */
  readonly scheduleId: string;
  /**
   * Creates the error.
   *
   * @param scheduleId The schedule id.
   * @param reason What holds the id, and what to do.
   */
  constructor(scheduleId: string, reason: string) {
    super("DUPLICATE_SCHEDULE", `Cannot write schedule '${scheduleId}': ${reason}`);
    this.scheduleId = scheduleId;
  }
}
