/**
 * The SQLite driver's journal: one append-only table in global write order.
 * A lease holder appends its rows and events with fenced inserts and keeps a
 * local record of them ("local lease"); they are indexed into `steps` and
 * `events` ("folded") when the run suspends, finishes, is handed back or
 * heartbeats, or once a lease holds `FOLD_AT` items. Until then readers find
 * them from the run's `journal_from` mark, which survives a crash.
 *
 * @module
 */
import type { SQLInputValue } from "node:sqlite";
import type {
  Lease,
  RunStatus,
  StepRow,
  StoredEvent,
  StoredFeedItem,
  StoredHistoryItem,
  StoredHistoryPage,
} from "../../lib/driver.ts";
import { LeaseLostError, RunNotFoundError } from "../../lib/errors.ts";
import { pushStepValues, type StepColumns, stepFromColumns } from "../columns.ts";
import { MAX_ITEMS_PER_INSERT, type Statements } from "./_statements.ts";

export interface FenceRow {
  rid: number;
  lease_token: number;
  status: RunStatus;
  lease_owner: string | null;
  journal_from: number | null;
}

export interface JournalRow {
  seq: number;
  key: string | null;
  kind: string;
  state: "done" | "pending" | null;
  data: string | null;
  attempt: number | null;
  started_at: number | null;
  at: number | null;
  step: string | null;
}

export interface EventRow {
  seq: number;
  type: StoredEvent["type"];
  at: number;
  step: string | null;
  attempt: number | null;
  detail: string | null;
}

/** A checkpoint row as indexed, with its seq. */
export interface StepRowData extends StepColumns {
  seq: number;
}

/** A checkpoint row with its place in the write order. */
export interface Sequenced {
  row: StepRow;
  seq: number;
}

/**
 * What this driver instance appended to the journal under a lease it holds and
 * has not indexed ("folded") yet. It is authoritative only while its token is
 * the run's token; when in doubt it is dropped, and the journal (from the
 * run's `journal_from`) is read instead.
 */
export interface LocalLease {
  rid: number;
  token: number;
  rows: Map<string, Sequenced>;
  events: { seq: number; event: StoredEvent }[];
  /** Journal rows replaced by a later row of the same key, to delete at the fold. */
  garbage: number[];
}

/** Index a lease's journal rows after this many, even while the lease goes on. */
export const FOLD_AT = 1024;
/** Most local leases remembered; older ones fall back to reading the journal. */
export const MAX_LOCAL_LEASES = 65_536;
export function journalRow(r: JournalRow): StepRow {
  const row: StepRow = { key: r.key!, kind: r.kind, state: r.state ?? "pending" };
  if (r.data !== null) row.data = r.data;
  if (r.attempt !== null) row.attempt = r.attempt;
  if (r.started_at !== null) row.startedAt = r.started_at;
  if (r.at !== null) row.finishedAt = r.at;
  return row;
}

export function journalEvent(r: { kind: string; at: number | null } & EventParts): StoredEvent {
  return toEvent(r.kind as StoredEvent["type"], r.at ?? 0, r);
}

export interface EventParts {
  step: string | null;
  attempt: number | null;
  data?: string | null;
  detail?: string | null;
}

export function toEvent(type: StoredEvent["type"], at: number, r: EventParts): StoredEvent {
  const event: StoredEvent = { type, at };
  if (r.step !== null) event.step = r.step;
  if (r.attempt !== null) event.attempt = r.attempt;
  const detail = r.detail ?? r.data ?? null;
  if (detail !== null) event.detail = detail;
  return event;
}

/**
 * Combines two versions of one checkpoint row the way the fold does: in write
 * order, the first `done` row stays; otherwise the later row wins.
 */
export function later(a: Sequenced, b: Sequenced): Sequenced {
  const first = a.seq <= b.seq ? a : b;
  const second = first === a ? b : a;
  return first.row.state === "done" ? first : second;
}

/** The local lease records of one driver instance, and the journal writes that keep them. */
export class Journal {
  /** The local record of each lease this instance holds, oldest first. */
  readonly leases: Map<string, LocalLease> = new Map();
  readonly #s: () => Statements;

  constructor(statements: () => Statements) {
    this.#s = statements;
  }

  remember(runId: string, rid: number, token: number): LocalLease {
    const local: LocalLease = { rid, token, rows: new Map(), events: [], garbage: [] };
    this.leases.delete(runId);
    if (this.leases.size >= MAX_LOCAL_LEASES) {
      const oldest = this.leases.keys().next().value;
      if (oldest !== undefined) this.leases.delete(oldest);
    }
    this.leases.set(runId, local);
    return local;
  }

