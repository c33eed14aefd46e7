/**
 * The SQLite driver's `listRuns` statement, built for the filter's shape
 * (which filters are set, how many statuses and labels) so each shape has a
 * plan that walks an index in page order and stops after one page, whatever
 * the number of stored runs: a status or a workflow walks
 * `runs_status_created` / `runs_workflow_created` (schema version 12); no
 * filter, or several statuses, walks `runs_status_created` once per status
 * and merges the pages (schema version 15); labels walk `run_labels` (one row
 * per run and label, kept by triggers) for the first label. Every value is bound; the text depends only
 * on the shape. The driver caches one prepared statement per shape.
 *
 * @module
 */
import type { SQLInputValue } from "node:sqlite";
import { decodeCursor, type RunFilter } from "../../lib/driver.ts";
import { LIST_PAGE } from "../../lib/driver_policy.ts";
import { RUN_STATUSES } from "../../lib/validate.ts";
import { RUN_COLUMNS } from "./_statements.ts";

/** The statement text of a filter's shape, its parameters and the page size. */
export function listStatement(
  filter: RunFilter,
): { sql: string; params: SQLInputValue[]; limit: number } {
  const statuses = filter.status === undefined
    ? RUN_STATUSES
    : Array.isArray(filter.status)
    ? filter.status
    : [filter.status];
  if (
    statuses.length > 1 && filter.workflow === undefined && filter.parentId === undefined &&
    Object.keys(filter.labels ?? {}).length === 0
  ) return byStatuses(filter, statuses);
  const where: string[] = [];
  const params: SQLInputValue[] = [];
  const labels = Object.entries(filter.labels ?? {});
  // With labels, the first one drives: its index entries are in page order.
  const order = labels.length > 0 ? "l" : "runs";
  let from = "runs";
  if (labels.length > 0) {
    const [key, value] = labels[0]!;
    from = "run_labels AS l CROSS JOIN runs ON runs.rid = l.rid";
    where.push("l.key = ? AND l.value = ?");
    params.push(key, value);
    for (const [otherKey, otherValue] of labels.slice(1)) {
      where.push(
        "EXISTS (SELECT 1 FROM run_labels AS o WHERE o.key = ? AND o.value = ? AND o.created_at = runs.created_at AND o.id = runs.id)",
      );
      params.push(otherKey, otherValue);
    }
  }
  if (filter.status !== undefined) {
    const statuses = Array.isArray(filter.status) ? filter.status : [filter.status];
    where.push(`runs.status IN (${statuses.map(() => "?").join(", ")})`);
    params.push(...statuses);
  }
  if (filter.workflow !== undefined) {
    where.push("runs.workflow = ?");
    params.push(filter.workflow);
  }
  if (filter.parentId !== undefined) {
    where.push("runs.parent_id = ?");
    params.push(filter.parentId);
  }
  pageBounds(filter, `${order}.`, where, params);
  const limit = filter.limit ?? LIST_PAGE.default;
  params.push(limit + 1);
  const columns = RUN_COLUMNS.split(", ").map((c) => `runs.${c}`).join(", ");
  const sql = `SELECT ${columns} FROM ${from}${
    where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""
  } ORDER BY ${order}.created_at DESC, ${order}.id DESC LIMIT ?`;
  return { sql, params, limit };
}

/**
 * A page of runs of any of several statuses (every status when the filter
 * names none): the page of each status walks `runs_status_created` (covering:
 * the rid is in the entry), the pages are merged, and only the merged page's
 * rows are read (about 1.5× the cost of walking one index, whatever the
 * number of stored runs). Since schema version 15 there is no index on `created_at`
 * alone: every new run would pay a B-tree page for it at start.
 */
function byStatuses(
  filter: RunFilter,
  statuses: readonly string[],
): { sql: string; params: SQLInputValue[]; limit: number } {
  const where = ["status = ?"];
  const bounds: SQLInputValue[] = [];
  pageBounds(filter, "", where, bounds);
  const limit = filter.limit ?? LIST_PAGE.default;
  const order = "ORDER BY created_at DESC, id DESC LIMIT ?";
  const one = `SELECT * FROM (SELECT rid, created_at, id FROM runs WHERE ${
    where.join(" AND ")
  } ${order})`;
  const params: SQLInputValue[] = [];
  for (const status of statuses) params.push(status, ...bounds, limit + 1);
  params.push(limit + 1);
  const sql = `SELECT ${RUN_COLUMNS} FROM runs WHERE rid IN (SELECT rid FROM (${
    statuses.map(() => one).join(" UNION ALL ")
  }) ${order}) ORDER BY created_at DESC, id DESC`;
  return { sql, params, limit };
}

/**
 * The creation-time bounds and the cursor of a page: conditions on columns
 * `created_at` and `id` of table prefix `on` (`"runs."`, or `""`), with their
 * parameters in order.
 */
function pageBounds(
  filter: RunFilter,
  on: string,
  where: string[],
  params: SQLInputValue[],
): void {
  if (filter.createdAfter !== undefined) {
    where.push(`${on}created_at >= ?`);
    params.push(filter.createdAfter);
  }
  if (filter.createdBefore !== undefined) {
    where.push(`${on}created_at <= ?`);
    params.push(filter.createdBefore);
  }
  if (filter.cursor !== undefined) {
    const [createdAt, id] = decodeCursor(filter.cursor);
    where.push(`(${on}created_at < ? OR (${on}created_at = ? AND ${on}id < ?))`);
    params.push(createdAt, createdAt, id);
  }
}
