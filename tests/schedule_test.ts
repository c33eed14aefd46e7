import assert from "node:assert/strict";
import { Schedule, schedule, SerializationError, workflow } from "../mod.ts";

const report = workflow<{ day: string }>("daily-report").step("build", (input) => input.day);
const tick = workflow("tick").step("tick", () => 1);
const iso = (date: Date | undefined) => date?.toISOString();

Deno.test("schedule() builds a typed, frozen schedule with the documented defaults", () => {
  const nightly = schedule("nightly-report", report, {
    cron: "0 3 * * *",
    timezone: "Europe/Berlin",
    input: (slot) => ({ day: slot.toISOString().slice(0, 10) }),
  });
  assert.ok(nightly instanceof Schedule);
  assert.equal(nightly.id, "nightly-report");
  assert.equal(nightly.workflow, report);
  assert.equal(nightly.cron, "0 3 * * *");
  assert.equal(nightly.every, undefined);
  assert.equal(nightly.timezone, "Europe/Berlin");
  assert.equal(nightly.overlap, "skip");
  assert.equal(nightly.catchUp, "latest");
  assert.ok(Object.isFrozen(nightly));
  const every = schedule("tick", tick, { every: "15m", overlap: "allow", catchUp: "all" });
  assert.equal(every.every, 900_000);
  assert.equal(every.timezone, "UTC");
  assert.equal(every.overlap, "allow");
  assert.equal(every.catchUp, "all");
});

Deno.test("schedule() takes a constant input as a copy", () => {
  const input = { day: "2026-01-01" };
  const s = schedule("const", report, { every: "1h", input });
  input.day = "changed";
  assert.deepEqual(s.input, { day: "2026-01-01" });
});

Deno.test("schedule() names the time zone canonically", () => {
  assert.equal(
    schedule("a", tick, { cron: "0 3 * * *", timezone: "europe/berlin" }).timezone,
    "Europe/Berlin",
  );
  assert.equal(schedule("b", tick, { cron: "0 3 * * *", timezone: "utc" }).timezone, "UTC");
});

Deno.test("schedule() accepts 5 and 6 fields, names, ranges, steps and L", () => {
  const at = Date.UTC(2026, 0, 1, 12, 0, 0); // a Thursday
  const next = (cron: string) => iso(schedule("s", tick, { cron }).nextSlot(at));
  assert.equal(next("*/15 * * * *"), "2026-01-01T12:15:00.000Z");
  assert.equal(next("30 */10 * * * *"), "2026-01-01T12:00:30.000Z");
  assert.equal(next("0 9 * * MON-FRI"), "2026-01-02T09:00:00.000Z");
  assert.equal(next("0 9 * JAN,FEB SAT"), "2026-01-03T09:00:00.000Z");
  assert.equal(next("0 0 L * *"), "2026-01-31T00:00:00.000Z");
  assert.equal(next("0 0 * * 5#L"), "2026-01-30T00:00:00.000Z");
  assert.equal(next("0 8-10/2 * * *"), "2026-01-02T08:00:00.000Z");
});

Deno.test("Schedule.nextSlot() is strictly after the given time", () => {
  const hourly = schedule("hourly", tick, { cron: "0 * * * *" });
  assert.equal(iso(hourly.nextSlot(Date.UTC(2026, 0, 1, 3))), "2026-01-01T04:00:00.000Z");
  assert.equal(iso(hourly.nextSlot(Date.UTC(2026, 0, 1, 3) - 1)), "2026-01-01T03:00:00.000Z");
  const tenMinutes = schedule("ten", tick, { every: "10m" });
  assert.equal(iso(tenMinutes.nextSlot(Date.UTC(2026, 0, 1, 3, 10))), "2026-01-01T03:20:00.000Z");
  assert.equal(
    iso(tenMinutes.nextSlot(new Date(Date.UTC(2026, 0, 1, 3, 9, 59, 999)))),
    "2026-01-01T03:10:00.000Z",
  );
  assert.throws(() => hourly.nextSlot(Number.NaN), TypeError);
});

Deno.test("'every' is aligned to the Unix epoch, whatever the time it is asked from", () => {
  const s = schedule("seven", tick, { every: "7m" });
  const first = s.nextSlot(Date.UTC(2026, 5, 1, 10, 3, 17))!.getTime();
  assert.equal(first % 420_000, 0);
  assert.equal(s.nextSlot(0)?.getTime(), 420_000);
  assert.equal(s.nextSlot(-1)?.getTime(), 0);
});

