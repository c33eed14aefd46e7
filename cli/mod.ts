/**
 * The `sluice` command-line tool: inspect and operate runs stored in a SQLite
 * file or a PostgreSQL database, print plans, and serve a web dashboard.
 *
 * ```sh
 * deno run -A jsr:@sluice/sluice/cli list --db app.db
 * deno run -A jsr:@sluice/sluice/cli show <runId> --db postgres://user@host/db
 * deno run -A jsr:@sluice/sluice/cli signal <runId> approved '{"by":"ada"}' --db app.db
 * deno run -A jsr:@sluice/sluice/cli plan ./workflows.ts --mermaid
 * deno run -A jsr:@sluice/sluice/cli serve --db app.db --port 8080
 * deno run -A jsr:@sluice/sluice/cli worker --module ./workflows.ts --db app.db
 * deno run -A jsr:@sluice/sluice/cli schedules pause nightly-report --db app.db
 * ```
 *
 * Commands: `list`, `show <runId>`, `signal <runId> <name> [payloadJson]`,
 * `cancel <runId> [--reason text]`, `retry <runId>`, `plan <module.ts|file.yaml>`,
 * `serve`, `worker --module <file>` (a worker for every `Workflow` and
 * `Schedule` the module exports, stopped gracefully by SIGINT or SIGTERM) and
 * `schedules [list|pause|resume|trigger|delete] [id]`. Options: `--db` (or
 * `SLUICE_DB`), `--json` for machine-readable output.
 *
 * @example Run the CLI from code
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "@sluice/sluice/cli";
 *
 * const code = await main(["help"]);
 * assert.equal(code, 0);
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Workflow } from "../lib/builder.ts";
import type { Driver, RunStatus } from "../lib/driver.ts";
import { Engine } from "../lib/engine.ts";
import { SluiceError, StorageError } from "../lib/errors.ts";
import { json, runDetail, runsTable } from "./_format.ts";
import { serveDashboard } from "./dashboard.ts";
import { watchCommand } from "./_watch.ts";
import { loadModule, runWorker, schedulesCommand } from "./_worker.ts";
import { CONTROL_COMMANDS, controlCommand, warnOtherSignal } from "./_control.ts";

export {
  dashboard,
  type DashboardClient,
  type DashboardOptions,
  serveDashboard,
  type ServeDashboardOptions,
} from "./dashboard.ts";

/**
 * Where the CLI writes; tests pass their own.
 *
 * @example Capture what the CLI writes
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CliIo, main } from "@sluice/sluice/cli";
 *
 * const out: string[] = [];
 * const err: string[] = [];
 * const io: CliIo = { out: (text) => out.push(text), err: (text) => err.push(text) };
 * assert.equal(await main(["help"], io), 0);
 * assert.equal(out[0]?.split("\n")[0], "Usage: sluice <command> [options]");
 * assert.equal(await main(["list", "--bogus"], io), 2);
 * assert.equal(err.length, 1);
 * ```
 */
export interface CliIo {
  /** Normal output. */
  out(text: string): void;
  /** Errors. */
  err(text: string): void;
}

const consoleIo: CliIo = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
};

