/**
 * Conformance cases. The feed (`Driver.feed`, read by `watch`): every run's
 * history items in commit order, resumable after any cursor.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Driver, StoredFeedItem } from "../lib/driver.ts";
import { done, newRun, T0, WF } from "./rows.ts";
import { collect, type ConformanceCase, started } from "./_conformance_helpers.ts";

function label(item: StoredFeedItem): string {
  const what = item.item.source === "event"
    ? item.item.event.type
    : `row:${item.item.row.key}:${item.item.row.state}`;
  return `${item.runId} ${what}`;
}

/** Every item after `after`, read `limit` at a time. */
async function readAll(driver: Driver, limit: number, after?: string): Promise<StoredFeedItem[]> {
  const all: StoredFeedItem[] = [];
  let cursor = after;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await driver.feed(cursor, limit);
    assert.ok(page.length <= limit);
    all.push(...page);
    if (page.length < limit) return all;
    cursor = page.at(-1)!.cursor;
  }
  throw new Error("the feed never ended");
}

/** The cases of this area. */
export const FEED_CASES: ConformanceCase[] = [
  {
    name: "feed lists every run's history items in commit order and resumes after any cursor",
    async fn(driver) {
      const a = await started(driver, "a");
      await driver.createRun(newRun("b", { workflow: "other" }), T0);
      await driver.write(a, { steps: [done("one", "1")] }, T0 + 1);
      await driver.sendSignal("b", "go", '"x"', T0 + 2);
      await driver.write(
        a,
        {
          steps: [done("two", "2")],
          events: [{ type: "step.failed", at: T0 + 3, step: "three", attempt: 1 }],
        },
        T0 + 3,
      );
      await driver.cancelRun("b", "no", T0 + 4);
      await driver.write(a, { run: { status: "completed", output: "3" } }, T0 + 5);
      const all = await readAll(driver, 100);
      const labels = all.map(label);
      const expected = [
        "a run.created",
        "a run.started",
        "b run.created",
        "a row:one:done",
        "b signal.received",
        "a row:two:done",
        "a step.failed",
        "b run.cancelled",
      ];
      assert.deepEqual(
        labels.filter((l) => expected.includes(l)),
        expected,
        "items come in the order they were written",
      );
      assert.equal(new Set(all.map((i) => i.cursor)).size, all.length, "cursors are unique");
      assert.deepEqual(
        [...new Set(all.map((i) => `${i.runId}:${i.workflow}`))].sort(),
        [`a:${WF}`, "b:other"],
      );
      for (const limit of [1, 2, 3]) {
        assert.deepEqual((await readAll(driver, limit)).map(label), labels, `pages of ${limit}`);
      }
      for (let i = 0; i < all.length; i++) {
        assert.deepEqual(
          (await driver.feed(all[i]!.cursor, 100)).map(label),
          labels.slice(i + 1),
          `after item ${i}`,
        );
      }
    },
  },
  {
    name: "feed gives a reader that caught up exactly what was written since",
    async fn(driver) {
      const a = await started(driver, "a");
      const seen = await readAll(driver, 10);
      const cursor = seen.at(-1)!.cursor;
      assert.deepEqual(await driver.feed(cursor, 10), []);
      const end = await driver.feedEnd();
      assert.deepEqual(await driver.feed(end, 10), [], "feedEnd: everything is seen");
      await driver.write(a, { steps: [done("one", "1")] }, T0 + 1);
      await driver.createRun(newRun("b"), T0 + 2);
      const fresh = await driver.feed(cursor, 10);
      assert.deepEqual(fresh.map(label), ["a row:one:done", "b run.created"]);
      assert.deepEqual((await driver.feed(end, 10)).map(label), fresh.map(label));
      assert.deepEqual(await driver.feed(fresh.at(-1)!.cursor, 10), []);
      await assert.rejects(driver.feed("not a cursor", 10), TypeError);
    },
  },
  {
    name: "a purge of the newest items makes no cursor skip or repeat what is written next",
    async fn(driver) {
      const a = await started(driver, "a");
      await driver.write(a, { steps: [done("one", "1")] }, T0 + 1);
      await driver.write(a, { run: { status: "completed", output: "1" } }, T0 + 2);
      const seen = await readAll(driver, 100);
      const end = await driver.feedEnd();
      assert.equal(await driver.purge(T0 + 10), 1, "the run and its items are gone");
      const b = await started(driver, "b", T0 + 11);
      await driver.write(b, { steps: [done("two", "2")] }, T0 + 12);
      const expected = ["b run.created", "b run.started", "b row:two:done"];
      for (const cursor of [...seen.map((item) => item.cursor), end]) {
        assert.deepEqual(
          (await readAll(driver, 100, cursor)).map(label),
          expected,
          `after cursor '${cursor}' of the purged run`,
        );
      }
    },
  },
  {
    name: "feed leaves out a purged run's items; every cursor given before the purge still resumes",
    async fn(driver) {
      const a = await started(driver, "a");
      const b = await started(driver, "b");
      await driver.write(a, { steps: [done("one", "1")] }, T0 + 1);
      await driver.write(b, { steps: [done("one", "1")] }, T0 + 2);
      await driver.write(a, { run: { status: "completed", output: "1" } }, T0 + 3);
      await driver.write(b, { steps: [done("two", "2")] }, T0 + 4);
      const before = await readAll(driver, 100);
      assert.equal(await driver.purge(T0 + 10), 1, "a is finished, b runs");
      const kept = before.filter((item) => item.runId !== "a");
      const after = await readAll(driver, 100);
      assert.deepEqual(after.map(label), kept.map(label));
      for (let i = 0; i < before.length; i++) {
        const rest = before.slice(i + 1).filter((item) => item.runId !== "a");
        assert.deepEqual(
          (await driver.feed(before[i]!.cursor, 100)).map(label),
          rest.map(label),
          `after ${label(before[i]!)}`,
        );
      }
      await driver.write(b, { steps: [done("three", "3")] }, T0 + 11);
      assert.deepEqual((await driver.feed(after.at(-1)!.cursor, 10)).map(label), [
        "b row:three:done",
      ]);
    },
  },
  {
    name: "a write after a read of the feed brings a 'written' notice",
    async fn(driver) {
      const a = await started(driver, "a");
      const { notices, off } = collect(driver);
      try {
        const reads = [() => driver.feedEnd(), () => driver.feed(undefined, 10)];
        for (const [i, read] of reads.entries()) {
          await read();
          notices.length = 0;
          await driver.write(a, { steps: [done(`s${i}`, "1")] }, T0 + 1);
          await new Promise((resolve) => setTimeout(resolve, 0));
          assert.ok(notices.some((n) => n.type === "written"), "a reader of the feed hears of it");
        }
      } finally {
        off();
      }
    },
  },
];
