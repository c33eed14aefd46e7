/**
 * The PostgreSQL driver's write batching: the statements and parameters of
 * fenced writes (one run's, or many runs' grouped into one statement), of run
 * transitions (run creations are `_creates.ts`). The `Batcher` (`_batch.ts`)
 * decides what is grouped; this module builds what is sent.
 *
 * @module
 */
import { LeaseLostError } from "../../lib/errors.ts";
import { pushStepValues } from "../columns.ts";
import type {
  DriverNotice,
  Lease,
  RunTransition,
  StepRow,
  StoredEvent,
  WriteBatch,
} from "../../lib/driver.ts";
import type { BatchItem } from "./_batch.ts";
import type { Statements, TransitionStatements } from "./_sql.ts";
import { type WriteShape, writeStatement } from "./_sql_write.ts";

/** Runs one statement (a driver's query, which maps errors to `StorageError`). */
export type Query = (
  what: string,
  text: string,
  params: readonly Param[],
) => Promise<Record<string, unknown>[]>;

/** A query parameter. */
export type Param = string | number | boolean | null | readonly (string | number | null)[];

/** A write without a transition, waiting to be grouped. */
export interface WriteItem extends BatchItem {
  lease: Lease;
  steps: StepRow[];
  events: StoredEvent[];
  /** Settles the write; `paused` when the run was paused (the write is kept). */
  resolve(paused: boolean): void;
}

/** Keeps the last row of each key, as sequential upserts would (a `done` row stays). */
export function lastRows(steps: readonly StepRow[] | undefined): StepRow[] {
  if (!steps || steps.length === 0) return [];
  if (steps.length === 1) return [steps[0]!];
  const byKey = new Map<string, StepRow>();
  for (const row of steps) {
    if (byKey.get(row.key)?.state === "done") continue;
    byKey.delete(row.key);
    byKey.set(row.key, row);
  }
  return [...byKey.values()];
}

/** Column arrays of step rows (8 parameters), positions from `pos`. */
export function stepArrays(steps: readonly StepRow[], pos: number): Param[] {
  const n = steps.length;
  const key: string[] = new Array(n);
  const kind: string[] = new Array(n);
  const state: string[] = new Array(n);
  const data: (string | null)[] = new Array(n);
  const attempt: (number | null)[] = new Array(n);
  const startedAt: (number | null)[] = new Array(n);
  const finishedAt: (number | null)[] = new Array(n);
  const position: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const row = steps[i]!;
    key[i] = row.key;
    kind[i] = row.kind;
    state[i] = row.state;
    data[i] = row.data ?? null;
    attempt[i] = row.attempt ?? null;
    startedAt[i] = row.startedAt ?? null;
    finishedAt[i] = row.finishedAt ?? null;
    position[i] = pos + i;
  }
  return [key, kind, state, data, attempt, startedAt, finishedAt, position];
}

/** Column arrays of events (6 parameters), positions from `pos`. */
export function eventArrays(events: readonly StoredEvent[], pos: number): Param[] {
  const n = events.length;
  const type: string[] = new Array(n);
  const at: number[] = new Array(n);
  const step: (string | null)[] = new Array(n);
  const attempt: (number | null)[] = new Array(n);
  const detail: (string | null)[] = new Array(n);
  const position: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const event = events[i]!;
    type[i] = event.type;
    at[i] = event.at;
    step[i] = event.step ?? null;
    attempt[i] = event.attempt ?? null;
    detail[i] = event.detail ?? null;
    position[i] = pos + i;
  }
  return [type, at, step, attempt, detail, position];
}

/** The statements of fenced writes without a transition, cached by shape. */
export class WriteQueries {
  readonly #quoted: string;
  readonly #texts = new Map<string, string>();

  /** @param quoted The quoted schema name. */
  constructor(quoted: string) {
    this.#quoted = quoted;
  }

