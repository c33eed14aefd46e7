/**
 * How the front door reads runs: a page of runs (`list`), a history or a
 * page of it (`history`), and waiting for a run's output (`result`).
 * `RunClient` (`client.ts`) calls these; nothing else does.
 *
 * @module
 */
import { fromErrorInfo, RunNotFoundError, WorkflowFailedError } from "./errors.ts";
import { decodeCursor, type RunFilter } from "./driver.ts";
import { LIST_PAGE } from "./driver_policy.ts";
import { decodeValue } from "./values.ts";
import { HISTORY_PAGE, type HistoryOptions, historyPage, toHistory } from "./history.ts";
import { toStoredTime } from "./time.ts";
import { type HistoryEvent, type ListOptions, type RunPage, toRunRecord } from "./records.ts";
import { stalledRuns } from "./presence.ts";
import type { Runtime } from "./runtime.ts";
import {
  checkLabels,
  checkOptions,
  checkRunId,
  checkStatuses,
  checkWorkflowFilter,
  describe,
} from "./validate.ts";

/** @internal One page of runs, newest first (`list`). */
export async function listRuns(rt: Runtime, options: ListOptions): Promise<RunPage> {
  rt.check();
  checkOptions(options, "list with", "pass an options object");
  const limit = options.limit ?? LIST_PAGE.default;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_PAGE.max) {
    throw new RangeError(`Cannot list ${String(limit)} runs a page: use 1 to ${LIST_PAGE.max}`);
  }
  checkStatuses(options.status);
  checkWorkflowFilter(options.workflow);
  if (options.parentId !== undefined) checkRunId(options.parentId);
  if (options.cursor !== undefined) decodeCursor(options.cursor);
  const labels = options.labels === undefined
    ? undefined
    : checkLabels(options.labels, "the label filter");
  const filter: RunFilter = { ...options, limit, ...(labels ? { labels } : {}) } as RunFilter;
  for (const bound of ["createdAfter", "createdBefore"] as const) {
    const at = options[bound];
    if (at !== undefined) filter[bound] = toStoredTime(at, `'${bound}'`);
  }
  const page = await rt.driver.listRuns(filter);
  const stalled = await stalledRuns(rt, page.runs);
  const out: RunPage = {
    runs: page.runs.map((run) => {
      const record = toRunRecord(run);
      if (stalled.has(run.id)) record.stalled = "no-worker";
      return record;
    }),
  };
  if (page.nextCursor !== undefined) out.nextCursor = page.nextCursor;
  return out;
}

/** @internal A run's history, or one page of it (`history`). */
export async function readHistory(
  rt: Runtime,
  runId: string,
  options: HistoryOptions | undefined,
): Promise<HistoryEvent[]> {
  rt.check();
  checkRunId(runId);
  checkOptions(options, "read a history with options");
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
  if (!(await rt.driver.getRun(runId))) throw new RunNotFoundError(runId);
  if (options === undefined) return toHistory(await rt.driver.history(runId));
  return await historyPage(rt.driver, runId, after ?? -1, limit);
}

/**
 * @internal Waits for a run's output (`result()`); `unread` is the notice
 * count when this process created the run, pending.
 */
export async function awaitResult<Out>(
  rt: Runtime,
  runId: string,
  unread: number | undefined,
): Promise<Out> {
  rt.check();
  checkRunId(runId);
  if (unread !== undefined && unread === rt.changes && !rt.hasOutcome(runId)) {
    await rt.waitForChange(runId);
    rt.check();
  }
  for (;;) {
    // A completion this process wrote needs no re-read (the write was fenced).
    const written = rt.takeOutcome(runId);
    if (written !== undefined) {
      const outcome = await written;
      if (outcome !== undefined) return decodeValue(outcome.output) as Out;
    }
    // A run may finish while getRun() is pending: its notice then finds no
    // waiter, so compare the notice count before waiting.
    const changes = rt.changes;
    const run = await rt.driver.getRun(runId);
    if (!run) throw new RunNotFoundError(runId);
    if (run.status === "completed") return decodeValue(run.output) as Out;
    if (run.status === "failed" || run.status === "cancelled") {
      const cause = run.error ? fromErrorInfo(run.error) : new Error("unknown error");
      if (run.status === "cancelled") throw cause;
      throw new WorkflowFailedError(run.id, run.workflow, cause, run.error?.step);
    }
    if (changes === rt.changes) await rt.waitForChange(runId);
    rt.check();
  }
}
