/**
 * The flow-control workflows of the real-process tests. Their steps append
 * one JSON line on entry (`in`) and one on exit (`out`) to the log set with
 * {@linkcode setFlowLog}. Appends to one file are atomic and ordered, so the
 * file order is one total order of entries and exits across processes: a
 * step's entry follows its run's claim and its exit precedes the run's
 * release, so counting along the file never undercounts what ran at once.
 */
import { flow, type StepContext, workflow } from "../../mod.ts";

let logFile: string | undefined;
const encoder = new TextEncoder();

/** Sets where entries and exits are logged. */
export function setFlowLog(path: string): void {
  logFile = path;
}

/** One line of the flow log. */
export interface FlowMark {
  run: string;
  step: string;
  phase: "in" | "out";
  key?: string;
  pid: number;
  at: number;
}

function mark(ctx: StepContext, phase: "in" | "out", key?: string): void {
  if (!logFile) return;
  const line: FlowMark = { run: ctx.runId, step: ctx.step, phase, pid: Deno.pid, at: Date.now() };
  if (key !== undefined) line.key = key;
  Deno.writeFileSync(logFile, encoder.encode(JSON.stringify(line) + "\n"), { append: true });
}

async function busy(ctx: StepContext, key: string | undefined, ms: number): Promise<void> {
  mark(ctx, "in", key);
  await new Promise((resolve) => setTimeout(resolve, ms));
  mark(ctx, "out", key);
}

/** How many runs of one key of `throttled` may execute at once. */
export const THROTTLE_LIMIT = 2;

/** At most THROTTLE_LIMIT runs per key at once; the sleep between steps frees the slot. */
export const throttled = workflow<{ key: string; i: number }>("throttled", {
  concurrency: { limit: THROTTLE_LIMIT, key: (input) => input.key },
})
  .step("work", async (v, ctx) => {
    await busy(ctx, v.key, 20 + Math.random() * 30);
    return v;
  })
  .sleep("pause", "30ms")
  .step("again", async (v, ctx) => {
    await busy(ctx, v.key, 10 + Math.random() * 20);
    return v.i;
  });

/** The rate limit of `metered`. */
export const METER = { limit: 3, periodMs: 1_000 };

/** At most METER.limit runs begin per METER.periodMs. */
export const metered = workflow<number>("metered", {
  rateLimit: { limit: METER.limit, period: METER.periodMs },
}).step("tick", async (n, ctx) => {
  await busy(ctx, undefined, 5);
  return n;
});

/** One run at a time, so the order of entries is the order of claims. */
export const ranked = workflow<number>("ranked", { concurrency: 1 }).step(
  "work",
  async (n, ctx) => {
    await busy(ctx, undefined, 5);
    return n;
  },
);

/** How many steps `paced` runs, one after another. */
export const PACED_STEPS = 60;

/**
 * PACED_STEPS short steps in a row (a loop of one step), each marking its
 * entry and exit: a pause from another process stops it at a step boundary.
 */
export const paced = workflow<number>("paced").loop(
  "beats",
  PACED_STEPS,
  flow<number>().step("beat", async (n, ctx) => {
    await busy(ctx, undefined, 15);
    return n + 1;
  }),
);

/** Reads the flow log in file order. */
export function readFlowLog(path: string): FlowMark[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return text.split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line));
}
