// The `sluice` CLI and the dashboard, against a real SQLite file.
import assert from "node:assert/strict";
import { waitForStatus } from "@sluice/sluice/testing";
import { Engine, schedule, workflow } from "@sluice/sluice";
import { SqliteDriver } from "@sluice/sluice/sqlite";
import { main } from "@sluice/sluice/cli";
import { dashboard, serveDashboard } from "../cli/dashboard.ts";

const order = workflow<{ item: string }>("cli-order")
  .step("price", (o) => ({ ...o, price: 3 }))
  .waitForSignal<{ ok: boolean }>("approval", "approved")
  .step("ship", (d) => {
    if (!d.ok) throw new Error("not approved");
    return "shipped";
  });

/** A SQLite file with one completed, one waiting and one failed run. */
async function fixture(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "sluice-cli-" });
  const path = `${dir}/cli.db`;
  const engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [order] });
  const worker = engine.worker({ pollInterval: 20 });
  await worker.start();
  const done = await engine.start(order, { item: "<b>book</b>" }, {
    id: "done-1",
    labels: { team: "a" },
  });
  await engine.signal(done.id, "approved", { ok: true });
  assert.equal(await done.result(), "shipped");
  const failed = await engine.start(order, { item: "pen" }, { id: "failed-1" });
  await engine.signal(failed.id, "approved", { ok: false });
  await assert.rejects(failed.result());
  await engine.start(order, { item: "cup" }, { id: "wait-1", labels: { team: "b" } });
  await waitForStatus(engine, "wait-1", "waiting");
  await engine.close();
  return { path, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("cli: list shows runs as a table and as JSON, with filters", async () => {
  const { path, cleanup } = await fixture();
  try {
    const table = await cli(["list", "--db", path]);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /^ID\s+WORKFLOW\s+VERSION\s+STATUS/);
    for (const id of ["done-1", "failed-1", "wait-1"]) assert.match(table.out, new RegExp(id));
    const json = await cli(["list", "--db", path, "--json", "--status", "waiting"]);
    assert.deepEqual(JSON.parse(json.out).runs.map((r: { id: string }) => r.id), ["wait-1"]);
    const labelled = await cli(["list", "--db", path, "--json", "--label", "team=a"]);
    assert.deepEqual(JSON.parse(labelled.out).runs.map((r: { id: string }) => r.id), ["done-1"]);
    const paged = await cli(["list", "--db", path, "--limit", "2"]);
    assert.match(paged.out, /Next page: --cursor \S+/);
  } finally {
    await cleanup();
  }
});

Deno.test("cli: show prints status, input, output, error and the history", async () => {
  const { path, cleanup } = await fixture();
  try {
    const done = await cli(["show", "done-1", "--db", path]);
    assert.equal(done.code, 0, done.err);
    assert.match(done.out, /Status\s+completed/);
    assert.match(done.out, /Output\s+"shipped"/);
    assert.match(done.out, /step\.completed\s+price/);
    assert.match(done.out, /signal\.received/);
    const failed = await cli(["show", "failed-1", "--db", path]);
    assert.match(failed.out, /Error\s+Error: not approved/);
    assert.match(failed.out, /At step\s+ship/);
    const json = JSON.parse((await cli(["show", "wait-1", "--db", path, "--json"])).out);
    assert.equal(json.run.status, "waiting");
    assert.deepEqual(json.run.waitingFor, ["approved"]);
    const missing = await cli(["show", "nope", "--db", path]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /RunNotFoundError/);
  } finally {
    await cleanup();
  }
});

