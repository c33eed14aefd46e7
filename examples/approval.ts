/**
 * An expense approval: the run waits durably for a human decision, with a
 * timeout that auto-rejects after three days.
 *
 * Run it with `deno run examples/approval.ts`.
 */
import { LocalRunner, workflow } from "../mod.ts";

/** What the requester submits. */
export interface Expense {
  id: string;
  amount: number;
  requester: string;
}

/** The decision a manager sends as the `decision` signal. */
export interface Decision {
  approved: boolean;
  by: string;
}

export const approval = workflow<Expense>("expense-approval")
  .step("validate", (expense) => {
    if (expense.amount <= 0) throw new RangeError(`Amount ${expense.amount} must be positive`);
    return { ...expense, needsManager: expense.amount > 100 };
  })
  .waitForSignal<Decision>("managerDecision", "decision", {
    timeout: "3d",
    onTimeout: () => ({ approved: false, by: "timeout" }),
  })
  .step("record", (decision, ctx) => ({
    expense: ctx.input.id,
    status: decision.approved ? "approved" : "rejected",
    by: decision.by,
  }));

if (import.meta.main) {
  await using runner = new LocalRunner({ clock: "virtual" });

  const approved = await runner.start(approval, { id: "e-1", amount: 250, requester: "ada" });
  console.log("e-1 waits for a manager, who approves it");
  await runner.signal(approved.id, "decision", { approved: true, by: "grace" });
  console.log("e-1:", await approved.result());

  const forgotten = await runner.start(approval, { id: "e-2", amount: 40, requester: "alan" });
  console.log("e-2 gets no answer; three virtual days later:", await forgotten.result());
}