const USAGE = `Usage: sluice <command> [options]

Commands:
  list                              List runs (newest first)
  show <runId>                      Status, input, output, error and history of a run
  signal <runId> <name> [payload]   Send a signal; payload is JSON
  cancel <runId> [--reason text]    Cancel a run
  retry <runId>                     Resume a failed or cancelled run
  start <workflow> [input] --module <file>
                                    Start a run (input is JSON; --id, --label k=v,
                                    --priority n)
  workers                           List live workers and what they serve
  pause <runId>                     Pause a run (the step in flight finishes)
  resume <runId>                    Resume a paused run
  fork <runId> --module <file> [--from <step>] [--input <json>] [--id <id>]
                                    Start a new run reusing the results before --from
  purge --older-than <duration> | --before <ISO time>
                                    Delete finished runs last updated before then
  plan <module.ts|file.yaml>        Print the plan of the workflows a module exports
  serve                             Serve the web dashboard
  watch [runId]                     Print history events as they are committed (every run's
                                    from now, or one run's from its start until it ends)
  worker --module <file>            Run a worker for the module's exported workflows and
                                    schedules until SIGINT/SIGTERM (graceful stop)
  schedules [list]                  List schedules
  schedules pause|resume <id>       Pause or resume a schedule
  schedules trigger <id> --module <file>
                                    Start one run of a schedule now
  schedules delete <id>             Delete a dynamic schedule
  help                              Show this help

Options:
  --db <path|url>     SQLite file path or postgres:// URL (default: $SLUICE_DB)
  --schema <name>     PostgreSQL schema (default: sluice)
  --json              Print JSON instead of tables
  --status <status>   list: only runs in this status (repeatable)
  --workflow <name>   list: only runs of this workflow
  --label <k=v>       list: only runs with this label (repeatable)
  --limit <n>         list: page size (default 50)
  --cursor <cursor>   list: the next page's cursor
  --id <id>           start, fork: the new run's id
  --priority <n>      start: claim priority, an integer (higher first; default 0)
  --from <step>       fork: the top-level step to run from
  --input <json>      fork: a new input
  --older-than <d>    purge: e.g. 30d
  --before <time>     purge: an ISO 8601 time
  --after <cursor>    watch: resume after this event cursor ('start': every stored event)
  --mermaid           plan: print a Mermaid flowchart instead of JSON
  --host <address>    serve: listen address (default 127.0.0.1)
  --port <port>       serve: port (default 8080)
  --module <file>     worker, schedules, serve: the module that exports workflows (serve draws their plans)
  --concurrency <n>   worker: most runs at once (default 10)
  --token <token>     serve: require this token (mandatory off 127.0.0.1; or $SLUICE_TOKEN)`;

/**
 * Removes the password from a database URL, for messages.
 *
 * @example Hide the password of a connection URL
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactUrl } from "@sluice/sluice/cli";
 *
 * assert.equal(
 *   redactUrl("Cannot connect to postgres://app:s3cret@db.example.com/prod"),
 *   "Cannot connect to postgres://app:***@db.example.com/prod",
 * );
 * ```
 */
export function redactUrl(text: string): string {
  return text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, "$1***@");
}

/**
 * Opens the driver named by `--db`: a `postgres://` URL or a SQLite path.
 * With `create: false` a missing SQLite file or PostgreSQL schema is a
 * `StorageError` naming it, and nothing is created.
 * Each driver is loaded only when used.
 *
 * @example Open a SQLite file by path
 * ```ts
 * import assert from "node:assert/strict";
 * import { openDriver } from "@sluice/sluice/cli";
 *
 * const dir = await Deno.makeTempDir();
 * const driver = await openDriver(`${dir}/app.db`); // a postgres:// URL opens PostgreSQL
 * await driver.migrate();
 * assert.equal(driver.kind, "sqlite");
 * assert.equal((await driver.listRuns({})).runs.length, 0);
 * await driver.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openDriver(
  db: string,
  options: { schema?: string; create?: boolean } = {},
): Promise<Driver> {
  const create = options.create ?? true;
  if (/^postgres(ql)?:\/\//i.test(db)) {
    const { PostgresDriver } = await import("../drivers/postgres/mod.ts");
    return new PostgresDriver(
      options.schema ? { url: db, schema: options.schema, create } : { url: db, create },
    ) as unknown as Driver;
  }
  const { SqliteDriver } = await import("../drivers/sqlite/mod.ts");
  return new SqliteDriver({ path: db, create }) as unknown as Driver;
}

/** Commands that only read: they never create a database file or schema. */
const READ_ONLY: ReadonlySet<string> = new Set(["list", "show", "workers", "watch"]);

