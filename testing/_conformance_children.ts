/**
 * Conformance cases. Child runs: `parentId` and `parentCall` stored and
 * listed, and a finished `.call` child waking its parent in the same write
 * that finishes it (completed, failed or cancelled), with a `child.finished`
 * event in the parent's history, while a spawned child leaves its parent
 * alone.
 *
 * @module
 */
import assert from "node:assert/strict";
import { childSignal, type Driver } from "../lib/driver.ts";
import { newRun, T0 } from "./rows.ts";
import { claimAll, type ConformanceCase, ids, started } from "./_conformance_helpers.ts";

/** A parent `p` waiting (no deadline) for the wake-ups of `children`, which run under leases. */
async function waitingParent(driver: Driver, children: { id: string; call: boolean }[]) {
  await driver.createRun(newRun("p"), T0);
  const [parent] = await claimAll(driver, T0);
  for (const child of children) {
    await driver.createRun(newRun(child.id, { parentId: "p", parentCall: child.call }), T0);
  }
  await driver.write(parent!.lease, {
    run: { status: "waiting", waitingFor: children.map((c) => childSignal(c.id)) },
  }, T0);
  return await claimAll(driver, T0 + 1);
}

/**
 * The parent's history, each event as `type` plus its decoded detail: a
 * child's wake-up is a `child.finished` with its id and status, never a
 * `signal.received` of the internal `@child:` name.
 */
async function parentEvents(driver: Driver, runId: string) {
  const events: { type: string; detail?: unknown }[] = [];
  for (const item of await driver.history(runId)) {
    if (item.source !== "event") continue;
    const { type, detail } = item.event;
    events.push(detail === undefined ? { type } : { type, detail: JSON.parse(detail) });
  }
  assert.ok(!events.some((e) => e.type === "signal.received"), "no wake-up as a signal");
  return events.filter((e) => e.type === "child.finished");
}

