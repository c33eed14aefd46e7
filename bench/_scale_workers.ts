/**
 * Scale: one, two and three worker processes (real `deno` processes spawned
 * with `Deno.Command`) draining one backlog on one PostgreSQL database.
 */
import postgres from "postgres";
import { Engine } from "../mod.ts";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { chain } from "./_durable.ts";
import { URL as POSTGRES_URL, withSchema } from "./postgres.ts";

/** Worker processes running `bench/_scale_worker.ts`; `stop()` ends them and waits. */
async function spawnWorkers(schema: string, count: number, concurrency: number) {
  const script = new URL("./_scale_worker.ts", import.meta.url).pathname;
  const children = Array.from({ length: count }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", script, POSTGRES_URL, schema, String(concurrency)],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn());
  // Each prints "ready" once its worker runs.
  const outputs = children.map((child) => child.stdout.getReader());
  await Promise.all(outputs.map(async (reader) => {
    let text = "";
    while (!text.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("a worker process ended before it was ready");
      text += new TextDecoder().decode(value);
    }
  }));
  return {
    async stop(): Promise<void> {
      for (const child of children) await child.stdin.close();
      await Promise.all(children.map(async (child, i) => {
        // Drain stdout so the process can exit.
        while (!(await outputs[i]!.read()).done) { /* discard */ }
        await child.status;
      }));
    },
  };
}

/**
 * Runs/s of `workers` processes draining `runs` runs of `steps` steps, all due
 * at one instant (created before it): from that instant to the last completion.
 */
export async function drainRate(
  workers: number,
  steps: number,
  runs: number,
  concurrency: number,
): Promise<number> {
  return await withSchema(async (schema) => {
    const wf = chain(steps);
    await using engine = new Engine({
      driver: new PostgresDriver({ url: POSTGRES_URL, schema }),
      workflows: [chain(1), chain(10)],
    });
    // Create the schema before the workers start.
    await engine.list({ limit: 1 });
    const pool = await spawnWorkers(schema, workers, concurrency);
    try {
      const at = Date.now() + 3_000 + runs * 2;
      for (let i = 0; i < runs; i += 256) {
        const n = Math.min(256, runs - i);
        await Promise.all(
          Array.from({ length: n }, (_, j) => engine.start(wf, i + j, { startAt: at })),
        );
      }
      if (Date.now() > at) throw new Error("the backlog took longer to create than planned");
      const sql = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
      try {
        for (;;) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          const [row] = await sql.unsafe(
            `SELECT count(*) FILTER (WHERE status = 'completed')::int AS done,
               max(updated_at)::float8 AS last FROM "${schema}".runs`,
          );
          if (row!.done === runs) return (runs * 1000) / (row!.last - at);
        }
      } finally {
        await sql.end();
      }
    } finally {
      await pool.stop();
    }
  });
}
