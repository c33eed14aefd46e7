/**
 * Scheduled tasks: a module that exports workflows and schedules, the way
 * `sluice worker --module` reads it.
 *
 * Run the schedules durably, with as many workers as you like:
 *
 * ```sh
 * deno task cli worker --module examples/scheduled.ts --db app.db
 * deno task cli schedules list --db app.db
 * ```
 *
 * Run this file directly to watch a simulated week go by on a `ManualClock`:
 * `deno run examples/scheduled.ts`.
 */
import { LocalRunner, ManualClock, schedule, workflow } from "../mod.ts";

/** A daily report for the day of its slot. */
export const report = workflow<{ day: string }>("daily-report")
  .step("collect", (input) => ({ day: input.day, orders: input.day.length * 7 }))
  .step("publish", (totals) => `report for ${totals.day}: ${totals.orders} orders`);

/** Every night at 03:00 in Berlin (daylight-saving changes handled by croner). */
export const nightly = schedule("nightly-report", report, {
  cron: "0 3 * * *",
  timezone: "Europe/Berlin",
  input: (slot) => ({ day: slot.toISOString().slice(0, 10) }),
});

/** A cache refresh every 15 minutes (at :00, :15, :30 and :45 UTC). */
export const refresh = workflow("refresh-cache").step("refresh", () => "refreshed");

/** The refresh schedule; a slow refresh makes the next slot a recorded skip. */
export const everyQuarterHour = schedule("refresh-cache", refresh, { every: "15m" });

if (import.meta.main) {
  const clock = new ManualClock(new Date("2026-03-23T00:00:00Z"));
  await using runner = new LocalRunner({
    workflows: [report, refresh],
    schedules: [nightly, everyQuarterHour],
    clock,
  });
  await clock.advance("7d");
  for (const s of await runner.schedules.list()) {
    const { runs } = await runner.list({ labels: { schedule: s.id }, limit: 1000 });
    console.log(`${s.id}: ${runs.length} runs, last ${s.lastRunId}`);
  }
  const last = await runner.get((await runner.schedules.get("nightly-report")).lastRunId!);
  console.log(last.output);
}
