/**
 * The runs list: filters (status, workflow, label, creation time), search by
 * id, cursor pagination, and per run its status, current step, error summary,
 * duration and labels.
 *
 * @module
 */
import { isFinished, type RunStatus } from "../lib/driver.ts";
import type { HistoryEvent, ListOptions, RunRecord } from "../lib/records.ts";
import { formatDuration, formatTime, type Html, html, statusPill } from "./_html.ts";
import { activeLeaves, planView, traceSteps } from "./_steps.ts";
import type { Plan } from "../lib/plan.ts";

/** Every run status, in life-cycle order. */
export const STATUSES: readonly RunStatus[] = [
  "pending",
  "running",
  "sleeping",
  "waiting",
  "paused",
  "completed",
  "failed",
  "cancelled",
];

/** The filters of the runs page, as read from its query string. */
export interface RunsQuery {
  status?: RunStatus;
  workflow?: string;
  label?: string;
  from?: string;
  to?: string;
  cursor?: string;
  /** Only the child runs of this run (`.call` / `.spawn`). */
  parent?: string;
}

/** Reads the filters; bad values throw `TypeError` (shown as a 400 page). */
export function readRunsQuery(params: URLSearchParams): RunsQuery {
  const query: RunsQuery = {};
  const get = (name: string) => {
    const value = params.get(name)?.trim();
    return value ? value : undefined;
  };
  const status = get("status");
  if (status !== undefined) {
    if (!STATUSES.includes(status as RunStatus)) {
      throw new TypeError(`Cannot filter by status '${status}': use one of ${STATUSES.join(", ")}`);
    }
    query.status = status as RunStatus;
  }
  for (const name of ["workflow", "label", "from", "to", "cursor", "parent"] as const) {
    const value = get(name);
    if (value !== undefined) query[name] = value;
  }
  return query;
}

function parseTime(text: string, name: string): number {
  // datetime-local inputs send "YYYY-MM-DDTHH:MM" with no zone: the page means UTC
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text) ? `${text}Z` : text;
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) {
    throw new TypeError(`Cannot filter by ${name} time '${text}': use YYYY-MM-DDTHH:MM (UTC)`);
  }
  return ms;
}

/** The list options of a query. */
export function listOptions(query: RunsQuery, limit: number): ListOptions {
  const options: ListOptions = { limit };
  if (query.status) options.status = query.status;
  if (query.workflow) options.workflow = query.workflow;
  if (query.label) {
    const at = query.label.indexOf("=");
    if (at <= 0) {
      throw new TypeError(`Cannot filter by label '${query.label}': write it as key=value`);
    }
    options.labels = { [query.label.slice(0, at)]: query.label.slice(at + 1) };
  }
  if (query.from !== undefined) options.createdAfter = parseTime(query.from, "'from'");
  // a minute picked in the form includes the whole minute
  if (query.to !== undefined) {
    const to = parseTime(query.to, "'to'");
    options.createdBefore = /T\d{2}:\d{2}$/.test(query.to) ? to + 59_999 : to;
  }
  if (query.cursor) options.cursor = query.cursor;
  if (query.parent) options.parentId = query.parent;
  return options;
}

/** Where a run is now: the steps in flight, the signals awaited, the failed step. */
export function currentStep(
  run: RunRecord,
  history: readonly HistoryEvent[] | undefined,
  plan: Plan | undefined,
): string {
  if (run.status === "failed") return run.error?.step ?? "";
  if (isFinished(run.status)) return "";
  if (plan && history) {
    const at = activeLeaves(planView(plan.nodes, traceSteps(history), run));
    if (at.length > 0) return at.join(", ");
  }
  const open: string[] = [];
  const retrying: string[] = [];
  for (const t of traceSteps(history ?? [])) {
    const last = t.attempts.at(-1)!;
    if (t.completed) continue;
    if (last.outcome === "open") open.push(t.key);
    else if (last.retryAt !== undefined) retrying.push(`${t.key} (retry ${last.attempt + 1})`);
  }
  if (open.length > 0) return open.join(", ");
  if (retrying.length > 0) return retrying.join(", ");
  if (run.status === "waiting" && run.waitingFor) {
    return `waiting for ${run.waitingFor.join(" | ")}`;
  }
  if (run.status === "waiting" && run.waitingForChildren) {
    return `waiting for child ${run.waitingForChildren.join(" | ")}`;
  }
  if (run.status === "sleeping" && run.wakeAt) return `sleeping until ${formatTime(run.wakeAt)}`;
  return "";
}

/** The end of a run for its duration: its last update when finished, else now. */
export function runEnd(run: RunRecord, now: number): number {
  return isFinished(run.status) ? run.updatedAt.getTime() : now;
}

