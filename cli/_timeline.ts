/**
 * The run timeline as SVG: one row for the run (pending, running, sleeping,
 * waiting) and one per step key, each attempt a bar from its start for its
 * duration (failed attempts red, a retry's backoff dotted), on one time axis.
 *
 * @module
 */
import { formatDuration, type Html, html } from "./_html.ts";
import type { StepTrace } from "./_steps.ts";
import type { HistoryEvent } from "../lib/records.ts";

/** Most step rows drawn; the rest are counted below the chart. */
export const TIMELINE_ROWS = 150;

const COLOURS = {
  completed: "#1f8a4c",
  failed: "#c93434",
  open: "#2f6fde",
  pending: "#a3acbb",
  running: "#2f6fde",
  sleeping: "#7a4fd0",
  waiting: "#b7791f",
  paused: "#a05a2c",
  cancelled: "#8a8f98",
} as const;

interface Segment {
  from: number;
  to: number;
  state: keyof typeof COLOURS;
}

/** The run's own states over time, from its run-level events. */
function runSegments(history: readonly HistoryEvent[], end: number): Segment[] {
  const segments: Segment[] = [];
  let state: Segment["state"] | undefined;
  let since = 0;
  const move = (at: number, next: Segment["state"] | undefined) => {
    if (state !== undefined && at >= since) segments.push({ from: since, to: at, state });
    state = next;
    since = at;
  };
  for (const e of history) {
    const at = e.at.getTime();
    switch (e.type) {
      case "run.created":
        move(at, "pending");
        break;
      case "run.started":
      case "run.retried":
      case "run.recovered":
        if (state !== "running") move(at, "running");
        break;
      case "run.sleeping":
        move(at, "sleeping");
        break;
      case "run.waiting":
        move(at, "waiting");
        break;
      case "run.paused":
        move(at, "paused");
        break;
      case "run.resumed":
        move(at, "running");
        break;
      case "step.started":
        if (state === "sleeping" || state === "waiting" || state === "pending") move(at, "running");
        break;
      case "run.completed":
      case "run.failed":
      case "run.cancelled":
        move(at, undefined);
        break;
    }
  }
  if (state !== undefined) move(end, undefined);
  return segments;
}

/**
 * The timeline of a run: `start` is the run's creation, `end` its last event
 * (or now while it runs).
 */
export function timelineSvg(
  history: readonly HistoryEvent[],
  traces: readonly StepTrace[],
  start: number,
  end: number,
): Html {
  const labelW = 210;
  const chartW = 760;
  const rowH = 24;
  const axisH = 26;
  const rows = traces.slice(0, TIMELINE_ROWS);
  const span = Math.max(end - start, 1);
  const px = (t: number) => labelW + ((Math.min(Math.max(t, start), end) - start) / span) * chartW;
  const width = labelW + chartW + 20;
  const height = axisH + rowH * (rows.length + 1) + 8;
  const out: Html[] = [];
  for (let i = 0; i <= 4; i++) {
    const x = labelW + (chartW * i) / 4;
    out.push(
      html`
        <line x1="${x}" y1="${axisH - 6}" x2="${x}" y2="${height - 4}" stroke="#e3e7ee" />
        <text x="${x}" y="${axisH - 10}" font-size="11" fill="#5d6778"
          text-anchor="${i === 0 ? "start" : i === 4 ? "end" : "middle"}">${i === 0
            ? "0"
            : `+${formatDuration((span * i) / 4)}`}</text>
      `,
    );
  }
  const bar = (y: number, from: number, to: number, colour: string, tip: string, label = "") => {
    const x = px(from);
    const w = Math.max(px(to) - x, 3);
    out.push(
      html`
        <g
          class="bar"><title>${tip}</title><rect x="${x}" y="${y + 5}" width="${w}" height="${rowH -
            10}" rx="3" fill="${colour}"/>${label && w > 22
            ? html`
              <text x="${x + w / 2}" y="${y + rowH / 2 +
                4}" text-anchor="middle" font-size="10" font-weight="700"
                fill="#fff">${label}</text>
            `
            : ""}</g>
      `,
    );
  };
  const rowLabel = (y: number, text: string, bold = false) =>
    out.push(
      html`<text x="8" y="${y + rowH / 2 + 4}" font-size="12" ${
        bold ? html`font-weight="700"` : ""
      } fill="#1c2330">${text.length > 30 ? `${text.slice(0, 29)}…` : text}</text>`,
    );

  let y = axisH;
  rowLabel(y, "run", true);
  for (const s of runSegments(history, end)) {
    bar(y, s.from, s.to, COLOURS[s.state], `${s.state} for ${formatDuration(s.to - s.from)}`);
  }
  for (const trace of rows) {
    y += rowH;
    out.push(html`<g class="row" data-step="${trace.key}">`);
    rowLabel(y, trace.key);
    for (const a of trace.attempts) {
      const to = a.end ?? end;
      const outcome = a.outcome === "open" ? "in flight" : a.outcome;
      const tip = `${trace.key} attempt ${a.attempt}: ${outcome}, ${formatDuration(to - a.start)}${
        a.error ? ` — ${a.error.name}: ${a.error.message}` : ""
      }`;
      bar(
        y,
        a.start,
        to,
        COLOURS[a.outcome],
        tip,
        trace.attempts.length > 1 ? `#${a.attempt}` : "",
      );
      if (a.retryAt !== undefined) {
        const x1 = px(to);
        const x2 = px(a.retryAt);
        out.push(
          html`
            <line x1="${x1}" y1="${y + rowH / 2}" x2="${Math.max(x2, x1 + 4)}" y2="${y +
              rowH / 2}" stroke="#c93434"
              stroke-width="1.5" stroke-dasharray="2 3">
              <title>retry after ${formatDuration(a.retryAt - to)}</title>
            </line>
          `,
        );
      }
    }
    out.push(html`</g>`);
  }
  return html`
    <svg class="timeline" role="img" aria-label="Timeline" width="100%"
      viewBox="0 0 ${width} ${height}" preserveAspectRatio="xMinYMin meet"
      xmlns="http://www.w3.org/2000/svg">${out}</svg>
  `;
}

/** The legend under the timeline. */
export const TIMELINE_LEGEND: Html = html`<div class="legend">${
  (
    [
      ["completed", "completed attempt"],
      ["failed", "failed attempt (dots: retry backoff)"],
      ["open", "running"],
      ["sleeping", "sleeping"],
      ["waiting", "waiting (a signal, a child run)"],
      ["paused", "paused"],
      ["pending", "pending"],
    ] as const
  ).map(([k, text]) => html`<span><i data-colour="${k}" class="lg-${k}"></i>${text}</span>`)
}</div>`;
