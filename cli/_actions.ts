/**
 * The actions on a run, as a list: the run page renders a form for each one
 * that applies, and `POST {base}/api/runs/:id/:action` performs it. Pause,
 * new actions plug in here.
 *
 * @module
 */
import type { RunRecord } from "../lib/records.ts";
import { type Html, html } from "./_html.ts";
import type { DashboardClient } from "./_client.ts";

/** One action on a run. */
export interface RunAction {
  /** The URL segment and form name. */
  name: string;
  /** The button text. */
  label: string;
  /** Whether the action applies to the run as it is. */
  applies(run: RunRecord): boolean;
  /** Form fields shown before the button. */
  fields?(run: RunRecord): Html;
  /**
   * Does it; `body` is the JSON object the page sent. It may name a run to
   * show next (`{ runId }`: the page goes there).
   */
  perform(
    client: DashboardClient,
    runId: string,
    body: Record<string, unknown>,
  ): Promise<void | { runId: string }>;
  /** Red button, asks first. */
  confirm?: string;
  /** The message shown once done. */
  done: string;
}

const finished = (run: RunRecord) =>
  run.status === "completed" || run.status === "failed" || run.status === "cancelled";

/** The actions, in the order the page shows them. */
export const RUN_ACTIONS: readonly RunAction[] = [
  {
    name: "signal",
    label: "Send signal",
    applies: (run) => !finished(run),
    fields: (run) => {
      const names = run.waitingFor ?? [];
      return html`
        <label>Signal<input name="name" id="signal-name" data-keep required list="signal-names" value="${names[
          0
        ] ?? ""}" placeholder="name" autocomplete="off"></label><datalist
          id="signal-names">${names.map((n) =>
            html`<option value="${n}"></option>`
          )}</datalist><label>Payload (JSON)<input name="payload" id="signal-payload" data-keep placeholder='{"approved": true}' size="28" autocomplete="off"></label>
      `;
    },
    perform: async (client, runId, body) => {
      if (typeof body.name !== "string" || body.name === "") {
        throw new TypeError("Cannot send a signal without a name: fill in the signal name");
      }
      await client.signal(runId, body.name, body.payload);
    },
    done: "Signal sent",
  },
  {
    name: "pause",
    label: "Pause",
    applies: (run) => !finished(run) && run.status !== "paused",
    perform: (client, runId) => client.pause(runId),
    done: "Paused: no new step begins until it is resumed",
  },
  {
    name: "resume",
    label: "Resume",
    applies: (run) => run.status === "paused",
    perform: (client, runId) => client.resume(runId),
    done: "Resumed",
  },
  {
    name: "retry",
    label: "Retry",
    applies: (run) => run.status === "failed" || run.status === "cancelled",
    perform: (client, runId) => client.retry(runId),
    done: "Retrying",
  },
  {
    name: "fork",
    label: "Fork",
    applies: () => true,
    fields: () =>
      html`<label>From step<input name="from" id="fork-from" data-keep placeholder="start" size="12" autocomplete="off"></label><label>New input (JSON)<input name="input" id="fork-input" data-keep placeholder="same input" size="18" autocomplete="off"></label>`,
    perform: async (client, runId, body) => {
      const options: { from?: string; input?: unknown } = {};
      if (typeof body.from === "string" && body.from.trim() !== "") options.from = body.from.trim();
      if (typeof body.input === "string" && body.input.trim() !== "") {
        try {
          options.input = JSON.parse(body.input);
        } catch {
          throw new TypeError(
            `Cannot fork with input '${body.input}': write JSON, e.g. {"qty": 2} or "text"`,
          );
        }
      }
      const handle = await client.fork(runId, options);
      return { runId: handle.id };
    },
    done: "Forked",
  },
  {
    name: "cancel",
    label: "Cancel run",
    applies: (run) => !finished(run),
    fields: () =>
      html`<label>Reason<input name="reason" id="cancel-reason" data-keep placeholder="optional" maxlength="1000" autocomplete="off"></label>`,
    perform: (client, runId, body) =>
      client.cancel(
        runId,
        typeof body.reason === "string" && body.reason !== "" ? body.reason : undefined,
      ),
    confirm: "Cancel this run? Steps in flight are aborted.",
    done: "Cancelled",
  },
];

/** The action forms that apply to a run (empty when none applies). */
export function actionForms(base: string, run: RunRecord): Html[] {
  return RUN_ACTIONS.filter((a) => a.applies(run)).map((a) =>
    html`
      <form data-action="${base}/api/runs/${encodeURIComponent(run.id)}/${a.name}" data-done="${a
        .done}" ${a.confirm ? html`data-confirm="${a.confirm}"` : ""}
        id="action-${a.name}">${a.fields?.(run) ?? ""}<button type="submit" class="${a.confirm
          ? "danger"
          : a.name === "signal"
          ? "primary"
          : ""}">${a.label}</button></form>
    `
  );
}
