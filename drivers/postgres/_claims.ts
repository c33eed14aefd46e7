/**
 * Claims and leases on PostgreSQL: claiming due runs (one statement, or the
 * flow-control planner of `_flow.ts` in one transaction), the next due time,
 * and extending the leases a worker holds (one statement).
 *
 * @module
 */
import type {
  Claim,
  ClaimOptions,
  FlowLimitsByWorkflow,
  Lease,
  LeaseState,
  RunStatus,
} from "../../lib/driver.ts";
import { hasFlowLimits } from "../../lib/flow_claim.ts";
import { type RunColumns, runFromColumns } from "../columns.ts";
import { claimWithFlow, flowNextDue, type FlowStatements } from "./_flow.ts";
import type { TxQuery } from "./_schedules.ts";
import type { Statements } from "./_sql.ts";
import type { Param, Query } from "./_writes.ts";

/** What claims need from the driver. */
export interface ClaimHost {
  readonly query: Query;
  readonly statements: Statements;
  readonly flowStatements: FlowStatements;
  /** The schema name, quoted. */
  readonly quoted: string;
  /** Runs `fn` in one transaction; storage errors say what failed. */
  transaction<T>(what: string, fn: (tx: TxQuery) => Promise<T>): Promise<T>;
}

type ClaimRow = RunColumns & { previous_status: RunStatus; previous_owner: string | null };

/** Claims up to `limit` due runs, higher priority first, then in due order (`Driver.claimRuns`). */
export async function claimRuns(host: ClaimHost, options: ClaimOptions): Promise<Claim[]> {
  if (options.limit < 1 || options.workflows.length === 0) return [];
  const flow = options.flow;
  const rows = hasFlowLimits(flow, options.workflows)
    ? await host.transaction(
      "claim runs",
      (transaction) =>
        claimWithFlow(transaction, host.flowStatements, host.statements.claimIds, host.quoted, {
          ...options,
          flow,
        }),
    ) as unknown as ClaimRow[]
    : await host.query("claim runs", host.statements.claimRunsUpTo(options.limit), [
      options.now,
      options.workflows as string[],
      options.limit,
      options.workerId,
      options.leaseMs,
    ]) as unknown as ClaimRow[];
  return rows.map((row) => {
    const claim: Claim = {
      run: runFromColumns(row),
      lease: { runId: row.id, token: row.lease_token },
      previousStatus: row.previous_status,
    };
    if (row.previous_owner !== null) claim.previousOwner = row.previous_owner;
    return claim;
  });
}

/** The earliest due time among runs of these workflows, within the flow limits (`Driver.nextDueAt`). */
export async function nextDueAt(
  host: ClaimHost,
  workflows: readonly string[],
  flow: { now: number; limits: FlowLimitsByWorkflow } | undefined,
): Promise<number | undefined> {
  if (workflows.length === 0) return undefined;
  if (flow && hasFlowLimits(flow.limits, workflows)) {
    const query: TxQuery = (text, params) =>
      host.query("find the next due run", text, params as Param[]) as never;
    return await flowNextDue(query, host.flowStatements, workflows, flow);
  }
  const [row] = await host.query("find the next due run", host.statements.nextDueAt, [
    workflows as string[],
  ]) as { due_at: number | null }[];
  return row?.due_at ?? undefined;
}

/** Extends the leases still held, in one statement (`Driver.extendLeases`). */
export async function extendLeases(
  host: ClaimHost,
  leases: readonly Lease[],
  now: number,
  leaseMs: number,
): Promise<LeaseState[]> {
  if (leases.length === 0) return [];
  const rows = await host.query("extend leases", host.statements.extendLeases, [
    leases.map((lease) => lease.runId),
    leases.map((lease) => lease.token),
    now + leaseMs,
  ]) as { run_id: string; status: RunStatus | null; held: boolean; signals: boolean }[];
  return rows.map((row) => ({
    runId: row.run_id,
    state: row.status === null || row.status === "cancelled"
      ? "cancelled"
      : row.held
      ? row.status === "paused" ? "paused" : "held"
      : "lost",
    signals: row.signals,
  }));
}