/** Labels as chips. */
export function labelChips(labels: Record<string, string>): Html[] {
  return Object.entries(labels).map(([k, v]) =>
    html`<span class="chip" title="${k}=${v}">${k}=${v}</span>`
  );
}

/** The runs table and its controls. */
export function runsBody(input: {
  base: string;
  query: RunsQuery;
  runs: RunRecord[];
  histories: Map<string, HistoryEvent[]>;
  plans: (run: RunRecord) => Plan | undefined;
  nextCursor?: string;
  workflows: readonly string[];
  now: number;
  notice?: string;
}): Html {
  const { base, query, runs, now } = input;
  const selected = (a: string | undefined, b: string) =>
    a === b
      ? html`
        selected
      `
      : "";
  const filters = html`<form class="filters card" method="get" action="${base}/">
<label>Search by id<input name="id" id="search-id" data-keep placeholder="run id" size="22" autocomplete="off"></label>
<label>Status<select name="status" id="filter-status" data-keep><option value="">any</option>${
    STATUSES.map((s) =>
      html`
        <option value="${s}" ${selected(query.status, s)}>${s}</option>
      `
    )
  }</select></label>
<label>Workflow<input name="workflow" id="filter-workflow" data-keep list="workflow-names" value="${
    query.workflow ?? ""
  }" placeholder="any" size="16" autocomplete="off"></label>
<datalist id="workflow-names">${
    input.workflows.map((w) => html`<option value="${w}"></option>`)
  }</datalist>
<label>Label<input name="label" id="filter-label" data-keep value="${
    query.label ?? ""
  }" placeholder="key=value" size="16" autocomplete="off"></label>
<label>Created from (UTC)<input type="datetime-local" name="from" id="filter-from" data-keep value="${
    query.from ?? ""
  }"></label>
<label>Created to (UTC)<input type="datetime-local" name="to" id="filter-to" data-keep value="${
    query.to ?? ""
  }"></label>
${
    query.parent
      ? html`<input type="hidden" name="parent" value="${query.parent}">`
      : ""
  }<button type="submit" class="primary">Apply</button> <a href="${base}/">Clear</a></form>`;

  const rows = runs.map((run) => {
    const step = currentStep(run, input.histories.get(run.id), input.plans(run));
    const error = run.error ? `${run.error.name}: ${run.error.message}` : "";
    return html`
      <tr data-run="${run.id}">
        <td class="id"><a href="${base}/runs/${encodeURIComponent(run.id)}">${run.id}</a></td>
        <td>${run.workflow} <span class="sub">v${run.version}</span></td>
        <td>${statusPill(run.status)}${run.stalled
          ? html`
            <span class="chip" title="no live worker serves this run">stalled</span>
          `
          : ""}</td>
        <td class="mono step">${step}</td>
        <td class="err" title="${error}">${error}</td>
        <td class="num">${formatDuration(runEnd(run, now) - run.createdAt.getTime())}</td>
        <td>${labelChips(run.labels)}</td>
        <td class="num" title="${run.createdAt.toISOString()}">${formatTime(run.createdAt)}</td>
      </tr>
    `;
  });
  const keep = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && k !== "cursor") keep.set(k, v);
  const first = keep.size ? `${base}/?${keep}` : `${base}/`;
  const pager = html`
    <div
      class="pager">${query.cursor
        ? html`<a href="${first}" id="page-first">← Newest</a>`
        : ""}${input.nextCursor
        ? html`<a href="${base}/?${new URLSearchParams([...keep, [
          "cursor",
          input.nextCursor,
        ]])}" id="page-next">Older runs →</a>`
        : ""}<span class="sub">${runs.length} run${runs.length === 1
        ? ""
        : "s"} on this page</span></div>
  `;
  return html`
    <div class="head">
      <h1>Runs</h1>
    </div><p
      class="sub">Newest first. Times are UTC.</p>${query.parent
        ? html`
          <p
            id="parent-filter">The child runs of <a href="${base}/runs/${encodeURIComponent(
              query.parent,
            )}">${query.parent}</a> · <a href="${base}/">all runs</a></p>
        `
        : ""}${input.notice
        ? html`<p class="flash" id="flash">${input.notice}</p>`
        : ""}${filters}${runs.length === 0
        ? html`<div class="card empty">No runs match these filters.</div>`
        : html`
          <div class="card flush">
            <table class="runs" id="runs">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Workflow</th>
                  <th>Status</th>
                  <th>Current step</th>
                  <th>Error</th>
                  <th>Duration</th>
                  <th>Labels</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>${rows}</tbody>
            </table>
          </div>
        `}${pager}
  `;
}
