// The SqliteDriver: the conformance suite on real files, then what only SQLite has
// (pragmas, migrations, reopening, closing, sharing a file between connections).
import assert from "node:assert/strict";
import { done, newRun, T0 } from "../testing/rows.ts";
import { DatabaseSync } from "node:sqlite";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import {
  listStatement,
  MIGRATIONS,
  SCHEMA_VERSION,
  Statements,
} from "../drivers/sqlite/internals.ts";
import { InvalidStateError, LeaseLostError } from "../lib/errors.ts";
import { type DriverNotice, encodeCursor, type RunStatus, type StepRow } from "../lib/driver.ts";
import { testDriverConformance } from "../testing/mod.ts";

const dir = Deno.makeTempDirSync({ prefix: "sluice-sqlite-test-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch {
    // already gone
  }
});

let files = 0;
function freshPath(): string {
  return `${dir}/db-${++files}.sqlite`;
}

testDriverConformance("sqlite", () => new SqliteDriver({ path: freshPath() }));

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("sqlite: a new file gets WAL, synchronous NORMAL and the busy timeout", async () => {
  const path = freshPath();
  await using driver = new SqliteDriver({ path, busyTimeoutMs: 1234 });
  await driver.migrate();
  assert.deepEqual(await driver.settings(), {
    path,
    journalMode: "wal",
    synchronous: "NORMAL",
    busyTimeoutMs: 1234,
    schemaVersion: SCHEMA_VERSION,
    pageSize: 1024,
    walAutocheckpoint: 4096,
  });
  const other = new DatabaseSync(path);
  try {
    const mode = other.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
    assert.equal(mode.journal_mode, "wal", "WAL is a property of the file");
    const version = other.prepare("PRAGMA user_version").get() as { user_version: number };
    assert.equal(version.user_version, SCHEMA_VERSION);
    const indexes = other.prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name = 'runs_due'",
    ).get() as { sql: string };
    assert.match(indexes.sql, /WHERE due_at IS NOT NULL/, "claims use a partial index");
  } finally {
    other.close();
  }
});

Deno.test("sqlite: a file created with 4 KiB pages keeps them, with a 4 MiB WAL bound", async () => {
  const path = freshPath();
  const old = new DatabaseSync(path);
  old.exec("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE other (x)");
  old.close();
  {
    await using driver = new SqliteDriver({ path });
    await driver.createRun(newRun("run-1"), T0);
    assert.equal((await driver.getRun("run-1"))?.status, "pending");
    const settings = await driver.settings();
    assert.equal(settings.pageSize, 4096);
    assert.equal(settings.walAutocheckpoint, 1024);
    assert.equal(settings.schemaVersion, SCHEMA_VERSION);
  }
  // The tables, its own included, were written in 4 KiB pages.
  const reopened = new DatabaseSync(path);
  try {
    const { page_size } = reopened.prepare("PRAGMA page_size").get() as { page_size: number };
    assert.equal(page_size, 4096);
    assert.equal((reopened.prepare("SELECT count(*) AS n FROM runs").get() as { n: number }).n, 1);
  } finally {
    reopened.close();
  }
});

Deno.test("sqlite: synchronous FULL is applied when asked for", async () => {
  await using driver = new SqliteDriver({ path: freshPath(), synchronous: "FULL" });
  assert.equal((await driver.settings()).synchronous, "FULL");
});

Deno.test("sqlite: the constructor rejects bad options with a clear error", () => {
  assert.throws(() => new SqliteDriver(undefined as never), TypeError);
  assert.throws(() => new SqliteDriver({ path: "" }), /pass the path of the database file/);
  assert.throws(
    () => new SqliteDriver({ path: "x.db", synchronous: "OFF" as never }),
    /Cannot use 'synchronous' 'OFF': use 'NORMAL' or 'FULL'/,
  );
  assert.throws(() => new SqliteDriver({ path: "x.db", busyTimeoutMs: -1 }), RangeError);
  assert.throws(() => new SqliteDriver({ path: "x.db", watchInterval: 1 }), RangeError);
  assert.throws(
    () => new SqliteDriver({ path: "x.db", create: "no" as never }),
    /Cannot use 'create' 'no': pass true or false/,
  );
});

