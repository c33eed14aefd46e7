/**
 * The state behind a `LocalRunner` or an `Engine` and its workers: options,
 * the workflow registry, observers, and the driver notices that wake workers
 * and result waiters. The operations on runs live in `client.ts`, run records
 * in `records.ts`, argument checks in `validate.ts`.
 *
 * @module
 */
import { parseRetention, type Retention } from "./retention.ts";
import {
  type AnyWorkflow,
  Workflow,
  workflowFlow,
  workflowNodes,
  workflowTimeout,
} from "./builder.ts";
import { childNodes } from "./nodes.ts";
import type { RtNode } from "./builder.ts";
import type { Clock } from "./clock.ts";
import { DepsScope } from "./deps.ts";
import type {
  Driver,
  DriverNotice,
  FlowLimits,
  FlowLimitsByWorkflow,
  StoredRun,
} from "./driver.ts";
import { InvalidStateError, WorkflowNotFoundError } from "./errors.ts";
import type { Host, Middleware } from "./interpreter.ts";
import { type Logger, silentLogger } from "./logger.ts";
import { StorageClock } from "./_storage_clock.ts";
import type { Observer, ObserverHook } from "./observer.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "./values.ts";
import { describe } from "./validate.ts";
import type { SignalOptions } from "./records.ts";
import type { Schedule } from "./schedule.ts";
import { checkDeclared, scheduleHost, type SchedulesHost } from "./schedules.ts";

/** A worker's slot held for a run being created (`Runtime.reserveSlot`); settle it once. */
export interface SlotReservation {
  /** The worker that claims the run. */
  workerId: string;
  /** Its lease length (ms). */
  leaseMs: number;
  /** The driver claimed the run for the worker: execute it. */
  launch(run: StoredRun): void;
  /** The run was not claimed (it existed, or the driver ignored the claim): free the slot. */
  release(): void;
}

/** What a worker offers `Runtime.reserveSlot`. */
export interface Claimer {
  /** A free slot, held until settled; undefined when full or not running. */
  reserve(): SlotReservation | undefined;
}

/** Completions written here kept for result waiters, at most (the oldest are dropped). */
const OUTCOMES_KEPT = 1024;

/**
 * Options shared by `LocalRunner` and `Engine`.
 *
 * @example The same options for a runner and an engine
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, LocalRunner, MemoryDriver, workflow } from "@sluice/sluice";
 * import type { RuntimeOptions } from "@sluice/sluice";
 *
 * const wf = workflow<number>("price").step("price", (n, ctx) => n * (ctx.deps.rate as number));
 * const shared: RuntimeOptions = { workflows: [wf], deps: { rate: 3 }, maxPayloadBytes: 65_536 };
 * await using runner = new LocalRunner(shared);
 * await using engine = new Engine({ ...shared, driver: new MemoryDriver() });
 * await using worker = engine.worker();
 * await worker.start();
 * assert.equal(await runner.run(wf, 2), 6);
 * assert.equal(await (await engine.start("price", 5)).result(), 15);
 * ```
 */
export interface RuntimeOptions {
  /** Workflows this runner or engine can run (several versions may share a name). */
  // deno-lint-ignore no-explicit-any
  workflows?: readonly Workflow<any, any>[];
  /** Injected dependencies: plain values, or `resource()` entries. */
  deps?: Record<string, unknown>;
  /** Observers of runs and steps. */
  observers?: readonly Observer[];
  /**
   * The logger.
   * @default {silentLogger}
   */
  logger?: Logger;
  /** Middleware wrapping every step execution, outermost first. */
  middleware?: readonly Middleware[];
  /**
   * Size limit of each stored value, in bytes.
   * @default {1048576}
   */
  maxPayloadBytes?: number;
  /**
   * Schedules declared in code, written to storage when the engine opens (a
   * declared schedule of this engine's workflows that is no longer listed is
   * removed). Their workflows must be in `workflows`.
   */
  // deno-lint-ignore no-explicit-any
  schedules?: readonly Schedule<any>[];
}

/** Takeovers in a row, with no write between them, after which a run fails. */
const DEFAULT_MAX_RECOVERIES = 5;

