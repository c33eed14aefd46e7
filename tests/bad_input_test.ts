// SPEC §7: bad input gets a clear typed error and changes no stored data.
// One table of cases, run against every driver with real storage.
import assert from "node:assert/strict";
import { waitForStatus } from "@sluice/sluice/testing";
import {
  CancelledError,
  defineStep,
  type Driver,
  DuplicateRunError,
  DuplicateScheduleError,
  Engine,
  flow,
  InvalidStateError,
  ManualClock,
  MemoryDriver,
  PayloadTooLargeError,
  RunNotFoundError,
  schedule,
  ScheduleNotFoundError,
  SerializationError,
  SluiceError,
  StorageError,
  workflow,
  WorkflowNotFoundError,
} from "@sluice/sluice";
import { PostgresDriver } from "@sluice/sluice/postgres";
import { loadWorkflow, YamlWorkflowError } from "@sluice/sluice/yaml";
import { driverFactories } from "./_fixtures/drivers.ts";

const HOSTILE = "x'; DROP TABLE runs; --\"\\%_*?[]{}$1:name";

const order = workflow<{ qty: number }>("bad-input-order")
  .step("price", (o) => o.qty * 3)
  .waitForSignal<boolean>("approval", "approved")
  .step("done", (ok) => (ok ? "shipped" : "dropped"));
const other = workflow("bad-input-second").step("o", () => 1);
const unregistered = workflow("bad-input-unregistered").step("u", () => 1);

const keyThrows = workflow<{ qty: number }>("bad-input-key", {
  concurrency: {
    limit: 1,
    key: () => {
      throw new Error("no key");
    },
  },
}).step("s", (o) => o.qty);

const keyNumber = workflow<{ qty: number }>("bad-input-key-number", {
  rateLimit: { limit: 1, period: "1s", key: () => 1 as never },
}).step("s", (o) => o.qty);

interface Case {
  name: string;
  act: (engine: Engine) => unknown;
  error: new (...args: never[]) => Error;
  code?: string;
  message?: RegExp;
}

const LONE = "😀".slice(0, 1);

