// Compensation (saga): the compensations of completed steps run in reverse order of completion,
// each once, when a run fails; on every driver.
import {
  CancelledError,
  CompensationFailedError,
  Engine,
  flow,
  LocalRunner,
  ManualClock,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import assert from "node:assert/strict";
import { driverFactories } from "./_fixtures/drivers.ts";

const T0 = Date.UTC(2030, 0, 1);

/** A booking saga whose last step fails; `log` records every call. */
function trip(log: string[], carAttempts = 1) {
  const undo = (what: string) => (output: string) => {
    log.push(`release ${output}`);
    return `${what} released`;
  };
  return workflow<string>("trip")
    .step("flight", (who) => {
      log.push("flight");
      return `flight for ${who}`;
    }, { compensate: undo("flight") })
    .step("hotel", (v) => {
      log.push("hotel");
      return v.replace("flight", "hotel");
    }, { compensate: undo("hotel") })
    .step("note", (v) => v)
    .step("car", (): string => {
      log.push("car");
      throw new Error("no cars left");
    }, { retry: { maxAttempts: carAttempts, initialDelay: "1s" }, compensate: undo("car") });
}

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: a failed run compensates its completed steps in reverse order`, async () => {
    const log: string[] = [];
    const wf = trip(log, 2);
    const clock = new ManualClock(T0);
    await using engine = new Engine({ driver: await create(), workflows: [wf], clock });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const run = await engine.start(wf, "ada", { id: "trip-1" });
    const settled = run.result().catch((e) => e);
    await clock.advance(1_000);
    const error = await settled;
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal((error.cause as Error).message, "no cars left");
    assert.deepEqual(log, [
      "flight",
      "hotel",
      "car",
      "car",
      "release hotel for ada",
      "release flight for ada",
    ]);
    const record = await engine.get("trip-1");
    assert.equal(record.status, "failed");
    assert.equal(record.compensated, true);
    assert.equal(record.error?.message, "no cars left");
    assert.equal(record.error?.step, "car");
    assert.equal("compensated" in record.error!, false);
    const history = await engine.history("trip-1");
    const types = history.map((e) => (e.step ? `${e.type} ${e.step}` : e.type));
    const from = types.indexOf("compensation.started");
    assert.deepEqual(types.slice(from), [
      "compensation.started",
      "step.started hotel/compensate",
      "step.completed hotel/compensate",
      "step.started flight/compensate",
      "step.completed flight/compensate",
      "compensation.completed",
      "run.failed car",
    ]);
    assert.equal(history[from]!.error?.message, "no cars left");
    const undone = history.find((e) => e.step === "hotel/compensate" && e.output !== undefined);
    assert.equal(undone?.output, "hotel released");
  });

  Deno.test(`${name}: a compensation that exhausts its retries fails the run with CompensationFailedError`, async () => {
    const log: string[] = [];
    let tries = 0;
    const wf = workflow<number>("pay")
      .step("reserve", (n) => {
        log.push("reserve");
        return n;
      }, { compensate: () => log.push("unreserve") })
      .step("charge", (n) => n, {
        retry: { maxAttempts: 2 },
        compensate: () => {
          tries++;
          throw new Error(`refund refused ${tries}`);
        },
      })
      .step("ship", () => {
        throw new Error("no stock");
      });
    await using engine = new Engine({ driver: await create(), workflows: [wf] });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const run = await engine.start(wf, 5, { id: "pay-1" });
    const error = await run.result().catch((e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof CompensationFailedError, String(error.cause));
    assert.equal(error.cause.code, "COMPENSATION_FAILED");
    assert.equal((error.cause.cause as Error).message, "no stock");
    assert.equal(tries, 2, "the step's retry policy applies to its compensation");
    assert.deepEqual(log, ["reserve"], "compensation stops at the one that failed");
    const record = await engine.get("pay-1");
    assert.equal(record.status, "failed");
    assert.equal(record.compensated, undefined);
    assert.equal(record.error?.code, "COMPENSATION_FAILED");
    assert.equal(record.error?.step, "charge/compensate");
    const history = await engine.history("pay-1");
    const failed = history.find((e) => e.type === "compensation.failed");
    assert.equal(failed?.step, "charge/compensate");
    assert.equal(failed?.error?.message, "refund refused 2");
    assert.ok(!history.some((e) => e.type === "compensation.completed"));
  });
}

Deno.test("compensation follows completion order inside parallel, map and loops", async () => {
  const undone: string[] = [];
  const undo = (output: string) => void undone.push(output);
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const wf = workflow<number>("nested")
    .parallel("book", {
      slow: flow<number>().step("a", async () => {
        await wait(30);
        return "slow";
      }, { compensate: undo }),
      fast: flow<number>().step("a", () => "fast", { compensate: undo }),
    })
    .map(
      "items",
      () => [1, 2, 3],
      flow<number>().step("put", async (i) => {
        await wait((4 - i) * 10);
        return `item ${i}`;
      }, { compensate: undo }),
      { concurrency: 3 },
    )
    .step("label", () => "")
    .loop("rounds", 2, flow<string>().step("round", (_v, ctx) => ctx.step, { compensate: undo }))
    .step("boom", () => {
      throw new Error("boom");
    });
  await using runner = new LocalRunner();
  const error = await runner.run(wf, 0).catch((e) => e);
  assert.equal((error.cause as Error).message, "boom");
  assert.deepEqual(undone, [
    "rounds#1/round",
    "rounds#0/round",
    "item 1",
    "item 2",
    "item 3",
    "slow",
    "fast",
  ]);
});

Deno.test("only completed steps are compensated, and a run without compensations pays nothing", async () => {
  const undone: string[] = [];
  const wf = workflow<number>("partial")
    .step("one", () => "one", { compensate: (o) => void undone.push(o) })
    .step("two", (): string => {
      throw new Error("two failed");
    }, { compensate: () => void undone.push("two") });
  await using runner = new LocalRunner();
  const run = await runner.start(wf, 0);
  await run.result().catch(() => {});
  assert.deepEqual(undone, ["one"]);
  assert.equal((await runner.get(run.id)).compensated, true);

  const plain = workflow<number>("plain").step("fails", () => {
    throw new Error("x");
  });
  const other = await runner.start(plain, 0);
  await other.result().catch(() => {});
  assert.equal((await runner.get(other.id)).compensated, undefined);
  const types = (await runner.history(other.id)).map((e) => e.type);
  assert.ok(!types.some((t) => t.startsWith("compensation.")));
});

Deno.test("defineStep takes compensate, and a compensation receives the step's output and context", async () => {
  const { defineStep } = await import("@sluice/sluice");
  const seen: unknown[] = [];
  const hold = defineStep("hold", (n: number) => ({ seat: n }), {
    compensate: (output, ctx) => void seen.push(output.seat, ctx.step, ctx.attempt),
  });
  const wf = workflow<number>("seats").step(hold).step("fail", () => {
    throw new Error("fail");
  });
  await using runner = new LocalRunner();
  await runner.run(wf, 7).catch(() => {});
  assert.deepEqual(seen, [7, "hold/compensate", 1]);
});

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: cancel with compensate aborts the step in flight, compensates, then ends cancelled`, async () => {
    const undone: string[] = [];
    let aborted: unknown;
    const wf = workflow<number>("cancel-saga")
      .step("flight", (n) => `flight ${n}`, { compensate: (o) => void undone.push(o) })
      .step("hotel", (_v, ctx) => `hotel ${ctx.input}`, { compensate: (o) => void undone.push(o) })
      .step("car", (_v, ctx) =>
        new Promise<string>((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => {
            aborted = ctx.signal.reason;
            reject(ctx.signal.reason);
          });
        }), { compensate: () => void undone.push("car") });
    await using engine = new Engine({ driver: await create(), workflows: [wf] });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const run = await engine.start(wf, 1, { id: "cancel-1" });
    for (
      let i = 0;
      i < 500 &&
      !(await engine.history(run.id)).some((e) =>
        e.step === "hotel" && e.type === "step.completed"
      );
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await engine.cancel(run.id, { reason: "changed plans", compensate: true });
    const error = await run.result().catch((e) => e);
    assert.ok(error instanceof CancelledError, String(error));
    assert.match(error.message, /changed plans/);
    assert.ok(aborted instanceof CancelledError, "the step in flight saw ctx.signal abort");
    assert.deepEqual(undone, ["hotel 1", "flight 1"]);
    const record = await engine.get(run.id);
    assert.equal(record.status, "cancelled");
    assert.equal(record.compensated, true);
    assert.match(record.error?.message ?? "", /changed plans/);
    assert.equal("cancelling" in record.error!, false);
    const types = (await engine.history(run.id)).map((e) => e.type);
    assert.deepEqual(
      types.slice(types.indexOf("compensation.started")).filter((t) => !t.startsWith("step.")),
      [
        "compensation.started",
        "compensation.completed",
        "run.cancelled",
      ],
    );
    assert.equal((await engine.history(run.id)).at(-1)?.reason, "changed plans");
  });
}

