/**
 * Test helpers: the `ManualClock`, and the storage-driver conformance suite
 * that every driver (including third-party ones) runs.
 *
 * @example
 * ```ts
 * import { ManualClock } from "@sluice/sluice/testing";
 *
 * const clock = new ManualClock(0);
 * await clock.advance("1h");
 * console.log(clock.now()); // 3600000
 * ```
 *
 * @module
 */
export { ManualClock } from "../lib/clock.ts";
export {
  CONFORMANCE_CASES,
  type ConformanceOptions,
  testDriverConformance,
} from "./conformance.ts";
