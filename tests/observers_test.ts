// Observers: hook order, LoggingObserver, MetricsObserver, robustness, OpenTelemetry.
import {
  type Clock,
  LocalRunner,
  type LogAttributes,
  type Logger,
  LoggingObserver,
  ManualClock,
  MetricsObserver,
  type Observer,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import { type Span, trace, type Tracer, type TracerProvider } from "@opentelemetry/api";
import denoJson from "../deno.json" with { type: "json" };
import assert from "node:assert/strict";

const T0 = Date.UTC(2030, 0, 1);

/** An observer that records `hook step` for every event it sees. */
function recorder(): { observer: Observer; events: string[]; payloads: Record<string, unknown>[] } {
  const events: string[] = [];
  const payloads: Record<string, unknown>[] = [];
  const hooks = [
    "onRunStarted",
    "onRunCompleted",
    "onRunFailed",
    "onRunCancelled",
    "onRunWaiting",
    "onStepStarted",
    "onStepCompleted",
    "onStepFailed",
    "onStepRetried",
    "onSignalReceived",
  ] as const;
  const observer: Record<string, (event: object) => void> = {};
  for (const hook of hooks) {
    observer[hook] = (event: object) => {
      const record = event as Record<string, unknown>;
      events.push(record.step === undefined ? hook : `${hook} ${record.step}`);
      payloads.push({ hook, ...record });
    };
  }
  return { observer: observer as Observer, events, payloads };
}

function memoryLogger(): { logger: Logger; lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string; attributes?: LogAttributes | undefined }[] = [];
  const at = (level: string) => (message: string, attributes?: LogAttributes) =>
    void lines.push({ level, message, attributes });
  return {
    lines,
    logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
  };
}

Deno.test("observers see a successful run's hooks in order", async () => {
  const { observer, events, payloads } = recorder();
  const wf = workflow<number>("ok-run").step("a", (n) => n + 1).step("b", (n) => n * 2);
  await using runner = new LocalRunner({ observers: [observer] });
  const handle = await runner.start(wf, 1, { id: "obs-1" });
  assert.equal(await handle.result(), 4);
  assert.deepEqual(events, [
    "onRunStarted",
    "onStepStarted a",
    "onStepCompleted a",
    "onStepStarted b",
    "onStepCompleted b",
    "onRunCompleted",
  ]);
  for (const payload of payloads) {
    assert.equal(payload.runId, "obs-1");
    assert.equal(payload.workflow, "ok-run");
    assert.equal(payload.version, "1");
    assert.ok(payload.at instanceof Date);
  }
  assert.equal(payloads.at(-1)!.output, 4);
  assert.equal(payloads[2]!.output, 2);
  assert.equal(payloads[2]!.attempt, 1);
});

Deno.test("observers see a failing run's attempts, retries and failure in order", async () => {
  const clock = new ManualClock(T0);
  const { observer, events, payloads } = recorder();
  const wf = workflow<number>("bad-run").step("a", (n) => n).step("b", () => {
    throw new Error("boom");
  }, { retry: { maxAttempts: 2, initialDelay: "1s" } });
  await using runner = new LocalRunner({ observers: [observer], clock });
  const handle = await runner.start(wf, 1);
  const outcome = handle.result().catch((e) => e);
  await clock.advance("1s");
  assert.ok(await outcome instanceof WorkflowFailedError);
  assert.deepEqual(events, [
    "onRunStarted",
    "onStepStarted a",
    "onStepCompleted a",
    "onStepStarted b",
    "onStepFailed b",
    "onStepRetried b",
    "onRunWaiting",
    "onStepStarted b",
    "onStepFailed b",
    "onRunFailed b",
  ]);
  const failed = payloads.filter((p) => p.hook === "onStepFailed");
  assert.deepEqual(failed.map((p) => [p.attempt, p.willRetry]), [[1, true], [2, false]]);
  const retried = payloads.find((p) => p.hook === "onStepRetried")!;
  assert.equal(retried.attempt, 2);
  assert.equal(retried.delayMs, 1_000);
  assert.equal((retried.wakeAt as Date).getTime(), T0 + 1_000);
  const runFailed = payloads.at(-1)!;
  assert.equal((runFailed.error as Error).message, "boom");
  assert.equal(runFailed.step, "b");
});

