/**
 * The PostgreSQL driver's reads that need more than a statement: the list
 * query built from a filter with its page, a run's history, whose items' `seq`
 * is `(write seq, position)` as one number, and the feed of every run's
 * history in commit order.
 *
 * @module
 */
import {
  decodeCursor,
  encodeCursor,
  type RunFilter,
  type StoredEvent,
  type StoredFeedItem,
  type StoredHistoryItem,
  type StoredHistoryPage,
  type StoredRunPage,
} from "../../lib/driver.ts";
import { LIST_PAGE } from "../../lib/driver_policy.ts";
import { type RunColumns, runFromColumns, type StepColumns, stepFromColumns } from "../columns.ts";
import { RunNotFoundError } from "../../lib/errors.ts";
import type { ControlHost } from "./_control.ts";
import { HAS_LABELS } from "./_sql.ts";
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
    const statuses = Array.isArray(filter.status) ? filter.status : [filter.status];
    // One status is an equality, so runs_status_created yields the page in order.
    if (statuses.length === 1) {
      params.push(statuses[0]!);
      where.push(`r.status = $${params.length}::text`);
    } else {
      params.push(statuses);
      where.push(`r.status = ANY($${params.length}::text[])`);
    }
  }
  if (filter.workflow !== undefined) {
    params.push(filter.workflow);
    where.push(`r.workflow = $${params.length}::text`);
  }
  if (filter.labels !== undefined && Object.keys(filter.labels).length > 0) {
    params.push(JSON.stringify(filter.labels));
    // Only runs with labels are in runs_labels: the predicate lets the planner use it.
    where.push(`r.labels @> $${params.length}::text::jsonb AND r.${HAS_LABELS}`);
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

/** A row of the feed statement: a history row with its transaction, run and snapshot. */
export type FeedRow = HistoryRow & { xid: string; run_id: string; workflow: string; bound: string };

/**
 * A place in the feed. Rows are read in deltas between two snapshots: those
 * whose transaction `prev` does not see and `bound` sees (every transaction
 * that commits later is outside the delta and lands in the next one), in
 * `(xid, seq, pos)` order after `key`. So a long transaction elsewhere in the
 * database holds nothing back, and nothing committed later sorts before what
 * a reader has seen. Encoded as `prev|bound|xid:seq:pos` (bound and key may
 * be empty: then the current snapshot, and the delta's start).
 */
export interface FeedPlace {
  prev: string;
  bound: string | null;
  key: [string, number, number] | null;
}

/** Where an empty feed starts: a snapshot that sees no transaction. */
const NOTHING_SEEN = "1:1:";

const SNAPSHOT = /^\d{1,20}:\d{1,20}:(\d{1,20}(,\d{1,20})*)?$/;

/** Decodes a feed cursor; a malformed one is a `TypeError`. */
export function decodeFeedPlace(after: string | undefined): FeedPlace {
  if (after === undefined) return { prev: NOTHING_SEEN, bound: null, key: null };
  const [prev, bound, key, extra] = after.split("|");
  const keyMatch = key ? /^(\d{1,20}):(\d{1,20}):(\d{1,10})$/.exec(key) : null;
  if (
    extra !== undefined || prev === undefined || !SNAPSHOT.test(prev) || bound === undefined ||
    (bound !== "" && !SNAPSHOT.test(bound)) || key === undefined || (key !== "" && !keyMatch)
  ) {
    throw new TypeError(`Cannot read the feed after '${after}': pass a cursor it gave`);
  }
  return {
    prev,
    bound: bound === "" ? null : bound,
    key: keyMatch ? [keyMatch[1]!, Number(keyMatch[2]), Number(keyMatch[3])] : null,
  };
}

/** The feed statement's parameters for a place and a limit. */
export function feedParams(place: FeedPlace, limit: number): Param[] {
  const [xid, seq, pos] = place.key ?? ["0", -1, 0];
  return [place.prev, place.bound, xid, seq, pos, limit];
}

/** A feed row as a feed item, in the delta from `prev`. */
export function feedItem(row: FeedRow, prev: string): StoredFeedItem {
  return {
    cursor: `${prev}|${row.bound}|${row.xid}:${row.seq}:${row.pos}`,
    runId: row.run_id,
    workflow: row.workflow,
    item: historyItem(row),
  };
}

/** A run's history items after a page's cursor (`Driver.history`). */
export async function readHistory(
  host: ControlHost,
  runId: string,
  page: StoredHistoryPage | undefined,
): Promise<StoredHistoryItem[]> {
  const rows = await host.query(`read the history of run '${runId}'`, host.statements.history, [
    runId,
    ...historyCursor(page),
  ]) as unknown as HistoryRow[];
  if (rows.length === 0 && !(await host.getRun(runId))) throw new RunNotFoundError(runId);
  return rows.map(historyItem);
}

/**
 * Every run's history items in commit order after a cursor: the rest of the
 * cursor's delta between two snapshots, then the delta up to now (see
 * {@linkcode FeedPlace}).
 */
export async function readFeed(
  host: ControlHost,
  after: string | undefined,
  limit: number,
): Promise<StoredFeedItem[]> {
  let place = decodeFeedPlace(after);
  const items: StoredFeedItem[] = [];
  for (;;) {
    const rows = await host.query(
      "read the feed",
      host.statements.feed,
      feedParams(place, limit - items.length),
    ) as unknown as FeedRow[];
    for (const row of rows) items.push(feedItem(row, place.prev));
    // A delta to a fixed snapshot that is exhausted: go on to the next one.
    if (items.length >= limit || place.bound === null) return items;
    place = { prev: place.bound, bound: null, key: null };
  }
}
