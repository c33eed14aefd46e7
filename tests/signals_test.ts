// Signals: the inbox, send order, any-of waits, timeouts, typed errors, waits inside branches.
import {
  flow,
  InvalidStateError,
  LocalRunner,
  ManualClock,
  type RunNotFoundError,
  SignalTimeoutError,
  type SluiceError,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import assert from "node:assert/strict";
import { waitForStatus } from "@sluice/sluice/testing";

const T0 = Date.UTC(2030, 0, 1);

/** Resolves with `promise`, or rejects when it takes longer than `ms` of real time. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms}ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("waitForSignal produces the signal's payload", async () => {
  const wf = workflow<string>("approve")
    .waitForSignal<{ approved: boolean }>("approval", "approved")
    .step("act", (v, ctx) => `${ctx.input}:${v.approved}`);
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, "order-1");
  await runner.signal(handle.id, "approved", { approved: true });
  assert.equal(await handle.result(), "order-1:true");
});

Deno.test("a waiting run has status waiting and lists the signals it waits for", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("waiter").waitForSignal("wait", "go", { timeout: "1h" });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance(0);
  const record = await runner.get(handle.id);
  assert.equal(record.status, "waiting");
  assert.deepEqual(record.waitingFor, ["go"]);
  assert.equal(record.wakeAt?.getTime(), T0 + 3_600_000);
  await handle.signal("go", "payload");
  assert.equal(await handle.result(), "payload");
});

Deno.test("a signal without a payload produces undefined", async () => {
  const wf = workflow<number>("bare").waitForSignal("wait", "ping").step("after", (v) => v ?? 0);
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await handle.signal("ping");
  assert.equal(await handle.result(), 0);
});

Deno.test("a signal sent before the run reaches its wait is kept and consumed there", async () => {
  const clock = new ManualClock(T0);
  let waitedAt: number | undefined;
  const wf = workflow<number>("early")
    .sleep("first", "1h")
    .waitForSignal<string>("wait", "go")
    .step("after", (v, ctx) => {
      waitedAt = ctx.now().getTime();
      return v;
    });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance(0);
  await runner.signal(handle.id, "go", "early bird");
  assert.equal(await handle.status(), "sleeping");
  await clock.advance("1h");
  assert.equal(await handle.result(), "early bird");
  assert.equal(waitedAt, T0 + 3_600_000);
});

Deno.test("a signal sent to a run that has not started yet is kept for its wait", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("pre-start").waitForSignal<number>("wait", "go");
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1, { startAt: T0 + 60_000 });
  await runner.signal(handle.id, "go", 99);
  assert.equal(await handle.status(), "pending");
  await clock.advance("1m");
  assert.equal(await handle.result(), 99);
});

Deno.test("a signal of another name stays in the inbox for a later wait", async () => {
  const wf = workflow<number>("two-waits")
    .waitForSignal<string>("first", "a")
    .step("between", (v) => v)
    .waitForSignal<string>("second", "b")
    .step("both", (b, ctx) => ({ b, input: ctx.input }));
  const collect = workflow<number>("two-waits-collect")
    .waitForSignal<string>("first", "a")
    .waitForSignal<string>("second", "b");
  await using runner = new LocalRunner();
  const handle = await runner.start(collect, 1);
  await handle.signal("b", "for b");
  await handle.signal("a", "for a");
  assert.equal(await handle.result(), "for b");
  const history = await runner.history(handle.id);
  const completed = history.filter((e) => e.type === "step.completed").map((e) => e.step);
  assert.deepEqual(completed, ["first", "second"]);
  const other = await runner.start(wf, 2);
  await other.signal("b", "B");
  await other.signal("a", "A");
  assert.deepEqual(await other.result(), { b: "B", input: 2 });
});

Deno.test("several signals of one name are consumed one per wait in send order", async () => {
  const body = flow<unknown>()
    .waitForSignal<number>("next", "item")
    .step("keep", (n, ctx): unknown => ({ n, step: ctx.step }));
  const wf = workflow<unknown>("queue").loop("take", 3, body).step("last", (v) => v);
  const collecting = workflow<number>("queue-collect")
    .waitForSignal<number>("one", "item")
    .step("hold1", (n) => [n])
    .waitForSignal<number>("two", "item")
    .waitForSignal<number>("three", "item");
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 0);
  for (const n of [1, 2, 3]) await handle.signal("item", n);
  assert.deepEqual(await handle.result(), { n: 3, step: "take#2/keep" });

  const second = await runner.start(collecting, 0);
  for (const n of [10, 20, 30]) await second.signal("item", n);
  assert.equal(await second.result(), 30);
  const outputs = (await runner.history(second.id))
    .filter((e) => e.type === "step.completed" && e.step !== "hold1")
    .map((e) => [e.step, (e.output as { payload: number }).payload]);
  assert.deepEqual(outputs, [["one", 10], ["two", 20], ["three", 30]]);
});

Deno.test("waitForAnySignal produces which signal arrived and its payload", async () => {
  const wf = workflow<number>("any")
    .waitForAnySignal<string, "approve" | "reject">("decision", ["approve", "reject"])
    .step("act", (d) => `${d.signal}:${d.payload}`);
  await using runner = new LocalRunner();
  const a = await runner.start(wf, 1);
  await a.signal("reject", "too expensive");
  assert.equal(await a.result(), "reject:too expensive");
  const b = await runner.start(wf, 1);
  await b.signal("other", "ignored");
  await b.signal("approve", "ok");
  assert.equal(await b.result(), "approve:ok");
});

Deno.test("waitForAnySignal takes the oldest of the matching signals already in the inbox", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("any-inbox")
    .sleep("first", "1m")
    .waitForAnySignal("decision", ["x", "y"]);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance(0);
  await handle.signal("y", 1);
  await handle.signal("x", 2);
  await clock.advance("1m");
  assert.deepEqual(await handle.result(), { signal: "y", payload: 1 });
});

Deno.test("a wait timeout without onTimeout fails the run with SignalTimeoutError", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("expire").waitForSignal("approval", "approved", { timeout: "3d" });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  const outcome = handle.result().catch((e) => e);
  await clock.advance("71h");
  assert.equal(await handle.status(), "waiting");
  await clock.advance("1h");
  const error = await outcome;
  assert.ok(error instanceof WorkflowFailedError);
  assert.ok(error.cause instanceof SignalTimeoutError);
  assert.equal((error.cause as SluiceError).code, "SIGNAL_TIMEOUT");
  assert.equal(error.step, "approval");
  assert.match((error.cause as Error).message, /'approved'/);
  await assert.rejects(handle.signal("approved", true), InvalidStateError);
});

Deno.test("a wait timeout with onTimeout makes its result the output", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<{ who: string }>("default")
    .waitForSignal<{ approved: boolean; by: string }>("approval", "approved", {
      timeout: "1h",
      onTimeout: (v) => ({ approved: false, by: `timeout for ${v.who}` }),
    })
    .step("after", (v) => v);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, { who: "ada" });
  await clock.advance("1h");
  assert.deepEqual(await handle.result(), { approved: false, by: "timeout for ada" });
});

Deno.test("a signal that arrives before the timeout wins over onTimeout", async () => {
  const clock = new ManualClock(T0);
  const wf = workflow<number>("in-time").waitForSignal<string>("w", "go", {
    timeout: "1h",
    onTimeout: () => "timed out",
  });
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("59m");
  await handle.signal("go", "in time");
  assert.equal(await handle.result(), "in time");
  await clock.advance("1h");
  assert.equal(await handle.result(), "in time");
});

Deno.test("a signal to an unknown run is RunNotFoundError", async () => {
  await using runner = new LocalRunner();
  await assert.rejects(runner.signal("no-such-run", "go"), (e: RunNotFoundError) => {
    assert.equal(e.code, "RUN_NOT_FOUND");
    assert.match(e.message, /'no-such-run'/);
    return true;
  });
});

Deno.test("a signal to a finished run is InvalidStateError", async () => {
  const wf = workflow<number>("finished").step("a", (n) => n);
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await handle.result();
  await assert.rejects(runner.signal(handle.id, "go", 1), (e: InvalidStateError) => {
    assert.equal(e.code, "INVALID_STATE");
    assert.match(e.message, /completed/);
    return true;
  });
});

Deno.test("a signal with a bad name or an unstorable payload throws before it is sent", async () => {
  const wf = workflow<number>("bad-signal").waitForSignal("w", "go");
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await assert.rejects(runner.signal(handle.id, "bad name"), TypeError);
  await assert.rejects(runner.signal(handle.id, "go", () => 1), { name: "SerializationError" });
  await handle.signal("go", "fine");
  assert.equal(await handle.result(), "fine");
});

Deno.test("a wait in one parallel branch takes a signal while another branch runs", async () => {
  let release: (() => void) | undefined;
  let started: (() => void) | undefined;
  let seen: (() => void) | undefined;
  const running = new Promise<void>((resolve) => (started = resolve));
  const approvalSeen = new Promise<void>((resolve) => (seen = resolve));
  const wf = workflow<number>("branch-wait").parallel("both", {
    approval: flow<number>().waitForSignal<string>("wait", "approved").step("seen", (v) => {
      seen!();
      return v;
    }),
    work: (n: number) =>
      new Promise<number>((resolve) => {
        release = () => resolve(n * 2);
        started!();
      }),
  });
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 21);
  await running;
  await handle.signal("approved", "yes");
  await within(approvalSeen, 1_000);
  assert.equal(await handle.status(), "running");
  release!();
  assert.deepEqual(await handle.result(), { approval: "yes", work: 42 });
});

Deno.test("a branch that finished before the run suspended on a wait is not run again", async () => {
  let quick = 0;
  const wf = workflow<number>("branch-suspend").parallel("both", [
    flow<number>().waitForSignal<string>("w", "go"),
    (n: number) => {
      quick++;
      return n + 1;
    },
  ]);
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await handle.signal("noise");
  await waitForStatus(runner, handle.id, "waiting");
  await handle.signal("go", "went");
  assert.deepEqual(await handle.result(), ["went", 2]);
  assert.equal(quick, 1);
});

Deno.test("waits in two parallel branches each take their own signal", async () => {
  const wf = workflow<number>("two-branch-waits").parallel("both", [
    flow<number>().waitForSignal<string>("w", "left"),
    flow<number>().waitForSignal<string>("w", "right"),
  ]);
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await handle.signal("right", "R");
  await handle.signal("left", "L");
  assert.deepEqual(await handle.result(), ["L", "R"]);
});

Deno.test("history records each signal received with its name and payload", async () => {
  const wf = workflow<number>("signal-history").waitForSignal("w", "go");
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await handle.signal("noise", { a: 1 });
  await handle.signal("go", { b: 2 });
  await handle.result();
  const received = (await runner.history(handle.id)).filter((e) => e.type === "signal.received");
  assert.deepEqual(received.map((e) => [e.signal, e.payload]), [["noise", { a: 1 }], ["go", {
    b: 2,
  }]]);
});

Deno.test("a signal sent just as a branch starts waiting is taken while a sibling still runs", async () => {
  await using runner = new LocalRunner();
  // Send the signal after 0, 1, 2, ... microtask turns, to hit every moment between the
  // wait reading the inbox and registering for a wake-up.
  for (let turns = 0; turns < 30; turns++) {
    const seen = Promise.withResolvers<void>();
    const gate = Promise.withResolvers<void>();
    const wf = workflow<number>(`just-in-time-${turns}`).parallel("both", [
      flow<number>().waitForSignal<number>("wait", "go").step("seen", (n) => {
        seen.resolve();
        return n;
      }),
      async (n: number) => {
        await gate.promise;
        return n;
      },
    ]);
    const handle = await runner.start(wf, 1);
    for (let i = 0; i < turns; i++) await Promise.resolve();
    await handle.signal("go", turns);
    try {
      await within(seen.promise, 500);
    } finally {
      gate.resolve();
    }
    assert.deepEqual(await handle.result(), [turns, 1]);
  }
});

Deno.test("combine joins the value before the wait with the payload, also on replay", async () => {
  const clock = new ManualClock(T0);
  let calls = 0;
  const wf = workflow<{ order: string }>("combine-replay")
    .step("load", (input) => ({ ...input, total: 5 }))
    .waitForSignal("approval", "decision", {
      timeout: "1h",
      combine: (order, decision: { approved: boolean }) => {
        calls++;
        return { ...order, ...decision };
      },
      onTimeout: (order) => ({ ...order, approved: false }),
    })
    .sleep("settle", "1m") // the run suspends, so the next activation replays the wait
    .step("act", (v) => `${v.order}:${v.total}:${v.approved}`);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, { order: "o-1" });
  await runner.signal(handle.id, "decision", { approved: true });
  await clock.advance("1m");
  assert.equal(await within(handle.result(), 5_000), "o-1:5:true");
  assert.equal(calls, 2, "computed once live and once more from the recorded payload");
  // A timeout's onTimeout gives the output itself: combine is not applied to it.
  calls = 0;
  const late = await runner.start(wf, { order: "o-2" });
  await clock.advance("1h");
  await clock.advance("1m");
  assert.equal(await within(late.result(), 5_000), "o-2:5:false");
  assert.equal(calls, 0);
});

Deno.test("a combine that throws fails the run naming the wait", async () => {
  const wf = workflow<number>("combine-throws").waitForSignal("w", "go", {
    combine: () => {
      throw new RangeError("no");
    },
  });
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await runner.signal(handle.id, "go");
  const error = await handle.result().catch((e) => e);
  assert.ok(error instanceof WorkflowFailedError);
  assert.equal((await runner.get(handle.id)).error?.step, "w");
});
