// Limits that protect the store, and one bad item that never fails the items
// grouped with it (PostgreSQL sends concurrent starts and writes as one
// statement). Every case runs on every driver.
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  type Driver,
  Engine,
  ManualClock,
  SerializationError,
  StorageError,
  workflow,
  WorkflowFailedError,
} from "@sluice/sluice";
import type { PostgresDriver } from "@sluice/sluice/postgres";
import { driverFactories, POSTGRES_ENABLED, POSTGRES_URL } from "./_fixtures/drivers.ts";
import { done, newRun, T0, WF } from "../testing/rows.ts";

const LONE = "😀".slice(0, 1);
const inc = workflow<number>("limits-inc").step("inc", (n) => n + 1);
let failOnce = true;
const brittle = workflow<number>("limits-brittle").step("cut", (n) => {
  if (failOnce) {
    failOnce = false;
    throw new Error(`emoji cut ${"😀".slice(0, 1)} here`);
  }
  return n;
});
const deep = workflow<number>("limits-deep").step("nest", (n) => nested(n));
const many = Array.from({ length: 12 }, (_, i) => `s${i}`).reduce(
  (wf, name) => wf.step(name, (n) => n + 1),
  workflow<number>("limits-many"),
);

function nested(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: 10 concurrent starts, one with a lone surrogate: 9 stored, 1 TypeError`, async () => {
    await using engine = new Engine({ driver: await create(), workflows: [inc] });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        engine.start(inc, i, {
          id: `start-${i}`,
          labels: { note: i === 4 ? `cut ${LONE}` : "fine" },
        })),
    );
    const rejected = results.flatMap((r, i) => r.status === "rejected" ? [[i, r.reason]] : []);
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]![0], 4);
    assert.ok(rejected[0]![1] instanceof TypeError);
    assert.match(rejected[0]![1].message, /lone surrogates/);
    const stored = (await engine.list()).runs.map((r) => r.id).sort();
    assert.deepEqual(stored, [0, 1, 2, 3, 5, 6, 7, 8, 9].map((i) => `start-${i}`));
  });

  Deno.test(`${name}: a failed run whose error holds a lone surrogate can be retried`, async () => {
    failOnce = true;
    await using engine = new Engine({ driver: await create(), workflows: [brittle] });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const run = await engine.start(brittle, 5, { id: "brittle" });
    await assert.rejects(run.result(), WorkflowFailedError);
    const failed = await engine.get("brittle");
    assert.equal(failed.error?.message, "emoji cut \uFFFD here");
    await engine.retry("brittle");
    assert.equal(await run.result(), 5);
  });

  Deno.test(`${name}: nesting deeper than 100 levels is a SerializationError naming the path`, async () => {
    await using engine = new Engine({ driver: await create(), workflows: [inc, deep] });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    await assert.rejects(engine.start(inc, nested(101) as never), (error: SerializationError) => {
      assert.ok(error instanceof SerializationError);
      assert.match(error.message, /deeper than 100 levels at \$(\.a){100}/);
      return true;
    });
    assert.deepEqual((await engine.list()).runs, []);
    const run = await engine.start(deep, 10_000);
    await assert.rejects(run.result(), (error: WorkflowFailedError) => {
      assert.equal((error.cause as Error).name, "SerializationError");
      return true;
    });
    assert.deepEqual(
      await (await engine.start(deep, 100)).result(),
      nested(100),
      "100 levels are fine",
    );
  });

  Deno.test(`${name}: a run holds at most 64 labels`, async () => {
    await using engine = new Engine({ driver: await create(), workflows: [inc] });
    const labels = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
    await assert.rejects(engine.start(inc, 1, { labels: labels(65) }), /65 labels.*at most 64/);
    await assert.rejects(engine.start(inc, 1, { labels: { ["k".repeat(129)]: "v" } }), TypeError);
    await assert.rejects(engine.start(inc, 1, { labels: { k: "v".repeat(513) } }), TypeError);
    assert.deepEqual((await engine.list()).runs, []);
    await engine.start(inc, 1, { id: "full", labels: labels(64) });
    assert.equal(Object.keys((await engine.get("full")).labels).length, 64);
  });

  Deno.test(`${name}: history(runId, { after, limit }) pages add up to the whole history`, async () => {
    const clock = new ManualClock(T0);
    await using engine = new Engine({ driver: await create(), workflows: [many], clock });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const run = await engine.start(many, 0);
    assert.equal(await run.result(), 12);
    const whole = await engine.history(run.id);
    assert.equal(whole.length, 27, "created, started, 12 steps started and completed, completed");
    for (const limit of [1, 5, 27, 100]) {
      const pages = [];
      let after: number | undefined;
      for (;;) {
        const page = await engine.history(run.id, {
          ...(after === undefined ? {} : { after }),
          limit,
        });
        pages.push(page);
        if (page.length < limit) break;
        after = page.at(-1)!.seq;
      }
      assert.deepEqual(pages.flat(), whole, `pages of ${limit}`);
    }
    assert.equal((await engine.history(run.id, {})).length, 27, "the default page is 100");
    await assert.rejects(engine.history(run.id, { limit: 1001 }), RangeError);
  });
}

/** Adds a trigger that makes PostgreSQL refuse one id or step key (a real database fault). */
async function refuse(
  driver: PostgresDriver,
  table: "runs" | "steps",
  column: string,
  value: string,
) {
  await driver.migrate();
  const sql = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
  const s = `"${driver.schema}"`;
  try {
    await sql.unsafe(`CREATE FUNCTION ${s}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.${column} = '${value}' THEN RAISE EXCEPTION 'refused by the test'; END IF;
        RETURN NEW;
      END $$`);
    await sql.unsafe(
      `CREATE TRIGGER refuse BEFORE INSERT ON ${s}.${table} FOR EACH ROW EXECUTE FUNCTION ${s}.refuse()`,
    );
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function postgresDriver(): Promise<PostgresDriver> {
  const factory = driverFactories().find((f) => f.name === "postgres")!;
  return await factory.create() as PostgresDriver;
}

Deno.test({
  name: "postgres: a grouped start that PostgreSQL refuses is retried alone, so only it fails",
  ignore: !POSTGRES_ENABLED,
  async fn() {
    const driver = await postgresDriver();
    await refuse(driver, "runs", "id", "poison");
    await using engine = new Engine({ driver, workflows: [inc] });
    const ids = Array.from({ length: 10 }, (_, i) => i === 6 ? "poison" : `run-${i}`);
    const results = await Promise.allSettled(ids.map((id, i) => engine.start(inc, i, { id })));
    const rejected = results.flatMap((r, i) => r.status === "rejected" ? [[ids[i], r.reason]] : []);
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]![0], "poison");
    assert.ok(rejected[0]![1] instanceof StorageError);
    assert.match(rejected[0]![1].message, /refused by the test/);
    const stored = (await engine.list()).runs.map((r) => r.id).sort();
    assert.deepEqual(stored, ids.filter((id) => id !== "poison").sort());
  },
});

Deno.test({
  name: "postgres: a grouped write that PostgreSQL refuses is retried alone, so only it fails",
  ignore: !POSTGRES_ENABLED,
  async fn() {
    const driver: Driver = await postgresDriver();
    try {
      await refuse(driver as PostgresDriver, "steps", "key", "poison");
      for (let i = 0; i < 10; i++) await driver.createRun(newRun(`w-${i}`), T0);
      const claims = await driver.claimRuns({
        workerId: "w",
        now: T0,
        leaseMs: 30_000,
        limit: 10,
        workflows: [WF],
      });
      assert.equal(claims.length, 10);
      const results = await Promise.allSettled(
        claims.map((c, i) =>
          driver.write(c.lease, { steps: [done(i === 3 ? "poison" : "ok")] }, T0)
        ),
      );
      const rejected = results.flatMap((r, i) => r.status === "rejected" ? [[i, r.reason]] : []);
      assert.equal(rejected.length, 1);
      assert.equal(rejected[0]![0], 3);
      assert.ok(rejected[0]![1] instanceof StorageError);
      for (const [i, claim] of claims.entries()) {
        const rows = await driver.readSteps(claim.run.id, ["ok", "poison"]);
        assert.deepEqual([...rows.keys()], i === 3 ? [] : ["ok"]);
      }
    } finally {
      await driver.close();
    }
  },
});