Deno.test("cli show and the dashboard's run page show a workflow's deadline and its finished children", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sluice-cli-" });
  const path = `${dir}/cli.db`;
  const pay = workflow<number>("cli-pay").step("charge", (n) => n * 2);
  const buy = workflow<number>("cli-buy", { timeout: "1h" }).call("pay", pay).step("ok", (n) => n);
  const engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [pay, buy] });
  try {
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const run = await engine.start(buy, 21, { id: "buy-1" });
    assert.equal(await run.result(), 42);
    const deadline = (await engine.get("buy-1")).deadlineAt!;
    assert.equal(deadline.getTime(), (await engine.get("buy-1")).createdAt.getTime() + 3_600_000);
    const shown = await cli(["show", "buy-1", "--db", path]);
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, new RegExp(`Deadline\\s+${deadline.toISOString()}`));
    assert.match(shown.out, /run\.waiting\s+child buy-1\/pay/);
    assert.match(shown.out, /child\.finished\s+buy-1\/pay completed/);
    assert.ok(!shown.out.includes("@child:"), shown.out);
    const json = JSON.parse((await cli(["show", "buy-1", "--db", path, "--json"])).out);
    assert.equal(json.run.deadlineAt, deadline.toISOString());
    const page = await (await dashboard(engine)(new Request("http://localhost/runs/buy-1"))).text();
    assert.match(page, /<span>Deadline<\/span><span id="deadline">/);
    assert.match(page, /<td>child\.finished<\/td>/);
    assert.match(page, /<a class="child" href="\/runs\/buy-1%2Fpay">buy-1\/pay<\/a> completed/);
    assert.ok(!page.includes("@child:"));
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: signal, cancel and retry change runs; misuse exits with 2", async () => {
  const { path, cleanup } = await fixture();
  try {
    const signalled = await cli(["signal", "wait-1", "approved", '{"ok":true}', "--db", path]);
    assert.equal(signalled.code, 0, signalled.err);
    const engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [order] });
    try {
      const history = await engine.history("wait-1");
      assert.deepEqual(history.find((e) => e.type === "signal.received")?.payload, { ok: true });
      assert.equal((await cli(["retry", "failed-1", "--db", path])).code, 0);
      assert.equal((await engine.get("failed-1")).status, "pending");
      assert.equal((await cli(["cancel", "failed-1", "--reason", "typo", "--db", path])).code, 0);
      const cancelled = await engine.get("failed-1");
      assert.equal(cancelled.status, "cancelled");
      assert.match(cancelled.error?.message ?? "", /typo/);
    } finally {
      await engine.close();
    }
    const finished = await cli(["cancel", "done-1", "--db", path]);
    assert.equal(finished.code, 1);
    assert.match(finished.err, /InvalidStateError/);
    const badJson = await cli(["signal", "wait-1", "approved", "{oops", "--db", path]);
    assert.equal(badJson.code, 2);
    assert.equal((await cli(["show", "--db", path])).code, 2);
    assert.equal((await cli(["list"])).code, 2, "no --db");
    assert.equal((await cli(["launch", "--db", path])).code, 2);
    assert.equal((await cli(["help"])).code, 0);
  } finally {
    await cleanup();
  }
});

Deno.test("cli: plan prints the plans a module exports, as JSON or Mermaid", async () => {
  const json = await cli(["plan", "examples/approval.ts"]);
  assert.equal(json.code, 0, json.err);
  const plan = JSON.parse(json.out);
  assert.equal(plan.workflow, "expense-approval");
  assert.equal(typeof plan.planHash, "string");
  assert.deepEqual(plan.nodes.map((n: { name: string }) => n.name), [
    "validate",
    "managerDecision",
    "record",
  ]);
  const mermaid = await cli(["plan", "examples/approval.ts", "--mermaid"]);
  assert.match(mermaid.out, /^flowchart TD/);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/w.yaml`,
      "name: from-yaml\nsteps:\n  - step: a\n  - sleep: s\n    for: 1m\n",
    );
    const yaml = await cli(["plan", `${dir}/w.yaml`]);
    assert.equal(yaml.code, 0, yaml.err);
    assert.equal(JSON.parse(yaml.out).workflow, "from-yaml");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal((await cli(["plan", "no/such/file.ts"])).code, 1);
});

Deno.test("dashboard: pages and API, escaping what runs hold", async () => {
  const { path, cleanup } = await fixture();
  const engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [order] });
  try {
    const handle = dashboard(engine);
    const list = await handle(new Request("http://localhost/"));
    assert.equal(list.status, 200);
    const html = await list.text();
    assert.match(html, /done-1/);
    const detail = await (await handle(new Request("http://localhost/runs/done-1"))).text();
    assert.ok(!detail.includes("<b>book</b>"), "run data is escaped");
    assert.match(detail, /&lt;b&gt;book&lt;\/b&gt;/);
    const api = await handle(new Request("http://localhost/api/runs?status=waiting"));
    assert.deepEqual((await api.json()).runs.map((r: { id: string }) => r.id), ["wait-1"]);
    const history = await handle(new Request("http://localhost/api/runs/done-1/history"));
    assert.ok((await history.json()).length > 5);
    assert.equal((await handle(new Request("http://localhost/api/runs/nope"))).status, 404);

    const forged = await handle(
      new Request("http://localhost/api/runs/wait-1/cancel", { method: "POST", body: "{}" }),
    );
    assert.equal(forged.status, 403, "actions need the custom header");
    const action = (path: string, body: unknown) =>
      handle(
        new Request(`http://localhost/api/runs/${path}`, {
          method: "POST",
          headers: { "x-sluice-action": "1" },
          body: JSON.stringify(body),
        }),
      );
    assert.equal(
      (await action("wait-1/signal", { name: "approved", payload: { ok: true } })).status,
      200,
    );
    assert.equal((await action("done-1/cancel", {})).status, 409);
    assert.equal((await action("failed-1/retry", {})).status, 200);
    assert.equal((await engine.get("failed-1")).status, "pending");
  } finally {
    await engine.close();
    await cleanup();
  }
});

