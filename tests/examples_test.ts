// The examples run as written: as modules under a LocalRunner, and as programs.
import assert from "node:assert/strict";
import { LocalRunner, ManualClock } from "@sluice/sluice";
import { approval } from "../examples/approval.ts";
import { order } from "../examples/order.ts";
import { booking, Bookings } from "../examples/booking.ts";
import { charge, flakyPaymentApi } from "../examples/retries.ts";
import { crawl } from "../examples/fan_out.ts";
import { demo, hello } from "../examples/hello.ts";
import { everyQuarterHour, nightly, refresh, report } from "../examples/scheduled.ts";
import { main } from "../cli/mod.ts";

async function runExample(file: string, args: string[] = []): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", file, ...args],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return stdout;
}

Deno.test("approval example: a manager's decision completes the run", async () => {
  await using runner = new LocalRunner({ clock: "virtual" });
  const run = await runner.start(approval, { id: "e-9", amount: 300, requester: "ada" });
  await runner.signal(run.id, "decision", { approved: true, by: "grace" });
  assert.deepEqual(await run.result(), { expense: "e-9", status: "approved", by: "grace" });
});

Deno.test("approval example: no decision within three days rejects the expense", async () => {
  const clock = new ManualClock(0);
  await using runner = new LocalRunner({ clock });
  const run = await runner.start(approval, { id: "e-10", amount: 20, requester: "alan" });
  await clock.advance("2d");
  assert.equal((await runner.get(run.id)).status, "waiting");
  await clock.advance("1d");
  assert.deepEqual(await run.result(), { expense: "e-10", status: "rejected", by: "timeout" });
});

Deno.test("booking example: the car fails, so the hotel and then the flight are released", async () => {
  const bookings = new Bookings();
  await using runner = new LocalRunner({ deps: { bookings } });
  const run = await runner.start(booking, { id: "trip-1" });
  const error = await run.result().catch((e) => e);
  assert.equal(error.cause.message, "No cars left");
  assert.deepEqual(bookings.log, [
    "reserved flight-trip-1",
    "reserved hotel-trip-1",
    "released hotel-trip-1",
    "released flight-trip-1",
  ]);
  assert.equal(bookings.held.size, 0);
  const record = await runner.get(run.id);
  assert.equal(record.status, "failed");
  assert.equal(record.compensated, true);
  const stdout = await runExample("examples/booking.ts");
  assert.match(stdout, /failed: No cars left/);
  assert.match(stdout, /released hotel-trip-7\nreleased flight-trip-7/);
});

Deno.test("retries example: two failures, then success after 1s and 2s backoffs", async () => {
  const clock = new ManualClock(0);
  await using runner = new LocalRunner({ clock, deps: { pay: flakyPaymentApi() } });
  const run = await runner.start(charge, { amount: 42 });
  await clock.advance("999ms");
  assert.equal((await runner.get(run.id)).status, "sleeping");
  await clock.advance("1ms");
  await clock.advance("1999ms");
  assert.equal((await runner.get(run.id)).status, "sleeping");
  await clock.advance("1ms");
  assert.match(String(await run.result()), /^Sent receipt-.*-42$/);
  const failures = (await runner.history(run.id)).filter((e) => e.type === "step.failed");
  assert.deepEqual(failures.map((e) => e.attempt), [1, 2]);
});

Deno.test("fan-out example: map then parallel summary", async () => {
  await using runner = new LocalRunner();
  const summary = await runner.run(crawl, { urls: ["ab", "abcd", "a"] });
  assert.deepEqual(summary, { total: 70, largest: 40, pages: 3 });
});

Deno.test("hello example: greets, decorates, sleeps and waits for approval", async () => {
  await using runner = new LocalRunner({ clock: "virtual" });
  const run = await runner.start(hello, { name: "Ada" });
  await runner.signal(run.id, "approved", { by: "Grace" });
  assert.equal(await run.result(), "Ada approved by Grace");
});

