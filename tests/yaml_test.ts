// Declarative YAML workflows (SPEC §1.6): every construct and plan equality with the builder.
// Positioned errors and hostile documents are in yaml_errors_test.ts.
import {
  defineStep,
  flow,
  LocalRunner,
  ManualClock,
  SignalTimeoutError,
  type StepContext,
  StepTimeoutError,
  workflow,
  WorkflowFailedError,
  WorkflowTimeoutError,
} from "@sluice/sluice";
import {
  ExpressionError,
  loadWorkflow,
  type YamlAction,
  YamlWorkflowError,
} from "@sluice/sluice/yaml";
import assert from "node:assert/strict";
import { ACTIONS, assertYamlError, failure, greetDef, load } from "./_fixtures/yaml.ts";

type Obj = Record<string, unknown>;

// ---- constructs ------------------------------------------------------------------------------

Deno.test("loadWorkflow() runs steps by action name, default action and defineStep()", async () => {
  const wf = load([
    "name: steps",
    "version: 2",
    "steps:",
    "  - step: double",
    "  - step: plusOne",
    "    action: inc",
    "  - step: greet",
    "  - step: hello",
    "    action: greet",
  ]);
  assert.equal(wf.name, "steps");
  assert.equal(wf.version, "2");
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 5), "hi hi 11");
  runner.override(greetDef, (v: unknown) => `yo ${v}`);
  assert.equal(await runner.run(wf, 5), "hi yo 11");
});

Deno.test("loadWorkflow() options override the document's name and version", () => {
  const text = "name: a\nversion: '1'\nsteps:\n  - step: double\n";
  const wf = loadWorkflow(text, { actions: ACTIONS, name: "b", version: "7" });
  assert.equal(wf.name, "b");
  assert.equal(wf.version, "7");
  const unnamed = loadWorkflow("steps: [{ step: double }]", { actions: ACTIONS, name: "c" });
  assert.equal(unnamed.name, "c");
  assert.equal(unnamed.version, "1");
});

Deno.test("a YAML step retries with its retry options", async () => {
  let attempts = 0;
  const wf = load([
    "name: flaky",
    "steps:",
    "  - step: call",
    "    action: flaky",
    "    retry: { maxAttempts: 3, initialDelay: 1s, backoff: 2, maxDelay: 1m, jitter: 0 }",
  ], {
    flaky: (n: number) => {
      if (++attempts < 3) throw new Error(`attempt ${attempts} failed`);
      return n * 10;
    },
  });
  await using runner = new LocalRunner({ clock: "virtual" });
  assert.equal(await runner.run(wf, 4), 40);
  assert.equal(attempts, 3);
});

Deno.test("a YAML step timeout aborts the attempt with StepTimeoutError", async () => {
  const clock = new ManualClock(0);
  const wf = load([
    "name: slow",
    "steps:",
    "  - step: hang",
    "    timeout: 5s",
  ], {
    hang: (_v: unknown, ctx: StepContext) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
      }),
  });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  const outcome = failure(handle.result());
  await clock.advance("5s");
  const error = await outcome;
  assert.ok(error.cause instanceof StepTimeoutError);
  assert.equal(error.step, "hang");
});

