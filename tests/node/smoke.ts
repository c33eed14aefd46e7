/**
 * The Node smoke suite (issue 14): the examples and a handful of tests written
 * against `node:test`, so the same file runs on Node (bundled by
 * `tests/node/run.ts`) and on Deno. It asserts results; a failure makes
 * `node` exit non-zero.
 *
 * PostgreSQL comes from `SLUICE_POSTGRES_URL`; under `CI=true` it must be
 * reachable, elsewhere an unreachable database skips that one test.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import postgres from "postgres";
import { Engine, LocalRunner, ManualClock, workflow } from "../../mod.ts";
import { SqliteDriver } from "../../drivers/sqlite/mod.ts";
import { PostgresDriver } from "../../drivers/postgres/mod.ts";
import { loadWorkflow } from "../../yaml/mod.ts";
import { testDriverConformance, waitForStatus } from "../../testing/mod.ts";
import { approval } from "../../examples/approval.ts";
import { charge, flakyPaymentApi } from "../../examples/retries.ts";
import { crawl } from "../../examples/fan_out.ts";
import { demo } from "../../examples/hello.ts";

const POSTGRES_URL = process.env.SLUICE_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const IN_CI = process.env.CI === "true";

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-node-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test(`runs on ${typeof process.versions.deno === "string" ? "Deno" : "Node"} ${process.version}`, () => {
  assert.match(process.version, /^v\d+\./);
});

test("approval example: a LocalRunner on the virtual clock times out after three days", async () => {
  await using runner = new LocalRunner({ clock: "virtual" });
  const approved = await runner.start(approval, { id: "e-9", amount: 300, requester: "ada" });
  await runner.signal(approved.id, "decision", { approved: true, by: "grace" });
  assert.deepEqual(await approved.result(), { expense: "e-9", status: "approved", by: "grace" });
  const ignored = await runner.start(approval, { id: "e-10", amount: 20, requester: "alan" });
  assert.deepEqual(await ignored.result(), { expense: "e-10", status: "rejected", by: "timeout" });
});

test("retries example: two failures, then success after 1s and 2s backoffs", async () => {
  const clock = new ManualClock(0);
  await using runner = new LocalRunner({ clock, deps: { pay: flakyPaymentApi() } });
  const run = await runner.start(charge, { amount: 42 });
  await clock.advance("999ms");
  assert.equal((await runner.get(run.id)).status, "sleeping");
  await clock.advance("1ms");
  await clock.advance("2s");
  assert.match(String(await run.result()), /^Sent receipt-.*-42$/);
});

test("fan-out example: map then parallel summary", async () => {
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(crawl, { urls: ["ab", "abcd", "a"] }), {
    total: 70,
    largest: 40,
    pages: 3,
  });
});

test("hello example: a worker on a SQLite file sleeps 2s and waits for a signal", async () => {
  const lines: string[] = [];
  const output = await withTempDir((dir) => demo(join(dir, "demo.db"), (l) => lines.push(l)));
  assert.equal(output, "Ada approved by Grace");
  assert.ok(lines.some((l) => l.includes("signal approved sent")), lines.join("\n"));
});

const relay = workflow<{ n: number }>("relay")
  .step("double", (input) => input.n * 2)
  .sleep("nap", "50ms")
  .waitForSignal<{ add: number }>("go", "go", { timeout: "1m" })
  .step("sum", (signal, ctx) => ctx.input.n * 2 + signal.add);

test("a signal sent through another SQLite connection wakes the worker's run", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "relay.db");
    await using engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [relay] });
    await using worker = engine.worker({ pollInterval: "1m" });
    await worker.start();
    await using other = new Engine({ driver: new SqliteDriver({ path }), workflows: [relay] });
    const run = await other.start(relay, { n: 20 });
    await waitForStatus(other, run.id, "waiting", { timeoutMs: 20_000 });
    await other.signal(run.id, "go", { add: 2 });
    assert.equal(await engine.result(run.id), 42);
  });
});

test("loadWorkflow() runs a YAML workflow", async () => {
  const wf = loadWorkflow(
    [
      "name: yaml-smoke",
      "steps:",
      "  - step: start",
      "    action: pick",
      "  - while: grow",
      "    when: value < input.limit",
      "    do: double",
      "  - map: around",
      '    items: "[value - 1, value, value + 1]"',
      "    do: [{ step: twice, action: double }]",
    ].join("\n"),
    { actions: { pick: (input: { start: number }) => input.start, double: (n: number) => n * 2 } },
  );
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(wf, { start: 1, limit: 100 }), [254, 256, 258]);
});

async function postgresReachable(): Promise<boolean> {
  const sql = postgres(POSTGRES_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const postgresSkip = IN_CI || await postgresReachable()
  ? false
  : "PostgreSQL is unreachable (it always runs under CI=true)";

test("a worker on PostgreSQL runs a sleep and a signal", { skip: postgresSkip }, async () => {
  const schema = `sluice_node_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  try {
    await using engine = new Engine({
      driver: new PostgresDriver({ url: POSTGRES_URL, schema, poolSize: 2 }),
      workflows: [relay],
    });
    await using worker = engine.worker({ pollInterval: "1m" });
    await worker.start();
    const run = await engine.start(relay, { n: 5 });
    await waitForStatus(engine, run.id, "waiting", { timeoutMs: 20_000 });
    await engine.signal(run.id, "go", { add: 1 });
    assert.equal(await run.result(), 11);
  } finally {
    const sql = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`drop schema if exists "${schema}" cascade`);
    await sql.end({ timeout: 1 });
  }
});

// The storage-driver conformance suite, registered with node:test on Node.
const dirs: string[] = [];
testDriverConformance("sqlite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-node-conf-"));
  dirs.push(dir);
  return new SqliteDriver({ path: join(dir, "conformance.db") });
});
test("conformance temp folders are removed", async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});