  /** The fenced write statement of a shape (cached). */
  #text(shape: WriteShape): string {
    const key = `${shape.multi ? "m" : "1"}${shape.direct ? "d" : ""}${shape.steps}${
      shape.events ? "e" : ""
    }${shape.held ? "h" : ""}`;
    let text = this.#texts.get(key);
    if (text === undefined) {
      text = writeStatement(this.#quoted, shape);
      this.#texts.set(key, text);
    }
    return text;
  }

  /**
   * The statement and parameters of fenced writes without a transition.
   * `held`: accept a paused run in every form (see `WriteShape.held`); a
   * write inside a transaction that checked the lease itself needs it.
   * `plain` tells whether the statement is a plain INSERT form.
   */
  query(
    items: readonly WriteItem[],
    firstPos: number,
    held = false,
  ): { text: string; params: Param[]; direct: boolean; plain: boolean } {
    const multi = items.length > 1;
    let stepCount = 0;
    let eventCount = 0;
    for (const item of items) {
      stepCount += item.steps.length;
      eventCount += item.events.length;
    }
    const shape: WriteShape = {
      multi,
      steps: stepCount === 0 ? "none" : stepCount === 1 ? "one" : "many",
      events: eventCount > 0,
    };
    if (held) shape.held = true;
    if (
      multi && eventCount === 0 && items.every((item) => item.steps.length > 0) &&
      new Set(items.map((item) => item.lease.runId)).size === items.length
    ) {
      shape.direct = true;
      shape.steps = "many";
    }
    const params: Param[] = multi
      ? [items.map((item) => item.lease.runId), items.map((item) => item.lease.token)]
      : [items[0]!.lease.runId, items[0]!.lease.token];
    let pos = firstPos;
    if (shape.steps === "one") {
      pushStepValues(params, items.find((item) => item.steps.length > 0)!.steps[0]!);
      params.push(pos);
    } else if (shape.steps === "many") {
      const w: number[] = [];
      const rows: StepRow[] = [];
      items.forEach((item, i) => {
        for (const row of item.steps) {
          w.push(i + 1);
          rows.push(row);
        }
      });
      if (multi) params.push(w);
      params.push(...stepArrays(rows, pos));
    }
    pos += stepCount;
    if (shape.events) {
      const w: number[] = [];
      const events: StoredEvent[] = [];
      items.forEach((item, i) => {
        for (const event of item.events) {
          w.push(i + 1);
          events.push(event);
        }
      });
      if (multi) params.push(w);
      params.push(...eventArrays(events, pos));
    }
    const plain = shape.direct === true || (!multi && !shape.events && shape.steps !== "none");
    return { text: this.#text(shape), params, direct: shape.direct === true, plain };
  }

  /**
   * Sends grouped writes as one statement and settles each item: written
   * (and whether its run is paused), or refused with `LeaseLostError` (or the
   * error of its lease check).
   */
  async flush(items: WriteItem[], query: Query, leaseHeld: string): Promise<void> {
    const { text, params, direct, plain } = this.query(items, 0);
    const rows = (await query(
      items.length === 1
        ? `record checkpoints of run '${items[0]!.lease.runId}'`
        : `record checkpoints of ${items.length} runs`,
      text,
      params,
    )) as { w?: number; run_id?: string; paused?: boolean }[];
    const held = new Set<number>();
    const paused = new Set<number>();
    if (direct) {
      const written = new Set<string>();
      for (const row of rows) written.add(row.run_id!);
      items.forEach((item, i) => {
        if (written.has(item.lease.runId)) held.add(i + 1);
      });
    } else {
      for (const row of rows) {
        held.add(row.w!);
        if (row.paused) paused.add(row.w!);
      }
    }
    // A plain INSERT writes nothing when the lease is lost, when the run is
    // paused (it accepts only a running run), and when every row was done
    // already (a no-op); a lease once lost never comes back, so reading it now
    // tells them apart exactly. A paused run's rows are then written with the
    // fence that accepts it (its step in flight is checkpointed).
    // The group is written: a failed check fails its own item, never the group
    // (which must not be sent again).
    const failed = new Map<number, unknown>();
    await Promise.all(items.map(async (item, i) => {
      if (held.has(i + 1) || !plain) return;
      const lease = item.lease;
      const check = async () =>
        (await query(
          `check the lease on run '${lease.runId}'`,
          leaseHeld,
          [lease.runId, lease.token],
        ))[0] as { paused: boolean } | undefined;
      try {
        const state = await check();
        if (!state) return;
        if (state.paused) {
          const again = this.query([item], 0, true);
          const written = await query(
            `record checkpoints of paused run '${lease.runId}'`,
            again.text,
            again.params,
          );
          // Nothing written: every row was done already, or the lease was lost meanwhile.
          if (written.length === 0 && !(await check())) return;
          paused.add(i + 1);
        }
        held.add(i + 1);
      } catch (error) {
        failed.set(i + 1, error);
      }
    }));
    for (let w = 0; w < items.length; w++) {
      const item = items[w]!;
      if (held.has(w + 1)) item.resolve(paused.has(w + 1));
      else item.reject(failed.get(w + 1) ?? new LeaseLostError(item.lease.runId));
    }
  }
}

/** The statement and parameters of a write that moves the run. */
export function transitionQuery(
  st: Statements,
  lease: Lease,
  batch: WriteBatch & { run: RunTransition },
  now: number,
  pos: number,
  channel: string,
  payload: (types: string) => string,
): { text: string; params: Param[]; notices: DriverNotice["type"][] } {
  const steps = lastRows(batch.steps);
  const events = batch.events ?? [];
  // One step row and one event (a completion with its last step): the
  // statements of scalars, which run without unnest.
  const one = steps.length === 1 && events.length === 1;
  const rows = [...stepArrays(steps, pos), ...eventArrays(events, pos + steps.length)];
  const common: Param[] = [
    lease.runId,
    lease.token,
    now,
    ...(one ? rows.map((column) => (column as readonly Param[])[0] ?? null) : rows),
    channel,
  ];
  const t: TransitionStatements = one ? st.oneRow : st;
  const run = batch.run;
  switch (run.status) {
    case "sleeping":
    case "waiting":
      return {
        text: t.suspend,
        params: [
          ...common,
          payload("released,runnable"),
          run.status,
          run.waitingFor ?? [],
          run.dueAt ?? null,
        ],
        // "runnable" is dropped by the caller unless the run is due now.
        notices: ["released", "runnable"],
      };
    case "completed":
      return {
        text: t.complete,
        params: [...common, payload("released,finished"), run.output ?? null],
        notices: ["released", "finished"],
      };
    case "failed":
    case "cancelled":
      return {
        text: run.status === "failed" ? t.fail : t.cancel,
        params: [
          ...common,
          payload("released,finished"),
          JSON.stringify(run.error),
        ],
        notices: ["released", "finished"],
      };
    case "running":
      return {
        text: t.release,
        params: [...common, payload("runnable")],
        notices: ["runnable"],
      };
    default:
      throw new TypeError(
        `Cannot write run transition '${
          (run as { status: string }).status
        }': use sleeping, waiting, completed, failed or running`,
      );
  }
}

/** The parameters of the consume-signal statement. */
export function consumeParams(
  lease: Lease,
  names: readonly string[],
  row: StepRow,
  steps: readonly StepRow[],
  events: readonly StoredEvent[],
): Param[] {
  return [
    lease.runId,
    lease.token,
    names as string[],
    row.key,
    row.kind,
    row.attempt ?? null,
    row.startedAt ?? null,
    row.finishedAt ?? null,
    ...stepArrays(steps, 1),
    ...eventArrays(events, 1 + steps.length),
  ];
}

/**
 * A transition's notices as this process reports them: `runnable` only when
 * the run is due now; `released` too when a paused run was handed back (its
 * step in flight held a concurrency slot). `status` is the run's new status.
 */
export function dueNotices(
  notices: DriverNotice["type"][],
  dueAt: number | null,
  now: number,
  status?: string,
): DriverNotice["type"][] {
  const due = dueAt !== null && dueAt <= now ? notices : notices.filter((n) => n !== "runnable");
  return status === "paused" && !due.includes("released") ? [...due, "released"] : due;
}