Deno.test("YAML compensate names the action that undoes a step, and the workflow timeout is a deadline", async () => {
  const log: string[] = [];
  const actions: Record<string, YamlAction> = {
    reserve: (v: unknown) => `seat ${v}`,
    release: (seat: unknown) => void log.push(`released ${seat}`),
    undoLater: defineStep("undoLater", (v: unknown) => v),
    fail: () => {
      throw new Error("card declined");
    },
    hang: (_v: unknown, ctx: StepContext) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
      }),
  };
  const saga = load([
    "name: saga",
    "steps:",
    "  - step: hold",
    "    action: reserve",
    "    compensate: release",
    "  - parallel: more",
    "    branches:",
    "      - { action: reserve, compensate: release }",
    "  - step: fail",
  ], actions);
  const built = workflow("saga")
    .step("hold", (v) => v, { compensate: () => {} })
    .parallel("more", [defineStep("reserve", (v) => v, { compensate: () => {} })])
    .step("fail", () => {});
  assert.equal(saga.planHash, built.planHash);
  await using runner = new LocalRunner();
  const run = await runner.start(saga, 1);
  assert.equal((await failure(run.result())).step, "fail");
  assert.deepEqual(log, ["released seat seat 1", "released seat 1"]);
  assert.equal((await runner.get(run.id)).compensated, true);

  const timed = load(["name: timed", "timeout: 1m", "steps: [{ step: hang }]"], actions);
  assert.equal(timed.plan.timeoutMs, 60_000);
  const clock = new ManualClock(0);
  await using clocked = new LocalRunner({ clock });
  const handle = await clocked.start(timed, 1);
  const outcome = failure(handle.result());
  await clock.advance("1m");
  assert.ok((await outcome).cause instanceof WorkflowTimeoutError);

  assertYamlError(["name: w", "timeout: soon", "steps: [{ step: fail }]"], {
    line: 2,
    column: 10,
    key: "timeout",
  }, actions);
  assertYamlError(["name: w", "steps:", "  - step: fail", "    compensate: nothing"], {
    line: 4,
    column: 17,
    key: "compensate",
    message: /Cannot find the action 'nothing'/,
  }, actions);
});

Deno.test("if takes then or else from a CEL condition over value and input", async () => {
  const wf = load([
    "name: branching",
    "steps:",
    "  - if: big",
    "    when: value > input",
    "    then: whisper",
    "    else:",
    "      - step: typeOf",
    "      - step: suffix",
    "  - if: short",
    "    when: size(value) > 5",
    "    then: { step: shout }",
  ]);
  await using runner = new LocalRunner();
  // 3 > 3 is false: the 'else' sub-flow runs, then 'short' takes its 'then'.
  assert.equal(await runner.run(wf, 3), "NUMBER...!");
  const simple = load([
    "name: simple",
    "steps:",
    "  - step: inc",
    "  - if: big",
    "    when: value > input",
    "    then: whisper",
  ]);
  assert.equal(await runner.run(simple, 3), "psst 4");
});

Deno.test("parallel branches: a list gives a tuple, a mapping gives a record", async () => {
  const wf = load([
    "name: fan",
    "steps:",
    "  - parallel: tuple",
    "    concurrency: 1",
    "    branches:",
    "      - double",
    "      - [{ step: a, action: inc }, { step: b, action: double }]",
    "      - { action: inc, retry: { maxAttempts: 2 } }",
    "  - parallel: record",
    "    branches:",
    "      first: { step: x, action: head }",
    "      count: size",
  ]);
  await using runner = new LocalRunner();
  const tuple = load([
    "name: tupleOnly",
    "steps:",
    "  - parallel: tuple",
    "    branches: [double, [{ step: a, action: inc }, { step: b, action: double }], inc]",
  ]);
  assert.deepEqual(await runner.run(tuple, 3), [6, 8, 4]);
  assert.deepEqual(await runner.run(wf, 3), { first: 6, count: 3 });
  const [fan] = wf.plan.nodes;
  assert.equal(fan?.kind === "parallel" && fan.concurrency, 1);
  assert.equal(fan?.kind === "parallel" && fan.shape, "tuple");
});

Deno.test("loop runs a fixed or a CEL count of iterations", async () => {
  const wf = load([
    "name: loops",
    "steps:",
    "  - step: pick",
    "  - loop: thrice",
    "    times: 3",
    "    do: inc",
    "  - loop: more",
    "    times: input.extra",
    "    do: [{ step: twice, action: double }]",
  ]);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, { n: 1, extra: 2 }), 16);
  assert.equal(await runner.run(wf, { n: 1, extra: 0 }), 4);
  const error = await failure(runner.run(wf, { n: 1, extra: -1 }));
  assert.equal((error.cause as Error).name, "ExpressionError");
  assert.match((error.cause as Error).message, /'times' of loop 'more'.*int of 0 or more/);
});

