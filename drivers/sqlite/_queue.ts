/**
 * The SQLite driver's write queue (group commit): writes queued during one
 * turn of the event loop run in one `BEGIN IMMEDIATE … COMMIT`, each under its
 * own savepoint with its own result; reads run after the queued writes.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { DriverNotice } from "../../lib/driver.ts";
import { SluiceError } from "../../lib/errors.ts";
import type { Statements } from "./_statements.ts";

/** Microtask rounds a flush waits for more writes to join its transaction. */
const MAX_GATHER_ROUNDS = 8;

/** What the queue needs from its driver. */
export interface QueueHost {
  /** The statements, opening the database on first use; throws when closed. */
  ready(): Statements;
  /** The statements of the open database. */
  statements(): Statements;
  /** The open connection, if any. */
  db(): DatabaseSync | undefined;
  /** Whether the driver is closed. */
  closed(): boolean;
  /** Drops the local lease records (after a rollback they may be wrong). */
  forget(): void;
  /** Tells the subscribers. */
  emit(notice: DriverNotice): void;
  /** The error to report for a failure while doing `action`. */
  storageError(error: unknown, action: string): unknown;
}

class Job {
  ok = false;
  value: unknown = undefined;
  error: unknown = undefined;
  notices: DriverNotice[] | undefined = undefined;
  constructor(
    readonly exec: () => unknown,
    readonly simple: (() => boolean) | undefined,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

/** The write queue of one connection. */
export class WriteQueue {
  readonly #host: QueueHost;
  #queue: Job[] = [];
  #scheduled = false;
  #generation = 0;
  #current: Job | undefined;

  constructor(host: QueueHost) {
    this.#host = host;
  }

  /** Whether writes wait in the queue. */
  get pending(): boolean {
    return this.#queue.length > 0;
  }

  /**
   * Queues a write; writes queued in the same turn of the event loop share one
   * transaction. `simple` tells (at flush time) whether the write is a single
   * statement that needs no transaction of its own.
   */
  enqueue<T>(exec: () => T, simple?: () => boolean): Promise<T> {
    try {
      this.#host.ready();
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push(new Job(exec, simple, resolve as (value: unknown) => void, reject));
      if (this.#scheduled) return;
      this.#scheduled = true;
      const generation = ++this.#generation;
      const seen = this.#queue.length;
      queueMicrotask(() => this.#gather(generation, seen, 0));
    });
  }

  /** Flushes once a microtask round brought no more writes (bounded). */
  #gather(generation: number, seen: number, rounds: number): void {
    if (!this.#scheduled || generation !== this.#generation || this.#host.closed()) return;
    const size = this.#queue.length;
    if (size > seen && rounds < MAX_GATHER_ROUNDS) {
      queueMicrotask(() => this.#gather(generation, size, rounds + 1));
      return;
    }
    this.flush();
  }

  #execute(job: Job): void {
    this.#current = job;
    try {
      job.value = job.exec();
      job.ok = true;
    } catch (error) {
      job.ok = false;
      job.error = error;
    } finally {
      this.#current = undefined;
    }
  }

  /**
   * After a rollback the local lease records may describe rows that were never
   * committed: drop them all (rare). Later writes re-read the journal instead.
   * Sluice errors (a lost lease, an unknown run) are thrown before anything is
   * written, so they leave the records alone.
   */
  #forget(error: unknown): void {
    if (!(error instanceof SluiceError)) this.#host.forget();
  }

  #fail(job: Job, error: unknown): void {
    job.ok = false;
    job.error = error;
    this.#forget(error);
  }

  #rollbackQuietly(): void {
    try {
      if (this.#host.db()?.isTransaction) this.#host.statements().rollback.run();
    } catch {
      // the transaction is gone already
    }
  }

  /** Runs every queued write, in one transaction when there are several. */
  flush(): void {
    this.#scheduled = false;
    const jobs = this.#queue;
    if (jobs.length === 0) return;
    this.#queue = [];
    if (jobs.length === 1 && jobs[0]!.simple?.()) {
      // One statement: its own transaction (autocommit), nothing to roll back.
      const job = jobs[0]!;
      this.#execute(job);
      if (!job.ok) this.#forget(job.error);
    } else {
      this.#transaction(jobs);
    }
    let written = false;
    for (const job of jobs) {
      written ||= job.ok;
      if (job.ok && job.notices) { for (const notice of job.notices) this.#host.emit(notice); }
    }
    if (written) this.#host.emit({ type: "written" });
    for (const job of jobs) {
      if (job.ok) job.resolve(job.value);
      else job.reject(this.#host.storageError(job.error, "write to"));
    }
  }

  /**
   * Runs jobs in one `BEGIN IMMEDIATE … COMMIT`. A job of several statements
   * runs under a savepoint, so its failure undoes only its own writes.
   */
  #transaction(jobs: Job[]): void {
    const s = this.#host.statements();
    const db = this.#host.db()!;
    try {
      s.begin.run();
    } catch (error) {
      for (const job of jobs) this.#fail(job, error);
      return;
    }
    const single = jobs.length === 1;
    for (const job of jobs) {
      if (!db.isTransaction) {
        this.#fail(job, new Error("the transaction was rolled back by an earlier error"));
        continue;
      }
      if (single || job.simple?.()) {
        this.#execute(job);
        if (!job.ok) this.#forget(job.error);
        continue;
      }
      try {
        s.savepoint.run();
      } catch (error) {
        this.#fail(job, error);
        continue;
      }
      this.#execute(job);
      if (job.ok) {
        try {
          s.release.run();
        } catch (error) {
          this.#fail(job, error);
        }
        continue;
      }
      this.#forget(job.error);
      try {
        s.rollbackTo.run();
        s.release.run();
      } catch {
        // the savepoint went with the transaction; later jobs see that
      }
    }
    if (!db.isTransaction) {
      const lost = new Error("the transaction was rolled back by an error");
      for (const job of jobs) if (job.ok) this.#fail(job, lost);
      return;
    }
    if (single && !jobs[0]!.ok) {
      this.#rollbackQuietly();
      return;
    }
    try {
      s.commit.run();
    } catch (error) {
      this.#rollbackQuietly();
      for (const job of jobs) if (job.ok) this.#fail(job, error);
    }
  }

  /** Runs a read after the queued writes, so reads see earlier writes. */
  read<T>(fn: (s: Statements) => T): Promise<T> {
    try {
      const s = this.#host.ready();
      if (this.#queue.length > 0) this.flush();
      return Promise.resolve(fn(s));
    } catch (error) {
      return Promise.reject(this.#host.storageError(error, "read from"));
    }
  }

  /** Runs several reads on one snapshot. */
  snapshot<T>(fn: () => T): T {
    const s = this.#host.statements();
    s.beginRead.run();
    try {
      return fn();
    } finally {
      if (this.#host.db()!.isTransaction) s.commit.run();
    }
  }

  notify(type: DriverNotice["type"], runId: string, reason?: string): void {
    const notice: DriverNotice = { type, runId };
    if (reason !== undefined) notice.reason = reason;
    (this.#current!.notices ??= []).push(notice);
  }
}
