/**
 * The PostgreSQL driver's reads that need more than a statement: the list
 * query built from a filter with its page, and history items, whose `seq` is
 * `(write seq, position)` as one number.
 *
 * @module
 */
import {
  decodeCursor,
  encodeCursor,
  type RunFilter,
  type StoredEvent,
  type StoredHistoryItem,
  type StoredHistoryPage,
  type StoredRunPage,
} from "../../lib/driver.ts";
import { LIST_PAGE } from "../../lib/driver_policy.ts";
import { type RunColumns, runFromColumns, type StepColumns, stepFromColumns } from "../columns.ts";
import type { Param } from "./_writes.ts";

/**
 * Positions within one write, for history seqs (`seq * SEQ_SPAN + pos`): a
 * write records far fewer rows and events than this.
 */
const SEQ_SPAN = 65_536;

/** The `listRuns` statement for a filter (`base` is the SELECT without WHERE). */
export function listQuery(
  base: string,
  filter: RunFilter,
): { text: string; params: Param[]; limit: number } {
  const where: string[] = [];
  const params: Param[] = [];
  if (filter.status !== undefined) {
    params.push(Array.isArray(filter.status) ? filter.status : [filter.status]);
    where.push(`r.status = ANY($${params.length}::text[])`);
  }
  if (filter.workflow !== undefined) {
    params.push(filter.workflow);
    where.push(`r.workflow = $${params.length}::text`);
  }
  if (filter.labels !== undefined && Object.keys(filter.labels).length > 0) {
    params.push(JSON.stringify(filter.labels));
    where.push(`r.labels @> $${params.length}::text::jsonb`);
  }
  if (filter.createdAfter !== undefined) {
    params.push(filter.createdAfter);
    where.push(`r.created_at >= $${params.length}::int8`);
  }
  if (filter.parentId !== undefined) {
    params.push(filter.parentId);
    where.push(`r.parent_id = $${params.length}::text`);
  }
  if (filter.createdBefore !== undefined) {
    params.push(filter.createdBefore);
    where.push(`r.created_at <= $${params.length}::int8`);
  }
  if (filter.cursor !== undefined) {
    const [createdAt, id] = decodeCursor(filter.cursor);
    params.push(createdAt, id);
    where.push(`(r.created_at, r.id) < ($${params.length - 1}::int8, $${params.length}::text)`);
  }
  const limit = filter.limit ?? LIST_PAGE.default;
  params.push(limit + 1);
  const text = `${base}${where.length ? ` WHERE ${where.join(" AND ")}` : ""}
      ORDER BY r.created_at DESC, r.id DESC LIMIT $${params.length}::int4`;
  return { text, params, limit };
}

/** A page of runs from the rows of {@linkcode listQuery} (one more than the page, if any). */
export function listPage(rows: readonly RunColumns[], limit: number): StoredRunPage {
  const runs = rows.slice(0, limit).map(runFromColumns);
  const page: StoredRunPage = { runs };
  if (rows.length > limit && runs.length > 0) {
    const last = runs[runs.length - 1]!;
    page.nextCursor = encodeCursor(last.createdAt, last.id);
  }
  return page;
}

/** A row of the history statement: a checkpoint row or an event. */
export type HistoryRow = StepColumns & {
  source: "step" | "event";
  seq: string | number;
  pos: number;
  type: StoredEvent["type"] | null;
  at: number | null;
  step: string | null;
  detail: string | null;
};

/** The history statement's cursor and limit parameters for a page. */
export function historyCursor(page: StoredHistoryPage | undefined): Param[] {
  const after = page?.after === undefined ? -1 : Math.floor(page.after);
  const cursor = after < 0 ? [-1, 0] : [Math.floor(after / SEQ_SPAN), after % SEQ_SPAN];
  return [cursor[0]!, cursor[1]!, page?.limit ?? null];
}

/** A history row as an item. */
export function historyItem(row: HistoryRow): StoredHistoryItem {
  const seq = Number(row.seq) * SEQ_SPAN + Number(row.pos);
  if (row.source === "step") return { source: "step", seq, row: stepFromColumns(row) };
  const event: StoredEvent = { type: row.type!, at: row.at! };
  if (row.step !== null) event.step = row.step;
  if (row.attempt !== null) event.attempt = row.attempt;
  if (row.detail !== null) event.detail = row.detail;
  return { source: "event", seq, event };
}
