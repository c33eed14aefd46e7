// Resume cost does not grow with history: nothing completed runs again, and the checkpoint
// reads of a resume stay the same for 10 or 10,000 completed iterations.
import {
  type Claim,
  type ClaimOptions,
  type ConsumedSignal,
  type Driver,
  type DriverNotice,
  Engine,
  flow,
  type Lease,
  type LeaseState,
  ManualClock,
  MemoryDriver,
  type NewRun,
  type NewSignal,
  type PurgeOptions,
  type RunFilter,
  type SendSignalOptions,
  type StepRow,
  type StoredFeedItem,
  type StoredHistoryItem,
  type StoredRun,
  type StoredRunPage,
  type StoredWorker,
  workflow,
  type WriteBatch,
} from "@sluice/sluice";
import assert from "node:assert/strict";

const T0 = Date.UTC(2030, 0, 1);

/** A MemoryDriver behind a delegating wrapper that counts what the engine asks of it. */
class CountingDriver implements Driver {
  readonly kind = "counting";
  readonly shared = false;
  readonly inner = new MemoryDriver();
  reads = 0;
  keysRead = 0;
  rowsReturned = 0;
  writes = 0;
  claims = 0;

  reset(): void {
    this.reads =
      this.keysRead =
      this.rowsReturned =
      this.writes =
      this.claims =
        0;
  }
  migrate(): Promise<void> {
    return this.inner.migrate();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
  createRun(run: NewRun, now: number): Promise<{ run: StoredRun; created: boolean }> {
    return this.inner.createRun(run, now);
  }
  getRun(runId: string): Promise<StoredRun | undefined> {
    return this.inner.getRun(runId);
  }
  listRuns(filter: RunFilter): Promise<StoredRunPage> {
    return this.inner.listRuns(filter);
  }
  history(runId: string): Promise<StoredHistoryItem[]> {
    return this.inner.history(runId);
  }
  claimRuns(options: ClaimOptions): Promise<Claim[]> {
    this.claims++;
    return this.inner.claimRuns(options);
  }
  nextDueAt(workflows: readonly string[]): Promise<number | undefined> {
    return this.inner.nextDueAt(workflows);
  }
  extendLeases(leases: readonly Lease[], now: number, leaseMs: number): Promise<LeaseState[]> {
    return this.inner.extendLeases(leases, now, leaseMs);
  }
  async readSteps(runId: string, keys: readonly string[]): Promise<Map<string, StepRow>> {
    this.reads++;
    this.keysRead += keys.length;
    const rows = await this.inner.readSteps(runId, keys);
    this.rowsReturned += rows.size;
    return rows;
  }
  write(lease: Lease, batch: WriteBatch, now: number): Promise<void> {
    this.writes++;
    return this.inner.write(lease, batch, now);
  }
  consumeSignal(
    lease: Lease,
    names: readonly string[],
    row: StepRow,
    batch: WriteBatch,
    now: number,
  ): Promise<ConsumedSignal | undefined> {
    return this.inner.consumeSignal(lease, names, row, batch, now);
  }
  startWithSignal(
    run: NewRun,
    signal: NewSignal,
    now: number,
  ): Promise<{ run: StoredRun; created: boolean; delivered: boolean }> {
    return this.inner.startWithSignal(run, signal, now);
  }
  sendSignal(
    runId: string,
    name: string,
    payload: string | undefined,
    now: number,
    options?: SendSignalOptions,
  ): Promise<boolean> {
    return this.inner.sendSignal(runId, name, payload, now, options);
  }
  cancelRun(runId: string, reason: string | undefined, now: number): Promise<StoredRun> {
    return this.inner.cancelRun(runId, reason, now);
  }
  retryRun(runId: string, now: number, options?: { deadlineAt?: number }): Promise<StoredRun> {
    return this.inner.retryRun(runId, now, options);
  }
  pauseRun(runId: string, now: number): Promise<StoredRun> {
    return this.inner.pauseRun(runId, now);
  }
  resumeRun(runId: string, now: number): Promise<StoredRun> {
    return this.inner.resumeRun(runId, now);
  }
  recordWorker(worker: StoredWorker, forgetBefore: number): Promise<void> {
    return this.inner.recordWorker(worker, forgetBefore);
  }
  removeWorker(workerId: string): Promise<void> {
    return this.inner.removeWorker(workerId);
  }
  listWorkers(): Promise<StoredWorker[]> {
    return this.inner.listWorkers();
  }
  orphanedChildren(limit: number): Promise<string[]> {
    return this.inner.orphanedChildren(limit);
  }
  purge(finishedBefore: number, options?: PurgeOptions): Promise<number> {
    return this.inner.purge(finishedBefore, options);
  }
  get scheduleStore(): Driver["scheduleStore"] {
    return this.inner.scheduleStore;
  }
  feed(after: string | undefined, limit: number): Promise<StoredFeedItem[]> {
    return this.inner.feed(after, limit);
  }
  feedEnd(): Promise<string | undefined> {
    return this.inner.feedEnd();
  }
  subscribe(listener: (notice: DriverNotice) => void): () => void {
    return this.inner.subscribe(listener);
  }
}

interface ResumeCost {
  executions: number;
  reads: number;
  keysRead: number;
  rowsReturned: number;
}

/** Runs `iterations` loop iterations, sleeps, then measures what the resume costs. */
async function resumeAfterLoop(iterations: number, sleepInside: boolean): Promise<ResumeCost> {
  const clock = new ManualClock(T0);
  const driver = new CountingDriver();
  let executions = 0;
  const count = <T>(v: T) => {
    executions++;
    return v;
  };
  const body = sleepInside
    ? flow<number>()
      .step("inc", (n) => count(n + 1))
      .if("last", (n) => n === iterations, flow<number>().sleep("nap", "1h"))
    : flow<number>().step("inc", (n) => count(n + 1));
  let wf = workflow<number>(`resume-${iterations}-${sleepInside}`).loop("l", iterations, body);
  if (!sleepInside) wf = wf.sleep("nap", "1h");
  const final = wf.step("done", (n) => count(n));
  await using engine = new Engine({ driver, workflows: [final], clock });
  await using worker = engine.worker();
  await worker.start();
  const handle = await engine.start(final, 0);
  await clock.advance(0);
  assert.equal(await handle.status(), "sleeping");
  assert.equal(executions, iterations);
  driver.reset();
  executions = 0;
  await clock.advance("1h");
  assert.equal(await handle.result(), iterations);
  return {
    executions,
    reads: driver.reads,
    keysRead: driver.keysRead,
    rowsReturned: driver.rowsReturned,
  };
}

Deno.test("a run whose loop has 10,000 completed iterations resumes without re-running any", async () => {
  const cost = await resumeAfterLoop(10_000, false);
  assert.equal(cost.executions, 1, "only the step after the sleep runs");
});

Deno.test("resuming after a loop reads as many checkpoints for 10,000 iterations as for 10", async () => {
  const small = await resumeAfterLoop(10, false);
  const large = await resumeAfterLoop(10_000, false);
  assert.deepEqual(large, small);
  assert.ok(large.keysRead < 10, `${large.keysRead} keys read`);
});

Deno.test("resuming inside the 10,000th iteration reads as many checkpoints as inside the 10th", async () => {
  const small = await resumeAfterLoop(10, true);
  const large = await resumeAfterLoop(10_000, true);
  assert.equal(large.executions, 1);
  assert.equal(small.executions, 1);
  assert.equal(large.reads, small.reads);
  assert.equal(large.keysRead, small.keysRead);
  assert.ok(large.keysRead < 20, `${large.keysRead} keys read`);
});

Deno.test("an idle worker does not poll while its only run sleeps", async () => {
  const clock = new ManualClock(T0);
  const driver = new CountingDriver();
  const wf = workflow<number>("idle").sleep("nap", "1h").step("done", (n) => n);
  await using engine = new Engine({ driver, workflows: [wf], clock });
  await using worker = engine.worker({ pollInterval: 10 });
  await worker.start();
  const handle = await engine.start(wf, 1);
  await clock.advance(0);
  assert.equal(await handle.status(), "sleeping");
  await new Promise((resolve) => setTimeout(resolve, 10));
  driver.reset();
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(driver.claims, 0, "no claims in 60ms with a 10ms poll interval");
  await clock.advance("1h");
  assert.equal(await handle.result(), 1);
  assert.ok(driver.claims >= 1);
});

Deno.test("each completed step is one write, with no reads, on a fresh run", async () => {
  const driver = new CountingDriver();
  const wf = workflow<number>("one-write").loop("l", 100, flow<number>().step("s", (n) => n + 1));
  await using engine = new Engine({ driver, workflows: [wf] });
  await using worker = engine.worker();
  await worker.start();
  const handle = await engine.start(wf, 0);
  assert.equal(await handle.result(), 100);
  assert.equal(driver.reads, 0);
  assert.ok(driver.writes <= 101, `${driver.writes} writes`);
});
