// The module that `sluice worker` runs in tests/schedules_process_test.ts: two
// schedules every second, one that starts each slot even while the previous
// run is unfinished, and one that skips such slots (the default).
import { schedule, workflow } from "../../mod.ts";

export const beat = workflow<{ slot: string }>("beat")
  .step("record", (input) => input.slot);

export const everySecond = schedule("beat-allow", beat, {
  every: "1s",
  overlap: "allow",
  input: (slot) => ({ slot: slot.toISOString() }),
});

export const everySecondSkip = schedule("beat-skip", beat, {
  every: "1s",
  input: (slot) => ({ slot: slot.toISOString() }),
});
