/**
 * The interpreter: walks a workflow's runtime nodes for one activation of one
 * run (from a claim until the run completes, fails or suspends).
 *
 * Resuming reads checkpoints only until the first unfinished node of each
 * sequence, and loops keep a progress row, so resume cost does not grow with
 * history. Every completed step is written (fenced by the lease) before the
 * run moves on; rows that can be rebuilt from others (branch, iteration and
 * decision rows) ride along with the next write.
 *
 * @module
 */
import type { Span } from "@opentelemetry/api";
import type { StepContext } from "./builder.ts";
import type { NodeKind, RtBranch, RtNode, RtOf, RtStep } from "./nodes.ts";
import type { Clock, ClockTimer } from "./clock.ts";
import type { DepsScope } from "./deps.ts";
import type {
  Claim,
  Driver,
  Lease,
  RunTransition,
  StepRow,
  StoredEvent,
  WriteBatch,
} from "./driver.ts";
import {
  CancelledError,
  isNonRetryable,
  LeaseLostError,
  RecoveryLimitError,
  SignalTimeoutError,
  StepTimeoutError,
  StorageError,
  toErrorInfo,
} from "./errors.ts";
import type { LogAttributes, Logger } from "./logger.ts";
import type { Observer, ObserverHook } from "./observer.ts";
import type { PlanRetry } from "./plan.ts";
import { endSpan, startRunSpan, startStepSpan, withSpan } from "./telemetry.ts";
import { decodeValue, encodeValue } from "./values.ts";
import { timeAfter, toStoredTime } from "./time.ts";
import { yieldIfDue } from "./yield.ts";

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

/** What an activation needs from the runner or engine that runs it. */
export interface Host {
  readonly driver: Driver;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly maxPayloadBytes: number;
  /** Takeovers in a row after which a run fails with `RecoveryLimitError`. */
  readonly maxRecoveries: number;
  readonly deps: DepsScope;
  readonly middleware: readonly Middleware[];
  readonly overrides: ReadonlyMap<unknown, AnyFn>;
  readonly observers: readonly Observer[];
  emit<K extends ObserverHook>(hook: K, event: Parameters<NonNullable<Observer[K]>>[0]): void;
}

/** Pauses (ms) before each new try of a write that failed on a dropped connection. */
const WRITE_RETRIES: readonly number[] = [25, 100, 250, 500, 1_000];

/** Thrown to unwind when the run suspends on timers or signals. */
const SUSPEND: { readonly control: "suspend" } = Object.freeze({ control: "suspend" });
/** Thrown to unwind when the worker stops gracefully. */
const STOP: { readonly control: "stop" } = Object.freeze({ control: "stop" });

/** A failure of a node, carrying the step key where it happened. */
class StepFailure {
  constructor(readonly error: unknown, readonly step: string) {}
}

interface Waiter {
  until: number | undefined;
  signals: readonly string[] | undefined;
  resolve: () => void;
  reject: (reason: unknown) => void;
  timer: ClockTimer | undefined;
  scope: AbortSignal;
  onAbort: () => void;
}

/** How the walk handles one kind of node (one entry per kind of `NODE_KINDS`). */
interface KindWalk<K extends NodeKind> {
  /** Runs the node; `row` is its pending row when resuming. */
  run(
    activation: Activation,
    node: RtOf<K>,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown>;
  /** The output recorded in the node's `done` row; `input` is the value that flowed in. */
  done(node: RtOf<K>, row: StepRow, input: unknown): unknown;
}

interface StepProgress {
  failures: number;
  until: number;
}

/** Delay before the attempt after `failures` failed ones. */
export function retryDelay(retry: PlanRetry, failures: number): number {
  const grown = retry.initialDelayMs * Math.pow(retry.backoff, failures - 1);
  // 0 × Infinity is NaN: a delay that grew past every bound is the maximum.
  const base = Number.isNaN(grown) ? retry.maxDelayMs : Math.min(retry.maxDelayMs, grown);
  return Math.round(retry.jitter > 0 ? base * (1 - retry.jitter * Math.random()) : base);
}

class Ctx implements StepContext {
  readonly #activation: Activation;
  readonly step: string;
  readonly attempt: number;
  readonly signal: AbortSignal;
  #log: Logger | undefined;