  /** Records an event written outside a lease, indexed at once; returns its seq. */
  event(
    rid: number,
    type: StoredEvent["type"],
    now: number,
    detail: string | null = null,
  ): number {
    const s = this.#s();
    const seq = Number(s.journalEvent.run(rid, type, now, detail).lastInsertRowid);
    s.indexEvent.run(rid, seq);
    return seq;
  }

  /**
   * Records events of a lease just taken in this transaction (after its
   * `journal_from` mark was set): one insert, indexed at the lease's fold
   * like the holder's own events. Until then readers find them from the mark,
   * and a crash leaves them to the next holder's recovery.
   */
  leaseEvents(local: LocalLease, events: readonly StoredEvent[]): void {
    const s = this.#s();
    const [first, second] = events;
    if (first === undefined) return;
    const detail = (event: StoredEvent) => event.detail ?? null;
    const last = Number(
      (second === undefined
        ? s.journalEvent.run(local.rid, first.type, first.at, detail(first))
        : s.journalEventPair.run(
          local.rid,
          first.type,
          first.at,
          detail(first),
          second.type,
          second.at,
          detail(second),
        )).lastInsertRowid,
    );
    if (second === undefined) local.events.push({ seq: last, event: first });
    else local.events.push({ seq: last - 1, event: first }, { seq: last, event: second });
    if (events.length > 2) this.leaseEvents(local, events.slice(2));
  }

  /** Records a row a new run starts with (no lease yet: it is indexed at once). */
  initialRow(rid: number, row: StepRow): void {
    const s = this.#s();
    const params: SQLInputValue[] = [rid];
    pushStepValues(params, row);
    const seq = s.journalInitialRow.run(...params).lastInsertRowid;
    s.indexStep.run(rid, row.key, row.state, seq);
  }

  /** Indexes every journal item of a run from `from` on (after its holder went away). */
  recover(rid: number, from: number): void {
    const s = this.#s();
    s.indexEventsFrom.run(from, rid);
    s.indexStepsFrom.run(from, rid);
    s.dropRejectedFrom.run(from, rid);
  }

  /**
   * Indexes what this instance appended under a lease, and deletes the rows
   * that later rows of the same key replaced.
   */
  fold(local: LocalLease): void {
    const s = this.#s();
    const events = local.events;
    if (events.length > 0) {
      // A few (the usual fold): their seqs as values; more: one statement over a JSON list.
      if (events.length <= MAX_ITEMS_PER_INSERT) {
        const params: number[] = [local.rid];
        for (const entry of events) params.push(entry.seq);
        s.indexEventValues[events.length - 1]!.run(...params);
      } else s.indexEventsByList.run(JSON.stringify(events.map((entry) => entry.seq)));
      local.events = [];
    }
    if (local.rows.size > 0) {
      if (local.rows.size <= MAX_ITEMS_PER_INSERT) {
        // Rows in write order, each indexed from what this instance wrote; one
        // that lost to a done row indexed earlier is deleted from the journal.
        const entries = [...local.rows.values()];
        if (entries.length > 1) entries.sort((a, b) => a.seq - b.seq);
        for (const { row, seq } of entries) {
          if (Number(s.indexStepValue.run(local.rid, row.key, row.state, seq).changes) === 0) {
            s.dropRejectedRow.run(local.rid, row.key, seq);
          }
        }
      } else {
        const seqs: number[] = [];
        for (const entry of local.rows.values()) seqs.push(entry.seq);
        const list = JSON.stringify(seqs);
        // Fewer changes than rows: some lost to a done row indexed earlier.
        if (Number(s.indexStepsByList.run(list).changes) < seqs.length) {
          s.dropRejectedByList.run(list);
        }
      }
      local.rows = new Map();
    }
    if (local.garbage.length > 0) {
      s.dropByList.run(JSON.stringify(local.garbage));
      local.garbage = [];
    }
  }

  /** Checks the lease; throws `LeaseLostError` and forgets the run when it is stale. */
  fence(lease: Lease): FenceRow {
    const row = this.#s().fence.get(lease.runId) as FenceRow | undefined;
    if (
      !row || row.lease_token !== lease.token ||
      (row.status !== "running" && row.status !== "paused") ||
      row.lease_owner === null
    ) {
      const local = this.leases.get(lease.runId);
      if (local && local.token <= lease.token) this.leases.delete(lease.runId);
      throw new LeaseLostError(lease.runId);
    }
    return row;
  }

