/**
 * Claims and leases on SQLite, inside a job of the write queue (one
 * `BEGIN IMMEDIATE` transaction, which serializes every claim on the file):
 * claiming due runs (in due order, or through the flow-control planner) and
 * extending the leases a worker holds, folding what they journaled.
 *
 * @module
 */
import type {
  Claim,
  ClaimOptions,
  Lease,
  LeaseState,
  RunStatus,
  StoredEvent,
} from "../../lib/driver.ts";
import { hasFlowLimits, planFlowClaim, runPlanSync } from "../../lib/flow_claim.ts";
import { recoveredDetail } from "../../lib/formats.ts";
import { type RunColumns, runFromColumns } from "../columns.ts";
import { answerFlowRead, type SqliteCandidate } from "./_flow.ts";
import type { RunHost, StateRow } from "./_runs.ts";

/** Claims due runs of `workflows` (their names as JSON), `Driver.claimRuns`. */
export function claim(host: RunHost, options: ClaimOptions, workflows: string): Claim[] {
  const s = host.st();
  const claims: Claim[] = [];
  if (hasFlowLimits(options.flow, options.workflows)) {
    const plan = planFlowClaim(options.flow, options.now, options.limit);
    runPlanSync(plan, (read) => {
      if (read.read !== "claim") return answerFlowRead(s, read, workflows);
      const c = read.candidate as SqliteCandidate;
      claims.push(claimOne(host, c.rid, c.id, c.status, c.leaseOwner, c.journalFrom, options));
      if (read.begins) s.flowBegin.run(c.rid, options.now);
    });
    return claims;
  }
  type Candidate = {
    rid: number;
    id: string;
    status: RunStatus;
    lease_owner: string | null;
    journal_from: number | null;
    due_at: number;
    priority: number;
  };
  const { now, limit } = options;
  const candidates = s.claimPrioritized.all(now, workflows, limit) as unknown as Candidate[];
  candidates.push(...s.claimPlain.all(now, workflows, limit) as unknown as Candidate[]);
  // Higher priority first, then due order (then rid): what one sorted statement would give.
  if (candidates.length > 1) {
    candidates.sort((a, b) => b.priority - a.priority || a.due_at - b.due_at || a.rid - b.rid);
    candidates.length = Math.min(candidates.length, limit);
  }
  for (const c of candidates) {
    claims.push(claimOne(host, c.rid, c.id, c.status, c.lease_owner, c.journal_from, options));
  }
  return claims;
}

function claimOne(
  host: RunHost,
  rid: number,
  runId: string,
  status: RunStatus,
  leaseOwner: string | null,
  journalFrom: number | null,
  options: ClaimOptions,
): Claim {
  const { now } = options;
  if (journalFrom !== null) host.journal.recover(rid, journalFrom);
  // A running run with an owner is due only once its lease expired: a takeover.
  const previousOwner = status === "running" ? leaseOwner : null;
  const row = host.st().claimRun.get(
    rid,
    options.workerId,
    now + options.leaseMs,
    now,
  ) as unknown as RunColumns;
  const run = runFromColumns(row);
  const local = host.journal.remember(runId, rid, run.leaseToken);
  // After the claim opened the lease's journal window: indexed when the lease folds.
  const events: StoredEvent[] = [];
  if (status === "pending") events.push({ type: "run.started", at: now });
  if (previousOwner !== null) {
    events.push({
      type: "run.recovered",
      at: now,
      detail: recoveredDetail(previousOwner, options.workerId),
    });
  }
  host.journal.leaseEvents(local, events);
  const claimed: Claim = { run, lease: { runId, token: run.leaseToken }, previousStatus: status };
  if (previousOwner !== null) claimed.previousOwner = previousOwner;
  return claimed;
}

/** Extends the leases still held and folds what they journaled (`Driver.extendLeases`). */
export function extendLeases(
  host: RunHost,
  leases: readonly Lease[],
  now: number,
  leaseMs: number,
): LeaseState[] {
  const s = host.st();
  const states: LeaseState[] = [];
  for (const lease of leases) {
    const runId = lease.runId;
    const held = s.extendLease.get(runId, lease.token, now + leaseMs) as
      | { rid: number; status: RunStatus }
      | undefined;
    const local = host.journal.leases.get(runId);
    if (held) {
      if (local && local.token === lease.token && local.rows.size + local.events.length > 0) {
        host.journal.fold(local);
        s.setJournalFrom.run(held.rid);
      }
      const signals = s.hasSignal.get(held.rid) !== undefined;
      states.push({ runId, state: held.status === "paused" ? "paused" : "held", signals });
      continue;
    }
    if (local && local.token <= lease.token) host.journal.leases.delete(runId);
    const state = s.runState.get(runId) as StateRow | undefined;
    const signals = state !== undefined && s.hasSignal.get(state.rid) !== undefined;
    states.push({
      runId,
      state: !state || state.status === "cancelled" ? "cancelled" : "lost",
      signals,
    });
  }
  return states;
}
