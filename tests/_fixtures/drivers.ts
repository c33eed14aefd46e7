/**
 * Driver factories for tests that run against every driver with real storage:
 * memory, SQLite files in a temp folder, and PostgreSQL (a fresh schema per
 * driver, dropped on close).
 *
 * PostgreSQL comes from `SLUICE_POSTGRES_URL` (default the local test
 * database). Under `CI=true` it must be reachable: the factory list includes it
 * and its tests fail loudly otherwise. Outside CI, an unreachable database is
 * skipped with a printed notice.
 */
import postgres from "postgres";
import { type Driver, MemoryDriver } from "../../mod.ts";
import { SqliteDriver } from "../../drivers/sqlite/mod.ts";
import { PostgresDriver } from "../../drivers/postgres/mod.ts";

/** Makes fresh drivers of one kind. */
export interface DriverFactory {
  /** `memory`, `sqlite` or `postgres`. */
  name: string;
  /** A new, empty driver; closing it removes its storage. */
  create(): Promise<Driver>;
}

/** The PostgreSQL URL used by the tests. */
export const POSTGRES_URL: string = Deno.env.get("SLUICE_POSTGRES_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";

/** Whether the tests run under CI (PostgreSQL is then mandatory). */
export const IN_CI: boolean = Deno.env.get("CI") === "true";

async function reachable(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Whether PostgreSQL tests run (always under CI). */
export const POSTGRES_ENABLED: boolean = IN_CI || await reachable(POSTGRES_URL);
if (!POSTGRES_ENABLED) {
  console.warn(
    `NOTICE: PostgreSQL at ${POSTGRES_URL.replace(/:[^:@/]*@/, ":***@")} is unreachable; ` +
      "its tests are skipped (they always run under CI=true)",
  );
}

/** A fresh SQLite file path in a new temp folder (removed by `removeSqlite`). */
export async function tempSqlitePath(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "sluice-test-" });
  return `${dir}/sluice.db`;
}

class TempSqliteDriver extends SqliteDriver {
  readonly #dir: string;
  constructor(path: string) {
    super({ path });
    this.#dir = path.slice(0, path.lastIndexOf("/"));
  }
  override async close(): Promise<void> {
    await super.close();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** A fresh PostgreSQL schema name. */
export function tempSchema(): string {
  return `sluice_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

/** Drops a PostgreSQL schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const sql = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`drop schema if exists "${schema}" cascade`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

class TempPostgresDriver extends PostgresDriver {
  readonly #schema: string;
  constructor(schema: string) {
    super({ url: POSTGRES_URL, schema, poolSize: 4 });
    this.#schema = schema;
  }
  override async close(): Promise<void> {
    await super.close();
    await dropSchema(this.#schema);
  }
}

/** Factories for every driver available here. */
export function driverFactories(): DriverFactory[] {
  const factories: DriverFactory[] = [
    { name: "memory", create: () => Promise.resolve(new MemoryDriver()) },
    {
      name: "sqlite",
      create: async () => new TempSqliteDriver(await tempSqlitePath()),
    },
  ];
  if (POSTGRES_ENABLED) {
    factories.push({
      name: "postgres",
      create: () => Promise.resolve(new TempPostgresDriver(tempSchema())),
    });
  }
  return factories;
}