  /**
   * The local record of a lease, establishing it when this instance has none:
   * checks the lease, folds whatever an earlier holder left in the journal,
   * and restarts the run's journal window.
   */
  holder(lease: Lease, fence: boolean): LocalLease {
    const local = this.leases.get(lease.runId);
    if (local !== undefined && local.token === lease.token) {
      if (fence) this.fence(lease);
      return local;
    }
    const row = this.fence(lease);
    if (row.journal_from !== null) this.recover(row.rid, row.journal_from);
    this.#s().setJournalFrom.run(row.rid);
    return this.remember(lease.runId, row.rid, lease.token);
  }

  /** Whether a write can be one autocommit statement. */
  hot(lease: Lease, count: number): boolean {
    const local = this.leases.get(lease.runId);
    return local !== undefined && local.token === lease.token &&
      local.rows.size + local.events.length + count < FOLD_AT;
  }

  /**
   * Appends rows then events to the journal with fenced inserts, and records
   * them locally. Returns true when the run is paused: the inserts are
   * fenced for a `running` run first (the hot path costs nothing more), and
   * one refused is checked and made again for a paused run, whose step in
   * flight is still checkpointed.
   */
  append(
    lease: Lease,
    local: LocalLease,
    rows: readonly StepRow[] | undefined,
    events: readonly StoredEvent[] | undefined,
  ): boolean {
    const nRows = rows?.length ?? 0;
    const total = nRows + (events?.length ?? 0);
    if (total === 0) return false;
    const s = this.#s();
    const rid = local.rid;
    let first = true;
    let held = false;
    let paused = false;
    const insert = (start: number, count: number) => {
      if (count === 1 && start < nRows) {
        const row = rows![start]!;
        return (held ? s.journalRowHeld : s.journalRow).run(
          rid,
          lease.token,
          row.key,
          row.kind,
          row.state,
          row.data ?? null,
          row.attempt ?? null,
          row.startedAt ?? null,
          row.finishedAt ?? null,
        );
      }
      const params: SQLInputValue[] = [rid, lease.token];
      for (let i = start; i < start + count; i++) {
        if (i < nRows) {
          pushStepValues(params, rows![i]!);
          params.push(null);
        } else {
          const event = events![i - nRows]!;
          params.push(
            null,
            event.type,
            null,
            event.detail ?? null,
            event.attempt ?? null,
            null,
            event.at,
            event.step ?? null,
          );
        }
      }
      return (held ? s.journalInsertHeld : s.journalInsert)[count - 1]!.run(...params);
    };
    for (let start = 0; start < total; start += MAX_ITEMS_PER_INSERT) {
      const count = Math.min(MAX_ITEMS_PER_INSERT, total - start);
      let result = insert(start, count);
      if (first && Number(result.changes) === 0) {
        // Not running under this lease: lost (fence() throws), or paused
        // (or paused and resumed since, by another connection).
        paused = this.fence(lease).status === "paused";
        held = true;
        result = insert(start, count);
      }
      if (Number(result.changes) !== count) {
        if (first) {
          this.leases.delete(lease.runId);
          throw new LeaseLostError(lease.runId);
        }
        throw new Error(`the journal took ${result.changes} of ${count} items`);
      }
      first = false;
      const last = Number(result.lastInsertRowid);
      for (let i = start; i < start + count; i++) {
        const seq = last - (start + count - 1 - i);
        if (i < nRows) {
          const row = rows![i]!;
          const entry: Sequenced = { row, seq };
          const previous = local.rows.get(row.key);
          if (previous === undefined) {
            local.rows.set(row.key, entry);
          } else {
            const kept = later(previous, entry);
            local.rows.set(row.key, kept);
            local.garbage.push(kept === entry ? previous.seq : seq);
          }
        } else {
          local.events.push({ seq, event: events![i - nRows]! });
        }
      }
    }
    return paused;
  }

  /** The indexed rows of these keys. */
  stepRows(rid: number, keys: readonly string[]): StepRowData[] {
    const s = this.#s();
    if (keys.length === 1) {
      const row = s.stepOne.get(rid, keys[0]!) as StepRowData | undefined;
      return row ? [row] : [];
    }
    return s.stepMany.all(rid, JSON.stringify(keys)) as unknown as StepRowData[];
  }

