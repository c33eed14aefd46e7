// watch() and handle.watch(): history events as they are committed, in commit
// order, resumable from a cursor, ending cleanly on abort; across processes on
// SQLite and PostgreSQL (a worker process runs the runs, this process watches).
import assert from "node:assert/strict";
import { type Driver, Engine, LocalRunner, type WatchEvent, workflow } from "../mod.ts";
import { chaos, relay } from "./_fixtures/chaos_workflows.ts";
import { spawnWorker } from "./_fixtures/processes.ts";
import { makeTarget, targetKinds } from "./_fixtures/targets.ts";
import { driverFactories } from "./_fixtures/drivers.ts";

const double = workflow<number>("double")
  .step("double", (n) => n * 2)
  .waitForSignal<number>("more", "more")
  .step("add", (n) => n + 1);

Deno.test("watch() yields each event as it is committed and ends cleanly on abort", async () => {
  await using runner = new LocalRunner({ workflows: [double] });
  const controller = new AbortController();
  const seen: WatchEvent[] = [];
  const watching = (async () => {
    for await (const event of runner.watch({}, { signal: controller.signal })) {
      seen.push(event);
      if (event.type === "run.waiting") await runner.signal(event.runId, "more", 1);
      if (event.type === "run.completed") controller.abort();
    }
  })();
  await runner.start(double, 20, { id: "d-1" });
  await watching; // the loop ends by itself once aborted
  assert.deepEqual(seen.map((e) => e.step ? `${e.type} ${e.step}` : e.type), [
    "run.created",
    "run.started",
    "step.started double",
    "step.completed double",
    "run.waiting",
    "signal.received",
    "step.started more",
    "step.completed more",
    "step.started add",
    "step.completed add",
    "run.completed",
  ]);
  assert.ok(seen.every((e) => e.runId === "d-1" && e.workflow === "double"));
  assert.equal(seen[3]!.detail.output, 40);
  assert.deepEqual(seen[4]!.detail.signals, ["more"]);
  // Resuming after any event gives exactly the events after it.
  for (let i = 0; i < seen.length - 1; i++) {
    const expected = seen.slice(i + 1).map((e) => e.cursor);
    const rest: string[] = [];
    const stop = new AbortController();
    const options = { after: seen[i]!.cursor, signal: stop.signal };
    for await (const e of runner.watch({ runId: "d-1" }, options)) {
      rest.push(e.cursor);
      if (rest.length === expected.length) stop.abort();
    }
    assert.deepEqual(rest, expected);
  }
});

Deno.test("handle.watch() and filters select one run's events and event types", async () => {
  await using runner = new LocalRunner({ workflows: [double] });
  await runner.start(double, 1, { id: "other" });
  const run = await runner.start(double, 2, { id: "mine" });
  const types: string[] = [];
  for await (const e of run.watch()) {
    assert.equal(e.runId, "mine");
    types.push(e.type);
    if (e.type === "run.waiting") break; // leaving the loop ends the watch
  }
  assert.deepEqual(types.slice(0, 2), ["run.created", "run.started"]);
  const failures = runner.watch({ types: ["run.waiting"], workflow: "double" }, {
    after: "start",
  });
  const waits: string[] = [];
  for await (const e of failures) {
    waits.push(e.runId);
    if (waits.length === 2) break;
  }
  assert.deepEqual(waits.sort(), ["mine", "other"]);
  assert.throws(() => runner.watch({}, { after: "bogus" }), TypeError);
  assert.throws(() => runner.watch({ runId: "has space" }), TypeError);
  assert.throws(() => runner.watch({ types: "run.created" as never }), TypeError);
});

Deno.test("watch() after 'now' yields only what is committed from then on", async () => {
  await using runner = new LocalRunner({ workflows: [double] });
  await runner.start(double, 1, { id: "before" });
  const events = runner.watch({ types: ["run.created"] }, { after: "now" })[Symbol.asyncIterator]();
  const first = events.next();
  await runner.start(double, 2, { id: "after" });
  const event = (await first).value as WatchEvent;
  assert.deepEqual([event.runId, event.type], ["after", "run.created"]);
  await events.return?.();
});

