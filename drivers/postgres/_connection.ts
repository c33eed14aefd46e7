/**
 * The PostgreSQL driver's connection: its options, the pool it creates or is
 * given, the `NOTIFY` channel, and the schema migrations.
 *
 * @module
 */
import postgres from "postgres";
import { InvalidStateError, StorageError } from "../../lib/errors.ts";
import { redact, secretsOf, toStorageError } from "./_errors.ts";
import { reconnectDelay } from "./_listen.ts";
import { migrations, SCHEMA_NAME } from "./_migrations.ts";
import type { Statements } from "./_sql.ts";

/**
 * An `npm:postgres` instance, as `postgres(url, options)` returns it.
 *
 * @example Make the instance to pass as the `sql` option
 * ```ts
 * import assert from "node:assert/strict";
 * import postgres from "postgres";
 * import type { PostgresSql } from "@sluice/sluice/postgres";
 *
 * const sql: PostgresSql = postgres("postgres://postgres@127.0.0.1:5432/app");
 * assert.equal(sql.options.database, "app");
 * await sql.end();
 * ```
 */
export type PostgresSql = postgres.Sql;

/**
 * Options of {@linkcode PostgresDriver}: give either a connection `url` (the
 * driver owns the pool) or a `sql` instance of `npm:postgres` (you own it).
 *
 * @example Keep a deployment's tables in their own schema
 * ```ts
 * import assert from "node:assert/strict";
 * import { PostgresDriver, type PostgresDriverOptions } from "@sluice/sluice/postgres";
 *
 * const options: PostgresDriverOptions = {
 *   url: "postgres://postgres@127.0.0.1:5432/app",
 *   schema: "billing_workflows",
 * };
 * const driver = new PostgresDriver(options); // connects on first use
 * assert.equal(driver.shared, true);
 * await driver.close();
 * ```
 */
export interface PostgresDriverOptions {
  /**
   * A connection URL such as `postgres://user:password@host:5432/db`. The
   * driver creates a pool and ends it on `close()`. The password never appears
   * in errors or logs.
   */
  url?: string;
  /**
   * An existing `npm:postgres` instance, created without `transform` options.
   * The caller owns it: `close()` does not end it. The driver opens one extra
   * connection for `LISTEN` and closes it on `close()`.
   */
  sql?: PostgresSql;
  /**
   * The schema that holds the tables: a lower-case identifier matching
   * `^[a-z_][a-z0-9_]{0,62}$`. Created on first use.
   * @default {"sluice"}
   */
  schema?: string;
  /**
   * Whether a missing schema is created. With `false` (for read-only tools),
   * using a schema that does not exist (or holds no Sluice tables) fails with
   * a `StorageError` naming it instead.
   * @default {true}
   */
  create?: boolean;
  /**
   * Connections in the pool (only with `url`).
   * @default {10}
   */
  poolSize?: number;
}

/** A short stable hash, for channel names that would be too long. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** A driver's checked options and its pool. */
export interface Connection {
  /** The schema name. */
  schema: string;
  /** The schema name, quoted for SQL. */
  quoted: string;
  /** The `NOTIFY` channel (at most 63 bytes). */
  channel: string;
  /** The pool. */
  sql: postgres.Sql;
  /** Text to remove from error messages. */
  secrets: string[];
  /** Whether the driver created the pool (and ends it on `close()`). */
  ownsPool: boolean;
}

