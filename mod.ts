/**
 * Sluice: durable workflows for TypeScript.
 *
 * A fluent builder compiles a workflow into a deterministic, JSON-serializable
 * plan. The same plan runs in-process under a {@linkcode LocalRunner} (tests,
 * scripts) or under durable workers ({@linkcode Engine}, {@linkcode Worker})
 * against a storage driver: {@linkcode MemoryDriver} here, `SqliteDriver` in
 * `@sluice/sluice/sqlite` and `PostgresDriver` in `@sluice/sluice/postgres`.
 *
 * @example Onboard a user: a step, parallel branches, a condition and a durable sleep
 * ```ts
 * import assert from "node:assert/strict";
 * import { flow, LocalRunner, workflow } from "@sluice/sluice";
 *
 * const onboard = workflow<{ email: string }>("onboard-user")
 *   .step("createAccount", (input) => ({ userId: input.email.split("@")[0]! }))
 *   .parallel("prepare", {
 *     profile: (v) => ({ tier: v.userId === "ada" ? "gold" : "basic" }),
 *     settings: () => ({ theme: "dark" }),
 *   })
 *   .if(
 *     "vip",
 *     (v) => v.profile.tier === "gold",
 *     flow<{ profile: { tier: string } }>().step("gift", () => "gift sent"),
 *   )
 *   .sleep("coolDown", "1h")
 *   .step("finish", (v) => ({ done: true, last: v }));
 *
 * await using runner = new LocalRunner({ clock: "virtual" });
 * assert.deepEqual(await runner.run(onboard, { email: "ada@example.com" }), {
 *   done: true,
 *   last: "gift sent",
 * });
 * ```
 *
 * @module
 */
export {
  type AnySignal,
  type Branch,
  type BranchOutput,
  type CallOptions,
  type ChildIdFn,
  defineStep,
  type Deps,
  type Flow,
  flow,
  type FlowRef,
  type MapOptions,
  type ParallelOptions,
  type RetryOptions,
  type SpawnOptions,
  type StepContext,
  type StepDef,
  type StepFn,
  type StepOptions,
  type WaitOptions,
  type WhileOptions,
  Workflow,
  workflow,
  type WorkflowOptions,
} from "./lib/builder.ts";
export type {
  Plan,
  PlanBranch,
  PlanChild,
  PlanFlow,
  PlanIf,
  PlanLoop,
  PlanMap,
  PlanNode,
  PlanParallel,
  PlanRetry,
  PlanSleep,
  PlanSleepUntil,
  PlanStep,
  PlanWait,
  PlanWhile,
} from "./lib/plan.ts";
export { type Duration, parseDuration } from "./lib/duration.ts";
export { MAX_DURATION_MS, MAX_TIME_MS, MIN_TIME_MS } from "./lib/time.ts";
export { MAX_NESTING_DEPTH } from "./lib/values.ts";
export { type Clock, type ClockTimer, ManualClock, realClock } from "./lib/clock.ts";
export { type Resource, resource, type ResourceScope } from "./lib/deps.ts";
export type { Middleware } from "./lib/interpreter.ts";
export { RunClient } from "./lib/client.ts";
export type { ConcurrencyOption, RateLimitOption } from "./lib/flow.ts";
export { LocalRunner, type LocalRunnerOptions } from "./lib/local_runner.ts";
export { Engine, type EngineOptions } from "./lib/engine.ts";
export { Worker, type WorkerOptions } from "./lib/worker.ts";
export type { WatchEvent, WatchFilter, WatchOptions } from "./lib/watch.ts";
export {
  Schedule,
  schedule,
  type ScheduleCatchUp,
  type ScheduleOptions,
  type ScheduleOverlap,
} from "./lib/schedule.ts";
export { type ScheduleInfo, Schedules } from "./lib/schedules.ts";
export { DuplicateScheduleError, ScheduleNotFoundError } from "./lib/schedule_errors.ts";
export type {
  NewSchedule,
  ScheduleChange,
  ScheduleClaimOptions,
  ScheduleSource,
  ScheduleStore,
  StoredSchedule,
} from "./lib/schedule_store.ts";
export type {
  CancelOptions,
  ForkOptions,
  HistoryEvent,
  ListOptions,
  RunHandle,
  RunPage,
  RunRecord,
  SignalOptions,
  StartOptions,
  WorkerRecord,
} from "./lib/records.ts";
export type { HistoryOptions } from "./lib/history.ts";
export type { Retention } from "./lib/retention.ts";
export type { RuntimeOptions } from "./lib/runtime.ts";
export { MemoryDriver } from "./drivers/memory/mod.ts";
export type {
  CancelRunOptions,
  Claim,
  ClaimOptions,
  ConsumedSignal,
  Driver,
  DriverNotice,
  FlowLimits,
  FlowLimitsByWorkflow,
  HistoryEventType,
  Lease,
  LeaseState,
  NewRun,
  NewSignal,
  PurgeOptions,
  RunFilter,
  RunStatus,
  RunTransition,
  SendSignalOptions,
  StepRow,
  StoredEvent,
  StoredFeedItem,
  StoredHistoryItem,
  StoredHistoryPage,
  StoredRun,
  StoredRunPage,
  StoredWorker,
  WriteBatch,
} from "./lib/driver.ts";
export { CompensationFailedError, WorkflowTimeoutError } from "./lib/errors_saga.ts";
export {
  CancelledError,
  ClockSkewError,
  DuplicateRunError,
  type ErrorInfo,
  InvalidStateError,
  LeaseLostError,
  NonRetryableError,
  PayloadTooLargeError,
  PlanMismatchError,
  RecoveryLimitError,
  RunNotFoundError,
  SerializationError,
  SignalTimeoutError,
  SluiceError,
  type SluiceErrorOptions,
  StepTimeoutError,
  StorageError,
  type StorageErrorOptions,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from "./lib/errors.ts";
export { ChildWorkflowFailedError } from "./lib/children.ts";
export {
  type DurationStats,
  LoggingObserver,
  MetricsObserver,
  type MetricsSnapshot,
  type Observer,
  type ObserverHook,
  type RunCancelledEvent,
  type RunCompletedEvent,
  type RunEvent,
  type RunFailedEvent,
  type RunWaitingEvent,
  type SignalEvent,
  type StepCompletedEvent,
  type StepEvent,
  type StepFailedEvent,
  type StepRetriedEvent,
} from "./lib/observer.ts";
export {
  consoleLogger,
  type LogAttributes,
  type Logger,
  type LogLevel,
  silentLogger,
} from "./lib/logger.ts";
