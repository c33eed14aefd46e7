// Value flow through steps, conditions and sub-flows.
import { defineStep, flow, LocalRunner, workflow } from "@sluice/sluice";
import assert from "node:assert/strict";

Deno.test("each node receives the value produced by the node before it", async () => {
  const seen: unknown[] = [];
  const wf = workflow<number>("chain")
    .step("a", (n) => {
      seen.push(n);
      return n + 1;
    })
    .step("b", async (n) => {
      seen.push(n);
      await Promise.resolve();
      return { n: n * 10 };
    })
    .step("c", (v) => {
      seen.push(v);
      return [v.n, "x"] as const;
    });
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(wf, 1), [20, "x"]);
  assert.deepEqual(seen, [1, 2, { n: 20 }]);
});

Deno.test("an empty workflow returns its input", async () => {
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(workflow<{ a: number }>("empty"), { a: 1 }), { a: 1 });
});

Deno.test("a step that returns nothing passes undefined on", async () => {
  let received: unknown = "not called";
  const wf = workflow<number>("void")
    .step("nothing", () => {})
    .step("after", (v) => {
      received = v;
    });
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 1), undefined);
  assert.equal(received, undefined);
});

Deno.test("if takes the then branch when the condition holds and the else branch otherwise", async () => {
  const wf = workflow<number>("branching").if(
    "sign",
    (n) => n >= 0,
    flow<number>().step("positive", (n) => `+${n}`),
    (n: number) => `-${-n}`,
  );
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 3), "+3");
  assert.equal(await runner.run(wf, -4), "-4");
});

Deno.test("if without an otherwise branch passes the value through when the condition fails", async () => {
  const wf = workflow<number>("no-else")
    .if("big", (n) => Promise.resolve(n > 10), (n: number) => n * 100)
    .step("after", (n) => n + 1);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 3), 4);
  assert.equal(await runner.run(wf, 11), 1101);
});

Deno.test("a sub-flow's steps run in order and its last output flows on", async () => {
  const order: string[] = [];
  const body = flow<number>()
    .step("x", (n) => {
      order.push("x");
      return n + 1;
    })
    .step("y", (n) => {
      order.push("y");
      return n * 3;
    });
  const wf = workflow<number>("subflow").if("always", () => true, body).step("z", (n) => {
    order.push("z");
    return n - 1;
  });
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 1), 5);
  assert.deepEqual(order, ["x", "y", "z"]);
});

Deno.test("a defineStep used in several places runs its function each time", async () => {
  const inc = defineStep("inc", (n: number) => n + 1);
  const wf = workflow<number>("reuse")
    .step(inc)
    .if("again", () => true, inc)
    .loop("thrice", 3, inc);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 0), 5);
});

Deno.test("a failing condition fails the run at the if node", async () => {
  const wf = workflow<number>("bad-cond").if("check", () => {
    throw new Error("cannot decide");
  }, (n: number) => n);
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 1), (e: Error & { step?: string }) => {
    assert.equal(e.name, "WorkflowFailedError");
    assert.equal(e.step, "check");
    assert.equal((e.cause as Error).message, "cannot decide");
    return true;
  });
});
