/**
 * The SQLite driver's connection: its options, opening a file (WAL, pragmas,
 * migrations, statements), its settings, and the errors it reports.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { type Duration, parseDuration } from "../../lib/duration.ts";
import { InvalidStateError, SluiceError, StorageError } from "../../lib/errors.ts";
import { existsSync } from "node:fs";
import { describe } from "../../lib/validate.ts";
import { migrateSchema, schemaVersion } from "./_schema.ts";
import { Statements } from "./_statements.ts";

/**
 * Options of {@linkcode SqliteDriver}.
 *
 * @example Sync every commit to disk and wait up to 10s for other processes
 * ```ts
 * import assert from "node:assert/strict";
 * import { SqliteDriver, type SqliteDriverOptions } from "@sluice/sluice/sqlite";
 *
 * const dir = await Deno.makeTempDir();
 * const options: SqliteDriverOptions = {
 *   path: `${dir}/sluice.db`,
 *   synchronous: "FULL",
 *   busyTimeoutMs: 10_000,
 *   watchInterval: "250ms",
 * };
 * const driver = new SqliteDriver(options); // opens nothing until first use
 * await assert.rejects(Deno.stat(options.path), Deno.errors.NotFound);
 * await driver.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface SqliteDriverOptions {
  /**
   * The database file; created with its directory's permissions when missing.
   * Every process that shares runs opens the same file.
   */
  path: string;
  /**
   * `NORMAL` (the WAL default: a power loss may drop the last commits, never
   * corrupt the file) or `FULL` (every commit is synced to disk).
   * @default {"NORMAL"}
   */
  synchronous?: "NORMAL" | "FULL";
  /**
   * How long a write waits for another process's transaction before failing
   * with `StorageError`.
   * @default {5000}
   */
  busyTimeoutMs?: number;
  /**
   * How often, while anyone subscribes, the driver checks whether another
   * process changed the file (so a signal sent elsewhere wakes a wait quickly).
   * @default {100}
   */
  watchInterval?: Duration;
  /**
   * Whether a missing file is created. With `false` (for read-only tools),
   * opening a missing file fails with a `StorageError` naming it instead.
   * @default {true}
   */
  create?: boolean;
}

/**
 * The effective settings of an open {@linkcode SqliteDriver}, read from SQLite
 * by {@linkcode SqliteDriver.settings}.
 *
 * @example The settings of an open database
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SqliteSettings } from "@sluice/sluice/sqlite";
 *
 * const settings: SqliteSettings = {
 *   path: "./sluice.db",
 *   journalMode: "wal",
 *   synchronous: "NORMAL",
 *   busyTimeoutMs: 5000,
 *   schemaVersion: 1,
 *   pageSize: 1024,
 *   walAutocheckpoint: 4096,
 * };
 * assert.equal(settings.journalMode, "wal");
 * ```
 */
export interface SqliteSettings {
  /** The database file. */
  path: string;
  /** `wal` for a file database. */
  journalMode: string;
  /** `NORMAL` or `FULL` (`OFF` and `EXTRA` never set by Sluice). */
  synchronous: string;
  /** The busy timeout in milliseconds. */
  busyTimeoutMs: number;
  /** The schema version (`PRAGMA user_version`). */
  schemaVersion: number;
  /**
   * The B-tree page size in bytes: 1,024 for a file this driver created; a
   * file created before keeps its own (SQLite cannot change it in WAL mode).
   */
  pageSize: number;
  /**
   * The WAL size, in pages, at which a commit checkpoints: 4 MiB of pages
   * (4,096 of 1 KiB; 1,024 of 4 KiB in a file created before, about SQLite's
   * default of 1,000).
   */
  walAutocheckpoint: number;
}

/** The checked options of a driver. */
export interface ConnectionSettings {
  /** The database file. */
  path: string;
  /** `PRAGMA synchronous`. */
  synchronous: "NORMAL" | "FULL";
  /** `PRAGMA busy_timeout`. */
  busyTimeoutMs: number;
  /** How often the change watcher looks, in ms. */
  watchMs: number;
  /** Whether a missing file is created. */
  create: boolean;
}

/** Checks a driver's options; throws `TypeError` or `RangeError` for bad ones. */
export function resolveOptions(options: SqliteDriverOptions): ConnectionSettings {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot create a SqliteDriver without options: pass { path }");
  }
  if (typeof options.path !== "string" || options.path.length === 0) {
    throw new TypeError(
      `Cannot create a SqliteDriver with 'path' ${
        typeof options.path === "string" ? "''" : `of type ${typeof options.path}`
      }: pass the path of the database file`,
    );
  }
  const synchronous = options.synchronous ?? "NORMAL";
  if (synchronous !== "NORMAL" && synchronous !== "FULL") {
    throw new TypeError(
      `Cannot use 'synchronous' '${String(synchronous)}': use 'NORMAL' or 'FULL'`,
    );
  }
  const busy = options.busyTimeoutMs ?? 5_000;
  if (!Number.isInteger(busy) || busy < 0 || busy > 2_147_483_647) {
    throw new RangeError(
      `Cannot use 'busyTimeoutMs' ${String(busy)}: use an integer number of milliseconds`,
    );
  }
  const watchMs = parseDuration(options.watchInterval ?? 100, "'watchInterval'");
  if (watchMs < 10) {
    throw new RangeError(`Cannot use 'watchInterval' ${watchMs}ms: use at least 10ms`);
  }
  const create = options.create ?? true;
  if (typeof create !== "boolean") {
    throw new TypeError(`Cannot use 'create' ${describe(create)}: pass true or false`);
  }
  return { path: options.path, synchronous, busyTimeoutMs: busy, watchMs, create };
}

