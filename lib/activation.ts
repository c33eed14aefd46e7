/**
 * An activation's lifecycle and writes: the part of the interpreter that is
 * not the tree walk. It writes through a lease-bound store (`lease_store.ts`)
 * and leaves waiting and suspending to `suspension.ts`.
 *
 * @module
 */
import type { Span } from "@opentelemetry/api";
import type { RtNode } from "./nodes.ts";
import type { Claim, Lease, RunTransition, StepRow, StoredEvent, WriteBatch } from "./driver.ts";
import { CancelledError, LeaseLostError, StorageError, toErrorInfo } from "./errors.ts";
import { encodeEventDetail, type EventDetails, failedDetail } from "./formats.ts";
import type { Observer, ObserverHook } from "./observer.ts";
import { notify, type ObserverEvent } from "./recorder.ts";
import { endSpan, startRunSpan } from "./telemetry.ts";
import { decodeValue, encodeValue } from "./values.ts";
import type { AttemptHost } from "./attempt.ts";
import { type ActivityAwareClock, clockActivity } from "./clock.ts";
import type { LeaseStore } from "./lease_store.ts";
import { StepFailure, STOP, SUSPEND, Suspension } from "./suspension.ts";

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

/** What an activation needs from the runner or engine that runs it (storage comes as a LeaseStore). */
export interface Host extends AttemptHost {
  readonly maxPayloadBytes: number;
  readonly observers: readonly Observer[];
  emit<K extends ObserverHook>(hook: K, event: Parameters<NonNullable<Observer[K]>>[0]): void;
}

/**
 * @internal One activation of one run, without its walk: who it is, how it
 * writes (queued rows ride along with the next write, under the lease) and how
 * it ends (completed, failed, suspended, handed back or lost). The tree walk
 * (`lib/interpreter.ts`) extends it.
 */
export abstract class ActivationCore {
  readonly host: Host;
  readonly runId: string;
  readonly workflowName: string;
  readonly version: string;
  readonly lease: Lease;
  readonly input: unknown;
  readonly #nodes: readonly RtNode[];
  readonly #fresh: boolean;
  readonly #controller = new AbortController();
  protected readonly store: LeaseStore;
  protected readonly suspension: Suspension;
  #pending = new Map<string, StepRow>();
  protected pendingEvents: StoredEvent[] = [];
  #span: Span | undefined;
  /** Takeovers in a row before this claim, with no write between them. */
  #recoveries: number;
  /** Whether the next write resets the recovery count (set after a takeover). */
  #clearRecoveries: boolean;
  /** Keys of the steps whose bodies run or whose results are being recorded (for warnings). */
  protected readonly inFlight: string[] = [];
  /** Extends this run's lease now; rejects when it is lost. */
  readonly heartbeat: () => Promise<void>;

  constructor(
    host: Host,
    claim: Claim,
    nodes: readonly RtNode[],
    heartbeat: () => Promise<void>,
    store: LeaseStore,
  ) {
    this.host = host;
    this.store = store;
    // A simulated clock hears exactly when this activation waits (on the
    // clock, a signal or a step body) and when it runs engine code again.
    const clock = host.clock as ActivityAwareClock;
    const report = clock[clockActivity]?.bind(clock);
    this.suspension = new Suspension(
      host.clock,
      () => this.#pending.size > 0 || this.pendingEvents.length > 0 ? this.commit([]) : undefined,
      report,
    );
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
    this.suspension.stop();
  }

  /** A signal reached the run's inbox: waiting branches look again. */
  signalArrived(): void {
    this.suspension.signalArrived();
  }

  get aborted(): boolean {
    return this.#controller.signal.aborted;
  }

  /** The run's span, when tracing is on. */
  get span(): Span | undefined {
    return this.#span;
  }

  /** Takeovers in a row before this claim, with no write between them. */
  get recoveries(): number {
    return this.#recoveries;
  }