Deno.test("the demo runs a durable workflow on a SQLite file and prints its progress", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const output = await runExample("examples/hello.ts", [`${dir}/demo.db`]);
    assert.match(output, /run is sleeping until/);
    assert.match(output, /run is waiting .* for signal approved/);
    assert.match(output, /run completed: "Ada approved by Grace"/);
    assert.match(output, /signal\.received/);
    const lines: string[] = [];
    assert.equal(
      await demo(`${dir}/demo.db`, (line) => void lines.push(line)),
      "Ada approved by Grace",
    );
    assert.ok(lines.some((line) => line.includes("step decorate/shout completed")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scheduled example: a week fires 7 nightly reports (across the DST change) and 672 refreshes", async () => {
  const clock = new ManualClock(new Date("2026-03-23T00:00:00Z"));
  await using runner = new LocalRunner({
    workflows: [report, refresh],
    schedules: [nightly, everyQuarterHour],
    clock,
  });
  await clock.advance("7d");
  const nightlyRuns = await runner.list({ labels: { schedule: "nightly-report" } });
  assert.deepEqual(nightlyRuns.runs.map((r) => r.id.split("@")[1]).sort(), [
    "2026-03-23T02:00:00.000Z",
    "2026-03-24T02:00:00.000Z",
    "2026-03-25T02:00:00.000Z",
    "2026-03-26T02:00:00.000Z",
    "2026-03-27T02:00:00.000Z",
    "2026-03-28T02:00:00.000Z",
    "2026-03-29T01:00:00.000Z", // 03:00 CEST: summer time began that night
  ]);
  const refreshes = await runner.list({ labels: { schedule: "refresh-cache" }, limit: 1000 });
  assert.equal(refreshes.runs.length, 7 * 24 * 4);
  assert.equal(
    (await runner.get("nightly-report@2026-03-29T01:00:00.000Z")).output,
    "report for 2026-03-29: 70 orders",
  );
});

Deno.test("scheduled example: `sluice worker --module` serves it until SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/app.db`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/mod.ts", "worker", "--module", "examples/scheduled.ts", "--db", db],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (!output.includes("serving")) {
    const { value, done } = await reader.read();
    if (done) break;
    output += value;
  }
  assert.match(output, /serving 2 workflow\(s\) and 2 schedule\(s\)/);
  const listed: string[] = [];
  const code = await main(["schedules", "--db", db, "--json"], {
    out: (text) => listed.push(text),
    err: (text) => listed.push(text),
  });
  assert.equal(code, 0, listed.join("\n"));
  const schedules = JSON.parse(listed[0]!) as { id: string; source: string }[];
  assert.deepEqual(schedules.map((s) => `${s.id}:${s.source}`), [
    "nightly-report:declared",
    "refresh-cache:declared",
  ]);
  child.kill("SIGTERM");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    output += value;
  }
  const status = await child.status;
  await child.stderr.cancel();
  assert.equal(status.code, 0);
  assert.match(output, /Stopped/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("every example runs as a program", async () => {
  assert.match(await runExample("examples/approval.ts"), /e-2 .*rejected.*timeout/s);
  assert.match(await runExample("examples/scheduled.ts"), /nightly-report: 7 runs/);
  assert.match(await runExample("examples/retries.ts"), /step\.failed +charge attempt 2/);
  assert.match(await runExample("examples/fan_out.ts"), /pages: 4/);
});

Deno.test("order example: the order calls a payment child run and ships with its receipt", async () => {
  await using runner = new LocalRunner({ clock: "virtual" });
  const items = [{ sku: "book", cents: 1200 }, { sku: "pen", cents: 300 }];
  const run = await runner.start(order, { id: "o-9", card: "4242", items }, { id: "o-9" });
  assert.deepEqual(await run.result(), {
    order: "o-9",
    paid: 1500,
    reference: "auth-o-9/pay:authorize",
  });
  const payment = await runner.get("o-9/pay");
  assert.equal(payment.parentId, "o-9");
  assert.equal(payment.workflow, "payment");
  const declined = await runner.start(order, { id: "o-10", card: "0000", items }, { id: "o-10" });
  const error = await declined.result().catch((e) => e);
  assert.match(
    error.cause.message,
    /Child run 'o-10\/pay' of workflow 'payment' did not complete: Card 0000 was declined/,
  );
  assert.deepEqual(
    (await runner.list({ parentId: "o-10" })).runs.map((r) => [r.id, r.status]).sort(),
    [["o-10/pay", "failed"]], // declined: not retried
  );
});

Deno.test("order example: runs as a program", async () => {
  const stdout = await runExample("examples/order.ts");
  assert.match(stdout, /o-1: \{/);
  assert.match(stdout, /o-2 failed: Child run '[^']+\/pay' of workflow 'payment'/);
});