Deno.test("while repeats while its condition holds and fails at maxIterations", async () => {
  const wf = load([
    "name: grow",
    "steps:",
    "  - step: pick",
    "  - while: small",
    "    when: value < input.limit",
    "    maxIterations: 10",
    "    do: double",
  ]);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, { n: 1, limit: 50 }), 64);
  const error = await failure(runner.run(wf, { n: 1, limit: 5000 }));
  assert.match(String(error.message), /limit of 10 iterations/);
});

Deno.test("map runs its body per CEL item, in order, with JSON numbers", async () => {
  const wf = load([
    "name: each",
    "steps:",
    "  - map: names",
    "    items: input.users.map(u, u.name)",
    "    concurrency: 2",
    "    do: upper",
    "  - map: numbers",
    "    items: '[size(value), 2, 3.5]'",
    "    do: [{ step: kind, action: typeOf }]",
  ]);
  await using runner = new LocalRunner();
  assert.deepEqual(
    await runner.run(wf, { users: [{ name: "ada" }, { name: "bob" }] }),
    ["number", "number", "number"],
  );
  const names = load([
    "name: names",
    "steps:",
    "  - map: names",
    "    items: input.users.map(u, u.name)",
    "    do: upper",
  ]);
  assert.deepEqual(await runner.run(names, { users: [{ name: "ada" }, { name: "bob" }] }), [
    "ADA",
    "BOB",
  ]);
});

Deno.test("sleep and sleepUntil (fixed, epoch and CEL) wait on the clock", async () => {
  const wf = load([
    "name: timers",
    "steps:",
    "  - sleepUntil: fixed",
    "    at: 2100-01-01T00:00:00Z",
    "  - sleepUntil: epoch",
    "    at: 4102531200000",
    "  - sleepUntil: dynamic",
    "    at: timestamp(input.wake)",
    "  - sleepUntil: fromValue",
    "    at: value.ms",
    "  - sleep: nap",
    "    for: 1h30m",
    "  - step: now",
  ]);
  assert.deepEqual(wf.plan.nodes.slice(0, 2), [
    { kind: "sleepUntil", name: "fixed", at: Date.UTC(2100, 0, 1) },
    { kind: "sleepUntil", name: "epoch", at: 4102531200000 },
  ]);
  await using runner = new LocalRunner({ clock: "virtual" });
  const input = { wake: "2100-03-01T00:00:00Z", ms: Date.UTC(2100, 2, 2) };
  // The virtual clock jumps to each wake time; real time moves on a little meanwhile.
  const now = Date.parse(await runner.run(wf, input) as string);
  const expected = Date.UTC(2100, 2, 2, 1, 30);
  assert.ok(now >= expected && now < expected + 1_000, new Date(now).toISOString());
});

Deno.test("waitForSignal outputs the payload, or the onTimeout value", async () => {
  const wf = load([
    "name: approve",
    "steps:",
    "  - waitForSignal: approval",
    "    signal: approved",
    "    timeout: 3d",
    '    onTimeout: \'{"approved": false, "was": value, "who": input}\'',
  ]);
  await using runner = new LocalRunner({ clock: "virtual" });
  const handle = await runner.start(wf, "ada");
  await handle.signal("approved", { approved: true });
  assert.deepEqual(await handle.result(), { approved: true });
  assert.deepEqual(await runner.run(wf, "bob"), { approved: false, was: "bob", who: "bob" });

  const constant = load([
    "name: constant",
    "steps:",
    "  - waitForSignal: approval",
    "    signal: approved",
    "    timeout: 1h",
    "    onTimeout: { approved: false, reasons: [timeout, 1, 2.5, true, null] }",
  ]);
  assert.deepEqual(await runner.run(constant, 0), {
    approved: false,
    reasons: ["timeout", 1, 2.5, true, null],
  });
  const literal = load([
    "name: literal",
    "steps:",
    "  - waitForSignal: approval",
    "    signal: approved",
    "    timeout: 1h",
    "    onTimeout: \"'expired'\"",
  ]);
  assert.equal(await runner.run(literal, 0), "expired");

  const strict = load([
    "name: strict",
    "steps:",
    "  - waitForSignal: approval",
    "    signal: approved",
    "    timeout: 1h",
  ]);
  const error = await failure(runner.run(strict, 0));
  assert.ok(error.cause instanceof SignalTimeoutError);
});

