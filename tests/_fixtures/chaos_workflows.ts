/**
 * The workflows of the crash, fencing and chaos tests. Step bodies append one
 * JSON line per execution to the log set with {@linkcode setExecutionLog}
 * (before their work), so tests can count how often each body ran and where.
 */
import { type StepContext, workflow } from "../../mod.ts";

let logFile: string | undefined;
let maxDelay = 30;
const encoder = new TextEncoder();

/** Sets where executions are logged, and the longest random delay of a step body. */
export function setExecutionLog(path: string, delayMs: number): void {
  logFile = path;
  maxDelay = delayMs;
}

/** Records one execution of a step body, then simulates some work. */
async function work<T>(ctx: StepContext, result: T): Promise<T> {
  const line = JSON.stringify({
    run: ctx.runId,
    step: ctx.step,
    key: ctx.idempotencyKey,
    attempt: ctx.attempt,
    pid: Deno.pid,
    at: Date.now(),
  });
  if (logFile) Deno.writeFileSync(logFile, encoder.encode(line + "\n"), { append: true });
  if (maxDelay > 0) {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * maxDelay));
  }
  return result;
}

/** About ten steps with a sleep, a parallel fan-out, a signal and a loop. */
export const chaos = workflow<{ n: number }>("chaos")
  .step("a", (v, ctx) => work(ctx, v.n + 1))
  .step("b", (n, ctx) => work(ctx, n * 2))
  .sleep("nap", "100ms")
  .step("c", (n, ctx) => work(ctx, n + 3))
  .parallel("fan", {
    x: (n, ctx) => work(ctx, n * 10),
    y: (n, ctx) => work(ctx, n - 1),
  })
  .step("d", (r, ctx) => work(ctx, r.x + r.y))
  .waitForSignal<number>("gate", "go")
  .step("e", (k, ctx) => work(ctx, k + (ctx.input as { n: number }).n))
  .loop("rep", 2, (n, ctx) => work(ctx, n + 1))
  .step("f", (n, ctx) => work(ctx, `done:${n}`));

/** The output `chaos` must produce for input n and signal payload k. */
export function expectedChaos(_n: number, k: number): string {
  return `done:${k + _n + 2}`;
}

/** A workflow whose middle step blocks for a long time (for SIGKILL and SIGSTOP tests). */
export const slow = workflow<number>("slow")
  .step("before", (n, ctx) => work(ctx, n + 1))
  .step("block", async (n, ctx) => {
    await work(ctx, n);
    const ms = (ctx.input as number) >= 0 ? 1500 : 0;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return n * 2;
  })
  .step("after", (n, ctx) => work(ctx, n + 100));

/** How long `napper` sleeps between its two steps. */
export const NAP_MS = 8_000;

/** A workflow that sleeps between two steps (for the clock-skew tests). */
export const napper = workflow<number>("napper")
  .step("before", (n, ctx) => work(ctx, n + 1))
  .sleep("nap", NAP_MS)
  .step("after", (n, ctx) => work(ctx, n * 2));
