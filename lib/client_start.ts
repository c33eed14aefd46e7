/**
 * How the front door creates runs: `start` (with signal-with-start) and
 * `fork`, from checked options to the driver's `createRun`. `RunClient`
 * (`client.ts`) calls these; nothing else does.
 *
 * @module
 */
import { checkPriority, flowKeys } from "./flow.ts";
import { type AnyWorkflow, workflowFlow, workflowNodes, workflowTimeout } from "./builder.ts";
import { DuplicateRunError, RunNotFoundError, WorkflowNotFoundError } from "./errors.ts";
import type { NewRun, NewSignal, StoredRun } from "./driver.ts";
import { decodeValue, encodeValue } from "./values.ts";
import { deadlineFrom, toStoredTime } from "./time.ts";
import type { ForkOptions, StartOptions } from "./records.ts";
import type { Runtime } from "./runtime.ts";
import { checkLabels, checkOptions, checkRunId, checkStartSignal, describe } from "./validate.ts";

/**
 * @internal Creates the run of `start` (or finds the one with its id),
 * signalling it when the options carry a signal; `changes` is the notice count
 * before the write.
 */
export async function startRun(
  rt: Runtime,
  wf: AnyWorkflow | string,
  input: unknown,
  options: StartOptions | undefined,
): Promise<{ run: StoredRun; created: boolean; changes: number }> {
  const workflow = rt.resolve(wf);
  checkOptions(options, "use start options");
  const id = options?.id ?? crypto.randomUUID();
  checkRunId(id);
  const labels = checkLabels(options?.labels, "the labels of a run");
  const signal = checkStartSignal(options?.signal, rt.maxPayloadBytes);
  await rt.clockReady();
  const now = rt.clock.now();
  const dueAt = options?.startAt === undefined ? now : toStoredTime(options.startAt, "'startAt'");
  const priority = checkPriority(options?.priority);
  const encoded = encodeValue(
    input,
    `the input of workflow '${workflow.name}'`,
    rt.maxPayloadBytes,
  );
  // Flow-control keys are computed once, here, and stored with the run.
  const keys = flowKeys(workflowFlow(workflow), input, workflow.name);
  const changes = rt.changes;
  const newRun: NewRun = {
    id,
    workflow: workflow.name,
    version: workflow.version,
    planHash: workflow.planHash,
    ...(encoded === undefined ? {} : { input: encoded }),
    labels,
    dueAt,
    ...keys,
    ...(priority === 0 ? {} : { priority }),
    // The workflow timeout counts from the run's start: `startAt`, or now.
    ...deadlineFrom(workflowTimeout(workflow), dueAt),
  };
  // A worker of this process with a free slot claims the run in the same write.
  const slot = signal === undefined && dueAt <= now ? rt.reserveSlot(workflow.name) : undefined;
  if (slot !== undefined) newRun.claimFor = { workerId: slot.workerId, leaseMs: slot.leaseMs };
  let started: { run: StoredRun; created: boolean };
  try {
    started = signal === undefined
      ? await rt.driver.createRun(newRun, now)
      : await startWithSignal(rt, newRun, signal, now);
  } catch (error) {
    slot?.release();
    throw error;
  }
  const { run, created } = started;
  if (slot !== undefined) {
    if (created && run.status === "running" && run.leaseOwner === slot.workerId) slot.launch(run);
    else slot.release();
  }
  if (!created && run.workflow !== workflow.name) {
    throw new DuplicateRunError(id, run.workflow, workflow.name);
  }
  return { run, created, changes };
}

/** Signal-with-start: the driver creates and signals atomically; observers hear of a delivery. */
async function startWithSignal(
  rt: Runtime,
  newRun: NewRun,
  signal: NewSignal & { value: unknown },
  now: number,
): Promise<{ run: StoredRun; created: boolean }> {
  const { value, ...stored } = signal;
  const started = await rt.driver.startWithSignal(newRun, stored, now);
  if (started.delivered && rt.observers.length) {
    rt.emit("onSignalReceived", {
      runId: newRun.id,
      workflow: started.run.workflow,
      version: started.run.version,
      at: new Date(now),
      signal: signal.name,
      payload: value,
    });
  }
  return started;
}

/**
 * @internal Creates the run of `fork`: the source's recorded top-level steps
 * before `from`, its labels and priority, and the same or a new input.
 * `onWork` runs before the new run is written. Returns the new run's id.
 */
export async function forkRun(
  rt: Runtime,
  runId: string,
  options: ForkOptions | undefined,
  onWork: () => void,
): Promise<string> {
  rt.check();
  checkRunId(runId);
  checkOptions(options, "fork with", "pass { from?, input?, id? }");
  const id = options?.id ?? crypto.randomUUID();
  checkRunId(id);
  const source = await rt.driver.getRun(runId);
  if (!source) throw new RunNotFoundError(runId);
  const wf = rt.workflowFor(source);
  if (!wf) {
    throw new WorkflowNotFoundError(
      source.workflow,
      ` version '${source.version}' with plan ${source.planHash} (of run '${runId}')`,
    );
  }
  const names = workflowNodes(wf).map((node) => node.name);
  const from = options?.from;
  const upTo = from === undefined ? 0 : names.indexOf(from);
  if (from !== undefined && (typeof from !== "string" || upTo < 0)) {
    throw new RangeError(
      `Cannot fork run '${runId}' from ${
        describe(from)
      }: use one of its workflow's top-level steps (${
        names.map((name) => `'${name}'`).join(", ")
      })`,
    );
  }
  const newInput = options !== undefined && "input" in options;
  const input = newInput
    ? encodeValue(options.input, `the input of workflow '${source.workflow}'`, rt.maxPayloadBytes)
    : source.input;
  // Flow-control keys follow the input, as at start; the priority is kept.
  const keys = flowKeys(
    workflowFlow(wf),
    newInput ? options.input : decodeValue(source.input),
    wf.name,
  );
  const reused = await rt.driver.readSteps(runId, names.slice(0, upTo));
  onWork();
  await rt.clockReady();
  const now = rt.clock.now();
  const { run } = await rt.driver.createRun({
    id,
    workflow: source.workflow,
    version: source.version,
    planHash: source.planHash,
    ...(input === undefined ? {} : { input }),
    labels: source.labels,
    dueAt: now,
    ...keys,
    ...(source.priority ? { priority: source.priority } : {}),
    ...deadlineFrom(workflowTimeout(wf), now), // a fork has its own deadline
    steps: [...reused.values()].filter((row) => row.state === "done"),
  }, now);
  if (run.workflow !== source.workflow) {
    throw new DuplicateRunError(id, run.workflow, source.workflow);
  }
  return run.id;
}
