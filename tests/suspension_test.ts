// Unit tests of an activation's suspension bookkeeping (lib/suspension.ts): branches in flight,
// waiters, suspending the whole run, and the fork/join that caps and aborts. Run on a ManualClock.
import assert from "node:assert/strict";
import { ManualClock } from "@sluice/sluice";
import { STOP, SUSPEND, Suspension } from "../lib/suspension.ts";
import { deferred } from "./_fixtures/deferred.ts";

const T0 = Date.UTC(2030, 0, 1);

function suspension(clock = new ManualClock(T0), beforeWait?: () => Promise<void> | undefined) {
  return new Suspension(clock, beforeWait ?? (() => undefined));
}

Deno.test("a wait with no other branch running suspends the run and notes its wake time", async () => {
  const s = suspension();
  const scope = new AbortController().signal;
  await assert.rejects(s.waitFor(T0 + 1_000, undefined, scope), (e) => e === SUSPEND);
  assert.equal(s.suspended, true);
  assert.equal(s.wakeAt, T0 + 1_000);
  assert.deepEqual(s.awaitedSignals, []);
});

Deno.test("when the last running branch waits, every branch suspends with the earliest time and all signals", async () => {
  const s = suspension();
  const scope = new AbortController().signal;
  const release = deferred();
  const joined = s.forkJoin(3, 3, async (i, signal) => {
    if (i === 0) return await s.waitFor(T0 + 5_000, undefined, signal);
    if (i === 1) return await s.waitFor(T0 + 60_000, ["approve"], signal);
    await release.promise;
    return await s.waitFor(T0 + 2_000, undefined, signal);
  }, scope);
  await Promise.resolve();
  assert.equal(s.suspended, false, "a branch still runs");
  assert.equal(s.waiting, 2);
  release.resolve();
  await assert.rejects(joined, (e) => e === SUSPEND);
  assert.equal(s.suspended, true);
  assert.equal(s.wakeAt, T0 + 2_000);
  assert.deepEqual(s.awaitedSignals, ["approve"]);
});

Deno.test("a branch waits in-process on the clock while a sibling runs, writing what is queued first", async () => {
  const clock = new ManualClock(T0);
  let flushes = 0;
  const s = suspension(clock, () => {
    flushes++;
    return undefined;
  });
  const scope = new AbortController().signal;
  const sibling = deferred<string>();
  const joined = s.forkJoin(2, 2, async (i, signal) => {
    if (i === 1) return await sibling.promise;
    await s.waitFor(T0 + 1_000, undefined, signal);
    return "woke";
  }, scope);
  await Promise.resolve();
  assert.equal(flushes, 1);
  assert.equal(s.waiting, 1);
  await clock.advance(1_000);
  assert.equal(s.waiting, 0);
  sibling.resolve("ran");
  assert.deepEqual(await joined, ["woke", "ran"]);
  assert.equal(s.suspended, false);
});

Deno.test("forkJoin keeps at most `limit` children in flight and keeps results in order", async () => {
  const s = suspension();
  const scope = new AbortController().signal;
  let inFlight = 0;
  let most = 0;
  const results = await s.forkJoin(7, 2, async (i) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await Promise.resolve();
    await Promise.resolve();
    inFlight--;
    return i * 10;
  }, scope);
  assert.deepEqual(results, [0, 10, 20, 30, 40, 50, 60]);
  assert.equal(most, 2);
  assert.equal(s.running, 1, "the parent runs again, alone");
});

Deno.test("the first failing child aborts its siblings and fails the join once all have settled", async () => {
  const s = suspension();
  const scope = new AbortController().signal;
  const failure = new Error("boom");
  const fail = deferred();
  let siblingSettled = false;
  let started = 0;
  const joined = s.forkJoin(5, 2, async (i, signal) => {
    started++;
    if (i === 0) {
      await fail.promise;
      throw failure;
    }
    try {
      await new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason))
      );
    } finally {
      siblingSettled = true;
    }
  }, scope);
  fail.resolve();
  await assert.rejects(joined, (e) => e === failure);
  assert.equal(siblingSettled, true);
  assert.equal(started, 2, "no child starts after the failure");
});

Deno.test("stop() releases waiting branches with STOP", async () => {
  const s = suspension();
  const scope = new AbortController().signal;
  const sibling = deferred();
  const joined = s.forkJoin(2, 2, async (i, signal) => {
    if (i === 1) return await sibling.promise;
    return await s.waitFor(T0 + 1_000, undefined, signal);
  }, scope);
  await Promise.resolve();
  s.stop();
  sibling.resolve();
  await assert.rejects(joined, (e) => e === STOP);
  assert.equal(s.stopping, true);
});

Deno.test("a signal arrival wakes signal waiters, and a wait that missed one returns at once", async () => {
  const s = suspension();
  const scope = new AbortController().signal;
  const sibling = deferred();
  const before = s.epoch;
  const joined = s.forkJoin(2, 2, async (i, signal) => {
    if (i === 1) return await sibling.promise;
    await s.waitFor(undefined, ["go"], signal, before);
    return "woke";
  }, scope);
  await Promise.resolve();
  assert.equal(s.waiting, 1);
  s.signalArrived();
  assert.equal(s.waiting, 0);
  sibling.resolve();
  assert.deepEqual(await joined, ["woke", undefined]);
  // The inbox was read before this arrival: the wait returns so the caller reads it again.
  await s.waitFor(undefined, ["go"], scope, before);
  assert.equal(s.suspended, false);
});

Deno.test("aborting the scope rejects a waiting branch with the abort reason", async () => {
  const s = suspension();
  const parent = new AbortController();
  const reason = new Error("cancelled");
  const sibling = deferred();
  const joined = s.forkJoin(2, 2, async (i, signal) => {
    if (i === 1) return await sibling.promise;
    return await s.waitFor(T0 + 1_000, undefined, signal);
  }, parent.signal);
  await Promise.resolve();
  parent.abort(reason);
  sibling.resolve();
  await assert.rejects(joined, (e) => e === reason);
});
