/**
 * A length of time: milliseconds, or a string such as `"250ms"`, `"5s"`,
 * `"10m"`, `"2h"`, `"1d"` or `"1h30m"`.
 *
 * @example Durations as text or milliseconds
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Duration, parseDuration, workflow } from "@sluice/sluice";
 *
 * const grace: Duration = "1h30m";
 * const poll: Duration = 250;
 * workflow<number>("later").sleep("grace", grace).sleep("poll", poll);
 * assert.equal(parseDuration(grace), 5400000);
 * assert.equal(parseDuration(poll), 250);
 * ```
 */
export type Duration = number | string;

import { MAX_DURATION_MS } from "./time.ts";

const units: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * Converts a {@linkcode Duration} to milliseconds.
 *
 * @param duration Milliseconds, or a string such as `"1h30m"`.
 * @param what What the duration is for, quoted in error messages.
 * @returns The duration in whole milliseconds (fractions round to the nearest).
 * @throws {TypeError} When it is neither a number nor a string.
 * @throws {RangeError} When it is negative, not finite, longer than
 * `MAX_DURATION_MS`, or cannot be parsed.
 *
 * @example Parse text and pass milliseconds through
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "@sluice/sluice";
 *
 * assert.equal(parseDuration("1h30m"), 5400000);
 * assert.equal(parseDuration(250), 250);
 * ```
 */
export function parseDuration(duration: Duration, what = "duration"): number {
  if (typeof duration === "number") {
    if (!Number.isFinite(duration) || duration < 0) {
      throw new RangeError(
        `Cannot use ${what} ${duration}: it must be a finite number of milliseconds, 0 or more`,
      );
    }
    return checkLength(Math.round(duration), duration, what);
  }
  if (typeof duration !== "string") {
    throw new TypeError(
      `Cannot use ${what} of type ${typeof duration}: use milliseconds or a string such as '5s'`,
    );
  }
  const text = duration.trim();
  let total = 0;
  let index = 0;
  part.lastIndex = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const match = part.exec(text);
    if (!match) break;
    total += Number(match[1]) * units[match[2]!]!;
    index = part.lastIndex;
  }
  if (text.length === 0 || index !== text.length) {
    throw new RangeError(
      `Cannot parse ${what} '${duration}': use milliseconds or a string such as '250ms', '5s', '10m', '2h', '1d' or '1h30m'`,
    );
  }
  return checkLength(Math.round(total), duration, what);
}

function checkLength(ms: number, duration: Duration, what: string): number {
  if (ms > MAX_DURATION_MS) {
    throw new RangeError(
      `Cannot use ${what} ${
        typeof duration === "string" ? `'${duration}'` : duration
      }: durations are at most ${MAX_DURATION_MS} milliseconds, use a shorter one`,
    );
  }
  return ms;
}