Deno.test("sqlite: with create: false a missing file is a StorageError naming it, and stays missing", async () => {
  const path = freshPath();
  const driver = new SqliteDriver({ path, create: false });
  await assert.rejects(driver.listRuns({}), (error: Error) => {
    assert.equal((error as { code?: string }).code, "STORAGE");
    assert.match(error.message, /as the file does not exist/);
    assert.ok(error.message.includes(path), error.message);
    return true;
  });
  await driver.close();
  await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  await (async () => {
    await using made = new SqliteDriver({ path });
    await made.migrate();
  })();
  await using existing = new SqliteDriver({ path, create: false });
  assert.deepEqual((await existing.listRuns({})).runs, []);
});

Deno.test("sqlite: an unopenable file gives a StorageError that names the file", async () => {
  const path = `${dir}/missing-dir/sub/x.db`;
  const driver = new SqliteDriver({ path });
  await assert.rejects(driver.migrate(), (error: Error) => {
    assert.equal((error as { code?: string }).code, "STORAGE");
    assert.ok(error.message.includes(path), error.message);
    return true;
  });
  await driver.close();
});

Deno.test("sqlite: migrations are idempotent", async () => {
  const path = freshPath();
  for (let i = 0; i < 3; i++) {
    await using driver = new SqliteDriver({ path });
    await driver.migrate();
    await driver.migrate();
    await driver.createRun(newRun(`run-${i}`), T0);
    assert.equal((await driver.settings()).schemaVersion, SCHEMA_VERSION);
    assert.equal((await driver.listRuns({})).runs.length, i + 1);
  }
});

Deno.test("sqlite: a version 1 file is upgraded in place, its runs kept and counting takeovers", async () => {
  const path = freshPath();
  const db = new DatabaseSync(path);
  db.exec(MIGRATIONS[0]!); // a file as version 1 made it
  db.exec("PRAGMA user_version = 1");
  db.close();
  await using driver = new SqliteDriver({ path });
  await driver.migrate();
  assert.equal((await driver.settings()).schemaVersion, SCHEMA_VERSION);
  await driver.createRun(newRun("run-1"), T0);
  const claim = { workerId: "w-1", now: T0, leaseMs: 1_000, limit: 1, workflows: ["wf"] };
  await driver.claimRuns(claim);
  const [again] = await driver.claimRuns({ ...claim, workerId: "w-2", now: T0 + 1_000 });
  assert.equal(again?.run.recoveries, 1);
  assert.equal(again?.previousOwner, "w-1");
  const schedule = { id: "s", workflow: "wf", spec: "{}", source: "dynamic" as const };
  const row = { ...schedule, inputFunction: false, nextAt: T0 };
  assert.equal(
    (await driver.scheduleStore.insertSchedule(row, T0)).created,
    true,
    "version 3 has schedules",
  );
});

