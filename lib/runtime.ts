/**
 * The machinery shared by `LocalRunner` and `Engine`: the workflow registry,
 * value checks, run records, history, results, and the driver notices that
 * wake workers and result waiters.
 *
 * @module
 */
import { type AnyWorkflow, Workflow, workflowNodes } from "./builder.ts";
import type { RtNode } from "./builder.ts";
import type { Clock } from "./clock.ts";
import { DepsScope } from "./deps.ts";
import {
  decodeCursor,
  type Driver,
  type DriverNotice,
  type RunStatus,
  type StoredRun,
} from "./driver.ts";
import {
  type ErrorInfo,
  fromErrorInfo,
  InvalidStateError,
  RunNotFoundError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from "./errors.ts";
import { LIST_PAGE } from "./driver_policy.ts";
import { DuplicateRunError } from "./errors.ts";
import type { Host, Middleware } from "./interpreter.ts";
import { type Logger, silentLogger } from "./logger.ts";
import { StorageClock } from "./_storage_clock.ts";
import type { Observer, ObserverHook } from "./observer.ts";
import { decodeValue, DEFAULT_MAX_PAYLOAD_BYTES, encodeValue } from "./values.ts";
import { CONTROL_CHARACTERS, hasControlCharacters } from "./_text.ts";
import { HISTORY_PAGE, type HistoryOptions, historyPage, toHistory } from "./history.ts";

export type { HistoryOptions };
import { toStoredTime } from "./time.ts";

/**
 * A run as `get` and `list` return it.
 *
 * @example Read a finished run
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunRecord, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<{ qty: number }>("order").step("price", (o) => o.qty * 3);
 * await using runner = new LocalRunner();
 * const run = await runner.start(wf, { qty: 2 }, { id: "order-1", labels: { shop: "eu" } });
 * await run.result();
 * const record: RunRecord = await runner.get("order-1");
 * assert.equal(record.status, "completed");
 * assert.deepEqual(record.input, { qty: 2 });
 * assert.equal(record.output, 6);
 * assert.deepEqual(record.labels, { shop: "eu" });
 * ```
 */
export interface RunRecord {
  /** The run id. */
  id: string;
  /** Workflow name. */
  workflow: string;
  /** Workflow version the run started with. */
  version: string;
  /** Plan hash the run started with. */
  planHash: string;
  /** Current status. */
  status: RunStatus;
  /** The workflow input. */
  input: unknown;
  /** The output, once completed. */
  output?: unknown;
  /** The error, once failed or cancelled. */
  error?: ErrorInfo;
  /** Labels given at start. */
  labels: Record<string, string>;
  /** When the run was created. */
  createdAt: Date;
  /** When its status last changed. */
  updatedAt: Date;
  /** When a sleeping or waiting run wakes (timer or signal timeout). */
  wakeAt?: Date;
  /** The signals a waiting run waits for. */
  waitingFor?: string[];
}

/**
 * A page of runs, newest first.
 *
 * @example Page through runs
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunPage, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("n").step("n", (n) => n);
 * await using runner = new LocalRunner();
 * for (const n of [1, 2, 3]) await runner.run(wf, n);
 * const first: RunPage = await runner.list({ limit: 2 });
 * const second: RunPage = await runner.list({ limit: 2, cursor: first.nextCursor });
 * assert.equal(first.runs.length, 2);
 * assert.equal(second.runs.length, 1);
 * assert.equal(second.nextCursor, undefined);
 * ```
 */
export interface RunPage {
  /** The runs. */
  runs: RunRecord[];
  /** Pass as `cursor` to get the next page; absent on the last page. */
  nextCursor?: string;
}

/**
 * Filters of `list`.
 *
 * @example Filter by status and label
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ListOptions, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("invoice").step("total", (n) => n * 2);
 * await using runner = new LocalRunner();
 * await runner.run(wf, 1, { labels: { team: "billing" } });
 * await runner.run(wf, 2, { labels: { team: "sales" } });
 * const options: ListOptions = { status: ["completed"], labels: { team: "billing" }, limit: 10 };
 * const page = await runner.list(options);
 * assert.deepEqual(page.runs.map((r) => r.output), [2]);
 * ```
 */
export interface ListOptions {
  /** Only runs in this status (or these statuses). */
  status?: RunStatus | RunStatus[];
  /** Only runs of this workflow. */
  workflow?: string;
  /** Only runs carrying all these labels. */
  labels?: Record<string, string>;
  /**
   * Page size, 1 to 1000.
   * @default {100}
   */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

/**
 * One entry of a run's history.
 *
 * @example The history of a one-step run
 * ```ts
 * import assert from "node:assert/strict";
 * import { type HistoryEvent, LocalRunner, workflow } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner();
 * const run = await runner.start(workflow<number>("h").step("inc", (n) => n + 1), 1);
 * await run.result();
 * const history: HistoryEvent[] = await runner.history(run.id);
 * assert.deepEqual(history.map((e) => e.step ? `${e.type} ${e.step}` : e.type), [
 *   "run.created",
 *   "run.started",
 *   "step.started inc",
 *   "step.completed inc",
 *   "run.completed",
 * ]);
 * ```
 */
export interface HistoryEvent {
  /** What happened. */
  type:
    | "run.created"
    | "run.started"
    | "step.started"
    | "step.completed"
    | "step.failed"
    | "step.retried"
    | "run.sleeping"
    | "run.waiting"
    | "signal.received"
    | "run.completed"
    | "run.failed"
    | "run.cancelled"
    | "run.retried"
    | "run.recovered";
  /** When. */
  at: Date;
  /**
   * Its place in the run's history: higher for later writes, and the same on
   * every read. Pass the last one read as `after` to read the next page.
   */
  seq: number;
  /** The step key concerned. */
  step?: string;
  /** The attempt concerned. */
  attempt?: number;
  /** A step's output (`step.completed`). */
  output?: unknown;
  /** The error (`step.failed`, `run.failed`). */
  error?: ErrorInfo;
  /** When the run or step wakes (`run.sleeping`, `run.waiting`, `step.retried`). */
  wakeAt?: Date;
  /** The signals waited for (`run.waiting`). */
  signals?: string[];
  /** The signal name (`signal.received`). */
  signal?: string;
  /** The signal payload (`signal.received`). */
  payload?: unknown;
  /** The cancel reason (`run.cancelled`). */
  reason?: string;
  /** The worker whose lease expired (`run.recovered`). */
  previousWorker?: string;
  /** The worker that took the run over (`run.recovered`). */
  worker?: string;
}

/**
 * Options of `start`.
 *
 * @example Start later, with an id and labels
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type StartOptions, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<number>("invoice").step("total", (n) => n * 2);
 * await using runner = new LocalRunner({ clock: "virtual" });
 * const options: StartOptions = {
 *   id: "invoice-42",
 *   labels: { customer: "ada" },
 *   startAt: Date.now() + 60_000, // a minute from now
 * };
 * const run = await runner.start(wf, 21, options);
 * assert.equal((await runner.get(run.id)).status, "pending");
 * const again = await runner.start(wf, 99, options); // same id: the same run
 * assert.equal(again.id, "invoice-42");
 * assert.equal(await again.result(), 42);
 * ```
 */
export interface StartOptions {
  /** The run id; starting again with an existing id returns the existing run. */
  id?: string;
  /** Labels to filter runs by. */
  labels?: Record<string, string>;
  /** Delays the first step durably until this time. */
  startAt?: Date | number;
}

/**
 * A started run.
 *
 * @typeParam Out The workflow output type.
 *
 * @example Signal a run through its handle
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type RunHandle, workflow } from "@sluice/sluice";
 *
 * const wf = workflow<string>("gate").waitForSignal<string>("open", "open");
 * await using runner = new LocalRunner();
 * const run: RunHandle<string> = await runner.start(wf, "x", { id: "gate-1" });
 * await run.signal("open", "by ada");
 * assert.equal(run.id, "gate-1");
 * assert.equal(await run.result(), "by ada");
 * assert.equal(await run.status(), "completed");
 * ```
 */
export interface RunHandle<Out> {
  /** The run id. */
  readonly id: string;
  /** Resolves with the output; rejects with `WorkflowFailedError` or `CancelledError`. */
  result(): Promise<Out>;
  /** The current status. */
  status(): Promise<RunStatus>;
  /** Sends a signal to the run. */
  signal(name: string, payload?: unknown): Promise<void>;
  /** Cancels the run. */
  cancel(reason?: string): Promise<void>;
}

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
}

/** Takeovers in a row, with no write between them, after which a run fails. */
const DEFAULT_MAX_RECOVERIES = 5;

const ID = /^[\x21-\x7e]{1,255}$/;

function describe(value: unknown): string {
  return typeof value === "string" ? `'${value}'` : `of type ${typeof value}`;
}

/** Checks a run id argument. */
export function checkRunId(runId: unknown): asserts runId is string {
  if (typeof runId !== "string" || !ID.test(runId)) {
    throw new TypeError(
      `Cannot use run id ${
        describe(runId)
      }: ids are 1 to 255 printable ASCII characters without spaces`,
    );
  }
}

/** Most labels on one run. */
export const MAX_LABELS = 64;
/** Longest label key, in UTF-16 code units. */
export const MAX_LABEL_KEY_LENGTH = 128;
/** Longest label value, in UTF-16 code units. */
export const MAX_LABEL_VALUE_LENGTH = 512;

function checkLabels(labels: unknown, what: string): Record<string, string> {
  if (labels === undefined) return {};
  if (typeof labels !== "object" || labels === null || Array.isArray(labels)) {
    throw new TypeError(`Cannot use ${what} ${describe(labels)}: pass an object of strings`);
  }
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) {
    throw new RangeError(
      `Cannot use ${entries.length} labels in ${what}: a run has at most ${MAX_LABELS}, keep the rest in its input`,
    );
  }
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    const shown = JSON.stringify(key.slice(0, MAX_LABEL_KEY_LENGTH + 1)).slice(1, -1);
    if (
      key.length === 0 || key.length > MAX_LABEL_KEY_LENGTH || typeof value !== "string" ||
      value.length > MAX_LABEL_VALUE_LENGTH
    ) {
      throw new TypeError(
        `Cannot use label '${shown}' in ${what}: keys are 1 to ${MAX_LABEL_KEY_LENGTH} characters and values strings of up to ${MAX_LABEL_VALUE_LENGTH}`,
      );
    }
    if (hasControlCharacters(key) || hasControlCharacters(value)) {
      throw new TypeError(
        `Cannot use label '${shown}' in ${what}: labels cannot hold ${CONTROL_CHARACTERS}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/** Converts a stored run to a public record. */
export function toRunRecord(run: StoredRun): RunRecord {
  const record: RunRecord = {
    id: run.id,
    workflow: run.workflow,
    version: run.version,
    planHash: run.planHash,
    status: run.status,
    input: decodeValue(run.input),
    labels: run.labels,
    createdAt: new Date(run.createdAt),
    updatedAt: new Date(run.updatedAt),
  };
  if (run.output !== undefined) record.output = decodeValue(run.output);
  if (run.error !== undefined) record.error = run.error;
  if ((run.status === "sleeping" || run.status === "waiting") && run.dueAt !== undefined) {
    record.wakeAt = new Date(run.dueAt);
  }
  if (run.status === "waiting" && run.waitingFor) record.waitingFor = run.waitingFor;
  return record;
}

/** The state shared by a LocalRunner or an Engine and its workers. */
export class Runtime implements Host {
  readonly driver: Driver;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly maxPayloadBytes: number;
  readonly maxRecoveries: number;
  readonly deps: DepsScope;
  readonly middleware: readonly Middleware[];
  readonly overrides: Map<unknown, (...args: never[]) => unknown> = new Map();
  readonly observers: readonly Observer[];
  readonly #versions = new Map<string, AnyWorkflow[]>();
  readonly #byHash = new Map<string, Map<string, AnyWorkflow>>();
  #workflowNames: string[] = [];
  readonly #listeners = new Set<(notice: DriverNotice) => void>();
  readonly #waiters = new Map<string, Set<() => void>>();
  /** Counts `finished` and `changed` notices, so a waiter can tell it missed one. */
  #changes = 0;
  #unsubscribe: (() => void) | undefined;
  #closed = false;
  readonly #owner: string;

  constructor(
    owner: string,
    driver: Driver,
    clock: Clock,
    options: RuntimeOptions & { maxRecoveries?: number },
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
    versions.push(wf);
    this.#versions.set(wf.name, versions);
    let hashes = this.#byHash.get(wf.name);
    if (!hashes) this.#byHash.set(wf.name, hashes = new Map());
    if (!hashes.has(wf.planHash)) hashes.set(wf.planHash, wf);
    this.#workflowNames = [...this.#versions.keys()];
  }

  /** The registered workflow that matches a run's plan hash. */
  nodesFor(run: StoredRun): readonly RtNode[] | undefined {
    const wf = this.#byHash.get(run.workflow)?.get(run.planHash);
    return wf ? workflowNodes(wf) : undefined;
  }

  #resolve(wf: unknown): AnyWorkflow {
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

  // ---- operations ---------------------------------------------------------------

  async start<In, Out>(
    wf: Workflow<In, Out> | string,
    input: In,
    options?: StartOptions,
  ): Promise<RunHandle<Out>> {
    this.check();
    const workflow = this.#resolve(wf);
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new TypeError(`Cannot use start options ${describe(options)}: pass an object`);
    }
    const id = options?.id ?? crypto.randomUUID();
    checkRunId(id);
    const labels = checkLabels(options?.labels, "the labels of a run");
    await this.clockReady();
    const now = this.clock.now();
    const dueAt = options?.startAt === undefined ? now : toStoredTime(options.startAt, "'startAt'");
    const encoded = encodeValue(
      input,
      `the input of workflow '${workflow.name}'`,
      this.maxPayloadBytes,
    );
    const { run, created } = await this.driver.createRun({
      id,
      workflow: workflow.name,
      version: workflow.version,
      planHash: workflow.planHash,
      ...(encoded === undefined ? {} : { input: encoded }),
      labels,
      dueAt,
    }, now);
    if (!created && run.workflow !== workflow.name) {
      throw new DuplicateRunError(id, run.workflow, workflow.name);
    }
    return this.handle<Out>(run.id);
  }

  handle<Out>(id: string): RunHandle<Out> {
    return {
      id,
      result: () => this.result(id) as Promise<Out>,
      status: async () => (await this.get(id)).status,
      signal: (name, payload) => this.signal(id, name, payload),
      cancel: (reason) => this.cancel(id, reason),
    };
  }

  async signal(runId: string, name: string, payload?: unknown): Promise<void> {
    this.check();
    checkRunId(runId);
    if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/.test(name)) {
      throw new TypeError(
        `Cannot send signal ${
          describe(name)
        }: signal names start with a letter or '_', then up to 127 letters, digits, '_', '.' or '-'`,
      );
    }
    const encoded = encodeValue(payload, `the payload of signal '${name}'`, this.maxPayloadBytes);
    await this.clockReady();
    const now = this.clock.now();
    await this.driver.sendSignal(runId, name, encoded, now);
    if (this.observers.length) {
      const run = await this.driver.getRun(runId);
      if (run) {
        this.emit("onSignalReceived", {
          runId,
          workflow: run.workflow,
          version: run.version,
          at: new Date(now),
          signal: name,
          payload,
        });
      }
    }
  }

  async cancel(runId: string, reason?: string): Promise<void> {
    this.check();
    checkRunId(runId);
    if (reason !== undefined && (typeof reason !== "string" || reason.length > 1000)) {
      throw new TypeError(
        `Cannot cancel with reason ${describe(reason)}: pass a string of up to 1000 characters`,
      );
    }
    await this.clockReady();
    const now = this.clock.now();
    const run = await this.driver.cancelRun(runId, reason, now);
    if (this.observers.length) {
      const event: Parameters<NonNullable<Observer["onRunCancelled"]>>[0] = {
        runId,
        workflow: run.workflow,
        version: run.version,
        at: new Date(now),
      };
      if (reason !== undefined) event.reason = reason;
      this.emit("onRunCancelled", event);
    }
  }

  async get(runId: string): Promise<RunRecord> {
    this.check();
    checkRunId(runId);
    const run = await this.driver.getRun(runId);
    if (!run) throw new RunNotFoundError(runId);
    return toRunRecord(run);
  }

  async list(options: ListOptions = {}): Promise<RunPage> {
    this.check();
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Cannot list with ${describe(options)}: pass an options object`);
    }
    const limit = options.limit ?? LIST_PAGE.default;
    if (!Number.isInteger(limit) || limit < 1 || limit > LIST_PAGE.max) {
      throw new RangeError(`Cannot list ${String(limit)} runs a page: use 1 to ${LIST_PAGE.max}`);
    }
    const statuses = options.status === undefined
      ? []
      : Array.isArray(options.status)
      ? options.status
      : [options.status];
    const known = ["pending", "running", "sleeping", "waiting", "completed", "failed", "cancelled"];
    for (const status of statuses) {
      if (!known.includes(status)) {
        throw new TypeError(
          `Cannot list runs with status ${describe(status)}: use one of ${known.join(", ")}`,
        );
      }
    }
    if (
      options.workflow !== undefined &&
      (typeof options.workflow !== "string" || hasControlCharacters(options.workflow))
    ) {
      throw new TypeError(
        `Cannot list runs of workflow ${
          typeof options.workflow === "string"
            ? JSON.stringify(options.workflow)
            : describe(options.workflow)
        }: pass a workflow name (names hold no ${CONTROL_CHARACTERS})`,
      );
    }
    if (options.cursor !== undefined) decodeCursor(options.cursor);
    const labels = options.labels === undefined
      ? undefined
      : checkLabels(options.labels, "the label filter");
    const page = await this.driver.listRuns({ ...options, limit, ...(labels ? { labels } : {}) });
    const out: RunPage = { runs: page.runs.map(toRunRecord) };
    if (page.nextCursor !== undefined) out.nextCursor = page.nextCursor;
    return out;
  }

  async history(runId: string, options?: HistoryOptions): Promise<HistoryEvent[]> {
    this.check();
    checkRunId(runId);
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new TypeError(
        `Cannot read a history with options ${describe(options)}: pass an object`,
      );
    }
    const limit = options?.limit ?? HISTORY_PAGE.default;
    if (!Number.isInteger(limit) || limit < 1 || limit > HISTORY_PAGE.max) {
      throw new RangeError(
        `Cannot read ${String(limit)} history events a page: use 1 to ${HISTORY_PAGE.max}`,
      );
    }
    const after = options?.after;
    if (after !== undefined && (typeof after !== "number" || !Number.isFinite(after))) {
      throw new TypeError(
        `Cannot read a history after ${describe(after)}: pass the 'seq' of the last event read`,
      );
    }
    if (!(await this.driver.getRun(runId))) throw new RunNotFoundError(runId);
    if (options === undefined) return toHistory(await this.driver.history(runId));
    return await historyPage(this.driver, runId, after ?? -1, limit);
  }

  /** Waits for a run to finish. */
  async result(runId: string): Promise<unknown> {
    this.check();
    checkRunId(runId);
    for (;;) {
      // A run may finish while getRun() is pending: its notice then finds no
      // waiter, so compare the notice count before waiting.
      const changes = this.#changes;
      const run = await this.driver.getRun(runId);
      if (!run) throw new RunNotFoundError(runId);
      if (run.status === "completed") return decodeValue(run.output);
      if (run.status === "failed" || run.status === "cancelled") {
        const cause = run.error ? fromErrorInfo(run.error) : new Error("unknown error");
        if (run.status === "cancelled") throw cause;
        throw new WorkflowFailedError(run.id, run.workflow, cause, run.error?.step);
      }
      if (changes === this.#changes) await this.#waitForChange(runId);
      this.check();
    }
  }

  #waitForChange(runId: string): Promise<void> {
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

  async retry(runId: string): Promise<void> {
    this.check();
    checkRunId(runId);
    await this.clockReady();
    await this.driver.retryRun(runId, this.clock.now());
  }

  async purge(options: { finishedBefore: Date | number }): Promise<number> {
    this.check();
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Cannot purge without options: pass { finishedBefore }");
    }
    return await this.driver.purge(toStoredTime(options.finishedBefore, "'finishedBefore'"));
  }

  /** Releases the driver subscription, wakes result waiters, runs cleanups. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const runId of [...this.#waiters.keys()]) this.#wakeWaiters(runId);
    await this.deps.close();
  }
}