for (const factory of driverFactories()) {
  Deno.test(`watch() on ${factory.name} without 'after' begins at the feed's end; one run's from its start`, async () => {
    await using engine = new Engine({ driver: await factory.create(), workflows: [double] });
    const old = await engine.start(double, 1, { id: "old" });
    const controller = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const e of engine.watch({}, { signal: controller.signal })) {
        seen.push(`${e.runId} ${e.type}`);
        controller.abort();
      }
    })();
    // The watch reads the feed's end when its iteration begins: start runs
    // until it sees one (no worker runs them, so each has one event).
    for (let i = 0; seen.length === 0; i++) {
      await engine.start(double, 2, { id: `new-${i}` });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([watching, new Promise((resolve) => timer = setTimeout(resolve, 50))]);
      clearTimeout(timer);
    }
    await watching;
    assert.match(seen[0]!, /^new-\d+ run\.created$/, "nothing stored before it began");
    for await (const e of old.watch()) {
      assert.deepEqual([e.runId, e.type], ["old", "run.created"], "handle.watch(): from the start");
      break;
    }
    const all: string[] = [];
    for await (const e of engine.watch({}, { after: "start" })) {
      all.push(e.runId);
      if (all.length === 2) break;
    }
    assert.deepEqual(all, ["old", "new-0"], "after 'start': every stored event");
  });
}

Deno.test("watch() ends when the runner closes", async () => {
  const runner = new LocalRunner();
  const ended = (async () => {
    let n = 0;
    for await (const _ of runner.watch()) n++;
    return n;
  })();
  await runner.close();
  assert.equal(await ended, 0);
});

Deno.test("a slow watcher loses nothing while many runs complete", async () => {
  await using runner = new LocalRunner({ workflows: [double] });
  const total = 60;
  for (let i = 0; i < total; i++) {
    const handle = await runner.start(double, i, { id: `r-${i}` });
    await runner.signal(handle.id, "more", i);
  }
  const controller = new AbortController();
  const completed = new Set<string>();
  let events = 0;
  for await (const e of runner.watch({}, { signal: controller.signal, after: "start" })) {
    events++;
    await new Promise((resolve) => setTimeout(resolve, 1)); // slower than the runs
    if (e.type === "run.completed") completed.add(e.runId);
    if (completed.size === total) controller.abort();
  }
  let stored = 0;
  for (let i = 0; i < total; i++) stored += (await runner.history(`r-${i}`)).length;
  assert.equal(events, stored, "every stored event was seen once");
});