/** The cases of this area. */
export const CHILDREN_CASES: ConformanceCase[] = [
  {
    name: "child runs keep parentId and parentCall; listRuns filters by parentId",
    async fn(driver) {
      await driver.createRun(newRun("p"), T0);
      await driver.createRun(newRun("p/a", { parentId: "p", parentCall: true }), T0 + 1);
      await driver.createRun(newRun("p/b", { parentId: "p" }), T0 + 2);
      await driver.createRun(newRun("q/a", { parentId: "q'; --" }), T0 + 3);
      const a = (await driver.getRun("p/a"))!;
      assert.equal(a.parentId, "p");
      assert.equal(a.parentCall, true);
      const b = (await driver.getRun("p/b"))!;
      assert.equal(b.parentId, "p");
      assert.equal(b.parentCall, undefined);
      assert.equal((await driver.getRun("p"))!.parentId, undefined);
      assert.deepEqual((await driver.listRuns({ parentId: "p" })).runs.map((r) => r.id), [
        "p/b",
        "p/a",
      ]);
      assert.deepEqual((await driver.listRuns({ parentId: "q'; --" })).runs.map((r) => r.id), [
        "q/a",
      ]);
      const page = await driver.listRuns({ parentId: "p", limit: 1 });
      assert.deepEqual(page.runs.map((r) => r.id), ["p/b"]);
      const next = await driver.listRuns({ parentId: "p", limit: 1, cursor: page.nextCursor! });
      assert.deepEqual(next.runs.map((r) => r.id), ["p/a"]);
    },
  },
  {
    name: "a .call child that completes wakes its waiting parent in the same write",
    async fn(driver) {
      const claims = await waitingParent(driver, [{ id: "p/c", call: true }]);
      const child = claims.find((c) => c.run.id === "p/c")!;
      assert.deepEqual(ids(claims), ["p/c"], "the parent is not due yet");
      await driver.write(child.lease, { run: { status: "completed", output: "42" } }, T0 + 2);
      const parent = (await driver.getRun("p"))!;
      assert.equal(parent.status, "waiting");
      assert.equal(parent.dueAt, T0 + 2);
      assert.deepEqual(ids(await claimAll(driver, T0 + 2)), ["p"]);
      assert.deepEqual(await parentEvents(driver, "p"), [
        { type: "child.finished", detail: { child: "p/c", status: "completed" } },
      ]);
    },
  },
  {
    name: "a .call child that fails or is cancelled wakes its parent; a spawned one does not",
    async fn(driver) {
      const claims = await waitingParent(driver, [
        { id: "p/f", call: true },
        { id: "p/s", call: false },
      ]);
      const spawned = claims.find((c) => c.run.id === "p/s")!;
      await driver.write(spawned.lease, { run: { status: "completed" } }, T0 + 2);
      assert.equal((await driver.getRun("p"))!.dueAt, undefined, "a spawned child wakes nobody");
      const failed = claims.find((c) => c.run.id === "p/f")!;
      await driver.write(
        failed.lease,
        { run: { status: "failed", error: { name: "Error", message: "no" } } },
        T0 + 3,
      );
      assert.equal((await driver.getRun("p"))!.dueAt, T0 + 3);
      assert.deepEqual(await parentEvents(driver, "p"), [
        { type: "child.finished", detail: { child: "p/f", status: "failed" } },
      ]);
      // A cancelled child: a second parent waits for it.
      await driver.createRun(newRun("p2"), T0);
      const [p2] = await claimAll(driver, T0 + 4, { workflows: ["wf"], limit: 10 }).then((c) =>
        c.filter((x) => x.run.id === "p2")
      );
      await driver.createRun(newRun("p2/c", { parentId: "p2", parentCall: true }), T0 + 4);
      await driver.write(p2!.lease, {
        run: { status: "waiting", waitingFor: [childSignal("p2/c")] },
      }, T0 + 4);
      await driver.cancelRun("p2/c", "by someone", T0 + 5);
      assert.equal((await driver.getRun("p2"))!.dueAt, T0 + 5);
      assert.deepEqual(await parentEvents(driver, "p2"), [
        { type: "child.finished", detail: { child: "p2/c", status: "cancelled" } },
      ]);
    },
  },
  {
    name: "a .call child that finishes before its parent suspends is not missed",
    async fn(driver) {
      await driver.createRun(newRun("p"), T0);
      const [parent] = await claimAll(driver, T0);
      await driver.createRun(newRun("p/c", { parentId: "p", parentCall: true }), T0);
      const [child] = (await claimAll(driver, T0)).filter((c) => c.run.id === "p/c");
      await driver.write(child!.lease, { run: { status: "completed" } }, T0 + 1);
      await driver.write(parent!.lease, {
        run: { status: "waiting", waitingFor: [childSignal("p/c")] },
      }, T0 + 2);
      assert.equal((await driver.getRun("p"))!.dueAt, T0 + 2, "due at once: the inbox has it");
    },
  },
  {
    name: "a child that finishes after its parent finished leaves the parent unchanged",
    async fn(driver) {
      await driver.createRun(newRun("p"), T0);
      await driver.createRun(newRun("p/c", { parentId: "p", parentCall: true }), T0);
      const claims = await claimAll(driver, T0);
      const parent = claims.find((c) => c.run.id === "p")!;
      const child = claims.find((c) => c.run.id === "p/c")!;
      await driver.write(parent.lease, { run: { status: "completed" } }, T0 + 1);
      const before = await driver.history("p");
      await driver.write(child.lease, { run: { status: "completed" } }, T0 + 2);
      assert.equal((await driver.getRun("p"))!.status, "completed");
      assert.deepEqual(await driver.history("p"), before);
    },
  },
  {
    name:
      "dropSignals removes a read wake-up from the inbox, fenced, keeping other signals in order",
    async fn(driver) {
      await driver.createRun(newRun("p"), T0);
      await driver.createRun(newRun("p/c", { parentId: "p", parentCall: true }), T0);
      const claims = await claimAll(driver, T0);
      const parent = claims.find((c) => c.run.id === "p")!;
      const child = claims.find((c) => c.run.id === "p/c")!;
      await driver.sendSignal("p", "a", '"1"', T0 + 1);
      await driver.write(child.lease, { run: { status: "completed" } }, T0 + 2);
      await driver.sendSignal("p", "b", '"2"', T0 + 3);
      const wake = childSignal("p/c");
      // A stale lease drops nothing.
      const stale = { runId: "p", token: parent.lease.token - 1 };
      await assert.rejects(driver.write(stale, { dropSignals: [wake] }, T0 + 4), {
        code: "LEASE_LOST",
      });
      const take = (names: string[], key: string) =>
        driver.consumeSignal(
          parent.lease,
          names,
          { key, kind: "wait", state: "done" },
          {},
          T0 + 5,
        );
      // Dropping a name with no entry ("z") is no error; rows and events still land.
      await driver.write(parent.lease, {
        dropSignals: [wake, "z"],
        steps: [{ key: "call", kind: "call", state: "done", data: "42" }],
      }, T0 + 4);
      assert.equal((await driver.readSteps("p", ["call"])).get("call")?.data, "42");
      assert.equal(await take([wake], "w0"), undefined, "the wake-up is gone");
      assert.deepEqual(await take(["a", "b", wake], "w1"), { name: "a", payload: '"1"' });
      assert.deepEqual(await take(["a", "b", wake], "w2"), { name: "b", payload: '"2"' });
      assert.equal(await take(["a", "b", wake], "w3"), undefined);
      // consumeSignal's batch drops too.
      await driver.sendSignal("p", wake, undefined, T0 + 6);
      await driver.sendSignal("p", "c", undefined, T0 + 6);
      assert.deepEqual(
        await driver.consumeSignal(
          parent.lease,
          ["c"],
          { key: "w4", kind: "wait", state: "done" },
          { dropSignals: [wake] },
          T0 + 7,
        ),
        { name: "c" },
      );
      assert.equal(await take([wake], "w5"), undefined);
      const [state] = await driver.extendLeases([parent.lease], T0 + 8, 30_000);
      assert.equal(state?.signals, false, "nothing is left in the inbox");
    },
  },
  {
    name:
      "orphanedChildren lists unfinished .call children of failed, cancelled or missing parents",
    async fn(driver) {
      const fail = { run: { status: "failed" as const, error: { name: "Error", message: "x" } } };
      // Parents: p failed, q cancelled, r running, u never existed (purged).
      await driver.write(await started(driver, "p"), fail, T0 + 1);
      await driver.createRun(newRun("q"), T0);
      await driver.cancelRun("q", "stop", T0 + 1);
      await started(driver, "r");
      const child = (id: string, parentId: string, at: number, call = true) =>
        driver.createRun(newRun(id, { parentId, parentCall: call }), at);
      await child("p/a", "p", T0 + 10); // orphan
      await child("q/a", "q", T0 + 11); // orphan
      await child("r/a", "r", T0 + 12); // its parent runs
      await child("p/spawned", "p", T0 + 13, false); // spawned: never cancelled with its parent
      await child("u/a", "u", T0 + 14); // orphan: no parent
      await child("p/done", "p", T0 + 15); // finished
      await driver.cancelRun("p/done", "by hand", T0 + 16);
      await child("p/saga", "p", T0 + 17); // being cancelled with compensation
      await driver.cancelRun("p/saga", "stop", T0 + 18, { compensate: true });
      await child("p/paused", "p", T0 + 19); // orphan, though paused
      await driver.pauseRun("p/paused", T0 + 20);
      assert.deepEqual(await driver.orphanedChildren(10), ["p/a", "q/a", "u/a", "p/paused"]);
      assert.deepEqual(await driver.orphanedChildren(2), ["p/a", "q/a"]);
      await driver.cancelRun("p/a", "swept", T0 + 21);
      assert.deepEqual(await driver.orphanedChildren(10), ["q/a", "u/a", "p/paused"]);
    },
  },
];
