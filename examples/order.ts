/**
 * An order that calls a payment child workflow: the payment is its own run
 * (id `<orderRunId>/payment`, with `parentId` on its record), the order waits
 * for it holding no worker, and the payment's receipt flows on. A failed
 * payment fails the order's call step with `ChildWorkflowFailedError`; each
 * retry of the call starts a fresh payment run (`<id>#2`, ...), except after
 * a non-retryable error: a declined card (`NonRetryableError`) fails the call
 * at once, with one payment run.
 *
 * Run it with `deno run examples/order.ts`.
 */
import { ChildWorkflowFailedError, LocalRunner, NonRetryableError, workflow } from "../mod.ts";

/** What the shop submits. */
export interface Order {
  id: string;
  card: string;
  items: { sku: string; cents: number }[];
}

/** What the payment workflow produces. */
export interface Receipt {
  card: string;
  cents: number;
  reference: string;
}

/** The payment: its own workflow, reusable from any parent. */
export const payment = workflow<{ card: string; cents: number }>("payment")
  .step("authorize", ({ card, cents }, ctx) => {
    if (card.startsWith("0000")) throw new NonRetryableError(`Card ${card} was declined`);
    return { card, cents, reference: `auth-${ctx.idempotencyKey}` };
  })
  .step("capture", (auth): Receipt => auth);

/** The order: totals the items, calls the payment, then ships. */
export const order = workflow<Order>("order")
  .step("total", (o) => o.items.reduce((sum, item) => sum + item.cents, 0))
  .call("pay", payment, {
    input: (cents, o) => ({ card: o.card, cents }),
    retry: { maxAttempts: 2, initialDelay: "1s" },
  })
  .step("ship", (receipt, ctx) => ({
    order: ctx.input.id,
    paid: receipt.cents,
    reference: receipt.reference,
  }));

if (import.meta.main) {
  await using runner = new LocalRunner({ clock: "virtual" });
  const items = [{ sku: "book", cents: 1200 }, { sku: "pen", cents: 300 }];

  const paid = await runner.start(order, { id: "o-1", card: "4242", items });
  console.log("o-1:", await paid.result());
  console.log("its payment run:", (await runner.list({ parentId: paid.id })).runs[0]?.id);

  const declined = await runner.start(order, { id: "o-2", card: "0000", items });
  const error = await declined.result().catch((e) => e);
  console.log(
    "o-2 failed:",
    error.cause instanceof ChildWorkflowFailedError ? error.cause.message : error,
  );
}
