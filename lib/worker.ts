/**
 * Workers claim due runs from the driver, execute them under a lease, keep the
 * lease alive with heartbeats, and wake on driver notices, on the next due
 * timer, and (for drivers that cannot report other processes' changes) on a
 * poll interval. Idle workers do not busy-poll.
 *
 * @module
 */
import { RetentionPasses } from "./retention.ts";
import { Presence } from "./presence.ts";
import { type ActivityAwareClock, clockActivity, type ClockTimer } from "./clock.ts";
import type { Claim, DriverNotice, Lease } from "./driver.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { failedDetail } from "./formats.ts";
import { notify } from "./recorder.ts";
import { CONTROL_CHARACTERS, hasControlCharacters } from "./_text.ts";
import {
  CancelledError,
  ClockSkewError,
  LeaseLostError,
  PlanMismatchError,
  toErrorInfo,
} from "./errors.ts";
import { Activation } from "./interpreter.ts";
import { leaseStore } from "./lease_store.ts";
import type { Runtime, SlotReservation } from "./runtime.ts";
import { yieldIfDue } from "./yield.ts";
import { fireDueSchedules, nextScheduleAt, SCHEDULE_CLAIM_LIMIT } from "./scheduler.ts";

/** The least real time between two looks at schedules made by the safety poll. */
const SCHEDULE_RECHECK_MS = 1_000;

/**
 * Options of `engine.worker()`.
 *
 * @example A worker with its own id, concurrency, lease and poll interval
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, type WorkerOptions, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<string>("echo").step("echo", (s) => s);
 * const options: WorkerOptions = { concurrency: 4, leaseMs: "1m", pollInterval: "5s", id: "w-1" };
 * await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
 * await using worker = engine.worker(options);
 * await worker.start();
 * assert.equal(worker.id, "w-1");
 * assert.equal(await (await engine.start(wf, "hi")).result(), "hi");
 * ```
 */
export interface WorkerOptions {
  /**
   * Most runs executed at once.
   * @default {10}
   */
  concurrency?: number;
  /**
   * Lease length; a worker that stops heartbeating loses its runs after it.
   * @default {30000}
   */
  leaseMs?: Duration;
  /**
   * How often to look for work made by other processes when the driver cannot
   * report it (SQLite and PostgreSQL still poll at this pace as a safety net).
   * @default {1000}
   */
  pollInterval?: Duration;
  /**
   * The worker id recorded as lease owner.
   * @default {a random id}
   */
  id?: string;
  /**
   * How often the worker records its heartbeat row (`workers()`); it counts
   * as live while seen within three intervals.
   * @default {"10s"}
   */
  heartbeatInterval?: Duration;
}

/**
 * Executes runs: claims due runs, runs them under a lease with heartbeats, and
 * hands them back on `stop()`. Make one with `engine.worker()`.
 *
 * @example Run workflows four at a time
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<string>("echo").step("echo", (s) => s);
 * await using engine = new Engine({ driver: new MemoryDriver(), workflows: [wf] });
 * await using worker = engine.worker({ concurrency: 4 });
 * await worker.start();
 * assert.equal(await (await engine.start(wf, "hi")).result(), "hi");
 * ```
 */
export class Worker implements AsyncDisposable {
  /** The worker id, recorded as the lease owner of the runs it holds. */
  readonly id: string;
  readonly #rt: Runtime;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #presence: Presence;
  readonly #retention: RetentionPasses;
  readonly #active = new Map<string, { activation: Activation; done: Promise<void> }>();
  #started = false;
  #stopping = false;
  #polling = false;
  #pollAgain = false;
  /** Whether a poll stopped at full capacity (due runs may be left unclaimed). */
  #starved = false;
  #failures = 0;
  #missedDue = 0;
  #dueTimer: ClockTimer | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ClockTimer | undefined;
  #scheduleTimer: ClockTimer | undefined;
  #scheduleRetry: ReturnType<typeof setTimeout> | undefined;
  #firing = false;
  #lastSchedulePass = 0;
  #firstPassDone: (() => void) | undefined;
  #fireAgain = false;
  #unlisten: (() => void) | undefined;
  #unclaim: (() => void) | undefined;
  /** Slots held for runs being started in this process (see `#reserve`). */
  #reserved = 0;
  #idle: (() => void) | undefined;