function nest(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

const cycle: Record<string, unknown> = {};
cycle.self = cycle;

const cases: Case[] = [
  // child workflows (.call / .spawn)
  {
    name: "a .call of something that is not a workflow",
    act: () => order.call("pay", ((n: number) => n) as never),
    error: TypeError,
    message:
      /Cannot use of type function as the child of call 'pay' in workflow 'bad-input-order': pass a workflow built with workflow\(\)/,
  },
  {
    name: "a .spawn of an anonymous flow()",
    act: () => order.spawn("audit", flow<string>() as never),
    error: TypeError,
    message: /pass a workflow built with workflow\(\)/,
  },
  {
    name: "a .call id that is a number",
    act: () => order.call("pay", other as never, { id: 5 as never }),
    error: TypeError,
    message: /Cannot use the number 5 as 'id' of call 'pay'/,
  },
  {
    name: "a .call id that is not a valid run id",
    act: () => order.call("pay", other as never, { id: "has space" }),
    error: TypeError,
    message: /run id 'has space'/,
  },
  {
    name: "a .call input that is not a function",
    act: () => order.call("pay", other as never, { input: 3 as never }),
    error: TypeError,
    message: /'input' of call 'pay'/,
  },
  {
    name: "a .spawn with retry",
    act: () => order.spawn("audit", other as never, { retry: { maxAttempts: 2 } } as never),
    error: TypeError,
    message: /Cannot use option 'retry' on spawn 'audit'.*use 'input', 'id'/,
  },
  {
    name: "a .call of a workflow whose name and version are registered with another plan",
    act: (engine) =>
      engine.start(
        workflow("bad-input-caller").call("pay", workflow("bad-input-second").step("x", () => 2)),
        undefined,
      ),
    error: TypeError,
    message: /Cannot register workflow 'bad-input-second' version '1' twice with different plans/,
  },
  {
    name: "list with a parentId that is not a run id",
    act: (engine) => engine.list({ parentId: 7 as never }),
    error: TypeError,
    message: /run id/,
  },
  // builder misuse
  {
    name: "a workflow name with a space",
    act: () => workflow("bad name"),
    error: TypeError,
    message: /'bad name'/,
  },
  { name: "an empty workflow name", act: () => workflow(""), error: TypeError },
  {
    name: "a step name starting with a digit",
    act: () => workflow("w").step("1st", (v) => v),
    error: TypeError,
    message: /'1st'.*workflow 'w'/,
  },
  {
    name: "a name of 129 characters",
    act: () => workflow("w").step("a".repeat(129), (v) => v),
    error: TypeError,
  },
  {
    name: "duplicate sibling names",
    act: () => workflow("w").step("a", (v) => v).sleep("a", 1),
    error: TypeError,
    message: /sibling.*'a'|'a'.*sibling/,
  },
  {
    name: "a step without a function",
    act: () => workflow("w").step("a", "nope" as never),
    error: TypeError,
  },
  {
    name: "maxAttempts 0",
    act: () => workflow("w").step("a", (v) => v, { retry: { maxAttempts: 0 } }),
    error: RangeError,
    message: /maxAttempts/,
  },
  {
    name: "maxAttempts as a string",
    act: () => workflow("w").step("a", (v) => v, { retry: { maxAttempts: "3" as never } }),
    error: TypeError,
  },
  {
    name: "a backoff below 1",
    act: () => workflow("w").step("a", (v) => v, { retry: { backoff: 0.5 } }),
    error: RangeError,
  },
  {
    name: "a jitter of 2",
    act: () => workflow("w").step("a", (v) => v, { retry: { jitter: 2 } }),
    error: RangeError,
  },
  {
    name: "maxDelay below initialDelay",
    act: () => workflow("w").step("a", (v) => v, { retry: { initialDelay: "1m", maxDelay: "1s" } }),
    error: RangeError,
  },
  {
    name: "an unparsable duration",
    act: () => workflow("w").sleep("s", "5 parsecs"),
    error: RangeError,
    message: /'5 parsecs'/,
  },
  { name: "a negative duration", act: () => workflow("w").sleep("s", -5), error: RangeError },
  {
    name: "a zero step timeout",
    act: () => workflow("w").step("a", (v) => v, { timeout: 0 }),
    error: RangeError,
  },
  {
    name: "a non-function compensate",
    act: () => workflow("w").step("a", (v) => v, { compensate: "undo" as never }),
    error: TypeError,
    message: /'compensate' 'undo'/,
  },
  {
    name: "a zero workflow timeout",
    act: () => workflow("w", { timeout: 0 }),
    error: RangeError,
    message: /'timeout' the number 0 of workflow 'w'/,
  },
  {
    name: "an unparsable workflow timeout",
    act: () => workflow("w", { timeout: "soon" as never }),
    error: RangeError,
    message: /'soon'/,
  },
  {
    name: "a non-function compensate on defineStep",
    act: () => defineStep("a", (v: number) => v, { compensate: 5 as never }),
    error: TypeError,
    message: /'compensate' the number 5/,
  },
  {
    name: "an unknown step option",
    act: () => workflow("w").step("a", (v) => v, { retries: 3 } as never),
    error: TypeError,
    message: /'retries'/,
  },
  {
    name: "parallel concurrency 0",
    act: () => workflow("w").parallel("p", [(v) => v], { concurrency: 0 }),
    error: RangeError,
  },
  {
    name: "a fractional loop count",
    act: () => workflow<number>("w").loop("l", 1.5, (v) => v),
    error: RangeError,
  },
  {
    name: "while maxIterations -1",
    act: () => workflow<number>("w").while("l", () => false, (v) => v, { maxIterations: -1 }),
    error: RangeError,
  },
  {
    name: "sleepUntil an invalid Date",
    act: () => workflow("w").sleepUntil("s", new Date("nope")),
    error: RangeError,
  },
  {
    name: "a signal name with a space",
    act: () => workflow("w").waitForSignal("s", "go now"),
    error: TypeError,
  },
  {
    name: "waitForAnySignal with no signals",
    act: () => workflow("w").waitForAnySignal("s", []),
    error: TypeError,
  },
  {
    name: "onTimeout without a timeout",
    act: () => workflow("w").waitForSignal("s", "go", { onTimeout: () => 1 }),
    error: TypeError,
  },
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
  // times outside the storable range (whole epoch ms from MIN_TIME_MS to MAX_TIME_MS)
  {
    name: "a sleep of 1e300 ms",
    act: () => workflow("w").sleep("s", 1e300),
    error: RangeError,
    message: /1e\+300.*at most/,
  },
  {
    name: "a retry initialDelay of 1e300 ms",
    act: () => workflow("w").step("a", (v) => v, { retry: { initialDelay: 1e300 } }),
    error: RangeError,
    message: /'initialDelay'/,
  },
  {
    name: "sleepUntil past the latest storable time",
    act: () => workflow("w").sleepUntil("s", 1e300),
    error: RangeError,
  },
  {
    name: "a startAt past the latest storable time",
    act: (e) => e.start(order, { qty: 1 }, { startAt: 1e300 }),
    error: RangeError,
    message: /'startAt' 1e\+300/,
  },
  // text that some databases cannot store
  {
    name: "a label key holding a lone surrogate",
    act: (e) => e.start(order, { qty: 1 }, { labels: { [LONE]: "v" } }),
    error: TypeError,
    message: /lone surrogates/,
  },
  {
    name: "a label value holding a lone surrogate",
    act: (e) => e.start(order, { qty: 1 }, { labels: { k: `cut ${LONE}` } }),
    error: TypeError,
    message: /lone surrogates/,
  },
  {
    name: "a run id holding a lone surrogate",
    act: (e) => e.start(order, { qty: 1 }, { id: `r-${LONE}` }),
    error: TypeError,
  },
  {
    name: "a worker id holding a lone surrogate",
    act: (e) => e.worker({ id: `w-${LONE}` }),
    error: TypeError,
    message: /lone surrogates/,
  },
  // flow control (SPEC §8.3)
  {
    name: "a negative concurrency limit",
    act: () => workflow("neg-limit", { concurrency: -1 }),
    error: RangeError,
    message: /-1 as 'concurrency' of workflow 'neg-limit': it must be an integer of at least 1/,
  },
  {
    name: "a concurrency limit that is not an integer",
    act: () => workflow("frac-limit", { concurrency: { limit: 1.5 } }),
    error: RangeError,
    message: /1\.5 as 'concurrency.limit' of workflow 'frac-limit': it must be an integer/,
  },
  {
    name: "a concurrency key that is not a function",
    act: () => workflow("key-limit", { concurrency: { limit: 1, key: "k" as never } }),
    error: TypeError,
  },
  {
    name: "a rate limit of 0",
    act: () => workflow("zero-rate", { rateLimit: { limit: 0, period: "1s" } }),
    error: RangeError,
  },
  {
    name: "a rate-limit period of zero",
    act: () => workflow("zero-period", { rateLimit: { limit: 1, period: 0 } }),
    error: RangeError,
    message: /number 0 as 'rateLimit.period' of workflow 'zero-period'.*positive/,
  },
  {
    name: "a rate limit without a period",
    act: () => workflow("no-period", { rateLimit: { limit: 1 } as never }),
    error: TypeError,
    message: /without a 'period'/,
  },
  {
    name: "a priority that is not an integer",
    act: (e) => e.start(order, { qty: 1 }, { priority: 1.5 }),
    error: RangeError,
    message: /1\.5 as 'priority': it must be an integer/,
  },
  {
    name: "a priority that is a string",
    act: (e) => e.start(order, { qty: 1 }, { priority: "high" as never }),
    error: TypeError,
  },
  {
    name: "a concurrency key function that throws",
    act: (e) => e.start(keyThrows, { qty: 1 }),
    error: TypeError,
    message: /concurrency key of workflow 'bad-input-key' threw: no key/,
  },
  {
    name: "a rate-limit key function that returns a number",
    act: (e) => e.start(keyNumber, { qty: 1 }),
    error: TypeError,
    message: /rate-limit key of workflow 'bad-input-key-number' the number 1/,
  },
  // limits that protect the store
  {
    name: "65 labels",
    act: (e) =>
      e.start(order, { qty: 1 }, {
        labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])),
      }),
    error: RangeError,
    message: /at most 64/,
  },
  {
    name: "an input nested 101 levels deep",
    act: (e) => e.start(order, nest(101) as never),
    error: SerializationError,
    code: "SERIALIZATION",
    message: /deeper than 100 levels at \$(\.a){100}:/,
  },
  {
    name: "an input nested 10,000 levels deep",
    act: (e) => e.start(order, nest(10_000) as never),
    error: SerializationError,
    code: "SERIALIZATION",
  },
  {
    name: "a signal payload nested 101 levels deep",
    act: (e) => e.signal("wait-run", "approved", nest(101)),
    error: SerializationError,
    code: "SERIALIZATION",
  },
  {
    name: "a history page of 0 events",
    act: (e) => e.history("done-run", { limit: 0 }),
    error: RangeError,
  },
  {
    name: "a history page of 1001 events",
    act: (e) => e.history("done-run", { limit: 1001 }),
    error: RangeError,
  },
  {
    name: "a history cursor that is not a number",
    act: (e) => e.history("done-run", { after: "5" as never }),
    error: TypeError,
  },
  // schedules (SPEC §8.1)
  {
    name: "an invalid cron expression",
    act: () => schedule("s", order, { cron: "61 * * * *" }),
    error: TypeError,
    message: /cron expression '61 \* \* \* \*' in schedule 's'/,
  },
  {
    name: "an unknown time zone",
    act: () => schedule("s", order, { cron: "0 3 * * *", timezone: "Mars/Olympus" }),
    error: TypeError,
    message: /time zone 'Mars\/Olympus' in schedule 's'/,
  },
  {
    name: "a schedule with both cron and every",
    act: () => schedule("s", order, { cron: "0 3 * * *", every: "1h" }),
    error: TypeError,
    message: /both 'cron' and 'every'/,
  },
  {
    name: "a schedule with neither cron nor every",
    act: () => schedule("s", order, {}),
    error: TypeError,
  },
  {
    name: "a schedule every 100ms",
    act: () => schedule("s", order, { every: "100ms" }),
    error: RangeError,
  },
  {
    name: "a schedule id with an @",
    act: () => schedule("a@b", order, { every: "1h" }),
    error: TypeError,
  },
  {
    name: "a schedule's non-serializable constant input",
    act: () => schedule("s", order, { every: "1h", input: { qty: 1n } as never }),
    error: SerializationError,
    code: "SERIALIZATION",
    message: /input of schedule 's'/,
  },
  {
    name: "upserting a schedule of an unregistered workflow",
    act: (e) => e.schedules.upsert(schedule("u", unregistered, { every: "1h" })),
    error: WorkflowNotFoundError,
    code: "WORKFLOW_NOT_FOUND",
  },
  {
    name: "upserting a schedule id held by another workflow",
    act: (e) => e.schedules.upsert(schedule("taken", other, { every: "1h" })),
    error: DuplicateScheduleError,
    code: "DUPLICATE_SCHEDULE",
  },
  {
    name: "upserting a dynamic schedule with a function input",
    act: (e) =>
      e.schedules.upsert(schedule("fn", order, { every: "1h", input: () => ({ qty: 1 }) })),
    error: TypeError,
    message: /function input/,
  },
  {
    name: "pausing an unknown schedule",
    act: (e) => e.schedules.pause(HOSTILE),
    error: ScheduleNotFoundError,
    code: "SCHEDULE_NOT_FOUND",
  },
  {
    name: "triggering an unknown schedule",
    act: (e) => e.schedules.trigger("nope"),
    error: ScheduleNotFoundError,
    code: "SCHEDULE_NOT_FOUND",
  },
  {
    name: "deleting a schedule id that is not a string",
    act: (e) => e.schedules.delete(42 as never),
    error: TypeError,
  },
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
