// The PostgresDriver: the conformance suite (each case in a fresh schema), then
// what only PostgreSQL has: concurrent migrations, schema isolation,
// LISTEN/NOTIFY between processes, reconnection, redacted errors, the pool's
// life cycle.
//
// The database comes from SLUICE_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/test). Under CI=true the tests always run
// and fail loudly when the database is unreachable; elsewhere they are skipped
// with a notice.
import assert from "node:assert/strict";
import { done, newRun, T0 } from "../testing/rows.ts";
import postgres from "postgres";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { migrations } from "../drivers/postgres/internals.ts";
import type { DriverNotice, Lease } from "../lib/driver.ts";
import { Engine } from "../lib/engine.ts";
import { workflow } from "../lib/builder.ts";
import {
  InvalidStateError,
  LeaseLostError,
  RunNotFoundError,
  StorageError,
} from "../lib/errors.ts";
import { testDriverConformance } from "../testing/mod.ts";

const URL = Deno.env.get("SLUICE_POSTGRES_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
const CI = Deno.env.get("CI") === "true";

function admin(max = 1): postgres.Sql {
  return postgres(URL, { max, onnotice: () => {}, connect_timeout: 5 });
}

async function probe(): Promise<string | undefined> {
  const sql = admin();
  try {
    await sql`SELECT 1`;
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const password = new globalThis.URL(URL).password;
    return password ? message.replaceAll(password, "***") : message;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const unreachable = await probe();
const ignore = unreachable !== undefined && !CI;
if (ignore) {
  console.log(
    `%cSkipping the PostgreSQL tests: cannot reach the database at SLUICE_POSTGRES_URL (${unreachable}). Start PostgreSQL or set SLUICE_POSTGRES_URL; under CI=true they run and fail.`,
    "color: yellow",
  );
}

Deno.test({
  name: "postgres: the database of SLUICE_POSTGRES_URL is reachable",
  ignore,
  fn() {
    assert.equal(unreachable, undefined, `cannot reach PostgreSQL: ${unreachable}`);
  },
});

function freshSchema(): string {
  return `sluice_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

async function dropSchema(schema: string): Promise<void> {
  const sql = admin();
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * Runs `fn` with a driver in a fresh schema and an admin connection, then
 * closes both and drops the schema. With `shared`, the driver's pool is that
 * one connection (so the test sees the driver's prepared statements).
 */
async function inScratchSchema(
  fn: (driver: PostgresDriver, sql: postgres.Sql, schema: string) => Promise<void>,
  shared = false,
): Promise<void> {
  const schema = freshSchema();
  const sql = admin();
  const driver = new PostgresDriver(shared ? { sql, schema } : { url: URL, schema });
  try {
    await fn(driver, sql, schema);
  } finally {
    await driver.close();
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await sql.end({ timeout: 1 });
  }
}

/** A driver in its own schema, dropped when the driver closes. */
class ScratchDriver extends PostgresDriver {
  #dropped = false;
  override async close(): Promise<void> {
    await super.close();
    if (this.#dropped) return;
    this.#dropped = true;
    await dropSchema(this.schema);
  }
}

if (!ignore) {
  testDriverConformance("postgres", () => new ScratchDriver({ url: URL, schema: freshSchema() }));
}

async function claimOne(driver: PostgresDriver, id: string, now = T0): Promise<Lease> {
  const claims = await driver.claimRuns({
    workerId: "w",
    now,
    leaseMs: 30_000,
    limit: 10,
    workflows: ["wf"],
  });
  const claim = claims.find((c) => c.run.id === id);
  assert.ok(claim, `run '${id}' should be claimable`);
  return claim.lease;
}

/** Repeats `poke` until `check` holds; fails after about five seconds. */
async function until(check: () => boolean, poke: () => Promise<unknown>, what: string) {
  for (let i = 0; !check(); i++) {
    if (i >= 100) assert.fail(`timed out waiting for ${what}`);
    await poke();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until `check` holds, polling; fails after `ms`. */
async function eventually(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Runs `fn` with two drivers on a fresh schema, `listener` subscribed (its
 * notices in `notices`) once its LISTEN carries the other driver's notices.
 */
async function withListener(
  fn: (listener: PostgresDriver, sender: PostgresDriver, notices: DriverNotice[]) => Promise<void>,
): Promise<void> {
  const schema = freshSchema();
  const listener = new PostgresDriver({ url: URL, schema });
  const sender = new PostgresDriver({ url: URL, schema });
  try {
    await listener.migrate();
    const notices: DriverNotice[] = [];
    const off = listener.subscribe((notice) => notices.push(notice));
    // LISTEN starts in the background: poke until a notice comes through.
    let probe = 0;
    await until(
      () => notices.some((n) => n.type === "runnable"),
      () => sender.createRun(newRun(`probe-${probe++}`), T0),
      "a runnable notice from the other driver",
    );
    await fn(listener, sender, notices);
    off();
  } finally {
    await listener.close();
    await sender.close();
    await dropSchema(schema);
  }
}

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name: `postgres: ${name}`, ignore, fn });
}

test("several drivers migrating the same new schema at once apply each version once", async () => {
  const schema = freshSchema();
  const drivers = Array.from({ length: 6 }, () => new PostgresDriver({ url: URL, schema }));
  try {
    await Promise.all(drivers.map((driver) => driver.migrate()));
    await Promise.all(drivers.map((driver, i) => driver.createRun(newRun(`r${i}`), T0)));
    const sql = admin();
    try {
      const versions = await sql.unsafe(
        `SELECT version FROM "${schema}".sluice_migrations ORDER BY version`,
      );
      assert.deepEqual(
        versions.map((row) => row.version),
        migrations(`"${schema}"`).map((m) => m.version),
      );
    } finally {
      await sql.end();
    }
    const page = await drivers[0]!.listRuns({});
    assert.equal(page.runs.length, 6);
  } finally {
    await Promise.all(drivers.map((driver) => driver.close()));
    await dropSchema(schema);
  }
});

test("migrate() is idempotent and refuses a schema newer than the driver", async () => {
  const schema = freshSchema();
  try {
    await using first = new PostgresDriver({ url: URL, schema });
    await first.migrate();
    await first.migrate();
    const sql = admin();
    try {
      await sql.unsafe(
        `INSERT INTO "${schema}".sluice_migrations (version, name) VALUES (999, 'future')`,
      );
    } finally {
      await sql.end();
    }
    await using second = new PostgresDriver({ url: URL, schema });
    await assert.rejects(() => second.getRun("x"), (error: unknown) => {
      assert.ok(error instanceof InvalidStateError);
      assert.match(error.message, /version 999/);
      return true;
    });
  } finally {
    await dropSchema(schema);
  }
});

test("schemas isolate runs: the same id lives independently in two schemas", async () => {
  await using a = new ScratchDriver({ url: URL, schema: freshSchema() });
  await using b = new ScratchDriver({ url: URL, schema: freshSchema() });
  assert.equal((await a.createRun(newRun("same", { input: "1" }), T0)).created, true);
  assert.equal((await b.createRun(newRun("same", { input: "2" }), T0)).created, true);
  const lease = await claimOne(a, "same");
  await a.write(lease, { steps: [done("s", '"from a"')] }, T0);
  assert.equal((await a.getRun("same"))!.input, "1");
  assert.equal((await b.getRun("same"))!.input, "2");
  assert.equal((await b.getRun("same"))!.status, "pending");
  assert.equal((await b.readSteps("same", ["s"])).size, 0);
  assert.equal((await a.readSteps("same", ["s"])).get("s")!.data, '"from a"');
});

test("schema names are validated before any SQL is built", () => {
  for (const schema of ["Bad", "a;drop table x", 'x"y', "1abc", "", "a".repeat(64), "a-b"]) {
    assert.throws(() => new PostgresDriver({ url: URL, schema }), TypeError, schema);
  }
  assert.throws(() => new PostgresDriver({} as never), TypeError);
  assert.throws(
    () => new PostgresDriver({ url: URL, sql: postgres(URL) } as never),
    TypeError,
  );
  assert.throws(() => new PostgresDriver({ url: "mysql://x" }), TypeError);
  return Promise.resolve();
});

test("two claimers on separate pools never get the same run (SKIP LOCKED)", async () => {
  const schema = freshSchema();
  const a = new PostgresDriver({ url: URL, schema });
  const b = new PostgresDriver({ url: URL, schema });
  try {
    await a.migrate();
    await Promise.all(Array.from({ length: 40 }, (_, i) => a.createRun(newRun(`r${i}`), T0)));
    const claim = (driver: PostgresDriver, workerId: string) =>
      driver.claimRuns({ workerId, now: T0, leaseMs: 30_000, limit: 5, workflows: ["wf"] });
    const rounds = await Promise.all(
      Array.from({ length: 12 }, (_, i) => claim(i % 2 ? a : b, `w${i}`)),
    );
    const claimed = rounds.flat().map((c) => c.run.id);
    assert.equal(new Set(claimed).size, claimed.length, "no run is claimed twice");
    assert.equal(claimed.length, 40);
  } finally {
    await a.close();
    await b.close();
    await dropSchema(schema);
  }
});

test("LISTEN/NOTIFY carries notices between two driver instances", async () => {
  await withListener(async (_listener, sender, notices) => {
    await sender.createRun(newRun("r1"), T0);
    await sender.sendSignal("r1", "go", '"x"', T0);
    await eventually(
      () => notices.some((n) => n.type === "signal" && n.runId === "r1"),
      "a signal notice",
    );
    await sender.cancelRun("r1", "stop", T0);
    await eventually(
      () =>
        notices.some((n) => n.type === "cancelled" && n.runId === "r1") &&
        notices.some((n) => n.type === "finished" && n.runId === "r1"),
      "cancelled and finished notices",
    );
  });
});

test("a transition written with labels or with a signal reaches another driver as a notice", async () => {
  await withListener(async (listener, sender, notices) => {
    // ctx.setLabels on the last step: the labels ride with the completion.
    await sender.createRun(newRun("labelled"), T0);
    const labelled = await claimOne(sender, "labelled");
    await sender.write(labelled, {
      steps: [done("a", "1")],
      labels: { stage: "done" },
      run: { status: "completed", output: "1" },
    }, T0 + 1);
    await eventually(
      () => notices.some((n) => n.type === "finished" && n.runId === "labelled"),
      "the finished notice of a labelled completion",
    );
    // A wait's signal taken in the write that completes the run.
    await sender.createRun(newRun("waited"), T0);
    await sender.sendSignal("waited", "go", '"x"', T0);
    const waited = await claimOne(sender, "waited");
    const row = { key: "w", kind: "waitForSignal", state: "done" as const, data: "", attempt: 1 };
    const taken = await sender.consumeSignal(waited, ["go"], row, {
      run: { status: "completed", output: '"x"' },
    }, T0 + 1);
    assert.equal(taken?.name, "go");
    await eventually(
      () => notices.some((n) => n.type === "finished" && n.runId === "waited"),
      "the finished notice of a completion that took a signal",
    );
    assert.deepEqual((await listener.getRun("labelled"))?.labels, { stage: "done" });
  });
});

test("plain checkpoints reach another driver as 'written', at most one NOTIFY per 25 ms", async () => {
  const schema = freshSchema();
  const listener = new PostgresDriver({ url: URL, schema });
  const sender = new PostgresDriver({ url: URL, schema });
  try {
    await listener.migrate();
    const written: number[] = []; // when each 'written' notice arrived
    const notices: DriverNotice[] = [];
    const off = listener.subscribe((notice) => {
      notices.push(notice);
      if (notice.type === "written") written.push(performance.now());
    });
    let probe = 0;
    await until(
      () => notices.some((n) => n.type === "runnable"),
      () => sender.createRun(newRun(`probe-${probe++}`), T0),
      "a runnable notice from the other driver",
    );
    await sender.createRun(newRun("busy"), T0);
    const lease = await claimOne(sender, "busy");
    const began = performance.now();
    const writes = 60;
    for (let i = 0; i < writes; i++) {
      await sender.write(lease, { steps: [done(`s${i}`, "1")] }, T0);
    }
    const wrote = performance.now();
    // The writes after the first are announced after the last one committed.
    await eventually(() => written.some((at) => at > wrote), "the trailing announcement");
    const windows = Math.ceil((wrote - began) / 25) + 2;
    assert.ok(
      written.length <= windows,
      `${written.length} announcements for ${writes} writes over ${Math.round(wrote - began)} ms`,
    );
    assert.ok(written.length < writes, "coalesced, not one per write");
    off();
  } finally {
    await listener.close();
    await sender.close();
    await dropSchema(schema);
  }
});

test("notices flow again after the LISTEN connection is cut, announced by 'changed'", async () => {
  const schema = freshSchema();
  const listener = new PostgresDriver({ url: URL, schema });
  const sender = new PostgresDriver({ url: URL, schema });
  const sql = admin();
  try {
    await listener.migrate();
    const notices: DriverNotice[] = [];
    listener.subscribe((notice) => notices.push(notice));
    let n = 0;
    const signalled = async () => {
      const id = `r${n++}`;
      await sender.createRun(newRun(id), T0);
      await sender.sendSignal(id, "go", undefined, T0);
      return id;
    };
    await until(() => notices.some((x) => x.type === "signal"), signalled, "LISTEN to start");
    const killed = await sql.unsafe(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
       WHERE query = $1 AND pid <> pg_backend_pid()`,
      [`LISTEN "sluice_${schema}"`],
    );
    assert.equal(killed.length, 1, "one LISTEN connection");
    await eventually(() => notices.some((x) => x.type === "changed"), "a 'changed' notice");
    notices.length = 0;
    const id = await signalled();
    await eventually(
      () => notices.some((x) => x.type === "signal" && x.runId === id),
      "notices after reconnecting",
    );
  } finally {
    await sql.end();
    await listener.close();
    await sender.close();
    await dropSchema(schema);
  }
});

