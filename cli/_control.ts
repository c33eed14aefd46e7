/**
 * The CLI's run-control commands: `start`, `pause`, `resume`, `fork` and
 * `purge`, and the warning `signal` gives when the run waits for other
 * signal names.
 *
 * @module
 */
import type { Engine } from "../lib/engine.ts";
import { parseDuration } from "../lib/duration.ts";
import { json, table } from "./_format.ts";
import type { CliIo } from "./mod.ts";

/** The parsed options the commands read. */
export interface ControlValues {
  json: boolean;
  id?: string | undefined;
  from?: string | undefined;
  input?: string | undefined;
  label?: string[] | undefined;
  priority?: string | undefined;
  before?: string | undefined;
  "older-than"?: string | undefined;
}

/** The commands of this module. */
export const CONTROL_COMMANDS: readonly string[] = [
  "start",
  "pause",
  "resume",
  "fork",
  "purge",
  "workers",
];

/** Parses a JSON argument, naming it in the error. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new TypeError(`Cannot parse ${what} '${text}': pass JSON, e.g. '{"ok":true}'`);
  }
}

/** Parses `--label k=v` options. */
export function parseLabels(labels: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const label of labels ?? []) {
    const at = label.indexOf("=");
    if (at <= 0) throw new TypeError(`Cannot use label '${label}': write it as key=value`);
    out[label.slice(0, at)] = label.slice(at + 1);
  }
  return out;
}

/** Parses `--priority <n>` (an integer; `start` checks its range). */
export function parsePriority(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[+-]?\d+$/.test(text.trim())) {
    throw new TypeError(`Cannot use --priority '${text}': pass an integer, e.g. 5 or -1`);
  }
  return Number(text);
}

function missing(io: CliIo, what: string, command: string): number {
  io.err(`Missing ${what} for '${command}': see 'sluice help'`);
  return 2;
}

/** Runs one of {@linkcode CONTROL_COMMANDS}; returns the exit code. */
export async function controlCommand(
  command: string,
  engine: Engine,
  rest: readonly string[],
  values: ControlValues,
  io: CliIo,
): Promise<number> {
  const say = (text: string, data: unknown) => io.out(values.json ? json(data) : text);
  const runId = rest[0];
  switch (command) {
    case "start": {
      if (runId === undefined) return missing(io, "a workflow name", command);
      const input = rest[1] === undefined ? undefined : parseJson(rest[1], "the input");
      const labels = parseLabels(values.label);
      const priority = parsePriority(values.priority);
      const run = await engine.start(runId, input, {
        ...(values.id ? { id: values.id } : {}),
        ...(Object.keys(labels).length ? { labels } : {}),
        ...(priority === undefined ? {} : { priority }),
      });
      say(`Started ${run.id}`, { id: run.id });
      return 0;
    }
    case "pause":
    case "resume": {
      if (runId === undefined) return missing(io, "a run id", command);
      await (command === "pause" ? engine.pause(runId) : engine.resume(runId));
      say(`${command === "pause" ? "Paused" : "Resumed"} ${runId}`, { ok: true });
      return 0;
    }
    case "fork": {
      if (runId === undefined) return missing(io, "a run id", command);
      const fork = await engine.fork(runId, {
        ...(values.from ? { from: values.from } : {}),
        ...(values.input === undefined ? {} : { input: parseJson(values.input, "the input") }),
        ...(values.id ? { id: values.id } : {}),
      });
      say(`Forked ${runId} as ${fork.id}`, { id: fork.id });
      return 0;
    }
    case "workers": {
      const workers = await engine.workers();
      if (values.json) io.out(json(workers));
      else {
        io.out(table(
          ["ID", "HOST", "PID", "STARTED", "LAST SEEN", "SERVES"],
          workers.map((w) => [
            w.id,
            w.host,
            String(w.pid),
            w.startedAt.toISOString(),
            w.lastSeenAt.toISOString(),
            w.serves.map((s) => `${s.workflow}@${s.version}`).join(", "),
          ]),
        ));
      }
      return 0;
    }
    case "purge": {
      const olderThan = values["older-than"];
      if ((values.before === undefined) === (olderThan === undefined)) {
        return missing(io, "one of --before <ISO time> or --older-than <duration>", command);
      }
      let cutoff: number;
      if (olderThan !== undefined) cutoff = Date.now() - parseDuration(olderThan, "'--older-than'");
      else {
        cutoff = Date.parse(values.before!);
        if (Number.isNaN(cutoff)) {
          throw new TypeError(
            `Cannot use --before '${values.before}': pass an ISO 8601 time such as 2026-01-31T00:00:00Z`,
          );
        }
      }
      const count = await engine.purge({ finishedBefore: cutoff });
      say(`Purged ${count} finished run${count === 1 ? "" : "s"}`, { purged: count });
      return 0;
    }
  }
  io.err(`Unknown command '${command}'`);
  return 2;
}

/** Warns when a waiting run waits for other signal names than `name` (it is still sent). */
export async function warnOtherSignal(
  engine: Engine,
  runId: string,
  name: string,
  io: CliIo,
): Promise<void> {
  const run = await engine.get(runId);
  const awaited = run.waitingFor ?? [];
  if (run.status === "waiting" && awaited.length > 0 && !awaited.includes(name)) {
    io.err(
      `Warning: run ${runId} waits for ${
        awaited.map((n) => `'${n}'`).join(", ")
      }, not '${name}': the signal stays in its inbox until a wait for '${name}' takes it`,
    );
  }
}
