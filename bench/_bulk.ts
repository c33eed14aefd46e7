/**
 * Driver-internal bulk fill for the scale benchmark: copies one real finished
 * run (every row it has in every per-run table) `count` times with bulk SQL,
 * so a store holds a million finished runs in minutes instead of hours. Copies
 * get ids `old-<i>`, one of ten workflows `scale-old-<i % 10>`, the label
 * `tenant: t<i % 100>`, and times shifted into the past (one run a second,
 * the newest a second before the template); every other column is the
 * template's, so the rows have exactly the shape the drivers write.
 */
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";

/** Rows copied per statement. */
const BATCH = 100_000;

/** The template's time columns (epoch ms) are shifted: `at` and every `*_at`. */
const isTime = (column: string) => column === "at" || column.endsWith("_at");

/** Copies the finished run `templateId` of the SQLite file `path` `count` times. */
export function fillSqlite(path: string, templateId: string, count: number): void {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA synchronous = OFF");
    const columns = (table: string) =>
      (db.prepare(`SELECT name FROM pragma_table_info(?1)`).all(table) as { name: string }[])
        .map((c) => c.name);
    // run_labels is kept by triggers on runs.
    const tables = (db.prepare(
      `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT IN ('runs', 'run_labels')
         AND EXISTS (SELECT 1 FROM pragma_table_info(name) WHERE name = 'rid')`,
    ).all() as { name: string }[]).map((t) => t.name);
    const t = db.prepare("SELECT rid, created_at FROM runs WHERE id = ?1").get(templateId) as {
      rid: number;
      created_at: number;
    };
    // The template's journal rows, numbered: copy i of row j gets seq base + i * k + j.
    db.exec("CREATE TEMP TABLE tj (idx INTEGER PRIMARY KEY, seq INTEGER UNIQUE)");
    db.prepare("INSERT INTO tj (seq) SELECT seq FROM journal WHERE rid = ?1 ORDER BY seq")
      .run(t.rid);
    const k = (db.prepare("SELECT count(*) AS n FROM tj").get() as { n: number }).n;
    const base = (db.prepare("SELECT coalesce(max(seq), 0) + 1 AS b FROM journal").get() as {
      b: number;
    }).b;
    const rbase = (db.prepare("SELECT max(rid) + 1 AS b FROM runs").get() as { b: number }).b;
    // :i is the copy (0 …); the offset puts copy i (count - i) seconds before the template.
    const offset = "((n.i - :count) * 1000)";
    const value = (table: string, column: string): string => {
      if (column === "rid") return ":rbase + n.i";
      if (column === "seq" && table !== "signals") return ":base + n.i * :k + (tj.idx - 1)";
      if (table === "runs") {
        if (column === "id") return "'old-' || n.i";
        if (column === "workflow") return "'scale-old-' || (n.i % 10)";
        if (column === "labels") return "json_object('tenant', 't' || (n.i % 100))";
      }
      return isTime(column) ? `t.${column} + ${offset}` : `t.${column}`;
    };
    const copy = (table: string) => {
      const cols = columns(table);
      const join = cols.includes("seq") && table !== "signals" ? "JOIN tj ON tj.seq = t.seq" : "";
      return db.prepare(
        `WITH RECURSIVE n(i) AS (SELECT :from UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :to)
         INSERT INTO ${table} (${cols.join(", ")})
         SELECT ${cols.map((c) => value(table, c)).join(", ")}
         FROM n CROSS JOIN ${table} t ${join} WHERE t.rid = :template`,
      );
    };
    const statements = ["runs", ...tables].map(copy);
    for (let from = 0; from < count; from += BATCH) {
      const params = {
        from,
        to: Math.min(count, from + BATCH),
        count,
        rbase,
        base,
        k,
        template: t.rid,
      };
      db.exec("BEGIN");
      for (const st of statements) {
        // A statement binds only the parameters its text names.
        const named = Object.fromEntries(
          Object.entries(params).filter(([name]) => st.sourceSQL.includes(`:${name}`)),
        );
        st.run(named);
      }
      db.exec("COMMIT");
    }
    db.exec("DROP TABLE tj");
  } finally {
    db.close();
  }
}

/** Copies the finished run `templateId` of PostgreSQL schema `schema` `count` times. */
export async function fillPostgres(
  url: string,
  schema: string,
  templateId: string,
  count: number,
): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const s = `"${schema}"`;
  try {
    const columns = async (table: string) =>
      (await sql.unsafe(
        `SELECT column_name AS name FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        [schema, table],
      )).map((c) => c.name as string);
    const tables = (await sql.unsafe(
      `SELECT table_name AS name FROM information_schema.columns
       WHERE table_schema = $1 AND column_name = 'run_id' ORDER BY table_name`,
      [schema],
    )).map((t) => t.name as string);
    const [seqs] = await sql.unsafe(
      `SELECT min(seq)::int8 AS lo, (max(seq) - min(seq) + 1)::int8 AS span,
         (SELECT last_value FROM ${s}.history_seq)::int8 + 1 AS base
       FROM (SELECT seq FROM ${s}.events WHERE run_id = $1
             UNION ALL SELECT seq FROM ${s}.steps WHERE run_id = $1) AS x`,
      [templateId],
    );
    const { lo, span, base } = seqs as unknown as { lo: string; span: string; base: string };
    const offset = "((g.i - $3::int8) * 1000)";
    const value = (table: string, column: string): string | undefined => {
      if (column === "xid") return undefined; // the column default: this transaction
      if (column === "run_id") return "'old-' || g.i";
      if (column === "seq") {
        return `t.seq - ${Number(lo)} + ${Number(base)} + g.i * ${Number(span)}`;
      }
      if (table === "runs") {
        if (column === "id") return "'old-' || g.i";
        if (column === "workflow") return "'scale-old-' || (g.i % 10)";
        if (column === "labels") return "jsonb_build_object('tenant', 't' || (g.i % 100))";
      }
      return isTime(column) ? `t.${column} + ${offset}` : `t.${column}`;
    };
    const copies: string[] = [];
    for (const table of ["runs", ...tables.filter((t) => t !== "runs")]) {
      const cols = (await columns(table)).filter((c) => value(table, c) !== undefined);
      if (table === "signals") continue; // a finished run has no signals left
      const key = table === "runs" ? "id" : "run_id";
      copies.push(
        `INSERT INTO ${s}.${table} (${cols.join(", ")})
         SELECT ${cols.map((c) => value(table, c)).join(", ")}
         FROM generate_series($1::int8, $2::int8 - 1) AS g(i) CROSS JOIN ${s}.${table} t
         WHERE t.${key} = $4 AND $3::int8 IS NOT NULL`,
      );
    }
    for (let from = 0; from < count; from += BATCH) {
      const to = Math.min(count, from + BATCH);
      await sql.begin(async (tx) => {
        for (const text of copies) await tx.unsafe(text, [from, to, count, templateId]);
      });
    }
    await sql.unsafe(
      `SELECT setval('${s}.history_seq', ${Number(base)} + ${count} * ${Number(span)})`,
    );
    // What autovacuum does soon after a bulk load: visibility map and statistics.
    await sql.unsafe(`VACUUM ANALYZE ${s}.runs`);
    await sql.unsafe(`VACUUM ANALYZE ${s}.steps`);
    await sql.unsafe(`VACUUM ANALYZE ${s}.events`);
  } finally {
    await sql.end();
  }
}