/** Imports a module or loads a YAML file and returns the workflows it defines. */
async function loadWorkflows(file: string): Promise<Workflow<unknown, unknown, unknown>[]> {
  if (/\.ya?ml$/i.test(file)) {
    const { loadWorkflow } = await import("../yaml/mod.ts");
    const text = await Deno.readTextFile(file);
    // Printing a plan runs nothing: every action name stands for a placeholder.
    const placeholder = (value: unknown) => value;
    const anyAction = new Proxy({}, {
      get: () => placeholder,
      has: () => true,
      getOwnPropertyDescriptor: () => ({
        value: placeholder,
        writable: false,
        enumerable: true,
        configurable: true,
      }),
    });
    return [loadWorkflow(text, { actions: anyAction }) as Workflow<unknown, unknown, unknown>];
  }
  const url = new URL(file, `file://${Deno.cwd()}/`).href;
  const module = await import(url) as Record<string, unknown>;
  return Object.values(module).filter((v): v is Workflow<unknown, unknown, unknown> =>
    v instanceof Workflow && v.name !== ""
  );
}

/**
 * Runs the CLI with `args`; returns the exit code (0 ok, 1 failure, 2 misuse).
 *
 * @param args The arguments, without the program name.
 * @param io Where to write.
 *
 * @example List the runs of a SQLite file as JSON
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, workflow } from "@sluice/sluice";
 * import { main } from "@sluice/sluice/cli";
 * import { SqliteDriver } from "@sluice/sluice/sqlite";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using engine = new Engine({ driver: new SqliteDriver({ path: `${dir}/app.db` }) });
 *   await engine.start(workflow<number>("billing").sleep("wait", "1d"), 1, { id: "r-1" });
 * }
 * const out: string[] = [];
 * const code = await main(["list", "--db", `${dir}/app.db`, "--json"], {
 *   out: (text) => out.push(text),
 *   err: (text) => console.error(text),
 * });
 * assert.equal(code, 0);
 * assert.equal(JSON.parse(out[0]!).runs[0].id, "r-1");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function main(args: readonly string[], io: CliIo = consoleIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        db: { type: "string" },
        schema: { type: "string" },
        json: { type: "boolean", default: false },
        status: { type: "string", multiple: true },
        workflow: { type: "string" },
        label: { type: "string", multiple: true },
        limit: { type: "string" },
        cursor: { type: "string" },
        reason: { type: "string" },
        mermaid: { type: "boolean", default: false },
        host: { type: "string" },
        port: { type: "string" },
        token: { type: "string" },
        module: { type: "string" },
        concurrency: { type: "string" },
        id: { type: "string" },
        from: { type: "string" },
        after: { type: "string" },
        input: { type: "string" },
        priority: { type: "string" },
        before: { type: "string" },
        "older-than": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (!command || command === "help" || values.help) {
    io.out(USAGE);
    return 0;
  }
  const need = (count: number, what: string): boolean => {
    if (rest.length >= count) return true;
    io.err(`Missing ${what} for '${command}'\n\n${USAGE}`);
    return false;
  };

  if (command === "plan") {
    if (!need(1, "a module or YAML file")) return 2;
    try {
      const workflows = await loadWorkflows(rest[0]!);
      if (workflows.length === 0) {
        io.err(`No workflows found in '${rest[0]}': export them from the module`);
        return 1;
      }
      for (const wf of workflows) {
        if (values.mermaid) io.out(wf.toMermaid());
        else io.out(json({ planHash: wf.planHash, ...wf.plan }));
      }
      return 0;
    } catch (error) {
      io.err(`Cannot load '${rest[0]}': ${(error as Error).message}`);
      return 1;
    }
  }

  const db = values.db ?? Deno.env.get("SLUICE_DB");
  if (!db) {
    io.err(`Missing --db (a SQLite file or a postgres:// URL) for '${command}'\n\n${USAGE}`);
    return 2;
  }
  let engine: Engine | undefined;
  try {
    if (command === "worker" && !values.module) {
      throw new TypeError(
        "Missing --module for 'worker': pass the module that exports your workflows and schedules",
      );
    }
    const found = values.module ? await loadModule(values.module) : undefined;
    // Read-only commands never create a database file or schema, nor do the
    // schedule commands, which act on schedules that must exist already.
    const create = !READ_ONLY.has(command) && command !== "schedules";
    const driver = await openDriver(db, {
      ...(values.schema ? { schema: values.schema } : {}),
      create,
    });
    engine = new Engine({
      driver,
      workflows: found?.workflows ?? [],
      ...(found ? { schedules: found.schedules } : {}),
    });
    switch (command) {
      case "worker": {
        const concurrency = values.concurrency === undefined
          ? undefined
          : Number(values.concurrency);
        return await runWorker(
          engine,
          found!,
          concurrency === undefined ? {} : { concurrency },
          io,
        );
      }
      case "schedules":
        return await schedulesCommand(
          engine,
          rest,
          { json: values.json, module: found !== undefined },
          io,
        );
      case "list": {
        const labels: Record<string, string> = {};
        for (const label of values.label ?? []) {
          const at = label.indexOf("=");
          if (at <= 0) throw new TypeError(`Cannot use label '${label}': write it as key=value`);
          labels[label.slice(0, at)] = label.slice(at + 1);
        }
        const page = await engine.list({
          ...(values.status ? { status: values.status as RunStatus[] } : {}),
          ...(values.workflow ? { workflow: values.workflow } : {}),
          ...(Object.keys(labels).length ? { labels } : {}),
          limit: values.limit ? Number(values.limit) : 50,
          ...(values.cursor ? { cursor: values.cursor } : {}),
        });
        if (values.json) io.out(json(page));
        else {
          io.out(runsTable(page.runs));
          if (page.nextCursor) io.out(`\nNext page: --cursor ${page.nextCursor}`);
        }
        return 0;
      }
      case "watch":
        return await watchCommand(engine, rest[0], {
          json: values.json,
          ...(values.after !== undefined ? { after: values.after } : {}),
          ...(values.workflow !== undefined ? { workflow: values.workflow } : {}),
        }, io);
      case "show": {
        if (!need(1, "a run id")) return 2;
        const [run, history] = await Promise.all([
          engine.get(rest[0]!),
          engine.history(rest[0]!),
        ]);
        io.out(values.json ? json({ run, history }) : runDetail(run, history));
        return 0;
      }
      case "signal": {
        if (!need(2, "a run id and a signal name")) return 2;
        let payload: unknown;
        if (rest[2] !== undefined) {
          try {
            payload = JSON.parse(rest[2]);
          } catch {
            throw new TypeError(
              `Cannot parse the payload '${rest[2]}': pass JSON, e.g. '{"ok":true}'`,
            );
          }
        }
        await warnOtherSignal(engine, rest[0]!, rest[1]!, io);
        await engine.signal(rest[0]!, rest[1]!, payload);
        io.out(values.json ? json({ ok: true }) : `Sent '${rest[1]}' to ${rest[0]}`);
        return 0;
      }
      case "cancel": {
        if (!need(1, "a run id")) return 2;
        await engine.cancel(rest[0]!, values.reason);
        io.out(values.json ? json({ ok: true }) : `Cancelled ${rest[0]}`);
        return 0;
      }
      case "retry": {
        if (!need(1, "a run id")) return 2;
        await engine.retry(rest[0]!);
        io.out(values.json ? json({ ok: true }) : `Retrying ${rest[0]} from its failed step`);
        return 0;
      }
      case "serve": {
        const token = values.token ?? Deno.env.get("SLUICE_TOKEN");
        const server = serveDashboard({
          engine,
          workflows: found?.workflows ?? [],
          ...(values.host ? { hostname: values.host } : {}),
          port: values.port ? Number(values.port) : 8080,
          ...(token ? { token } : {}),
          onListen: ({ hostname, port }) => io.out(`Dashboard on http://${hostname}:${port}/`),
        });
        const stop = () => void server.shutdown();
        Deno.addSignalListener("SIGINT", stop);
        try {
          await server.finished;
        } finally {
          Deno.removeSignalListener("SIGINT", stop);
        }
        return 0;
      }
      default:
        if (CONTROL_COMMANDS.includes(command)) {
          return await controlCommand(command, engine, rest, values, io);
        }
        io.err(`Unknown command '${command}'\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const name = error instanceof SluiceError || error instanceof Error ? error.name : "Error";
    io.err(redactUrl(`${name}: ${message}`));
    return error instanceof TypeError || error instanceof RangeError ? 2 : 1;
  } finally {
    await engine?.close().catch((error) => {
      if (!(error instanceof StorageError)) io.err(redactUrl(String(error)));
    });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
