/**
 * The narrow, lease-bound store an activation writes through: it reads its
 * run's step rows, writes under its lease, and consumes signals. It sees no
 * other run and cannot write without the lease. A write that fails on a
 * dropped connection (a transient `StorageError`) is tried again with backoff,
 * so losing a connection costs milliseconds, not the lease.
 *
 * @module
 */
import type {
  ConsumedSignal,
  Driver,
  Lease,
  NewRun,
  StepRow,
  StoredRun,
  WriteBatch,
} from "./driver.ts";
import { LeaseLostError, StorageError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { cancelCallChildren } from "./children.ts";

/** Pauses (ms) before each new try of a write that failed on a dropped connection. */
const WRITE_RETRIES: readonly number[] = [25, 100, 250, 500, 1_000];

/** Items per page when reading a run's history for its completed steps. */
const HISTORY_PAGE = 1_000;

/** @internal What an activation may do to storage: one run, under one lease. */
export interface LeaseStore {
  /** The run the lease is for. */
  readonly runId: string;
  /** Reads the run's step rows at `keys`. */
  readSteps(keys: readonly string[]): Promise<Map<string, StepRow>>;
  /**
   * The run's `done` rows of kind `step`, in the order they were written (the
   * history's order): what compensation undoes, in reverse.
   */
  completedSteps(): Promise<StepRow[]>;
  /**
   * Writes a batch under the lease. A write that fails on a dropped connection
   * is tried again unless `signal` is aborted meanwhile.
   */
  write(batch: WriteBatch, now: number, signal: AbortSignal): Promise<void>;
  /** Consumes the oldest signal named in `names`, writing `done` with it; else writes `batch`. */
  consumeSignal(
    names: readonly string[],
    done: StepRow,
    batch: WriteBatch,
    now: number,
  ): Promise<ConsumedSignal | undefined>;
  /** Creates a child run of this one (idempotent by id). */
  startChild(run: NewRun, now: number): Promise<{ run: StoredRun; created: boolean }>;
  /** Reads a run (a child's status and output). */
  readRun(runId: string): Promise<StoredRun | undefined>;
  /**
   * Cancels this run's unfinished `.call` children (after it failed; with
   * `compensate`, when it is being cancelled with compensation).
   */
  cancelCallChildren(reason: string, now: number, compensate?: boolean): Promise<void>;
}

/** @internal The store of one claimed run over `driver`. */
export function leaseStore(
  driver: Driver,
  runId: string,
  lease: Lease,
  logger: Logger,
): LeaseStore {
  /** Tries a write again, with backoff; any other error (`LeaseLostError` above all) is thrown. */
  const writeAgain = async (
    batch: WriteBatch,
    now: number,
    signal: AbortSignal,
    error: unknown,
  ): Promise<void> => {
    for (let attempt = 1;; attempt++) {
      if (!(error instanceof StorageError && error.transient) || attempt > WRITE_RETRIES.length) {
        throw error;
      }
      logger.warn(`run ${runId}: a write failed on the connection; trying again`, {
        runId,
        attempt,
        error: error.message,
      });
      await new Promise((resolve) => setTimeout(resolve, WRITE_RETRIES[attempt - 1]));
      if (signal.aborted) throw signal.reason;
      try {
        return await driver.write(lease, batch, now);
      } catch (again) {
        // The first try may have committed before the connection dropped: the
        // run is then no longer ours to write, which is what it looks like.
        if (again instanceof LeaseLostError && batch.run !== undefined) {
          logger.info(`run ${runId}: its final write had committed already`);
          return;
        }
        error = again;
      }
    }
  };
  return {
    runId,
    readSteps: (keys) => driver.readSteps(runId, keys),
    async completedSteps() {
      const rows: StepRow[] = [];
      let after: number | undefined;
      for (;;) {
        const page = await driver.history(
          runId,
          after === undefined ? { limit: HISTORY_PAGE } : { after, limit: HISTORY_PAGE },
        );
        for (const item of page) {
          if (item.source === "step" && item.row.state === "done" && item.row.kind === "step") {
            rows.push(item.row);
          }
        }
        if (page.length < HISTORY_PAGE) return rows;
        after = page[page.length - 1]!.seq;
      }
    },
    write(batch, now, signal) {
      const written = driver.write(lease, batch, now);
      // Only storage outside this process can drop a connection: the memory
      // driver's hot path stays one promise.
      if (!driver.shared) return written;
      return written.catch((error) => writeAgain(batch, now, signal, error));
    },
    consumeSignal: (names, done, batch, now) =>
      driver.consumeSignal(lease, names, done, batch, now),
    startChild: (run, now) => driver.createRun(run, now),
    readRun: (id) => driver.getRun(id),
    cancelCallChildren: (reason, now, compensate) =>
      cancelCallChildren(driver, runId, reason, now, compensate),
  };
}