  /** Rows of these keys: the indexed ones overlaid with the journal from `from`. */
  readWithJournal(rid: number, keys: readonly string[], from: number): Map<string, StepRow> {
    const wanted = new Set(keys);
    const rows = new Map<string, Sequenced>();
    for (const row of this.stepRows(rid, keys)) {
      rows.set(row.key, { row: stepFromColumns(row), seq: row.seq });
    }
    for (const j of this.#s().journalFrom.all(from, rid) as unknown as JournalRow[]) {
      if (j.key === null || !wanted.has(j.key)) continue;
      const entry = { row: journalRow(j), seq: j.seq };
      const base = rows.get(j.key);
      rows.set(j.key, base ? later(base, entry) : entry);
    }
    const found = new Map<string, StepRow>();
    for (const [key, entry] of rows) found.set(key, entry.row);
    return found;
  }

  /**
   * A run's events and checkpoint rows in write order after `after` (the
   * latest version of each row, at the place it was last written): the
   * indexed ones overlaid with this instance's lease record or the journal.
   */
  history(runId: string, after: number, page: StoredHistoryPage | undefined): StoredHistoryItem[] {
    const s = this.#s();
    const fence = s.fence.get(runId) as FenceRow | undefined;
    if (!fence) throw new RunNotFoundError(runId);
    const local = this.leases.get(runId);
    const held = local !== undefined && local.token === fence.lease_token;
    // Without newer rows to overlay (a run not running here, folded), each
    // table is read only up to the page: up to the lower of the two last
    // seqs read, both are complete. SQLite reads LIMIT -1 as no limit.
    const limit = page !== undefined && !held && fence.journal_from === null ? page.limit : -1;
    let complete = Infinity;
    const rows = new Map<string, Sequenced>();
    const stepRows = s.stepsOfRun.all(fence.rid, after, limit) as unknown as StepRowData[];
    for (const r of stepRows) rows.set(r.key, { row: stepFromColumns(r), seq: r.seq });
    if (stepRows.length === limit) complete = stepRows[limit - 1]!.seq;
    const events = new Map<number, StoredEvent>();
    const eventRows = s.eventsOfRun.all(fence.rid, after, limit) as unknown as EventRow[];
    for (const e of eventRows) events.set(e.seq, toEvent(e.type, e.at, e));
    if (eventRows.length === limit) complete = Math.min(complete, eventRows[limit - 1]!.seq);
    const overlay = (entry: Sequenced) => {
      const base = rows.get(entry.row.key);
      rows.set(entry.row.key, base ? later(base, entry) : entry);
    };
    if (held) {
      for (const entry of local.rows.values()) overlay(entry);
      for (const { seq, event } of local.events) events.set(seq, event);
    } else if (fence.journal_from !== null) {
      for (
        const j of s.journalFrom.all(fence.journal_from, fence.rid) as unknown as JournalRow[]
      ) {
        if (j.key !== null) overlay({ row: journalRow(j), seq: j.seq });
        else events.set(j.seq, journalEvent(j));
      }
    }
    const entries: { seq: number; item: StoredHistoryItem }[] = [];
    for (const [seq, event] of events) {
      entries.push({ seq, item: { source: "event", seq, event } });
    }
    for (const { row, seq } of rows.values()) {
      entries.push({ seq, item: { source: "step", seq, row } });
    }
    entries.sort((a, b) => a.seq - b.seq);
    const items: StoredHistoryItem[] = [];
    for (const entry of entries) {
      if (entry.seq <= after) continue;
      if (entry.seq > complete || page !== undefined && items.length >= page.limit) break;
      items.push(entry.item);
    }
    return items;
  }

  /** Every run's history items after a journal seq, in commit order (one writer: seq order). */
  feed(after: number, limit: number): StoredFeedItem[] {
    const rows = this.#s().feed.all(after, limit) as unknown as (JournalRow & {
      run_id: string;
      workflow: string;
    })[];
    return rows.map((j) => ({
      cursor: String(j.seq),
      runId: j.run_id,
      workflow: j.workflow,
      item: j.key !== null
        ? { source: "step", seq: j.seq, row: journalRow(j) }
        : { source: "event", seq: j.seq, event: journalEvent(j) },
    }));
  }

  /** The journal seq of the newest item of the feed. */
  feedEnd(): string | undefined {
    const row = this.#s().feedEnd.get() as { seq: number | null } | undefined;
    return row?.seq == null ? undefined : String(row.seq);
  }
}
