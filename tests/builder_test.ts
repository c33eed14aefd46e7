// Behaviour of the builder: immutability, validation, the plan, its hash and its diagram.
import {
  defineStep,
  flow,
  LocalRunner,
  parseDuration,
  type PlanStep,
  workflow,
} from "@sluice/sluice";
import assert from "node:assert/strict";

function onboarding(finish: (v: unknown) => unknown = (v) => v, attempts = 5) {
  return workflow<{ email: string }>("onboard-user", { version: "1" })
    .step("createAccount", (input) => ({ userId: input.email }))
    .parallel("prepare", {
      profile: () => ({ tier: "gold" }),
      settings: () => ({ theme: "dark" }),
    })
    .if(
      "vip",
      (v) => v.profile.tier === "gold",
      flow<{ profile: { tier: string } }>().step("gift", () => "gift"),
    )
    .sleep("coolDown", "1h")
    .waitForSignal<{ approved: boolean }>("approval", "approved", { timeout: "3d" })
    .step("finish", finish, {
      retry: { maxAttempts: attempts, initialDelay: "1s", backoff: 2, maxDelay: "1m" },
    });
}

Deno.test("every builder method returns a new builder and leaves the old one unchanged", () => {
  const empty = workflow<number>("immutable");
  const one = empty.step("a", (n) => n + 1);
  const two = one.step("b", (n) => n * 2);
  const branched = one.if("c", (n) => n > 0, (n) => n);
  assert.notEqual(empty, one);
  assert.notEqual(one, two);
  assert.deepEqual(empty.plan.nodes, []);
  assert.deepEqual(one.plan.nodes.map((n) => n.name), ["a"]);
  assert.deepEqual(two.plan.nodes.map((n) => n.name), ["a", "b"]);
  assert.deepEqual(branched.plan.nodes.map((n) => n.name), ["a", "c"]);
  // Building on an old builder again does not clash with what was built on it before.
  assert.deepEqual(one.step("b", String).plan.nodes.map((n) => n.name), ["a", "b"]);
});

Deno.test("a workflow name that breaks the naming rule throws a TypeError quoting it", () => {
  for (const name of ["", "1st", "with space", "a/b", "a#1", "x".repeat(129), "é"]) {
    assert.throws(
      () => workflow(name),
      (e: unknown) => e instanceof TypeError && e.message.includes(`'${name}'`),
      name,
    );
  }
  assert.throws(() => workflow(42 as unknown as string), TypeError);
  assert.ok(workflow("_ok.name-1"));
  assert.ok(workflow("x".repeat(128)));
});

Deno.test("a bad step name throws a TypeError naming the workflow and the name", () => {
  const wf = workflow<number>("names");
  for (const name of ["", "9lives", "has space", "slash/y", "hash#1", "y".repeat(129)]) {
    assert.throws(
      () => wf.step(name, (n) => n),
      (e: unknown) =>
        e instanceof TypeError && e.message.includes("'names'") &&
        e.message.includes(`'${name}'`),
      name,
    );
  }
  for (
    const build of [
      () => wf.sleep("bad name", 1),
      () => wf.loop("bad name", 1, (n) => n),
      () => wf.map("bad name", () => [], (n) => n),
      () => wf.waitForSignal("bad name", "s"),
      () => wf.parallel("bad name", [(n) => n]),
    ]
  ) {
    assert.throws(build, (e: unknown) => e instanceof TypeError && e.message.includes("'names'"));
  }
});

Deno.test("a duplicate sibling name throws a TypeError naming the workflow and the name", () => {
  const wf = workflow<number>("dupes").step("charge", (n) => n);
  for (
    const build of [
      () => wf.step("charge", (n) => n),
      () => wf.sleep("charge", "1s"),
      () => wf.if("charge", () => true, (n) => n),
      () => wf.waitForSignal("charge", "go"),
    ]
  ) {
    assert.throws(
      build,
      (e: unknown) =>
        e instanceof TypeError && e.message.includes("'dupes'") && e.message.includes("'charge'"),
    );
  }
});