for (const kind of targetKinds()) {
  Deno.test({
    name: `watch() on ${kind} sees another process's runs in commit order and resumes`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const target = await makeTarget(kind);
      const worker = spawnWorker({
        db: target.db,
        log: `${target.dir}/executions.log`,
        ...(target.schema ? { schema: target.schema } : {}),
        pollMs: 50,
        delayMs: 5,
      });
      const engine = new Engine({ driver: target.open(), workflows: [chaos] });
      try {
        await worker.ready;
        const controller = new AbortController();
        const seen: WatchEvent[] = [];
        const count = 5;
        const done = new Set<string>();
        const watching = (async () => {
          for await (
            const e of engine.watch({ workflow: "chaos" }, {
              signal: controller.signal,
              after: "start",
            })
          ) {
            seen.push(e);
            if (e.type === "run.waiting") await engine.signal(e.runId, "go", 1);
            if (e.type === "run.completed") done.add(e.runId);
            if (done.size === count) controller.abort();
          }
        })();
        for (let i = 0; i < count; i++) {
          await engine.start(chaos, { n: i }, { id: `c-${i}` });
        }
        await watching;
        for (let i = 0; i < count; i++) {
          const mine = seen.filter((e) => e.runId === `c-${i}`);
          const history = await engine.history(`c-${i}`, { limit: 1000 });
          assert.deepEqual(
            mine.map((e) => `${e.type} ${e.step ?? ""}`),
            history.map((e) => `${e.type} ${e.step ?? ""}`),
            `c-${i}: every event, in write order`,
          );
        }
        // Resume from the middle: exactly what follows. (A cursor names a place in
        // the feed; a progress row read live may have moved on since, so two
        // cursors can differ and still name the same place.)
        const middle = Math.floor(seen.length / 2);
        const expected = seen.slice(middle + 1).map((e) => `${e.runId} ${e.type} ${e.step ?? ""}`);
        const rest: string[] = [];
        const stop = new AbortController();
        const options = { after: seen[middle]!.cursor, signal: stop.signal };
        for await (const e of engine.watch({ workflow: "chaos" }, options)) {
          rest.push(`${e.runId} ${e.type} ${e.step ?? ""}`);
          if (rest.length === expected.length) stop.abort();
        }
        // Every event once; each run's events in their order. (On PostgreSQL two
        // readers may order transactions that became visible together differently.)
        assert.deepEqual([...rest].sort(), [...expected].sort());
        for (let i = 0; i < count; i++) {
          const of = (list: string[]) => list.filter((e) => e.startsWith(`c-${i} `));
          assert.deepEqual(of(rest), of(expected));
        }
      } finally {
        worker.child.kill("SIGTERM");
        await worker.exited;
        await engine.close();
        await target.cleanup();
      }
    },
  });
}

/**
 * The driver with its re-read turned off: a watcher over it (`shared: false`)
 * learns of other processes' commits from driver notices alone.
 */
function withoutReread(driver: Driver): Driver {
  return new Proxy(driver, {
    get(target, property) {
      if (property === "shared") return false;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

for (const kind of targetKinds()) {
  Deno.test({
    name:
      `watch() on ${kind} is pushed each plain checkpoint another process commits, without re-reading`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const target = await makeTarget(kind);
      const worker = spawnWorker({
        db: target.db,
        log: `${target.dir}/executions.log`,
        ...(target.schema ? { schema: target.schema } : {}),
        pollMs: 50,
      });
      const engine = new Engine({ driver: withoutReread(target.open()), workflows: [relay] });
      try {
        await worker.ready;
        const controller = new AbortController();
        const seen: WatchEvent[] = [];
        // Each step of `relay` waits for the ack of the one before: the run
        // only completes if every plain checkpoint reaches this watcher.
        const watching = (async () => {
          for await (
            const e of engine.watch({ workflow: "relay" }, {
              signal: controller.signal,
              after: "start",
            })
          ) {
            seen.push(e);
            if (e.type === "step.completed") {
              await Deno.writeTextFile(`${target.dir}/ack-${e.step}`, "");
            }
            if (e.type === "run.completed") {
              controller.abort();
            }
          }
        })();
        // Without the push the run stalls: give up (and fail below) after 30 s.
        const guard = setTimeout(() => controller.abort(), 30_000);
        await engine.start(relay, { dir: target.dir }, { id: "relay-1" });
        await Promise.race([
          watching,
          worker.exited.then(() => {
            throw new Error(`The worker exited: ${worker.stderr()}`);
          }),
        ]).finally(() => clearTimeout(guard));
        const history = await engine.history("relay-1");
        assert.deepEqual(
          seen.map((e) => `${e.type} ${e.step ?? ""}`),
          history.map((e) => `${e.type} ${e.step ?? ""}`),
          "every event, in write order",
        );
        assert.deepEqual(
          seen.filter((e) => e.type === "step.completed").map((e) => e.step),
          ["s1", "s2", "s3", "s4"],
        );
      } finally {
        worker.child.kill("SIGTERM");
        await worker.exited;
        await engine.close();
        await target.cleanup();
      }
    },
  });
}
