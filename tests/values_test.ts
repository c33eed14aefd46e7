// Values are JSON plus Date: round-trips, SerializationError, PayloadTooLargeError.
import {
  LocalRunner,
  ManualClock,
  PayloadTooLargeError,
  SerializationError,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import assert from "node:assert/strict";

const T0 = Date.UTC(2030, 0, 1);
const DAY = new Date("2031-02-03T04:05:06.789Z");

Deno.test("JSON values round-trip through steps, sleeps and result()", async () => {
  const clock = new ManualClock(T0);
  const value = {
    text: 'héllo \u2603 "quoted"',
    n: -1.5,
    zero: 0,
    yes: true,
    nothing: null,
    list: [1, "two", [3], { four: 4 }],
    nested: { deeper: { deepest: [] as unknown[] } },
  };
  let afterSleep: unknown;
  const wf = workflow<typeof value>("json")
    .step("same", (v) => v)
    .sleep("nap", "1s")
    .step("check", (v) => {
      afterSleep = v;
      return v;
    });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, value);
  await clock.advance("1s");
  assert.deepEqual(await handle.result(), value);
  assert.deepEqual(afterSleep, value);
  assert.deepEqual((await runner.get(handle.id)).input, value);
});

Deno.test("Dates come back as Dates in later steps after a sleep and in result()", async () => {
  const clock = new ManualClock(T0);
  const seen: unknown[] = [];
  const wf = workflow<{ when: Date }>("dates")
    .step("make", (v) => ({ when: v.when, list: [DAY], nested: { at: new Date(T0) } }))
    .sleep("nap", "1h")
    .step("check", (v) => {
      seen.push(v.when, v.list[0], v.nested.at);
      return v;
    });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, { when: DAY });
  await clock.advance("1h");
  const output = await handle.result();
  for (const date of [...seen, output.when, output.list[0], output.nested.at]) {
    assert.ok(date instanceof Date, `${date} is a Date`);
  }
  assert.equal(output.when.toISOString(), DAY.toISOString());
  assert.equal(output.nested.at.getTime(), T0);
  const record = await runner.get(handle.id);
  assert.ok((record.input as { when: Date }).when instanceof Date);
});

Deno.test("a Date returned by a step is a Date in the next step", async () => {
  const wf = workflow<number>("date-step")
    .step("make", () => DAY)
    .step("use", (d) => d.getUTCFullYear());
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 1), 2031);
});

Deno.test("objects that look like Date markers round-trip as plain objects", async () => {
  const clock = new ManualClock(T0);
  const tricky = { $date: "2030-01-01T00:00:00.000Z", inner: [{ $esc: 1 }, { $date: "x" }] };
  const wf = workflow<typeof tricky>("markers").sleep("nap", 1).step("same", (v) => v);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, tricky);
  await clock.advance(1);
  assert.deepEqual(await handle.result(), tricky);
});

Deno.test("an unstorable step output fails the run with a SerializationError naming the step", async () => {
  class Money {
    constructor(readonly cents: number) {}
  }
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  const cases: [string, unknown, RegExp][] = [
    ["fn", { callback: () => 1 }, /a function at \$\.callback/],
    ["map", new Map([["a", 1]]), /an instance of Map/],
    ["set", { s: new Set([1]) }, /an instance of Set at \$\.s/],
    ["money", new Money(5), /an instance of Money/],
    ["cycle", cycle, /a cycle at \$\.self/],
    ["big", { n: 10n }, /a BigInt at \$\.n/],
    ["sym", [Symbol("s")], /a symbol at \$\[0\]/],
    ["symKey", { [Symbol("k")]: 1 }, /a symbol key/],
    ["nan", { n: NaN }, /non-finite number NaN/],
    ["inf", Infinity, /non-finite number Infinity/],
    ["badDate", new Date(NaN), /an invalid Date/],
  ];
  await using runner = new LocalRunner();
  for (const [name, output, problem] of cases) {
    let calls = 0;
    const wf = workflow<number>(`bad-${name}`).step(name, () => {
      calls++;
      return output;
    }, { retry: { maxAttempts: 3, initialDelay: 0 } });
    await assert.rejects(runner.run(wf, 1), (e: unknown) => {
      assert.ok(e instanceof WorkflowFailedError, String(e));
      assert.equal(e.step, name);
      const cause = e.cause as SerializationError;
      assert.ok(cause instanceof SerializationError, `${name}: ${cause}`);
      assert.equal(cause.code, "SERIALIZATION");
      assert.match(cause.message, new RegExp(`step '${name}'`));
      assert.match(cause.message, problem);
      return true;
    });
    assert.equal(calls, 1, `${name} is not retried`);
  }
});

