// Schedules fire exactly once per slot across real processes (SPEC §8.1):
// three `sluice worker` processes over one SQLite file and over PostgreSQL, a
// schedule every second for more than 20 slots, one worker SIGKILLed and
// replaced on the way, the others stopped with SIGTERM at the end.
import assert from "node:assert/strict";
import { Engine, type RunRecord } from "../mod.ts";
import { makeTarget, type Target, targetKinds } from "./_fixtures/targets.ts";
import { waitUntil } from "./_fixtures/processes.ts";

const CLI = new URL("../cli/mod.ts", import.meta.url).pathname;
const MODULE = new URL("./_fixtures/every_second.ts", import.meta.url).pathname;

interface CliWorker {
  child: Deno.ChildProcess;
  ready: Promise<void>;
  output(): string;
}

function spawnCliWorker(target: Target): CliWorker {
  const args = ["run", "--allow-all", CLI, "worker", "--module", MODULE, "--db", target.db];
  if (target.schema) args.push("--schema", target.schema);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => markReady = resolve);
  const collect = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeTo(
      new WritableStream({
        write(chunk) {
          text += decoder.decode(chunk);
          if (text.includes("serving 1 workflow(s) and 2 schedule(s)")) markReady();
        },
      }),
    ).catch(() => {});
  void collect(child.stdout);
  void collect(child.stderr);
  return { child, ready, output: () => text };
}

function slotOf(run: RunRecord): number {
  return new Date(run.id.slice(run.id.indexOf("@") + 1)).getTime();
}

async function runsOf(engine: Engine, scheduleId: string): Promise<RunRecord[]> {
  const { runs } = await engine.list({ labels: { schedule: scheduleId }, limit: 1000 });
  return runs.sort((a, b) => slotOf(a) - slotOf(b));
}

for (const kind of targetKinds()) {
  Deno.test(`${kind}: three worker processes fire every slot exactly once, through a SIGKILL and a restart`, async () => {
    const target = await makeTarget(kind);
    const engine = new Engine({ driver: target.open(), workflows: [] });
    const workers = [spawnCliWorker(target), spawnCliWorker(target), spawnCliWorker(target)];
    try {
      await Promise.all(workers.map((w) => w.ready));
      await waitUntil(
        async () => (await runsOf(engine, "beat-allow")).length >= 8,
        30_000,
        "8 slots",
      );
      workers[0]!.child.kill("SIGKILL");
      await workers[0]!.child.status;
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      workers[0] = spawnCliWorker(target);
      await workers[0].ready;
      await waitUntil(
        async () => (await runsOf(engine, "beat-allow")).length >= 25,
        60_000,
        "25 slots",
      );
      await engine.schedules.pause("beat-allow");
      await engine.schedules.pause("beat-skip");
      await waitUntil(
        async () =>
          [...await runsOf(engine, "beat-allow"), ...await runsOf(engine, "beat-skip")]
            .every((r) => r.status === "completed"),
        60_000,
        "every run to complete",
      );
      for (const worker of workers) worker.child.kill("SIGTERM");
      for (const worker of workers) {
        const status = await worker.child.status;
        assert.equal(status.code, 0, `a worker stops gracefully on SIGTERM:\n${worker.output()}`);
        assert.match(worker.output(), /Stopped/);
      }

      for (const id of ["beat-allow", "beat-skip"]) {
        const runs = await runsOf(engine, id);
        const info = await engine.schedules.get(id);
        const first = slotOf(runs[0]!);
        const last = info.lastSlot!.getTime();
        const slots = (last - first) / 1_000 + 1;
        assert.ok(slots >= 20, `${id}: ${slots} slots`);
        const ids = runs.map((r) => r.id);
        assert.equal(new Set(ids).size, ids.length);
        for (const run of runs) {
          assert.equal(slotOf(run) % 1_000, 0);
          assert.ok(slotOf(run) >= first && slotOf(run) <= last);
          assert.equal(run.output, new Date(slotOf(run)).toISOString(), "the slot's own input");
        }
        if (id === "beat-allow") {
          assert.equal(runs.length, slots, "every slot has a run");
          assert.equal(info.skipped, 0);
        } else {
          assert.equal(
            runs.length + info.skipped,
            slots,
            "every slot has a run or a recorded skip",
          );
        }
      }
    } finally {
      for (const worker of workers) {
        try {
          worker.child.kill("SIGKILL");
        } catch {
          // exited already
        }
        await worker.child.status;
      }
      await engine.close();
      await target.cleanup();
    }
  });
}
