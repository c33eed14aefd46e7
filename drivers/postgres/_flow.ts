/**
 * Flow control on PostgreSQL: the reads of the shared planner
 * (`lib/flow_claim.ts`), answered inside one claim transaction.
 *
 * Concurrent claimers race under `FOR UPDATE SKIP LOCKED`: two of them could
 * each count `limit - 1` running runs of a key and each claim one more. So a
 * claim of a limited workflow first takes a transaction-level advisory lock
 * on (schema, workflow) with `pg_try_advisory_xact_lock`: claimers of one
 * limited workflow take turns, and each counts with a snapshot taken after
 * the previous one committed (READ COMMITTED: every statement sees what
 * committed before it began). A claimer that does not get the lock skips that
 * workflow for this claim instead of waiting (no deadlock, no stall): the
 * holder's commit sends notices, and the poll interval remains as a safety
 * net. Unlimited workflows are claimed as before, without the lock.
 *
 * @module
 */
import {
  type FlowAnswer,
  type FlowRead,
  planFlowClaim,
  planFlowNextDue,
  runPlan,
} from "../../lib/flow_claim.ts";
import type { TxQuery } from "./_schedules.ts";
import { byPriority } from "./_sql.ts";
import type { ClaimOptions, FlowLimitsByWorkflow, RunStatus } from "../../lib/driver.ts";

/** The statements of flow control for schema `s` (already quoted). */
export interface FlowStatements {
  tryLock: string;
  byPriority: string;
  byDue: string;
  running: string;
  begun: string;
}

/** Builds the flow-control statements of schema `s`. */
export function flowStatements(s: string): FlowStatements {
  const columns = `r.id, r.workflow, r.status, r.due_at::float8 AS due_at, r.concurrency_key,
    r.rate_key, r.began_at IS NOT NULL AS begun`;
  const where = `r.due_at <= $1::int8 AND r.workflow = ANY($2::text[])
    AND (r.status = 'running' OR NOT (r.workflow || chr(31) || r.concurrency_key = ANY($3::text[])))
    AND (r.status <> 'pending' OR r.began_at IS NOT NULL
      OR NOT (r.workflow || chr(31) || r.rate_key = ANY($4::text[])))
    AND NOT (r.id = ANY($5::text[]))`;
  return {
    // One lock per (schema, workflow): the key is the hash of both.
    tryLock:
      `SELECT w AS workflow, pg_try_advisory_xact_lock(hashtextextended($1::text || w, 0)) AS ok
      FROM unnest($2::text[]) AS w`,
    byPriority: byPriority(s, columns, where, "$6::int4"),
    byDue:
      `SELECT ${columns} FROM ${s}.runs r WHERE ${where} ORDER BY r.due_at, r.id LIMIT $6::int4`,
    // Executing: running, or paused with a step in flight (lease held, not expired).
    running: `SELECT ((SELECT count(*) FROM ${s}.runs
        WHERE workflow = $1 AND concurrency_key = $2 AND status = 'running')
      + (SELECT count(*) FROM ${s}.runs
        WHERE workflow = $1 AND concurrency_key = $2 AND status = 'paused'
          AND lease_owner IS NOT NULL AND paused_due > $3::int8))::int AS n`,
    begun: `SELECT count(*)::int AS n, min(began_at)::float8 AS oldest FROM ${s}.runs
      WHERE workflow = $1 AND rate_key = $2 AND began_at > $3::int8`,
  };
}

/** Runs one statement (inside the claim transaction, or alone). */
export type FlowQuery = TxQuery;

/**
 * Answers a planner read other than `claim`. `admitted` holds the runs the
 * planner chose already (claimed at the end, in one statement), which the
 * next candidate read must not return again.
 */
export async function answerFlowRead(
  st: FlowStatements,
  query: FlowQuery,
  read: FlowRead,
  workflows: readonly string[],
  admitted: readonly string[],
): Promise<FlowAnswer> {
  switch (read.read) {
    case "candidates": {
      const rows = await query<Record<string, unknown>>(
        read.order === "priority" ? st.byPriority : st.byDue,
        [
          read.dueBy,
          workflows,
          read.blockedConcurrency,
          read.blockedRate,
          admitted,
          read.limit,
        ],
      );
      return rows.map((r) => ({
        id: r.id as string,
        workflow: r.workflow as string,
        status: r.status as RunStatus,
        concurrencyKey: r.concurrency_key as string,
        rateKey: r.rate_key as string,
        begun: r.begun as boolean,
        dueAt: r.due_at as number,
      }));
    }
    case "running":
      return (await query<{ n: number }>(st.running, [read.workflow, read.key, read.now]))[0]!.n;
    case "begun": {
      const [row] = await query<{ n: number; oldest: number | null }>(st.begun, [
        read.workflow,
        read.key,
        read.since,
      ]);
      return row!.oldest === null ? { count: row!.n } : { count: row!.n, oldest: row!.oldest };
    }
    case "claim":
      return;
  }
}

/**
 * Claims within the flow limits in one transaction: takes the advisory lock
 * of each limited workflow (skipping those another claimer holds), lets the
 * planner choose, then claims the chosen runs with `claimIds` in one
 * statement. Returns its rows.
 */
export async function claimWithFlow(
  query: FlowQuery,
  st: FlowStatements,
  claimIds: string,
  lockPrefix: string,
  options: ClaimOptions & { flow: FlowLimitsByWorkflow },
): Promise<Record<string, unknown>[]> {
  {
    const limited = options.workflows.filter((w) => options.flow[w] !== undefined);
    const locks = await query<{ workflow: string; ok: boolean }>(st.tryLock, [lockPrefix, limited]);
    const busy = new Set(locks.filter((l) => !l.ok).map((l) => l.workflow));
    const workflows = options.workflows.filter((w) => !busy.has(w));
    if (workflows.length === 0) return [];
    const admitted: string[] = [];
    const begins: string[] = [];
    await runPlan(planFlowClaim(options.flow, options.now, options.limit), (read) => {
      if (read.read !== "claim") return answerFlowRead(st, query, read, workflows, admitted);
      admitted.push(read.candidate.id);
      if (read.begins) begins.push(read.candidate.id);
      return Promise.resolve();
    });
    if (admitted.length === 0) return [];
    return await query(claimIds, [
      options.now,
      admitted,
      begins,
      options.workerId,
      options.leaseMs,
    ]);
  }
}

/** The next due time within the flow limits (see `planFlowNextDue`). */
export function flowNextDue(
  query: FlowQuery,
  st: FlowStatements,
  workflows: readonly string[],
  flow: { now: number; limits: FlowLimitsByWorkflow },
): Promise<number | undefined> {
  const plan = planFlowNextDue(flow.limits, flow.now);
  return runPlan(plan, (read) => answerFlowRead(st, query, read, workflows, []));
}
