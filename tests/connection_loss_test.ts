// A dropped connection costs milliseconds, not a lease (issue 7 item 6). The
// worker's PostgreSQL connections are terminated while one of its writes waits
// on a row lock (so the write is in flight at that moment): a run's final
// write (complete, suspend) or a checkpoint. The write is tried again on a new
// connection, and the run finishes within a few seconds, far below the lease.
import assert from "node:assert/strict";
import postgres from "postgres";
import { Engine, workflow } from "@sluice/sluice";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { dropSchema, POSTGRES_ENABLED, POSTGRES_URL, tempSchema } from "./_fixtures/drivers.ts";
import { waitUntil } from "./_fixtures/processes.ts";

const LEASE_MS = 30_000;

/**
 * Where the lock is taken: `lock()` runs right before the write under test,
 * which then waits on the run's row until the connections are gone.
 */
type Point = "complete" | "suspend" | "checkpoint";

function lockingWorkflow(point: Point, lock: () => Promise<void>, ran: () => void) {
  const name = `drop-${point}`;
  if (point === "complete") {
    // The condition runs last; its decision rides with the completion.
    return workflow<number>(name)
      .step("a", (n) => {
        ran();
        return n + 1;
      })
      .if("again", async () => {
        await lock();
        return false;
      }, (n) => n + 100);
  }
  if (point === "suspend") {
    return workflow<number>(name)
      .step("a", (n) => {
        ran();
        return n + 1;
      })
      .sleepUntil("nap", async () => {
        await lock();
        return Date.now() + 200;
      })
      .step("b", (n) => n + 1);
  }
  return workflow<number>(name)
    .step("a", async (n) => {
      ran();
      await lock();
      return n + 1;
    })
    .step("b", (n) => n + 1);
}

const EXPECTED: Record<Point, number> = { complete: 2, suspend: 3, checkpoint: 3 };

if (POSTGRES_ENABLED) {
  for (const point of ["complete", "suspend", "checkpoint"] as const) {
    Deno.test(`postgres: connections dropped during a ${point} write cost milliseconds, not the lease`, async () => {
      const schema = tempSchema();
      // The worker's connections carry a name of their own, so that only they
      // are terminated (other tests share the server).
      const application = `sluice_drop_${schema.slice(-12)}`;
      const sql = postgres(POSTGRES_URL, {
        max: 4,
        onnotice: () => {},
        connection: { application_name: application },
      });
      const admin = postgres(POSTGRES_URL, { max: 2, onnotice: () => {} });
      const holder = await admin.reserve();
      let locked = false;
      const lock = async () => {
        if (locked) return;
        locked = true;
        await holder`BEGIN`;
        await holder.unsafe(`SELECT 1 FROM "${schema}".runs WHERE id = $1 FOR UPDATE`, [
          `run-${point}`,
        ]);
      };
      let executions = 0;
      const wf = lockingWorkflow(point, lock, () => executions++);
      const engine = new Engine({ driver: new PostgresDriver({ sql, schema }), workflows: [wf] });
      const worker = engine.worker({ leaseMs: LEASE_MS, pollInterval: 100 });
      // The test reads through connections of its own, which are not dropped.
      const client = new Engine({
        driver: new PostgresDriver({ url: POSTGRES_URL, schema, poolSize: 2 }),
        workflows: [wf],
      });
      try {
        await worker.start();
        const run = await client.start(wf, 1, { id: `run-${point}` });
        const blocked = async () => {
          const [row] = await admin`select count(*)::int as n from pg_stat_activity
            where application_name = ${application} and wait_event_type = 'Lock'`;
          return row!.n > 0;
        };
        await waitUntil(blocked, 20_000, `the ${point} write to wait on the row lock`, 20);

        const dropped = performance.now();
        const killed = await admin`select pg_terminate_backend(pid) as done from pg_stat_activity
          where application_name = ${application} and pid <> pg_backend_pid()`;
        assert.ok(killed.length >= 1, "the worker's connections were terminated");
        await holder`ROLLBACK`;
        assert.equal(await run.result(), EXPECTED[point]);
        const tookMs = performance.now() - dropped;
        assert.ok(
          tookMs < LEASE_MS / 6,
          `the run finished ${tookMs.toFixed(0)}ms after its connections dropped`,
        );
        const history = await client.history(run.id);
        assert.equal(history.filter((e) => e.type === "run.recovered").length, 0);
        assert.equal(executions, 1, "no step body ran again");
      } finally {
        if (locked) await holder`ROLLBACK`.catch(() => {});
        holder.release();
        await worker.stop();
        await engine.close();
        await client.close();
        await sql.end({ timeout: 1 });
        await admin.end({ timeout: 1 });
        await dropSchema(schema);
      }
    });
  }
}
