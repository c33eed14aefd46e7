// SPEC §7 security: strings full of SQL metacharacters pass through every API
// that reaches SQL and come back unchanged; database passwords never appear in
// errors or logs.
import assert from "node:assert/strict";
import { Engine, type Logger, ManualClock, StorageError, workflow } from "@sluice/sluice";
import { PostgresDriver } from "@sluice/sluice/postgres";
import { main } from "@sluice/sluice/cli";
import { driverFactories } from "./_fixtures/drivers.ts";

const NASTY =
  `'; DROP TABLE runs; -- " \\ % _ * ? [ ] { } $1 :name @x ?? \` ; /* */ 💥 ü \u0000 \n\t`;
const NASTY_ID = `r';DROP-TABLE-runs;--"\\%_*?[]{}$1:name`;

for (const { name, create } of driverFactories()) {
  Deno.test(`${name}: SQL metacharacters pass through every API unchanged`, async () => {
    const wf = workflow<{ text: string }>("metachar", { version: `v1'; DROP TABLE x; --` })
      .step("echo", (input) => ({ echoed: input.text, extra: NASTY }))
      .waitForSignal<{ note: string }>("gate", "go")
      .step("fail", (signal) => {
        if (signal.note === NASTY) throw new Error(`boom ${NASTY}`);
        return signal.note;
      });
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    await using engine = new Engine({ driver: await create(), workflows: [wf], clock });
    await using worker = engine.worker({ pollInterval: 50 });
    await worker.start();
    const labels = { [`k${NASTY_ID}`]: `v'; DROP TABLE runs; -- "%_\\` };
    const run = await engine.start(wf, { text: NASTY }, { id: NASTY_ID, labels });
    assert.equal(run.id, NASTY_ID);
    await engine.signal(NASTY_ID, "go", { note: NASTY });
    await assert.rejects(run.result(), (error: Error) => {
      assert.equal((error.cause as Error).message, `boom ${NASTY}`.replaceAll("\0", "\uFFFD"));
      return true;
    });
    const record = await engine.get(NASTY_ID);
    assert.equal(record.id, NASTY_ID);
    assert.equal(record.version, `v1'; DROP TABLE x; --`);
    assert.deepEqual(record.input, { text: NASTY });
    assert.deepEqual(record.labels, labels);
    assert.equal(record.status, "failed");

    const listed = await engine.list({ labels, workflow: "metachar" });
    assert.deepEqual(listed.runs.map((r) => r.id), [NASTY_ID]);
    assert.deepEqual((await engine.list({ workflow: NASTY.replace(/[\0\n\t]/g, "") })).runs, []);
    await assert.rejects(engine.list({ workflow: NASTY }), TypeError, "no name holds a NUL");
    assert.deepEqual(
      (await engine.list({ labels: { k: NASTY.replace(/[\0\n\t]/g, "") } })).runs,
      [],
    );

    const history = await engine.history(NASTY_ID);
    const echoed = history.find((e) => e.type === "step.completed" && e.step === "echo");
    assert.deepEqual(echoed?.output, { echoed: NASTY, extra: NASTY });
    const received = history.find((e) => e.type === "signal.received");
    assert.deepEqual(received?.payload, { note: NASTY });

    const other = await engine.start(wf, { text: "x" }, { id: `${NASTY_ID}-2` });
    await engine.cancel(other.id, NASTY);
    const cancelled = await engine.history(other.id);
    assert.equal(cancelled.at(-1)?.reason, NASTY);
    assert.equal((await engine.get(other.id)).status, "cancelled");
    assert.equal((await engine.list({ limit: 10 })).runs.length, 2, "no table was dropped");
  });
}

const PASSWORD = "s3cret-pw-Zq8";
const BAD_URL = `postgres://sluice_user:${PASSWORD}@127.0.0.1:1/test`;

function deepText(error: unknown, depth = 0): string {
  if (!(error instanceof Error) || depth > 5) return String(error);
  return `${error.name} ${error.message} ${error.stack} ${JSON.stringify(error)} ${
    deepText(error.cause, depth + 1)
  }`;
}

Deno.test("an unreachable database gives a StorageError without the password", async () => {
  const driver = new PostgresDriver({ url: BAD_URL });
  try {
    const error = await driver.getRun("x").catch((e) => e);
    assert.ok(error instanceof StorageError, String(error));
    assert.equal(error.code, "STORAGE");
    assert.ok(!deepText(error).includes(PASSWORD), deepText(error));
  } finally {
    await driver.close();
  }
});

Deno.test("a worker on an unreachable database logs no password", async () => {
  const lines: string[] = [];
  const capture = (level: string) => (message: string, attributes?: Record<string, unknown>) =>
    void lines.push(`${level} ${message} ${JSON.stringify(attributes ?? {})}`);
  const logger: Logger = {
    debug: capture("debug"),
    info: capture("info"),
    warn: capture("warn"),
    error: capture("error"),
  };
  const wf = workflow<number>("pw").step("a", (n) => n);
  const engine = new Engine({
    driver: new PostgresDriver({ url: BAD_URL }),
    workflows: [wf],
    logger,
  });
  try {
    const worker = engine.worker({ pollInterval: 20 });
    await worker.start();
    const started = await engine.start(wf, 1).catch((e) => e);
    assert.ok(started instanceof StorageError);
    assert.ok(!deepText(started).includes(PASSWORD));
    for (let i = 0; i < 100 && !lines.some((l) => l.startsWith("warn")); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(lines.some((l) => l.startsWith("warn")), "the worker logged its failure");
    assert.ok(!lines.join("\n").includes(PASSWORD), lines.join("\n"));
  } finally {
    await engine.close().catch(() => {});
  }
});

Deno.test("the CLI prints no password when the database is unreachable", async () => {
  const out: string[] = [];
  const code = await main(["list", "--db", BAD_URL], {
    out: (text) => void out.push(text),
    err: (text) => void out.push(text),
  });
  assert.equal(code, 1);
  assert.ok(out.join("\n").length > 0);
  assert.ok(!out.join("\n").includes(PASSWORD), out.join("\n"));
});
