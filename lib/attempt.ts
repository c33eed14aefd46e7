/**
 * The attempt pipeline: one attempt of a step (its context, then override →
 * middleware → span → timeout) and the delay before the next attempt.
 *
 * @module
 */
import type { Span } from "@opentelemetry/api";
import type { StepContext } from "./builder.ts";
import type { RtStep } from "./nodes.ts";
import type { Clock } from "./clock.ts";
import type { DepsScope } from "./deps.ts";
import { RecoveryLimitError, StepTimeoutError } from "./errors.ts";
import type { LogAttributes, Logger } from "./logger.ts";
import type { PlanRetry } from "./plan.ts";
import type { SignalOptions } from "./records.ts";
import { checkSignalOptions } from "./validate.ts";
import { endSpan, startStepSpan, withSpan } from "./telemetry.ts";
import { timeAfter } from "./time.ts";

/**
 * Wraps every step execution; call `next()` to run the step (and the inner
 * middleware). Middleware run outermost first; a throwing middleware fails the
 * step attempt like the step itself.
 *
 * @example Time every step
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type Middleware, workflow } from "@sluice/sluice";
 *
 * const timed: string[] = [];
 * const timing: Middleware = async (ctx, next) => {
 *   const started = performance.now();
 *   try {
 *     return await next();
 *   } finally {
 *     ctx.log.info(`${ctx.step} took ${performance.now() - started}ms`);
 *     timed.push(ctx.step);
 *   }
 * };
 * await using runner = new LocalRunner({ middleware: [timing] });
 * const wf = workflow<number>("w").step("a", (n) => n + 1).step("b", (n) => n * 2);
 * assert.equal(await runner.run(wf, 1), 4);
 * assert.deepEqual(timed, ["a", "b"]);
 * ```
 */
export type Middleware = (ctx: StepContext, next: () => Promise<unknown>) => Promise<unknown>;

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

/** @internal What an attempt needs from the runner or engine. */
export interface AttemptHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Takeovers in a row after which a run fails with `RecoveryLimitError`. */
  readonly maxRecoveries: number;
  readonly deps: DepsScope;
  readonly middleware: readonly Middleware[];
  readonly overrides: ReadonlyMap<unknown, AnyFn>;
  /** Sends a signal through the front door (`RunClient.signal`). */
  signalRun(runId: string, name: string, payload: unknown, options: SignalOptions): Promise<void>;
}

/** @internal What an attempt needs from its activation. */
export interface AttemptOwner {
  readonly host: AttemptHost;
  readonly runId: string;
  readonly workflowName: string;
  readonly input: unknown;
  /** The run's span, when tracing is on. */
  readonly span: Span | undefined;
  /** Takeovers in a row before this claim, with no write between them. */
  readonly recoveries: number;
  /** Extends this run's lease now; rejects when it is lost. */
  readonly heartbeat: () => Promise<void>;
  /** Merges labels onto the run with the next write; throws for bad labels. */
  setLabels(labels: unknown): void;
}

/** @internal */
/** Delay before the attempt after `failures` failed ones. */
export function retryDelay(retry: PlanRetry, failures: number): number {
  const grown = retry.initialDelayMs * Math.pow(retry.backoff, failures - 1);
  // 0 × Infinity is NaN: a delay that grew past every bound is the maximum.
  const base = Number.isNaN(grown) ? retry.maxDelayMs : Math.min(retry.maxDelayMs, grown);
  return Math.round(retry.jitter > 0 ? base * (1 - retry.jitter * Math.random()) : base);
}

class Ctx implements StepContext {
  readonly #activation: AttemptOwner;
  readonly step: string;
  readonly attempt: number;
  readonly signal: AbortSignal;
  #log: Logger | undefined;
  /** `signalRun` calls so far in this attempt. */
  #signals = 0;

  constructor(activation: AttemptOwner, step: string, attempt: number, signal: AbortSignal) {
    this.#activation = activation;
    this.step = step;
    this.attempt = attempt;
    this.signal = signal;
  }
  get runId(): string {
    return this.#activation.runId;
  }
  get workflow(): string {
    return this.#activation.workflowName;
  }
  get idempotencyKey(): string {
    return `${this.#activation.runId}:${this.step}`;
  }
  get input(): unknown {
    return this.#activation.input;
  }
  get log(): Logger {
    return this.#log ??= childLogger(this.#activation.host.logger, {
      runId: this.#activation.runId,
      workflow: this.#activation.workflowName,
      step: this.step,
      attempt: this.attempt,
    });
  }
  get deps(): StepContext["deps"] {
    return this.#activation.host.deps.values as StepContext["deps"];
  }
  heartbeat(): Promise<void> {
    return this.#activation.heartbeat();
  }
  now(): Date {
    return new Date(this.#activation.host.clock.now());
  }
  setLabels(labels: Record<string, string>): void {
    this.#activation.setLabels(labels);
  }
  async signalRun(
    runId: string,
    name: string,
    payload?: unknown,
    options?: SignalOptions,
  ): Promise<void> {
    checkSignalOptions(options);
    const position = ++this.#signals;
    const id = options?.id ?? await signalRunId(this.idempotencyKey, runId, name, position);
    await this.#activation.host.signalRun(runId, name, payload, { id });
  }
}

