/**
 * Observers: hooks called as runs and steps progress, in the process that does
 * the work. An observer that throws is logged and otherwise ignored.
 *
 * @module
 */
import type { Logger } from "./logger.ts";

/**
 * Fields shared by every observer event.
 *
 * @example Log every run that starts
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunEvent, workflow } from "@sluice/sluice";
 *
 * const started: string[] = [];
 * const onRunStarted = (e: RunEvent) => void started.push(`${e.workflow}@${e.version} ${e.runId}`);
 * await using runner = new LocalRunner({ observers: [{ onRunStarted }] });
 * await runner.run(workflow<number>("inc").step("inc", (n) => n + 1), 1, { id: "r-1" });
 * assert.deepEqual(started, ["inc@1 r-1"]);
 * ```
 */
export interface RunEvent {
  /** The run id. */
  runId: string;
  /** The workflow name. */
  workflow: string;
  /** The workflow version. */
  version: string;
  /** When it happened, on the engine clock. */
  at: Date;
}

/**
 * A run completed.
 *
 * @example Collect the outputs of completed runs
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunCompletedEvent, workflow } from "@sluice/sluice";
 *
 * const outputs: unknown[] = [];
 * const onRunCompleted = (e: RunCompletedEvent) => void outputs.push(e.output);
 * await using runner = new LocalRunner({ observers: [{ onRunCompleted }] });
 * await runner.run(workflow<number>("inc").step("inc", (n) => n + 1), 1);
 * assert.deepEqual(outputs, [2]);
 * ```
 */
export interface RunCompletedEvent extends RunEvent {
  /** The run's output. */
  output: unknown;
}

/**
 * A run failed.
 *
 * @example See which step failed a run, and why
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunFailedEvent, workflow } from "@sluice/sluice";
 *
 * const failures: string[] = [];
 * const onRunFailed = (e: RunFailedEvent) => void failures.push(`${e.step}: ${e.error.message}`);
 * const wf = workflow<number>("fails").step("boom", () => {
 *   throw new Error("out of stock");
 * });
 * await using runner = new LocalRunner({ observers: [{ onRunFailed }] });
 * await assert.rejects(runner.run(wf, 1));
 * assert.deepEqual(failures, ["boom: out of stock"]);
 * ```
 */
export interface RunFailedEvent extends RunEvent {
  /** The error (the step error, or why the run could not go on). */
  error: Error;
  /** The step key that failed, when a step failed. */
  step?: string;
}

/**
 * A run was cancelled.
 *
 * @example See why a run was cancelled
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunCancelledEvent, workflow } from "@sluice/sluice";
 *
 * const reasons: string[] = [];
 * const onRunCancelled = (e: RunCancelledEvent) => void reasons.push(`${e.runId}: ${e.reason}`);
 * await using runner = new LocalRunner({ observers: [{ onRunCancelled }] });
 * const run = await runner.start(workflow<number>("gate").waitForSignal("go", "go"), 1, {
 *   id: "gate-1",
 * });
 * await run.cancel("not needed");
 * assert.deepEqual(reasons, ["gate-1: not needed"]);
 * ```
 */
export interface RunCancelledEvent extends RunEvent {
  /** The reason given. */
  reason?: string;
}

/**
 * A run suspended on a timer or a signal.
 *
 * @example See a run suspend on a timer
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunWaitingEvent, workflow } from "@sluice/sluice";
 *
 * const waits: RunWaitingEvent[] = [];
 * const onRunWaiting = (e: RunWaitingEvent) => void waits.push(e);
 * const wf = workflow<number>("nap").sleep("nap", "1h").step("done", (n) => n);
 * await using runner = new LocalRunner({ clock: "virtual", observers: [{ onRunWaiting }] });
 * await runner.run(wf, 1);
 * assert.equal(waits[0]?.status, "sleeping");
 * assert.ok(waits[0]?.wakeAt instanceof Date);
 * ```
 */
