/**
 * The schedule part of the storage-driver interface: a table of schedules
 * that workers claim and advance with compare-and-set writes, so that each
 * slot fires exactly one run across every process with no leader. Drivers
 * store and compare; the engine computes every time and slot.
 *
 * @module
 */
import type { NewRun } from "./driver.ts";

/**
 * Where a schedule comes from: `declared` in code (the engine's `schedules`
 * option, written when the engine opens) or `dynamic` (`engine.schedules.upsert`).
 */
export type ScheduleSource = "declared" | "dynamic";

/** A schedule row as a driver stores it. */
export interface StoredSchedule {
  /** The schedule id. */
  id: string;
  /** The workflow name. */
  workflow: string;
  /** The `ScheduleSpec` as JSON text. */
  spec: string;
  /** Where it comes from. */
  source: ScheduleSource;
  /** Whether its input is a function, known only to code that declares it. */
  inputFunction: boolean;
  /** Whether it is paused. */
  paused: boolean;
  /** The next slot to fire (epoch ms). */
  nextAt: number;
  /** The newest slot fired or skipped. */
  lastSlot?: number;
  /** The run of the newest fired slot. */
  lastRunId?: string;
  /** Slots skipped by `overlap` or while paused. */
  skipped: number;
  /** Raised by every change, claims included: the compare-and-set token. */
  rev: number;
  /** While a worker's claim lasts (epoch ms); absent when unclaimed. */
  claimedUntil?: number;
  /** Creation time (epoch ms). */
  createdAt: number;
  /** Time of the last change (epoch ms). */
  updatedAt: number;
}

/** What `insertSchedule` stores. */
export interface NewSchedule {
  /** The schedule id. */
  id: string;
  /** The workflow name. */
  workflow: string;
  /** The `ScheduleSpec` as JSON text. */
  spec: string;
  /** Where it comes from. */
  source: ScheduleSource;
  /** Whether its input is a function. */
  inputFunction: boolean;
  /** The first slot (epoch ms). */
  nextAt: number;
}

/** What `claimSchedules` claims. */
export interface ScheduleClaimOptions {
  /** The current time (epoch ms). */
  now: number;
  /** How long the claim lasts (ms). */
  leaseMs: number;
  /** Most schedules to claim. */
  limit: number;
  /** Only schedules of these workflows. */
  workflows: readonly string[];
  /** Schedules whose input is a function are claimed only when listed here. */
  functionIds: readonly string[];
}

/**
 * A compare-and-set change of one schedule: applied only when the row's `rev`
 * is still `rev`, atomically with creating `runs` (idempotently, as
 * `createRun` does). Every applied change raises `rev` and clears the claim.
 */
export interface ScheduleChange {
  /** The schedule id. */
  id: string;
  /** The `rev` the change was computed from. */
  rev: number;
  /** A new workflow name. */
  workflow?: string;
  /** A new spec. */
  spec?: string;
  /** A new source. */
  source?: ScheduleSource;
  /** A new input kind. */
  inputFunction?: boolean;
  /** Pause or resume. */
  paused?: boolean;
  /** The new next slot. */
  nextAt?: number;
  /** The newest slot fired or skipped. */
  lastSlot?: number;
  /** The run of the newest fired slot. */
  lastRunId?: string;
  /** Slots to add to `skipped`. */
  skipped?: number;
  /** Runs to create with the change (existing ids are kept as they are). */
  runs?: NewRun[];
}

/** Schedule storage: implemented by every driver, checked by the conformance suite. */
export interface ScheduleStore {
  /** Inserts a schedule unless its id exists; returns the stored row either way. */
  insertSchedule(
    schedule: NewSchedule,
    now: number,
  ): Promise<{ schedule: StoredSchedule; created: boolean }>;
  /** Reads a schedule. */
  getSchedule(id: string): Promise<StoredSchedule | undefined>;
  /** Every schedule, by id. */
  listSchedules(): Promise<StoredSchedule[]>;
  /**
   * Claims due schedules: unpaused, `nextAt <= now`, no claim lasting past
   * `now`. Each claimed row gets `claimedUntil = now + leaseMs` and a new `rev`;
   * concurrent claimers never get the same row.
   */
  claimSchedules(options: ScheduleClaimOptions): Promise<StoredSchedule[]>;
  /**
   * When the next schedule of these workflows becomes claimable: the earliest
   * of `max(nextAt, claimedUntil)` over unpaused rows.
   */
  nextScheduleAt(
    workflows: readonly string[],
    functionIds: readonly string[],
  ): Promise<number | undefined>;
  /** Applies a change if `rev` still matches; returns the new row, or `undefined`. */
  changeSchedule(change: ScheduleChange, now: number): Promise<StoredSchedule | undefined>;
  /** Deletes a schedule; returns whether it existed. */
  deleteSchedule(id: string): Promise<boolean>;
}
