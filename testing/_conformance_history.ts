/**
 * Conformance cases. Reading: listRuns pages, history in write order, notices.
 *
 * @module
 */
import { signalRowData } from "../lib/formats.ts";
import assert from "node:assert/strict";
import type { Driver, StepRow, StoredEvent } from "../lib/driver.ts";
import { done, newRun, T0, WF } from "./rows.ts";
import {
  claimAll,
  collect,
  type ConformanceCase,
  has,
  ids,
  started,
  timeline,
} from "./_conformance_helpers.ts";

/** The cases of this area. */
export const HISTORY_CASES: ConformanceCase[] = [
  {
    name:
      "listRuns filters by status, workflow, labels and creation time and pages newest first without gaps",
    async fn(driver) {
      const all: string[] = [];
      for (let i = 0; i < 25; i++) {
        const id = `run-${String(i).padStart(2, "0")}`;
        all.push(id);
        await driver.createRun(
          newRun(id, {
            workflow: i % 2 === 0 ? WF : "other",
            labels: { team: i % 3 === 0 ? "a" : "b", env: "prod", "we'ird \"key": "va'l" },
          }),
          T0 + Math.floor(i / 3),
        );
      }
      const newestFirst = [...all].sort((x, y) => {
        const tx = Math.floor(Number(x.slice(4)) / 3);
        const ty = Math.floor(Number(y.slice(4)) / 3);
        return ty - tx || (x < y ? 1 : -1);
      });
      const pageThrough = async (filter: Parameters<Driver["listRuns"]>[0]) => {
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let pages = 0; pages < 100; pages++) {
          const page = await driver.listRuns({ ...filter, ...(cursor ? { cursor } : {}) });
          assert.ok(page.runs.length <= (filter.limit ?? 100));
          seen.push(...page.runs.map((run) => run.id));
          if (page.nextCursor === undefined) return seen;
          cursor = page.nextCursor;
        }
        throw new Error("listRuns never ended");
      };
      assert.deepEqual(await pageThrough({ limit: 4 }), newestFirst);
      assert.deepEqual(await pageThrough({ limit: 5 }), newestFirst);
      assert.deepEqual(await pageThrough({}), newestFirst);
      const first = await driver.listRuns({ limit: 25 });
      assert.equal(first.nextCursor, undefined);
      assert.deepEqual(first.runs[0], await driver.getRun(newestFirst[0]!));
      const claimed = ids(await claimAll(driver, T0 + 100, { limit: 3 }));
      assert.deepEqual(
        await pageThrough({ status: "running", limit: 2 }),
        newestFirst.filter((id) => claimed.includes(id)),
      );
      assert.deepEqual(
        await pageThrough({ status: ["running", "pending"], limit: 7 }),
        newestFirst,
      );
      assert.deepEqual(await pageThrough({ status: "completed" }), []);
      const other = newestFirst.filter((id) => Number(id.slice(4)) % 2 === 1);
      assert.deepEqual(await pageThrough({ workflow: "other", limit: 3 }), other);
      const teamA = newestFirst.filter((id) => Number(id.slice(4)) % 3 === 0);
      assert.deepEqual(await pageThrough({ labels: { team: "a" }, limit: 2 }), teamA);
      assert.deepEqual(await pageThrough({ labels: { team: "a", env: "prod" } }), teamA);
      assert.deepEqual(await pageThrough({ labels: { "we'ird \"key": "va'l" } }), newestFirst);
      assert.deepEqual(await pageThrough({ labels: { team: "a", env: "dev" } }), []);
      assert.deepEqual(await pageThrough({ labels: { team: "zzz" } }), []);
      assert.deepEqual(
        await pageThrough({ workflow: "other", labels: { team: "a" }, status: "pending" }),
        other.filter((id) => teamA.includes(id) && !claimed.includes(id)),
      );
      // Creation times are T0 + floor(i / 3): both bounds are inclusive.
      const created = (id: string) => T0 + Math.floor(Number(id.slice(4)) / 3);
      const between = (lo: number, hi: number) =>
        newestFirst.filter((id) => created(id) >= lo && created(id) <= hi);
      assert.deepEqual(
        await pageThrough({ createdAfter: T0 + 2, limit: 4 }),
        between(T0 + 2, T0 + 99),
      );
      assert.deepEqual(await pageThrough({ createdBefore: T0 + 2, limit: 4 }), between(T0, T0 + 2));
      assert.deepEqual(
        await pageThrough({ createdAfter: T0 + 3, createdBefore: T0 + 5, workflow: WF, limit: 2 }),
        between(T0 + 3, T0 + 5).filter((id) => Number(id.slice(4)) % 2 === 0),
      );
      assert.deepEqual(await pageThrough({ createdAfter: T0 + 5, createdBefore: T0 + 4 }), []);
    },
  },
  {
    name: "history returns events and checkpoint rows in write order",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(
        lease,
        {
          steps: [done("a", "1")],
          events: [{ type: "step.failed", at: T0, step: "b", attempt: 1 }],
        },
        T0,
      );
      await driver.write(lease, { steps: [done("c", "2")] }, T0);
      await driver.write(lease, { events: [{ type: "step.retried", at: T0, step: "b" }] }, T0);
      await driver.sendSignal("run-1", "go", '"p"', T0);
      await driver.write(
        lease,
        {
          steps: [done("d", "3")],
          events: [{ type: "run.waiting", at: T0, detail: '{"signals":["x"]}' }],
          run: { status: "waiting", waitingFor: ["x"] },
        },
        T0,
      );
      assert.deepEqual(await timeline(driver, "run-1"), [
        "run.created",
        "run.started",
        "row:a",
        "step.failed:b",
        "row:c",
        "step.retried:b",
        "signal.received",
        "row:d",
        "run.waiting",
      ]);
      const items = await driver.history("run-1");
      const signal = items.find((item) =>
        item.source === "event" && item.event.type === "signal.received"
      ) as { event: StoredEvent };
      assert.deepEqual(signal.event, {
        type: "signal.received",
        at: T0,
        detail: signalRowData("go", '"p"'),
      });
      const failedEvent = items.find((item) =>
        item.source === "event" && item.event.type === "step.failed"
      ) as { event: StoredEvent };
      assert.deepEqual(failedEvent.event, { type: "step.failed", at: T0, step: "b", attempt: 1 });
      const row = items.find((item) => item.source === "step" && item.row.key === "a") as {
        row: StepRow;
      };
      assert.deepEqual(row.row, done("a", "1"));
    },
  },
  {
    name: "subscribe reports runnable and finished notices",
    async fn(driver) {
      const { notices, off } = collect(driver);
      await driver.createRun(newRun("a"), T0);
      assert.ok(has(notices, "runnable", "a"), "a new run is runnable");
      let [claim] = await claimAll(driver, T0);
      notices.length = 0;
      await driver.write(claim!.lease, { run: { status: "running" } }, T0 + 1);
      assert.ok(has(notices, "runnable", "a"), "a released run is runnable");
      [claim] = await claimAll(driver, T0 + 1);
      notices.length = 0;
      await driver.write(claim!.lease, { run: { status: "sleeping", dueAt: T0 + 1 } }, T0 + 2);
      assert.ok(has(notices, "runnable", "a"), "a run that sleeps until the past is runnable");
      [claim] = await claimAll(driver, T0 + 2);
      notices.length = 0;
      await driver.write(claim!.lease, { run: { status: "sleeping", dueAt: T0 + 9 } }, T0 + 3);
      assert.equal(has(notices, "runnable", "a"), false, "a run that sleeps is not runnable");
      [claim] = await claimAll(driver, T0 + 9);
      await driver.write(claim!.lease, { run: { status: "completed" } }, T0 + 10);
      assert.ok(has(notices, "finished", "a"), "a completed run is finished");
      const failing = await started(driver, "b");
      notices.length = 0;
      await driver.write(
        failing,
        { run: { status: "failed", error: { name: "Error", message: "x" } } },
        T0 + 1,
      );
      assert.ok(has(notices, "finished", "b"), "a failed run is finished");
      await driver.retryRun("b", T0 + 2);
      assert.ok(has(notices, "runnable", "b"), "a retried run is runnable");
      await driver.cancelRun("b", undefined, T0 + 3);
      assert.ok(has(notices, "cancelled", "b"));
      assert.ok(has(notices, "finished", "b"), "a cancelled run is finished");
      off();
      notices.length = 0;
      await driver.createRun(newRun("c"), T0);
      assert.deepEqual(notices, [], "no notice after unsubscribing");
    },
  },
];
