// Child workflows (.call / .spawn) on every driver: the parent waits holding no
// worker, the child's output is the value, failures and retries, cancel
// cascade, map fan-out, list({ parentId }), id collisions.
import {
  CancelledError,
  ChildWorkflowFailedError,
  DuplicateRunError,
  Engine,
  flow,
  NonRetryableError,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import assert from "node:assert/strict";
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