Deno.test("unstorable values from branches, items, loop bodies and onTimeout fail the run", async () => {
  const clock = new ManualClock(T0);
  const fn = () => () => 1;
  const workflows = [
    workflow<number>("bad-branch").parallel("p", { ok: (n: number) => n, bad: fn }),
    workflow<number[]>("bad-item").map("m", (v) => v, fn),
    workflow<number>("bad-body").loop("l", 2, fn as never),
    workflow<number>("bad-timeout").waitForSignal("w", "s", { timeout: 1, onTimeout: fn }),
  ];
  await using runner = new LocalRunner({ clock });
  for (const wf of workflows) {
    const handle = await runner.start(wf as never, [1] as never);
    const outcome = handle.result().catch((e) => e);
    await clock.advance(1);
    const error = await outcome;
    assert.ok(error instanceof WorkflowFailedError, `${wf.name}: ${error}`);
    assert.ok(error.cause instanceof SerializationError, `${wf.name}: ${error.cause}`);
  }
});

Deno.test("an unstorable input makes start() throw SerializationError and creates no run", async () => {
  const wf = workflow<unknown>("bad-input").step("a", (v) => v);
  await using runner = new LocalRunner();
  for (const input of [{ f: () => 1 }, new Map(), 1n, Symbol("x"), NaN, { d: new Date(NaN) }]) {
    await assert.rejects(runner.start(wf, input), (e: unknown) => {
      assert.ok(e instanceof SerializationError, String(e));
      assert.match(e.message, /input of workflow 'bad-input'/);
      return true;
    });
  }
  assert.deepEqual((await runner.list()).runs, []);
});

Deno.test("a value over the default 1 MiB limit is PayloadTooLargeError", async () => {
  const big = "x".repeat(1_048_576);
  const wf = workflow<string>("big").step("grow", (s) => s + big);
  await using runner = new LocalRunner();
  await assert.rejects(runner.start(wf, big), (e: unknown) => {
    assert.ok(e instanceof PayloadTooLargeError);
    assert.equal(e.code, "PAYLOAD_TOO_LARGE");
    assert.match(e.message, /1048576 bytes/);
    return true;
  });
  assert.deepEqual((await runner.list()).runs, []);
  await assert.rejects(runner.run(wf, "small"), (e: unknown) => {
    assert.ok(e instanceof WorkflowFailedError);
    assert.ok(e.cause instanceof PayloadTooLargeError);
    assert.match((e.cause as Error).message, /step 'grow'/);
    return true;
  });
  const fits = "y".repeat(1_048_000);
  assert.equal(await runner.run(workflow<string>("fits").step("same", (s) => s), fits), fits);
});

Deno.test("the payload limit counts bytes, not characters", async () => {
  const wf = workflow<string>("bytes").step("same", (s) => s);
  await using runner = new LocalRunner({ maxPayloadBytes: 100 });
  assert.equal(await runner.run(wf, "é".repeat(40)), "é".repeat(40));
  await assert.rejects(runner.start(wf, "é".repeat(60)), PayloadTooLargeError);
});

Deno.test("maxPayloadBytes sets the limit for inputs, outputs and signal payloads", async () => {
  const wf = workflow<string>("limited")
    .step("grow", (s) => s.repeat(20))
    .waitForSignal("w", "go");
  await using runner = new LocalRunner({ maxPayloadBytes: 64 });
  await assert.rejects(runner.start(wf, "z".repeat(100)), PayloadTooLargeError);
  const handle = await runner.start(wf, "ab");
  await assert.rejects(handle.signal("go", "q".repeat(100)), PayloadTooLargeError);
  await handle.signal("go", "ok");
  assert.equal(await handle.result(), "ok");
  await assert.rejects(runner.run(wf, "abcd"), (e: WorkflowFailedError) => {
    assert.ok(e.cause instanceof PayloadTooLargeError);
    return true;
  });
  assert.throws(() => new LocalRunner({ maxPayloadBytes: 0 }), RangeError);
});

Deno.test("undefined object properties are dropped like JSON does", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("undef")
    .step("make", () => ({ a: 1, b: undefined as number | undefined }))
    .sleep("nap", 1)
    .step("check", (v) => ({ hasB: "b" in v, a: v.a }));
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance(1);
  assert.deepEqual(await handle.result(), { hasB: false, a: 1 });
});
