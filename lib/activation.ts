/**
 * An activation's lifecycle and writes: the part of the interpreter that is
 * not the tree walk. It writes through a lease-bound store (`lease_store.ts`)
 * and leaves waiting and suspending to `suspension.ts`.
 *
 * @module
 */
import { checkLabels } from "./validate.ts";
import type { Span } from "@opentelemetry/api";
import { childNodes, type RtNode, type RtStep } from "./nodes.ts";
import type { Claim, Lease, RunTransition, StepRow, StoredEvent, WriteBatch } from "./driver.ts";
import {
  CancelledError,
  type ErrorInfo,
  fromErrorInfo,
  LeaseLostError,
  StorageError,
  toErrorInfo,
} from "./errors.ts";
import { CompensationFailedError, WorkflowTimeoutError } from "./errors_saga.ts";
import { timeAfter } from "./time.ts";
import { compensableSteps, compensationKey, planKey } from "./compensation.ts";
import {
  cancelledDetail,
  DEADLINE_KEY,
  encodeEventDetail,
  type EventDetails,
  failedDetail,
  type RunErrorData,
  runErrorData,
  SAGA_KEY,
  type SagaData,
  splitRunError,
} from "./formats.ts";
import type { Observer, ObserverHook } from "./observer.ts";
import { notify, type ObserverEvent } from "./recorder.ts";
import { endSpan, startRunSpan } from "./telemetry.ts";
import { decodeValue, encodeValue } from "./values.ts";
import type { AttemptHost } from "./attempt.ts";
import { type ActivityAwareClock, clockActivity, type ClockTimer } from "./clock.ts";
import type { LeaseStore } from "./lease_store.ts";
import { StepFailure, STOP, SUSPEND, Suspension } from "./suspension.ts";

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

/** What an activation needs from the runner or engine that runs it (storage comes as a LeaseStore). */
export interface Host extends AttemptHost {
  readonly maxPayloadBytes: number;
  readonly observers: readonly Observer[];
  emit<K extends ObserverHook>(hook: K, event: Parameters<NonNullable<Observer[K]>>[0]): void;
  /**
   * This activation is writing its run's completion: `written` resolves with
   * the stored output once the fenced write committed, or with `undefined`
   * when it failed (result waiters of this process then need no re-read).
   */
  completing?(runId: string, written: Promise<{ output: string | undefined } | undefined>): void;
}

/** The `detail` of a `run.cancelled` event, when there is a reason. */
function cancelledEvent(reason: string | undefined): { detail?: string } {
  const detail = cancelledDetail(reason);
  return detail === undefined ? {} : { detail };
}

/** How a compensating run ends: its error, whether it was compensated, the error for observers. */
class SagaEnd {
  constructor(
    readonly data: SagaData,
    readonly compensated: boolean,
    readonly error: unknown,
  ) {}
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
  /** The run's labels as this activation knows them (claimed, plus `setLabels`). */
  #labels: Record<string, string>;
  /** Labels set since the last write; they ride along with the next one. */
  #newLabels: Record<string, string> | undefined;
  /** Inbox entries to drop with the next write (read `.call` wake-ups). */
  #dropSignals: string[] | undefined;
  /** Keys of the steps whose bodies run or whose results are being recorded (for warnings). */
  protected readonly inFlight: string[] = [];
  /** Extends this run's lease now; rejects when it is lost. */
  readonly heartbeat: () => Promise<void>;
  /** The workflow `timeout`, if any. */
  readonly #timeoutMs: number | undefined;
  /** The run's deadline (epoch ms), under a workflow `timeout`. */
  #deadline: number | undefined;
  /** The deadline stored with the run (`deadlineAt`), when it has one. */
  readonly #storedDeadline: number | undefined;
  /** Whether this activation wrote its run's final status (completed or failed). */
  ended = false;
  /** Set when the run was cancelled with compensation: the error it ends with. */
  readonly #cancelling: RunErrorData | undefined;