Deno.test("sqlite: a version 10 file keeps its journal through version 11, after which no seq is reused", async () => {
  const path = freshPath();
  const db = new DatabaseSync(path);
  for (const migration of MIGRATIONS.slice(0, 10)) db.exec(migration);
  db.exec("PRAGMA user_version = 10");
  db.exec(`INSERT INTO runs (rid, id, workflow, version, plan_hash, status, labels, created_at,
    updated_at) VALUES (1, 'old', 'wf', '1', 'hash-1', 'cancelled', '{}', ${T0}, ${T0})`);
  db.exec(`INSERT INTO journal (seq, rid, kind, at) VALUES (7, 1, 'run.created', ${T0})`);
  db.exec("INSERT INTO events (rid, seq) VALUES (1, 7)");
  db.close();
  await using driver = new SqliteDriver({ path });
  await driver.migrate();
  assert.deepEqual((await driver.history("old")).map((item) => item.seq), [7], "the row is kept");
  assert.equal(await driver.purge(T0 + 1), 1);
  await driver.createRun(newRun("new"), T0 + 2);
  const [item] = await driver.feed("6", 10);
  assert.equal(item?.runId, "new");
  assert.ok(Number(item.cursor) > 7, `seq ${item.cursor} comes after the purged 7`);
  // Purging the newest rows again and again leaves one marker, at the newest seq.
  for (const id of ["new", "newer", "newest"]) {
    if (id !== "new") await driver.createRun(newRun(id), T0 + 2);
    await driver.cancelRun(id, "done", T0 + 3);
    assert.equal(await driver.purge(T0 + 4), 1);
  }
  const file = new DatabaseSync(path);
  try {
    const rows = file.prepare("SELECT seq, rid FROM journal").all() as {
      seq: number;
      rid: number;
    }[];
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.rid, 0);
    assert.ok(rows[0]!.seq > Number(item.cursor) + 2, "the marker holds the newest seq");
  } finally {
    file.close();
  }
});

Deno.test("sqlite: a version 9 file is upgraded with its runs' labels indexed for list", async () => {
  const path = freshPath();
  const db = new DatabaseSync(path);
  for (const migration of MIGRATIONS.slice(0, 9)) db.exec(migration);
  db.exec("PRAGMA user_version = 9");
  const insert = db.prepare(
    `INSERT INTO runs (id, workflow, version, plan_hash, status, labels, created_at, updated_at)
     VALUES (?, 'wf', '1', 'h', 'completed', ?, ?, ?)`,
  );
  insert.run("old-1", JSON.stringify({ team: "a", env: "prod" }), T0, T0);
  insert.run("old-2", JSON.stringify({ team: "b" }), T0 + 1, T0 + 1);
  insert.run("old-3", "{}", T0 + 2, T0 + 2);
  db.close();
  await using driver = new SqliteDriver({ path });
  await driver.createRun(newRun("new-1", { labels: { team: "a" } }), T0 + 3);
  const ids = async (labels: Record<string, string>) =>
    (await driver.listRuns({ labels })).runs.map((r) => r.id);
  assert.deepEqual(await ids({ team: "a" }), ["new-1", "old-1"]);
  assert.deepEqual(await ids({ team: "a", env: "prod" }), ["old-1"]);
  assert.deepEqual(await ids({ team: "b" }), ["old-2"]);
  assert.equal(await driver.purge(T0 + 10, { status: "completed" }), 3);
  assert.deepEqual(await ids({ team: "a" }), ["new-1"]);
  const check = new DatabaseSync(path);
  const left = check.prepare("SELECT id FROM run_labels ORDER BY id").all().map((r) => r.id);
  check.close();
  assert.deepEqual(left, ["new-1"], "a purged run's labels go with it");
});

Deno.test("sqlite: a file with a newer schema is refused", async () => {
  const path = freshPath();
  const db = new DatabaseSync(path);
  db.exec("PRAGMA user_version = 99");
  db.close();
  const driver = new SqliteDriver({ path });
  await assert.rejects(driver.migrate(), /schema version 99: .*upgrade Sluice/);
  await driver.close();
});