Deno.test("dashboard: a token guards every request; off loopback one is required", async () => {
  const { path, cleanup } = await fixture();
  const engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [order] });
  try {
    assert.throws(
      () => serveDashboard({ engine, hostname: "0.0.0.0", port: 0 }),
      /without a token/,
    );
    assert.throws(() => serveDashboard({ engine, port: 0, token: "short" }), RangeError);
    const token = "a-long-enough-dashboard-token";
    const server = serveDashboard({ engine, port: 0, token });
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      const denied = await fetch(`${base}/api/runs`);
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
      const wrong = await fetch(`${base}/api/runs`, { headers: { authorization: "Bearer nope" } });
      assert.equal(wrong.status, 401);
      await wrong.body?.cancel();
      const ok = await fetch(`${base}/api/runs`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).runs.length, 3);
      const viaQuery = await fetch(`${base}/?token=${token}`, { redirect: "manual" });
      assert.equal(viaQuery.status, 303);
      assert.match(viaQuery.headers.get("set-cookie") ?? "", /sluice_token=.*HttpOnly/);
      await viaQuery.body?.cancel();
    } finally {
      await server.shutdown();
    }
  } finally {
    await engine.close();
    await cleanup();
  }
});

Deno.test("cli: read-only commands never create a database file or schema; a missing one is named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sluice-cli-" });
  try {
    const path = `${dir}/typo.db`;
    for (
      const args of [["list"], ["show", "r-1"], ["workers"], ["schedules"], [
        "schedules",
        "pause",
        "s",
      ]]
    ) {
      const result = await cli([...args, "--db", path]);
      assert.equal(result.code, 1);
      assert.match(
        result.err,
        /StorageError: Cannot open SQLite database '.*typo\.db' as the file does not exist/,
      );
      await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const url = Deno.env.get("SLUICE_POSTGRES_URL");
  if (!url) return;
  const schema = `missing_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const result = await cli(["list", "--db", url, "--schema", schema]);
  assert.equal(result.code, 1);
  assert.match(result.err, new RegExp(`schema '${schema}' as it does not exist`));
  const { default: postgres } = await import("postgres");
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schema}`;
    assert.equal(rows.length, 0, "the schema was not created");
  } finally {
    await sql.end();
  }
});

