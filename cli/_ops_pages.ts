/**
 * The schedules and workers pages: every schedule with its next and last
 * slot and its actions (pause, resume, trigger), and the live workers with
 * what they serve.
 *
 * @module
 */
import type { ScheduleInfo } from "../lib/schedules.ts";
import type { WorkerRecord } from "../lib/records.ts";
import type { DashboardClient } from "./_client.ts";
import { formatDuration, formatTime, type Html, html } from "./_html.ts";

/** One action on a schedule. */
export interface ScheduleAction {
  /** The URL segment. */
  name: string;
  /** The button text. */
  label: string;
  /** Whether it applies. */
  applies(schedule: ScheduleInfo): boolean;
  /** Does it. */
  perform(client: DashboardClient, id: string): Promise<unknown>;
  /** The message shown once done. */
  done: string;
}

/** The actions on a schedule, in the order the page shows them. */
export const SCHEDULE_ACTIONS: readonly ScheduleAction[] = [
  {
    name: "trigger",
    label: "Run now",
    applies: () => true,
    perform: (client, id) => client.schedules.trigger(id),
    done: "Started one run",
  },
  {
    name: "pause",
    label: "Pause",
    applies: (s) => !s.paused,
    perform: (client, id) => client.schedules.pause(id),
    done: "Paused",
  },
  {
    name: "resume",
    label: "Resume",
    applies: (s) => s.paused,
    perform: (client, id) => client.schedules.resume(id),
    done: "Resumed",
  },
];

function when(date: Date | undefined): Html | string {
  return date ? html`<span title="${date.toISOString()}">${formatTime(date)}</span>` : "";
}

/** The schedules page's body. */
export function schedulesBody(base: string, schedules: readonly ScheduleInfo[]): Html {
  const rows = schedules.map((s) =>
    html`
      <tr data-schedule="${s.id}">
        <td class="mono">${s.id}</td>
        <td>${s.workflow}</td>
        <td class="mono">${s.cron ??
          (s.every !== undefined ? `every ${formatDuration(s.every)}` : "")} <span class="sub">${s
          .timezone}</span></td>
        <td>${s.paused
          ? html`<span class="pill s-paused">paused</span>`
          : html`<span class="pill s-running">active</span>`}</td>
        <td class="num">${when(s.nextAt)}</td>
        <td class="num">${when(s.lastSlot)}</td>
        <td class="id">${s.lastRunId
          ? html`<a href="${base}/runs/${encodeURIComponent(s.lastRunId)}">${s.lastRunId}</a>`
          : ""}</td>
        <td class="num">${s.skipped}</td>
        <td>
          <div class="actions">${SCHEDULE_ACTIONS.filter((a) => a.applies(s)).map((a) =>
            html`
              <form data-action="${base}/api/schedules/${encodeURIComponent(s.id)}/${a.name}"
                data-done="${a.done}"><button type="submit">${a.label}</button></form>
            `
          )}</div>
        </td>
      </tr>
    `
  );
  return html`
    <div class="head">
      <h1>Schedules</h1>
    </div><p class="sub">Times are UTC.</p>${schedules.length === 0
      ? html`
        <div
          class="card empty">No schedules. Declare them with <code>schedule()</code> or add them with <code>engine.schedules.upsert()</code>.</div>
      `
      : html`
        <div class="card flush">
          <table class="runs" id="schedules">
            <thead>
              <tr>
                <th>Schedule</th>
                <th>Workflow</th>
                <th>When</th>
                <th>State</th>
                <th>Next</th>
                <th>Last slot</th>
                <th>Last run</th>
                <th>Skipped</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>${rows}</tbody>
          </table>
        </div>
      `}
  `;
}

/** The workers page's body. */
export function workersBody(workers: readonly WorkerRecord[], now: number): Html {
  const rows = workers.map((w) =>
    html`
      <tr data-worker="${w.id}">
        <td class="mono">${w.id}</td>
        <td>${w.host} <span class="sub">pid ${w.pid}</span></td>
        <td class="num">${formatTime(w.startedAt)}</td>
        <td class="num">${formatDuration(now - w.lastSeenAt.getTime())} ago</td>
        <td>${w.serves.map((s) =>
          html`<span class="chip" title="plan ${s.planHash}">${s.workflow} v${s.version}</span>`
        )}</td>
      </tr>
    `
  );
  return html`
    <div class="head">
      <h1>Workers</h1>
    </div><p
      class="sub">Workers seen within three heartbeats. A run that none of them serves shows as stalled.</p>${workers
          .length === 0
        ? html`
          <div
            class="card empty">No live workers: runs wait until one starts (<code>sluice worker --module …</code>).</div>
        `
        : html`
          <div class="card flush">
            <table class="runs" id="workers">
              <thead>
                <tr>
                  <th>Worker</th>
                  <th>Host</th>
                  <th>Started</th>
                  <th>Last seen</th>
                  <th>Serves</th>
                </tr>
              </thead>
              <tbody>${rows}</tbody>
            </table>
          </div>
        `}
  `;
}
