/**
 * The demo: a durable workflow on a SQLite file, with a step, a parallel
 * fan-out, a real two-second sleep and a signal, printing its progress.
 *
 * Run it with `deno task demo`. It stores runs in `sluice-demo.db` (pass
 * another path as the first argument); run it twice and the second run's
 * history sits next to the first one's in the same file.
 */
import { Engine, type Observer, workflow } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { waitForStatus } from "../testing/mod.ts";

export const hello = workflow<{ name: string }>("hello")
  .step("greet", (input) => `Hello, ${input.name}`)
  .parallel("decorate", {
    shout: (text) => text.toUpperCase(),
    length: (text) => text.length,
  })
  .sleep("pause", "2s")
  .waitForSignal<{ by: string }>("approval", "approved", { timeout: "1d" })
  .step("finish", (approval, ctx) => `${ctx.input.name} approved by ${approval.by}`);

/** Prints each event as it happens. */
function progress(print: (line: string) => void): Observer {
  const started = Date.now();
  const t = () => `+${((Date.now() - started) / 1000).toFixed(2)}s`.padStart(7);
  return {
    onRunStarted: (e) => print(`${t()} run ${e.runId} started`),
    onStepCompleted: (e) => print(`${t()} step ${e.step} completed: ${JSON.stringify(e.output)}`),
    onRunWaiting: (e) =>
      print(
        `${t()} run is ${e.status}${e.wakeAt ? ` until ${e.wakeAt.toISOString()}` : ""}${
          e.signals ? ` for signal ${e.signals.join(", ")}` : ""
        } (no worker is held)`,
      ),
    onSignalReceived: (e) => print(`${t()} signal ${e.signal} sent: ${JSON.stringify(e.payload)}`),
    onRunCompleted: (e) => print(`${t()} run completed: ${JSON.stringify(e.output)}`),
    onRunFailed: (e) => print(`${t()} run failed: ${e.error.message}`),
  };
}

/** Runs the demo against a SQLite file; returns the run's output. */
export async function demo(path: string, print: (line: string) => void): Promise<string> {
  await using engine = new Engine({
    driver: new SqliteDriver({ path }),
    workflows: [hello],
    observers: [progress(print)],
  });
  await using worker = engine.worker({ pollInterval: 200 });
  await worker.start();
  print(`storing runs in ${path}`);
  const run = await engine.start(hello, { name: "Ada" });
  await waitForStatus(engine, run.id, "waiting");
  await engine.signal(run.id, "approved", { by: "Grace" });
  const output = await run.result();
  print("history:");
  for (const event of await engine.history(run.id)) {
    print(`  ${event.at.toISOString()} ${event.type}${event.step ? ` ${event.step}` : ""}`);
  }
  return output;
}

if (import.meta.main) {
  await demo(Deno.args[0] ?? "sluice-demo.db", (line) => console.log(line));
}
