/**
 * The clock an `Engine` uses when its clock is the real one and its driver can
 * report the storage's own time (PostgreSQL): the database's timeline, followed
 * locally. Workers on several machines then agree on lease expiry and due
 * times however far their own clocks are off.
 *
 * The clock measures the storage time a few times, keeps the sample with the
 * shortest round trip (assuming the database read its clock halfway through),
 * and from then on counts on the process's monotonic clock
 * (`performance.now()`), so a jump of the local wall clock does not move it
 * either. It measures again, in the background, once the last measurement is
 * {@linkcode CLOCK_RESYNC_MS} old.
 *
 * @module
 */
import type { Clock, ClockTimer } from "./clock.ts";
import { ClockSkewError, StorageError } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** A process whose clock differs from the storage's by more than this logs a warning. */
export const CLOCK_SKEW_WARN_MS = 1_000;
/** A process whose clock differs from the storage's by more than this refuses to work. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** How old a measurement may grow before the clock measures again. */
export const CLOCK_RESYNC_MS = 10_000;

const SAMPLES = 3;
const MAX_TIMEOUT = 2_147_483_647;

/** Describes an offset for people: `"60.0s ahead of"`. */
function describeOffset(offsetMs: number): string {
  return `${(Math.abs(offsetMs) / 1000).toFixed(1)}s ${offsetMs < 0 ? "ahead of" : "behind"}`;
}

/** @internal The database's timeline, followed on the local monotonic clock. */
export class StorageClock implements Clock {
  readonly #readStorageTime: () => Promise<number>;
  readonly #logger: Logger;
  /** The storage time at `#anchorMono`; before the first measurement, local time. */
  #anchorTime = Date.now();
  #anchorMono = performance.now();
  #last = -Infinity;
  #measuredAt = -Infinity;
  #measuring: Promise<void> | undefined;
  #skew: ClockSkewError | undefined;
  #warnedOffset: number | undefined;
  /** The last measured offset: storage time minus local time (ms). */
  offsetMs = 0;

  /**
   * @param readStorageTime Reads the storage's current time (epoch ms).
   * @param logger Where skew warnings go.
   */
  constructor(readStorageTime: () => Promise<number>, logger: Logger) {
    this.#readStorageTime = readStorageTime;
    this.#logger = logger;
  }

  /** The storage's time now, never going backwards (epoch ms, whole). */
  now(): number {
    const at = Math.floor(this.#anchorTime + (performance.now() - this.#anchorMono));
    if (at > this.#last) this.#last = at;
    return this.#last;
  }

  /** Fires once `now()` reaches `at`, checked again when the timer fires. */
  setTimer(at: number, callback: () => void): ClockTimer {
    let handle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      const delay = at - this.now();
      if (delay <= 0) {
        handle = undefined;
        callback();
      } else handle = setTimeout(arm, Math.min(delay, MAX_TIMEOUT));
    };
    handle = setTimeout(arm, Math.min(Math.max(0, at - this.now()), MAX_TIMEOUT));
    return {
      cancel() {
        if (handle !== undefined) clearTimeout(handle);
        handle = undefined;
      },
    };
  }

  /**
   * Resolves once the clock follows the storage: at once when the last
   * measurement is recent (measuring again in the background when it is not),
   * else after a measurement. Rejects with the `StorageError` of a first
   * measurement that failed, or with `ClockSkewError` while the local clock is
   * off by more than {@linkcode MAX_CLOCK_SKEW_MS}.
   */
  async ready(): Promise<void> {
    const stale = performance.now() - this.#measuredAt >= CLOCK_RESYNC_MS;
    if (stale && this.#measuring === undefined) {
      const measuring = this.#measure().finally(() => this.#measuring = undefined);
      measuring.catch((error) => {
        if (this.#measuredAt === -Infinity) return; // the waiting caller reports it
        this.#logger.warn("cannot read the database clock; keeping the last measured offset", {
          error: error instanceof Error ? error.message : String(error),
        });
      });
      this.#measuring = measuring;
    }
    if (this.#measuredAt === -Infinity || (this.#skew && stale)) await this.#measuring;
    if (this.#skew) throw this.#skew;
  }

  async #measure(): Promise<void> {
    let best: { roundTrip: number; time: number; mono: number; offset: number } | undefined;
    for (let i = 0; i < SAMPLES; i++) {
      const mono0 = performance.now();
      const local0 = Date.now();
      const time = await this.#readStorageTime();
      const mono1 = performance.now();
      const local1 = Date.now();
      if (typeof time !== "number" || !Number.isFinite(time)) {
        throw new StorageError(`Cannot use database time ${String(time)}: it is not a number`);
      }
      const roundTrip = mono1 - mono0;
      if (best === undefined || roundTrip < best.roundTrip) {
        best = { roundTrip, time, mono: (mono0 + mono1) / 2, offset: time - (local0 + local1) / 2 };
      }
    }
    this.#anchorTime = best!.time;
    this.#anchorMono = best!.mono;
    this.#measuredAt = performance.now();
    const offset = this.offsetMs = Math.round(best!.offset);
    this.#skew = Math.abs(offset) > MAX_CLOCK_SKEW_MS
      ? new ClockSkewError(offset, MAX_CLOCK_SKEW_MS)
      : undefined;
    if (this.#skew) {
      this.#logger.error(this.#skew.message, { offsetMs: offset });
    } else if (
      Math.abs(offset) > CLOCK_SKEW_WARN_MS &&
      (this.#warnedOffset === undefined ||
        Math.abs(offset - this.#warnedOffset) > CLOCK_SKEW_WARN_MS)
    ) {
      this.#warnedOffset = offset;
      this.#logger.warn(
        `this process's clock is ${
          describeOffset(offset)
        } the database's: Sluice keeps time on the database's clock, but fix the host's time sync (NTP)`,
        { offsetMs: offset },
      );
    }
  }
}