Deno.test("sqlite: several processes migrating one new file at once all succeed", async () => {
  const path = freshPath();
  const script = `${dir}/migrate_child.ts`;
  const driverUrl = new URL("../drivers/sqlite/mod.ts", import.meta.url).href;
  Deno.writeTextFileSync(
    script,
    `import { SqliteDriver } from ${JSON.stringify(driverUrl)};
const [path, startAt, id] = Deno.args;
while (Date.now() < Number(startAt)) { /* start together */ }
const driver = new SqliteDriver({ path });
await driver.migrate();
await driver.createRun({ id, workflow: "wf", version: "1", planHash: "h", labels: {}, dueAt: 0 }, 0);
await driver.close();
`,
  );
  const startAt = Date.now() + 1_500;
  const children = Array.from({ length: 4 }, (_, i) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", script, path, String(startAt), `child-${i}`],
      stdout: "piped",
      stderr: "piped",
    }).output());
  const outputs = await Promise.all(children);
  for (const output of outputs) {
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  }
  await using driver = new SqliteDriver({ path });
  const ids = (await driver.listRuns({})).runs.map((run) => run.id).sort();
  assert.deepEqual(ids, ["child-0", "child-1", "child-2", "child-3"]);
  assert.equal((await driver.settings()).schemaVersion, SCHEMA_VERSION);
});

Deno.test("sqlite: a reopened file has its runs, checkpoints and history intact", async () => {
  const path = freshPath();
  let history;
  {
    await using driver = new SqliteDriver({ path });
    await driver.createRun(newRun("run-1", { input: '{"n":1}', labels: { a: "b" } }), T0);
    const [claim] = await driver.claimRuns({
      workerId: "w",
      now: T0,
      leaseMs: 1_000,
      limit: 1,
      workflows: ["wf"],
    });
    await driver.write(claim!.lease, { steps: [done("a", "1")] }, T0 + 1);
    await driver.write(claim!.lease, { steps: [done("b", "2")] }, T0 + 2);
    await driver.sendSignal("run-1", "go", '"x"', T0 + 3);
    await driver.write(claim!.lease, {
      events: [{ type: "run.sleeping", at: T0 + 4 }],
      run: { status: "sleeping", dueAt: T0 + 100 },
    }, T0 + 4);
    history = await driver.history("run-1");
  }
  await using again = new SqliteDriver({ path });
  const run = (await again.getRun("run-1"))!;
  assert.equal(run.status, "sleeping");
  assert.equal(run.input, '{"n":1}');
  assert.deepEqual(run.labels, { a: "b" });
  assert.equal(run.dueAt, T0 + 100);
  assert.deepEqual(await again.history("run-1"), history);
  const rows = await again.readSteps("run-1", ["a", "b"]);
  assert.deepEqual([...rows.values()], [done("a", "1"), done("b", "2")]);
  const [claim] = await again.claimRuns({
    workerId: "w2",
    now: T0 + 100,
    leaseMs: 1_000,
    limit: 1,
    workflows: ["wf"],
  });
  assert.equal(claim!.lease.token, 2);
  assert.deepEqual(
    await again.consumeSignal(claim!.lease, ["go"], done("w", ""), {}, T0 + 101),
    { name: "go", payload: '"x"' },
  );
});

Deno.test("sqlite: close() really closes the database and later calls throw", async () => {
  const path = freshPath();
  const driver = new SqliteDriver({ path, watchInterval: 10 });
  const off = driver.subscribe(() => {});
  await driver.createRun(newRun("run-1"), T0);
  assert.ok(exists(`${path}-wal`), "an open WAL database has a -wal file");
  await driver.close();
  off();
  assert.equal(exists(`${path}-wal`), false, "the last connection to close removes the -wal file");
  assert.equal(exists(`${path}-shm`), false, "and the -shm file");
  await assert.rejects(driver.getRun("run-1"), InvalidStateError);
  await assert.rejects(driver.settings(), InvalidStateError);
  await assert.rejects(driver.createRun(newRun("run-2"), T0), InvalidStateError);
  assert.throws(() => driver.subscribe(() => {}), InvalidStateError);
  await driver.close();
  const reopened = new DatabaseSync(path);
  try {
    const count = reopened.prepare("SELECT count(*) AS n FROM runs").get() as { n: number };
    assert.equal(count.n, 1);
  } finally {
    reopened.close();
  }
});

