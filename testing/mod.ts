/**
 * Test helpers: the `ManualClock`, `waitForStatus`, and the storage-driver
 * conformance suite that every driver (including third-party ones) runs with
 * `testDriverConformance(name, factory, { skip })`.
 *
 * @example Move a manual clock by an hour
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "@sluice/sluice/testing";
 *
 * const clock = new ManualClock(0);
 * await clock.advance("1h");
 * assert.equal(clock.now(), 3600000);
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
export { waitForStatus, type WaitForStatusOptions } from "./wait_for_status.ts";
