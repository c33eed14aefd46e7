/**
 * Conformance cases for the limits every driver must hold: the storable time
 * range and history pages.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Driver, StoredHistoryItem } from "../lib/driver.ts";
import { MAX_TIME_MS, MIN_TIME_MS } from "../lib/time.ts";
import { done, newRun, T0, WF } from "./rows.ts";

/** A case of the suite (the shape `conformance.ts` runs). */
export interface LimitCase {
  /** The case name. */
  name: string;
  /** The test body, on a fresh driver. */
  fn: (driver: Driver) => Promise<void>;
}

/** The limit cases. */
export const LIMIT_CASES: LimitCase[] = [
  {
    name: "the smallest and largest storable times round-trip",
    async fn(driver) {
      await driver.createRun(newRun("min", { dueAt: MIN_TIME_MS }), MIN_TIME_MS);
      await driver.createRun(newRun("max", { dueAt: MAX_TIME_MS }), MAX_TIME_MS);
      const max = await driver.getRun("max");
      assert.deepEqual([max?.createdAt, max?.updatedAt, max?.dueAt], [
        MAX_TIME_MS,
        MAX_TIME_MS,
        MAX_TIME_MS,
      ]);
      const min = await driver.getRun("min");
      assert.deepEqual([min?.createdAt, min?.updatedAt, min?.dueAt], [
        MIN_TIME_MS,
        MIN_TIME_MS,
        MIN_TIME_MS,
      ]);
      const claims = await driver.claimRuns({
        workerId: "w-1",
        now: MIN_TIME_MS,
        leaseMs: 30_000,
        limit: 10,
        workflows: [WF],
      });
      assert.deepEqual(claims.map((c) => c.run.id), ["min"], "only the run due at the minimum");
      const row = { ...done("edge", '"x"', MIN_TIME_MS), finishedAt: MAX_TIME_MS };
      await driver.write(claims[0]!.lease, {
        steps: [row],
        events: [{ type: "run.sleeping", at: MAX_TIME_MS, detail: `{"wakeAt":${MAX_TIME_MS}}` }],
        run: { status: "sleeping", dueAt: MAX_TIME_MS },
      }, MAX_TIME_MS);
      const slept = await driver.getRun("min");
      assert.deepEqual([slept?.status, slept?.dueAt, slept?.updatedAt], [
        "sleeping",
        MAX_TIME_MS,
        MAX_TIME_MS,
      ]);
      assert.deepEqual((await driver.readSteps("min", ["edge"])).get("edge"), row);
      const last = (await driver.history("min")).at(-1);
      assert.equal(last?.source === "event" && last.event.at, MAX_TIME_MS);
      assert.equal(await driver.nextDueAt([WF]), MAX_TIME_MS);
      const due = await driver.claimRuns({
        workerId: "w-1",
        now: MAX_TIME_MS - 1,
        leaseMs: 1,
        limit: 10,
        workflows: [WF],
      });
      assert.deepEqual(due, [], "nothing is due before the maximum");
    },
  },
  {
    name: "history pages by seq: the pages add up to the whole history, the last is short",
    async fn(driver) {
      await driver.createRun(newRun("paged"), T0);
      const [claim] = await driver.claimRuns({
        workerId: "w-1",
        now: T0,
        leaseMs: 30_000,
        limit: 1,
        workflows: [WF],
      });
      for (let i = 0; i < 6; i++) {
        await driver.write(claim!.lease, {
          steps: [done(`s${i}`, String(i))],
          events: [{ type: "step.retried", at: T0 + i, step: `s${i}` }],
        }, T0 + i);
      }
      const whole = await driver.history("paged");
      assert.equal(whole.length, 14, "created, started, then 6 rows and 6 events");
      for (const limit of [1, 3, 5, 14, 100]) {
        const pages: StoredHistoryItem[][] = [];
        let after: number | undefined;
        for (;;) {
          const page = await driver.history("paged", {
            ...(after === undefined ? {} : { after }),
            limit,
          });
          pages.push(page);
          assert.ok(page.length <= limit);
          if (page.length < limit) break;
          after = page.at(-1)!.seq;
        }
        assert.deepEqual(pages.flat(), whole, `pages of ${limit}`);
        assert.ok(pages.slice(0, -1).every((page) => page.length === limit));
      }
      const tail = await driver.history("paged", { after: whole.at(-1)!.seq, limit: 10 });
      assert.deepEqual(tail, []);
      await driver.write(claim!.lease, { events: [{ type: "run.completed", at: T0 + 9 }] }, T0 + 9);
      const next = await driver.history("paged", { after: whole.at(-1)!.seq, limit: 10 });
      assert.deepEqual(
        next.map((item) => item.source === "event" && item.event.type),
        ["run.completed"],
        "a cursor stays valid while the history grows",
      );
    },
  },
];
