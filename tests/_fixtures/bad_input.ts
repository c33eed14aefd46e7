// Cases of tests/bad_input_test.ts: those that misuse the builder (child workflows included) and
// those past the store's limits, and what every case shares: its shape, the workflows the engine
// under test registers, and hostile values.
import {
  defineStep,
  DuplicateScheduleError,
  type Engine,
  flow,
  schedule,
  ScheduleNotFoundError,
  SerializationError,
  workflow,
  WorkflowNotFoundError,
} from "@sluice/sluice";

/** One bad input: what it does, and the error (class, code, message) it must get. */
export interface Case {
  name: string;
  act: (engine: Engine) => unknown;
  error: new (...args: never[]) => Error;
  code?: string;
  message?: RegExp;
}

/** A registered workflow that waits for a signal between two steps. */
export const order = workflow<{ qty: number }>("bad-input-order")
  .step("price", (o) => o.qty * 3)
  .waitForSignal<boolean>("approval", "approved")
  .step("done", (ok) => (ok ? "shipped" : "dropped"));
/** A second registered workflow. */
export const other = workflow("bad-input-second").step("o", () => 1);

export const HOSTILE = "x'; DROP TABLE runs; --\"\\%_*?[]{}$1:name";

export const unregistered = workflow("bad-input-unregistered").step("u", () => 1);

export const keyThrows = workflow<{ qty: number }>("bad-input-key", {
  concurrency: {
    limit: 1,
    key: () => {
      throw new Error("no key");
    },
  },
}).step("s", (o) => o.qty);

export const keyNumber = workflow<{ qty: number }>("bad-input-key-number", {
  rateLimit: { limit: 1, period: "1s", key: () => 1 as never },
}).step("s", (o) => o.qty);

export const LONE = "😀".slice(0, 1);

export function nest(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

export const cycle: Record<string, unknown> = {};
cycle.self = cycle;

/** Misuse of the builder: every case throws before anything is stored. */
export const BUILDER_CASES: Case[] = [
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
  {
    name: "a combine that is not a function",
    act: () => workflow("w").waitForSignal("s", "go", { combine: "merge" as never }),
    error: TypeError,
    message: /'combine' of wait 's'/,
  },
];

/**
 * Values past what the store takes: times, text some databases cannot store,
 * flow-control options, sizes, and schedules.
 */
export const LIMIT_CASES: Case[] = [
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
