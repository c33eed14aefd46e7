/**
 * The workflows of the crash, fencing and chaos tests. Step bodies append one
 * JSON line per execution to the log set with {@linkcode setExecutionLog}
 * (before their work), so tests can count how often each body ran and where.
 */
import { flow, type StepContext, workflow } from "../../mod.ts";

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

/**
 * About ten steps with a sleep, a parallel fan-out, a signal and a loop, with
 * flow control on: at most 4 runs of each of three keys execute at once
 * (fewer than the workers' slots), so claims are held back by the limit.
 */
export const chaos = workflow<{ n: number }>("chaos", {
  concurrency: { limit: 4, key: (v) => `k${v.n % 3}` },
})
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

/** Appends one execution line to the log (as `step`, default the step's key), if one is set (no delay). */
function note(ctx: StepContext, step: string = ctx.step): void {
  if (!logFile) return;
  const line = JSON.stringify({
    run: ctx.runId,
    step,
    key: ctx.idempotencyKey,
    attempt: ctx.attempt,
    pid: Deno.pid,
    at: Date.now(),
  });
  Deno.writeFileSync(logFile, encoder.encode(line + "\n"), { append: true });
}

let gate: () => Promise<void> | void = () => {};

/** Sets what the first step of `spin` waits for (in the test process). */
export function setSpinGate(wait: () => Promise<void> | void): void {
  gate = wait;
}

/**
 * A gate step, then a loop of `input` trivial steps: a worker draining the loop
 * never waits on I/O on SQLite.
 */
export const spin = workflow<number>("spin")
  .step("gate", async (n) => {
    await gate();
    return n;
  })
  .loop("spin", (n) => n, (n, ctx) => {
    note(ctx);
    return n;
  });

/** Blocks its process (a busy loop, no await) for `input` ms, longer than the lease. */
export const hog = workflow<number>("hog")
  .step("before", (ms, ctx) => work(ctx, ms))
  .step("hog", async (ms, ctx) => {
    await work(ctx, ms);
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // blocks the event loop: no heartbeat, no timer, no signal handler
    }
    return ms;
  });

/** Kills its own worker process with SIGKILL every time its second step runs. */
export const suicide = workflow<number>("suicide")
  .step("before", (n, ctx) => work(ctx, n))
  .step("die", async (n, ctx) => {
    await work(ctx, n);
    Deno.kill(Deno.pid, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    return n;
  });

/**
 * A saga whose last step fails: `a`, `b` and `c` each have a compensation
 * that logs itself (ctx.step `<key>/compensate`); `b`'s takes 1.5 s, long
 * enough to kill its worker in the middle of compensating.
 */
export const saga = workflow<number>("saga")
  .step("a", (n, ctx) => work(ctx, n + 1), { compensate: (_o, ctx) => work(ctx, "undone") })
  .step("b", (n, ctx) => work(ctx, n + 1), {
    compensate: async (_o, ctx) => {
      await work(ctx, undefined);
      await new Promise((resolve) => setTimeout(resolve, 1500));
    },
  })
  .step("c", (n, ctx) => work(ctx, n + 1), { compensate: (_o, ctx) => work(ctx, "undone") })
  .step("fail", async (_n, ctx): Promise<number> => {
    await work(ctx, 0);
    throw new Error("the last step fails");
  });

/** The child of `caller`: its one step logs, then works for 300 ms. */
export const callee = workflow<number>("callee")
  .step("charge", async (n, ctx) => {
    await work(ctx, n);
    await new Promise((resolve) => setTimeout(resolve, 300));
    return n * 10;
  });

/**
 * A parent that calls `callee` in one parallel branch while the other holds
 * the activation for 1.5 s: a worker killed once the child runs dies with
 * the call in flight, so the next worker resumes the call node.
 */
export const caller = workflow<number>("caller")
  .step("before", (n, ctx) => work(ctx, n + 1))
  .parallel("both", {
    pay: flow<number>().call("pay", callee),
    hold: async (n: number, ctx: StepContext) => {
      await work(ctx, n);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return n;
    },
  })
  .step("after", (r, ctx) => work(ctx, r.pay + r.hold));

/**
 * Signals the run `input` ("ping", with `ctx.signalRun`), logs `ping/sent`,
 * then holds 1.5 s before its checkpoint: a worker killed then dies with the
 * signal sent and the step not recorded, so the next worker re-runs it.
 */
export const pinger = workflow<string>("pinger")
  .step("ping", async (target, ctx) => {
    await work(ctx, target);
    await ctx.signalRun(target, "ping", Deno.pid);
    note(ctx, "ping/sent");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return target;
  });

/** Waits until the file `name` exists in `dir` (a test writes it), at most a minute. */
async function acknowledged(dir: string, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      Deno.statSync(`${dir}/${name}`);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`No '${name}' in ${dir} within a minute`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

/**
 * Four plain steps, each of which begins only once the test acknowledged the
 * previous step's completion (an `ack-<step>` file in the input's folder): the
 * run moves on only as fast as a watcher learns of its checkpoints.
 */
export const relay = workflow<{ dir: string }>("relay")
  .step("s1", (v) => v.dir)
  .step("s2", async (dir) => (await acknowledged(dir, "ack-s1"), dir))
  .step("s3", async (dir) => (await acknowledged(dir, "ack-s2"), dir))
  .step("s4", async (dir) => (await acknowledged(dir, "ack-s3"), dir));