  constructor(activation: Activation, step: string, attempt: number, signal: AbortSignal) {
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

/** Describes a step's output for error messages. */
function stepOutput(key: string): string {
  return `the output of step '${key}'`;
}

/** One activation of one run. */
export class Activation {
  readonly host: Host;
  readonly runId: string;
  readonly workflowName: string;
  readonly version: string;
  readonly lease: Lease;
  readonly input: unknown;
  readonly #nodes: readonly RtNode[];
  readonly #fresh: boolean;
  readonly #controller = new AbortController();
  #pending = new Map<string, StepRow>();
  #pendingEvents: StoredEvent[] = [];
  #running = 1;
  #waiters = new Set<Waiter>();
  #suspended = false;
  #suspendAt: number | undefined;
  #suspendSignals = new Set<string>();
  /** Counts signal arrivals, so a wait can tell one came after it read the inbox. */
  #signalEpoch = 0;
  #stopping = false;
  #span: Span | undefined;
  /** Takeovers in a row before this claim, with no write between them. */
  #recoveries: number;
  /** Whether the next write resets the recovery count (set after a takeover). */
  #clearRecoveries: boolean;
  /** Keys of the steps whose bodies run or whose results are being recorded (for warnings). */
  readonly #inFlight: string[] = [];
  /** Extends this run's lease now; rejects when it is lost. */
  readonly heartbeat: () => Promise<void>;

  constructor(
    host: Host,
    claim: Claim,
    nodes: readonly RtNode[],
    heartbeat: () => Promise<void>,
  ) {
    this.host = host;
    this.heartbeat = heartbeat;
    this.runId = claim.run.id;
    this.workflowName = claim.run.workflow;
    this.version = claim.run.version;
    this.lease = claim.lease;
    this.input = decodeValue(claim.run.input);
    this.#nodes = nodes;
    this.#fresh = claim.lease.token === 1 && claim.previousStatus === "pending";
    this.#recoveries = claim.run.recoveries ?? 0;
    this.#clearRecoveries = this.#recoveries > 0;
  }

  /** Aborts every step in flight (cancel or lease loss); nothing more is written. */
  abort(reason: unknown): void {
    if (this.#controller.signal.aborted) return;
    this.#controller.abort(reason);
  }

  /** Asks the activation to hand its run back after the steps in flight finish. */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const waiter of [...this.#waiters]) this.#release(waiter, STOP);
  }

  /** A signal reached the run's inbox: waiting branches look again. */
  signalArrived(): void {
    this.#signalEpoch++;
    for (const waiter of [...this.#waiters]) {
      if (waiter.signals) this.#wake(waiter);
    }
  }

  get aborted(): boolean {
    return this.#controller.signal.aborted;
  }

  #event(): { runId: string; workflow: string; version: string; at: Date } {
    return {
      runId: this.runId,
      workflow: this.workflowName,
      version: this.version,
      at: new Date(this.host.clock.now()),
    };
  }

  /** Runs the activation to its end; never throws. */
  async execute(): Promise<void> {
    const host = this.host;
    this.#span = startRunSpan(this.runId, this.workflowName);
    let spanError: unknown;
    try {
      const ready = host.deps.ready();
      if (ready) await ready;
      const signal = this.#controller.signal;
      const walk = this.#seq(this.#nodes, this.input, "", !this.#fresh, signal);
      // A cancelled (or taken over) run ends at once, even when a step ignores
      // ctx.signal: its late result could not be written anyway.
      walk.catch(() => {});
      const output = await Promise.race([
        walk,
        new Promise<never>((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        }),
      ]);
      let data: string | undefined;
      try {
        data = encodeValue(output, "the output of the run", host.maxPayloadBytes);
      } catch (error) {
        throw new StepFailure(error, "");
      }
      await this.#commit(
        [{ type: "run.completed", at: host.clock.now() }],
        data === undefined ? { status: "completed" } : { status: "completed", output: data },
      );
      if (host.observers.length) {
        host.emit("onRunCompleted", { ...this.#event(), output });
      }
    } catch (error) {
      spanError = await this.#conclude(error);
    } finally {
      if (this.#span) endSpan(this.#span, spanError);
    }
  }

  /** Records how the activation ended; returns the error for the span, if any. */
  async #conclude(error: unknown): Promise<unknown> {
    const host = this.host;
    try {
      if (error === SUSPEND) {
        const waiting = this.#suspendSignals.size > 0;
        const transition: RunTransition = { status: waiting ? "waiting" : "sleeping" };
        if (this.#suspendAt !== undefined) transition.dueAt = this.#suspendAt;
        if (waiting) transition.waitingFor = [...this.#suspendSignals];
        const detail: Record<string, unknown> = {};
        if (this.#suspendAt !== undefined) detail.wakeAt = this.#suspendAt;
        if (waiting) detail.signals = transition.waitingFor;
        await this.#commit(
          [{
            type: waiting ? "run.waiting" : "run.sleeping",
            at: host.clock.now(),
            detail: JSON.stringify(detail),
          }],
          transition,
        );
        if (host.observers.length) {
          const event: Parameters<NonNullable<Observer["onRunWaiting"]>>[0] = {
            ...this.#event(),
            status: transition.status as "sleeping" | "waiting",
          };
          if (this.#suspendAt !== undefined) event.wakeAt = new Date(this.#suspendAt);
          if (waiting) event.signals = transition.waitingFor!;
          host.emit("onRunWaiting", event);
        }
        return undefined;
      }
      if (error === STOP) {
        await this.#commit([], { status: "running" });
        return undefined;
      }
      const reason = this.aborted ? this.#controller.signal.reason : error;
      if (reason instanceof CancelledError) {
        host.logger.debug(`run ${this.runId} stopped: ${reason.message}`);
        return undefined;
      }
      if (this.aborted || error instanceof LeaseLostError) {
        this.#warnLeaseLost();
        return undefined;
      }
      if (error instanceof StorageError) {
        // The storage failed (e.g. a database restart), not the run: hand the
        // run back if the storage is reachable again, else let its lease
        // expire; either way another activation resumes it.
        host.logger.warn(`run ${this.runId}: storage failed, the run will resume`, {
          error: error.message,
        });
        await this.#commit([], { status: "running" }).catch(() => {});
        return undefined;
      }
      const failure = error instanceof StepFailure ? error : new StepFailure(error, "");
      const info = toErrorInfo(failure.error, failure.step || undefined);
      await this.#commit(
        [{
          type: "run.failed",
          at: host.clock.now(),
          ...(failure.step ? { step: failure.step } : {}),
          detail: JSON.stringify({ error: info }),
        }],
        { status: "failed", error: info },
      );
      if (host.observers.length) {
        const failed = failure.error instanceof Error
          ? failure.error
          : new Error(String(failure.error));
        const event: Parameters<NonNullable<Observer["onRunFailed"]>>[0] = {
          ...this.#event(),
          error: failed,
        };
        if (failure.step) event.step = failure.step;
        host.emit("onRunFailed", event);
      }
      return failure.error;
    } catch (writeError) {
      if (writeError instanceof LeaseLostError) this.#warnLeaseLost();
      else {
        host.logger.error(`run ${this.runId}: cannot record the end of an activation`, {
          error: writeError instanceof Error ? writeError.message : String(writeError),
        });
      }
      return writeError;
    }
  }

  /** A step is no longer in flight (an array: most runs have one step in flight, no hashing). */
  #landed(key: string): void {
    const inFlight = this.#inFlight;
    const at = inFlight.lastIndexOf(key);
    if (at < 0) return;
    inFlight[at] = inFlight[inFlight.length - 1]!;
    inFlight.pop();
  }

  /** Lease loss is worth a warning: the steps in flight may run again elsewhere. */
  #warnLeaseLost(): void {
    const steps = [...new Set(this.#inFlight)];
    this.host.logger.warn(
      `run ${this.runId}: lost its lease${
        steps.length ? ` with step ${steps.map((key) => `'${key}'`).join(", ")} in flight` : ""
      }; another worker owns the run now`,
      { runId: this.runId, steps },
    );
  }

  // ---- writes --------------------------------------------------------------

  #queue(row: StepRow): void {
    this.#pending.set(row.key, row);
  }

  #takeBatch(): { steps: StepRow[]; events: StoredEvent[] } {
    const steps = this.#pending.size ? [...this.#pending.values()] : [];
    this.#pending.clear();
    const events = this.#pendingEvents;
    this.#pendingEvents = [];
    return { steps, events };
  }

  /**
   * Writes everything queued, plus `events` and an optional run transition;
   * a write that fails on a dropped connection is tried again.
   */
  #commit(events: StoredEvent[], run?: RunTransition, row?: StepRow): Promise<void> {
    const queued = this.#takeBatch();
    if (row) queued.steps.push(row);
    if (events.length) queued.events.push(...events);
    const batch: WriteBatch = run ? { ...queued, run } : queued;
    return this.#write(batch, this.host.clock.now());
  }

  /** Writes one completed step row, with whatever is queued. */
  #record(row: StepRow): Promise<void> {
    if (
      this.#pending.size === 0 && this.#pendingEvents.length === 0 && !this.#clearRecoveries
    ) {
      const batch: WriteBatch = { steps: [row] };
      const written = this.host.driver.write(this.lease, batch, row.finishedAt!);
      // Only storage outside this process can drop a connection: the memory
      // driver's hot path stays one promise.
      if (!this.host.driver.shared) return written;
      return written.catch((error) => this.#writeAgain(batch, row.finishedAt!, error));
    }
    return this.#commit([], undefined, row);
  }

  /** Writes a batch under the lease; the first write after a takeover clears the count. */
  #write(batch: WriteBatch, now: number): Promise<void> {
    if (this.#clearRecoveries) {
      batch.clearRecoveries = true;
      this.#clearRecoveries = false;
      this.#recoveries = 0;
    }
    return this.host.driver.write(this.lease, batch, now).catch((error) =>
      this.#writeAgain(batch, now, error)
    );
  }

  /**
   * Tries a write again, with backoff, after a transient storage failure (a
   * dropped connection), so that losing a connection costs milliseconds, not
   * the lease. Any other error (`LeaseLostError` above all) is thrown at once.
   */
  async #writeAgain(batch: WriteBatch, now: number, error: unknown): Promise<void> {
    for (let attempt = 1;; attempt++) {
      if (!(error instanceof StorageError && error.transient) || attempt > WRITE_RETRIES.length) {
        throw error;
      }
      this.host.logger.warn(`run ${this.runId}: a write failed on the connection; trying again`, {
        runId: this.runId,
        attempt,
        error: error.message,
      });
      await new Promise((resolve) => setTimeout(resolve, WRITE_RETRIES[attempt - 1]));
      if (this.aborted) throw this.#controller.signal.reason;
      try {
        return await this.host.driver.write(this.lease, batch, now);
      } catch (again) {
        // The first try may have committed before the connection dropped: the
        // run is then no longer ours to write, which is what it looks like.
        if (again instanceof LeaseLostError && batch.run !== undefined) {
          this.host.logger.info(`run ${this.runId}: its final write had committed already`);
          return;
        }
        error = again;
      }
    }
  }

  #read(keys: readonly string[]): Promise<Map<string, StepRow>> {
    return this.host.driver.readSteps(this.runId, keys);
  }

