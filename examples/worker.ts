/**
 * A worker process: `deno task worker [--db <sqlite path | postgres url>]`.
 *
 * Run as many as you like, in as many processes and on as many machines as you
 * like, against one SQLite file (one machine) or one PostgreSQL database (any
 * number of machines). Each claims due runs under a lease, heartbeats while it
 * works, and hands its runs back on Ctrl-C. If a worker dies, its leases
 * expire and another worker resumes its runs from their last checkpoint.
 *
 * Start runs from any process with an `Engine` over the same database, e.g.
 * `deno run -A examples/worker.ts --db app.db --start 3` starts three `hello`
 * runs before working; then send their signal with the CLI:
 * `deno run -A cli/mod.ts signal <runId> approved '{"by":"you"}' --db app.db`.
 */
import { parseArgs } from "node:util";
import { consoleLogger, Engine, LoggingObserver } from "../mod.ts";
import { openDriver, redactUrl } from "../cli/mod.ts";
import { hello } from "./hello.ts";
import { approval } from "./approval.ts";
import { charge, flakyPaymentApi } from "./retries.ts";
import { crawl } from "./fan_out.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    db: { type: "string", default: Deno.env.get("SLUICE_DB") ?? "sluice-demo.db" },
    concurrency: { type: "string", default: "10" },
    start: { type: "string", default: "0" },
  },
});

const logger = consoleLogger("info");
const engine = new Engine({
  driver: await openDriver(values.db),
  workflows: [hello, approval, charge, crawl],
  deps: { pay: flakyPaymentApi() },
  observers: [new LoggingObserver(logger)],
});
const worker = engine.worker({ concurrency: Number(values.concurrency) });
await worker.start();
logger.info(`worker ${worker.id} is polling ${redactUrl(values.db)}; Ctrl-C stops it gracefully`);

for (let i = 0; i < Number(values.start); i++) {
  const run = await engine.start(hello, { name: `user ${i + 1}` });
  logger.info(`started run ${run.id}: signal 'approved' to finish it`);
}

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  logger.info("stopping: steps in flight finish, their runs are handed back");
  await worker.stop();
  await engine.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", () => void stop());
Deno.addSignalListener("SIGTERM", () => void stop());
