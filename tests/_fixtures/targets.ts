/**
 * Durable storage targets for tests that run worker processes: a SQLite file,
 * and (when enabled) a PostgreSQL schema. Each target can open drivers in the
 * test process and tells worker processes where to connect.
 */
import type { Driver } from "../../mod.ts";
import { SqliteDriver } from "../../drivers/sqlite/mod.ts";
import { PostgresDriver } from "../../drivers/postgres/mod.ts";
import { dropSchema, POSTGRES_ENABLED, POSTGRES_URL, tempSchema } from "./drivers.ts";

/** Where a test's runs live. */
export interface Target {
  /** `sqlite` or `postgres`. */
  kind: string;
  /** The `--db` argument for worker processes. */
  db: string;
  /** The PostgreSQL schema, if any. */
  schema?: string;
  /** A scratch folder for logs. */
  dir: string;
  /** Opens a driver in the test process. */
  open(): Driver;
  /** Removes the storage and the scratch folder. */
  cleanup(): Promise<void>;
}

/** Makes a fresh target of a kind. */
export async function makeTarget(kind: "sqlite" | "postgres"): Promise<Target> {
  const dir = await Deno.makeTempDir({ prefix: `sluice-${kind}-` });
  if (kind === "sqlite") {
    const db = `${dir}/runs.db`;
    return {
      kind,
      db,
      dir,
      open: () => new SqliteDriver({ path: db }),
      cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    };
  }
  const schema = tempSchema();
  return {
    kind,
    db: POSTGRES_URL,
    schema,
    dir,
    open: () => new PostgresDriver({ url: POSTGRES_URL, schema, poolSize: 4 }),
    cleanup: async () => {
      await dropSchema(schema);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** The durable target kinds available here (PostgreSQL always under CI). */
export function targetKinds(): ("sqlite" | "postgres")[] {
  return POSTGRES_ENABLED ? ["sqlite", "postgres"] : ["sqlite"];
}