/** The page cache of the connection, in KiB as `PRAGMA cache_size` takes it (negative). */
const CACHE_SIZE_KIB = -32_768;

/**
 * The B-tree page size of a new database file. A one-step run dirties about 16
 * pages, whatever their size, and every dirty page is written to the WAL and
 * flushed to disk at the next checkpoint; 1 KiB pages write a quarter of the
 * bytes of SQLite's 4 KiB default (ARCHITECTURE.md, "SQLite pages"). An
 * existing file keeps the page size it was created with.
 */
const PAGE_SIZE = 1024;

/**
 * The WAL size at which a commit checkpoints, in bytes: about SQLite's default
 * (1,000 pages of 4 KiB).
 */
const CHECKPOINT_WAL_BYTES = 4 * 1024 * 1024;

/** The error of every call on a closed driver. */
export function closedError(): InvalidStateError {
  return new InvalidStateError("Cannot use a closed SqliteDriver: create a new one");
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A failure while doing `action` as a `StorageError` (Sluice errors and `TypeError`s pass). */
export function storageError(c: ConnectionSettings, error: unknown, action: string): unknown {
  if (error instanceof SluiceError || error instanceof TypeError) return error;
  const message = errorMessage(error);
  if (/database is locked|SQLITE_BUSY/i.test(message)) {
    return new StorageError(
      `Cannot ${action} SQLite database '${c.path}' as another connection holds its lock for more than ${c.busyTimeoutMs}ms: raise 'busyTimeoutMs' or shorten the other connection's transactions`,
      { cause: error },
    );
  }
  return new StorageError(
    `Cannot ${action} SQLite database '${c.path}': ${message}`,
    { cause: error },
  );
}

/** Opens the database: WAL, pragmas, migrations, statements. */
export function openDatabase(c: ConnectionSettings): { db: DatabaseSync; statements: Statements } {
  let db: DatabaseSync | undefined;
  try {
    if (!c.create && c.path !== ":memory:" && !existsSync(c.path)) {
      throw new StorageError(
        `Cannot open SQLite database '${c.path}' as the file does not exist: check the path (nothing was created)`,
      );
    }
    db = new DatabaseSync(c.path, { timeout: c.busyTimeoutMs });
    // Takes effect only on a file without tables yet (before WAL mode is on).
    db.exec(`PRAGMA page_size = ${PAGE_SIZE}`);
    enableWal(db, c.busyTimeoutMs);
    db.exec(
      c.synchronous === "FULL" ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
    );
    db.exec(`PRAGMA cache_size = ${CACHE_SIZE_KIB}`);
    migrateSchema(db, c.path);
    db.exec(`PRAGMA wal_autocheckpoint = ${Math.ceil(CHECKPOINT_WAL_BYTES / pageSize(db))}`);
    return { db, statements: new Statements(db) };
  } catch (error) {
    try {
      db?.close();
    } catch {
      // the open failed already; report that error
    }
    throw storageError(c, error, "open");
  }
}

/** Switches to WAL; a brand-new file opened by several processes at once may need a retry. */
function enableWal(db: DatabaseSync, busyTimeoutMs: number): void {
  let waited = 0;
  for (let attempt = 0;; attempt++) {
    try {
      db.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (error) {
      if (!/locked|busy/i.test(errorMessage(error)) || waited >= busyTimeoutMs) throw error;
      // A short synchronous pause: the other connection is switching the file now.
      const pause = Math.min(2 ** attempt, 50);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
      waited += pause;
    }
  }
}

function pageSize(db: DatabaseSync): number {
  return (db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
}

/** The effective settings, read from SQLite. */
export function readSettings(db: DatabaseSync, path: string): SqliteSettings {
  const mode = db.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
  const sync = db.prepare("PRAGMA synchronous").get() as { synchronous: number };
  const busy = db.prepare("PRAGMA busy_timeout").get() as Record<string, number>;
  return {
    path,
    journalMode: mode.journal_mode,
    synchronous: ["OFF", "NORMAL", "FULL", "EXTRA"][sync.synchronous] ?? String(sync.synchronous),
    busyTimeoutMs: Object.values(busy)[0] ?? 0,
    schemaVersion: schemaVersion(db),
    pageSize: pageSize(db),
    walAutocheckpoint: Object.values(
      db.prepare("PRAGMA wal_autocheckpoint").get() as Record<string, number>,
    )[0] ?? 0,
  };
}
