/**
 * A run's page: its header, the actions that apply, its error with the cause
 * chain, the timeline, the plan graph with each node's state, the input,
 * output and step values (expandable), and every history event.
 *
 * @module
 */
import type { ErrorInfo } from "../lib/errors.ts";
import type { Plan } from "../lib/plan.ts";
import type { HistoryEvent, RunRecord } from "../lib/records.ts";
import { actionForms } from "./_actions.ts";
import { eventDetail, flowKeys } from "./_format.ts";
import { brief, formatDuration, formatTime, type Html, html, pretty, statusPill } from "./_html.ts";
import { planSvg } from "./_plan_svg.ts";
import { labelChips, runEnd } from "./_runs_page.ts";
import { planView, type StepTrace, traceSteps } from "./_steps.ts";
import { TIMELINE_LEGEND, TIMELINE_ROWS, timelineSvg } from "./_timeline.ts";

/** Most step values listed; the history table holds the rest. */
const VALUE_ROWS = 200;

function errorChain(error: ErrorInfo): Html {
  const box = (e: ErrorInfo, depth: number): Html =>
    html`
      <div
        class="${depth === 0 ? "error-box" : "cause"}"><div><span class="name">${e
          .name}</span>${e.code
          ? html`
            <span class="chip">${e.code}</span>
          `
          : ""}${depth > 0
          ? html`
            <span class="sub">(cause)</span>
          `
          : ""}</div><div class="msg">${e.message}</div>${e.step
          ? html`<div class="sub">at step <code>${e.step}</code></div>`
          : ""}${e.stack
          ? html`
            <details id="stack-${depth}">
              <summary class="sub">Stack</summary>
              <pre>${e.stack}</pre>
            </details>
          `
          : ""}${e.cause ? box(e.cause, depth + 1) : ""}</div>
    `;
  return box(error, 0);
}

function valueDetails(id: string, title: string, value: unknown, open: boolean, note = ""): Html {
  return html`
    <details id="${id}" ${open
      ? html`
        open
      `
      : ""}>
      <summary>${title}<span class="sub">${note || brief(value, 70)}</span></summary>
      <pre>${pretty(value)}</pre>
    </details>
  `;
}

function stepValues(traces: readonly StepTrace[]): Html {
  const rows = traces.slice(0, VALUE_ROWS).map((t, i) => {
    const last = t.attempts.at(-1)!;
    const attempts = t.attempts.length > 1 ? ` · ${t.attempts.length} attempts` : "";
    const duration = last.end !== undefined ? ` · ${formatDuration(last.end - last.start)}` : "";
    const state = t.completed ? "completed" : last.outcome === "open" ? "in flight" : "failed";
    const errors = t.attempts.filter((a) => a.error).map((a) =>
      html`<div class="sub">attempt ${a.attempt}: <span class="s-failed">${a.error!.name}: ${
        a.error!.message
      }</span></div>`
    );
    return html`
      <details
        id="step-${i}"><summary><code>${t
          .key}</code><span class="sub">${state}${attempts}${duration}</span></summary>${errors}${t
            .completed
          ? html`<pre>${pretty(t.output)}</pre>`
          : ""}</details>
    `;
  });
  const more = traces.length > VALUE_ROWS
    ? html`<p class="sub">… and ${traces.length - VALUE_ROWS} more steps (see the history).</p>`
    : "";
  return html`${rows}${more}`;
}

function historyTable(base: string, history: readonly HistoryEvent[]): Html {
  const rows = history.map((e) =>
    html`
      <tr>
        <td class="mono">${formatTime(e.at)}.${String(e.at.getUTCMilliseconds()).padStart(
          3,
          "0",
        )}</td>
        <td>${e.type}</td>
        <td class="mono">${e.step ?? ""}</td>
        <td>${e.attempt ?? ""}</td>
        <td>${e.child === undefined
          ? eventDetail(e)
          : html`<a class="child" href="${base}/runs/${
            encodeURIComponent(e.child)
          }">${e.child}</a> ${e.status ?? ""}`}</td>
      </tr>
    `
  );
  return html`
    <table class="events" id="events">
      <thead>
        <tr>
          <th>Time (UTC)</th>
          <th>Event</th>
          <th>Step</th>
          <th>Attempt</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>${rows}</tbody>
    </table>
  `;
}

/** Child runs listed on a run's page; a link leads to the rest. */
export const CHILD_ROWS = 50;

/** The run's children (`.call` / `.spawn`), newest first, with a link to all of them. */
function childrenCard(base: string, run: RunRecord, children: Children, now: number): Html {
  if (children.runs.length === 0) return html``;
  const rows = children.runs.map((child) =>
    html`
      <tr data-child="${child.id}">
        <td class="id"><a class="child-run" href="${base}/runs/${encodeURIComponent(
          child.id,
        )}">${child
          .id}</a></td>
        <td>${child.workflow} <span class="sub">v${child.version}</span></td>
        <td>${statusPill(child.status)}</td>
        <td class="num">${formatDuration(runEnd(child, now) - child.createdAt.getTime())}</td>
        <td class="num" title="${child.createdAt.toISOString()}">${formatTime(child.createdAt)}</td>
      </tr>
    `
  );
  const all = `${base}/?${new URLSearchParams({ parent: run.id })}`;
  return html`
    <div class="card" id="children">
      <h2>Child runs <span class="sub">${children.more
        ? html`the newest ${
          String(children.runs.length)
        } · <a id="all-children" href="${all}">all →</a>`
        : html`${String(children.runs.length)}`}</span></h2>
      <div class="svgwrap">
        <table class="runs">
          <thead>
            <tr>
              <th>Run</th>
              <th>Workflow</th>
              <th>Status</th>
              <th>Duration</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>${rows}</tbody>
        </table>
      </div>
    </div>
  `;
}

/** A run's children as its page shows them: the newest, and whether there are more. */
export interface Children {
  runs: RunRecord[];
  more: boolean;
}

/** The body of a run's page. */
export function runBody(input: {
  base: string;
  run: RunRecord;
  history: HistoryEvent[];
  plan: Plan | undefined;
  children: Children;
  now: number;
}): Html {
  const { base, run, history, plan } = input;
  const traces = traceSteps(history);
  const start = run.createdAt.getTime();
  const end = Math.max(runEnd(run, input.now), history.at(-1)?.at.getTime() ?? start);
  const parentId = run.parentId;
  const forms = actionForms(base, run);
  const keys = flowKeys(run);
  const facts = html`<div class="grid">
