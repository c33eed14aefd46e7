/**
 * What the driver's reads take and return: run filters and pages (with their
 * cursors), history pages and the feed, stored workers, purge options. Part
 * of the driver interface (`driver.ts`).
 *
 * @module
 */
import type { StepRow, StoredEvent } from "./driver_rows.ts";
import type { RunStatus, StoredRun } from "./driver_runs.ts";

/**
 * Filters of `listRuns`.
 *
 * @example List pending runs of one workflow with a label
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type RunFilter } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const base = { version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun({ ...base, id: "a", workflow: "billing", labels: { shop: "eu" } }, 0);
 * await driver.createRun({ ...base, id: "b", workflow: "billing" }, 1);
 * await driver.createRun({ ...base, id: "c", workflow: "shipping" }, 2);
 * const filter: RunFilter = { status: "pending", workflow: "billing", labels: { shop: "eu" } };
 * assert.deepEqual((await driver.listRuns(filter)).runs.map((r) => r.id), ["a"]);
 * await driver.close();
 * ```
 */
export interface RunFilter {
  /** Only runs in this status (or these statuses). */
  status?: RunStatus | RunStatus[];
  /** Only runs of this workflow. */
  workflow?: string;
  /** Only runs carrying all these labels. */
  labels?: Record<string, string>;
  /** Only runs created at or after this time (epoch ms). */
  createdAfter?: number;
  /** Only runs created at or before this time (epoch ms). */
  createdBefore?: number;
  /** Only children of this run (`.call` and `.spawn`). */
  parentId?: string;
  /**
   * Page size.
   * @default {100}
   */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string | undefined;
}

/**
 * A page of runs, newest first.
 *
 * @example Page through runs, newest first
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredRunPage } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const base = { workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * for (const [i, id] of ["a", "b", "c"].entries()) await driver.createRun({ ...base, id }, i);
 * const first: StoredRunPage = await driver.listRuns({ limit: 2 });
 * const next: StoredRunPage = await driver.listRuns({ limit: 2, cursor: first.nextCursor });
 * assert.deepEqual(first.runs.map((r) => r.id), ["c", "b"]);
 * assert.deepEqual(next.runs.map((r) => r.id), ["a"]);
 * assert.equal(next.nextCursor, undefined);
 * await driver.close();
 * ```
 */
