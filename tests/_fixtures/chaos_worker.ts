/**
 * A worker process for the crash, fencing and chaos tests. It registers the
 * workflows below, runs a worker over `--db` (a SQLite file or a postgres://
 * URL), prints "ready <pid>" once polling, and appends one JSON line per step
 * body execution to `--log` (before the body's work), so tests can count how
 * often each step body ran and in which process. Warnings and errors go to
 * stderr.
 *
 * Usage: deno run -A tests/_fixtures/chaos_worker.ts --db <db> --log <file>
 *          [--concurrency 8] [--lease 2000] [--poll 100] [--delay 30] [--schema s]
 *          [--max-recoveries n] [--id worker-id] [--start-slow run-id]
 */
import { parseArgs } from "node:util";
import { consoleLogger, Engine } from "../../mod.ts";
import { openDriver } from "../../cli/mod.ts";
import {
  caller,
  chaos,
  hog,
  napper,
  pinger,
  relay,
  saga,
  setExecutionLog,
  slow,
  spin,
  suicide,
} from "./chaos_workflows.ts";
import { metered, paced, ranked, setFlowLog, throttled } from "./flow_workflows.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    db: { type: "string" },
    log: { type: "string" },
    schema: { type: "string" },
    concurrency: { type: "string", default: "8" },
    lease: { type: "string", default: "2000" },
    poll: { type: "string", default: "100" },
    delay: { type: "string", default: "30" },
    "max-recoveries": { type: "string" },
    id: { type: "string" },
    "start-slow": { type: "string" },
  },
});
if (!values.db || !values.log) throw new TypeError("Pass --db and --log");
setExecutionLog(values.log, Number(values.delay));
setFlowLog(`${values.log}.flow`);

const driver = await openDriver(values.db, values.schema ? { schema: values.schema } : {});
const engine = new Engine({
  driver,
  workflows: [
    chaos,
    slow,
    napper,
    spin,
    hog,
    suicide,
    throttled,
    metered,
    ranked,
    paced,
    saga,
    caller,
    pinger,
    relay,
  ],
  logger: consoleLogger("warn"), // to stderr, where tests read it
  ...(values["max-recoveries"] ? { maxRecoveries: Number(values["max-recoveries"]) } : {}),
});
const worker = engine.worker({
  concurrency: Number(values.concurrency),
  leaseMs: Number(values.lease),
  pollInterval: Number(values.poll),
  ...(values.id ? { id: values.id } : {}),
});
await worker.start();
// A run started here, beside the worker, is claimed by it in the start's own write.
if (values["start-slow"]) await engine.start(slow, 20, { id: values["start-slow"] });
console.log(`ready ${Deno.pid}`);

const shutdown = async () => {
  await worker.stop();
  await engine.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", () => void shutdown());
Deno.addSignalListener("SIGINT", () => void shutdown());
