/**
 * The demo: a small workflow with a step, a parallel fan-out, a durable sleep
 * and a signal, run in-process with a virtual clock.
 *
 * Run it with `deno task demo`.
 */
import { LocalRunner, workflow } from "../mod.ts";

export const hello = workflow<{ name: string }>("hello")
  .step("greet", (input) => `Hello, ${input.name}`)
  .parallel("decorate", {
    shout: (text) => text.toUpperCase(),
    length: (text) => text.length,
  })
  .sleep("pause", "1h")
  .waitForSignal<{ by: string }>("approval", "approved", { timeout: "1d" })
  .step("finish", (approval, ctx) => `${ctx.input.name} approved by ${approval.by}`);

if (import.meta.main) {
  await using runner = new LocalRunner({ clock: "virtual" });
  const run = await runner.start(hello, { name: "Ada" });
  await runner.signal(run.id, "approved", { by: "Grace" });
  console.log(await run.result());
}
