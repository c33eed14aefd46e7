/**
 * A worker process for the crash, fencing and chaos tests. It registers the
 * workflows below, runs a worker over `--db` (a SQLite file or a postgres://
 * URL), prints "ready <pid>" once polling, and appends one JSON line per step
 * body execution to `--log` (before the body's work), so tests can count how
 * often each step body ran and in which process.
 *
 * Usage: deno run -A tests/_fixtures/chaos_worker.ts --db <db> --log <file>
 *          [--concurrency 8] [--lease 2000] [--poll 100] [--delay 30] [--schema s]
 */
import { parseArgs } from "node:util";
import { Engine, type StepContext, workflow } from "../../mod.ts";
import { openDriver } from "../../cli/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    db: { type: "string" },
    log: { type: "string" },
    schema: { type: "string" },
    concurrency: { type: "string", default: "8" },
    lease: { type: "string", default: "2000" },
    poll: { type: "string", default: "100" },
    delay: { type: "string", default: "30" },
  },
});
if (!values.db || !values.log) throw new TypeError("Pass --db and --log");
const logFile = values.log;
const maxDelay = Number(values.delay);
const encoder = new TextEncoder();

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
  Deno.writeFileSync(logFile, encoder.encode(line + "\n"), { append: true });
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

const driver = await openDriver(values.db, values.schema ? { schema: values.schema } : {});
const engine = new Engine({ driver, workflows: [chaos, slow] });
const worker = engine.worker({
  concurrency: Number(values.concurrency),
  leaseMs: Number(values.lease),
  pollInterval: Number(values.poll),
});
await worker.start();
console.log(`ready ${Deno.pid}`);

const shutdown = async () => {
  await worker.stop();
  await engine.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", () => void shutdown());
Deno.addSignalListener("SIGINT", () => void shutdown());
