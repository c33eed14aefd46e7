// Type-level behaviour of the builder. This file is type-checked by `deno test`
// and `deno check`; every `@ts-expect-error` must stay an error.
import { defineStep, flow, type StepContext, type Workflow, workflow } from "@sluice/sluice";
import assert from "node:assert/strict";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true
  : false;
function expectType<T>(_value: T): void {}
function assertType<_T extends true>(): void {}

Deno.test("types flow from step to step", () => {
  const wf = workflow<{ email: string }>("types-chain")
    .step("a", (input) => input.email.length)
    .step("b", (n) => Promise.resolve({ doubled: n * 2 }))
    .step("c", (v) => v.doubled.toFixed(0));
  assertType<Equal<typeof wf.types, ((input: { email: string }) => string) | undefined>>();
  assert.equal(wf.plan.nodes.length, 3);
});

Deno.test("a step that expects the wrong input type does not compile", () => {
  const base = workflow<number>("types-wrong").step("a", (n) => n + 1);
  // @ts-expect-error the value is a number, not a string
  base.step("b", (s: string) => s.toUpperCase());
  // @ts-expect-error a defined step must accept the value flowing in
  base.step(defineStep("c", (s: { name: string }) => s.name));
  assert.ok(base);
});

Deno.test("ctx.input is the workflow input; unknown in a sub-flow", () => {
  workflow<{ id: number }>("types-ctx").step("a", (_v, ctx) => {
    expectType<number>(ctx.input.id);
    return 1;
  });
  flow<number>().step("b", (_v, ctx) => {
    assertType<Equal<typeof ctx, StepContext<unknown>>>();
    return 1;
  });
});

Deno.test("parallel gives a tuple for an array and a record for an object", () => {
  const tuple = workflow<number>("types-tuple").parallel("p", [
    (n) => n + 1,
    (n) => String(n),
    flow<number>().step("x", (n) => n > 0),
  ]);
  assertType<
    Equal<typeof tuple.types, ((input: number) => [number, string, boolean]) | undefined>
  >();
  const record = workflow<number>("types-record").parallel("p", {
    a: (n) => n * 2,
    b: () => Promise.resolve("s"),
  });
  assertType<
    Equal<typeof record.types, ((input: number) => { a: number; b: string }) | undefined>
  >();
});

Deno.test("a sub-flow for a narrower input fits where a wider value flows in", () => {
  const gift = flow<{ tier: string }>().step("gift", (v) => v.tier === "gold");
  const wf = workflow<{ tier: string; name: string }>("types-narrow").if(
    "vip",
    (v) => v.tier === "gold",
    gift,
  );
  assertType<
    Equal<
      typeof wf.types,
      ((input: { tier: string; name: string }) =>
        | boolean
        | { tier: string; name: string }) | undefined
    >
  >();
  // @ts-expect-error a sub-flow that needs a field the value lacks does not fit
  workflow<{ name: string }>("types-missing").if("vip", () => true, gift);
});

Deno.test("if with both branches gives the union of their outputs", () => {
  const wf = workflow<number>("types-if").if(
    "sign",
    (n) => n > 0,
    () => "positive" as const,
    () => 0 as const,
  );
  assertType<Equal<typeof wf.types, ((input: number) => "positive" | 0) | undefined>>();
});

Deno.test("map, loop, while, sleeps and waits keep precise types", () => {
  const wf = workflow<string[]>("types-more")
    .map("lengths", (words) => words, (w) => w.length)
    .step("sum", (lengths) => lengths.reduce((a, b) => a + b, 0))
    .loop("thrice", 3, (n) => n + 1)
    .while("grow", (n) => n < 100, (n) => n * 2)
    .sleep("pause", "1s")
    .sleepUntil("later", (n) => n)
    .waitForSignal<{ ok: boolean }>("approval", "approved")
    .step("ok", (p) => p.ok)
    .waitForAnySignal<string, "yes" | "no">("decision", ["yes", "no"]);
  assertType<
    Equal<
      typeof wf.types,
      ((input: string[]) => { signal: "yes" | "no"; payload: string }) | undefined
    >
  >();
  // @ts-expect-error a loop body must return the loop value's type
  workflow<number>("types-loop").loop("bad", 2, (n) => String(n));
});

Deno.test("a workflow fits where a wider output type is expected", () => {
  const wf = workflow<number>("types-wider").step("a", (n) => n + 1).loop("l", 2, (n) => n * 2)
    .while("w", (n) => n < 10, (n) => n + 1);
  const wider: Workflow<number, unknown, number> = wf;
  const list: Workflow<number, unknown, number>[] = [wf, workflow<number>("types-other")];
  assert.equal(wider.name, "types-wider");
  assert.equal(list.length, 2);
  // @ts-expect-error the loop body must still map the value to its own type
  wf.loop("bad", 1, (n) => `${n}`);
});

Deno.test("ctx.input is the workflow input inside every branch and body", () => {
  type In = { id: number };
  workflow<In>("types-branch-input")
    .if("a", (_v, input) => input.id > 0, (_v, ctx) => {
      expectType<number>(ctx.input.id);
      // @ts-expect-error ctx.input is the workflow input, which has no 'name'
      ctx.input.name;
      return 1;
    })
    .parallel("p", [(_v, ctx) => ctx.input.id, (_v, ctx) => String(ctx.input.id)])
    .loop("l", 2, (v, ctx) => {
      assertType<Equal<typeof ctx, StepContext<In>>>();
      return v;
    })
    .while("w", () => false, (v, ctx) => {
      expectType<number>(ctx.input.id);
      return v;
    })
    .map("m", () => ["x"], (item, ctx) => item + ctx.input.id);
  // A sub-flow declares the workflow input it expects as its second type parameter.
  const body = flow<number, In>().step("b", (n, ctx) => n + ctx.input.id);
  workflow<In>("types-flow-input").step("zero", () => 0).loop("l", 2, body);
  // @ts-expect-error the sub-flow expects a workflow input with an 'id'
  workflow<{ other: string }>("types-flow-input-bad").step("zero", () => 0).loop("l", 2, body);
});

Deno.test("waitForSignal's combine keeps the value from before the wait", () => {
  const wf = workflow<{ order: string }>("types-combine")
    .waitForSignal("approval", "decision", {
      combine: (order, decision: { approved: boolean }) => ({ ...order, ...decision }),
    });
  assertType<
    Equal<
      typeof wf.types,
      ((input: { order: string }) => { approved: boolean; order: string }) | undefined
    >
  >();
  workflow<{ order: string }>("types-combine-bad").waitForSignal("approval", "decision", {
    // @ts-expect-error the value before the wait has no 'total'
    combine: (order: { total: number }, decision: boolean) => ({ ...order, decision }),
  });
  // onTimeout must give the combined output, not the payload.
  const late = { timeout: "1d", combine: (o: { id: string }, ok: boolean) => ({ ...o, ok }) };
  const bad = { ...late, onTimeout: () => false };
  const wf2 = workflow<{ id: string }>("types-combine-timeout");
  // @ts-expect-error onTimeout gives a boolean where the combined output is expected
  wf2.waitForSignal("approval", "decision", bad).step("x", (v) => v.ok);
  wf2.waitForSignal("approval", "decision", { ...late, onTimeout: (o) => ({ ...o, ok: false }) });
});
