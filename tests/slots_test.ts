import assert from "node:assert/strict";
import {
  cronRule,
  dueSlots,
  everyRule,
  manualRunId,
  MAX_CATCH_UP,
  MAX_COUNTED_SLOTS,
  MISSED_AFTER_MS,
  slotRunId,
} from "../lib/slots.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1); // a slot of every rule below
const iso = (slots: number[]) => slots.map((at) => new Date(at).toISOString());

Deno.test("dueSlots() fires nothing before the next slot", () => {
  const rule = everyRule(HOUR);
  assert.deepEqual(dueSlots(rule, "latest", T0, T0 - 1), { fire: [], missed: false, next: T0 });
});

Deno.test("dueSlots() fires a slot up to one minute late as on time, and moves to the next", () => {
  const rule = everyRule(HOUR);
  for (const now of [T0, T0 + 1, T0 + MISSED_AFTER_MS]) {
    for (const catchUp of ["latest", "all", "none"] as const) {
      assert.deepEqual(dueSlots(rule, catchUp, T0, now), {
        fire: [T0],
        missed: false,
        next: T0 + HOUR,
      });
    }
  }
});

Deno.test("dueSlots() treats a slot more than one minute late as missed", () => {
  const rule = everyRule(HOUR);
  const now = T0 + MISSED_AFTER_MS + 1;
  assert.deepEqual(dueSlots(rule, "none", T0, now), { fire: [], missed: true, next: T0 + HOUR });
  assert.deepEqual(dueSlots(rule, "latest", T0, now), {
    fire: [T0],
    missed: true,
    next: T0 + HOUR,
  });
  assert.deepEqual(dueSlots(rule, "all", T0, now), { fire: [T0], missed: true, next: T0 + HOUR });
});

Deno.test("after a day down, 'latest' fires the newest slot, 'all' each, 'none' none", () => {
  const rule = everyRule(HOUR);
  const now = T0 + DAY + 30 * MINUTE; // 24 hourly slots after T0 are missed, none on time
  const latest = dueSlots(rule, "latest", T0, now);
  assert.deepEqual(iso(latest.fire), ["2026-01-02T00:00:00.000Z"]);
  assert.equal(latest.next, T0 + DAY + HOUR);
  const all = dueSlots(rule, "all", T0, now);
  assert.equal(all.fire.length, 25);
  assert.deepEqual(all.fire, Array.from({ length: 25 }, (_, i) => T0 + i * HOUR));
  assert.deepEqual(dueSlots(rule, "none", T0, now).fire, []);
});

Deno.test("'latest' fires no extra missed slot when an on-time slot fires anyway", () => {
  const rule = everyRule(HOUR);
  const now = T0 + DAY + 20_000; // the slot at T0 + 1 day is 20 s late: on time
  assert.deepEqual(dueSlots(rule, "latest", T0, now).fire, [T0 + DAY]);
  assert.deepEqual(dueSlots(rule, "none", T0, now).fire, [T0 + DAY]);
  assert.equal(dueSlots(rule, "all", T0, now).fire.length, 25);
});

Deno.test("'all' fires the newest 100 missed slots at most, oldest first", () => {
  const rule = everyRule(MINUTE);
  const now = T0 + 1000 * MINUTE + 30_000;
  const due = dueSlots(rule, "all", T0, now);
  // On time: the slot at 1000 min (30 s late) and 999 min (90 s late is missed), so one on time.
  const onTime = [T0 + 1000 * MINUTE];
  assert.equal(due.fire.length, MAX_CATCH_UP + onTime.length);
  assert.deepEqual(due.fire.slice(-1), onTime);
  assert.equal(due.fire[0], T0 + (999 - MAX_CATCH_UP + 1) * MINUTE);
  for (let i = 1; i < due.fire.length; i++) assert.equal(due.fire[i]! - due.fire[i - 1]!, MINUTE);
  assert.equal(due.next, T0 + 1001 * MINUTE);
});

Deno.test("every slot within the last minute fires, for a schedule every second", () => {
  const rule = everyRule(1_000);
  const due = dueSlots(rule, "none", T0, T0 + 5 * MINUTE);
  assert.equal(due.fire.length, 61); // T0 + 4 min .. T0 + 5 min, both included
  assert.equal(due.fire[0], T0 + 4 * MINUTE);
  assert.equal(due.next, T0 + 5 * MINUTE + 1_000);
});

Deno.test("dueSlots() works on cron rules across a daylight-saving change", () => {
  // Hourly in Berlin at :30, down from before the spring change until after it.
  const rule = cronRule("30 * * * *", "Europe/Berlin");
  const from = Date.UTC(2026, 2, 28, 23, 30); // 00:30 CET on 03-29
  const now = Date.UTC(2026, 2, 29, 3, 30, 10); // 05:30:10 CEST
  const all = dueSlots(rule, "all", from, now);
  assert.deepEqual(iso(all.fire), [
    "2026-03-28T23:30:00.000Z", // 00:30 CET
    "2026-03-29T00:30:00.000Z", // 01:30 CET (02:30 does not exist)
    "2026-03-29T01:30:00.000Z", // 03:30 CEST
    "2026-03-29T02:30:00.000Z", // 04:30 CEST
    "2026-03-29T03:30:00.000Z", // 05:30 CEST, on time
  ]);
  assert.equal(all.missed, true);
  assert.equal(dueSlots(rule, "latest", from, now).fire.length, 1);
});

Deno.test("SlotRule.previous() and count() agree with next()", () => {
  for (
    const rule of [everyRule(7 * MINUTE), cronRule("*/20 9-17 * * MON-FRI", "America/New_York")]
  ) {
    const slots: number[] = [];
    let at = T0;
    for (let i = 0; i < 50; i++) slots.push(at = rule.next(at)!);
    const end = slots.at(-1)! + 1;
    assert.deepEqual(rule.previous(end, 50).reverse(), slots);
    assert.deepEqual(rule.previous(slots.at(-1)!, 1), [slots.at(-2)]);
    assert.equal(rule.count(slots[0]!, slots.at(-1)!), 50);
    assert.equal(rule.count(slots[0]! + 1, slots.at(-1)! - 1), 48);
    assert.equal(rule.count(slots[1]!, slots[0]!), 0);
  }
  assert.equal(everyRule(1_000).count(T0, T0 + DAY), 86_401);
  assert.equal(cronRule("* * * * * *", "UTC").count(T0, T0 + DAY), MAX_COUNTED_SLOTS);
});

Deno.test("slot and manual run ids are '<id>@<ISO 8601 UTC>'", () => {
  assert.equal(
    slotRunId("nightly-report", T0 + 3 * HOUR),
    "nightly-report@2026-01-01T03:00:00.000Z",
  );
  assert.equal(
    manualRunId("nightly-report", T0 + 1234),
    "nightly-report@manual-2026-01-01T00:00:01.234Z",
  );
});