Deno.test("waitForSignal's combine is a CEL expression over value, payload and input, recomputed on replay", async () => {
  const wf = load([
    "name: combined",
    "steps:",
    "  - step: order",
    "    action: pick",
    "  - waitForSignal: approval",
    "    signal: approved",
    '    combine: \'{"n": value, "approved": payload.ok, "by": input.who}\'',
    "  - sleep: settle", // the run suspends: the wait's output is read back from its row
    "    for: 1h",
    "  - step: done",
    "    action: same",
  ], { ...ACTIONS, same: (v: unknown) => v });
  const built = workflow<{ n: number; who: string }>("combined")
    .step("order", (input) => input.n)
    .waitForSignal("approval", "approved", {
      combine: (n, payload: { ok: boolean }) => ({ n, approved: payload.ok }),
    })
    .sleep("settle", "1h")
    .step("done", (v) => v);
  assert.deepEqual(wf.plan, built.plan);
  assert.equal(wf.planHash, built.planHash);
  const clock = new ManualClock(0);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, { n: 7, who: "ada" });
  await handle.signal("approved", { ok: true });
  await clock.advance("1h");
  assert.deepEqual(await handle.result(), { n: 7, approved: true, by: "ada" });
  // A payload that lacks the field fails the run with an ExpressionError naming the key.
  const bad = await runner.start(wf, { n: 1, who: "bob" });
  await bad.signal("approved", "no object");
  const error = await failure(bad.result());
  assert.ok(error.cause instanceof ExpressionError);
  assert.match(error.cause.message, /'combine' of/);
});

Deno.test("waitForAnySignal outputs which signal arrived and its payload", async () => {
  const wf = load([
    "name: decide",
    "steps:",
    "  - waitForAnySignal: decision",
    "    signals: [approve, reject]",
    "    timeout: 1d",
    "    onTimeout: { signal: none, payload: null }",
  ]);
  await using runner = new LocalRunner({ clock: "virtual" });
  const handle = await runner.start(wf, 0);
  await handle.signal("reject", { why: "late" });
  assert.deepEqual(await handle.result(), { signal: "reject", payload: { why: "late" } });
  assert.deepEqual(await runner.run(wf, 0), { signal: "none", payload: null });
  assert.deepEqual(wf.plan.nodes[0], {
    kind: "waitForAnySignal",
    name: "decision",
    signals: ["approve", "reject"],
    timeoutMs: 86_400_000,
    onTimeout: true,
  });
});

Deno.test("sub-flows nest: parallel > list > if > loop > step", async () => {
  const wf = load([
    "name: nested",
    "steps:",
    "  - parallel: outer",
    "    branches:",
    "      left:",
    "        - step: inc",
    "        - if: even",
    "          when: value % 2 == 0",
    "          then:",
    "            - loop: twice",
    "              times: 2",
    "              do:",
    "                - step: double",
    "                - step: inc",
    "          else: whisper",
    "      right: [{ sleep: nap, for: 1s }, { step: double }]",
  ]);
  await using runner = new LocalRunner({ clock: "virtual" });
  assert.deepEqual(await runner.run(wf, 1), { left: 11, right: 2 });
  assert.deepEqual(await runner.run(wf, 2), { left: "psst 3", right: 4 });
});

Deno.test("a CEL error at run time fails the node with an ExpressionError", async () => {
  const wf = load([
    "name: missing",
    "steps:",
    "  - if: vip",
    "    when: value.profile.tier == 'gold'",
    "    then: shout",
  ]);
  await using runner = new LocalRunner();
  const error = await failure(runner.run(wf, { profile: {} }));
  assert.equal(error.step, "vip");
  // The run's error comes back from storage: the name and message survive.
  const cause = error.cause as Error;
  assert.equal(cause.name, "ExpressionError");
  assert.match(cause.message, /'when' of if 'vip' \(line 4, column 11\).*No such key: tier/);
  // In-process, observers see the ExpressionError itself, with its location.
  let seen: unknown;
  await using observed = new LocalRunner({
    observers: [{ onRunFailed: (event) => void (seen = event.error) }],
  });
  await failure(observed.run(wf, { profile: {} }));
  assert.ok(seen instanceof ExpressionError);
  assert.equal(seen.code, "EXPRESSION_FAILED");
  assert.deepEqual([seen.line, seen.column, seen.key, seen.expression], [
    4,
    11,
    "when",
    "value.profile.tier == 'gold'",
  ]);

  const notBool = load([
    "name: notBool",
    "steps:",
    "  - if: x",
    "    when: value",
    "    then: shout",
  ]);
  const wrong = await failure(runner.run(notBool, 5));
  assert.match(String(wrong.message), /gave int, but a bool is needed/);
});