Deno.test("sqlite: writes queued before close() still land", async () => {
  const path = freshPath();
  const driver = new SqliteDriver({ path });
  const created = driver.createRun(newRun("run-1"), T0);
  await driver.close();
  assert.equal((await created).created, true);
  await using again = new SqliteDriver({ path });
  assert.ok(await again.getRun("run-1"));
});

Deno.test("sqlite: two drivers on one file claim exclusively and fence each other", async () => {
  const path = freshPath();
  await using a = new SqliteDriver({ path });
  await using b = new SqliteDriver({ path });
  for (let i = 0; i < 30; i++) await a.createRun(newRun(`run-${i}`), T0);
  const claim = (driver: SqliteDriver, worker: string, now = T0) =>
    driver.claimRuns({ workerId: worker, now, leaseMs: 1_000, limit: 4, workflows: ["wf"] });
  const batches = await Promise.all(
    Array.from({ length: 12 }, (_, i) => claim(i % 2 ? a : b, `w${i}`)),
  );
  const claimed = batches.flat().map((c) => c.run.id);
  assert.equal(claimed.length, 30);
  assert.equal(new Set(claimed).size, 30);
  const mine = batches[1]![0]!;
  await a.write(mine.lease, { steps: [done("s", "1")] }, T0 + 1);
  const [taken] = await b.claimRuns({
    workerId: "b",
    now: T0 + 2_000,
    leaseMs: 1_000,
    limit: 100,
    workflows: ["wf"],
  }).then((claims) => claims.filter((c) => c.run.id === mine.run.id));
  assert.ok(taken, "the expired run is claimed by the other driver");
  assert.deepEqual([...(await b.readSteps(mine.run.id, ["s"])).values()], [done("s", "1")]);
  await assert.rejects(
    a.write(mine.lease, { steps: [done("t", "2")] }, T0 + 2_001),
    LeaseLostError,
  );
  await b.write(taken.lease, { steps: [done("t", "3")] }, T0 + 2_001);
  assert.deepEqual([...(await a.readSteps(mine.run.id, ["s", "t"])).values()], [
    done("s", "1"),
    done("t", "3"),
  ]);
});

Deno.test("sqlite: writes grouped in one transaction fail alone when another driver took the run", async () => {
  const path = freshPath();
  await using a = new SqliteDriver({ path });
  await using b = new SqliteDriver({ path });
  for (let i = 0; i < 8; i++) await a.createRun(newRun(`run-${i}`), T0);
  const claims = await a.claimRuns({
    workerId: "a",
    now: T0,
    leaseMs: 60_000,
    limit: 8,
    workflows: ["wf"],
  });
  assert.equal(claims.length, 8);
  await b.cancelRun("run-3", "taken elsewhere", T0 + 1);
  for (let round = 0; round < 2; round++) {
    const results = await Promise.allSettled(
      claims.map((c) =>
        a.write(c.lease, { steps: [done(`s${round}`, c.run.id), done(`t${round}`, "x")] }, T0 + 2)
      ),
    );
    results.forEach((result, i) => {
      if (claims[i]!.run.id === "run-3") {
        assert.equal(result.status, "rejected");
        assert.ok((result as PromiseRejectedResult).reason instanceof LeaseLostError);
      } else {
        assert.equal(result.status, "fulfilled");
      }
    });
  }
  for (const c of claims) {
    const rows = await b.readSteps(c.run.id, ["s0", "s1"]);
    assert.equal(rows.size, c.run.id === "run-3" ? 0 : 2, c.run.id);
  }
});