/** The state shared by a LocalRunner or an Engine and its workers. */
export class Runtime implements Host {
  readonly driver: Driver;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly maxPayloadBytes: number;
  readonly maxRecoveries: number;
  /** How long finished runs are kept, per final status (ms); workers purge older ones. */
  readonly retention: Map<"completed" | "failed" | "cancelled", number>;
  readonly deps: DepsScope;
  readonly middleware: readonly Middleware[];
  readonly overrides: Map<unknown, (...args: never[]) => unknown> = new Map();
  readonly observers: readonly Observer[];
  readonly #versions = new Map<string, AnyWorkflow[]>();
  readonly #byHash = new Map<string, Map<string, AnyWorkflow>>();
  #workflowNames: string[] = [];
  #flowLimits: Record<string, FlowLimits> | undefined;
  #concurrencyLimited = false;
  readonly #listeners = new Set<(notice: DriverNotice) => void>();
  readonly #claimers = new Set<Claimer>();
  readonly #waiters = new Map<string, Set<() => void>>();
  /** Counts `finished` and `changed` notices, so a waiter can tell it missed one. */
  #changes = 0;
  #unsubscribe: (() => void) | undefined;
  #closed = false;
  readonly #owner: string;
  /** The schedules: what workers fire with and `schedules` works through. */
  readonly scheduleHost: SchedulesHost;
  /** `RunClient.signal` of the front door this runtime belongs to (set when bound). */
  signalRun: (
    runId: string,
    name: string,
    payload: unknown,
    options: SignalOptions,
  ) => Promise<void> = () =>
    Promise.reject(new Error("Cannot signal: the runtime has no front door"));