<div><span>Workflow</span>${run.workflow} <span class="sub">version ${run.version}</span></div>
<div><span>Created</span>${formatTime(run.createdAt)}</div>
<div><span>Updated</span>${formatTime(run.updatedAt)}</div>
<div><span>Duration</span>${formatDuration(end - start)}</div>
${run.wakeAt ? html`<div><span>Wakes at</span>${formatTime(run.wakeAt)}</div>` : ""}
${
    run.deadlineAt
      ? html`<div><span>Deadline</span><span id="deadline">${
        formatTime(run.deadlineAt)
      }</span></div>`
      : ""
  }
${
    run.waitingFor
      ? html`<div><span>Waits for</span><code id="waiting-for">${
        run.waitingFor.join(" | ")
      }</code></div>`
      : ""
  }
${
    run.waitingForChildren
      ? html`<div><span>Waits for child</span>${
        run.waitingForChildren.map((id) =>
          html`
            <a class="child" href="${base}/runs/${encodeURIComponent(id)}">${id}</a>
          `
        )
      }</div>`
      : ""
  }
${
    parentId
      ? html`<div><span>Parent</span><a id="parent" href="${base}/runs/${
        encodeURIComponent(parentId)
      }">${parentId}</a></div>`
      : ""
  }
${
    run.priority
      ? html`<div><span>Priority</span><span id="priority">${String(run.priority)}</span></div>`
      : ""
  }
${keys ? html`<div><span>Flow keys</span><code id="flow-keys">${keys}</code></div>` : ""}
<div><span>Plan hash</span><code>${run.planHash}</code></div>
<div><span>Labels</span>${
    Object.keys(run.labels).length ? labelChips(run.labels) : html`<span class="sub">none</span>`
  }</div></div>`;

  const graph = plan
    ? html`<div class="svgwrap" id="plan">${
      planSvg(planView(plan.nodes, traces, run), run.workflow)
    }</div>`
    : html`
      <p class="sub"
        id="plan">The plan of ${run.workflow} version ${run.version} (hash ${run
          .planHash}) is not registered with this dashboard: pass the workflow in <code>workflows</code> (or <code>sluice serve --module</code>) to see its graph.</p>
    `;

  return html`
    <p class="sub"><a href="${base}/">← Runs</a></p>
    <div
      class="head"><h1 id="run-id">${run.id}</h1><span id="run-status">${statusPill(
        run.status,
      )}</span>${run.stalled
        ? html`<span class="chip" id="stalled">stalled: no live worker serves ${run.workflow} v${run.version}</span>`
        : ""}</div>
    <div class="card">${facts}</div>
    ${forms.length
      ? html`
        <div class="card">
          <h2>Actions</h2>
          <div class="actions">${forms}</div>
        </div>
      `
      : ""}
    ${run.error
      ? html`<div class="card" id="error"><h2>Error</h2>${errorChain(run.error)}</div>`
      : ""}
    ${childrenCard(base, run, input.children, input.now)}
    <div
      class="card"><h2>Timeline</h2><div class="svgwrap">${timelineSvg(
        history,
        traces,
        start,
        end,
      )}</div>${TIMELINE_LEGEND}${traces.length > TIMELINE_ROWS
        ? html`<p class="sub">Showing the first ${TIMELINE_ROWS} of ${traces.length} steps.</p>`
        : ""}</div>
    <div class="grid2">
      <div class="card"><h2>Plan</h2>${graph}</div>
      <div class="card" id="values"><h2>Values</h2>${valueDetails(
        "input",
        "Input",
        run.input,
        true,
      )}${run.output !== undefined || run.status === "completed"
        ? valueDetails("output", "Output", run.output, true)
        : ""}${stepValues(traces)}</div>
    </div>
    <div class="card">
      <details
        id="history"><summary>History <span class="sub">${history
          .length} events</span></summary>${historyTable(base, history)}</details>
    </div>
  `;
}
