/**
 * Conformance cases. Signals and timers: sleeping runs, the signal inbox,
 * consuming signals, waking waiting runs.
 *
 * @module
 */
import { signalRowData } from "../lib/formats.ts";
import assert from "node:assert/strict";
import { ManualClock } from "../lib/clock.ts";
import { InvalidStateError, RunNotFoundError } from "../lib/errors.ts";
import type { StepRow } from "../lib/driver.ts";
import { done, newRun, T0, WF } from "./rows.ts";
import {
  claimAll,
  collect,
  type ConformanceCase,
  has,
  ids,
  LEASE_MS,
  rowsOf,
  started,
  timeline,
} from "./_conformance_helpers.ts";

/** The cases of this area. */
export const SIGNALS_CASES: ConformanceCase[] = [
  {
    name: "sleeping runs become claimable exactly at their due time, in due order",
    async fn(driver) {
      const clock = new ManualClock(T0);
      for (const id of ["r1", "r2", "r3"]) await driver.createRun(newRun(id), clock.now());
      const claims = await claimAll(driver, clock.now());
      const wake: Record<string, string> = { r1: "3h", r2: "1h", r3: "2h" };
      const hours: Record<string, number> = { r1: 3, r2: 1, r3: 2 };
      for (const claim of claims) {
        await driver.write(
          claim.lease,
          {
            events: [{ type: "run.sleeping", at: clock.now() }],
            run: { status: "sleeping", dueAt: T0 + hours[claim.run.id]! * 3_600_000 },
          },
          clock.now(),
        );
      }
      const r2 = (await driver.getRun("r2"))!;
      assert.equal(r2.status, "sleeping");
      assert.equal(r2.dueAt, T0 + 3_600_000);
      assert.equal(r2.leaseOwner, undefined);
      assert.equal(await driver.nextDueAt([WF]), T0 + 3_600_000);
      assert.deepEqual(await claimAll(driver, clock.now()), []);
      const order: string[] = [];
      for (const id of ["r2", "r3", "r1"]) {
        const due = T0 + hours[id]! * 3_600_000;
        await clock.advance(due - 1 - clock.now());
        assert.deepEqual(await claimAll(driver, clock.now()), [], `${id} is not due 1ms early`);
        await clock.advance(1);
        assert.equal(wake[id] !== undefined, true);
        const woken = await claimAll(driver, clock.now());
        assert.deepEqual(ids(woken), [id]);
        assert.equal(woken[0]!.previousStatus, "sleeping");
        order.push(...ids(woken));
        await driver.write(woken[0]!.lease, { run: { status: "completed" } }, clock.now());
      }
      assert.deepEqual(order, ["r2", "r3", "r1"]);
      assert.equal(await driver.nextDueAt([WF]), undefined);
    },
  },
  {
    name: "a signal sent before the wait is kept and consumed when the wait is reached",
    async fn(driver) {
      await driver.createRun(newRun("run-1"), T0);
      await driver.sendSignal("run-1", "approve", '{"ok":true}', T0 + 1);
      assert.equal((await driver.getRun("run-1"))!.status, "pending");
      const [claim] = await claimAll(driver, T0 + 2);
      assert.ok(claim);
      const row: StepRow = {
        key: "approval",
        kind: "wait",
        state: "done",
        startedAt: T0 + 2,
        finishedAt: T0 + 3,
      };
      const got = await driver.consumeSignal(claim.lease, ["approve"], row, {}, T0 + 3);
      assert.deepEqual(got, { name: "approve", payload: '{"ok":true}' });
      assert.deepEqual(await rowsOf(driver, "run-1", ["approval"]), [
        { ...row, data: signalRowData("approve", '{"ok":true}') },
      ]);
      assert.equal(
        await driver.consumeSignal(claim.lease, ["approve"], { ...row, key: "again" }, {}, T0 + 4),
        undefined,
      );
      assert.deepEqual(await rowsOf(driver, "run-1", ["again"]), []);
      assert.deepEqual(await timeline(driver, "run-1"), [
        "run.created",
        "signal.received",
        "run.started",
        "row:approval",
      ]);
    },
  },
  {
    name: "consumeSignal takes the oldest matching signal exactly once, in send order",
    async fn(driver) {
      await driver.createRun(newRun("run-1"), T0);
      await driver.sendSignal("run-1", "a", "1", T0);
      await driver.sendSignal("run-1", "b", "2", T0);
      await driver.sendSignal("run-1", "a", "3", T0);
      await driver.sendSignal("run-1", "c", undefined, T0);
      const [claim] = await claimAll(driver, T0);
      assert.ok(claim);
      let n = 0;
      const take = (names: string[], batch = {}) =>
        driver.consumeSignal(
          claim.lease,
          names,
          { key: `w${n++}`, kind: "wait", state: "done" },
          batch,
          T0 + 1,
        );
      assert.deepEqual(await take(["a"]), { name: "a", payload: "1" });
      assert.deepEqual(await take(["a", "c"]), { name: "a", payload: "3" });
      assert.equal(await take(["a"]), undefined);
      assert.deepEqual(await take(["c", "b"]), { name: "b", payload: "2" });
      const waitRow: StepRow = { key: "later", kind: "wait", state: "pending", data: "{}" };
      assert.deepEqual(await take(["c"], { steps: [waitRow] }), { name: "c" });
      assert.equal(await take(["b", "c"], { steps: [waitRow] }), undefined);
      assert.deepEqual(await rowsOf(driver, "run-1", ["later"]), [waitRow]);
      await driver.sendSignal("run-1", "x", '"only"', T0 + 2);
      const both = await Promise.all([take(["x"]), take(["x"])]);
      assert.deepEqual(both.filter((got) => got !== undefined), [{ name: "x", payload: '"only"' }]);
      const extended = await driver.extendLeases([claim.lease], T0 + 3, LEASE_MS);
      assert.equal(extended[0]!.signals, false, "the inbox is empty");
    },
  },
  {
    name: "a signal with an id is delivered at most once per run, also after the run finished",
    async fn(driver) {
      await driver.createRun(newRun("run-1"), T0);
      await driver.createRun(newRun("run-2"), T0);
      const once = { id: "pay-1" };
      assert.equal(await driver.sendSignal("run-1", "paid", '"a"', T0 + 1, once), true);
      assert.equal(await driver.sendSignal("run-1", "paid", '"b"', T0 + 2, once), false);
      const racing = await Promise.all(
        [1, 2, 3].map(() => driver.sendSignal("run-1", "paid", '"c"', T0 + 3, { id: "pay-2" })),
      );
      assert.deepEqual(racing.filter((delivered) => delivered), [true], "one racer delivers");
      assert.equal(await driver.sendSignal("run-2", "paid", '"d"', T0 + 3, once), true, "per run");
      assert.equal(await driver.sendSignal("run-1", "paid", '"e"', T0 + 4), true, "no id");
      const [claim] = (await claimAll(driver, T0 + 5)).filter((c) => c.run.id === "run-1");
      assert.ok(claim);
      const taken: unknown[] = [];
      for (let n = 0;; n++) {
        const row: StepRow = { key: `w${n}`, kind: "wait", state: "done" };
        const got = await driver.consumeSignal(claim.lease, ["paid"], row, {}, T0 + 6);
        if (!got) break;
        taken.push(got.payload);
      }
      assert.deepEqual(taken, ['"a"', '"c"', '"e"'], "the inbox holds each id once");
      assert.equal(
        await driver.sendSignal("run-1", "paid", '"f"', T0 + 7, once),
        false,
        "consumed",
      );
      await driver.write(claim.lease, { run: { status: "completed" } }, T0 + 8);
      assert.equal(
        await driver.sendSignal("run-1", "paid", '"g"', T0 + 9, once),
        false,
        "finished",
      );
      await assert.rejects(
        driver.sendSignal("run-1", "paid", '"h"', T0 + 9, { id: "pay-3" }),
        InvalidStateError,
      );
      await assert.rejects(
        driver.sendSignal("nope", "paid", undefined, T0 + 9, once),
        RunNotFoundError,
      );
      const received = (await driver.history("run-1")).filter((item) =>
        item.source === "event" && item.event.type === "signal.received"
      );
      assert.equal(received.length, 3, "a repeat writes no history");
      assert.equal(await driver.purge(T0 + 10), 1);
      await assert.rejects(
        driver.sendSignal("run-1", "paid", undefined, T0 + 11, once),
        RunNotFoundError,
      );
    },
  },
  {
    name:
      "startWithSignal creates the run with the signal in its inbox, or signals it; refuses finished runs",
    async fn(driver) {
      const first = await driver.startWithSignal(newRun("run-1"), { name: "go", payload: "1" }, T0);
      assert.deepEqual([first.created, first.delivered, first.run.status], [true, true, "pending"]);
      const again = await driver.startWithSignal(
        newRun("run-1"),
        { name: "go", payload: "2", id: "g-2" },
        T0 + 1,
      );
      assert.deepEqual([again.created, again.delivered], [false, true]);
      const repeat = await driver.startWithSignal(
        newRun("run-1"),
        { name: "go", id: "g-2" },
        T0 + 2,
      );
      assert.deepEqual([repeat.created, repeat.delivered], [false, false]);
      const other = await driver.startWithSignal(
        { ...newRun("run-1"), workflow: "another" },
        { name: "go", payload: "3" },
        T0 + 2,
      );
      assert.deepEqual([other.created, other.delivered, other.run.workflow], [false, false, WF]);
      const racing = await Promise.all(
        ["a", "b", "c", "d"].map((id) =>
          driver.startWithSignal(newRun("run-2"), { name: "go", payload: `"${id}"`, id }, T0 + 3)
        ),
      );
      assert.deepEqual(racing.filter((r) => r.created).length, 1, "one creator");
      assert.ok(racing.every((r) => r.delivered));
      const [claim] = (await claimAll(driver, T0 + 4)).filter((c) => c.run.id === "run-1");
      assert.ok(claim);
      const row: StepRow = { key: "w", kind: "wait", state: "done" };
      assert.deepEqual(await driver.consumeSignal(claim.lease, ["go"], row, {}, T0 + 5), {
        name: "go",
        payload: "1",
      });
      const row2: StepRow = { key: "w2", kind: "wait", state: "done" };
      assert.deepEqual(await driver.consumeSignal(claim.lease, ["go"], row2, {}, T0 + 5), {
        name: "go",
        payload: "2",
      });
      await driver.write(claim.lease, { run: { status: "completed" } }, T0 + 6);
      await assert.rejects(
        driver.startWithSignal(newRun("run-1"), { name: "go" }, T0 + 7),
        InvalidStateError,
      );
      const received = (await driver.history("run-1")).filter((item) =>
        item.source === "event" && item.event.type === "signal.received"
      );
      assert.equal(received.length, 2, "a refused or repeated signal writes nothing");
    },
  },
  {
    name: "suspending to waiting with a matching signal in the inbox makes the run due at once",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.sendSignal("run-1", "go", undefined, T0 + 1);
      const { notices, off } = collect(driver);
      await driver.write(
        lease,
        { run: { status: "waiting", waitingFor: ["go"], dueAt: T0 + 99_999 } },
        T0 + 2,
      );
      off();
      const run = (await driver.getRun("run-1"))!;
      assert.equal(run.status, "waiting");
      assert.equal(run.dueAt, T0 + 2);
      assert.deepEqual(run.waitingFor, ["go"]);
      assert.ok(has(notices, "runnable", "run-1"));
      const [claim] = await claimAll(driver, T0 + 2);
      assert.ok(claim);
      assert.equal(claim.previousStatus, "waiting");
      assert.equal(claim.run.waitingFor, undefined);
      await driver.write(
        claim.lease,
        { run: { status: "waiting", waitingFor: ["other"], dueAt: T0 + 50 } },
        T0 + 3,
      );
      assert.equal((await driver.getRun("run-1"))!.dueAt, T0 + 50);
      const [third] = await claimAll(driver, T0 + 50);
      assert.ok(third);
      await driver.write(
        third.lease,
        { run: { status: "waiting", waitingFor: ["other"] } },
        T0 + 51,
      );
      assert.equal((await driver.getRun("run-1"))!.dueAt, undefined);
    },
  },
  {
    name: "sendSignal to a waiting run makes it due and reports it runnable",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(lease, { run: { status: "waiting", waitingFor: ["go", "stop"] } }, T0 + 1);
      assert.equal((await driver.getRun("run-1"))!.dueAt, undefined);
      assert.equal(await driver.nextDueAt([WF]), undefined);
      const { notices, off } = collect(driver);
      await driver.sendSignal("run-1", "other", undefined, T0 + 2);
      assert.equal((await driver.getRun("run-1"))!.dueAt, undefined);
      assert.ok(has(notices, "signal", "run-1"));
      assert.equal(has(notices, "runnable", "run-1"), false);
      await driver.sendSignal("run-1", "stop", '"now"', T0 + 50);
      off();
      assert.ok(has(notices, "runnable", "run-1"));
      assert.equal((await driver.getRun("run-1"))!.dueAt, T0 + 50);
      const [claim] = await claimAll(driver, T0 + 50);
      assert.ok(claim);
      assert.deepEqual(
        await driver.consumeSignal(claim.lease, ["go", "stop"], done("w"), {}, T0 + 51),
        { name: "stop", payload: '"now"' },
      );
    },
  },
];
