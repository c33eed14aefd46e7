// The one front door: every operation exists on Engine and LocalRunner from one implementation
// (RunClient) and behaves the same on both. One table of cases, run over both doors.
import {
  CancelledError,
  Engine,
  InvalidStateError,
  LocalRunner,
  MemoryDriver,
  RunClient,
  RunNotFoundError,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import { waitForStatus } from "@sluice/sluice/testing";
import assert from "node:assert/strict";

/** Every operation of SPEC §1.3 that both front doors offer. */
const OPERATIONS = [
  "start",
  "signal",
  "cancel",
  "get",
  "list",
  "history",
  "result",
  "retry",
  "pause",
  "resume",
  "fork",
  "workers",
  "purge",
  "register",
  "override",
  "handle",
  "close",
] as const;

interface Door {
  name: string;
  open(): Promise<RunClient>;
}

const DOORS: Door[] = [
  { name: "LocalRunner", open: () => Promise.resolve(new LocalRunner()) },
  {
    name: "Engine",
    async open() {
      const engine = new Engine({ driver: new MemoryDriver() });
      await engine.worker().start();
      return engine;
    },
  },
];

/** A case gets a fresh door; the workflow names are unique per case. */
const CASES: Record<string, (door: RunClient) => Promise<void>> = {
  async "register, then start by name"(door) {
    door.register(workflow<number>("reg").step("inc", (n) => n + 1));
    const run = await door.start<number, number>("reg", 1);
    assert.equal(await run.result(), 2);
  },

  async "start with an id twice returns the same run; handle reads it"(door) {
    const wf = workflow<number>("idem").step("double", (n) => n * 2);
    const first = await door.start(wf, 2, { id: "idem-1", labels: { team: "a" } });
    const again = await door.start(wf, 99, { id: "idem-1" });
    assert.equal(again.id, "idem-1");
    assert.equal(await first.result(), 4);
    const handle = door.handle<number>("idem-1");
    assert.equal(await handle.status(), "completed");
    assert.equal(await handle.result(), 4);
  },

  async "signal wakes a waiting run; get shows the record"(door) {
    const wf = workflow<string>("gate").waitForSignal<string>("open", "open");
    const run = await door.start(wf, "x", { id: "gate-1" });
    await waitForStatus(door, "gate-1", "waiting");
    const waiting = await door.get("gate-1");
    assert.deepEqual(waiting.waitingFor, ["open"]);
    await door.signal("gate-1", "open", "by ada");
    assert.equal(await run.result(), "by ada");
    const record = await door.get("gate-1");
    assert.equal(record.status, "completed");
    assert.equal(record.workflow, "gate");
    assert.equal(record.output, "by ada");
  },

  async "cancel ends a waiting run with CancelledError"(door) {
    const wf = workflow<string>("cancel").waitForSignal("go", "go");
    const run = await door.start(wf, "x");
    await waitForStatus(door, run.id, "waiting");
    await door.cancel(run.id, "no longer needed");
    await assert.rejects(door.result(run.id), CancelledError);
    assert.equal((await door.get(run.id)).status, "cancelled");
  },

  async "list filters by status and labels"(door) {
    const wf = workflow<number>("listed").step("n", (n) => n);
    for (const [n, team] of [[1, "a"], [2, "b"], [3, "a"]] as const) {
      await door.start(wf, n, { labels: { team } }).then((r) => r.result());
    }
    const page = await door.list({ status: "completed", labels: { team: "a" } });
    assert.deepEqual(page.runs.map((r) => r.output).sort(), [1, 3]);
    assert.equal(page.nextCursor, undefined);
  },

  async "history lists the events of a run"(door) {
    const run = await door.start(workflow<number>("hist").step("inc", (n) => n + 1), 1);
    await run.result();
    const events = await door.history(run.id);
    assert.deepEqual(events.map((e) => e.step ? `${e.type} ${e.step}` : e.type), [
      "run.created",
      "run.started",
      "step.started inc",
      "step.completed inc",
      "run.completed",
    ]);
    assert.equal((await door.history(run.id, { limit: 2 })).length, 2);
  },

  async "result waits for the output of a run by id"(door) {
    const run = await door.start(workflow<number>("res").sleep("nap", 1).step("n", (n) => n), 7);
    assert.equal(await door.result<number>(run.id), 7);
  },

  async "retry resumes a failed run from the failed step"(door) {
    let down = true;
    let firstRuns = 0;
    const wf = workflow<number>("flaky")
      .step("first", (n) => {
        firstRuns++;
        return n + 1;
      })
      .step("call", (n) => {
        if (down) throw new Error("service down");
        return n * 10;
      });
    const run = await door.start(wf, 1);
    await assert.rejects(run.result(), WorkflowFailedError);
    down = false;
    await door.retry(run.id);
    assert.equal(await run.result(), 20);
    assert.equal(firstRuns, 1);
  },

  async "retry resumes a cancelled run from where it was"(door) {
    let firstRuns = 0;
    const wf = workflow<number>("stopped")
      .step("first", (n) => {
        firstRuns++;
        return n + 1;
      })
      .waitForSignal<number>("go", "go")
      .step("sum", (extra) => extra + 2);
    const run = await door.start(wf, 1);
    await waitForStatus(door, run.id, "waiting");
    await door.cancel(run.id, "by mistake");
    await assert.rejects(run.result(), CancelledError);
    await door.retry(run.id);
    await waitForStatus(door, run.id, "waiting");
    await door.signal(run.id, "go", 10);
    assert.equal(await run.result(), 12);
    assert.equal(firstRuns, 1);
  },

  async "list filters by creation time, inclusive, with a Date or epoch ms"(door) {
    const wf = workflow<number>("dated").step("n", (n) => n);
    const runs = [];
    for (let n = 0; n < 3; n++) {
      runs.push(await door.get((await door.start(wf, n)).id));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const [a, b, c] = runs.map((r) => r.createdAt.getTime()) as [number, number, number];
    const ids = async (options: Parameters<RunClient["list"]>[0]) =>
      (await door.list(options)).runs.map((r) => r.id);
    assert.deepEqual(await ids({ createdAfter: b }), [runs[2]!.id, runs[1]!.id]);
    assert.deepEqual(await ids({ createdBefore: new Date(b) }), [runs[1]!.id, runs[0]!.id]);
    assert.deepEqual(await ids({ createdAfter: new Date(b), createdBefore: b }), [runs[1]!.id]);
    assert.deepEqual(await ids({ createdAfter: c + 1 }), []);
    assert.deepEqual(await ids({ createdBefore: a - 1 }), []);
  },

  async "pause lets the step in flight finish and be checkpointed; no new step begins until resume"(
    door,
  ) {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    let started!: () => void;
    const inFlight = new Promise<void>((resolve) => started = resolve);
    const bodies = { slow: 0, next: 0 };
    const wf = workflow<number>("pausable")
      .step("slow", async (n) => {
        bodies.slow++;
        started();
        await gate;
        return n + 1;
      })
      .step("next", (n) => {
        bodies.next++;
        return n * 10;
      });
    const run = await door.start(wf, 1);
    await inFlight;
    await door.pause(run.id);
    assert.equal((await door.get(run.id)).status, "paused", "paused at once");
    release();
    for (let i = 0;; i++) {
      const events = await door.history(run.id);
      if (events.some((e) => e.type === "step.completed" && e.step === "slow")) break;
      assert.ok(i < 500, "the step in flight should be checkpointed");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await door.get(run.id)).status, "paused");
    assert.deepEqual(bodies, { slow: 1, next: 0 });
    await door.resume(run.id);
    assert.equal(await run.result(), 20);
    assert.deepEqual(bodies, { slow: 1, next: 1 });
    const types = (await door.history(run.id)).map((e) => e.type);
    assert.ok(types.indexOf("run.paused") < types.indexOf("run.resumed"));
  },

  async "a timer falling due while paused fires after resume; signals wait in the inbox"(door) {
    const wf = workflow<number>("napper")
      .sleep("nap", 20)
      .waitForSignal<number>("more", "more")
      .step("sum", (more) => more + 1);
    const run = await door.start(wf, 1);
    await waitForStatus(door, run.id, "sleeping");
    await door.pause(run.id);
    await door.signal(run.id, "more", 41);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await door.get(run.id)).status, "paused");
    await door.pause(run.id); // pausing again changes nothing
    await door.resume(run.id);
    assert.equal(await run.result(), 42);
  },

  async "cancel works on a paused run; pause and resume refuse what they cannot do"(door) {
    const wf = workflow<string>("parked").waitForSignal("go", "go");
    const run = await door.start(wf, "x");
    await waitForStatus(door, run.id, "waiting");
    await assert.rejects(door.resume(run.id), InvalidStateError);
    await door.pause(run.id);
    await door.cancel(run.id, "not needed");
    await assert.rejects(run.result(), CancelledError);
    await assert.rejects(door.pause(run.id), InvalidStateError);
    await assert.rejects(door.resume(run.id), InvalidStateError);
    await assert.rejects(door.pause("nobody"), RunNotFoundError);
    await assert.rejects(door.pause("has space"), TypeError);
  },

  async "fork reuses the results before 'from' (their bodies do not run again), with a new input"(
    door,
  ) {
    const bodies = { price: 0, tax: 0, total: 0 };
    const wf = workflow<number>("forked")
      .step("price", (n) => {
        bodies.price++;
        return n * 10;
      })
      .step("tax", (price) => {
        bodies.tax++;
        return price + 1;
      })
      .step("total", (taxed, ctx) => {
        bodies.total++;
        return taxed + ctx.input;
      });
    const run = await door.start(wf, 1, { labels: { team: "a" } });
    assert.equal(await run.result(), 12);
    const fromTax = await door.fork<number>(run.id, { from: "tax", input: 100, id: "fork-tax" });
    assert.equal(fromTax.id, "fork-tax");
    assert.equal(await fromTax.result(), 111);
    assert.deepEqual(bodies, { price: 1, tax: 2, total: 2 });
    const fromTotal = await door.fork<number>(run.id, { from: "total" });
    assert.equal(await fromTotal.result(), 12, "the original input");
    assert.deepEqual(bodies, { price: 1, tax: 2, total: 3 });
    const over = await door.fork<number>(run.id, { input: 2 });
    assert.equal(await over.result(), 23);
    assert.deepEqual(bodies, { price: 2, tax: 3, total: 4 });
    const record = await door.get("fork-tax");
    assert.equal(record.version, (await door.get(run.id)).version);
    assert.deepEqual(record.labels, { team: "a" });
    const again = await door.fork(run.id, { from: "tax", id: "fork-tax" });
    assert.equal(again.id, "fork-tax");
    assert.deepEqual(bodies, { price: 2, tax: 3, total: 4 }, "an existing id is that run");
  },

  async "purge deletes finished runs before a time"(door) {
    const wf = workflow<number>("old").step("n", (n) => n);
    const run = await door.start(wf, 1);
    await run.result();
    assert.equal(await door.purge({ finishedBefore: Date.now() + 60_000 }), 1);
    await assert.rejects(door.get(run.id), RunNotFoundError);
  },

  async "override swaps a step's implementation"(door) {
    const wf = workflow<number>("pay").step("charge", () => {
      throw new Error("no network in tests");
    });
    door.override("charge", (n: number) => n * 100);
    assert.equal(await (await door.start(wf, 2)).result(), 200);
  },

  async "bad input gets the same typed error on both"(door) {
    const wf = workflow<number>("bad").step("n", (n) => n);
    const done = await door.start(wf, 1, { id: "bad-done" });
    await done.result();
    const calls: [string, () => unknown, new (...args: never[]) => Error][] = [
      ["start with a bad id", () => door.start(wf, 1, { id: "has space" }), TypeError],
      ["signal with a bad name", () => door.signal("bad-done", "1x"), TypeError],
      ["signal an unknown run", () => door.signal("nobody", "go"), RunNotFoundError],
      ["cancel a finished run", () => door.cancel("bad-done"), InvalidStateError],
      ["get an unknown run", () => door.get("nobody"), RunNotFoundError],
      ["list 0 a page", () => door.list({ limit: 0 }), RangeError],
      ["list after a string", () => door.list({ createdAfter: "today" as never }), TypeError],
      ["list before NaN", () => door.list({ createdBefore: NaN }), TypeError],
      ["history of an unknown run", () => door.history("nobody"), RunNotFoundError],
      ["result of an unknown run", () => door.result("nobody"), RunNotFoundError],
      ["retry a completed run", () => door.retry("bad-done"), InvalidStateError],
      ["fork from an unknown step", () => door.fork("bad-done", { from: "nope" }), RangeError],
      ["fork an unknown run", () => door.fork("nobody"), RunNotFoundError],
      ["pause a finished run", () => door.pause("bad-done"), InvalidStateError],
      ["purge without a cut-off", () => door.purge({} as never), TypeError],
      ["register a non-workflow", () => door.register({} as never), TypeError],
      ["override with a non-function", () => door.override("n", 1 as never), TypeError],
    ];
    for (const [name, call, type] of calls) {
      await assert.rejects(async () => await call(), type, name);
    }
    assert.equal((await door.get("bad-done")).status, "completed");
    assert.equal((await door.list()).runs.length, 1);
  },

  async "every operation throws InvalidStateError once closed"(door) {
    await door.close();
    const wf = workflow<number>("closed").step("n", (n) => n);
    const calls: Record<string, () => unknown> = {
      start: () => door.start(wf, 1),
      signal: () => door.signal("r", "s"),
      cancel: () => door.cancel("r"),
      get: () => door.get("r"),
      list: () => door.list(),
      history: () => door.history("r"),
      result: () => door.result("r"),
      retry: () => door.retry("r"),
      pause: () => door.pause("r"),
      fork: () => door.fork("r"),
      workers: () => door.workers(),
      resume: () => door.resume("r"),
      purge: () => door.purge({ finishedBefore: 0 }),
      register: () => door.register(wf),
      override: () => door.override("n", (n: number) => n),
    };
    for (const [name, call] of Object.entries(calls)) {
      await assert.rejects(async () => await call(), InvalidStateError, name);
    }
  },
};

for (const door of DOORS) {
  Deno.test(`${door.name}: every shared operation`, async (t) => {
    for (const [name, body] of Object.entries(CASES)) {
      await t.step(name, async () => {
        await using client = await door.open();
        await body(client);
      });
    }
  });
}

Deno.test("Engine and LocalRunner share one implementation of every operation", async () => {
  for (const op of OPERATIONS) {
    const engineOp = (Engine.prototype as unknown as Record<string, unknown>)[op];
    const runnerOp = (LocalRunner.prototype as unknown as Record<string, unknown>)[op];
    assert.equal(typeof engineOp, "function", `Engine.${op}`);
    assert.equal(typeof runnerOp, "function", `LocalRunner.${op}`);
    if (op !== "close") assert.equal(engineOp, runnerOp, `${op} is written once`);
  }
  await using runner = new LocalRunner();
  assert.ok(runner instanceof RunClient);
  assert.equal("worker" in LocalRunner.prototype, false, "LocalRunner has no worker()");
  assert.equal(typeof Engine.prototype.worker, "function");
});