  /** @ignore Use `engine.worker()`. */
  constructor(runtime: Runtime, options: WorkerOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Cannot create a worker with options that are not an object");
    }
    this.#rt = runtime;
    const concurrency = options.concurrency ?? 10;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(
        `Cannot use 'concurrency' ${String(concurrency)}: it must be an integer of at least 1`,
      );
    }
    this.#concurrency = concurrency;
    this.#leaseMs = parseDuration(options.leaseMs ?? 30_000, "'leaseMs'");
    if (this.#leaseMs < 100) {
      throw new RangeError(`Cannot use 'leaseMs' ${this.#leaseMs}: it must be at least 100ms`);
    }
    this.#pollMs = parseDuration(options.pollInterval ?? 1_000, "'pollInterval'");
    if (this.#pollMs < 10) {
      throw new RangeError(`Cannot use 'pollInterval' ${this.#pollMs}: it must be at least 10ms`);
    }
    const id = options.id ?? `worker-${crypto.randomUUID().slice(0, 8)}`;
    if (typeof id !== "string" || id.length === 0 || id.length > 128 || hasControlCharacters(id)) {
      throw new TypeError(
        `Cannot use worker 'id' ${
          typeof id === "string" ? JSON.stringify(id) : `of type ${typeof id}`
        }: use a string of 1 to 128 characters without ${CONTROL_CHARACTERS}`,
      );
    }
    this.id = id;
    const heartbeatMs = parseDuration(options.heartbeatInterval ?? 10_000, "'heartbeatInterval'");
    if (heartbeatMs < 100) {
      throw new RangeError(
        `Cannot use 'heartbeatInterval' ${heartbeatMs}ms: it must be at least 100ms`,
      );
    }
    this.#presence = new Presence(runtime, id, heartbeatMs);
    this.#retention = new RetentionPasses(
      runtime,
      Math.min(60_000, Math.max(200, this.#pollMs * 10)),
    );
  }

  /** Whether the worker is started and not stopping. */
  get running(): boolean {
    return this.#started && !this.#stopping;
  }

  /** How many runs the worker is executing now. */
  get activeRuns(): number {
    return this.#active.size;
  }

  #busy(delta: number): void {
    (this.#rt.clock as ActivityAwareClock)[clockActivity]?.(delta);
  }

  /**
   * Starts claiming runs; resolves once the worker is polling. On PostgreSQL
   * with the real clock it first measures the database's clock, and rejects
   * with `ClockSkewError` when this process's clock is more than 5 minutes off.
   */
  start(): Promise<void> {
    this.#rt.check();
    if (this.#started) return Promise.resolve();
    const ready = this.#rt.clockReady();
    if (ready === undefined) return this.#begin();
    // An unreachable database is not a reason to refuse: the poll retries.
    return ready.catch((error) => {
      if (error instanceof ClockSkewError) throw error;
    }).then(() => this.#begin());
  }

  /** Looks at due schedules once (failed or not), then starts polling for runs. */
  #begin(): Promise<void> {
    if (this.#started) return Promise.resolve();
    this.#started = true;
    this.#stopping = false;
    this.#unlisten = this.#rt.listen((notice) => this.#onNotice(notice));
    this.#unclaim = this.#rt.addClaimer({ reserve: () => this.#reserve() });
    this.#presence.start();
    this.#retention.start();
    // Schedules first (they write runs), then claims: both are under way when start() resolves.
    const firstPass = new Promise<void>((resolve) => this.#firstPassDone = resolve);
    this.#requestSchedules();
    return firstPass.then(() => this.#requestPoll());
  }

  /**
   * Stops gracefully: no new claims; steps in flight finish and their runs are
   * handed back (claimable at once by another worker). Resolves when done.
   */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#stopping = true;
    this.#unlisten?.();
    this.#unlisten = undefined;
    this.#unclaim?.();
    this.#unclaim = undefined;
    this.#dueTimer?.cancel();
    this.#dueTimer = undefined;
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#scheduleTimer?.cancel();
    this.#scheduleTimer = undefined;
    if (this.#scheduleRetry !== undefined) clearTimeout(this.#scheduleRetry);
    this.#scheduleRetry = undefined;
    for (const { activation } of this.#active.values()) activation.stop();
    while (this.#active.size > 0 || this.#reserved > 0 || this.#polling || this.#firing) {
      await new Promise<void>((resolve) => this.#idle = resolve);
    }
    this.#heartbeatTimer?.cancel();
    this.#heartbeatTimer = undefined;
    await this.#presence.stop();
    await this.#retention.stop();
    this.#started = false;
  }

  /** Same as {@linkcode Worker.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #onNotice(notice: DriverNotice): void {
    switch (notice.type) {
      case "runnable":
        this.#requestPoll();
        return;
      case "signal":
        if (notice.runId !== undefined) this.#active.get(notice.runId)?.activation.signalArrived();
        return;
      case "cancelled":
        if (notice.runId !== undefined) {
          this.#active.get(notice.runId)?.activation.abort(
            new CancelledError(notice.runId, notice.reason),
          );
        }
        return;
      case "paused":
        // The steps in flight finish and are written; then the run is handed back.
        if (notice.runId !== undefined) this.#active.get(notice.runId)?.activation.stop();
        return;
      case "changed":
        for (const { activation } of this.#active.values()) activation.signalArrived();
        this.#requestPoll();
        this.#requestSchedulesSoon();
        return;
      case "schedule":
        this.#requestSchedules();
        return;
      case "released":
        // A concurrency slot may be free: runs held back by a limit may be claimable.
        if (this.#rt.concurrencyLimited) this.#requestPoll();
        return;
      case "finished":
        return;
    }
  }

  #requestPoll(): void {
    if (!this.#started || this.#stopping || this.#rt.closed) return;
    if (this.#polling) {
      this.#pollAgain = true;
      return;
    }
    this.#polling = true;
    this.#busy(1);
    queueMicrotask(() => void this.#poll());
  }

  async #poll(): Promise<void> {
    const rt = this.#rt;
    try {
      const clockReady = rt.clockReady();
      if (clockReady !== undefined) await clockReady;
      do {
        this.#pollAgain = false;
        let claimedAll = false;
        let claimedAny = false;
        while (!this.#stopping && this.#free() > 0) {
          const limit = Math.min(this.#free(), 256);
          const claims = await rt.driver.claimRuns({
            workerId: this.id,
            now: rt.clock.now(),
            leaseMs: this.#leaseMs,
            limit,
            workflows: rt.workflowNames,
            ...(rt.flowLimits ? { flow: rt.flowLimits } : {}),
          });
          for (const claim of claims) this.#launch(claim);
          if (claims.length > 0) claimedAny = true;
          // Between claim cycles, let the process's event loop run: see yield.ts.
          const pause = yieldIfDue(rt.clock);
          if (pause) await pause;
          claimedAll = claims.length === limit;
          if (!claimedAll) break;
        }
        if (this.#free() <= 0) this.#starved = true;
        if (!this.#stopping && !claimedAll) await this.#armTimers(claimedAny);
      } while (this.#pollAgain && !this.#stopping);
      this.#failures = 0;
    } catch (error) {
      this.#failures++;
      rt.logger.warn(`worker ${this.id} cannot poll for runs`, {
        error: error instanceof Error ? error.message : String(error),
        failures: this.#failures,
      });
      if (!this.#stopping && !rt.closed) {
        this.#armPollTimer(Math.min(this.#pollMs * 2 ** Math.min(this.#failures, 5), 30_000));
      }
    } finally {
      this.#polling = false;
      if (this.#pollAgain && !this.#stopping) {
        this.#pollAgain = false;
        this.#requestPoll();
      }
      this.#busy(-1);
      this.#idle?.();
    }
  }

  /**
   * Arms the due timer (the next run due, on the engine clock) and the safety
   * poll. A run that is due already is claimed at once by polling again; only
   * when that keeps finding nothing (another worker won each race) does the
   * worker look again after a short pause instead.
   */
  async #armTimers(claimedAny: boolean): Promise<void> {
    const rt = this.#rt;
    if (this.#free() <= 0) return;
    const limits = rt.flowLimits;
    const next = await rt.driver.nextDueAt(
      rt.workflowNames,
      limits ? { now: rt.clock.now(), limits } : undefined,
    );
    if (this.#stopping) return;
    this.#dueTimer?.cancel();
    this.#dueTimer = undefined;
    let pollMs = rt.driver.shared ? this.#pollMs : undefined;
    if (next !== undefined && next > rt.clock.now()) {
      this.#dueTimer = rt.clock.setTimer(next, () => this.#requestPoll());
      this.#missedDue = 0;
    } else if (next !== undefined) {
      if (claimedAny || ++this.#missedDue <= 3) this.#pollAgain = true;
      else pollMs = Math.min(pollMs ?? 50, 50);
    }
    if (pollMs !== undefined) this.#armPollTimer(pollMs);
    else if (this.#pollTimer !== undefined) {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = undefined;
    }
  }

  #armPollTimer(ms: number): void {
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.#requestPoll();
      this.#requestSchedulesSoon();
    }, ms);
  }

  /**
   * A look at schedules for the safety poll and for other processes' commits
   * (SQLite's `changed`): at most one per {@linkcode SCHEDULE_RECHECK_MS} of
   * real time, so a busy shared database does not cost two queries per poll.
   * Schedule notices, the schedule timer and start look at once.
   */
  #requestSchedulesSoon(): void {
    const wait = SCHEDULE_RECHECK_MS - (performance.now() - this.#lastSchedulePass);
    if (wait <= 0) this.#requestSchedules();
    else this.#retrySchedules(wait);
  }

  /** Fires due schedules (see scheduler.ts), then sets a timer for the next one. */
  #requestSchedules(): void {
    if (!this.#started || this.#stopping || this.#rt.closed) return;
    if (this.#firing) {
      this.#fireAgain = true;
      return;
    }
    this.#firing = true;
    this.#lastSchedulePass = performance.now();
    this.#busy(1);
    queueMicrotask(() => void this.#fireSchedules());
  }

  async #fireSchedules(): Promise<void> {
    const rt = this.#rt;
    const host = rt.scheduleHost;
    try {
      await host.ready();
      let passes = 0;
      do {
        this.#fireAgain = false;
        while (!this.#stopping && await fireDueSchedules(host) === SCHEDULE_CLAIM_LIMIT) {
          const pause = yieldIfDue(rt.clock);
          if (pause) await pause;
        }
        if (this.#stopping) break;
        const next = await nextScheduleAt(host);
        this.#scheduleTimer?.cancel();
        this.#scheduleTimer = undefined;
        if (next !== undefined && next > rt.clock.now()) {
          this.#scheduleTimer = rt.clock.setTimer(next, () => this.#requestSchedules());
        } else if (next !== undefined) {
          // Due already (another worker changed a row meanwhile): look again at once, a
          // few times, then after a short real pause.
          if (++passes < 3) this.#fireAgain = true;
          else this.#retrySchedules(50);
        }
      } while (this.#fireAgain && !this.#stopping);
    } catch (error) {
      rt.logger.warn(`worker ${this.id} cannot fire schedules`, {
        error: error instanceof Error ? error.message : String(error),
      });
      this.#retrySchedules(this.#pollMs);
    } finally {
      this.#firing = false;
      this.#firstPassDone?.();
      this.#firstPassDone = undefined;
      this.#busy(-1);
      this.#idle?.();
      if (this.#fireAgain && !this.#stopping) {
        this.#fireAgain = false;
        this.#requestSchedules();
      }
    }
  }

  #retrySchedules(ms: number): void {
    if (this.#stopping || this.#rt.closed || this.#scheduleRetry !== undefined) return;
    this.#scheduleRetry = setTimeout(() => {
      this.#scheduleRetry = undefined;
      this.#requestSchedules();
    }, ms);
  }

  /** Slots neither executing a run nor held for a run being started. */
  #free(): number {
    return this.#concurrency - this.#active.size - this.#reserved;
  }

  /**
   * Activations whose run ended (its last write is done) and that are only
   * unwinding: their slots are as good as free. A result waiter resumes before
   * the worker hears that the activation returned, so a caller that starts its
   * next run at once would otherwise find every slot busy.
   */
  #ending(): number {
    let n = 0;
    for (const { activation } of this.#active.values()) if (activation.ended) n++;
    return n;
  }

  /**
   * Holds a free slot for a run that `start` creates in this process, so the
   * driver claims it in the same write (`NewRun.claimFor`): no notice, no
   * claim query, no poll. The caller settles it exactly once.
   */
  #reserve(): SlotReservation | undefined {
    if (!this.#started || this.#stopping || this.#rt.closed) return undefined;
    if (this.#free() <= 0 && this.#free() + this.#ending() <= 0) return undefined;
    this.#reserved++;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      this.#reserved--;
      return true;
    };
    return {
      workerId: this.id,
      leaseMs: this.#leaseMs,
      launch: (run) => {
        if (!settle()) return;
        this.#launch({
          run,
          lease: { runId: run.id, token: run.leaseToken },
          previousStatus: "pending",
        });
        // Stopping meanwhile: the run is handed back like the others in flight.
        if (this.#stopping) this.#active.get(run.id)?.activation.stop();
      },
      release: () => {
        if (!settle()) return;
        if (this.#starved) {
          this.#starved = false;
          this.#requestPoll();
        }
        this.#idle?.();
      },
    };
  }

  #launch(claim: Claim): void {
    const rt = this.#rt;
    const nodes = rt.nodesFor(claim.run);
    const runId = claim.run.id;
    if (!nodes) {
      const error = new PlanMismatchError(
        runId,
        claim.run.workflow,
        claim.run.version,
        claim.run.planHash,
      );
      const info = toErrorInfo(error);
      const now = rt.clock.now();
      rt.driver.write(claim.lease, {
        events: [{ type: "run.failed", at: now, detail: failedDetail(info) }],
        run: { status: "failed", error: info },
      }, now).catch((e) => rt.logger.warn(`cannot fail run ${runId}: ${String(e)}`));
      rt.logger.error(error.message);
      return;
    }
    const activation: Activation = new Activation(
      rt,
      claim,
      nodes,
      (): Promise<void> => this.#heartbeatOne(activation),
      leaseStore(rt.driver, runId, claim.lease, rt.logger),
      rt.timeoutFor(claim.run),
    );
    if (claim.previousOwner !== undefined) {
      rt.logger.warn(
        `worker ${this.id} took run ${runId} over from worker ${claim.previousOwner}, whose lease expired`,
        {
          runId,
          previousWorker: claim.previousOwner,
          worker: this.id,
          recoveries: claim.run.recoveries ?? 0,
        },
      );
    }
    if (claim.previousStatus === "pending") {
      notify(rt, "onRunStarted", () => ({
        runId,
        workflow: claim.run.workflow,
        version: claim.run.version,
        at: new Date(rt.clock.now()),
      }));
    }
    this.#busy(1);
    this.#active.get(runId)?.activation.abort(new LeaseLostError(runId));
    const done = activation.execute().finally(() => {
      if (this.#active.get(runId)?.activation === activation) this.#active.delete(runId);
      // The heartbeat timer stays armed when the last run ends: a timer set and
      // cleared per run costs more than one idle firing, which finds no lease
      // and does not re-arm. A run launched meanwhile gets its first heartbeat
      // earlier than a third of its lease, never later.
      // A run that ended frees a slot but makes no new work due: poll again only
      // when a poll left due runs unclaimed for want of a slot, or when the run
      // was handed back or suspended (its next due time must be armed).
      if (this.#starved || !activation.ended) {
        this.#starved = false;
        this.#requestPoll();
      }
      this.#busy(-1);
      this.#idle?.();
    });
    this.#active.set(runId, { activation, done });
    this.#armHeartbeat();
  }

  #armHeartbeat(): void {
    if (this.#heartbeatTimer !== undefined) return;
    const clock = this.#rt.clock;
    this.#heartbeatTimer = clock.setTimer(clock.now() + this.#leaseMs / 3, () => {
      this.#heartbeatTimer = undefined;
      void this.#heartbeatAll().finally(() => {
        if (this.#active.size > 0) this.#armHeartbeat();
      });
    });
  }

  async #heartbeatAll(): Promise<void> {
    const rt = this.#rt;
    const leases: Lease[] = [...this.#active.values()].map((a) => a.activation.lease);
    if (leases.length === 0) return;
    try {
      const clockReady = rt.clockReady();
      if (clockReady !== undefined) await clockReady.catch(() => {}); // keep the last offset
      const states = await rt.driver.extendLeases(leases, rt.clock.now(), this.#leaseMs);
      const tokens = new Map(leases.map((lease) => [lease.runId, lease.token]));
      for (const state of states) {
        const activation = this.#active.get(state.runId)?.activation;
        // A newer activation of the run (claimed again meanwhile) holds a
        // newer lease: this answer is about the old one.
        if (!activation || activation.lease.token !== tokens.get(state.runId)) continue;
        if (state.state === "lost") activation.abort(new LeaseLostError(state.runId));
        else if (state.state === "cancelled") activation.abort(new CancelledError(state.runId));
        else {
          if (state.state === "paused") activation.stop();
          if (state.signals) activation.signalArrived();
        }
      }
    } catch (error) {
      rt.logger.warn(`worker ${this.id} cannot extend its leases`, {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async #heartbeatOne(activation: Activation): Promise<void> {
    const rt = this.#rt;
    const [state] = await rt.driver.extendLeases(
      [activation.lease],
      rt.clock.now(),
      this.#leaseMs,
    );
    if (state?.state === "held") return;
    if (state?.state === "paused") return activation.stop();
    const error = state?.state === "cancelled"
      ? new CancelledError(activation.runId)
      : new LeaseLostError(activation.runId);
    activation.abort(error);
    throw error;
  }
}