  protected event(): { runId: string; workflow: string; version: string; at: Date } {
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
      const walk = this.walk(this.#nodes, !this.#fresh, signal);
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
      this.suspension.close();
      let data: string | undefined;
      try {
        data = encodeValue(output, "the output of the run", host.maxPayloadBytes);
      } catch (error) {
        throw new StepFailure(error, "");
      }
      await this.recordEvents(
        [{ type: "run.completed", at: host.clock.now() }],
        data === undefined ? { status: "completed" } : { status: "completed", output: data },
        "onRunCompleted",
        () => ({ ...this.event(), output }),
      );
    } catch (error) {
      this.suspension.close();
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
        const signals = this.suspension.awaitedSignals;
        const wakeAt = this.suspension.wakeAt;
        const waiting = signals.length > 0;
        const transition: RunTransition = { status: waiting ? "waiting" : "sleeping" };
        if (wakeAt !== undefined) transition.dueAt = wakeAt;
        if (waiting) transition.waitingFor = signals;
        const detail: EventDetails["run.waiting"] = {};
        if (wakeAt !== undefined) detail.wakeAt = wakeAt;
        if (waiting) detail.signals = signals;
        const type = waiting ? "run.waiting" : "run.sleeping";
        await this.recordEvents(
          [{ type, at: host.clock.now(), detail: encodeEventDetail(type, detail) }],
          transition,
          "onRunWaiting",
          () => {
            const event: ObserverEvent<"onRunWaiting"> = {
              ...this.event(),
              status: transition.status as "sleeping" | "waiting",
            };
            if (wakeAt !== undefined) event.wakeAt = new Date(wakeAt);
            if (waiting) event.signals = signals;
            return event;
          },
        );
        return undefined;
      }
      if (error === STOP) {
        await this.commit([], { status: "running" });
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
        await this.commit([], { status: "running" }).catch(() => {});
        return undefined;
      }
      const failure = error instanceof StepFailure ? error : new StepFailure(error, "");
      const info = toErrorInfo(failure.error, failure.step || undefined);
      await this.recordEvents(
        [{
          type: "run.failed",
          at: host.clock.now(),
          ...(failure.step ? { step: failure.step } : {}),
          detail: failedDetail(info),
        }],
        { status: "failed", error: info },
        "onRunFailed",
        () => {
          const failed = failure.error instanceof Error
            ? failure.error
            : new Error(String(failure.error));
          const event: ObserverEvent<"onRunFailed"> = { ...this.event(), error: failed };
          if (failure.step) event.step = failure.step;
          return event;
        },
      );
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
  protected landed(key: string): void {
    const inFlight = this.inFlight;
    const at = inFlight.lastIndexOf(key);
    if (at < 0) return;
    inFlight[at] = inFlight[inFlight.length - 1]!;
    inFlight.pop();
  }

  /** Lease loss is worth a warning: the steps in flight may run again elsewhere. */
  #warnLeaseLost(): void {
    const steps = [...new Set(this.inFlight)];
    this.host.logger.warn(
      `run ${this.runId}: lost its lease${
        steps.length ? ` with step ${steps.map((key) => `'${key}'`).join(", ")} in flight` : ""
      }; another worker owns the run now`,
      { runId: this.runId, steps },
    );
  }

  // ---- writes --------------------------------------------------------------

  protected queue(row: StepRow): void {
    this.#pending.set(row.key, row);
  }

  protected takeBatch(): { steps: StepRow[]; events: StoredEvent[] } {
    const steps = this.#pending.size ? [...this.#pending.values()] : [];
    this.#pending.clear();
    const events = this.pendingEvents;
    this.pendingEvents = [];
    return { steps, events };
  }

  /**
   * Writes everything queued, plus `events` and an optional run transition;
   * a write that fails on a dropped connection is tried again.
   */
  protected commit(events: StoredEvent[], run?: RunTransition, row?: StepRow): Promise<void> {
    const queued = this.takeBatch();
    if (row) queued.steps.push(row);
    if (events.length) queued.events.push(...events);
    const batch: WriteBatch = run ? { ...queued, run } : queued;
    return this.#write(batch, this.host.clock.now());
  }

  /**
   * Writes `events` (with whatever is queued and an optional run transition),
   * then tells observers `hook`: the one way an activation stores an event
   * that observers hear of.
   */
  protected async recordEvents<K extends ObserverHook>(
    events: StoredEvent[],
    run: RunTransition | undefined,
    hook: K,
    make: () => ObserverEvent<K>,
  ): Promise<void> {
    await this.commit(events, run);
    notify(this.host, hook, make);
  }

  /**
   * Queues an event to ride along with the next write and tells observers
   * `hook` now (they hear of a failed attempt before it is stored).
   */
  protected queueEvent<K extends ObserverHook>(
    event: StoredEvent,
    hook?: K,
    make?: () => ObserverEvent<K>,
  ): void {
    if (hook !== undefined && make !== undefined) notify(this.host, hook, make);
    this.pendingEvents.push(event);
  }

  /** Writes one completed step row, with whatever is queued. */
  protected record(row: StepRow): Promise<void> {
    if (
      this.#pending.size === 0 && this.pendingEvents.length === 0 && !this.#clearRecoveries
    ) {
      return this.store.write({ steps: [row] }, row.finishedAt!, this.#controller.signal);
    }
    return this.commit([], undefined, row);
  }

  /** Writes a batch under the lease; the first write after a takeover clears the count. */
  #write(batch: WriteBatch, now: number): Promise<void> {
    if (this.#clearRecoveries) {
      batch.clearRecoveries = true;
      this.#clearRecoveries = false;
      this.#recoveries = 0;
    }
    return this.store.write(batch, now, this.#controller.signal);
  }

  protected read(keys: readonly string[]): Promise<Map<string, StepRow>> {
    return this.store.readSteps(keys);
  }

  protected encode(value: unknown, what: string, key: string): string | undefined {
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
  protected async call(key: string, fn: AnyFn, value: unknown): Promise<unknown> {
    try {
      return await fn(value, this.input);
    } catch (error) {
      throw new StepFailure(error, key);
    }
  }

  /** Walks `nodes` from the start (`replay`: reading checkpoints first) under `signal`. */
  protected abstract walk(
    nodes: readonly RtNode[],
    replay: boolean,
    signal: AbortSignal,
  ): Promise<unknown>;
}