export interface RunWaitingEvent extends RunEvent {
  /** `sleeping` (timers only) or `waiting` (signals). */
  status: "sleeping" | "waiting";
  /** When it wakes, if a timer is set. */
  wakeAt?: Date;
  /** The signals it waits for. */
  signals?: string[];
}

/**
 * A step attempt started.
 *
 * @example Step keys and attempts
 * ```ts
 * import assert from "node:assert/strict";
 * import { flow, LocalRunner, type StepEvent, workflow } from "@sluice/sluice";
 *
 * const started: string[] = [];
 * const onStepStarted = (e: StepEvent) => void started.push(`${e.step} attempt ${e.attempt}`);
 * await using runner = new LocalRunner({ observers: [{ onStepStarted }] });
 * const wf = workflow<number>("w").loop("twice", 2, flow<number>().step("inc", (n) => n + 1));
 * await runner.run(wf, 0);
 * assert.deepEqual(started, ["twice#0/inc attempt 1", "twice#1/inc attempt 1"]);
 * ```
 */
export interface StepEvent extends RunEvent {
  /** The step key. */
  step: string;
  /** The attempt number, from 1. */
  attempt: number;
}

/**
 * A step attempt completed.
 *
 * @example Collect each step's output
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type StepCompletedEvent, workflow } from "@sluice/sluice";
 *
 * const completed: StepCompletedEvent[] = [];
 * const onStepCompleted = (e: StepCompletedEvent) => void completed.push(e);
 * await using runner = new LocalRunner({ observers: [{ onStepCompleted }] });
 * await runner.run(workflow<number>("w").step("double", (n) => n * 2), 21);
 * assert.equal(completed[0]?.step, "double");
 * assert.equal(completed[0]?.output, 42);
 * assert.ok(completed[0]!.durationMs >= 0);
 * ```
 */
export interface StepCompletedEvent extends StepEvent {
  /** How long the attempt took, in ms. */
  durationMs: number;
  /** The step's output. */
  output: unknown;
}

/**
 * A step attempt failed.
 *
 * @example See a failed attempt that will be retried
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type StepFailedEvent, workflow } from "@sluice/sluice";
 *
 * let calls = 0;
 * const wf = workflow<number>("flaky").step("call", (n) => {
 *   if (++calls === 1) throw new Error("timeout");
 *   return n;
 * }, { retry: { maxAttempts: 2 } });
 * const failed: StepFailedEvent[] = [];
 * const onStepFailed = (e: StepFailedEvent) => void failed.push(e);
 * await using runner = new LocalRunner({ clock: "virtual", observers: [{ onStepFailed }] });
 * assert.equal(await runner.run(wf, 1), 1);
 * assert.equal(failed.length, 1);
 * assert.equal(failed[0]?.attempt, 1);
 * assert.equal(failed[0]?.willRetry, true);
 * ```
 */
export interface StepFailedEvent extends StepEvent {
  /** How long the attempt took, in ms. */
  durationMs: number;
  /** What it threw. */
  error: unknown;
  /** Whether another attempt will follow. */
  willRetry: boolean;
}

/**
 * A retry of a step was scheduled.
 *
 * @example See when a retry is due
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type StepRetriedEvent, workflow } from "@sluice/sluice";
 *
 * let calls = 0;
 * const wf = workflow<number>("flaky").step("call", (n) => {
 *   if (++calls === 1) throw new Error("timeout");
 *   return n;
 * }, { retry: { maxAttempts: 2, initialDelay: "5s" } });
 * const retries: string[] = [];
 * const onStepRetried = (e: StepRetriedEvent) => void retries.push(`${e.step} in ${e.delayMs}ms`);
 * await using runner = new LocalRunner({ clock: "virtual", observers: [{ onStepRetried }] });
 * await runner.run(wf, 1);
 * assert.deepEqual(retries, ["call in 5000ms"]);
 * ```
 */
