// The cancel cascade to `.call` children survives a crash (SPEC §8.2, §7): a
// process SIGKILLed between a parent's final write (failed by its timeout, or
// cancelled) and the cascade leaves the child running; a worker's sweep over
// the same storage cancels it.
import assert from "node:assert/strict";
import { Engine } from "@sluice/sluice";
import { cascadeGate, cascadeHeld, cascadeTimed } from "./_fixtures/cascade_workflows.ts";
import { waitUntil } from "./_fixtures/processes.ts";
import { makeTarget, type Target, targetKinds } from "./_fixtures/targets.ts";

const SCRIPT = new URL("./_fixtures/cascade_crash.ts", import.meta.url);

/** Runs the crashing process to its end; returns its stdout. */
type Mode = "fail" | "cancel" | "compensate";

async function crash(target: Target, mode: Mode, id: string): Promise<string> {
  const args = [
    "run",
    "--allow-all",
    SCRIPT.pathname,
    "--db",
    target.db,
    "--mode",
    mode,
    "--id",
    id,
  ];
  if (target.schema) args.push("--schema", target.schema);
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(
    output.signal,
    "SIGKILL",
    `the process should kill itself in the cascade\n${stdout}\n${
      new TextDecoder().decode(output.stderr)
    }`,
  );
  return stdout;
}

for (const kind of targetKinds()) {
  for (const mode of ["fail", "cancel"] as const) {
    Deno.test(`${kind}: a process killed between a parent's ${mode} write and its cancel cascade; a worker's sweep cancels the .call child`, async () => {
      const target = await makeTarget(kind);
      try {
        const id = `cascade-${mode}`;
        const stdout = await crash(target, mode, id);
        assert.match(
          stdout,
          new RegExp(`dying after the ${mode === "fail" ? "failed" : "cancelled"}`),
        );
        await using engine = new Engine({
          driver: target.open(),
          workflows: [cascadeTimed, cascadeHeld, cascadeGate],
        });
        const parent = await engine.get(id);
        if (mode === "fail") {
          assert.equal(parent.status, "failed");
          assert.equal(parent.error?.code, "WORKFLOW_TIMEOUT");
        } else assert.equal(parent.status, "cancelled");
        // The crash cut the cascade off: the child still waits.
        assert.equal((await engine.get(`${id}/held`)).status, "waiting");
        await using worker = engine.worker({ pollInterval: 50 });
        await worker.start();
        await waitUntil(
          async () => (await engine.get(`${id}/held`)).status === "cancelled",
          20_000,
          "the sweep to cancel the orphaned child",
        );
        const child = await engine.get(`${id}/held`);
        assert.equal(child.error?.code, "CANCELLED");
        assert.match(child.error?.message ?? "", /its parent run ended before it/);
        assert.deepEqual(await engine.driver.orphanedChildren(10), []);
      } finally {
        await target.cleanup();
      }
    });
  }
}

for (const kind of targetKinds()) {
  Deno.test(`${kind}: a process killed right after cancel(…, { compensate: true }) of a parent; its activation cancels the .call child with compensation`, async () => {
    const target = await makeTarget(kind);
    try {
      const id = "cascade-compensate";
      const stdout = await crash(target, "compensate", id);
      assert.match(stdout, /dying after the cancelling write/);
      await using engine = new Engine({
        driver: target.open(),
        workflows: [cascadeTimed, cascadeHeld, cascadeGate],
      });
      assert.equal((await engine.get(id)).status, "running", "handed back, cancelling");
      assert.equal((await engine.get(`${id}/held`)).status, "waiting");
      await using worker = engine.worker({ pollInterval: 50 });
      await worker.start();
      await waitUntil(
        async () => (await engine.get(id)).status === "cancelled",
        20_000,
        "the parent's activation to end it cancelled",
      );
      // The child, cancelled with compensation, is ended by its own activation.
      await waitUntil(
        async () => (await engine.get(`${id}/held`)).status === "cancelled",
        20_000,
        "the child to end cancelled",
      );
      const child = await engine.get(`${id}/held`);
      assert.match(child.error?.message ?? "", new RegExp(`parent run '${id}' was cancelled`));
    } finally {
      await target.cleanup();
    }
  });
}
