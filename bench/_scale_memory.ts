/**
 * The memory process of the scale benchmark (bench/scale.ts): one engine and
 * worker on a SQLite file run `total` one-step runs, 64 in flight; at each
 * mark it forces a full GC (run it with `--v8-flags=--expose-gc`) and prints
 * one JSON line: runs done, resident set, V8 heap (total, used, young
 * generation) and the database file's size, in MB.
 *
 * Usage: `deno run --allow-all --v8-flags=--expose-gc bench/_scale_memory.ts <total>`
 */
import { getHeapSpaceStatistics } from "node:v8";
import { Engine } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { chain } from "./_durable.ts";
import { withFile } from "./sqlite.ts";

const MB = 1024 * 1024;
const total = Number(Deno.args[0] ?? 100_000);
const marks = [1_000, 10_000, 25_000, Math.round(total / 2), total]
  .filter((m, i, all) => m <= total && all.indexOf(m) === i)
  .sort((a, b) => a - b);
const gc = (globalThis as { gc?: () => void }).gc;

await withFile(async (path) => {
  const report = (done: number) => {
    gc?.();
    const usage = Deno.memoryUsage();
    const young = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    console.log(JSON.stringify({
      done,
      rss: usage.rss / MB,
      heapTotal: usage.heapTotal / MB,
      heapUsed: usage.heapUsed / MB,
      young: (young?.space_size ?? 0) / MB,
      db: Deno.statSync(path).size / MB,
    }));
  };
  const wf = chain(1);
  await using engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [wf] });
  await using worker = engine.worker({ concurrency: 64 });
  await worker.start();
  let next = 0;
  let done = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < total) {
      next++;
      await (await engine.start(wf, next)).result();
      done++;
      if (marks.length > 0 && done >= marks[0]!) report(marks.shift()!);
    }
  }));
});