  constructor(
    host: Host,
    claim: Claim,
    nodes: readonly RtNode[],
    heartbeat: () => Promise<void>,
    store: LeaseStore,
    timeoutMs?: number,
  ) {
    this.host = host;
    this.#timeoutMs = timeoutMs;
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
    const error = claim.run.error as RunErrorData | undefined;
    this.#cancelling = error?.cancelling ? error : undefined;
    this.#storedDeadline = claim.run.deadlineAt;
    this.#clearRecoveries = this.#recoveries > 0;
    this.#labels = { ...claim.run.labels };
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

  /**
   * Waits until `until` on the engine clock (or suspends the run when no other
   * branch runs). A wait that ended in-process asks storage whether the run
   * was paused meanwhile (a pause reaches an activation through its writes,
   * which a wait does not make) and unwinds with STOP if so: no step begins
   * after a pause.
   */
  protected async waitUntil(until: number, scope: AbortSignal): Promise<void> {
    if (until <= this.host.clock.now()) return;
    await this.suspension.waitFor(until, undefined, scope);
    if (!this.suspension.stopping) await this.heartbeat();
    if (this.suspension.stopping) throw STOP;
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
    let deadlineTimer: ClockTimer | undefined;
    const saga = compensableSteps(this.#nodes);
    try {
      const ready = host.deps.ready();
      if (ready) await ready;
      let signal = this.#controller.signal;
      const cancelling = this.#cancelling;
      if (saga !== undefined || this.#timeoutMs !== undefined || cancelling !== undefined) {
        // A run stored without a deadline (from before runs had one) keeps it
        // in a row, set by its first activation.
        const legacy = this.#timeoutMs !== undefined && this.#storedDeadline === undefined;
        const keys = saga === undefined ? [] : [SAGA_KEY];
        if (legacy) keys.push(DEADLINE_KEY);
        const rows = this.#fresh || keys.length === 0 ? undefined : await this.read(keys);
        const marker = rows?.get(SAGA_KEY);
        // A run that was compensating goes on compensating.
        if (saga !== undefined && marker?.data !== undefined) {
          throw await this.#compensate(saga, JSON.parse(marker.data) as SagaData, undefined, true);
        }
        if (cancelling !== undefined) {
          // Cancelled with compensation: its `.call` children first (`cancel()`
          // did it already, unless its process died right after the cancel;
          // the run is unfinished until this activation ends it, so this makes
          // the cascade durable), then compensate, then end cancelled.
          if (childNodes(this.#nodes).some((node) => node.kind === "call")) {
            await this.store.cancelCallChildren(
              `parent run '${this.runId}' was cancelled`,
              host.clock.now(),
              true,
            );
          }
          const [error] = splitRunError(cancelling);
          const data: SagaData = { error, end: "cancelled" };
          if (cancelling.reason !== undefined) data.reason = cancelling.reason;
          throw saga === undefined
            ? new SagaEnd(data, false, fromErrorInfo(error))
            : await this.#compensate(saga, data, undefined, false);
        }
        if (this.#timeoutMs !== undefined) {
          const timeout = this.#startDeadline(this.#timeoutMs, rows?.get(DEADLINE_KEY)?.data);
          signal = AbortSignal.any([signal, timeout.signal]);
          deadlineTimer = timeout.timer;
        }
      }
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
      const completion = this.recordEvents(
        [{ type: "run.completed", at: host.clock.now() }],
        data === undefined ? { status: "completed" } : { status: "completed", output: data },
        "onRunCompleted",
        () => ({ ...this.event(), output }),
      );
      host.completing?.(this.runId, completion.then(() => ({ output: data }), () => undefined));
      await completion;
      this.ended = true;
    } catch (error) {
      let end = error;
      if (saga !== undefined && this.#failsRun(error)) {
        const failure = error instanceof StepFailure ? error : new StepFailure(error, "");
        const data: SagaData = {
          error: toErrorInfo(failure.error, failure.step || undefined),
          end: "failed",
        };
        end = await this.#compensate(saga, data, failure.error, false).catch((e) => e);
      }
      this.suspension.close();
      spanError = await this.#conclude(end);
    } finally {
      deadlineTimer?.cancel();
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
        // The deadline is part of the run's due time.
        const deadline = this.#deadline;
        const due = deadline !== undefined && (wakeAt === undefined || deadline < wakeAt)
          ? deadline
          : wakeAt;
        if (due !== undefined) transition.dueAt = due;
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
      let info: ErrorInfo;
      let cause: unknown;
      let compensated = false;
      if (error instanceof SagaEnd) {
        info = error.data.error;
        cause = error.error;
        compensated = error.compensated;
        if (error.data.end === "cancelled") {
          // Cancelled with compensation (observers heard of the cancel from `cancel()`).
          await this.commit(
            [{ type: "run.cancelled", at: host.clock.now(), ...cancelledEvent(error.data.reason) }],
            { status: "cancelled", error: runErrorData(info, compensated) },
          );
          this.ended = true;
          return undefined;
        }
      } else {
        const failure = error instanceof StepFailure ? error : new StepFailure(error, "");
        info = toErrorInfo(failure.error, failure.step || undefined);
        cause = failure.error;
      }
      await this.recordEvents(
        [{
          type: "run.failed",
          at: host.clock.now(),
          ...(info.step ? { step: info.step } : {}),
          detail: failedDetail(info),
        }],
        { status: "failed", error: runErrorData(info, compensated) },
        "onRunFailed",
        () => {
          const failed = cause instanceof Error ? cause : new Error(String(cause));
          const event: ObserverEvent<"onRunFailed"> = { ...this.event(), error: failed };
          if (info.step) event.step = info.step;
          return event;
        },
      );
      this.ended = true;
      if (childNodes(this.#nodes).some((node) => node.kind === "call")) {
        // A failed parent cancels its unfinished `.call` children.
        await this.store.cancelCallChildren(`parent run '${this.runId}' failed`, host.clock.now())
          .catch((cascade) =>
            host.logger.warn(`run ${this.runId}: cannot cancel its children`, {
              error: cascade instanceof Error ? cascade.message : String(cascade),
            })
          );
      }
      return cause;
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

  /**
   * Starts the run's deadline: the one stored with the run (`deadlineAt`, set
   * when it was created or retried); for a run stored without one, the
   * `#deadline` row (`legacy`), recorded by its first activation (riding along
   * with its first write) and read back by the others. Throws
   * `WorkflowTimeoutError` when it has passed (a run that sat `pending` past
   * it too); else a timer on the engine clock aborts the returned signal when
   * it does.
   */
  #startDeadline(
    timeoutMs: number,
    legacy: string | undefined,
  ): { signal: AbortSignal; timer: ClockTimer } {
    const clock = this.host.clock;
    let deadline = this.#storedDeadline ?? (legacy !== undefined ? Number(legacy) : NaN);
    if (!Number.isFinite(deadline)) {
      deadline = timeAfter(clock.now(), timeoutMs);
      this.queue({ key: DEADLINE_KEY, kind: "deadline", state: "done", data: String(deadline) });
    }
    this.#deadline = deadline;
    const expired = () => new WorkflowTimeoutError(this.runId, timeoutMs);
    if (clock.now() >= deadline) throw expired();
    const controller = new AbortController();
    const timer = clock.setTimer(deadline, () => controller.abort(expired()));
    return { signal: controller.signal, timer };
  }

  /** Whether an error ends the run as a failure (not a suspension, hand-back, cancel or lost lease). */
  #failsRun(error: unknown): boolean {
    return error !== SUSPEND && error !== STOP && !(error instanceof SagaEnd) && !this.aborted &&
      !(error instanceof LeaseLostError) && !(error instanceof StorageError) &&
      !(error instanceof CancelledError);
  }

  /**
   * Runs the compensations of the run's completed steps, newest first (the
   * history's write order, read back from storage, so every resume takes the
   * same order), each once: a compensation is a step at `<stepKey>/compensate`
   * with the step's retry and timeout. The marker row ({@linkcode SAGA_KEY}) is
   * written before the first one runs, so a takeover compensates too instead
   * of walking the workflow again. Resolves how the run ends; rejects with
   * what ends the activation otherwise (a suspension for a retry, a lost lease).
   */
  async #compensate(
    saga: ReadonlyMap<string, RtStep>,
    data: SagaData,
    cause: unknown,
    resumed: boolean,
  ): Promise<SagaEnd> {
    this.#deadline = undefined; // past it, or never set: compensations wake on their own times
    const done = await this.store.completedSteps();
    const todo: { row: StepRow; step: RtStep; key: string }[] = [];
    for (let i = done.length - 1; i >= 0; i--) {
      const row = done[i]!;
      const step = saga.get(planKey(row.key));
      if (step !== undefined) todo.push({ row, step, key: compensationKey(row.key) });
    }
    const original = () => cause ?? fromErrorInfo(data.error);
    if (todo.length === 0) return new SagaEnd(data, false, original());
    const now = this.host.clock.now();
    let progress = new Map<string, StepRow>();
    if (resumed) progress = await this.read(todo.map((t) => t.key));
    else {
      await this.commit(
        [{
          type: "compensation.started",
          at: now,
          detail: encodeEventDetail("compensation.started", { error: data.error }),
        }],
        undefined,
        { key: SAGA_KEY, kind: "saga", state: "pending", data: JSON.stringify(data) },
      );
    }
    for (const { row, step, key } of todo) {
      const recorded = progress.get(key);
      if (recorded?.state === "done") continue;
      const undo: RtStep = { kind: "step", name: key, label: true, fn: step.compensate! };
      if (step.retry) undo.retry = step.retry;
      if (step.timeoutMs !== undefined) undo.timeoutMs = step.timeoutMs;
      try {
        await this.runStep(undo, decodeValue(row.data), key, recorded, this.#controller.signal);
      } catch (error) {
        if (!(error instanceof StepFailure)) throw error;
        const reason = error.error instanceof Error ? error.error.message : String(error.error);
        const failed = new CompensationFailedError(key, reason, original());
        this.queueEvent({
          type: "compensation.failed",
          at: this.host.clock.now(),
          step: key,
          detail: encodeEventDetail("compensation.failed", {
            error: toErrorInfo(error.error, key),
          }),
        });
        return new SagaEnd({ error: toErrorInfo(failed, key), end: "failed" }, false, failed);
      }
    }
    this.queueEvent({ type: "compensation.completed", at: this.host.clock.now() });
    return new SagaEnd(data, true, original());
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
      this.#pending.size === 0 && this.pendingEvents.length === 0 && !this.#clearRecoveries &&
      !this.#newLabels && !this.#dropSignals
    ) {
      return this.store.write({ steps: [row] }, row.finishedAt!, this.#controller.signal);
    }
    return this.commit([], undefined, row);
  }

  /** Merges labels onto the run with the next write (`ctx.setLabels`); throws for bad labels. */
  setLabels(labels: unknown): void {
    const given = checkLabels(labels, "the labels set by a step");
    const merged = checkLabels({ ...this.#labels, ...given }, "the labels of a run");
    this.#labels = merged;
    this.#newLabels = { ...this.#newLabels, ...given };
  }

  /** Drops an inbox entry (a read `.call` wake-up) with the next write. */
  protected dropSignal(name: string): void {
    (this.#dropSignals ??= []).push(name);
  }

  /** Writes a batch under the lease; the first write after a takeover clears the count. */
  #write(batch: WriteBatch, now: number): Promise<void> {
    if (this.#newLabels) {
      batch.labels = this.#newLabels;
      this.#newLabels = undefined;
    }
    if (this.#dropSignals) {
      batch.dropSignals = this.#dropSignals;
      this.#dropSignals = undefined;
    }
    if (this.#clearRecoveries) {
      batch.clearRecoveries = true;
      this.#clearRecoveries = false;
      this.#recoveries = 0;
    }
    return this.store.write(batch, now, this.#controller.signal);
  }

  /**
   * Whether the checkpoint of the run's last top-level step may wait for the
   * completion write (not when the workflow compensates: its compensation
   * reads the rows of the steps that completed).
   */
  protected get mayDeferLast(): boolean {
    return compensableSteps(this.#nodes) === undefined;
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

  /** Runs one step (with its retries) at `key`; `row` is its pending row when resuming. */
  protected abstract runStep(
    node: RtStep,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    scope: AbortSignal,
  ): Promise<unknown>;

  /** Walks `nodes` from the start (`replay`: reading checkpoints first) under `signal`. */
  protected abstract walk(
    nodes: readonly RtNode[],
    replay: boolean,
    signal: AbortSignal,
  ): Promise<unknown>;
}