  #encode(value: unknown, what: string, key: string): string | undefined {
    try {
      return encodeValue(value, what, this.host.maxPayloadBytes);
    } catch (error) {
      throw new StepFailure(error, key);
    }
  }

  /**
   * Calls a user function of the plan (condition, count, items, wake time,
   * onTimeout) with the value and the workflow input, failing the node on error.
   */
  async #call(key: string, fn: AnyFn, value: unknown): Promise<unknown> {
    try {
      return await fn(value, this.input);
    } catch (error) {
      throw new StepFailure(error, key);
    }
  }

  // ---- waiting --------------------------------------------------------------

  #noteSuspend(until: number | undefined, signals: readonly string[] | undefined): void {
    this.#suspended = true;
    if (until !== undefined && (this.#suspendAt === undefined || until < this.#suspendAt)) {
      this.#suspendAt = until;
    }
    if (signals) { for (const name of signals) this.#suspendSignals.add(name); }
  }

  /**
   * Waits until `until` or until one of `signals` may have arrived. When no
   * other branch is running, the whole run suspends instead (throws SUSPEND).
   */
  async #waitFor(
    until: number | undefined,
    signals: readonly string[] | undefined,
    scope: AbortSignal,
    epoch: number = this.#signalEpoch,
  ): Promise<void> {
    // A signal that arrived after the caller read the inbox found no waiter
    // to wake: return so the caller reads the inbox again.
    if (signals !== undefined && epoch !== this.#signalEpoch) return;
    if (this.#running === 1 && this.#waiters.size === 0) {
      this.#noteSuspend(until, signals);
      throw SUSPEND;
    }
    if (this.#pending.size > 0 || this.#pendingEvents.length > 0) await this.#commit([]);
    if (scope.aborted) throw scope.reason;
    if (this.#stopping) throw STOP;
    if (this.#suspended) throw SUSPEND;
    if (until !== undefined && until <= this.host.clock.now()) return;
    if (signals !== undefined && epoch !== this.#signalEpoch) return;
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        until,
        signals,
        resolve,
        reject,
        timer: undefined,
        scope,
        onAbort: () => this.#release(waiter, scope.reason),
      };
      this.#waiters.add(waiter);
      this.#running--;
      if (until !== undefined) {
        waiter.timer = this.host.clock.setTimer(until, () => this.#wake(waiter));
      }
      scope.addEventListener("abort", waiter.onAbort, { once: true });
      if (this.#running === 0) this.#suspendAll();
    });
  }

  #detach(waiter: Waiter): boolean {
    if (!this.#waiters.delete(waiter)) return false;
    waiter.timer?.cancel();
    waiter.scope.removeEventListener("abort", waiter.onAbort);
    return true;
  }

  #wake(waiter: Waiter): void {
    if (!this.#detach(waiter)) return;
    this.#running++;
    waiter.resolve();
  }

  #release(waiter: Waiter, reason: unknown): void {
    if (!this.#detach(waiter)) return;
    this.#running++;
    waiter.reject(reason);
  }

  #suspendAll(): void {
    const waiters = [...this.#waiters];
    for (const waiter of waiters) {
      this.#noteSuspend(waiter.until, waiter.signals);
      this.#detach(waiter);
      waiter.reject(SUSPEND);
    }
  }

  // ---- the walk ---------------------------------------------------------------

  async #seq(
    nodes: readonly RtNode[],
    value: unknown,
    prefix: string,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    let rows: Map<string, StepRow> | undefined;
    if (replay && nodes.length > 0) rows = await this.#read(nodes.map((n) => prefix + n.name));
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      if (scope.aborted) throw scope.reason;
      if (this.#stopping) throw STOP;
      const key = prefix + node.name;
      if (rows !== undefined) {
        const row = rows.get(key);
        if (row?.state === "done") {
          value = this.#doneValue(node, row, value);
          continue;
        }
        rows = undefined;
        value = await this.#node(node, value, key, row, true, scope);
      } else {
        value = await this.#node(node, value, key, undefined, false, scope);
      }
    }
    return value;
  }

  /** The output recorded in a node's `done` row; `input` is the value that flowed in. */
  #doneValue(node: RtNode, row: StepRow, input: unknown): unknown {
    return (Activation.#kinds[node.kind] as KindWalk<NodeKind>).done(node, row, input);
  }

  #node(
    node: RtNode,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    const walk = Activation.#kinds[node.kind] as KindWalk<NodeKind>;
    return walk.run(this, node, value, key, row, replay, scope);
  }

  /** How the walk runs each kind of node, and reads its output back from its `done` row. */
  static #kinds: { readonly [K in NodeKind]: KindWalk<K> };
  static {
    const recorded = (_node: unknown, row: StepRow) => decodeValue(row.data);
    const passThrough = (_node: unknown, _row: StepRow, input: unknown) => input;
    const waited = (node: RtOf<"waitForSignal">, row: StepRow) => {
      const record = decodeValue(row.data) as {
        signal?: string;
        payload?: unknown;
        timedOut?: true;
        value?: unknown;
      };
      if (record.timedOut) return record.value;
      return node.kind === "waitForAnySignal"
        ? { signal: record.signal, payload: record.payload }
        : record.payload;
    };
    Activation.#kinds = {
      step: {
        run: (a, node, v, key, row, _, scope) => a.#step(node, v, key, row, scope),
        done: recorded,
      },
      flow: {
        run: (a, node, v, key, _, replay, scope) => a.#flow(node, v, key, replay, scope),
        done: recorded,
      },
      if: {
        run: (a, node, v, key, row, replay, scope) => a.#if(node, v, key, row, replay, scope),
        done: recorded,
      },
      parallel: {
        run: (a, node, v, key, _, replay, scope) => a.#parallel(node, v, key, replay, scope),
        done: recorded,
      },
      loop: {
        run: (a, node, v, key, row, replay, scope) => a.#loop(node, v, key, row, replay, scope),
        done: recorded,
      },
      while: {
        run: (a, node, v, key, row, replay, scope) => a.#loop(node, v, key, row, replay, scope),
        done: recorded,
      },
      map: {
        run: (a, node, v, key, _, replay, scope) => a.#map(node, v, key, replay, scope),
        done: recorded,
      },
      sleep: {
        run: (a, node, v, key, row, _, scope) => a.#sleep(node, v, key, row, scope),
        done: passThrough,
      },
      sleepUntil: {
        run: (a, node, v, key, row, _, scope) => a.#sleep(node, v, key, row, scope),
        done: passThrough,
      },
      waitForSignal: {
        run: (a, node, v, key, row, _, scope) => a.#wait(node, v, key, row, scope),
        done: waited,
      },
      waitForAnySignal: {
        run: (a, node, v, key, row, _, scope) => a.#wait(node, v, key, row, scope),
        done: waited,
      },
    };
  }

  async #flow(
    node: Extract<RtNode, { kind: "flow" }>,
    value: unknown,
    key: string,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    const output = await this.#seq(node.nodes, value, key + "/", replay, scope);
    const data = this.#encode(output, `the output of '${key}'`, key);
    const row: StepRow = { key, kind: "flow", state: "done", finishedAt: this.host.clock.now() };
    if (data !== undefined) row.data = data;
    this.#queue(row);
    return output;
  }

  /** Runs a branch or body at `key`; in replay mode it first reads the branch's row. */
  async #branch(
    branch: RtBranch,
    value: unknown,
    key: string,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    if (!replay) return this.#node(branch, value, key, undefined, false, scope);
    const row = (await this.#read([key])).get(key);
    if (row?.state === "done") return this.#doneValue(branch, row, value);
    return this.#node(branch, value, key, row, true, scope);
  }

  async #step(
    node: RtStep,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    scope: AbortSignal,
  ): Promise<unknown> {
    const host = this.host;
    let failures = 0;
    if (row !== undefined && row.data !== undefined) {
      const progress = JSON.parse(row.data) as StepProgress;
      failures = progress.failures;
      if (progress.until > host.clock.now()) await this.#waitFor(progress.until, undefined, scope);
    }
    for (;;) {
      if (scope.aborted) throw scope.reason;
      const attempt = failures + 1;
      const startedAt = host.clock.now();
      if (host.observers.length) {
        host.emit("onStepStarted", { ...this.#event(), step: key, attempt });
      }
      let output: unknown;
      this.#inFlight.push(key);
      try {
        output = await this.#attempt(node, value, key, attempt, scope);
      } catch (error) {
        this.#landed(key);
        if (scope.aborted) throw scope.reason;
        failures++;
        const retry = node.retry;
        const final = retry === undefined || failures >= retry.maxAttempts ||
          isNonRetryable(error);
        const now = host.clock.now();
        if (host.observers.length) {
          host.emit("onStepFailed", {
            ...this.#event(),
            step: key,
            attempt,
            durationMs: now - startedAt,
            error,
            willRetry: !final,
          });
        }
        this.#pendingEvents.push({
          type: "step.failed",
          at: now,
          step: key,
          attempt,
          detail: JSON.stringify({ error: toErrorInfo(error), startedAt }),
        });
        if (final) throw new StepFailure(error, key);
        const delay = retryDelay(retry, failures);
        const until = timeAfter(now, delay);
        this.#queue({
          key,
          kind: "step",
          state: "pending",
          data: JSON.stringify({ failures, until } satisfies StepProgress),
          attempt,
          startedAt,
          finishedAt: now,
        });
        this.#pendingEvents.push({
          type: "step.retried",
          at: now,
          step: key,
          attempt: attempt + 1,
          detail: JSON.stringify({ wakeAt: until, delayMs: delay }),
        });
        if (host.observers.length) {
          host.emit("onStepRetried", {
            ...this.#event(),
            step: key,
            attempt: attempt + 1,
            delayMs: delay,
            wakeAt: new Date(until),
          });
        }
        if (delay > 0) await this.#waitFor(until, undefined, scope);
        continue;
      }
      let data: string | undefined;
      try {
        data = encodeValue(output, () => stepOutput(key), host.maxPayloadBytes);
      } catch (error) {
        this.#pendingEvents.push({
          type: "step.failed",
          at: host.clock.now(),
          step: key,
          attempt,
          detail: JSON.stringify({ error: toErrorInfo(error) }),
        });
        this.#landed(key);
        throw new StepFailure(error, key);
      }
      const finishedAt = host.clock.now();
      const done: StepRow = { key, kind: "step", state: "done", attempt, startedAt, finishedAt };
      if (data !== undefined) done.data = data;
      // The step stays in flight until its result is recorded.
      await this.#record(done);
      this.#landed(key);
      // Between write cycles, let the process's event loop run (timers,
      // heartbeats, signals, the host's own I/O): see yield.ts.
      const pause = yieldIfDue(host.clock);
      if (pause) await pause;
      if (host.observers.length) {
        host.emit("onStepCompleted", {
          ...this.#event(),
          step: key,
          attempt,
          durationMs: finishedAt - startedAt,
          output,
        });
      }
      return output;
    }
  }

  /** One attempt of a step: override, middleware, timeout and span. */
  #attempt(
    node: RtStep,
    value: unknown,
    key: string,
    attempt: number,
    scope: AbortSignal,
  ): Promise<unknown> {
    const host = this.host;
    if (this.#recoveries > host.maxRecoveries) {
      // Taken over again and again with this step in flight: it blocks or
      // kills its worker, so fail the run (not retryable) instead of running it.
      const limit = new RecoveryLimitError(this.runId, key, this.#recoveries, host.maxRecoveries);
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
    const ctx = new Ctx(this, key, attempt, controller ? controller.signal : scope);
    const middleware = host.middleware;
    if (middleware.length === 0 && timeoutMs === undefined && this.#span === undefined) {
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
    const span = this.#span &&
      startStepSpan(this.#span, this.runId, this.workflowName, key, attempt);
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

  async #if(
    node: Extract<RtNode, { kind: "if" }>,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    let taken: "then" | "else";
    if (row?.state === "pending" && row.data !== undefined) {
      taken = (JSON.parse(row.data) as { branch: "then" | "else" }).branch;
    } else {
      taken = (await this.#call(key, node.cond, value)) ? "then" : "else";
      this.#queue({ key, kind: "if", state: "pending", data: JSON.stringify({ branch: taken }) });
    }
    const branch = taken === "then" ? node.then : node.otherwise;
    const output = branch
      ? await this.#branch(branch, value, `${key}/${taken}`, replay, scope)
      : value;
    this.#queueDone(key, "if", output);
    return output;
  }

  async #loop(
    node: Extract<RtNode, { kind: "loop" | "while" }>,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    let index = 0;
    let current = value;
    if (row?.state === "pending" && row.data !== undefined) {
      // Progress holds only the next index; the value is the previous
      // iteration's recorded output (written no later than the progress row).
      const next = (JSON.parse(row.data) as { next: number }).next;
      const last = `${key}#${next - 1}`;
      const previous = next > 0 ? (await this.#read([last])).get(last) : undefined;
      if (previous?.state === "done") {
        index = next;
        current = this.#doneValue(node.body, previous, undefined);
      }
    }
    let times = Infinity;
    if (node.kind === "loop") {
      const count = typeof node.times === "number"
        ? node.times
        : await this.#call(key, node.times, value);
      if (typeof count !== "number" || !Number.isInteger(count) || count < 0) {
        throw new StepFailure(
          new TypeError(
            `Cannot run loop '${key}' ${
              String(count)
            } times: the count must be an integer of 0 or more`,
          ),
          key,
        );
      }
      times = count;
    }
    for (;; index++) {
      if (scope.aborted) throw scope.reason;
      if (this.#stopping) throw STOP;
      if (node.kind === "loop") {
        if (index >= times) break;
      } else {
        if (!(await this.#call(key, node.cond, current))) break;
        if (index >= node.maxIterations) {
          throw new StepFailure(
            new RangeError(
              `While '${key}' reached its limit of ${node.maxIterations} iterations with its condition still true: raise 'maxIterations' or fix the condition`,
            ),
            key,
          );
        }
      }
      current = await this.#branch(node.body, current, `${key}#${index}`, replay, scope);
      replay = false;
      this.#queue({
        key,
        kind: node.kind,
        state: "pending",
        data: JSON.stringify({ next: index + 1 }),
      });
    }
    const done: StepRow = {
      key,
      kind: node.kind,
      state: "done",
      finishedAt: this.host.clock.now(),
    };
    const data = this.#encode(current, `the output of '${key}'`, key);
    if (data !== undefined) done.data = data;
    this.#queue(done);
    return current;
  }

  async #parallel(
    node: Extract<RtNode, { kind: "parallel" }>,
    value: unknown,
    key: string,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    const keys = node.branches.map((b) => `${key}/${b.name}`);
    const rows = replay ? await this.#read(keys) : undefined;
    const results = await this.#forkJoin(
      node.branches.length,
      node.concurrency ?? node.branches.length,
      (i, signal) => {
        const branch = node.branches[i]!;
        const row = rows?.get(keys[i]!);
        if (row?.state === "done") return Promise.resolve(this.#doneValue(branch, row, value));
        return this.#node(branch, value, keys[i]!, row, replay, signal);
      },
      scope,
    );
    const output = node.shape === "tuple"
      ? results
      : Object.fromEntries(node.branches.map((b, i) => [b.name, results[i]]));
    this.#queueDone(key, "parallel", output);
    return output;
  }

  async #map(
    node: Extract<RtNode, { kind: "map" }>,
    value: unknown,
    key: string,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    const items = await this.#call(key, node.items, value);
    if (!Array.isArray(items)) {
      throw new StepFailure(
        new TypeError(
          `Cannot map over ${typeof items} in '${key}': the items function must return an array`,
        ),
        key,
      );
    }
    const keys = items.map((_, i) => `${key}#${i}`);
    let rows: Map<string, StepRow> | undefined;
    if (replay && keys.length > 0) {
      rows = new Map();
      for (let i = 0; i < keys.length; i += 500) {
        for (const [k, r] of await this.#read(keys.slice(i, i + 500))) rows.set(k, r);
      }
    }
    const results = await this.#forkJoin(
      items.length,
      node.concurrency ?? items.length,
      (i, signal) => {
        const row = rows?.get(keys[i]!);
        if (row?.state === "done") {
          return Promise.resolve(this.#doneValue(node.body, row, items[i]));
        }
        return this.#node(node.body, items[i], keys[i]!, row, replay, signal);
      },
      scope,
    );
    this.#queueDone(key, "map", results);
    return results;
  }

  #queueDone(key: string, kind: string, output: unknown): void {
    const row: StepRow = { key, kind, state: "done", finishedAt: this.host.clock.now() };
    const data = this.#encode(output, `the output of '${key}'`, key);
    if (data !== undefined) row.data = data;
    this.#queue(row);
  }

  /**
   * Runs `count` children with at most `limit` in flight. The first failure
   * aborts the others (through their AbortSignal) and fails the whole; the
   * parent thread resumes once every started child has settled.
   */
  #forkJoin(
    count: number,
    limit: number,
    child: (index: number, signal: AbortSignal) => Promise<unknown>,
    parent: AbortSignal,
  ): Promise<unknown[]> {
    if (count === 0) return Promise.resolve([]);
    if (parent.aborted) return Promise.reject(parent.reason);
    const controller = new AbortController();
    const onParentAbort = () => controller.abort(parent.reason);
    parent.addEventListener("abort", onParentAbort, { once: true });
    const results: unknown[] = new Array(count);
    let next = 0;
    let settled = 0;
    let failure: { error: unknown } | undefined;
    let control: unknown;
    return new Promise<unknown[]>((resolve, reject) => {
      const settle = (index: number, ok: boolean, value: unknown) => {
        settled++;
        if (ok) results[index] = value;
        else if (value === STOP) control = STOP;
        else if (value === SUSPEND) control ??= SUSPEND;
        else if (parent.aborted) control = parent.reason;
        else if (!(controller.signal.aborted && value === controller.signal.reason)) {
          if (!failure) {
            failure = { error: value };
            controller.abort(value instanceof StepFailure ? value.error : value);
          }
        }
        const more = next < count && !failure && control === undefined && !this.#suspended &&
          !this.#stopping && !controller.signal.aborted;
        if (more) {
          launch();
          this.#running--;
          return;
        }
        if (settled === next) {
          parent.removeEventListener("abort", onParentAbort);
          if (failure) reject(failure.error);
          else if (control !== undefined) reject(control);
          else if (next < count) reject(this.#stopping ? STOP : SUSPEND);
          else resolve(results);
          return;
        }
        this.#running--;
        if (this.#running === 0 && this.#waiters.size > 0 && !this.#suspended) this.#suspendAll();
      };
      const launch = () => {
        const index = next++;
        this.#running++;
        let started: Promise<unknown>;
        try {
          started = child(index, controller.signal);
        } catch (error) {
          started = Promise.reject(error);
        }
        started.then((v) => settle(index, true, v), (e) => settle(index, false, e));
      };
      const initial = Math.min(limit, count);
      for (let i = 0; i < initial; i++) launch();
      // The parent stops counting as running only once every child counts, so
      // a child that waits at once does not take itself for the only runner
      // (and suspend the run without noting its siblings' timers and signals).
      this.#running--;
      if (this.#running === 0 && this.#waiters.size > 0 && !this.#suspended) this.#suspendAll();
    });
  }

  async #sleep(
    node: Extract<RtNode, { kind: "sleep" | "sleepUntil" }>,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    scope: AbortSignal,
  ): Promise<unknown> {
    const now = this.host.clock.now();
    let until: number;
    if (row?.data !== undefined) {
      until = (JSON.parse(row.data) as { until: number }).until;
    } else {
      if (node.kind === "sleep") until = timeAfter(now, node.durationMs);
      else if (typeof node.at === "number") until = node.at;
      else {
        const target = await this.#call(key, node.at, value);
        try {
          until = toStoredTime(target, `the time returned by sleepUntil '${key}'`);
        } catch (error) {
          throw new StepFailure(error, key);
        }
      }
      if (until > now) {
        this.#queue({
          key,
          kind: "sleep",
          state: "pending",
          data: JSON.stringify({ until }),
          startedAt: now,
        });
      }
    }
    if (until > this.host.clock.now()) await this.#waitFor(until, undefined, scope);
    this.#queue({ key, kind: "sleep", state: "done", finishedAt: this.host.clock.now() });
    return value;
  }

  async #wait(
    node: Extract<RtNode, { kind: "waitForSignal" | "waitForAnySignal" }>,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    scope: AbortSignal,
  ): Promise<unknown> {
    const host = this.host;
    let until: number | undefined;
    let startedAt = host.clock.now();
    if (row?.data !== undefined) {
      const progress = JSON.parse(row.data) as { until?: number; startedAt?: number };
      until = progress.until;
      startedAt = row.startedAt ?? startedAt;
    } else if (node.timeoutMs !== undefined) {
      until = timeAfter(startedAt, node.timeoutMs);
    }
    let recorded = row !== undefined;
    for (;;) {
      if (scope.aborted) throw scope.reason;
      const batch = this.#takeBatch();
      const epoch = this.#signalEpoch;
      const done: StepRow = {
        key,
        kind: "wait",
        state: "done",
        startedAt,
        finishedAt: host.clock.now(),
      };
      const got = await host.driver.consumeSignal(
        this.lease,
        node.signals,
        done,
        batch,
        host.clock.now(),
      );
      if (got) {
        const payload = decodeValue(got.payload);
        return node.kind === "waitForAnySignal" ? { signal: got.name, payload } : payload;
      }
      const now = host.clock.now();
      if (until !== undefined && now >= until) {
        if (!node.onTimeout) throw new StepFailure(new SignalTimeoutError(key, node.signals), key);
        const output = await this.#call(key, node.onTimeout, value);
        const data = this.#encode({ timedOut: true, value: output }, `the output of '${key}'`, key);
        await this.#record({ ...done, finishedAt: now, data });
        return output;
      }
      if (!recorded) {
        recorded = true;
        this.#queue({
          key,
          kind: "wait",
          state: "pending",
          data: JSON.stringify(until === undefined ? {} : { until }),
          startedAt,
        });
      }
      await this.#waitFor(until, node.signals, scope, epoch);
    }
  }
}
