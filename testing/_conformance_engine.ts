/**
 * Conformance cases. The driver under a real Engine and Worker, and close().
 *
 * @module
 */
import assert from "node:assert/strict";
import { workflow } from "../lib/builder.ts";
import { ManualClock } from "../lib/clock.ts";
import { done, newRun, T0, WF } from "./rows.ts";
import { Engine } from "../lib/engine.ts";
import { InvalidStateError } from "../lib/errors.ts";
import { claimAll, type ConformanceCase, LEASE_MS, started } from "./_conformance_helpers.ts";

/** The cases of this area. */
export const ENGINE_CASES: ConformanceCase[] = [
  {
    name: "close() leaves nothing open and later calls throw InvalidStateError",
    closes: true,
    async fn(driver) {
      const off = driver.subscribe(() => {});
      const lease = await started(driver, "run-1");
      await driver.close();
      off();
      const calls: [string, () => Promise<unknown>][] = [
        ["migrate", () => driver.migrate()],
        ["createRun", () => driver.createRun(newRun("run-2"), T0)],
        ["getRun", () => driver.getRun("run-1")],
        ["listRuns", () => driver.listRuns({})],
        ["history", () => driver.history("run-1")],
        ["claimRuns", () => claimAll(driver, T0)],
        ["nextDueAt", () => driver.nextDueAt([WF])],
        ["extendLeases", () => driver.extendLeases([lease], T0, LEASE_MS)],
        ["readSteps", () => driver.readSteps("run-1", ["a"])],
        ["write", () => driver.write(lease, { steps: [done("a")] }, T0)],
        ["consumeSignal", () => driver.consumeSignal(lease, ["go"], done("w"), {}, T0)],
        ["sendSignal", () => driver.sendSignal("run-1", "go", undefined, T0)],
        ["cancelRun", () => driver.cancelRun("run-1", undefined, T0)],
        ["retryRun", () => driver.retryRun("run-1", T0)],
        ["purge", () => driver.purge(T0)],
      ];
      for (const [what, call] of calls) {
        await assert.rejects(async () => await call(), InvalidStateError, `${what} after close`);
      }
      assert.throws(() => driver.subscribe(() => {}), InvalidStateError);
      await driver.close();
      await driver[Symbol.asyncDispose]();
    },
  },
  {
    name: "an Engine and a Worker run a step, a sleep and a waitForSignal to the right output",
    closes: true,
    async fn(driver, dispose) {
      const clock = new ManualClock(T0);
      let steps = 0;
      const order = workflow<{ qty: number }>("conformance-order")
        .step("price", (o) => {
          steps++;
          return o.qty * 3;
        })
        .sleep("coolDown", "1h")
        .waitForSignal<{ approved: boolean }>("approval", "approved")
        .step("finish", (answer, ctx) => {
          steps++;
          return { approved: answer.approved, at: ctx.now().getTime() };
        });
      const engine = dispose(new Engine({ driver, workflows: [order], clock }));
      const worker = dispose(engine.worker());
      await worker.start();
      const run = await engine.start(order, { qty: 2 }, { id: "order-1" });
      await clock.advance(0);
      assert.equal(await run.status(), "sleeping");
      await clock.advance("59m");
      assert.equal(await run.status(), "sleeping");
      await clock.advance("1m");
      assert.equal(await run.status(), "waiting");
      await engine.signal("order-1", "approved", { approved: true });
      assert.deepEqual(await run.result(), { approved: true, at: T0 + 3_600_000 });
      assert.equal(steps, 2);
      const types = (await engine.history("order-1")).map((event) => event.type);
      assert.deepEqual(types, [
        "run.created",
        "run.started",
        "step.started",
        "step.completed",
        "run.sleeping",
        "run.waiting",
        "signal.received",
        "step.started",
        "step.completed",
        "step.started",
        "step.completed",
        "run.completed",
      ]);
    },
  },
  {
    name: "completed steps are not re-run when a new worker takes over a run",
    closes: true,
    async fn(driver, dispose) {
      const clock = new ManualClock(T0);
      const counts = { a: 0, slow: 0, b: 0 };
      const gate = Promise.withResolvers<void>();
      const wf = workflow<number>("conformance-handoff")
        .step("a", (n) => {
          counts.a++;
          return n + 1;
        })
        .step("slow", async (n) => {
          counts.slow++;
          await gate.promise;
          return n * 10;
        })
        .sleep("nap", "1h")
        .step("b", (n) => {
          counts.b++;
          return n + 2;
        });
      const engine = dispose(new Engine({ driver, workflows: [wf], clock }));
      const first = engine.worker({ id: "first" });
      await first.start();
      const run = await engine.start(wf, 1, { id: "handoff-1" });
      for (let i = 0; i < 100 && counts.slow === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      assert.equal(counts.slow, 1, "the slow step started");
      const stopping = first.stop();
      gate.resolve();
      await stopping;
      const released = await engine.get("handoff-1");
      assert.equal(released.status, "running", "a stopped worker hands its run back");
      const second = dispose(engine.worker({ id: "second" }));
      await second.start();
      await clock.advance(0);
      assert.equal(await run.status(), "sleeping");
      await second.stop();
      const third = dispose(engine.worker({ id: "third" }));
      await third.start();
      await clock.advance("1h");
      assert.equal(await run.result(), 22);
      assert.deepEqual(counts, { a: 1, slow: 1, b: 1 });
    },
  },
];
