/**
 * Time is injected: engine code reads the time and sets timers only through a
 * {@linkcode Clock}. Three clocks ship: the real one, a virtual one that skips
 * idle time, and a {@linkcode ManualClock} that tests move by hand.
 *
 * @module
 */
import { MinHeap } from "./heap.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { MAX_TIME_MS, MIN_TIME_MS, timeAfter } from "./time.ts";

/**
 * A timer set on a {@linkcode Clock}.
 *
 * @example Cancel a timer before it fires
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ClockTimer, ManualClock } from "@sluice/sluice";
 *
 * const clock = new ManualClock(0);
 * const fired: string[] = [];
 * const kept: ClockTimer = clock.setTimer(1_000, () => fired.push("kept"));
 * const dropped: ClockTimer = clock.setTimer(1_000, () => fired.push("dropped"));
 * dropped.cancel();
 * await clock.advance("1s");
 * kept.cancel(); // does nothing once fired
 * assert.deepEqual(fired, ["kept"]);
 * ```
 */
export interface ClockTimer {
  /** Stops the timer; calling it after the timer fired does nothing. */
  cancel(): void;
}

/**
 * The source of time for runners, engines and workers.
 *
 * @example A clock that is always at the epoch and never fires
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Clock } from "@sluice/sluice";
 *
 * const frozen: Clock = { now: () => 0, setTimer: () => ({ cancel() {} }) };
 * assert.equal(frozen.now(), 0);
 * ```
 */
export interface Clock {
  /** The current time in epoch milliseconds. */
  now(): number;
  /**
   * Calls `callback` once the clock reaches `at` (epoch milliseconds).
   *
   * @param at When to fire.
   * @param callback What to call.
   */
  setTimer(at: number, callback: () => void): ClockTimer;
}

/**
 * @internal Runners report work in flight so simulated clocks know when they
 * are idle: `delta` units of engine work (a poll, an activation running engine
 * code), or with `user` set, of user code the engine awaits (a step body).
 */
export const clockActivity: unique symbol = Symbol("sluice.clockActivity");
/** @internal Releases a simulated clock's own real timers. */
export const clockDispose: unique symbol = Symbol("sluice.clockDispose");

/** @internal A clock that wants to know when work is in flight. */
export interface ActivityAwareClock extends Clock {
  [clockActivity]?(delta: number, user?: boolean): void;
  [clockDispose]?(): void;
}

const MAX_TIMEOUT = 2_147_483_647;

/**
 * The wall clock: `Date.now()` and `setTimeout`.
 *
 * @example Wait on the wall clock
 * ```ts
 * import assert from "node:assert/strict";
 * import { realClock } from "@sluice/sluice";
 *
 * const start = realClock.now();
 * const firedAt = await new Promise<number>((resolve) => {
 *   realClock.setTimer(start + 10, () => resolve(realClock.now()));
 * });
 * assert.ok(firedAt >= start + 10);
 * ```
 */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(at: number, callback: () => void): ClockTimer {
    let handle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      const delay = at - Date.now();
      if (delay > MAX_TIMEOUT) {
        handle = setTimeout(arm, MAX_TIMEOUT);
      } else {
        handle = setTimeout(() => {
          handle = undefined;
          callback();
        }, Math.max(0, delay));
      }
    };
    arm();
    return {
      cancel() {
        if (handle !== undefined) clearTimeout(handle);
        handle = undefined;
      },
    };
  },
};

interface TimerEntry {
  at: number;
  callback: () => void;
  cancelled: boolean;
}

/**
 * The timers and the work in flight behind the simulated clocks. Work is
 * reported exactly: `busy` counts units of engine work (a worker's poll, an
 * activation while any of its branches runs engine code), `user` counts the
 * user code the engine awaits (step bodies in flight). An activation whose
 * branches all wait on the clock or on step bodies is not busy.
 */
class TimerQueue {
  readonly timers: MinHeap<TimerEntry> = new MinHeap();
  busy = 0;
  user = 0;
  #idleWatchers: (() => void)[] = [];
  #onChange: () => void;
  #onIdle: () => void;

  constructor(onChange: () => void, onIdle: () => void) {
    this.#onChange = onChange;
    this.#onIdle = onIdle;
  }

