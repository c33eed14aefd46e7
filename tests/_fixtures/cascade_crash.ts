/**
 * A process that dies (SIGKILL, by its own hand) between a parent run's final
 * write and the cancel cascade to its `.call` children: its driver is wrapped
 * so that the cascade's first read of the parent's children (`listRuns` with
 * `parentId`), once the parent has ended (or is being cancelled with
 * compensation), kills the process. Mode `fail`: a worker runs
 * `cascade-timed` until its timeout fails it; mode `cancel`: `cancel()` of a
 * waiting `cascade-held` run; mode `compensate`: the same with
 * `{ compensate: true }`. Prints progress lines.
 *
 * Usage: deno run -A tests/_fixtures/cascade_crash.ts --db <db> [--schema s]
 *          --mode fail|cancel|compensate --id <parent run id>
 */
import { parseArgs } from "node:util";
import { type Driver, Engine, type RunFilter } from "../../mod.ts";
import { openDriver } from "../../cli/mod.ts";
import { cascadeHeld, cascadeTimed } from "./cascade_workflows.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    db: { type: "string" },
    schema: { type: "string" },
    mode: { type: "string" },
    id: { type: "string" },
  },
});
const parentId = values.id;
const mode = values.mode;
if (!values.db || !parentId || (mode !== "fail" && mode !== "cancel" && mode !== "compensate")) {
  throw new TypeError("Pass --db, --id and --mode fail|cancel|compensate");
}
const inner = await openDriver(values.db, values.schema ? { schema: values.schema } : {});
const driver = new Proxy(inner, {
  get(target, prop) {
    // This process's own sweep must not cancel the child in the window between
    // the parent's final write and the cascade (a loaded machine widens it):
    // the test is about the sweep of the process that comes after the crash.
    if (prop === "orphanedChildren") return () => Promise.resolve([]);
    if (prop === "listRuns") {
      return async (filter: RunFilter) => {
        if (filter.parentId === parentId) {
          const parent = await target.getRun(parentId);
          const cancelling = (parent?.error as { cancelling?: boolean } | undefined)?.cancelling;
          if (parent?.status === "failed" || parent?.status === "cancelled" || cancelling) {
            const what = cancelling ? "cancelling" : parent!.status;
            console.log(`dying after the ${what} write of ${parentId}`);
            Deno.kill(Deno.pid, "SIGKILL");
            await new Promise(() => {});
          }
        }
        return await target.listRuns(filter);
      };
    }
    const value = Reflect.get(target, prop, target);
    return typeof value === "function" ? value.bind(target) : value;
  },
}) as Driver;
const engine = new Engine({ driver, workflows: [cascadeTimed, cascadeHeld] });
// A short lease: a run this worker held when it died is taken over soon.
const worker = engine.worker({ pollInterval: 50, concurrency: 4, leaseMs: 1000 });
await worker.start();
const child = `${parentId}/held`;
if (mode === "fail") {
  await engine.start(cascadeTimed, "x", { id: parentId });
  console.log("started");
  await new Promise(() => {}); // the timeout fails the parent; the cascade kills us
} else {
  await engine.start(cascadeHeld, "x", { id: parentId });
  for (;;) {
    const run = await driver.getRun(child);
    if (run?.status === "waiting") break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  console.log("child waiting; cancelling");
  await engine.cancel(parentId, { reason: "stop", compensate: mode === "compensate" });
  console.log("not killed: the cascade did not run");
  Deno.exit(3);
}
