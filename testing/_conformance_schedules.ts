/**
 * Conformance cases. Schedules: insert, claim, compare-and-set change with its
 * runs, next due time, delete; and firing under real Engines and Workers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { workflow } from "../lib/builder.ts";
import { ManualClock } from "../lib/clock.ts";
import type { Driver } from "../lib/driver.ts";
import { Engine } from "../lib/engine.ts";
import { InvalidStateError } from "../lib/errors.ts";
import { schedule } from "../lib/schedule.ts";
import type { NewSchedule, ScheduleClaimOptions } from "../lib/schedule_store.ts";
import type { ConformanceCase } from "./_conformance_helpers.ts";
import { newRun, T0, WF } from "./rows.ts";

const SPEC = '{"every":60000,"timezone":"UTC","overlap":"skip","catchUp":"latest"}';

function newSchedule(id: string, overrides: Partial<NewSchedule> = {}): NewSchedule {
  return {
    id,
    workflow: WF,
    spec: SPEC,
    source: "dynamic",
    inputFunction: false,
    nextAt: T0,
    ...overrides,
  };
}

function claimOptions(overrides: Partial<ScheduleClaimOptions> = {}): ScheduleClaimOptions {
  return { now: T0, leaseMs: 10_000, limit: 100, workflows: [WF], functionIds: [], ...overrides };
}

async function claimedIds(driver: Driver, options: Partial<ScheduleClaimOptions> = {}) {
  return (await driver.scheduleStore.claimSchedules(claimOptions(options))).map((s) => s.id).sort();
}

/** The cases of this area. */
export const SCHEDULE_CASES: ConformanceCase[] = [
  {
    name: "insertSchedule stores a schedule once; get and list read it back",
    async fn(driver) {
      const first = await driver.scheduleStore.insertSchedule(
        newSchedule("b", { source: "declared" }),
        T0,
      );
      assert.equal(first.created, true);
      assert.deepEqual(first.schedule, {
        id: "b",
        workflow: WF,
        spec: SPEC,
        source: "declared",
        inputFunction: false,
        paused: false,
        nextAt: T0,
        skipped: 0,
        rev: first.schedule.rev,
        createdAt: T0,
        updatedAt: T0,
      });
      const again = await driver.scheduleStore.insertSchedule(
        newSchedule("b", { workflow: "other" }),
        T0 + 5,
      );
      assert.equal(again.created, false);
      assert.deepEqual(again.schedule, first.schedule);
      await driver.scheduleStore.insertSchedule(newSchedule("a", { inputFunction: true }), T0);
      assert.deepEqual(await driver.scheduleStore.getSchedule("b"), first.schedule);
      assert.equal(await driver.scheduleStore.getSchedule("c"), undefined);
      const list = await driver.scheduleStore.listSchedules();
      assert.deepEqual(list.map((s) => [s.id, s.inputFunction]), [["a", true], ["b", false]]);
    },
  },
  {
    name:
      "claimSchedules takes due, unpaused schedules of the given workflows, once until the claim ends",
    async fn(driver) {
      await driver.scheduleStore.insertSchedule(newSchedule("due"), T0);
      await driver.scheduleStore.insertSchedule(newSchedule("later", { nextAt: T0 + 1 }), T0);
      await driver.scheduleStore.insertSchedule(newSchedule("other", { workflow: "other-wf" }), T0);
      await driver.scheduleStore.insertSchedule(newSchedule("fn", { inputFunction: true }), T0);
      const paused =
        (await driver.scheduleStore.insertSchedule(newSchedule("paused"), T0)).schedule;
      await driver.scheduleStore.changeSchedule(
        { id: "paused", rev: paused.rev, paused: true },
        T0,
      );
      const before = (await driver.scheduleStore.getSchedule("due"))!;
      const [claimed, ...rest] = await driver.scheduleStore.claimSchedules(claimOptions());
      assert.equal(rest.length, 0);
      assert.equal(claimed!.id, "due");
      assert.equal(claimed!.claimedUntil, T0 + 10_000);
      assert.ok(claimed!.rev > before.rev);
      assert.deepEqual(await driver.scheduleStore.getSchedule("due"), claimed);
      assert.deepEqual(await claimedIds(driver, { now: T0 + 9_999 }), ["later"]);
      assert.deepEqual(await claimedIds(driver, { now: T0 + 10_000, functionIds: ["fn"] }), [
        "due",
        "fn",
      ]);
      assert.deepEqual(await claimedIds(driver, { now: T0 + 99_999, workflows: ["none"] }), []);
    },
  },
  {
    name: "concurrent claimSchedules calls never hand out one schedule twice",
    async fn(driver) {
      for (let i = 0; i < 20; i++) {
        await driver.scheduleStore.insertSchedule(newSchedule(`s-${i}`), T0);
      }
      const results = await Promise.all(
        Array.from(
          { length: 5 },
          () => driver.scheduleStore.claimSchedules(claimOptions({ limit: 7 })),
        ),
      );
      const all = results.flat().map((s) => s.id);
      assert.equal(all.length, 20);
      assert.equal(new Set(all).size, 20);
    },
  },
  {
    name: "changeSchedule applies a change only at the expected rev, with its runs, atomically",
    async fn(driver) {
      await driver.scheduleStore.insertSchedule(newSchedule("s"), T0);
      const [claimed] = await driver.scheduleStore.claimSchedules(claimOptions());
      const slotRun = newRun("s@slot-1", { labels: { schedule: "s" } });
      const stale = await driver.scheduleStore.changeSchedule({
        id: "s",
        rev: claimed!.rev - 1,
        nextAt: T0 + 60_000,
        runs: [slotRun],
      }, T0 + 1);
      assert.equal(stale, undefined);
      assert.equal(await driver.getRun("s@slot-1"), undefined);
      assert.deepEqual(await driver.scheduleStore.getSchedule("s"), claimed);
      await driver.createRun(newRun("s@slot-0"), T0);
      const changed = await driver.scheduleStore.changeSchedule({
        id: "s",
        rev: claimed!.rev,
        nextAt: T0 + 60_000,
        lastSlot: T0,
        lastRunId: "s@slot-1",
        skipped: 2,
        runs: [newRun("s@slot-0", { workflow: "changed" }), slotRun],
      }, T0 + 1);
      assert.ok(changed);
      assert.equal(changed.nextAt, T0 + 60_000);
      assert.equal(changed.lastSlot, T0);
      assert.equal(changed.lastRunId, "s@slot-1");
      assert.equal(changed.skipped, 2);
      assert.equal(changed.claimedUntil, undefined);
      assert.equal(changed.updatedAt, T0 + 1);
      assert.ok(changed.rev > claimed!.rev);
      assert.deepEqual(await driver.scheduleStore.getSchedule("s"), changed);
      assert.equal((await driver.getRun("s@slot-0"))?.workflow, WF, "an existing run is kept");
      const run = await driver.getRun("s@slot-1");
      assert.equal(run?.status, "pending");
      assert.deepEqual(run?.labels, { schedule: "s" });
      const again = await driver.scheduleStore.changeSchedule({
        id: "s",
        rev: claimed!.rev,
        skipped: 1,
      }, T0 + 2);
      assert.equal(again, undefined);
      const paused = await driver.scheduleStore.changeSchedule({
        id: "s",
        rev: changed.rev,
        paused: true,
        workflow: "wf-2",
        spec: "{}",
        source: "declared",
        inputFunction: true,
        skipped: 1,
      }, T0 + 3);
      assert.deepEqual(
        [paused?.paused, paused?.workflow, paused?.spec, paused?.source, paused?.inputFunction],
        [true, "wf-2", "{}", "declared", true],
      );
      assert.equal(paused?.skipped, 3);
      assert.equal(paused?.lastRunId, "s@slot-1", "absent fields keep their values");
      assert.equal(
        await driver.scheduleStore.changeSchedule({ id: "none", rev: 1, paused: true }, T0),
        undefined,
      );
    },
  },
  {
    name: "nextScheduleAt is the earliest claimable time of unpaused schedules of the workflows",
    async fn(driver) {
      assert.equal(await driver.scheduleStore.nextScheduleAt([WF], []), undefined);
      await driver.scheduleStore.insertSchedule(newSchedule("a", { nextAt: T0 + 500 }), T0);
      await driver.scheduleStore.insertSchedule(newSchedule("b", { nextAt: T0 + 100 }), T0);
      await driver.scheduleStore.insertSchedule(
        newSchedule("c", { nextAt: T0 + 50, workflow: "x" }),
        T0,
      );
      await driver.scheduleStore.insertSchedule(
        newSchedule("d", { nextAt: T0 + 10, inputFunction: true }),
        T0,
      );
      assert.equal(await driver.scheduleStore.nextScheduleAt([WF], []), T0 + 100);
      assert.equal(await driver.scheduleStore.nextScheduleAt([WF, "x"], ["d"]), T0 + 10);
      await driver.scheduleStore.claimSchedules(claimOptions({ now: T0 + 100 })); // claims b until T0 + 10,100
      assert.equal(await driver.scheduleStore.nextScheduleAt([WF], []), T0 + 500);
      const a = (await driver.scheduleStore.getSchedule("a"))!;
      await driver.scheduleStore.changeSchedule({ id: "a", rev: a.rev, paused: true }, T0);
      assert.equal(await driver.scheduleStore.nextScheduleAt([WF], []), T0 + 10_100);
    },
  },
  {
    name: "deleteSchedule removes a schedule and reports whether it existed",
    async fn(driver) {
      await driver.scheduleStore.insertSchedule(newSchedule("s"), T0);
      assert.equal(await driver.scheduleStore.deleteSchedule("s"), true);
      assert.equal(await driver.scheduleStore.deleteSchedule("s"), false);
      assert.equal(await driver.scheduleStore.getSchedule("s"), undefined);
      assert.deepEqual(await driver.scheduleStore.listSchedules(), []);
    },
  },
  {
    name:
      "schedule ids, specs and workflow names with quotes, SQL keywords and unicode are stored verbatim",
    async fn(driver) {
      const id = "it's'; DROP TABLE schedules; --ü🙂";
      const spec = '{"cron":"0 3 * * *","note":"\\"quoted\\" \' ; --"}';
      await driver.scheduleStore.insertSchedule(newSchedule(id, { spec, workflow: "wf'\"" }), T0);
      const row = await driver.scheduleStore.getSchedule(id);
      assert.equal(row?.spec, spec);
      assert.equal(row?.workflow, "wf'\"");
      assert.deepEqual(await claimedIds(driver, { workflows: ["wf'\""] }), [id]);
    },
  },
  {
    name: "schedule operations after close() throw InvalidStateError",
    closes: true,
    async fn(driver) {
      await driver.scheduleStore.insertSchedule(newSchedule("s"), T0);
      await driver.close();
      const calls: [string, () => Promise<unknown>][] = [
        ["insertSchedule", () => driver.scheduleStore.insertSchedule(newSchedule("t"), T0)],
        ["getSchedule", () => driver.scheduleStore.getSchedule("s")],
        ["listSchedules", () => driver.scheduleStore.listSchedules()],
        ["claimSchedules", () => driver.scheduleStore.claimSchedules(claimOptions())],
        ["nextScheduleAt", () => driver.scheduleStore.nextScheduleAt([WF], [])],
        ["changeSchedule", () => driver.scheduleStore.changeSchedule({ id: "s", rev: 1 }, T0)],
        ["deleteSchedule", () => driver.scheduleStore.deleteSchedule("s")],
      ];
      for (const [what, call] of calls) {
        await assert.rejects(async () => await call(), InvalidStateError, `${what} after close`);
      }
    },
  },
  {
    name: "three workers fire each slot of a schedule exactly once under a ManualClock",
    closes: true,
    async fn(driver, dispose) {
      const clock = new ManualClock(T0 - (T0 % 60_000));
      const tick = workflow("conformance-tick").step("tick", () => "ok");
      const every = schedule("conformance-every", tick, { every: "1m" });
      const engines = [0, 1, 2].map(() =>
        new Engine({ driver, workflows: [tick], schedules: [every], clock })
      );
      // One engine owns (and closes) the driver; the others share it.
      dispose(engines[0]!);
      for (const engine of engines) {
        const worker = dispose(engine.worker());
        await worker.start();
      }
      for (let i = 0; i < 10; i++) await clock.advance("1m");
      const { runs } = await engines[0]!.list({ labels: { schedule: "conformance-every" } });
      const slots = runs.map((r) => r.id).sort();
      assert.equal(slots.length, 10);
      assert.equal(new Set(slots).size, 10);
      for (const run of runs) assert.equal(run.status, "completed");
      const info = await engines[0]!.schedules.get("conformance-every");
      assert.equal(info.lastRunId, slots.at(-1));
      assert.equal(info.skipped, 0);
    },
  },
];