Deno.test("observers see sleeping, waiting, signals and cancellation", async () => {
  const clock = new ManualClock(T0);
  const { observer, payloads } = recorder();
  const wf = workflow<number>("lifecycle").sleep("nap", "1m").waitForSignal("w", "go");
  await using runner = new LocalRunner({ observers: [observer], clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("1m");
  await handle.signal("other", { x: 1 });
  await handle.cancel("enough");
  const waiting = payloads.filter((p) => p.hook === "onRunWaiting");
  assert.deepEqual(waiting.map((p) => p.status), ["sleeping", "waiting"]);
  assert.equal((waiting[0]!.wakeAt as Date).getTime(), T0 + 60_000);
  assert.deepEqual(waiting[1]!.signals, ["go"]);
  const signal = payloads.find((p) => p.hook === "onSignalReceived")!;
  assert.equal(signal.signal, "other");
  assert.deepEqual(signal.payload, { x: 1 });
  const cancelled = payloads.find((p) => p.hook === "onRunCancelled")!;
  assert.equal(cancelled.reason, "enough");
  assert.equal(payloads.filter((p) => p.hook === "onRunStarted").length, 1);
});

Deno.test("a throwing observer does not break the run and is logged", async () => {
  const { logger, lines } = memoryLogger();
  const { observer, events } = recorder();
  const angry: Observer = {
    onRunStarted() {
      throw new Error("observer bug");
    },
    onStepCompleted() {
      throw new Error("observer bug");
    },
    onRunCompleted() {
      throw new Error("observer bug");
    },
  };
  const wf = workflow<number>("robust").step("a", (n) => n + 1);
  await using runner = new LocalRunner({ observers: [angry, observer], logger });
  assert.equal(await runner.run(wf, 1), 2);
  assert.deepEqual(events, [
    "onRunStarted",
    "onStepStarted a",
    "onStepCompleted a",
    "onRunCompleted",
  ]);
  const warnings = lines.filter((l) => l.level === "warn" && /observer/.test(l.message));
  assert.equal(warnings.length, 3);
});

Deno.test("LoggingObserver logs runs and steps through a Logger", async () => {
  const { logger, lines } = memoryLogger();
  const wf = workflow<number>("logged").step("a", (n) => n).step("b", () => {
    throw new Error("kaput");
  });
  await using runner = new LocalRunner({ observers: [new LoggingObserver(logger)] });
  const handle = await runner.start(wf, 1, { id: "log-1" });
  await handle.result().catch(() => {});
  const text = lines.map((l) => `${l.level} ${l.message}`);
  assert.ok(text.includes("info run log-1 of logged started"), text.join("\n"));
  assert.ok(text.some((t) => t.startsWith("debug step a completed")));
  assert.ok(text.some((t) => t === "warn step b attempt 1 failed: kaput"));
  assert.ok(text.some((t) => t === "error run log-1 of logged failed: kaput"));
});

/** A clock whose time only steps move, so step durations are exact. */
function steppedClock(): Clock & { tick(ms: number): void } {
  let now = T0;
  return {
    now: () => now,
    setTimer: () => ({ cancel() {} }),
    tick(ms: number) {
      now += ms;
    },
  };
}

Deno.test("MetricsObserver counts runs and steps and summarises step durations", async () => {
  const clock = steppedClock();
  const metrics = new MetricsObserver();
  const wf = workflow<number>("timed")
    .loop("work", 10, (n: number, ctx) => {
      clock.tick(10 * (Number(ctx.step.split("#")[1]) + 1));
      return n + 1;
    })
    .step("fail", (n): number => {
      if (n === 10) throw new Error("done");
      return n;
    });
  await using runner = new LocalRunner({ observers: [metrics], clock });
  await runner.run(wf, 0).catch(() => {});
  const snapshot = metrics.snapshot();
  assert.deepEqual(snapshot.runs, {
    started: 1,
    completed: 0,
    failed: 1,
    cancelled: 0,
    waiting: 0,
    sleeping: 0,
  });
  assert.deepEqual(snapshot.steps, { started: 11, completed: 10, failed: 1, retried: 0 });
  const durations = snapshot.stepDurations;
  assert.equal(durations.count, 10);
  assert.equal(durations.mean, 55);
  assert.ok(durations.p50 === 50 || durations.p50 === 60, `p50 ${durations.p50}`);
  assert.equal(durations.p99, 100);
  assert.deepEqual(Object.keys(snapshot.stepDurationsByStep), ["timed:work#*"]);
  assert.equal(snapshot.stepDurationsByStep["timed:work#*"]!.count, 10);
});

Deno.test("MetricsObserver starts empty and counts completed runs", async () => {
  const metrics = new MetricsObserver();
  assert.deepEqual(metrics.snapshot().stepDurations, { count: 0, mean: 0, p50: 0, p99: 0 });
  await using runner = new LocalRunner({ observers: [metrics] });
  const wf = workflow<number>("count").step("a", (n) => n);
  for (let i = 0; i < 3; i++) await runner.run(wf, i);
  assert.equal(metrics.snapshot().runs.completed, 3);
  assert.equal(metrics.snapshot().runs.started, 3);
  assert.equal(metrics.snapshot().steps.completed, 3);
});

Deno.test("runs work with no OpenTelemetry provider registered", async () => {
  const wf = workflow<number>("no-otel").step("a", (n) => n + 1).sleep("s", 0);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, 1), 2);
});

