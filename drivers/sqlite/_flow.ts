/**
 * Flow control on SQLite: the reads the shared planner (`lib/flow_claim.ts`)
 * asks for, answered with the connection's prepared statements. A claim runs
 * inside the write queue's `BEGIN IMMEDIATE` transaction, so its counts and
 * its claims are one serial step across every process sharing the file.
 *
 * @module
 */
import type { RunStatus } from "../../lib/driver.ts";
import type { FlowAnswer, FlowCandidate, FlowRead } from "../../lib/flow_claim.ts";
import type { Statements } from "./_statements.ts";

/** A candidate row with what the claim needs besides the planner's fields. */
export interface SqliteCandidate extends FlowCandidate {
  rid: number;
  leaseOwner: string | null;
  journalFrom: number | null;
}

interface CandidateRow {
  rid: number;
  id: string;
  workflow: string;
  status: RunStatus;
  lease_owner: string | null;
  journal_from: number | null;
  due_at: number;
  concurrency_key: string;
  rate_key: string;
  began_at: number | null;
}

/** Answers a planner read other than `claim`; `workflows` is the JSON array of names. */
export function answerFlowRead(s: Statements, read: FlowRead, workflows: string): FlowAnswer {
  switch (read.read) {
    case "candidates": {
      const statement = read.order === "priority" ? s.flowByPriority : s.flowByDue;
      const rows = statement.all(
        read.dueBy,
        workflows,
        JSON.stringify(read.blockedConcurrency),
        JSON.stringify(read.blockedRate),
        read.limit,
      ) as unknown as CandidateRow[];
      return rows.map((r): SqliteCandidate => ({
        id: r.id,
        workflow: r.workflow,
        status: r.status,
        concurrencyKey: r.concurrency_key,
        rateKey: r.rate_key,
        begun: r.began_at !== null,
        dueAt: r.due_at,
        rid: r.rid,
        leaseOwner: r.lease_owner,
        journalFrom: r.journal_from,
      }));
    }
    case "running":
      return (s.flowRunning.get(read.workflow, read.key, read.now) as { n: number }).n;
    case "begun": {
      const row = s.flowBegun.get(read.workflow, read.key, read.since) as {
        n: number;
        oldest: number | null;
      };
      return row.oldest === null ? { count: row.n } : { count: row.n, oldest: row.oldest };
    }
    case "claim":
      return;
  }
}