Deno.test("the YAML documented in the module loads and matches its description", async () => {
  const source = await Deno.readTextFile(new URL("../yaml/mod.ts", import.meta.url));
  const block = source.slice(
    source.indexOf("```yaml") + 7,
    source.indexOf(" * ```\n", source.indexOf("```yaml")),
  );
  const text = block.split("\n").map((line) => line.replace(/^ \* ?/, "")).join("\n");
  const fn = (v: unknown) => v;
  const names = ["createUser", "deleteUser", "fetchProfile", "fetchSettings", "sendGift", "noGift"];
  names.push("ping");
  const wf = loadWorkflow(text, {
    actions: Object.fromEntries([...names, "double", "notify"].map((name) => [name, fn])),
  });
  assert.equal(wf.name, "onboard");
  assert.equal(wf.plan.timeoutMs, 7 * 86_400_000);
  assert.deepEqual(wf.plan.nodes.map((node) => node.kind), [
    "step",
    "parallel",
    "if",
    "loop",
    "while",
    "map",
    "sleep",
    "sleepUntil",
    "waitForSignal",
    "waitForAnySignal",
  ]);
});

// ---- plan equality -----------------------------------------------------------------------------

Deno.test("a YAML workflow has the plan, planHash and Mermaid of the same builder workflow", () => {
  const fn = (v: unknown) => v;
  const cond = () => true;
  const actions: Record<string, YamlAction> = {
    createUser: fn,
    fetchProfile: fn,
    fetchSettings: fn,
    sendGift: fn,
    noGift: fn,
    ping: fn,
    double: fn,
    notify: fn,
    greet: greetDef,
  };
  const yaml = loadWorkflow(
    `
name: onboard
version: "3"
description: Everything at once
steps:
  - step: createAccount
    action: createUser
    retry: { maxAttempts: 5, initialDelay: 1s, backoff: 2, maxDelay: 1m, jitter: 0.1 }
    timeout: 30s
  - step: greet
  - parallel: prepare
    concurrency: 2
    branches:
      profile: fetchProfile
      settings: { action: fetchSettings, retry: { maxAttempts: 3 } }
  - parallel: pair
    branches: [ping, [{ step: a, action: ping }, { step: b, action: double }]]
  - if: vip
    when: value.profile.tier == "gold"
    then:
      - step: gift
        action: sendGift
    else: noGift
  - if: quiet
    when: "false"
    then: { step: hush, action: ping }
  - loop: twice
    times: 2
    do: ping
  - loop: dynamic
    times: input.n
    do: [{ step: ping }]
  - while: grow
    when: value < 100
    maxIterations: 50
    do: double
  - map: each
    items: value.users
    concurrency: 4
    do: [{ step: notify }]
  - sleep: coolDown
    for: 1h
  - sleepUntil: due
    at: 2100-01-01T00:00:00Z
  - sleepUntil: later
    at: timestamp(input.at)
  - waitForSignal: approval
    signal: approved
    timeout: 3d
    onTimeout: '{"approved": false}'
  - waitForSignal: forever
    signal: go
  - waitForAnySignal: decision
    signals: [approve, reject]
    timeout: 1d
`,
    { actions },
  );
  const built = workflow<unknown>("onboard", { version: "3" })
    .step("createAccount", fn, {
      retry: { maxAttempts: 5, initialDelay: "1s", backoff: 2, maxDelay: "1m", jitter: 0.1 },
      timeout: "30s",
    })
    .step(greetDef)
    .parallel("prepare", {
      profile: fn,
      settings: defineStep("settings", fn, { retry: { maxAttempts: 3 } }),
    }, { concurrency: 2 })
    .parallel("pair", [fn, flow<unknown>().step("a", fn).step("b", fn)])
    .if("vip", cond, flow<unknown>().step("gift", fn), fn)
    .if("quiet", cond, flow<unknown>().step("hush", fn))
    .loop("twice", 2, fn)
    .loop("dynamic", () => 1, flow<unknown>().step("ping", fn))
    .while("grow", cond, fn, { maxIterations: 50 })
    .map("each", () => [], flow<unknown>().step("notify", fn), { concurrency: 4 })
    .sleep("coolDown", "1h")
    .sleepUntil("due", new Date("2100-01-01T00:00:00Z"))
    .sleepUntil("later", () => 0)
    .waitForSignal("approval", "approved", { timeout: "3d", onTimeout: () => ({}) })
    .waitForSignal("forever", "go")
    .waitForAnySignal("decision", ["approve", "reject"], { timeout: "1d" });
  assert.deepEqual(yaml.plan, built.plan);
  assert.equal(yaml.planHash, built.planHash);
  assert.equal(yaml.toMermaid(), built.toMermaid());
  assert.equal(JSON.stringify(yaml.plan), JSON.stringify(built.plan));
});