export interface StepRetriedEvent extends StepEvent {
  /** The wait before the next attempt, in ms. */
  delayMs: number;
  /** When the next attempt is due. */
  wakeAt: Date;
}

/**
 * A signal was sent to a run.
 *
 * @example See the signals a run receives
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type SignalEvent, workflow } from "@sluice/sluice";
 *
 * const received: unknown[] = [];
 * const onSignalReceived = (e: SignalEvent) => void received.push([e.signal, e.payload]);
 * const wf = workflow<number>("gate").waitForSignal<string>("go", "go");
 * await using runner = new LocalRunner({ observers: [{ onSignalReceived }] });
 * const run = await runner.start(wf, 1);
 * await run.signal("go", "now");
 * assert.equal(await run.result(), "now");
 * assert.deepEqual(received, [["go", "now"]]);
 * ```
 */
export interface SignalEvent extends RunEvent {
  /** The signal name. */
  signal: string;
  /** Its payload. */
  payload: unknown;
}

/**
 * Hooks called as runs and steps progress. Every hook is optional.
 *
 * @example Count completed steps
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type Observer, workflow } from "@sluice/sluice";
 *
 * let steps = 0;
 * const counter: Observer = { onStepCompleted: () => void steps++ };
 * await using runner = new LocalRunner({ observers: [counter] });
 * await runner.run(workflow<number>("w").step("a", (n) => n).step("b", (n) => n), 1);
 * assert.equal(steps, 2);
 * ```
 */
export interface Observer {
  /** A run began executing for the first time. */
  onRunStarted?(event: RunEvent): void;
  /** A run completed. */
  onRunCompleted?(event: RunCompletedEvent): void;
  /** A run failed. */
  onRunFailed?(event: RunFailedEvent): void;
  /** A run was cancelled. */
  onRunCancelled?(event: RunCancelledEvent): void;
  /** A run suspended on a timer or signal. */
  onRunWaiting?(event: RunWaitingEvent): void;
  /** A step attempt started. */
  onStepStarted?(event: StepEvent): void;
  /** A step attempt completed. */
  onStepCompleted?(event: StepCompletedEvent): void;
  /** A step attempt failed. */
  onStepFailed?(event: StepFailedEvent): void;
  /** A retry was scheduled. */
  onStepRetried?(event: StepRetriedEvent): void;
  /** A signal was sent to a run. */
  onSignalReceived?(event: SignalEvent): void;
}

/**
 * The hook names of {@linkcode Observer}.
 *
 * @example Record which hooks fire
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type Observer, type ObserverHook, workflow } from "@sluice/sluice";
 *
 * const hooks: ObserverHook[] = ["onRunStarted", "onStepCompleted", "onRunCompleted"];
 * const seen: ObserverHook[] = [];
 * const observer: Observer = {};
 * for (const hook of hooks) observer[hook] = () => void seen.push(hook);
 * await using runner = new LocalRunner({ observers: [observer] });
 * await runner.run(workflow<number>("w").step("a", (n) => n), 1);
 * assert.deepEqual(seen, ["onRunStarted", "onStepCompleted", "onRunCompleted"]);
 * ```
 */
export type ObserverHook = keyof Observer;

/**
 * Logs every run and step event through a {@linkcode Logger}: run events at
 * `info`, step events at `debug`, failures at `warn` and `error`.
 *
 * @example Log run events, dropping step events
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, LoggingObserver, workflow } from "@sluice/sluice";
 *
 * const lines: string[] = [];
 * const logger = { debug() {}, info: (m: string) => void lines.push(m), warn() {}, error() {} };
 * await using runner = new LocalRunner({ observers: [new LoggingObserver(logger)] });
 * await runner.run(workflow<number>("inc").step("inc", (n) => n + 1), 1, { id: "r-1" });
 * assert.deepEqual(lines, ["run r-1 of inc started", "run r-1 of inc completed"]);
 * ```
 */
