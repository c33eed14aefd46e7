/**
 * A worker process of the scale benchmark (bench/scale.ts): serves the bench
 * chains of 1 and 10 steps on a PostgreSQL schema until its stdin closes.
 * Prints `ready` once its worker runs.
 *
 * Usage: `deno run --allow-all bench/_scale_worker.ts <url> <schema> <concurrency>`
 */
import { Engine } from "../mod.ts";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { chain } from "./_durable.ts";

const [url, schema, concurrency] = Deno.args;
const engine = new Engine({
  driver: new PostgresDriver({ url: url!, schema: schema! }),
  workflows: [chain(1), chain(10)],
});
const worker = engine.worker({ concurrency: Number(concurrency) });
await worker.start();
console.log("ready");
// Runs until the parent closes stdin.
for await (const _ of Deno.stdin.readable) { /* wait */ }
await worker.stop();
await engine.close();