/** Checks a driver's options and creates its pool (nothing connects yet). */
export function connect(options: PostgresDriverOptions): Connection {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      "Cannot create a PostgresDriver without options: pass { url } or { sql }",
    );
  }
  const { url, sql } = options;
  if ((url === undefined) === (sql === undefined)) {
    throw new TypeError(
      "Cannot create a PostgresDriver without exactly one of 'url' and 'sql': pass one of them",
    );
  }
  if (options.create !== undefined && typeof options.create !== "boolean") {
    throw new TypeError(`Cannot use 'create' ${String(options.create)}: pass true or false`);
  }
  const schema = options.schema ?? "sluice";
  if (typeof schema !== "string" || !SCHEMA_NAME.test(schema)) {
    throw new TypeError(
      `Cannot use schema ${
        typeof schema === "string" ? `'${schema}'` : `of type ${typeof schema}`
      }: use a lower-case identifier of 1 to 63 letters, digits and '_' that does not start with a digit`,
    );
  }
  const long = `sluice_${schema}`;
  const channel = long.length <= 63 ? long : `sluice_${schema.slice(0, 46)}_${fnv1a(schema)}`;
  if (url !== undefined) {
    if (typeof url !== "string" || !/^postgres(ql)?:\/\//.test(url)) {
      throw new TypeError(
        "Cannot use the 'url' option as it is not a postgres:// or postgresql:// URL: pass a connection URL",
      );
    }
    const poolSize = options.poolSize ?? 10;
    if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1000) {
      throw new RangeError(
        `Cannot use 'poolSize' ${String(poolSize)}: it must be an integer from 1 to 1000`,
      );
    }
    const secrets = secretsOf(url, undefined);
    let pool: postgres.Sql;
    try {
      pool = postgres(url, { max: poolSize, onnotice: () => {}, backoff: reconnectDelay });
    } catch (error) {
      throw new TypeError(
        `Cannot use the 'url' option: ${
          redact(error instanceof Error ? error.message : String(error), secrets)
        }`,
      );
    }
    return { schema, quoted: `"${schema}"`, channel, sql: pool, secrets, ownsPool: true };
  } else {
    if (typeof sql !== "function" || typeof (sql as postgres.Sql).unsafe !== "function") {
      throw new TypeError(
        "Cannot use the 'sql' option as it is not an npm:postgres instance: pass postgres(url)",
      );
    }
    const secrets = secretsOf(undefined, sql.options?.pass);
    return { schema, quoted: `"${schema}"`, channel, sql, secrets, ownsPool: false };
  }
}

/** Creates or upgrades the schema under a transaction-level advisory lock. */
export async function migrateSchema(
  sql: postgres.Sql,
  st: Statements,
  schema: string,
  quoted: string,
  secrets: readonly string[],
  create = true,
): Promise<void> {
  const all = migrations(quoted);
  const latest = all[all.length - 1]!.version;
  if (!create) {
    let info: Record<string, unknown> | undefined;
    try {
      [info] = await sql.unsafe(st.inspect, [schema, `${quoted}.sluice_migrations`]);
    } catch (error) {
      throw toStorageError(`inspect schema '${schema}'`, error, secrets);
    }
    if (!info?.has_schema || !info.has_table) {
      throw new StorageError(
        `Cannot use PostgreSQL schema '${schema}' as it ${
          info?.has_schema ? "holds no Sluice tables" : "does not exist"
        }: check the schema name (nothing was created)`,
      );
    }
  }
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe(st.lockMigrations, [`sluice.migrate.${schema}`]);
      const [info] = await tx.unsafe(st.inspect, [
        schema,
        `${quoted}.sluice_migrations`,
      ]);
      if (!info!.has_schema) await tx.unsafe(st.createSchema);
      if (!info!.has_table) await tx.unsafe(st.createMigrations);
      const [current] = await tx.unsafe(st.currentVersion);
      const version = current!.version as number;
      if (version > latest) {
        throw new InvalidStateError(
          `Cannot use schema '${schema}' at version ${version} as this driver knows versions up to ${latest}: upgrade Sluice`,
        );
      }
      for (const migration of all) {
        if (migration.version <= version) continue;
        for (const statement of migration.statements) await tx.unsafe(statement);
        await tx.unsafe(st.recordMigration, [migration.version, migration.name]);
      }
    });
  } catch (error) {
    throw toStorageError(`migrate schema '${schema}'`, error, secrets);
  }
}