Deno.test("the same name in different sub-flows, or in a sub-flow and its parent, is fine", () => {
  const wf = workflow<number>("nested-names")
    .step("a", (n) => n)
    .if("b", () => true, flow<number>().step("a", (n) => n), flow<number>().step("a", (n) => n))
    .loop("d", 1, flow<number>().step("a", (n) => n))
    .parallel("c", [flow<number>().step("a", (n) => n), flow<number>().step("a", (n) => n)]);
  assert.deepEqual(wf.plan.nodes.map((n) => n.name), ["a", "b", "d", "c"]);
});

Deno.test("a sub-flow with duplicate names throws while it is built", () => {
  assert.throws(
    () => flow<number>().step("x", (n) => n).step("x", (n) => n),
    (e: unknown) =>
      e instanceof TypeError && e.message.includes("sub-flow") && e.message.includes("'x'"),
  );
});

Deno.test("invalid step options throw TypeError or RangeError with clear messages", () => {
  const wf = workflow<number>("opts");
  const id = (n: number) => n;
  const cases: [() => unknown, ErrorConstructor | RangeErrorConstructor, RegExp][] = [
    [() => wf.step("a", id, { retry: { maxAttempts: 0 } }), RangeError, /'maxAttempts'.*0/],
    [() => wf.step("a", id, { retry: { maxAttempts: 1.5 } }), RangeError, /'maxAttempts'/],
    [() => wf.step("a", id, { retry: { maxAttempts: "3" as never } }), TypeError, /maxAttempts/],
    [() => wf.step("a", id, { retry: { initialDelay: -5 } }), RangeError, /initialDelay.*-5/],
    [() => wf.step("a", id, { retry: { initialDelay: "soon" } }), RangeError, /'soon'/],
    [() => wf.step("a", id, { retry: { maxDelay: "2x" } }), RangeError, /'2x'/],
    [() => wf.step("a", id, { retry: { jitter: 2 } }), RangeError, /'jitter'.*2/],
    [() => wf.step("a", id, { retry: { jitter: -0.1 } }), RangeError, /'jitter'/],
    [() => wf.step("a", id, { retry: { backoff: 0.5 } }), RangeError, /'backoff'/],
    [
      () => wf.step("a", id, { retry: { initialDelay: "1m", maxDelay: "1s" } }),
      RangeError,
      /'maxDelay'/,
    ],
    [() => wf.step("a", id, { timeout: -1 }), RangeError, /timeout.*-1/],
    [() => wf.step("a", id, { timeout: 0 }), RangeError, /'timeout'/],
    [() => wf.step("a", id, { timeout: "later" }), RangeError, /'later'/],
    [() => wf.step("a", id, { compensate: null as never }), TypeError, /'compensate'/],
    [() => wf.step("a", id, { retries: 3 } as never), TypeError, /'retries'/],
    [() => wf.step("a", "not a function" as never), TypeError, /function/],
    [() => wf.parallel("p", [id], { concurrency: 0 }), RangeError, /'concurrency'.*0/],
    [() => wf.map("m", () => [1], id, { concurrency: 0 }), RangeError, /'concurrency'.*0/],
    [() => wf.loop("l", -1, id), RangeError, /loop 'l'/],
    [() => wf.while("w", () => false, id, { maxIterations: 0 }), RangeError, /'maxIterations'/],
    [() => wf.sleep("s", -1), RangeError, /sleep 's'/],
    [() => wf.sleep("s", "forever"), RangeError, /'forever'/],
    [() => wf.sleepUntil("s", new Date(NaN)), RangeError, /'s'/],
    [() => wf.sleepUntil("s", "tomorrow" as never), TypeError, /'s'/],
    [() => wf.waitForSignal("w", "bad signal"), TypeError, /'bad signal'/],
    [() => wf.waitForSignal("w", "s", { timeout: "x" }), RangeError, /'x'/],
    [() => wf.waitForSignal("w", "s", { onTimeout: () => 1 }), TypeError, /'onTimeout'/],
    [() => wf.waitForAnySignal("w", []), TypeError, /non-empty/],
    [() => wf.waitForAnySignal("w", ["a", "a"]), TypeError, /same signal/],
    [() => workflow("v", { version: "" }), TypeError, /version/],
  ];
  for (const [build, type, message] of cases) {
    assert.throws(build, (e: unknown) => {
      assert.ok(e instanceof type, `${build}: ${e}`);
      assert.match((e as Error).message, message);
      assert.match((e as Error).message, /^Cannot /);
      return true;
    });
  }
});