Deno.test("sqlite: a reader sees rows another driver has not folded yet", async () => {
  const path = freshPath();
  await using writer = new SqliteDriver({ path });
  await using reader = new SqliteDriver({ path });
  await writer.createRun(newRun("run-1"), T0);
  const [claim] = await writer.claimRuns({
    workerId: "w",
    now: T0,
    leaseMs: 60_000,
    limit: 1,
    workflows: ["wf"],
  });
  await writer.write(claim!.lease, { steps: [done("a", "1")] }, T0 + 1);
  await writer.write(claim!.lease, {
    steps: [done("b", "2")],
    events: [{ type: "step.failed", at: T0 + 2, step: "x" }],
  }, T0 + 2);
  assert.deepEqual([...(await reader.readSteps("run-1", ["a", "b"])).values()], [
    done("a", "1"),
    done("b", "2"),
  ]);
  assert.deepEqual(await reader.history("run-1"), await writer.history("run-1"));
  await reader.cancelRun("run-1", "stop", T0 + 3);
  await assert.rejects(writer.write(claim!.lease, { steps: [done("c", "3")] }, T0 + 4));
  assert.deepEqual([...(await writer.readSteps("run-1", ["a", "b", "c"])).values()], [
    done("a", "1"),
    done("b", "2"),
  ]);
});

Deno.test("sqlite: the events of a run claimed at start are in its history before its first write, from any connection, and once after a takeover", async () => {
  const path = freshPath();
  const types = (items: Awaited<ReturnType<SqliteDriver["history"]>>) =>
    items.map((item) => item.source === "event" ? item.event.type : `row:${item.row.key}`);
  const reader = new SqliteDriver({ path });
  try {
    {
      // Its holder goes away without writing (its local lease record goes with it).
      await using holder = new SqliteDriver({ path });
      const claimFor = { workerId: "w-1", leaseMs: 1_000 };
      await holder.createRun(newRun("run-1", { claimFor }), T0);
      assert.deepEqual(types(await holder.history("run-1")), ["run.created", "run.started"]);
      assert.deepEqual(types(await reader.history("run-1")), ["run.created", "run.started"]);
      assert.deepEqual(await reader.feed(undefined, 10).then((f) => f.length), 2);
    }
    await using next = new SqliteDriver({ path });
    const [takeover] = await next.claimRuns({
      workerId: "w-2",
      now: T0 + 1_000,
      leaseMs: 1_000,
      limit: 1,
      workflows: ["wf"],
    });
    assert.equal(takeover?.previousOwner, "w-1");
    const recovered = ["run.created", "run.started", "run.recovered"];
    assert.deepEqual(types(await reader.history("run-1")), recovered);
    await next.write(takeover!.lease, {
      steps: [done("a", "1")],
      events: [{ type: "run.completed", at: T0 + 1_001 }],
      run: { status: "completed", output: "1" },
    }, T0 + 1_001);
    const all = [...recovered, "row:a", "run.completed"];
    assert.deepEqual(types(await reader.history("run-1")), all);
    assert.deepEqual(types(await next.history("run-1")), all);
  } finally {
    await reader.close();
  }
  // Indexed once each: the recovery and the fold left no event twice and nothing unindexed.
  const db = new DatabaseSync(path);
  try {
    const counts = db.prepare(
      `SELECT (SELECT count(*) FROM events) AS events,
         (SELECT count(*) FROM journal WHERE kind IS NOT NULL AND key IS NULL) AS journaled`,
    ).get() as { events: number; journaled: number };
    assert.deepEqual({ ...counts }, { events: 4, journaled: 4 });
  } finally {
    db.close();
  }
});