Deno.test("cli: start, pause, resume, fork and purge; signal warns about other names", async () => {
  const { path, cleanup } = await fixture();
  const module = `${path}.workflows.ts`;
  await Deno.writeTextFile(
    module,
    `import { workflow } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
export const ctl = workflow<number>("cli-ctl")
  .step("double", (n) => n * 2)
  .waitForSignal<number>("more", "more")
  .step("sum", (more, ctx) => more + ctx.input);
`,
  );
  try {
    const stalled = await cli(["list", "--db", path]);
    assert.match(stalled.out, /wait-1 .* waiting \(stalled: no-worker\)/, "no worker serves it");
    const none = await cli(["workers", "--db", path, "--json"]);
    assert.deepEqual(JSON.parse(none.out), []);
    const warned = await cli(["signal", "wait-1", "aproved", "{}", "--db", path]);
    assert.equal(warned.code, 0, warned.err);
    assert.match(warned.err, /Warning: run wait-1 waits for 'approved', not 'aproved'/);
    const started = await cli([
      "start",
      "cli-ctl",
      "5",
      "--id",
      "ctl-1",
      "--module",
      module,
      "--db",
      path,
    ]);
    assert.equal(started.code, 0, started.err);
    assert.equal(started.out, "Started ctl-1");
    const urgent = await cli([
      "start",
      "cli-ctl",
      "7",
      "--id",
      "ctl-urgent",
      "--priority",
      "5",
      "--module",
      module,
      "--db",
      path,
    ]);
    assert.equal(urgent.code, 0, urgent.err);
    const shown = await cli(["show", "ctl-urgent", "--db", path]);
    assert.match(shown.out, /^Priority {2}5$/m);
    const listed = await cli(["list", "--db", path, "--json", "--status", "pending"]);
    assert.deepEqual(
      JSON.parse(listed.out).runs.map((r: { id: string; priority?: number }) => [r.id, r.priority]),
      [["ctl-urgent", 5], ["ctl-1", undefined]],
    );
    for (
      const [priority, error] of [["high", /TypeError: Cannot use --priority 'high'/], [
        "1e9",
        /TypeError: Cannot use --priority '1e9'/,
      ], ["99999999999", /RangeError: Cannot use the number 99999999999 as 'priority'/]] as const
    ) {
      const refused = await cli([
        "start",
        "cli-ctl",
        "1",
        "--id",
        "ctl-bad",
        "--priority",
        priority,
        "--module",
        module,
        "--db",
        path,
      ]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.err, error);
    }
    assert.equal(
      (await cli(["show", "ctl-bad", "--db", path])).code,
      1,
      "a refused start stores nothing",
    );
    const { ctl } = await import(new URL(module, "file:///").href);
    await using engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [ctl] });
    await using worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    await waitForStatus(engine, "ctl-1", "waiting");
    const workers = await cli(["workers", "--db", path]);
    assert.match(workers.out, /^ID\s+HOST\s+PID\s+STARTED\s+LAST SEEN\s+SERVES/);
    assert.match(workers.out, new RegExp(`${worker.id} .* ${Deno.pid} .* cli-ctl@1`));
    assert.equal((await cli(["pause", "ctl-1", "--db", path])).code, 0);
    assert.equal((await engine.get("ctl-1")).status, "paused");
    const paused = await cli(["list", "--db", path, "--json", "--status", "paused"]);
    assert.deepEqual(JSON.parse(paused.out).runs.map((r: { id: string }) => r.id), ["ctl-1"]);
    await engine.signal("ctl-1", "more", 1);
    assert.equal((await cli(["resume", "ctl-1", "--db", path])).code, 0);
    assert.equal(await engine.result("ctl-1"), 6);
    const forked = await cli([
      "fork",
      "ctl-1",
      "--from",
      "sum",
      "--input",
      "100",
      "--id",
      "ctl-2",
      "--module",
      module,
      "--db",
      path,
      "--json",
    ]);
    assert.equal(forked.code, 0, forked.err);
    assert.deepEqual(JSON.parse(forked.out), { id: "ctl-2" });
    assert.equal(await engine.result("ctl-2"), 101);
    const unknown = await cli([
      "fork",
      "ctl-1",
      "--from",
      "nope",
      "--module",
      module,
      "--db",
      path,
    ]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /RangeError: Cannot fork run 'ctl-1' from 'nope'/);
    assert.equal((await cli(["cancel", "ctl-urgent", "--db", path])).code, 0);
    const resumeDone = await cli(["resume", "ctl-1", "--db", path]);
    assert.equal(resumeDone.code, 1);
    assert.match(resumeDone.err, /InvalidStateError: .*resume only paused runs/);
    const bad = await cli(["purge", "--db", path]);
    assert.equal(bad.code, 2);
    const purged = await cli(["purge", "--before", "2999-01-01T00:00:00Z", "--db", path]);
    assert.equal(purged.code, 0, purged.err);
    assert.equal(purged.out, "Purged 5 finished runs"); // done-1, failed-1, ctl-1, ctl-2, ctl-urgent
    const left = await cli(["list", "--db", path, "--json"]);
    assert.deepEqual(JSON.parse(left.out).runs.map((r: { id: string }) => r.id), ["wait-1"]);
  } finally {
    await cleanup();
  }
});