Deno.test("parseDuration reads milliseconds and unit strings", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("5s"), 5_000);
  assert.equal(parseDuration("10m"), 600_000);
  assert.equal(parseDuration("2h"), 7_200_000);
  assert.equal(parseDuration("1d"), 86_400_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1d2h3m4s5ms"), 93_784_005);
  assert.equal(parseDuration("1.5s"), 1_500);
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(1234), 1234);
});

Deno.test("parseDuration rejects bad strings, negatives and non-finite numbers", () => {
  for (const bad of ["", "5", "5x", "s5", "-5s", "1h 30m", "5 s", "ms", "1h30"]) {
    assert.throws(() => parseDuration(bad), RangeError, bad);
  }
  for (const bad of [-1, NaN, Infinity]) assert.throws(() => parseDuration(bad), RangeError);
  assert.throws(() => parseDuration({} as never), TypeError);
  assert.throws(() => parseDuration("soon", "the nap"), /the nap 'soon'/);
});

Deno.test("plan is plain JSON with kinds, names, nesting and options", () => {
  const wf = onboarding();
  const plan = wf.plan;
  assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan);
  assert.deepEqual(plan, {
    workflow: "onboard-user",
    version: "1",
    nodes: [
      { kind: "step", name: "createAccount" },
      {
        kind: "parallel",
        name: "prepare",
        shape: "record",
        branches: [{ kind: "step", name: "profile" }, { kind: "step", name: "settings" }],
      },
      {
        kind: "if",
        name: "vip",
        then: { kind: "flow", name: "then", nodes: [{ kind: "step", name: "gift" }] },
      },
      { kind: "sleep", name: "coolDown", durationMs: 3_600_000 },
      { kind: "waitForSignal", name: "approval", signals: ["approved"], timeoutMs: 259_200_000 },
      {
        kind: "step",
        name: "finish",
        retry: {
          maxAttempts: 5,
          initialDelayMs: 1_000,
          backoff: 2,
          maxDelayMs: 60_000,
          jitter: 0,
        },
      },
    ],
  });
});

Deno.test("plan records loops, maps, tuples, timeouts and waits", () => {
  const wf = workflow<number>("kinds")
    .parallel("tuple", [(n) => n, (n) => n], { concurrency: 1 })
    .loop("fixed", 3, (v) => v)
    .loop("dynamic", () => 2, flow<[number, number]>().step("inner", (v) => v))
    .while("grow", () => false, (v) => v, { maxIterations: 7 })
    .map("each", () => [1, 2], (n: number) => n, { concurrency: 2 })
    .sleepUntil("at", 1_000)
    .sleepUntil("later", () => 2_000)
    .waitForAnySignal("pick", ["a", "b"], { timeout: "1m", onTimeout: () => ({}) as never })
    .step("slow", (v) => v, { timeout: "5s" });
  const plan = JSON.parse(JSON.stringify(wf.plan));
  assert.deepEqual(plan.nodes, [
    {
      kind: "parallel",
      name: "tuple",
      shape: "tuple",
      branches: [{ kind: "step", name: "0" }, { kind: "step", name: "1" }],
      concurrency: 1,
    },
    { kind: "loop", name: "fixed", times: 3, body: { kind: "step", name: "body" } },
    {
      kind: "loop",
      name: "dynamic",
      times: "dynamic",
      body: { kind: "flow", name: "body", nodes: [{ kind: "step", name: "inner" }] },
    },
    { kind: "while", name: "grow", maxIterations: 7, body: { kind: "step", name: "body" } },
    { kind: "map", name: "each", concurrency: 2, body: { kind: "step", name: "body" } },
    { kind: "sleepUntil", name: "at", at: 1_000 },
    { kind: "sleepUntil", name: "later" },
    {
      kind: "waitForAnySignal",
      name: "pick",
      signals: ["a", "b"],
      timeoutMs: 60_000,
      onTimeout: true,
    },
    { kind: "step", name: "slow", timeoutMs: 5_000 },
  ]);
});

Deno.test("planHash is stable across rebuilds of the same workflow", () => {
  assert.equal(onboarding().planHash, onboarding().planHash);
  assert.match(onboarding().planHash, /^[0-9a-f]{16}$/);
});

