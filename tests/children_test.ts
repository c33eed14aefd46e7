// Child workflows (.call / .spawn) on every driver: the parent waits holding no
// worker, the child's output is the value, failures and retries, cancel
// cascade, map fan-out, list({ parentId }), id collisions.
import {
  CancelledError,
  ChildWorkflowFailedError,
  DuplicateRunError,
  Engine,
  flow,
  MemoryDriver,
  NonRetryableError,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import assert from "node:assert/strict";
import { deferred } from "./_fixtures/deferred.ts";
import { driverFactories } from "./_fixtures/drivers.ts";
import { waitForStatus } from "@sluice/sluice/testing";

let failures = 0;
const pay = workflow<number>("child-pay")
  .step("charge", (cents) => {
    if (failures > 0) {
      failures--;
      throw new Error(`card declined for ${cents}`);
    }
    return { charged: cents };
  });
const gate = workflow<string>("child-gate").waitForSignal<string>("wait", "go");
const order = workflow<{ total: number }>("child-order")
  .call("payment", pay, { input: (o) => o.total, retry: { maxAttempts: 2, initialDelay: 0 } })
  .step("ship", (receipt) => `shipped ${receipt.charged}`);
const blocked = workflow<string>("child-blocked")
  .spawn("audit", gate, { id: (s) => `audit-${s}` })
  .call("held", gate, { input: (_spawned, input) => input })
  .step("after", (v) => v);
let stolenCharges = 0;
const stolen = workflow<number>("child-stolen").step("charge", (cents) => {
  stolenCharges++;
  throw new NonRetryableError(`card stolen, ${cents} refused`);
});
const stolenOrder = workflow<number>("child-stolen-order")
  .call("payment", stolen, { retry: { maxAttempts: 3, initialDelay: 0 } });
const stolenShop = workflow<number>("child-stolen-shop")
  .call("order", stolenOrder, { retry: { maxAttempts: 3, initialDelay: 0 } });
const thenWait = workflow<number>("child-then-wait")
  .call("payment", pay)
  .waitForSignal<string>("go", "go");
const fanOut = workflow<number[]>("child-fan")
  .map("each", (items) => items, flow<number>().call("pay", pay));

for (const { name, create } of driverFactories()) {
  const engineFor = async () => {
    const engine = new Engine({
      driver: await create(),
      workflows: [order, blocked, fanOut, stolenShop, thenWait],
    });
    const worker = engine.worker({ pollInterval: 20, concurrency: 4 });
    await worker.start();
    return {
      engine,
      async [Symbol.asyncDispose]() {
        await worker.stop();
        await engine.close();
      },
    };
  };

  Deno.test(`${name}: .call runs the child as its own run and its output is the value`, async () => {
    failures = 0;
    await using t = await engineFor();
    const run = await t.engine.start(order, { total: 700 }, { id: "o-1" });
    assert.equal(await run.result(), "shipped 700");
    const child = await t.engine.get("o-1/payment");
    assert.equal(child.parentId, "o-1");
    assert.equal(child.workflow, "child-pay");
    assert.deepEqual(child.output, { charged: 700 });
    assert.deepEqual((await t.engine.list({ parentId: "o-1" })).runs.map((r) => r.id), [
      "o-1/payment",
    ]);
    assert.deepEqual((await t.engine.list({ parentId: "o-1/payment" })).runs, []);
  });

  Deno.test(`${name}: a failed child fails the call; retry starts a fresh child <id>#2`, async () => {
    failures = 1;
    await using t = await engineFor();
    const run = await t.engine.start(order, { total: 5 }, { id: "o-2" });
    assert.equal(await run.result(), "shipped 5");
    assert.equal((await t.engine.get("o-2/payment")).status, "failed");
    assert.equal((await t.engine.get("o-2/payment#2")).status, "completed");
    failures = 2;
    const bad = await t.engine.start(order, { total: 6 }, { id: "o-3" });
    const error = await bad.result().catch((e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof ChildWorkflowFailedError);
    assert.match(error.cause.message, /Child run 'o-3\/payment#2' of workflow 'child-pay'/);
    assert.match((error.cause.cause as Error).message, /card declined for 6/);
    // retry() of the failed parent starts a new child rather than re-reading the failed one.
    await t.engine.retry("o-3");
    assert.equal(await bad.result(), "shipped 6");
    assert.equal((await t.engine.get("o-3/payment#3")).status, "completed");
  });

  Deno.test(`${name}: the parent's history and watch() show each finished child as child.finished, never its internal wake-up`, async () => {
    failures = 1;
    await using t = await engineFor();
    const run = await t.engine.start(order, { total: 9 }, { id: "o-9" });
    assert.equal(await run.result(), "shipped 9");
    const history = await t.engine.history("o-9");
    const finished = history.filter((e) => e.type === "child.finished");
    assert.deepEqual(finished.map((e) => [e.child, e.status]), [
      ["o-9/payment", "failed"],
      ["o-9/payment#2", "completed"],
    ]);
    assert.ok(!history.some((e) => e.type === "signal.received"));
    assert.ok(!history.some((e) => e.signals !== undefined), "no signal waited for");
    assert.ok(!JSON.stringify(history).includes("@child:"), "the internal name never shows");
    const watched = [];
    for await (const e of t.engine.watch({ runId: "o-9" })) {
      watched.push(e);
      if (e.type === "run.completed") break;
    }
    assert.deepEqual(
      watched.filter((e) => e.type === "child.finished").map((e) => e.detail),
      [{ child: "o-9/payment", status: "failed" }, { child: "o-9/payment#2", status: "completed" }],
    );
    assert.ok(!JSON.stringify(watched).includes("@child:"));
    assert.deepEqual(history.find((e) => e.type === "run.waiting")?.children, ["o-9/payment"]);
    // A child signalled to finish by someone else.
    const held = await t.engine.start(blocked, "h", { id: "p-9" });
    await waitForStatus(t.engine, "p-9", "waiting");
    await waitForStatus(t.engine, "p-9/held", "waiting");
    await t.engine.signal("p-9/held", "go", "done");
    assert.equal(await held.result(), "done");
    const events = await t.engine.history("p-9");
    assert.deepEqual(
      events.filter((e) => e.type === "child.finished").map((e) => [e.child, e.status]),
      [["p-9/held", "completed"]],
    );
  });

  Deno.test(`${name}: a waiting parent is 'waiting'; spawn does not wait; cancel cascades to .call children only`, async () => {
    await using t = await engineFor();
    const run = await t.engine.start(blocked, "b", { id: "p-1" });
    await waitForStatus(t.engine, "p-1", "waiting");
    await waitForStatus(t.engine, "p-1/held", "waiting");
    const waiting = await t.engine.get("p-1");
    assert.equal(waiting.status, "waiting");
    // What it waits for, readably: the child's id, no signal name to send.
    assert.deepEqual(waiting.waitingForChildren, ["p-1/held"]);
    assert.equal(waiting.waitingFor, undefined);
    assert.equal((await t.engine.get("audit-b")).parentId, "p-1");
    const children = (await t.engine.list({ parentId: "p-1" })).runs.map((r) => r.id).sort();
    assert.deepEqual(children, ["audit-b", "p-1/held"]);
    await t.engine.cancel("p-1", "stop");
    await assert.rejects(run.result(), CancelledError);
    assert.equal((await t.engine.get("p-1/held")).status, "cancelled");
    assert.equal((await t.engine.get("audit-b")).status, "waiting", "spawned children live on");
  });

  Deno.test(`${name}: a .call child created just after its parent was cancelled is cancelled too`, async () => {
    const entered = deferred();
    const release = deferred();
    const late = workflow<string>("child-late").call("held", gate, {
      input: async (s) => {
        entered.resolve();
        await release.promise;
        return s;
      },
    });
    await using engine = new Engine({ driver: await create(), workflows: [late, gate] });
    // Polls rarely: the sweep of orphaned children (at start, then every ten
    // polls) does not run while the test looks.
    await using worker = engine.worker({ pollInterval: 10_000 });
    await worker.start();
    const run = await engine.start(late, "l", { id: "late-1" });
    await entered.promise; // the call is about to create its child
    await engine.cancel("late-1", "stop"); // the cascade finds no child yet
    await assert.rejects(run.result(), CancelledError);
    release.resolve();
    for (let i = 0; i < 500; i++) {
      if ((await engine.list({ parentId: "late-1" })).runs.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const child = await waitForStatus(engine, "late-1/held", ["cancelled"], { timeoutMs: 3_000 });
    assert.equal(
      child.error?.message,
      "Run 'late-1/held' was cancelled: parent run 'late-1' ended",
    );
  });

  Deno.test(`${name}: a child signalled to finish wakes its suspended parent`, async () => {
    await using t = await engineFor();
    const run = await t.engine.start(blocked, "c", { id: "p-2" });
    await waitForStatus(t.engine, "p-2", "waiting");
    await waitForStatus(t.engine, "p-2/held", "waiting");
    await t.engine.signal("p-2/held", "go", "opened");
    assert.equal(await run.result(), "opened");
  });

  Deno.test(`${name}: a child cancelled by someone else fails the call with cause CancelledError`, async () => {
    await using t = await engineFor();
    const run = await t.engine.start(blocked, "d", { id: "p-3" });
    await waitForStatus(t.engine, "p-3", "waiting");
    await waitForStatus(t.engine, "p-3/held", "waiting");
    await t.engine.cancel("p-3/held");
    const error = await run.result().catch((e) => e);
    assert.ok(error.cause instanceof ChildWorkflowFailedError);
    assert.ok(error.cause.cause instanceof CancelledError);
  });

  Deno.test(`${name}: .call inside map fans out to one child run per item`, async () => {
    failures = 0;
    await using t = await engineFor();
    const run = await t.engine.start(fanOut, [1, 2, 3], { id: "f-1" });
    assert.deepEqual(await run.result(), [{ charged: 1 }, { charged: 2 }, { charged: 3 }]);
    const ids = (await t.engine.list({ parentId: "f-1" })).runs.map((r) => r.id).sort();
    assert.deepEqual(ids, ["f-1/each#0/pay", "f-1/each#1/pay", "f-1/each#2/pay"]);
  });

  Deno.test(`${name}: a child id held by another workflow's run fails the call with DuplicateRunError`, async () => {
    await using t = await engineFor();
    await t.engine.start(order, { total: 1 }, { id: "taken/held" });
    const run = await t.engine.start(blocked, "e", { id: "taken" });
    const error = await run.result().catch((e) => e);
    assert.ok(error.cause instanceof DuplicateRunError);
    assert.equal((await t.engine.get("taken")).error?.step, "held");
  });

  Deno.test(`${name}: a child that failed with a NonRetryableError fails the call without retrying, at every level`, async () => {
    stolenCharges = 0;
    await using t = await engineFor();
    const run = await t.engine.start(stolenShop, 9, { id: "s-1" });
    const error = await run.result().catch((e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    // One charge, one child per level: neither call retried.
    assert.equal(stolenCharges, 1);
    const ids = async (parentId: string) =>
      (await t.engine.list({ parentId })).runs.map((r) => r.id);
    assert.deepEqual(await ids("s-1"), ["s-1/order"]);
    assert.deepEqual(await ids("s-1/order"), ["s-1/order/payment"]);
    // The cause chain keeps the child's error, rebuilt from storage.
    const shop = error.cause;
    assert.ok(shop instanceof ChildWorkflowFailedError);
    assert.equal(shop.nonRetryable, true);
    const inner = shop.cause as ChildWorkflowFailedError;
    assert.equal(inner.name, "ChildWorkflowFailedError");
    assert.match(inner.message, /Child run 's-1\/order\/payment' of workflow 'child-stolen'/);
    const root = inner.cause as NonRetryableError;
    assert.ok(root instanceof NonRetryableError);
    assert.equal(root.message, "card stolen, 9 refused");
    assert.equal(root.nonRetryable, true);
    const stored = await t.engine.get("s-1/order/payment");
    assert.equal(stored.error?.name, "NonRetryableError");
    assert.equal(stored.error?.nonRetryable, true);
    // The parent's history shows one failed attempt and no retry.
    const events = (await t.engine.history("s-1/order")).map((e) => e.type);
    assert.equal(events.filter((e) => e === "step.retried").length, 0);
  });

  Deno.test(`${name}: a parent drops its finished child's wake-up from its inbox`, async () => {
    failures = 0;
    await using t = await engineFor();
    const run = await t.engine.start(thenWait, 12, { id: "w-1" });
    let parent = await t.engine.get("w-1");
    // Waiting for the child first, then, woken, for the signal.
    for (let i = 0; i < 500 && parent.waitingFor === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      parent = await t.engine.get("w-1");
    }
    assert.deepEqual(parent.waitingFor, ["go"]);
    assert.equal(parent.waitingForChildren, undefined);
    assert.equal((await t.engine.get("w-1/payment")).status, "completed");
    // The inbox is empty: the child's wake-up left it with the call's checkpoint.
    const [state] = await t.engine.driver.extendLeases([{ runId: "w-1", token: -1 }], 0, 1);
    assert.equal(state?.state, "lost");
    assert.equal(state?.signals, false);
    await t.engine.signal("w-1", "go", "now");
    assert.equal(await run.result(), "now");
  });
}

Deno.test("a history written before child.finished existed reads its wake-ups as child.finished", async () => {
  // How drivers recorded a child's wake-up before: a signal of the internal name.
  const driver = new MemoryDriver();
  await using engine = new Engine({ driver, workflows: [order] });
  const run = { id: "old", workflow: "child-order", version: "1", planHash: "h", labels: {} };
  await driver.createRun({ ...run, dueAt: 0 }, 0);
  const claim = { workerId: "w", now: 0, leaseMs: 1_000, limit: 1, workflows: ["child-order"] };
  const { lease } = (await driver.claimRuns(claim))[0]!;
  await driver.write(lease, {
    events: [
      { type: "run.waiting", at: 1, detail: '{"signals":["@child:old/payment","go"]}' },
      { type: "signal.received", at: 2, detail: '{"signal":"@child:old/payment"}' },
      { type: "signal.received", at: 3, detail: '{"signal":"go"}' },
    ],
  }, 3);
  const events = (await engine.history("old")).slice(2); // after run.created and run.started
  assert.deepEqual(events.map(({ seq: _, at: __, ...e }) => e), [
    { type: "run.waiting", signals: ["go"], children: ["old/payment"] },
    { type: "child.finished", child: "old/payment" },
    { type: "signal.received", signal: "go" },
  ]);
});