  constructor(
    owner: string,
    driver: Driver,
    clock: Clock,
    options: RuntimeOptions & { maxRecoveries?: number; retention?: Retention },
  ) {
    this.#owner = owner;
    this.driver = driver;
    this.clock = clock;
    this.logger = options.logger ?? silentLogger;
    this.maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    if (!Number.isInteger(this.maxPayloadBytes) || this.maxPayloadBytes < 1) {
      throw new RangeError(
        `Cannot use 'maxPayloadBytes' ${this.maxPayloadBytes}: it must be a positive integer`,
      );
    }
    this.retention = parseRetention(options.retention);
    this.maxRecoveries = options.maxRecoveries ?? DEFAULT_MAX_RECOVERIES;
    if (!Number.isInteger(this.maxRecoveries) || this.maxRecoveries < 0) {
      throw new RangeError(
        `Cannot use 'maxRecoveries' ${
          String(this.maxRecoveries)
        }: it must be an integer of at least 0`,
      );
    }
    this.deps = new DepsScope(options.deps);
    this.middleware = [...(options.middleware ?? [])];
    for (const m of this.middleware) {
      if (typeof m !== "function") {
        throw new TypeError("Cannot use middleware that is not a function");
      }
    }
    this.observers = [...(options.observers ?? [])];
    if (options.workflows !== undefined) {
      if (!Array.isArray(options.workflows)) {
        throw new TypeError(`Cannot use 'workflows' ${describe(options.workflows)}: pass an array`);
      }
      for (const wf of options.workflows) this.register(wf);
    }
    const declared = options.schedules === undefined
      ? undefined
      : checkDeclared(options.schedules, (name) => this.#versions.has(name));
    this.scheduleHost = scheduleHost(this, declared);
    this.#unsubscribe = driver.subscribe((notice) => this.#dispatch(notice));
  }

  /** Throws when closed. */
  check(): void {
    if (this.#closed) {
      throw new InvalidStateError(`Cannot use a closed ${this.#owner}: create a new one`);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Resolves once the clock is ready to compare times with other processes
   * (the storage clock is measured and within the skew limit); undefined when
   * the clock needs nothing (real time on one host, or an injected clock).
   */
  clockReady(): Promise<void> | undefined {
    return this.clock instanceof StorageClock ? this.clock.ready() : undefined;
  }

  /** Ids of this process's started workers (they serve every registered workflow). */
  readonly localWorkers: Set<string> = new Set();

  /** The workflow versions this runtime's workers serve. */
  served(): { workflow: string; version: string; planHash: string }[] {
    const out: { workflow: string; version: string; planHash: string }[] = [];
    for (const versions of this.#versions.values()) {
      for (const wf of versions) {
        out.push({ workflow: wf.name, version: wf.version, planHash: wf.planHash });
      }
    }
    return out;
  }

  /** The newest registered version of a workflow. */
  latestVersion(name: string): AnyWorkflow | undefined {
    return this.#versions.get(name)?.at(-1);
  }

  /**
   * Flow-control limits of the registered workflows (each name's newest
   * version), for claims; undefined when none has any.
   */
  get flowLimits(): FlowLimitsByWorkflow | undefined {
    return this.#flowLimits;
  }

  /**
   * The latest finished time a purge at `now` may delete up to: `before`,
   * moved back past the longest rate-limit period of the registered workflows,
   * since a finished run that began within a period still counts toward its
   * rate limit (the window is read from the stored runs).
   */
  purgeCutoff(before: number, now: number): number {
    let longest = 0;
    for (const limits of Object.values(this.#flowLimits ?? {})) {
      longest = Math.max(longest, limits.rateLimit?.periodMs ?? 0);
    }
    return longest === 0 ? before : Math.min(before, now - longest);
  }

  /** Whether a registered workflow has a concurrency limit (freed slots matter). */
  get concurrencyLimited(): boolean {
    return this.#concurrencyLimited;
  }

  /** Names of registered workflows, for claims. */
  get workflowNames(): readonly string[] {
    return this.#workflowNames;
  }

  emit<K extends ObserverHook>(hook: K, event: Parameters<NonNullable<Observer[K]>>[0]): void {
    for (const observer of this.observers) {
      const fn = observer[hook] as ((e: typeof event) => void) | undefined;
      if (!fn) continue;
      try {
        fn.call(observer, event);
      } catch (error) {
        this.logger.warn(`observer hook ${hook} threw`, {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  /** Adds a workflow version; the same name and version must keep the same plan. */
  register(wf: AnyWorkflow): void {
    if (!(wf instanceof Workflow)) {
      throw new TypeError(`Cannot register ${describe(wf)}: pass a workflow built with workflow()`);
    }
    if (!wf.name) {
      throw new TypeError("Cannot register an anonymous flow(): build it with workflow(name)");
    }
    const versions = this.#versions.get(wf.name) ?? [];
    const sameVersion = versions.find((v) => v.version === wf.version);
    if (sameVersion) {
      if (sameVersion.planHash !== wf.planHash) {
        throw new TypeError(
          `Cannot register workflow '${wf.name}' version '${wf.version}' twice with different plans: give the changed workflow a new version`,
        );
      }
      return;
    }
    // The workflows it calls or spawns run here too (registered first, so a
    // conflicting child leaves the parent unregistered).
    for (const node of childNodes(workflowNodes(wf))) this.register(node.child as AnyWorkflow);
    versions.push(wf);
    this.#versions.set(wf.name, versions);
    let hashes = this.#byHash.get(wf.name);
    if (!hashes) this.#byHash.set(wf.name, hashes = new Map());
    if (!hashes.has(wf.planHash)) hashes.set(wf.planHash, wf);
    this.#workflowNames = [...this.#versions.keys()];
    const limits: Record<string, FlowLimits> = {};
    for (const [name, all] of this.#versions) {
      const flow = workflowFlow(all[all.length - 1]!);
      if (flow) limits[name] = flow.limits;
    }
    const limited = Object.values(limits);
    this.#flowLimits = limited.length > 0 ? limits : undefined;
    this.#concurrencyLimited = limited.some((l) => l.concurrency !== undefined);
  }

  /** The registered workflow that matches a run's plan hash. */
  nodesFor(run: StoredRun): readonly RtNode[] | undefined {
    const wf = this.workflowFor(run);
    return wf ? workflowNodes(wf) : undefined;
  }

  /** The registered workflow (version) whose plan hash a run has. */
  workflowFor(run: StoredRun): AnyWorkflow | undefined {
    return this.#byHash.get(run.workflow)?.get(run.planHash);
  }

  /** The workflow `timeout` (ms) of the registered version a run started with. */
  timeoutFor(run: StoredRun): number | undefined {
    const wf = this.#byHash.get(run.workflow)?.get(run.planHash);
    return wf ? workflowTimeout(wf) : undefined;
  }

  /** The workflow to start: a registered name's newest version, or a workflow (registered on the fly). */
  resolve(wf: unknown): AnyWorkflow {
    if (typeof wf === "string") {
      const versions = this.#versions.get(wf);
      if (!versions) throw new WorkflowNotFoundError(wf);
      return versions[versions.length - 1]!;
    }
    if (!(wf instanceof Workflow)) {
      throw new TypeError(
        `Cannot start ${describe(wf)}: pass a workflow built with workflow() or a registered name`,
      );
    }
    this.register(wf);
    return wf;
  }

  // ---- starts claimed at once ------------------------------------------------

  /** A worker offers its free slots to runs started in this process (see `reserveSlot`). */
  addClaimer(claimer: Claimer): () => void {
    this.#claimers.add(claimer);
    return () => this.#claimers.delete(claimer);
  }

  /**
   * A free slot of a worker of this process for a new run of `workflow`, so
   * `start` can claim the run in the same write that creates it. None for a
   * workflow under flow control (its claims go through the limits).
   */
  reserveSlot(workflow: string): SlotReservation | undefined {
    if (this.#claimers.size === 0 || this.#flowLimits?.[workflow] !== undefined) return undefined;
    for (const claimer of this.#claimers) {
      const slot = claimer.reserve();
      if (slot !== undefined) return slot;
    }
    return undefined;
  }

  // ---- notices ---------------------------------------------------------------

  /** Listens to driver notices (workers use it). */
  listen(listener: (notice: DriverNotice) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #dispatch(notice: DriverNotice): void {
    for (const listener of this.#listeners) listener(notice);
    if (notice.type === "finished" && notice.runId !== undefined) {
      this.#changes++;
      this.#wakeWaiters(notice.runId);
    } else if (notice.type === "changed") {
      this.#changes++;
      for (const runId of [...this.#waiters.keys()]) this.#wakeWaiters(runId);
    }
  }

  #wakeWaiters(runId: string): void {
    const waiters = this.#waiters.get(runId);
    if (!waiters) return;
    this.#waiters.delete(runId);
    for (const wake of waiters) wake();
  }

  // ---- result waiters -----------------------------------------------------------

  /**
   * Completions written by this process's activations, by run id, until a
   * result waiter takes them (at most OUTCOMES_KEPT; the oldest go first).
   */
  readonly #outcomes = new Map<string, Promise<{ output: string | undefined } | undefined>>();

  /** An activation of this process is writing run `runId`'s completion (see `Host`). */
  completing(runId: string, written: Promise<{ output: string | undefined } | undefined>): void {
    this.#outcomes.delete(runId);
    this.#outcomes.set(runId, written);
    if (this.#outcomes.size > OUTCOMES_KEPT) {
      const oldest = this.#outcomes.keys().next().value;
      if (oldest !== undefined) this.#outcomes.delete(oldest);
    }
    void written.then((outcome) => {
      if (outcome === undefined && this.#outcomes.get(runId) === written) {
        this.#outcomes.delete(runId);
      }
    });
  }

  /** Whether this process wrote (or is writing) run `runId`'s completion, not yet taken. */
  hasOutcome(runId: string): boolean {
    return this.#outcomes.has(runId);
  }

  /**
   * The completion of run `runId` written by this process, if one was: its
   * stored output once committed, `undefined` if the write failed.
   */
  takeOutcome(runId: string): Promise<{ output: string | undefined } | undefined> | undefined {
    const written = this.#outcomes.get(runId);
    if (written !== undefined) this.#outcomes.delete(runId);
    return written;
  }

  /** Counts `finished` and `changed` notices, so a waiter can tell it missed one. */
  get changes(): number {
    return this.#changes;
  }

  /**
   * Resolves on the next notice that may concern the run (or after 250 ms on
   * shared storage, whose other processes may not notify this one).
   */
  waitForChange(runId: string): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        this.#waiters.get(runId)?.delete(wake);
        resolve();
      };
      let set = this.#waiters.get(runId);
      if (!set) this.#waiters.set(runId, set = new Set());
      set.add(wake);
      if (this.driver.shared) timer = setTimeout(wake, 250);
    });
  }

  /** Releases the driver subscription, wakes result waiters, runs cleanups. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const runId of [...this.#waiters.keys()]) this.#wakeWaiters(runId);
    // Wakes whoever still listens (watchers), so they see the close and end.
    for (const listener of [...this.#listeners]) listener({ type: "changed" });
    await this.deps.close();
  }
}
