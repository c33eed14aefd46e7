/** Formatting helpers of the CLI: tables for people, JSON for scripts. */
import type { HistoryEvent, RunRecord } from "../lib/records.ts";

/** Renders rows as an aligned text table. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** A short, one-line rendering of a value. */
export function brief(value: unknown, max = 60): string {
  if (value === undefined) return "";
  const text = value instanceof Date ? value.toISOString() : JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** JSON with Dates as ISO strings, indented. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** The runs table of `sluice list`. */
export function runsTable(runs: RunRecord[]): string {
  return table(
    ["ID", "WORKFLOW", "VERSION", "STATUS", "CREATED", "UPDATED"],
    runs.map((r) => [
      r.id,
      r.workflow,
      r.version,
      r.stalled ? `${r.status} (stalled: ${r.stalled})` : r.status,
      r.createdAt.toISOString(),
      r.updatedAt.toISOString(),
    ]),
  );
}

/** The detail view of `sluice show`. */
export function runDetail(run: RunRecord, history: HistoryEvent[]): string {
  const lines = [
    `Run       ${run.id}`,
    `Workflow  ${run.workflow} (version ${run.version}, plan ${run.planHash})`,
    `Status    ${run.status}${
      run.stalled ? ` (stalled: no live worker serves ${run.workflow} ${run.version})` : ""
    }`,
    `Created   ${run.createdAt.toISOString()}`,
    `Updated   ${run.updatedAt.toISOString()}`,
  ];
  if (Object.keys(run.labels).length > 0) lines.push(`Labels    ${brief(run.labels, 200)}`);
  if (run.priority) lines.push(`Priority  ${run.priority}`);
  const keys = flowKeys(run);
  if (keys) lines.push(`Keys      ${keys}`);
  if (run.wakeAt) lines.push(`Wakes at  ${run.wakeAt.toISOString()}`);
  if (run.deadlineAt) lines.push(`Deadline  ${run.deadlineAt.toISOString()}`);
  if (run.waitingFor) lines.push(`Waits for ${run.waitingFor.join(", ")}`);
  if (run.waitingForChildren) {
    lines.push(`Waits for child run ${run.waitingForChildren.join(", ")}`);
  }
  lines.push(`Input     ${brief(run.input, 200)}`);
  if (run.output !== undefined) lines.push(`Output    ${brief(run.output, 200)}`);
  if (run.error) {
    lines.push(`Error     ${run.error.name}: ${run.error.message}`);
    if (run.error.step) lines.push(`At step   ${run.error.step}`);
  }
  lines.push("", "History");
  lines.push(table(
    ["TIME", "EVENT", "STEP", "ATTEMPT", "DETAIL"],
    history.map((e) => [
      e.at.toISOString(),
      e.type,
      e.step ?? "",
      e.attempt === undefined ? "" : String(e.attempt),
      eventDetail(e),
    ]),
  ));
  return lines.join("\n");
}

/** The run's flow-control keys as one line (`concurrency eu, rate acme`), if it has any. */
export function flowKeys(run: RunRecord): string | undefined {
  const keys: string[] = [];
  if (run.concurrencyKey !== undefined) keys.push(`concurrency ${run.concurrencyKey}`);
  if (run.rateKey !== undefined) keys.push(`rate ${run.rateKey}`);
  return keys.length ? keys.join(", ") : undefined;
}

/** A one-line description of what an event carries. */
export function eventDetail(e: HistoryEvent): string {
  if (e.error) return `${e.error.name}: ${e.error.message}`;
  if (e.signal) return `${e.signal} ${brief(e.payload, 40)}`.trim();
  if (e.child) return `${e.child}${e.status ? ` ${e.status}` : ""}`;
  if (e.type === "run.waiting") {
    const awaited = [...e.signals ?? [], ...(e.children ?? []).map((id) => `child ${id}`)];
    return `${awaited.join("|")}${e.wakeAt ? ` until ${e.wakeAt.toISOString()}` : ""}`;
  }
  if (e.wakeAt) return `until ${e.wakeAt.toISOString()}`;
  if (e.reason) return e.reason;
  if (e.output !== undefined) return brief(e.output, 40);
  return "";
}