Deno.test("with an OpenTelemetry provider, each run activation and step attempt gets a span", async () => {
  const spans: { name: string; attributes: Record<string, unknown>; ended: boolean }[] = [];
  const tracer = {
    startSpan(name: string, options?: { attributes?: Record<string, unknown> }): Span {
      const record = { name, attributes: { ...options?.attributes }, ended: false };
      spans.push(record);
      const span = {
        spanContext: () => ({
          traceId: "0".repeat(31) + "1",
          spanId: "0".repeat(15) + "1",
          traceFlags: 1,
        }),
        setAttribute: () => span,
        setAttributes: () => span,
        addEvent: () => span,
        addLink: () => span,
        addLinks: () => span,
        setStatus: () => span,
        updateName: () => span,
        end: () => void (record.ended = true),
        isRecording: () => true,
        recordException: () => {},
      };
      return span as unknown as Span;
    },
  } as unknown as Tracer;
  const scopes: { name: string; version?: string | undefined }[] = [];
  const provider: TracerProvider = {
    getTracer: (name, version) => (scopes.push({ name, version }), tracer),
  };
  assert.ok(trace.setGlobalTracerProvider(provider));
  try {
    const wf = workflow<number>("traced").step("a", (n, ctx) => {
      if (ctx.attempt === 1) throw new Error("retry me");
      return n;
    }, { retry: { maxAttempts: 2, initialDelay: 0 } });
    await using runner = new LocalRunner();
    const handle = await runner.start(wf, 1, { id: "traced-1" });
    assert.equal(await handle.result(), 1);
    const run = spans.filter((s) => s.name.startsWith("sluice.run"));
    const steps = spans.filter((s) => s.name.startsWith("sluice.step"));
    assert.equal(run.length, 1);
    assert.equal(run[0]!.attributes["sluice.run_id"], "traced-1");
    assert.equal(run[0]!.attributes["sluice.workflow"], "traced");
    assert.deepEqual(steps.map((s) => s.attributes["sluice.attempt"]), [1, 2]);
    for (const step of steps) {
      assert.equal(step.attributes["sluice.step"], "a");
      assert.equal(step.attributes["sluice.run_id"], "traced-1");
      assert.equal(step.attributes["sluice.workflow"], "traced");
    }
    assert.ok(spans.every((s) => s.ended));
    assert.deepEqual(scopes[0], { name: "sluice", version: denoJson.version });
  } finally {
    trace.disable();
  }
});