Deno.test("cancel takes a reason or { reason, compensate }, and a plain cancel does not compensate", async () => {
  const undone: string[] = [];
  const wf = workflow<number>("plain-cancel")
    .step("book", (n) => n, { compensate: () => void undone.push("book") })
    .waitForSignal("go", "go");
  await using runner = new LocalRunner();
  const a = await runner.start(wf, 1);
  const b = await runner.start(wf, 2);
  while ((await runner.get(b.id)).status !== "waiting") {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await runner.cancel(a.id, "plain");
  await assert.rejects(a.result(), CancelledError);
  await runner.cancel(b.id, { compensate: false });
  await assert.rejects(b.result(), CancelledError);
  assert.deepEqual(undone, []);
  assert.equal((await runner.get(a.id)).compensated, undefined);
  const c = await runner.start(wf, 3);
  await assert.rejects(runner.cancel(c.id, { compensate: "yes" } as never), /'compensate' 'yes'/);
  await assert.rejects(runner.cancel(c.id, { reasn: "x" } as never), /option 'reasn'/);
  await assert.rejects(runner.cancel(c.id, 5 as never), TypeError);
  await runner.cancel(c.id, { compensate: true });
  await assert.rejects(c.result(), CancelledError);
  assert.deepEqual(undone, ["book"]);
});

Deno.test("cancel with compensate passes the flag to the run's .call children", async () => {
  const undone: string[] = [];
  const child = workflow<number>("child-saga")
    .step("hold", (n) => `child hold ${n}`, { compensate: (o) => void undone.push(o) })
    .waitForSignal("go", "go");
  const parent = workflow<number>("parent-saga")
    .step("book", (n) => `parent book ${n}`, { compensate: (o) => void undone.push(o) })
    .call("sub", child, { input: () => 5 });
  await using runner = new LocalRunner();
  runner.register(child);
  const run = await runner.start(parent, 1, { id: "parent-1" });
  const childId = "parent-1/sub";
  for (let i = 0; i < 500; i++) {
    const record = await runner.get(childId).catch(() => undefined);
    if (record?.status === "waiting") break;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await runner.cancel(run.id, { reason: "trip off", compensate: true });
  await assert.rejects(run.result(), CancelledError);
  for (let i = 0; i < 500 && (await runner.get(childId)).status !== "cancelled"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const childRecord = await runner.get(childId);
  assert.equal(childRecord.status, "cancelled");
  assert.equal(childRecord.compensated, true);
  assert.ok(undone.includes("child hold 5"));
  assert.ok(undone.includes("parent book 1"));
  assert.equal((await runner.get(run.id)).compensated, true);
});

Deno.test("retry() of a run whose compensation failed resumes compensating, not the workflow", async () => {
  const log: string[] = [];
  let refundWorks = false;
  const wf = workflow<number>("refund")
    .step("reserve", (n) => {
      log.push("reserve");
      return n;
    }, { compensate: () => void log.push("unreserve") })
    .step("charge", (n) => {
      log.push("charge");
      return n;
    }, {
      compensate: () => {
        if (!refundWorks) throw new Error("refund refused");
        log.push("refund");
      },
    })
    .step("ship", () => {
      log.push("ship");
      throw new Error("no stock");
    });
  await using runner = new LocalRunner();
  const run = await runner.start(wf, 1);
  const first = await run.result().catch((e) => e);
  assert.ok(first.cause instanceof CompensationFailedError);
  refundWorks = true;
  await runner.retry(run.id);
  const second = await run.result().catch((e) => e);
  assert.equal((second.cause as Error).message, "no stock");
  assert.deepEqual(log, ["reserve", "charge", "ship", "refund", "unreserve"]);
  assert.equal((await runner.get(run.id)).compensated, true);
});