test("queries fail with StorageError while connections are cut, then succeed again", async () => {
  const schema = freshSchema();
  const app = `sluice_cut_${schema.slice(-8)}`;
  const url = `${URL}${URL.includes("?") ? "&" : "?"}application_name=${app}`;
  const driver = new PostgresDriver({ url, schema });
  const sql = admin();
  try {
    await driver.createRun(newRun("r1"), T0);
    const lease = await claimOne(driver, "r1");
    await sql.unsafe(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`,
      [app],
    );
    // The pool notices the cut on its next use; some calls may fail meanwhile.
    let recovered = false;
    for (let i = 0; i < 50 && !recovered; i++) {
      try {
        await driver.write(lease, { steps: [done(`s${i}`, "1")] }, T0);
        recovered = true;
      } catch (error) {
        assert.ok(error instanceof StorageError, String(error));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.ok(recovered, "the driver reconnects");
    assert.equal((await driver.getRun("r1"))!.status, "running");
  } finally {
    await sql.end();
    await driver.close();
    await dropSchema(schema);
  }
});

test("errors never contain the password of the URL", async () => {
  const secret = "s3cret-pw";
  const driver = new PostgresDriver({ url: `postgres://user:${secret}@127.0.0.1:1/test` });
  try {
    for (const call of [() => driver.getRun("x"), () => driver.migrate()]) {
      const error = await call().then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof StorageError, String(error));
      const seen = new Set<unknown>();
      const scan = (value: unknown, path: string): void => {
        if (value === null || value === undefined || seen.has(value)) return;
        if (typeof value === "string") {
          assert.ok(!value.includes(secret), `${path} holds the password: ${value}`);
          return;
        }
        if (typeof value !== "object") return;
        seen.add(value);
        const record = value as Record<string, unknown>;
        for (const key of Object.getOwnPropertyNames(value)) scan(record[key], `${path}.${key}`);
        if (value instanceof Error) {
          scan(value.message, `${path}.message`);
          scan(value.stack, `${path}.stack`);
          scan(value.cause, `${path}.cause`);
        }
      };
      scan(error, "error");
      assert.ok(!String(error).includes(secret));
      assert.ok(!Deno.inspect(error, { depth: 10 }).includes(secret));
      assert.match(error.message, /ECONNREFUSED/);
    }
  } finally {
    await driver.close();
  }
});

test("close() ends its own pool; later calls throw InvalidStateError", async () => {
  const driver = new ScratchDriver({ url: URL, schema: freshSchema() });
  driver.subscribe(() => {});
  await driver.createRun(newRun("r1"), T0);
  await driver.close();
  await assert.rejects(() => driver.getRun("r1"), InvalidStateError);
  await assert.rejects(() => driver.createRun(newRun("r2"), T0), InvalidStateError);
  await assert.rejects(() => driver.migrate(), InvalidStateError);
  assert.throws(() => driver.subscribe(() => {}), InvalidStateError);
  await driver.close();
  // The test sanitizers check that no socket or timer is left open.
});

test("a caller's sql instance stays open after close(); the LISTEN connection does not", async () => {
  const schema = freshSchema();
  const sql = admin(4);
  try {
    const driver = new PostgresDriver({ sql, schema });
    const notices: DriverNotice[] = [];
    driver.subscribe((notice) => notices.push(notice));
    await driver.createRun(newRun("r1"), T0);
    assert.deepEqual(notices, [{ type: "runnable", runId: "r1" }]);
    await driver.close();
    const [row] = await sql`SELECT 1 AS one`;
    assert.equal(row!.one, 1);
  } finally {
    await dropSchema(schema);
    await sql.end();
  }
});

test("a stale worker's write waiting on the run is refused once the run is reclaimed", async () => {
  await using driver = new ScratchDriver({ url: URL, schema: freshSchema() });
  await driver.createRun(newRun("r1"), T0);
  const old = await claimOne(driver, "r1");
  const fresh = await claimOne(driver, "r1", T0 + 60_000);
  assert.ok(fresh.token > old.token);
  await assert.rejects(
    () => driver.write(old, { steps: [done("a", '"stale"')] }, T0),
    LeaseLostError,
  );
  await driver.write(fresh, { steps: [done("a", '"fresh"')] }, T0);
  assert.equal((await driver.readSteps("r1", ["a"])).get("a")!.data, '"fresh"');
  await assert.rejects(() => driver.history("nope"), RunNotFoundError);
});

test("an Engine and a Worker on PostgreSQL run many runs to completion", async () => {
  const wf = workflow<number>("pg-many")
    .step("double", (n) => n * 2)
    .parallel("fan", { a: (n: number) => n + 1, b: (n: number) => n - 1 })
    .step("sum", (v) => v.a + v.b);
  const driver = new ScratchDriver({ url: URL, schema: freshSchema() });
  await using engine = new Engine({ driver, workflows: [wf] });
  await using worker = engine.worker({ concurrency: 8, pollInterval: 200 });
  await worker.start();
  const runs = await Promise.all(Array.from({ length: 30 }, (_, i) => engine.start(wf, i)));
  const outputs = await Promise.all(runs.map((run) => run.result()));
  assert.deepEqual(outputs, Array.from({ length: 30 }, (_, i) => i * 4));
});

test("labels set by a step land in the checkpoint's transaction: neither lands without the other", async () => {
  await inScratchSchema(async (driver, sql, schema) => {
    await driver.createRun(newRun("r", { labels: { team: "a" } }), T0);
    const lease = await claimOne(driver, "r");
    // Real failures inside the write's transaction: a step row PostgreSQL
    // refuses, then a label update it refuses.
    await sql.unsafe(`CREATE FUNCTION "${schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`);
    await sql.unsafe(`CREATE TRIGGER refuse_boom BEFORE INSERT ON "${schema}".steps
    FOR EACH ROW WHEN (NEW.key = 'boom') EXECUTE FUNCTION "${schema}".refuse()`);
    await sql.unsafe(`CREATE TRIGGER refuse_veto BEFORE UPDATE ON "${schema}".runs
    FOR EACH ROW WHEN (NEW.labels ? 'veto') EXECUTE FUNCTION "${schema}".refuse()`);
    const before = await driver.history("r");
    await assert.rejects(
      driver.write(lease, { steps: [done("boom", "1", T0 + 1)], labels: { stage: "x" } }, T0 + 1),
      StorageError,
    );
    await assert.rejects(
      driver.write(lease, { steps: [done("fine", "2", T0 + 2)], labels: { veto: "1" } }, T0 + 2),
      StorageError,
    );
    await assert.rejects(
      driver.write(
        lease,
        { steps: [done("fine", "3", T0 + 3)], labels: { veto: "1" }, run: { status: "completed" } },
        T0 + 3,
      ),
      StorageError,
    );
    assert.deepEqual((await driver.getRun("r"))?.labels, { team: "a" }, "no label landed");
    assert.equal((await driver.getRun("r"))?.status, "running");
    assert.deepEqual(await driver.readSteps("r", ["boom", "fine"]), new Map(), "no row landed");
    assert.deepEqual(await driver.history("r"), before);
    // Both land together when nothing refuses.
    await driver.write(
      lease,
      { steps: [done("fine", "4", T0 + 4)], labels: { stage: "y" } },
      T0 + 4,
    );
    assert.deepEqual((await driver.getRun("r"))?.labels, { team: "a", stage: "y" });
    assert.equal((await driver.readSteps("r", ["fine"])).get("fine")?.state, "done");
  });
});

test("a run started alone is inserted under a generic plan, also when the runs table holds many runs", async () => {
  // The array form of the insert (unnest of parameters, whose length a generic
  // plan cannot see) was planned again at every start once the table held a
  // few thousand runs (about 0.5 ms a start); the one-run form of scalars
  // keeps a generic plan after PostgreSQL's five custom ones.
  await inScratchSchema(async (driver, sql, schema) => {
    await driver.migrate();
    // 20,000 finished runs: the array form stays generic on a small table only.
    await sql.unsafe(
      `INSERT INTO "${schema}".runs (id, workflow, version, plan_hash, status, created_at, updated_at)
     SELECT 'old-' || g, 'wf', '1', 'h', 'completed', g, g FROM generate_series(1, 20000) AS g`,
    );
    await sql.unsafe(`ANALYZE "${schema}".runs`);
    // Claimed at once by a worker of this process, as a start beside a worker is.
    const claimFor = { workerId: "w1", leaseMs: 30_000 };
    for (let i = 0; i < 20; i++) {
      const { run, created } = await driver.createRun(newRun(`r${i}`, { claimFor }), T0);
      assert.equal(created, true);
      assert.equal(run.status, "running");
    }
    // Again: an existing run comes back unchanged.
    const again = await driver.createRun(newRun("r3", { claimFor }), T0);
    assert.equal(again.created, false);
    assert.equal(again.run.leaseOwner, "w1");
    const plans = await sql.unsafe(
      `SELECT generic_plans::int AS generic, custom_plans::int AS custom
     FROM pg_prepared_statements WHERE statement LIKE '%INSERT INTO "${schema}".runs%'`,
    );
    assert.equal(plans.length, 1, "one insert statement prepared");
    assert.ok(plans[0]!.custom <= 5, `custom plans: ${plans[0]!.custom}`);
    assert.ok(plans[0]!.generic >= 15, `generic plans: ${plans[0]!.generic}`);
  }, true);
});

test("only runs with labels are in the labels index, and a labels filter still uses it", async () => {
  await inScratchSchema(async (driver, sql, schema) => {
    await driver.createRun(newRun("plain"), T0);
    await driver.createRun(newRun("tagged", { labels: { team: "a" } }), T0 + 1);
    const [{ entries }] = await sql.unsafe(
      `SELECT count(*)::int AS entries FROM "${schema}".runs WHERE labels <> '{}'::jsonb`,
    ) as unknown as [{ entries: number }];
    assert.equal(entries, 1);
    const [{ predicate }] = await sql.unsafe(
      `SELECT pg_get_expr(i.indpred, i.indrelid) AS predicate FROM pg_index i
     WHERE i.indexrelid = $1::regclass`,
      [`"${schema}".runs_labels`],
    ) as unknown as [{ predicate: string }];
    assert.match(predicate, /labels <> '\{\}'::jsonb/);
    const page = await driver.listRuns({ labels: { team: "a" } });
    assert.deepEqual(page.runs.map((run) => run.id), ["tagged"]);
    // The list statement's predicate implies the index's: with sequential
    // scans and the creation-order walk priced out, the plan takes runs_labels.
    await sql.begin(async (tx) => {
      await tx.unsafe("SET LOCAL enable_seqscan = off");
      await tx.unsafe("SET LOCAL enable_indexscan = off");
      const lines = await tx.unsafe(
        `EXPLAIN SELECT r.id FROM "${schema}".runs r
       WHERE r.labels @> '{"team":"a"}'::jsonb AND r.labels <> '{}'::jsonb
       ORDER BY r.created_at DESC, r.id DESC LIMIT 51`,
      );
      assert.match(
        lines.map((l) => l["QUERY PLAN"]).join("\n"),
        /Bitmap Index Scan on runs_labels/,
      );
    });
  });
});
