// SPEC §7: bad input gets a clear typed error and changes no stored data.
// One table of cases, run against every driver with real storage; the cases of the builder
// (including child workflows) and of limits (times, text, flow control, sizes, schedules) are in
// _fixtures/bad_input.ts.
import assert from "node:assert/strict";
import { waitForStatus } from "@sluice/sluice/testing";
import {
  CancelledError,
  type Driver,
  DuplicateRunError,
  Engine,
  flow,
  InvalidStateError,
  ManualClock,
  MemoryDriver,
  PayloadTooLargeError,
  RunNotFoundError,
  schedule,
  SerializationError,
  SluiceError,
  StorageError,
  workflow,
  WorkflowNotFoundError,
} from "@sluice/sluice";
import { PostgresDriver } from "@sluice/sluice/postgres";
import { loadWorkflow, YamlWorkflowError } from "@sluice/sluice/yaml";
import { driverFactories } from "./_fixtures/drivers.ts";
import {
  BUILDER_CASES,
  type Case,
  cycle,
  HOSTILE,
  LIMIT_CASES,
  nest,
  order,
  other,
} from "./_fixtures/bad_input.ts";

const cases: Case[] = [
  ...BUILDER_CASES,
  // engine misuse
  {
    name: "starting an unknown workflow name",
    act: (e) => e.start("no-such-workflow", {}),
    error: WorkflowNotFoundError,
    code: "WORKFLOW_NOT_FOUND",
  },
  {
    name: "starting an anonymous flow",
    act: (e) => e.start(flow<number>().step("a", (v) => v) as never, {}),
    error: TypeError,
    message: /anonymous/,
  },
  {
    name: "a run id with spaces",
    act: (e) => e.start(order, { qty: 1 }, { id: "has space" }),
    error: TypeError,
  },
  {
    name: "a run id of 256 characters",
    act: (e) => e.start(order, { qty: 1 }, { id: "r".repeat(256) }),
    error: TypeError,
  },
  {
    name: "a label that is not a string",
    act: (e) => e.start(order, { qty: 1 }, { labels: { n: 1 as never } }),
    error: TypeError,
  },
  {
    name: "a label holding a NUL character",
    act: (e) => e.start(order, { qty: 1 }, { labels: { k: "a\0b" } }),
    error: TypeError,
    message: /control characters/,
  },
  {
    name: "an invalid startAt",
    act: (e) => e.start(order, { qty: 1 }, { startAt: new Date("nope") }),
    error: TypeError,
  },
  {
    name: "an input holding a function",
    act: (e) => e.start(order, { qty: 1, f: () => 1 } as never),
    error: SerializationError,
    code: "SERIALIZATION",
    message: /function at \$\.f/,
  },
  {
    name: "an input with a cycle",
    act: (e) => e.start(order, cycle as never),
    error: SerializationError,
    code: "SERIALIZATION",
  },
  {
    name: "an input holding a BigInt",
    act: (e) => e.start(order, { qty: 1n } as never),
    error: SerializationError,
    code: "SERIALIZATION",
  },
  {
    name: "an input holding a Map",
    act: (e) => e.start(order, { qty: new Map() } as never),
    error: SerializationError,
    code: "SERIALIZATION",
    message: /Map/,
  },
  {
    name: "an input of 2 MiB",
    act: (e) => e.start(order, { qty: 1, pad: "x".repeat(2 * 1024 * 1024) } as never),
    error: PayloadTooLargeError,
    code: "PAYLOAD_TOO_LARGE",
  },
  {
    name: "an existing id for another workflow",
    act: (e) => e.start(workflow("bad-input-other").step("a", (v) => v), {}, { id: "done-run" }),
    error: DuplicateRunError,
    code: "DUPLICATE_RUN",
  },
  {
    name: "getting an unknown run",
    act: (e) => e.get("no-such-run"),
    error: RunNotFoundError,
    code: "RUN_NOT_FOUND",
  },
  {
    name: "getting a run by a hostile id",
    act: (e) => e.get(HOSTILE.replace(/[\0" \\]/g, "")),
    error: RunNotFoundError,
    code: "RUN_NOT_FOUND",
  },
  {
    name: "the history of an unknown run",
    act: (e) => e.history("no-such-run"),
    error: RunNotFoundError,
    code: "RUN_NOT_FOUND",
  },
  {
    name: "signalling an unknown run",
    act: (e) => e.signal("no-such-run", "approved", true),
    error: RunNotFoundError,
    code: "RUN_NOT_FOUND",
  },
  {
    name: "signalling a completed run",
    act: (e) => e.signal("done-run", "approved", true),
    error: InvalidStateError,
    code: "INVALID_STATE",
    message: /completed/,
  },
  {
    name: "signalling with a bad signal name",
    act: (e) => e.signal("wait-run", "bad name", true),
    error: TypeError,
  },
  {
    name: "a signal id with a space",
    act: (e) => e.signal("wait-run", "approved", true, { id: "pay 1" }),
    error: TypeError,
    message: /signal id 'pay 1'/,
  },
  {
    name: "a signal id of 256 characters",
    act: (e) => e.signal("wait-run", "approved", true, { id: "x".repeat(256) }),
    error: TypeError,
    message: /1 to 255 printable ASCII/,
  },
  {
    name: "a signal id that is not a string",
    act: (e) => e.signal("wait-run", "approved", true, { id: 7 as unknown as string }),
    error: TypeError,
    message: /signal id the number 7/,
  },
  {
    name: "signal options that are not an object",
    act: (e) => e.signal("wait-run", "approved", true, "pay-1" as never),
    error: TypeError,
    message: /pass \{ id\? \}/,
  },
  {
    name: "signal-with-start with a bad signal name",
    act: (e) => e.start(order, { qty: 1 }, { id: "sws-1", signal: { name: "bad name" } }),
    error: TypeError,
  },
  {
    name: "signal-with-start with a bad signal id",
    act: (e) =>
      e.start(order, { qty: 1 }, { id: "sws-1", signal: { name: "approved", id: "a b" } }),
    error: TypeError,
    message: /signal id 'a b'/,
  },
  {
    name: "signal-with-start with a signal that is not an object",
    act: (e) => e.start(order, { qty: 1 }, { id: "sws-1", signal: "go" as never }),
    error: TypeError,
    message: /pass \{ name, payload\?, id\? \}/,
  },
  {
    name: "signal-with-start on a completed run",
    act: (e) => e.start(order, { qty: 1 }, { id: "done-run", signal: { name: "approved" } }),
    error: InvalidStateError,
    code: "INVALID_STATE",
  },
  {
    name: "a signal payload holding a symbol",
    act: (e) => e.signal("wait-run", "approved", { s: Symbol("x") }),
    error: SerializationError,
    code: "SERIALIZATION",
  },
  {
    name: "cancelling a completed run",
    act: (e) => e.cancel("done-run"),
    error: InvalidStateError,
    code: "INVALID_STATE",
  },
  {
    name: "cancelling an unknown run",
    act: (e) => e.cancel("no-such-run"),
    error: RunNotFoundError,
    code: "RUN_NOT_FOUND",
  },
  {
    name: "a cancel reason that is not a string",
    act: (e) => e.cancel("wait-run", 42 as never),
    error: TypeError,
  },
  {
    name: "retrying a completed run",
    act: (e) => e.retry("done-run"),
    error: InvalidStateError,
    code: "INVALID_STATE",
  },
  {
    name: "retrying a waiting run",
    act: (e) => e.retry("wait-run"),
    error: InvalidStateError,
    code: "INVALID_STATE",
  },
  {
    name: "pausing a completed run",
    act: (e) => e.pause("done-run"),
    error: InvalidStateError,
    code: "INVALID_STATE",
    message: /'done-run' as it is completed: pause only unfinished runs/,
  },
  {
    name: "resuming a waiting run",
    act: (e) => e.resume("wait-run"),
    error: InvalidStateError,
    code: "INVALID_STATE",
    message: /resume only paused runs/,
  },
  {
    name: "pausing an unknown run",
    act: (e) => e.pause("nobody"),
    error: RunNotFoundError,
    code: "RUN_NOT_FOUND",
  },
  { name: "resuming a run id with a space", act: (e) => e.resume("a b"), error: TypeError },
  {
    name: "forking from a step the workflow does not have",
    act: (e) => e.fork("done-run", { from: "shipit" }),
    error: RangeError,
    message:
      /from 'shipit': use one of its workflow's top-level steps \('price', 'approval', 'done'\)/,
  },
  {
    name: "forking from a step given as a number",
    act: (e) => e.fork("done-run", { from: 1 as never }),
    error: RangeError,
  },
  {
    name: "forking with a new id holding a space",
    act: (e) => e.fork("done-run", { id: "a b" }),
    error: TypeError,
  },
  {
    name: "forking with an input that cannot be stored",
    act: (e) => e.fork("done-run", { input: nest(101) }),
    error: SerializationError,
    code: "SERIALIZATION",
  },
  {
    name: "forking an unknown run",
    act: (e) => e.fork("nobody"),
    error: RunNotFoundError,
    code: "RUN_NOT_FOUND",
  },
  {
    name: "forking with options that are not an object",
    act: (e) => e.fork("done-run", "price" as never),
    error: TypeError,
  },
  {
    name: "a retention duration that is negative",
    act: () => new Engine({ driver: new MemoryDriver(), retention: { completed: -5 } }),
    error: RangeError,
  },
  {
    name: "a retention duration that is not a duration",
    act: () => new Engine({ driver: new MemoryDriver(), retention: { failed: "soon" as never } }),
    error: RangeError,
    message: /'retention.failed' 'soon'/,
  },
  {
    name: "a retention key that is not a final status",
    act: () => new Engine({ driver: new MemoryDriver(), retention: { running: "1d" } as never }),
    error: TypeError,
    message: /'retention' key 'running'/,
  },
  {
    name: "a retention of half a second",
    act: () => new Engine({ driver: new MemoryDriver(), retention: { cancelled: "500ms" } }),
    error: RangeError,
  },
  {
    name: "a worker heartbeat interval of 1ms",
    act: (e) => e.worker({ heartbeatInterval: 1 }),
    error: RangeError,
  },
  { name: "listing 0 runs a page", act: (e) => e.list({ limit: 0 }), error: RangeError },
  {
    name: "listing an unknown status",
    act: (e) => e.list({ status: "lost" as never }),
    error: TypeError,
  },
  {
    name: "listing runs created after a string",
    act: (e) => e.list({ createdAfter: "yesterday" as never }),
    error: TypeError,
    message: /'createdAfter'/,
  },
  {
    name: "listing runs created before a time out of range",
    act: (e) => e.list({ createdBefore: 1e20 }),
    error: RangeError,
    message: /'createdBefore'/,
  },
  {
    name: "listing a workflow name holding a NUL",
    act: (e) => e.list({ workflow: "a\0b" }),
    error: TypeError,
  },
  {
    name: "a workflow version holding a newline",
    act: () => workflow("w", { version: "1\n2" }),
    error: TypeError,
  },
  {
    name: "YAML that does not parse",
    act: () => loadWorkflow("name: w\nsteps:\n  - step: [unclosed", { actions: {} }),
    error: YamlWorkflowError,
    code: "YAML_INVALID",
    message: /line 3/,
  },
  {
    name: "YAML naming an unknown action",
    act: () => loadWorkflow("name: w\nsteps:\n  - step: a\n    action: nope\n", { actions: {} }),
    error: YamlWorkflowError,
    code: "YAML_INVALID",
    message: /'nope'/,
  },
  {
    name: "a YAML alias bomb",
    act: () =>
      loadWorkflow(
        [
          "a: &a [x, x, x, x, x, x, x, x, x, x]",
          ...Array.from({ length: 9 }, (_, i) =>
            `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${
              Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")
            }]`),
          "name: w",
          "steps: []",
        ].join("\n"),
        { actions: {} },
      ),
    error: YamlWorkflowError,
    code: "YAML_INVALID",
  },
  {
    name: "a YAML combine that is not a CEL expression",
    act: () =>
      loadWorkflow("name: w\nsteps:\n  - waitForSignal: w\n    signal: go\n    combine: [1]\n", {
        actions: {},
      }),
    error: YamlWorkflowError,
    code: "YAML_INVALID",
    message: /'combine'.*CEL/,
  },
  {
    name: "a YAML combine reading an unknown variable",
    act: () =>
      loadWorkflow(
        "name: w\nsteps:\n  - waitForSignal: w\n    signal: go\n    combine: signal.x\n",
        { actions: {} },
      ),
    error: YamlWorkflowError,
    code: "YAML_INVALID",
    message: /line 5/,
  },
  {
    name: "YAML with a prototype-polluting key",
    act: () => loadWorkflow("name: w\n__proto__: {}\nsteps: []\n", { actions: {} }),
    error: YamlWorkflowError,
    code: "YAML_INVALID",
  },
  {
    name: "an unreachable database",
    act: async () => {
      const engine = new Engine({
        driver: new PostgresDriver({ url: "postgres://u:pw@127.0.0.1:1/test" }),
        workflows: [order],
      });
      try {
        await engine.start(order, { qty: 1 });
      } finally {
        await engine.close().catch(() => {});
      }
    },
    error: StorageError,
    code: "STORAGE",
  },
  {
    name: "listing with a forged cursor",
    act: (e) => e.list({ cursor: HOSTILE }),
    error: TypeError,
  },
  { name: "purging without a cut-off", act: (e) => e.purge({} as never), error: TypeError },
  {
    name: "a worker with concurrency 0",
    act: (e) => e.worker({ concurrency: 0 }),
    error: RangeError,
  },
  { name: "a worker lease of 10ms", act: (e) => e.worker({ leaseMs: 10 }), error: RangeError },
  {
    name: "registering a changed plan under the same version",
    act: (e) => e.register(workflow("bad-input-order").step("other", (v) => v)),
    error: TypeError,
    message: /new version/,
  },
  { name: "an Engine without a driver", act: () => new Engine({} as never), error: TypeError },
  ...LIMIT_CASES,
];

async function snapshot(engine: Engine): Promise<string> {
  const { runs } = await engine.list({ limit: 1000 });
  const histories = await Promise.all(runs.map((r) => engine.history(r.id)));
  const schedules = await engine.schedules.list();
  return JSON.stringify({ runs, histories, schedules });
}

for (const { name: driverName, create } of driverFactories()) {
  Deno.test(`${driverName}: ${cases.length} bad inputs each get a typed error and change nothing`, async (t) => {
    assert.ok(cases.length >= 30);
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    await using engine = new Engine({
      driver: await create(),
      workflows: [order, other],
      clock,
    });
    await engine.schedules.upsert(schedule("taken", order, { every: "1h" }));
    await using worker = engine.worker({ pollInterval: 50 });
    await worker.start();
    const done = await engine.start(order, { qty: 2 }, {
      id: "done-run",
      labels: { kind: HOSTILE },
    });
    await engine.signal(done.id, "approved", true);
    assert.equal(await done.result(), "shipped");
    const waiting = await engine.start(order, { qty: 3 }, { id: "wait-run" });
    await waitForStatus(engine, waiting.id, "waiting");
    const before = await snapshot(engine);
    for (const c of cases) {
      await t.step(c.name, async () => {
        let thrown: unknown;
        try {
          await c.act(engine);
        } catch (error) {
          thrown = error;
        }
        assert.ok(thrown instanceof c.error, `expected ${c.error.name}, got ${String(thrown)}`);
        if (thrown instanceof SluiceError) {
          assert.equal(thrown.code, c.code, "every Sluice error case names its code");
        } else {
          assert.equal(c.code, undefined);
          assert.equal((thrown as Error).name, c.error.name);
        }
        if (c.message) assert.match((thrown as Error).message, c.message);
        assert.ok((thrown as Error).message.length > 10, "the message explains the problem");
        assert.equal(await snapshot(engine), before, "stored data is unchanged");
      });
    }
    await engine.cancel(waiting.id, "end of test");
    await assert.rejects(waiting.result(), CancelledError);
  });

  Deno.test(`${driverName}: every call on a closed engine throws InvalidStateError`, async () => {
    const engine = new Engine({ driver: await create(), workflows: [order] });
    await engine.close();
    for (
      const act of [
        () => engine.start(order, { qty: 1 }),
        () => engine.get("r"),
        () => engine.list(),
        () => engine.signal("r", "approved", true),
        () => engine.cancel("r"),
        () => engine.history("r"),
        () => engine.result("r"),
        () => engine.retry("r"),
        () => engine.purge({ finishedBefore: 0 }),
        () => engine.worker(),
        () => engine.schedules.list(),
        () => engine.schedules.upsert(schedule("s", order, { every: "1h" })),
      ]
    ) {
      await assert.rejects(async () => await act(), InvalidStateError);
    }
  });
}

Deno.test("MemoryDriver is one of the drivers under test", () => {
  assert.ok(driverFactories().some((f) => f.name === "memory"));
  assert.ok(new MemoryDriver() instanceof MemoryDriver);
});

export type { Driver };