export class LoggingObserver implements Observer {
  #log: Logger;

  /**
   * Creates an observer that logs through `logger`.
   *
   * @param logger Where to log.
   */
  constructor(logger: Logger) {
    this.#log = logger;
  }

  /** Logs at info. */
  onRunStarted(e: RunEvent): void {
    this.#log.info(`run ${e.runId} of ${e.workflow} started`, { runId: e.runId });
  }
  /** Logs at info. */
  onRunCompleted(e: RunCompletedEvent): void {
    this.#log.info(`run ${e.runId} of ${e.workflow} completed`, { runId: e.runId });
  }
  /** Logs at error. */
  onRunFailed(e: RunFailedEvent): void {
    this.#log.error(`run ${e.runId} of ${e.workflow} failed: ${e.error.message}`, {
      runId: e.runId,
      step: e.step,
    });
  }
  /** Logs at info. */
  onRunCancelled(e: RunCancelledEvent): void {
    this.#log.info(`run ${e.runId} of ${e.workflow} cancelled`, {
      runId: e.runId,
      reason: e.reason,
    });
  }
  /** Logs at info. */
  onRunWaiting(e: RunWaitingEvent): void {
    this.#log.info(`run ${e.runId} of ${e.workflow} is ${e.status}`, {
      runId: e.runId,
      wakeAt: e.wakeAt?.toISOString(),
      signals: e.signals,
    });
  }
  /** Logs at debug. */
  onStepStarted(e: StepEvent): void {
    this.#log.debug(`step ${e.step} attempt ${e.attempt} started`, { runId: e.runId });
  }
  /** Logs at debug. */
  onStepCompleted(e: StepCompletedEvent): void {
    this.#log.debug(`step ${e.step} completed in ${e.durationMs}ms`, { runId: e.runId });
  }
  /** Logs at warn. */
  onStepFailed(e: StepFailedEvent): void {
    const message = e.error instanceof Error ? e.error.message : String(e.error);
    this.#log.warn(`step ${e.step} attempt ${e.attempt} failed: ${message}`, {
      runId: e.runId,
      willRetry: e.willRetry,
    });
  }
  /** Logs at info. */
  onStepRetried(e: StepRetriedEvent): void {
    this.#log.info(`step ${e.step} retries in ${e.delayMs}ms`, { runId: e.runId });
  }
  /** Logs at info. */
  onSignalReceived(e: SignalEvent): void {
    this.#log.info(`run ${e.runId} received signal ${e.signal}`, { runId: e.runId });
  }
}

/**
 * Duration statistics in milliseconds.
 *
 * @example Step durations over all steps
 * ```ts
 * import assert from "node:assert/strict";
 * import { type DurationStats, LocalRunner, MetricsObserver, workflow } from "@sluice/sluice";
 *
 * const metrics = new MetricsObserver();
 * await using runner = new LocalRunner({ observers: [metrics] });
 * await runner.run(workflow<number>("w").step("a", (n) => n).step("b", (n) => n), 1);
 * const stats: DurationStats = metrics.snapshot().stepDurations;
 * assert.equal(stats.count, 2);
 * assert.ok(stats.p50 <= stats.p99);
 * ```
 */
export interface DurationStats {
  /** How many were measured. */
  count: number;
  /** Mean duration. */
  mean: number;
  /** Median (of the most recent samples). */
  p50: number;
  /** 99th percentile (of the most recent samples). */
  p99: number;
}

/**
 * What {@linkcode MetricsObserver.snapshot} returns.
 *
 * @example Counts of runs and steps
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, MetricsObserver, type MetricsSnapshot, workflow } from "@sluice/sluice";
 *
 * const metrics = new MetricsObserver();
 * await using runner = new LocalRunner({ observers: [metrics] });
 * await runner.run(workflow<number>("w").step("a", (n) => n + 1).step("b", (n) => n * 2), 1);
 * const snapshot: MetricsSnapshot = metrics.snapshot();
 * assert.equal(snapshot.runs.completed, 1);
 * assert.equal(snapshot.steps.completed, 2);
 * assert.deepEqual(Object.keys(snapshot.stepDurationsByStep), ["w:a", "w:b"]);
 * ```
 */
