/**
 * Slot arithmetic for schedules: pure functions of a rule and times, shared by
 * every worker so that all of them compute the same slots. Cron expressions
 * and time zones are `npm:croner`'s (never parsed here); an `every` interval
 * is aligned to the Unix epoch. Internal: not exported from `mod.ts`.
 *
 * @module
 */
import { Cron } from "croner";

/** A slot more than this late (no worker was running) is missed and follows `catchUp`. */
export const MISSED_AFTER_MS = 60_000;

/** The most missed slots that `catchUp: "all"` starts (the newest ones). */
export const MAX_CATCH_UP = 100;

/**
 * How many slots of a cron expression {@linkcode SlotRule.count} counts at
 * most (croner takes tens of microseconds per slot; intervals count exactly).
 */
export const MAX_COUNTED_SLOTS = 1_000;

/** What a schedule does with slots missed while no worker ran. */
export type CatchUpPolicy = "latest" | "all" | "none";

/** When a schedule's slots fall: epoch milliseconds. */
export interface SlotRule {
  /** The first slot strictly after `afterMs`, or `undefined` when there is none. */
  next(afterMs: number): number | undefined;
  /** Up to `count` slots strictly before `beforeMs`, newest first. */
  previous(beforeMs: number, count: number): number[];
  /**
   * The number of slots from `from` to `to`, both included (for a cron
   * expression, at most {@linkcode MAX_COUNTED_SLOTS}).
   */
  count(from: number, to: number): number;
}

/**
 * The slots of a cron expression in a time zone, as croner computes them
 * (daylight-saving changes included).
 *
 * @param cron 5 or 6 fields.
 * @param timezone An IANA time zone name.
 * @throws {TypeError | RangeError} croner's error, when the expression or the zone is invalid.
 */
export function cronRule(cron: string, timezone: string): SlotRule {
  const job = new Cron(cron, { timezone, mode: "5-or-6-parts" });
  // croner takes tens of microseconds per call, and many schedules share an
  // expression and a slot: remember the latest answers.
  const memo = new Map<number, number | undefined>();
  return {
    next(afterMs) {
      if (memo.has(afterMs)) return memo.get(afterMs);
      const next = job.nextRun(new Date(afterMs))?.getTime();
      if (memo.size >= 256) memo.delete(memo.keys().next().value!);
      memo.set(afterMs, next);
      return next;
    },
    previous(beforeMs, count) {
      return job.previousRuns(count, new Date(beforeMs)).map((date) => date.getTime())
        .filter((at) => at < beforeMs);
    },
    count(from, to) {
      let count = 0;
      let slot = job.nextRun(new Date(from - 1))?.getTime();
      while (slot !== undefined && slot <= to && count < MAX_COUNTED_SLOTS) {
        count++;
        slot = job.nextRun(new Date(slot))?.getTime();
      }
      return count;
    },
  };
}

/**
 * The slots of an interval aligned to the Unix epoch: every multiple of
 * `everyMs` (so `every: "10m"` fires at :00, :10, … UTC).
 *
 * @param everyMs The interval, in whole milliseconds (at least 1).
 */
export function everyRule(everyMs: number): SlotRule {
  return {
    next(afterMs) {
      return (Math.floor(afterMs / everyMs) + 1) * everyMs;
    },
    previous(beforeMs, count) {
      const slots: number[] = [];
      let slot = (Math.ceil(beforeMs / everyMs) - 1) * everyMs;
      for (let i = 0; i < count; i++, slot -= everyMs) slots.push(slot);
      return slots;
    },
    count(from, to) {
      return to < from ? 0 : Math.floor(to / everyMs) - Math.ceil(from / everyMs) + 1;
    },
  };
}

/** The slots a worker handles at one time, and the schedule's next slot after them. */
export interface DueSlots {
  /** Slots to fire (or to skip, by `overlap`), oldest first. */
  fire: number[];
  /** Whether slots were missed (more than {@linkcode MISSED_AFTER_MS} late). */
  missed: boolean;
  /** The first slot strictly after `now`: the schedule's new `nextAt`. */
  next: number | undefined;
}

/**
 * The slots due at `now` for a schedule whose next slot is `nextAt`: each slot
 * from `nextAt` to `now` is on time (at most {@linkcode MISSED_AFTER_MS} late,
 * always fired) or missed, and missed slots follow `catchUp`:
 *
 * - `"latest"`: the newest missed slot fires, unless an on-time slot fires
 *   anyway (so a downtime ends with exactly one run);
 * - `"all"`: the newest {@linkcode MAX_CATCH_UP} missed slots fire;
 * - `"none"`: none fires.
 *
 * @param rule The schedule's slots.
 * @param catchUp The policy for missed slots.
 * @param nextAt The schedule's next slot (a slot of `rule`).
 * @param now The current time.
 */
export function dueSlots(
  rule: SlotRule,
  catchUp: CatchUpPolicy,
  nextAt: number,
  now: number,
): DueSlots {
  if (nextAt > now) return { fire: [], missed: false, next: nextAt };
  const lateLimit = now - MISSED_AFTER_MS;
  const onTime: number[] = [];
  let slot: number | undefined = nextAt >= lateLimit ? nextAt : rule.next(lateLimit - 1);
  while (slot !== undefined && slot <= now) {
    onTime.push(slot);
    slot = rule.next(slot);
  }
  if (nextAt >= lateLimit) return { fire: onTime, missed: false, next: slot };
  // Missed slots are those in [nextAt, lateLimit).
  const wanted = catchUp === "all"
    ? MAX_CATCH_UP
    : catchUp === "latest" && onTime.length === 0
    ? 1
    : 0;
  const missed = wanted === 0 ? [] : rule.previous(lateLimit, wanted)
    .filter((at) => at >= nextAt).reverse();
  return { fire: [...missed, ...onTime], missed: true, next: slot };
}

/** The run id of a schedule's slot: `<scheduleId>@<slot as ISO 8601 UTC>`. */
export function slotRunId(scheduleId: string, slot: number): string {
  return `${scheduleId}@${new Date(slot).toISOString()}`;
}

/** The run id of a manual trigger: `<scheduleId>@manual-<time as ISO 8601 UTC>`. */
export function manualRunId(scheduleId: string, at: number): string {
  return `${scheduleId}@manual-${new Date(at).toISOString()}`;
}