Deno.test("a Europe/Berlin schedule at 02:30 follows croner across daylight-saving changes", () => {
  // Spring forward, 2026-03-29: 02:00 CET becomes 03:00 CEST, so 02:30 does not exist.
  // A fixed-time expression fires at the first valid time after the gap, 03:00 CEST.
  const fixed = schedule("berlin-0230", tick, { cron: "30 2 * * *", timezone: "Europe/Berlin" });
  const slots = (s: Schedule<unknown>, from: number, count: number) => {
    const out: string[] = [];
    let at = from;
    for (let i = 0; i < count; i++) {
      const next = s.nextSlot(at)!;
      out.push(next.toISOString());
      at = next.getTime();
    }
    return out;
  };
  assert.deepEqual(slots(fixed, Date.UTC(2026, 2, 28), 3), [
    "2026-03-28T01:30:00.000Z", // 02:30 CET
    "2026-03-29T01:00:00.000Z", // 03:00 CEST: the gap's end
    "2026-03-30T00:30:00.000Z", // 02:30 CEST
  ]);
  // Fall back, 2026-10-25: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice; it fires once,
  // at the first occurrence.
  assert.deepEqual(slots(fixed, Date.UTC(2026, 9, 24), 3), [
    "2026-10-24T00:30:00.000Z", // 02:30 CEST
    "2026-10-25T00:30:00.000Z", // the first 02:30 (CEST); the second (CET) does not fire
    "2026-10-26T01:30:00.000Z", // 02:30 CET
  ]);
  // An interval expression (a step in the minutes) skips the missing hour and fires on both
  // passes through the repeated one.
  const interval = schedule("berlin-2h", tick, {
    cron: "*/30 2 * * *",
    timezone: "Europe/Berlin",
  });
  assert.deepEqual(slots(interval, Date.UTC(2026, 2, 28, 1, 30), 3), [
    "2026-03-30T00:00:00.000Z", // no 02:xx on 03-29
    "2026-03-30T00:30:00.000Z",
    "2026-03-31T00:00:00.000Z",
  ]);
  assert.deepEqual(slots(interval, Date.UTC(2026, 9, 24, 23), 4), [
    "2026-10-25T00:00:00.000Z", // 02:00 CEST
    "2026-10-25T00:30:00.000Z", // 02:30 CEST
    "2026-10-25T01:00:00.000Z", // 02:00 CET
    "2026-10-25T01:30:00.000Z", // 02:30 CET
  ]);
});

Deno.test("schedule() refuses bad input with a typed error naming the schedule", () => {
  const cases: [() => unknown, ErrorConstructor | typeof SerializationError, RegExp][] = [
    [() => schedule("bad id", tick, { every: "1m" }), TypeError, /schedule id 'bad id'/],
    [() => schedule("a@b", tick, { every: "1m" }), TypeError, /schedule id 'a@b'/],
    [() => schedule("", tick, { every: "1m" }), TypeError, /schedule id ''/],
    [() => schedule("x".repeat(129), tick, { every: "1m" }), TypeError, /schedule id/],
    [() => schedule(42 as unknown as string, tick, { every: "1m" }), TypeError, /the number 42/],
    [
      () => schedule("s", {} as typeof tick, { every: "1m" }),
      TypeError,
      /schedule 's'.*workflow\(\)/,
    ],
    [() => schedule("s", tick, undefined as unknown as { every: string }), TypeError, /options/],
    [() => schedule("s", tick, {}), TypeError, /schedule 's' without 'cron' or 'every'/],
    [
      () => schedule("s", tick, { cron: "* * * * *", every: "1m" }),
      TypeError,
      /both 'cron' and 'every'/,
    ],
    [
      () => schedule("s", tick, { cron: "61 * * * *" }),
      TypeError,
      /cron expression '61 \* \* \* \*' in schedule 's'/,
    ],
    [() => schedule("s", tick, { cron: "* * *" }), TypeError, /schedule 's'/],
    [() => schedule("s", tick, { cron: "0 0 0 * * * 2030" }), TypeError, /5 or 6/],
    [() => schedule("s", tick, { cron: "@reboot" }), TypeError, /schedule 's'/],
    [() => schedule("s", tick, { cron: "0 0 30 2 *" }), TypeError, /matches no time/],
    [() => schedule("s", tick, { cron: 5 as unknown as string }), TypeError, /the number 5/],
    [() => schedule("s", tick, { cron: "* * * * *\n" }), TypeError, /cron expression/],
    [
      () => schedule("s", tick, { cron: "0 3 * * *", timezone: "Mars/Base" }),
      TypeError,
      /time zone 'Mars\/Base' in schedule 's'/,
    ],
    [() => schedule("s", tick, { cron: "0 3 * * *", timezone: "" }), TypeError, /time zone ''/],
    [
      () => schedule("s", tick, { every: "1m", timezone: "Europe/Berlin" }),
      TypeError,
      /'timezone'.*'every'/,
    ],
    [() => schedule("s", tick, { every: "500ms" }), RangeError, /at least 1 second/],
    [() => schedule("s", tick, { every: "soon" }), RangeError, /'every' of schedule 's'/],
    [() => schedule("s", tick, { every: -5 }), RangeError, /'every' of schedule 's'/],
    [
      () => schedule("s", tick, { every: "1m", overlap: "queue" as "skip" }),
      TypeError,
      /'overlap' 'queue' in schedule 's'/,
    ],
    [
      () => schedule("s", tick, { every: "1m", catchUp: true as unknown as "all" }),
      TypeError,
      /'catchUp' the boolean true/,
    ],
    [
      () => schedule("s", tick, { every: "1m", catchup: "all" } as never),
      TypeError,
      /option 'catchup'/,
    ],
    [
      () => schedule("s", report, { every: "1m", input: { day: 1n } as never }),
      SerializationError,
      /input of schedule 's'/,
    ],
    [
      () => schedule("s", report, { every: "1m", input: new Map() as never }),
      SerializationError,
      /Map/,
    ],
  ];
  for (const [build, type, message] of cases) {
    assert.throws(build, (error: unknown) => {
      assert.ok(error instanceof type, `${String(error)} is a ${type.name}`);
      assert.match((error as Error).message, message);
      return true;
    });
  }
});

Deno.test("schedule() type-checks its input against the workflow", () => {
  const typed = () => {
    // @ts-expect-error: the input must be a { day: string }
    schedule("typed", report, { every: "1h", input: { day: 1 } });
    // @ts-expect-error: the input function must return a { day: string }
    schedule("typed-fn", report, { every: "1h", input: (slot: Date) => slot.getTime() });
  };
  assert.equal(typeof typed, "function");
});