  add(at: number, callback: () => void): ClockTimer {
    const entry: TimerEntry = { at, callback, cancelled: false };
    this.timers.push(at, entry);
    this.#onChange();
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  activity(delta: number, user = false): void {
    if (user) this.user += delta;
    else this.busy += delta;
    if (this.busy !== 0) return;
    if (this.#idleWatchers.length > 0) {
      const watchers = this.#idleWatchers;
      this.#idleWatchers = [];
      for (const wake of watchers) wake();
    }
    if (this.user === 0) this.#onIdle();
  }

  /** The earliest live timer's time, dropping cancelled ones. */
  next(): number | undefined {
    for (;;) {
      const top = this.timers.peek();
      if (top === undefined) return undefined;
      if (!top.cancelled) return top.at;
      this.timers.pop();
    }
  }

  /** Fires every live timer due at or before `now`, in due order. */
  fireDue(now: number): void {
    for (;;) {
      const top = this.timers.peek();
      if (top === undefined || top.at > now) return;
      this.timers.pop();
      if (top.cancelled) continue;
      top.cancelled = true;
      top.callback();
    }
  }

  /**
   * Resolves once no engine work is in flight, and none has started after a
   * macrotask turn: everything left waits on the clock, on a signal or on user
   * code (a step body), so time may move on. No real-time guess is involved.
   */
  async settle(): Promise<void> {
    for (;;) {
      if (this.busy === 0) {
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
        if (this.busy === 0) return;
        continue;
      }
      await new Promise<void>((resolve) => this.#idleWatchers.push(resolve));
    }
  }
}

/**
 * A clock that moves only when a test calls {@linkcode ManualClock.advance},
 * so hours of timers run in milliseconds with no real waits.
 *
 * @example Advance a day in one call
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, ManualClock, workflow } from "@sluice/sluice";
 *
 * const clock = new ManualClock(new Date("2030-01-01T00:00:00Z"));
 * const wf = workflow<number>("nap").sleep("nap", "1d").step("done", (n) => n + 1);
 * await using runner = new LocalRunner({ clock });
 * const run = await runner.start(wf, 1);
 * await clock.advance("1d");
 * assert.equal(await run.result(), 2);
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #queue = new TimerQueue(() => {}, () => {});

  /**
   * Creates a clock standing still at `start`.
   *
   * @param start The initial time (a `Date` or epoch milliseconds); default now.
   */
  constructor(start?: Date | number) {
    const at = start === undefined ? Date.now() : start instanceof Date ? start.getTime() : start;
    if (typeof at !== "number" || !Number.isFinite(at) || at < MIN_TIME_MS || at > MAX_TIME_MS) {
      throw new RangeError(`Cannot start a ManualClock at ${String(start)}: use a valid Date`);
    }
    this.#now = Math.round(at);
  }

  /** The clock's current time in epoch milliseconds. */
  now(): number {
    return this.#now;
  }

  /**
   * Calls `callback` once {@linkcode ManualClock.advance} reaches `at`.
   *
   * @param at When to fire (epoch milliseconds).
   * @param callback What to call.
   */
  setTimer(at: number, callback: () => void): ClockTimer {
    return this.#queue.add(at, callback);
  }

  /** @ignore */
  [clockActivity](delta: number, user?: boolean): void {
    this.#queue.activity(delta, user);
  }

  /**
   * Moves the clock forward. Resolves once every timer due by the new time has
   * fired, in due order, and the work it released has settled: no engine work
   * runs any more, and everything in flight waits on this clock, on a signal
   * or on a step body. Runners report that exactly (no real-time guess), so
   * advancing is exact on a loaded machine too. A step body in flight is not
   * waited for: a step blocked until its timeout lets time move on, and one
   * doing real I/O is the test's to await (`run.result()`, `waitForStatus`).
   *
   * @param duration How far to move, e.g. `"1h"` or `500`.
   */
  async advance(duration: Duration): Promise<void> {
    const target = timeAfter(this.#now, parseDuration(duration, "advance duration"));
    const queue = this.#queue;
    await queue.settle();
    for (;;) {
      const next = queue.next();
      if (next === undefined || next > target) break;
      this.#now = Math.max(this.#now, next);
      queue.fireDue(this.#now);
      await queue.settle();
    }
    this.#now = target;
    await queue.settle();
  }
}

/**
 * The clock behind `clock: "virtual"`: real time while work runs, and a jump to
 * the next timer whenever nothing runs.
 */
export class VirtualClock implements ActivityAwareClock {
  #offset = 0;
  #realTimer: ReturnType<typeof setTimeout> | undefined;
  #realTimerAt = Infinity;
  #jumpCheck: ReturnType<typeof setTimeout> | undefined;
  #queue: TimerQueue = new TimerQueue(() => this.#changed(), () => this.#scheduleJumpCheck());

  /** Real time plus every jump made so far. */
  now(): number {
    return Date.now() + this.#offset;
  }

  /** Fires at `at`, in real time or at a jump. */
  setTimer(at: number, callback: () => void): ClockTimer {
    return this.#queue.add(at, callback);
  }

  [clockActivity](delta: number, user?: boolean): void {
    this.#queue.activity(delta, user);
  }

  [clockDispose](): void {
    this.#queue.timers.clear();
    if (this.#realTimer !== undefined) clearTimeout(this.#realTimer);
    if (this.#jumpCheck !== undefined) clearTimeout(this.#jumpCheck);
    this.#realTimer = this.#jumpCheck = undefined;
    this.#realTimerAt = Infinity;
  }

  #changed(): void {
    this.#armRealTimer();
    if (this.#queue.busy === 0 && this.#queue.user === 0) this.#scheduleJumpCheck();
  }

  #armRealTimer(): void {
    const next = this.#queue.next();
    if (next === this.#realTimerAt) return;
    if (this.#realTimer !== undefined) clearTimeout(this.#realTimer);
    this.#realTimer = undefined;
    this.#realTimerAt = next ?? Infinity;
    if (next === undefined) return;
    this.#realTimer = setTimeout(() => {
      this.#realTimer = undefined;
      this.#realTimerAt = Infinity;
      this.#queue.fireDue(this.now());
      this.#armRealTimer();
    }, Math.min(MAX_TIMEOUT, Math.max(0, next - this.now())));
  }

  #scheduleJumpCheck(): void {
    if (this.#jumpCheck !== undefined || this.#queue.next() === undefined) return;
    this.#jumpCheck = setTimeout(() => {
      this.#jumpCheck = undefined;
      const queue = this.#queue;
      if (queue.busy > 0 || queue.user > 0) return;
      const next = queue.next();
      if (next === undefined) return;
      const now = this.now();
      if (next > now) this.#offset += next - now;
      queue.fireDue(this.now());
      this.#armRealTimer();
      if (queue.busy === 0 && queue.user === 0) this.#scheduleJumpCheck();
    }, 0);
  }
}