Deno.test("planHash ignores function bodies, retry counts and timeouts", () => {
  const base = onboarding().planHash;
  assert.equal(onboarding(() => "another body").planHash, base);
  assert.equal(onboarding((v) => v, 9).planHash, base);
  const a = workflow<number>("h").step("s", (n) => n, { timeout: "1s" });
  const b = workflow<number>("h").step("s", (n) => n + 1, {
    timeout: "1h",
    retry: { maxAttempts: 3 },
  });
  assert.equal(a.planHash, b.planHash);
  const c = workflow<number>("h").map("m", () => [], (n) => n, { concurrency: 2 });
  const d = workflow<number>("h").map("m", () => [1], (n) => n * 2, { concurrency: 9 });
  assert.equal(c.planHash, d.planHash);
});

Deno.test("planHash changes when a name, a kind or the nesting changes", () => {
  const base = workflow<number>("h").step("a", (n) => n).step("b", (n) => n);
  const renamed = workflow<number>("h").step("a", (n) => n).step("c", (n) => n);
  const rekinded = workflow<number>("h").step("a", (n) => n).sleep("b", 1);
  const nested = workflow<number>("h").step("a", (n) => n).if(
    "b",
    () => true,
    flow<number>().step("b", (n) => n),
  );
  const reordered = workflow<number>("h").step("b", (n) => n).step("a", (n) => n);
  const longer = base.step("c", (n) => n);
  const hashes = [base, renamed, rekinded, nested, reordered, longer].map((w) => w.planHash);
  assert.equal(new Set(hashes).size, hashes.length);
  const inner1 = workflow<number>("h").loop("l", 1, flow<number>().step("x", (n) => n));
  const inner2 = workflow<number>("h").loop("l", 1, flow<number>().step("y", (n) => n));
  assert.notEqual(inner1.planHash, inner2.planHash);
});

Deno.test("toMermaid() draws a flowchart mentioning every node", () => {
  const chart = onboarding().toMermaid();
  assert.match(chart, /^flowchart TD/);
  for (
    const name of [
      "onboard-user",
      "createAccount",
      "prepare",
      "profile",
      "settings",
      "vip",
      "gift",
      "coolDown",
      "approval",
      "approved",
      "finish",
    ]
  ) {
    assert.ok(chart.includes(name), `${name} is missing from\n${chart}`);
  }
  const loops = workflow<number>("loops")
    .loop("again", 2, flow<number>().step("inner", (n) => n))
    .map("each", () => [1], (n: number) => n)
    .while("more", () => false, (n) => n)
    .sleepUntil("wake", 0)
    .toMermaid();
  for (const name of ["again", "inner", "each", "more", "wake"]) assert.ok(loops.includes(name));
});

Deno.test("defineStep works in .step(def), in branches and with option overrides", async () => {
  const double = defineStep("double", (n: number) => n * 2);
  const slow = defineStep("slow", (n: number) => n, { retry: { maxAttempts: 3 } });
  const wf = workflow<number>("defs")
    .step(double)
    .parallel("both", { twice: double, same: (n: number) => n })
    .step("sum", (v) => v.twice + v.same)
    .step(slow, { timeout: "1s" });
  const step = wf.plan.nodes[3] as PlanStep;
  assert.equal(step.name, "slow");
  assert.equal(step.retry?.maxAttempts, 3);
  assert.equal(step.timeoutMs, 1_000);
  assert.equal(wf.plan.nodes[0]!.name, "double");
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 5), 30);
  assert.throws(() => wf.step(double), /'double'/);
  assert.throws(() => defineStep("bad name", (n: number) => n), TypeError);
  assert.throws(() => defineStep("x", 1 as never), TypeError);
  assert.throws(() => defineStep("x", (n: number) => n, { retry: { jitter: 3 } }), RangeError);
});

Deno.test("a branch that is neither a function, a flow nor a step definition throws", () => {
  const wf = workflow<number>("branches");
  assert.throws(() => wf.if("a", () => true, 3 as never), TypeError);
  assert.throws(() => wf.parallel("p", [null as never]), TypeError);
  assert.throws(() => wf.parallel("p", { "bad key": (n: number) => n }), /'bad key'/);
  assert.throws(() => wf.parallel("p", "x" as never), TypeError);
  assert.throws(() => wf.loop("l", 1, {} as never), TypeError);
});