export interface MetricsSnapshot {
  /** Counts of run events by resulting status. */
  runs: {
    started: number;
    completed: number;
    failed: number;
    cancelled: number;
    waiting: number;
    sleeping: number;
  };
  /** Counts of step attempts. */
  steps: { started: number; completed: number; failed: number; retried: number };
  /** Durations of completed step attempts, all steps together. */
  stepDurations: DurationStats;
  /** Durations by workflow and step key (iteration indexes folded to `#*`). */
  stepDurationsByStep: Record<string, DurationStats>;
}

const SAMPLES = 2048;

class Durations {
  count = 0;
  total = 0;
  samples: number[] = [];
  #next = 0;

  add(ms: number): void {
    this.count++;
    this.total += ms;
    if (this.samples.length < SAMPLES) this.samples.push(ms);
    else {
      this.samples[this.#next] = ms;
      this.#next = (this.#next + 1) % SAMPLES;
    }
  }

  stats(): DurationStats {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    return {
      count: this.count,
      mean: this.count === 0 ? 0 : this.total / this.count,
      p50: at(0.5),
      p99: at(0.99),
    };
  }
}

/**
 * Counts run and step events and measures step durations in memory.
 *
 * @example Count completed runs
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, MetricsObserver, workflow } from "@sluice/sluice";
 *
 * const metrics = new MetricsObserver();
 * await using runner = new LocalRunner({ observers: [metrics] });
 * await runner.run(workflow<number>("w").step("a", (n) => n + 1), 1);
 * assert.equal(metrics.snapshot().runs.completed, 1);
 * ```
 */
export class MetricsObserver implements Observer {
  #runs = { started: 0, completed: 0, failed: 0, cancelled: 0, waiting: 0, sleeping: 0 };
  #steps = { started: 0, completed: 0, failed: 0, retried: 0 };
  #all = new Durations();
  #byStep = new Map<string, Durations>();

  /** Counts a started run. */
  onRunStarted(): void {
    this.#runs.started++;
  }
  /** Counts a completed run. */
  onRunCompleted(): void {
    this.#runs.completed++;
  }
  /** Counts a failed run. */
  onRunFailed(): void {
    this.#runs.failed++;
  }
  /** Counts a cancelled run. */
  onRunCancelled(): void {
    this.#runs.cancelled++;
  }
  /** Counts a suspension. */
  onRunWaiting(e: RunWaitingEvent): void {
    this.#runs[e.status]++;
  }
  /** Counts a started attempt. */
  onStepStarted(): void {
    this.#steps.started++;
  }
  /** Counts a completed attempt and records its duration. */
  onStepCompleted(e: StepCompletedEvent): void {
    this.#steps.completed++;
    this.#all.add(e.durationMs);
    const key = `${e.workflow}:${e.step.replace(/#\d+/g, "#*")}`;
    let durations = this.#byStep.get(key);
    if (!durations) this.#byStep.set(key, durations = new Durations());
    durations.add(e.durationMs);
  }
  /** Counts a failed attempt. */
  onStepFailed(): void {
    this.#steps.failed++;
  }
  /** Counts a scheduled retry. */
  onStepRetried(): void {
    this.#steps.retried++;
  }

  /** The counts and duration statistics so far. */
  snapshot(): MetricsSnapshot {
    const byStep: Record<string, DurationStats> = {};
    for (const [key, durations] of this.#byStep) byStep[key] = durations.stats();
    return {
      runs: { ...this.#runs },
      steps: { ...this.#steps },
      stepDurations: this.#all.stats(),
      stepDurationsByStep: byStep,
    };
  }
}