export interface StoredRunPage {
  /** The runs. */
  runs: StoredRun[];
  /** Pass it as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

/**
 * Which finished runs `purge` deletes besides the cut-off.
 *
 * @example Purge at most 100 old completed runs
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type PurgeOptions } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const options: PurgeOptions = { status: "completed", limit: 100 };
 * assert.equal(await driver.purge(Date.now(), options), 0);
 * await driver.close();
 * ```
 */
export interface PurgeOptions {
  /** Only runs of this final status. */
  status?: "completed" | "failed" | "cancelled";
  /** At most this many runs (a positive integer), the oldest first. */
  limit?: number;
}

/**
 * A worker's heartbeat row: who it is and what it serves.
 *
 * @example Record a worker and list it
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredWorker } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const worker: StoredWorker = {
 *   id: "w-1",
 *   host: "box-1",
 *   pid: 42,
 *   startedAt: 1_000,
 *   lastSeenAt: 5_000,
 *   heartbeatMs: 10_000,
 *   serves: [{ workflow: "pay", version: "1", planHash: "h" }],
 * };
 * await driver.recordWorker(worker, 0);
 * assert.deepEqual(await driver.listWorkers(), [worker]);
 * await driver.removeWorker("w-1");
 * assert.deepEqual(await driver.listWorkers(), []);
 * await driver.close();
 * ```
 */
export interface StoredWorker {
  /** The worker id. */
  id: string;
  /** The host name of its machine. */
  host: string;
  /** Its process id. */
  pid: number;
  /** When it started (epoch ms). */
  startedAt: number;
  /** Its last heartbeat (epoch ms). */
  lastSeenAt: number;
  /** How often it heartbeats (ms): it is live while seen within three of them. */
  heartbeatMs: number;
  /** The workflow versions it serves. */
  serves: { workflow: string; version: string; planHash: string }[];
}

/**
 * Which part of a stored history to read.
 *
 * @example Read a history two items at a time
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredHistoryPage } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const { lease } = (await driver.claimRuns(claim))[0]!;
 * await driver.write(lease, { steps: [{ key: "charge", kind: "step", state: "done" }] }, 3);
 * const first = await driver.history("r-1", { limit: 2 });
 * const page: StoredHistoryPage = { after: first.at(-1)!.seq, limit: 2 };
 * const rest = await driver.history("r-1", page);
 * assert.deepEqual([...first, ...rest], await driver.history("r-1"));
 * assert.equal(rest.length, 1); // shorter than the limit: the last page
 * await driver.close();
 * ```
 */
export interface StoredHistoryPage {
  /** Only items whose `seq` is above this one (the last `seq` of the previous page). */
  after?: number;
  /** Most items to return (a positive integer). */
  limit: number;
}

/**
 * One item of a stored history: an event, or a checkpoint row seen as events.
 *
 * @example Events and checkpoint rows, in write order
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredHistoryItem } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * const claim = { workerId: "w-1", now: 0, leaseMs: 1_000, limit: 1, workflows: ["pay"] };
 * const { lease } = (await driver.claimRuns(claim))[0]!;
 * await driver.write(lease, { steps: [{ key: "charge", kind: "step", state: "done" }] }, 3);
 * const items: StoredHistoryItem[] = await driver.history("r-1");
 * assert.deepEqual(
 *   items.map((i) => (i.source === "event" ? i.event.type : `row ${i.row.key}`)),
 *   ["run.created", "run.started", "row charge"],
 * );
 * await driver.close();
 * ```
 */
export type StoredHistoryItem =
  | { source: "event"; seq: number; event: StoredEvent }
  | { source: "step"; seq: number; row: StepRow };

/**
 * One item of the feed (`Driver.feed`): a history item of some run, with its
 * place in commit order.
 *
 * @example Read the feed of every run, in commit order
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver, type StoredFeedItem } from "@sluice/sluice";
 *
 * const driver = new MemoryDriver();
 * const run = { id: "r-1", workflow: "pay", version: "1", planHash: "h", labels: {}, dueAt: 0 };
 * await driver.createRun(run, 0);
 * await driver.createRun({ ...run, id: "r-2" }, 1);
 * const items: StoredFeedItem[] = await driver.feed(undefined, 10);
 * assert.deepEqual(items.map((i) => i.runId), ["r-1", "r-2"]);
 * assert.deepEqual(await driver.feed(items[0]!.cursor, 10), [items[1]]);
 * await driver.close();
 * ```
 */
export interface StoredFeedItem {
  /** Its place in the feed: pass it as `after` to read what follows. */
  cursor: string;
  /** The run. */
  runId: string;
  /** The run's workflow. */
  workflow: string;
  /** The history item. */
  item: StoredHistoryItem;
}

/** Encodes a list position as an opaque cursor (shared by all drivers). */
export function encodeCursor(createdAt: number, id: string): string {
  return btoa(JSON.stringify([createdAt, id]));
}

/** Decodes a cursor made by {@linkcode encodeCursor}; throws `TypeError` when malformed. */
export function decodeCursor(cursor: string): [number, string] {
  try {
    const value = JSON.parse(atob(cursor));
    if (
      Array.isArray(value) && value.length === 2 && Number.isFinite(value[0]) &&
      typeof value[1] === "string"
    ) return value as [number, string];
  } catch {
    // fall through to the error below
  }
  throw new TypeError(
    `Cannot use cursor '${cursor}': pass the 'nextCursor' of a previous page`,
  );
}