Deno.test("sqlite: list pages without a status, or with several, merge one index walk per status", async () => {
  const path = freshPath();
  {
    await using driver = new SqliteDriver({ path });
    await driver.migrate();
  }
  const db = new DatabaseSync(path);
  try {
    const indexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index'").all()
      .map((row) => row.name);
    assert.equal(indexes.includes("runs_created"), false, "version 15 dropped it");
    const cursor = encodeCursor(T0, "run-9");
    for (
      const filter of [
        {},
        { cursor },
        { status: ["failed", "cancelled"] as RunStatus[], cursor },
        { createdAfter: T0, createdBefore: T0 + 5 },
      ]
    ) {
      const { sql, params } = listStatement({ ...filter, limit: 50 });
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
        .map((row) => row.detail);
      const walks = plan.filter((d) => d.includes("runs_status_created"));
      const statuses = Array.isArray(filter.status) ? filter.status.length : 8;
      assert.equal(walks.length, statuses, plan.join("; "));
      for (const walk of walks) {
        assert.match(walk, /^SEARCH runs USING COVERING INDEX runs_status_created \(status=\?/);
      }
      assert.ok(!plan.some((d) => d.startsWith("SCAN runs")), plan.join("; "));
    }
  } finally {
    db.close();
  }
});

Deno.test("sqlite: a signal sent by another connection is reported as a change", async () => {
  const path = freshPath();
  await using watcher = new SqliteDriver({ path, watchInterval: 20 });
  await using sender = new SqliteDriver({ path });
  await watcher.createRun(newRun("run-1"), T0);
  const changed = Promise.withResolvers<DriverNotice>();
  const off = watcher.subscribe((notice) => {
    if (notice.type === "changed") changed.resolve(notice);
  });
  try {
    await sender.sendSignal("run-1", "go", undefined, T0 + 1);
    const timeout = Promise.withResolvers<never>();
    const timer = setTimeout(() => timeout.reject(new Error("no change notice within 2s")), 2_000);
    try {
      assert.deepEqual(await Promise.race([changed.promise, timeout.promise]), {
        type: "changed",
      });
    } finally {
      clearTimeout(timer);
    }
  } finally {
    off();
  }
});

Deno.test("sqlite: the journal keeps only rows in force and purge leaves nothing behind", async () => {
  const path = freshPath();
  await using driver = new SqliteDriver({ path });
  const claim = async (now: number) =>
    await driver.claimRuns({ workerId: "w", now, leaseMs: 60_000, limit: 10, workflows: ["wf"] });
  for (let run = 0; run < 4; run++) await driver.createRun(newRun(`run-${run}`), T0);
  const claims = await claim(T0);
  const progress = (i: number): StepRow => ({
    key: "loop",
    kind: "loop",
    state: "pending",
    data: JSON.stringify({ next: i }),
  });
  for (let i = 0; i < 3_000; i++) {
    await Promise.all(
      claims.map((c) =>
        driver.write(c.lease, { steps: [progress(i), done(`loop#${i}/s`, String(i))] }, T0)
      ),
    );
  }
  const [first, second] = claims;
  // Hand one run back with a pending row, then finish that row in a new activation.
  await driver.write(first!.lease, { steps: [progress(3_000)], run: { status: "running" } }, T0);
  // Write over a done row, which must stay.
  await driver.write(second!.lease, { steps: [done("loop#0/s", "changed")] }, T0);
  const [again] = (await claim(T0 + 1)).filter((c) => c.run.id === first!.run.id);
  await driver.write(again!.lease, { steps: [done("loop", "final")] }, T0 + 1);
  for (const c of [again!, ...claims.slice(1)]) {
    await driver.write(c.lease, { run: { status: "completed" } }, T0 + 2);
  }
  const rows = await driver.readSteps(first!.run.id, ["loop", "loop#0/s", "loop#2999/s"]);
  assert.deepEqual([...rows.values()], [
    done("loop", "final"),
    done("loop#0/s", "0"),
    done("loop#2999/s", "2999"),
  ]);
  assert.deepEqual(
    (await driver.readSteps(second!.run.id, ["loop#0/s"])).get("loop#0/s"),
    done("loop#0/s", "0"),
  );
  const count = (sql: string) => {
    const db = new DatabaseSync(path);
    try {
      return (db.prepare(sql).get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  const unreferenced = `SELECT count(*) AS n FROM journal
    WHERE seq NOT IN (SELECT seq FROM steps) AND seq NOT IN (SELECT seq FROM events)`;
  assert.equal(count(unreferenced), 0, "no replaced row is left in the journal");
  assert.equal(count("SELECT count(*) AS n FROM steps"), 4 * 3_001);
  assert.equal(await driver.purge(T0 + 3), 4);
  for (const table of ["steps", "events", "signals", "runs"]) {
    assert.equal(count(`SELECT count(*) AS n FROM ${table}`), 0, `${table} is empty`);
  }
  // What stays is one marker holding the journal's highest seq (never reused).
  assert.equal(count("SELECT count(*) AS n FROM journal WHERE rid <> 0"), 0, "no run's row");
  assert.equal(count("SELECT count(*) AS n FROM journal WHERE rid = 0"), 1, "one marker");
});

Deno.test("sqlite: labels set by a step land in the checkpoint's transaction: neither lands without the other", async () => {
  const path = freshPath();
  await using driver = new SqliteDriver({ path });
  await driver.createRun(newRun("r", { labels: { team: "a" } }), T0);
  const [claim] = await driver.claimRuns({
    workerId: "w",
    now: T0,
    leaseMs: 30_000,
    limit: 1,
    workflows: ["wf"],
  });
  const lease = claim!.lease;
  // Real failures inside the write's transaction: a journal row SQLite
  // refuses, then a label update it refuses.
  const db = new DatabaseSync(path);
  db.exec(`CREATE TRIGGER refuse_boom BEFORE INSERT ON journal WHEN NEW.key = 'boom'
    BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;
    CREATE TRIGGER refuse_veto BEFORE UPDATE OF labels ON runs
    WHEN json_extract(NEW.labels, '$.veto') IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;`);
  db.close();
  const before = await driver.history("r");
  await assert.rejects(
    driver.write(lease, { steps: [done("boom", "1", T0 + 1)], labels: { stage: "x" } }, T0 + 1),
  );
  await assert.rejects(
    driver.write(lease, { steps: [done("fine", "2", T0 + 2)], labels: { veto: "1" } }, T0 + 2),
  );
  await assert.rejects(
    driver.write(
      lease,
      { steps: [done("fine", "3", T0 + 3)], labels: { veto: "1" }, run: { status: "completed" } },
      T0 + 3,
    ),
  );
  assert.deepEqual((await driver.getRun("r"))?.labels, { team: "a" }, "no label landed");
  assert.equal((await driver.getRun("r"))?.status, "running");
  assert.deepEqual(await driver.readSteps("r", ["boom", "fine"]), new Map(), "no row landed");
  assert.deepEqual(await driver.history("r"), before);
  await driver.write(lease, { steps: [done("fine", "4", T0 + 4)], labels: { stage: "y" } }, T0 + 4);
  assert.deepEqual((await driver.getRun("r"))?.labels, { team: "a", stage: "y" });
  assert.equal((await driver.readSteps("r", ["fine"])).get("fine")?.state, "done");
});

Deno.test("sqlite: flow control counts read their partial indexes, never the runs table", async () => {
  const path = freshPath();
  const driver = new SqliteDriver({ path });
  await driver.migrate();
  await driver.close();
  const db = new DatabaseSync(path);
  try {
    const s = new Statements(db);
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all("wf", "k", 0) as { detail: string }[])
        .map((row) => row.detail);
    // The rate window: a range of the (workflow, rate key, began_at) index, never a count of rows.
    assert.deepEqual(plan(s.flowBegun.sourceSQL), [
      "SEARCH runs USING COVERING INDEX runs_flow_began (workflow=? AND rate_key=? AND began_at>?)",
    ]);
    // Executing runs: the running ones, and the paused ones with a step in flight.
    const running = plan(s.flowRunning.sourceSQL);
    assert.ok(
      running.some((d) => d.includes("USING COVERING INDEX runs_flow_running")) &&
        running.some((d) => d.includes("USING INDEX runs_flow_paused")),
      running.join("; "),
    );
    assert.ok(!running.some((d) => d.startsWith("SCAN runs")), running.join("; "));
  } finally {
    db.close();
  }
});