Deno.test("cli: watch prints a run's events as another engine runs it, until it ends", async () => {
  const { path, cleanup } = await fixture();
  const engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [order] });
  const worker = engine.worker({ pollInterval: 20 });
  await worker.start();
  try {
    const lines: string[] = [];
    const watching = main(["watch", "wait-1", "--db", path, "--json"], {
      out: (text) => {
        lines.push(text);
        const event = JSON.parse(text);
        if (event.type === "run.waiting") void engine.signal("wait-1", "approved", { ok: true });
      },
      err: (text) => console.error(text),
    });
    assert.equal(await watching, 0, "the watch ends with the run");
    const events = lines.map((line) => JSON.parse(line));
    assert.deepEqual(events.map((e) => e.type).slice(0, 2), ["run.created", "run.started"]);
    assert.equal(events.at(-1).type, "run.completed");
    assert.ok(events.some((e) => e.type === "signal.received"));
    assert.ok(events.every((e) => e.runId === "wait-1" && typeof e.cursor === "string"));
    const text = await cli(["watch", "done-1", "--db", path]);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /done-1 {2}step\.completed {2}price {2}attempt 1/);
    assert.match(text.out.split("\n").at(-1)!, /run\.completed/);
    const missing = await cli(["watch", "no-such-run", "--db", path]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /RunNotFoundError/);
  } finally {
    await engine.close();
    await cleanup();
  }
});

Deno.test("cli: schedules list, pause, resume, trigger (with --module) and delete", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sluice-cli-" });
  const path = `${dir}/schedules.db`;
  const module = `${dir}/workflows.ts`;
  await Deno.writeTextFile(
    module,
    `import { schedule, workflow } from ${
      JSON.stringify(new URL("../mod.ts", import.meta.url).href)
    };
export const ping = workflow("cli-ping").step("ping", () => "pong");
export const nightly = schedule("cli-nightly", ping, { cron: "0 3 * * *", timezone: "Europe/Berlin" });
`,
  );
  try {
    const ping = workflow("cli-ping").step("ping", () => "pong");
    {
      await using engine = new Engine({ driver: new SqliteDriver({ path }), workflows: [ping] });
      await engine.schedules.upsert(schedule("cli-every", ping, { every: "90s" }));
    }
    const listed = await cli(["schedules", "--db", path]);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /cli-every +cli-ping +every 90s +active .* +0 +dynamic/);
    const declared = await cli(["schedules", "list", "--module", module, "--db", path, "--json"]);
    assert.equal(declared.code, 0, declared.err);
    const infos = JSON.parse(declared.out) as { id: string; cron?: string; timezone: string }[];
    assert.deepEqual(infos.map((s) => [s.id, s.cron ?? null, s.timezone]), [
      ["cli-every", null, "UTC"],
      ["cli-nightly", "0 3 * * *", "Europe/Berlin"],
    ]);
    const paused = await cli(["schedules", "pause", "cli-every", "--db", path]);
    assert.deepEqual([paused.code, paused.out], [0, "Paused cli-every"]);
    assert.match((await cli(["schedules", "--db", path])).out, /cli-every .* paused/);
    const resumed = await cli(["schedules", "resume", "cli-every", "--db", path]);
    assert.deepEqual([resumed.code, resumed.out], [0, "Resumed cli-every"]);
    const noModule = await cli(["schedules", "trigger", "cli-every", "--db", path]);
    assert.equal(noModule.code, 2);
    assert.match(noModule.err, /pass --module/);
    const triggered = await cli([
      "schedules",
      "trigger",
      "cli-every",
      "--module",
      module,
      "--db",
      path,
    ]);
    assert.equal(triggered.code, 0, triggered.err);
    assert.match(triggered.out, /^Started cli-every@manual-\d{4}-/);
    const declaredDelete = await cli(["schedules", "delete", "cli-nightly", "--db", path]);
    assert.equal(declaredDelete.code, 1);
    assert.match(declaredDelete.err, /InvalidStateError: .*declared in code/);
    assert.equal((await cli(["schedules", "delete", "cli-every", "--db", path])).code, 0);
    const unknown = await cli(["schedules", "pause", "cli-every", "--db", path]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /ScheduleNotFoundError: Cannot find schedule 'cli-every'/);
    const bad = await cli(["schedules", "explode", "--db", path]);
    assert.equal(bad.code, 2);
    const noWorkerModule = await cli(["worker", "--db", path]);
    assert.equal(noWorkerModule.code, 2);
    assert.match(noWorkerModule.err, /Missing --module/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