/** Longest derived id kept readable; longer ones (or non-ASCII ones) are hashed. */
const READABLE_ID = /^[\x21-\x7e]{1,255}$/;

/**
 * The id of the `position`-th `ctx.signalRun` call of an attempt: the step's
 * idempotency key, the target, the name and the position, joined by `>`; when
 * that breaks the run-id rules (too long), `sha256:` and its hex digest.
 */
async function signalRunId(
  key: string,
  target: string,
  name: string,
  position: number,
): Promise<string> {
  const id = `${key}>${target}>${name}>${position}`;
  if (READABLE_ID.test(id)) return id;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(id));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return `sha256:${hex}`;
}

function childLogger(logger: Logger, base: LogAttributes): Logger {
  const merge = (attributes?: LogAttributes) => attributes ? { ...base, ...attributes } : base;
  return {
    debug: (message, attributes) => logger.debug(message, merge(attributes)),
    info: (message, attributes) => logger.info(message, merge(attributes)),
    warn: (message, attributes) => logger.warn(message, merge(attributes)),
    error: (message, attributes) => logger.error(message, merge(attributes)),
  };
}

/**
 * @internal One attempt of a step: the context, then override → middleware →
 * span → timeout. Fails at once (not retryable) when the run was taken over
 * more than `maxRecoveries` times in a row with this step in flight.
 */
export function runAttempt(
  owner: AttemptOwner,
  node: RtStep,
  value: unknown,
  key: string,
  attempt: number,
  scope: AbortSignal,
): Promise<unknown> {
  const host = owner.host;
  if (owner.recoveries > host.maxRecoveries) {
    // Taken over again and again with this step in flight: it blocks or
    // kills its worker, so fail the run (not retryable) instead of running it.
    const limit = new RecoveryLimitError(owner.runId, key, owner.recoveries, host.maxRecoveries);
    return Promise.reject(limit);
  }
  const overrides = host.overrides;
  const fn: AnyFn = overrides.size === 0
    ? node.fn
    : overrides.get(node.def) ?? overrides.get(key) ??
      (node.label ? undefined : overrides.get(node.name)) ?? node.fn;
  const timeoutMs = node.timeoutMs;
  let controller: AbortController | undefined;
  let onScopeAbort: (() => void) | undefined;
  if (timeoutMs !== undefined) {
    const own = controller = new AbortController();
    onScopeAbort = () => own.abort(scope.reason);
    if (scope.aborted) own.abort(scope.reason);
    else scope.addEventListener("abort", onScopeAbort, { once: true });
  }
  const ctx = new Ctx(owner, key, attempt, controller ? controller.signal : scope);
  const middleware = host.middleware;
  if (middleware.length === 0 && timeoutMs === undefined && owner.span === undefined) {
    try {
      return Promise.resolve(fn(value, ctx));
    } catch (error) {
      return Promise.reject(error);
    }
  }
  let invoke: () => Promise<unknown> = () => Promise.resolve(fn(value, ctx));
  for (let i = middleware.length - 1; i >= 0; i--) {
    const outer = middleware[i]!;
    const inner = invoke;
    invoke = () => outer(ctx, inner);
  }
  const span = owner.span &&
    startStepSpan(owner.span, owner.runId, owner.workflowName, key, attempt);
  if (span) {
    const plain = invoke;
    invoke = () => withSpan(span, plain);
  }
  let run: Promise<unknown>;
  try {
    run = Promise.resolve(invoke());
  } catch (error) {
    run = Promise.reject(error);
  }
  if (timeoutMs !== undefined) {
    const own = controller!;
    run = new Promise<unknown>((resolve, reject) => {
      const timer = host.clock.setTimer(timeAfter(host.clock.now(), timeoutMs), () => {
        const error = new StepTimeoutError(key, timeoutMs);
        own.abort(error);
        reject(error);
      });
      run.then(resolve, reject).finally(() => {
        timer.cancel();
        scope.removeEventListener("abort", onScopeAbort!);
      });
    });
  }
  if (span) {
    run = run.then(
      (output) => {
        endSpan(span);
        return output;
      },
      (error) => {
        endSpan(span, error);
        throw error;
      },
    );
  }
  return run;
}
