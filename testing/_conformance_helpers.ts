/**
 * Helpers shared by the conformance cases.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Claim, Driver, DriverNotice, Lease, StepRow } from "../lib/driver.ts";
import { done, newRun, T0, WF } from "./rows.ts";

/** One case of the suite. */
export interface ConformanceCase {
  name: string;
  /** The case closes the driver itself (through an Engine, or to test `close()`). */
  closes?: boolean;
  /**
   * The case body. `dispose` registers an engine or worker to dispose of when
   * the case ends, last registered first: what `await using` does, which Node
   * 22 cannot parse.
   */
  fn: (driver: Driver, dispose: <T extends AsyncDisposable>(resource: T) => T) => Promise<void>;
}

/** The lease of the cases' claims. */
export const LEASE_MS = 30_000;

export function pending(key: string, data: string): StepRow {
  return { key, kind: "step", state: "pending", data, attempt: 1 };
}

export async function claimAll(
  driver: Driver,
  now: number,
  options: { workerId?: string; leaseMs?: number; limit?: number; workflows?: string[] } = {},
): Promise<Claim[]> {
  return await driver.claimRuns({
    workerId: options.workerId ?? "worker-1",
    now,
    leaseMs: options.leaseMs ?? LEASE_MS,
    limit: options.limit ?? 100,
    workflows: options.workflows ?? [WF],
  });
}

/** Creates a run and claims it; returns its lease. */
export async function started(
  driver: Driver,
  id: string,
  now = T0,
  leaseMs = LEASE_MS,
): Promise<Lease> {
  await driver.createRun(newRun(id, { dueAt: now }), now);
  const claims = await claimAll(driver, now, { leaseMs });
  const claim = claims.find((c) => c.run.id === id);
  assert.ok(claim, `run '${id}' should be claimable`);
  return claim.lease;
}

/** Creates and claims a run, writes its `done` row `a`, then ends it `completed` or `failed` at `at`. */
export async function finished(
  driver: Driver,
  id: string,
  at: number,
  status: "completed" | "failed",
): Promise<void> {
  const lease = await started(driver, id);
  await driver.write(lease, { steps: [done("a", "1")] }, at);
  await driver.write(
    lease,
    {
      run: status === "completed"
        ? { status, output: "1" }
        : { status, error: { name: "Error", message: "x" } },
    },
    at,
  );
}

export function ids(claims: readonly Claim[]): string[] {
  return claims.map((c) => c.run.id);
}

export async function rowsOf(driver: Driver, runId: string, keys: string[]): Promise<StepRow[]> {
  const rows = await driver.readSteps(runId, keys);
  return keys.flatMap((key) => rows.has(key) ? [rows.get(key)!] : []);
}

/** Events and `done` rows of a history, as short labels, in order. */
export async function timeline(driver: Driver, runId: string): Promise<string[]> {
  const items = await driver.history(runId);
  const seqs = items.map((item) => item.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "history is ordered by seq");
  assert.equal(new Set(seqs).size, seqs.length, "history seqs are unique");
  return items.flatMap((item) =>
    item.source === "event"
      ? [`${item.event.type}${item.event.step ? `:${item.event.step}` : ""}`]
      : item.row.state === "done"
      ? [`row:${item.row.key}`]
      : []
  );
}

export function collect(driver: Driver): { notices: DriverNotice[]; off: () => void } {
  const notices: DriverNotice[] = [];
  const off = driver.subscribe((notice) => {
    if (notice.type !== "changed") notices.push(notice);
  });
  return { notices, off };
}

export function has(
  notices: readonly DriverNotice[],
  type: DriverNotice["type"],
  runId: string,
): boolean {
  return notices.some((n) => n.type === type && n.runId === runId);
}