Deno.test("the planHash of a YAML workflow ignores tunable options but not structure", () => {
  const base = load(["name: h", "steps:", "  - step: double", "    retry: { maxAttempts: 2 }"]);
  const tuned = load(["name: h", "steps:", "  - step: double", "    retry: { maxAttempts: 9 }"]);
  const renamed = load(["name: h", "steps:", "  - step: twice", "    action: double"]);
  assert.equal(base.planHash, tuned.planHash);
  assert.notEqual(base.planHash, renamed.planHash);
});

// ---- storage and children ------------------------------------------------------------------

Deno.test("a failing CEL expression comes back from storage as an ExpressionError", async () => {
  const wf = loadWorkflow(
    "name: stored-cel\nsteps:\n  - if: big\n    when: value.size > 10\n    then: a\n",
    {
      actions: { a: (v: unknown) => v },
    },
  );
  await using runner = new LocalRunner();
  const run = await runner.start(wf, { other: 1 });
  const error = await run.result().catch((e: unknown) => e);
  assert.ok(error instanceof WorkflowFailedError);
  assert.ok(error.cause instanceof ExpressionError, String(error.cause));
  assert.equal(error.cause.code, "EXPRESSION_FAILED");
});

Deno.test("call and spawn name a workflow from the 'workflows' option; plans match the builder", async () => {
  const pay = workflow<number>("yaml-pay").step("charge", (n) => ({ charged: n }));
  const text = `
name: yaml-order
steps:
  - step: pick
  - call: payment
    workflow: pay
    input: value * 100
    id: "'pay-' + string(input.n)"
    retry: { maxAttempts: 2 }
  - spawn: audit
    workflow: pay
    input: "1"
`;
  const wf = loadWorkflow(text, { actions: ACTIONS, workflows: { pay } });
  const built = workflow<{ n: number }>("yaml-order")
    .step("pick", (input) => input.n)
    .call("payment", pay, {
      input: (n) => n * 100,
      id: (_n, i) => `pay-${i.n}`,
      retry: { maxAttempts: 2 },
    })
    .spawn("audit", pay, { input: () => 1 });
  assert.deepEqual(wf.plan, built.plan);
  assert.equal(wf.planHash, built.planHash);
  await using runner = new LocalRunner();
  const run = await runner.start(wf, { n: 3 });
  assert.deepEqual(await run.result(), { id: `${run.id}/audit` });
  assert.deepEqual((await runner.get("pay-3")).output, { charged: 300 });
  assert.throws(
    () => loadWorkflow(text, { actions: ACTIONS, workflows: {} }),
    (error: YamlWorkflowError) => {
      assert.ok(error instanceof YamlWorkflowError);
      assert.match(error.message, /Cannot find the workflow 'pay' of call 'payment'/);
      assert.match(error.message, /line 6/);
      return true;
    },
  );
});
