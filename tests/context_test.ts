// What a step sees in its context: ids, keys, attempts, input, clock, log, deps, heartbeat.
import {
  flow,
  LocalRunner,
  type LogAttributes,
  type Logger,
  ManualClock,
  type StepContext,
  workflow,
} from "@sluice/sluice";
import assert from "node:assert/strict";

Deno.test("ctx.input is the workflow input in steps, branches, bodies and items", async () => {
  const inputs: unknown[] = [];
  const record = (_v: unknown, ctx: StepContext) => {
    inputs.push(ctx.input);
    return 1;
  };
  const wf = workflow<{ id: string }>("inputs")
    .step("top", record)
    .parallel("p", [record, flow<number>().step("inner", record)])
    .if("c", () => true, record)
    .loop("l", 2, record)
    .map("m", () => [1, 2], record)
    .step("last", (_v, ctx) => ctx.input.id);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, { id: "in-1" }), "in-1");
  assert.equal(inputs.length, 8);
  for (const input of inputs) assert.deepEqual(input, { id: "in-1" });
});

Deno.test("ctx.runId and ctx.workflow name the run and its workflow", async () => {
  let seen: { runId: string; workflow: string } | undefined;
  const wf = workflow<number>("who-am-i").step("s", (_v, ctx) => {
    seen = { runId: ctx.runId, workflow: ctx.workflow };
  });
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1, { id: "run-42" });
  await handle.result();
  assert.deepEqual(seen, { runId: "run-42", workflow: "who-am-i" });
});

Deno.test("ctx.step is the stable key: names joined by '/', iterations and items by '#'", async () => {
  const keys: string[] = [];
  const key = <T>(v: T, ctx: StepContext) => {
    keys.push(ctx.step);
    return v;
  };
  const wf = workflow<number>("keys")
    .step("createAccount", key)
    .parallel("prepare", { profile: key, settings: key })
    .parallel("tuple", [key, flow<unknown>().step("deep", key)])
    .if("vip", () => true, flow<unknown>().step("gift", key))
    .if("plain", () => true, key)
    .if("other", () => false, key, key)
    .loop("retryLoop", 4, flow<unknown>().step("charge", key))
    .while("w", (v) => v === undefined, () => 1)
    .map("each", () => ["a", "b", "c"], key)
    .map("nested", () => [1], flow<number>().step("inner", key));
  await using runner = new LocalRunner();
  await runner.run(wf, 1);
  assert.deepEqual(keys.sort(), [
    "createAccount",
    "each#0",
    "each#1",
    "each#2",
    "nested#0/inner",
    "other/else",
    "plain/then",
    "prepare/profile",
    "prepare/settings",
    "retryLoop#0/charge",
    "retryLoop#1/charge",
    "retryLoop#2/charge",
    "retryLoop#3/charge",
    "tuple/0",
    "tuple/1/deep",
    "vip/then/gift",
  ]);
});

Deno.test("ctx.attempt counts from 1 and ctx.idempotencyKey is identical across retries", async () => {
  const seen: { attempt: number; key: string; step: string }[] = [];
  const wf = workflow<number>("attempts").step("flaky", (n, ctx) => {
    seen.push({ attempt: ctx.attempt, key: ctx.idempotencyKey, step: ctx.step });
    if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt}`);
    return n;
  }, { retry: { maxAttempts: 3, initialDelay: 0 } });
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 7, { id: "idem-run" });
  assert.equal(await handle.result(), 7);
  assert.deepEqual(seen.map((s) => s.attempt), [1, 2, 3]);
  assert.equal(new Set(seen.map((s) => s.key)).size, 1);
  assert.ok(seen[0]!.key.includes("idem-run"));
  assert.ok(seen[0]!.key.includes("flaky"));
});

Deno.test("idempotency keys differ between steps and between runs", async () => {
  const keys: string[] = [];
  const note = (n: number, ctx: StepContext) => {
    keys.push(ctx.idempotencyKey);
    return n;
  };
  const wf = workflow<number>("idem-keys").step("a", note).step("b", note);
  await using runner = new LocalRunner();
  await runner.run(wf, 1, { id: "r1" });
  await runner.run(wf, 1, { id: "r2" });
  assert.equal(new Set(keys).size, 4);
});

Deno.test("ctx.now() follows the engine clock, across sleeps", async () => {
  const clock = new ManualClock(new Date("2030-01-01T00:00:00Z"));
  const times: Date[] = [];
  const wf = workflow<number>("clocked")
    .step("before", (n, ctx) => {
      times.push(ctx.now());
      return n;
    })
    .sleep("nap", "2h")
    .step("after", (n, ctx) => {
      times.push(ctx.now());
      return n;
    });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("2h");
  await handle.result();
  assert.ok(times[0] instanceof Date);
  assert.deepEqual(times.map((t) => t.toISOString()), [
    "2030-01-01T00:00:00.000Z",
    "2030-01-01T02:00:00.000Z",
  ]);
});

Deno.test("ctx.log writes through the runner's logger with the run and step attached", async () => {
  const records: { level: string; message: string; attributes?: LogAttributes | undefined }[] = [];
  const logger: Logger = {
    debug: (message, attributes) => records.push({ level: "debug", message, attributes }),
    info: (message, attributes) => records.push({ level: "info", message, attributes }),
    warn: (message, attributes) => records.push({ level: "warn", message, attributes }),
    error: (message, attributes) => records.push({ level: "error", message, attributes }),
  };
  const wf = workflow<number>("logs").step("talk", (n, ctx) => {
    ctx.log.info("charging", { amount: n });
    ctx.log.warn("careful");
    return n;
  });
  await using runner = new LocalRunner({ logger });
  await runner.run(wf, 5, { id: "log-run" });
  const info = records.find((r) => r.message === "charging")!;
  assert.equal(info.level, "info");
  assert.equal(info.attributes?.runId, "log-run");
  assert.equal(info.attributes?.step, "talk");
  assert.equal(info.attributes?.workflow, "logs");
  assert.equal(info.attributes?.amount, 5);
  const warn = records.find((r) => r.message === "careful")!;
  assert.equal(warn.level, "warn");
  assert.equal(warn.attributes?.step, "talk");
});

Deno.test("ctx.deps holds the injected dependencies", async () => {
  const wf = workflow<number>("deps-ctx").step("use", (n, ctx) => {
    const add = ctx.deps.add as (a: number, b: number) => number;
    return add(n, ctx.deps.offset as number);
  });
  await using runner = new LocalRunner({
    deps: { add: (a: number, b: number) => a + b, offset: 10 },
  });
  assert.equal(await runner.run(wf, 5), 15);
});

Deno.test("ctx.heartbeat() resolves during a step and ctx.signal is live", async () => {
  let aborted: boolean | undefined;
  const wf = workflow<number>("beat").step("long", async (n, ctx) => {
    await ctx.heartbeat();
    await ctx.heartbeat();
    aborted = ctx.signal.aborted;
    return n;
  });
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 3), 3);
  assert.equal(aborted, false);
});
