/**
 * Retries with exponential backoff: a flaky call fails twice, then succeeds.
 * The waits between attempts (1s, then 2s) are durable timers; the run holds
 * no worker while it waits.
 *
 * Run it with `deno run examples/retries.ts`.
 */
import { LocalRunner, NonRetryableError, workflow } from "../mod.ts";

/** A pretend payment API that fails its first two calls for each key. */
export function flakyPaymentApi(): (amount: number, key: string) => Promise<string> {
  const calls = new Map<string, number>();
  return (amount, key) => {
    const n = (calls.get(key) ?? 0) + 1;
    calls.set(key, n);
    if (amount < 0) return Promise.reject(new NonRetryableError("Negative amounts never succeed"));
    if (n < 3) return Promise.reject(new Error(`Gateway timeout (call ${n})`));
    return Promise.resolve(`receipt-${key.slice(-8)}-${amount}`);
  };
}

export const charge = workflow<{ amount: number }>("charge")
  .step("charge", async (input, ctx) => {
    const pay = ctx.deps.pay as (amount: number, key: string) => Promise<string>;
    ctx.log.info(`attempt ${ctx.attempt}`);
    return await pay(input.amount, ctx.idempotencyKey);
  }, { retry: { maxAttempts: 5, initialDelay: "1s", backoff: 2, maxDelay: "1m" } })
  .step("email", (receipt) => `Sent ${receipt}`);

if (import.meta.main) {
  await using runner = new LocalRunner({ clock: "virtual", deps: { pay: flakyPaymentApi() } });
  const run = await runner.start(charge, { amount: 42 });
  console.log(await run.result());
  for (const event of await runner.history(run.id)) {
    if (event.type.startsWith("step.")) {
      console.log(
        `${event.type.padEnd(15)} ${event.step} attempt ${event.attempt}${
          event.error ? `: ${event.error.message}` : ""
        }`,
      );
    }
  }
}
