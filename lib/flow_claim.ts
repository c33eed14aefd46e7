/**
 * How every driver's claim enforces flow control, decided once. A driver
 * answers a few reads (due candidates, how many runs of a key are running,
 * how many began within a period) and performs claims; this planner decides,
 * in priority order, which candidate may be claimed. It is a generator so the
 * memory and SQLite drivers can answer synchronously inside their claim and
 * PostgreSQL asynchronously inside its claim transaction, with one logic.
 *
 * - Concurrency: a candidate that is not `running` is claimable while fewer
 *   than `concurrency` runs of its workflow and concurrency key execute: are
 *   `running`, or `paused` with a step still in flight (its lease held and
 *   not expired: it counts until that step is checkpointed and the run handed
 *   back). A `running` run is already counted: taking it over, or claiming it
 *   after a graceful hand-back, is always allowed.
 * - Rate limit: a run *begins* when it is claimed for the first time (from
 *   `pending`, never before); a `pending` run that never began is claimable
 *   while fewer than `limit` runs of its workflow and rate key began after
 *   `now - periodMs`. Waking from a sleep or a wait is not a beginning.
 * - Candidates come in priority order (higher first, then due time); a key
 *   found full is excluded from the next read, so runs blocked by a limit are
 *   never read twice in one claim and never starve other keys.
 *
 * @module
 */
import type { FlowLimits, FlowLimitsByWorkflow, RunStatus } from "./driver.ts";

/** A due run as the planner sees it. */
export interface FlowCandidate {
  /** The run id. */
  id: string;
  /** Workflow name. */
  workflow: string;
  /** Status before the claim. */
  status: RunStatus;
  /** Stored concurrency key ("" when none). */
  concurrencyKey: string;
  /** Stored rate key ("" when none). */
  rateKey: string;
  /** Whether the run began already (it was claimed from `pending` before). */
  begun: boolean;
  /** When it is due (epoch ms). */
  dueAt: number;
}

/** Separates a workflow name from a key in the blocked lists (keys hold no control characters). */
export const FLOW_KEY_SEPARATOR = "\u001f";

/** What the planner asks the driver. */
export type FlowRead =
  | {
    read: "candidates";
    /** Only runs due by this time. */
    dueBy: number;
    /** Most rows. */
    limit: number;
    /** `priority`: higher priority first, then due time; `due`: due time only. */
    order: "priority" | "due";
    /** `workflow + FLOW_KEY_SEPARATOR + concurrencyKey` of full keys: skip runs not `running`. */
    blockedConcurrency: string[];
    /** `workflow + FLOW_KEY_SEPARATOR + rateKey` of full keys: skip `pending` runs not begun. */
    blockedRate: string[];
  }
  /** Runs of the key executing at `now` (running, or paused with a lease not expired). */
  | { read: "running"; workflow: string; key: string; now: number }
  | { read: "begun"; workflow: string; key: string; since: number }
  | { read: "claim"; candidate: FlowCandidate; begins: boolean };

/** The answer to a `begun` read. */
export interface BegunCount {
  /** Runs of the key that began after `since`. */
  count: number;
  /** The earliest such beginning (epoch ms). */
  oldest?: number;
}

/** Answers: `candidates` → FlowCandidate[]; `running` → number; `begun` → BegunCount; `claim` → void. */
export type FlowAnswer = FlowCandidate[] | number | BegunCount | void;

/** The planner: yields reads, receives answers. */
export type FlowPlan<T> = Generator<FlowRead, T, FlowAnswer>;

/** Rounds of reads before a claim gives up (each round excludes at least one more full key). */
const MAX_ROUNDS = 64;
/** Candidates read per round when looking for the next due time. */
const NEXT_BATCH = 32;

interface FlowState {
  running: Map<string, number>;
  begun: Map<string, BegunCount>;
  blockedConcurrency: Set<string>;
  blockedRate: Set<string>;
}

type Verdict =
  | { admit: true; concurrency?: string; rate?: string }
  | { admit: false; freeAt?: number };

function* decide(
  c: FlowCandidate,
  limits: FlowLimits | undefined,
  now: number,
  st: FlowState,
): FlowPlan<Verdict> {
  if (!limits || c.status === "running") return { admit: true };
  const verdict: Verdict = { admit: true };
  if (limits.concurrency !== undefined) {
    const key = c.workflow + FLOW_KEY_SEPARATOR + c.concurrencyKey;
    let running = st.running.get(key);
    if (running === undefined) {
      running =
        (yield { read: "running", workflow: c.workflow, key: c.concurrencyKey, now }) as number;
      st.running.set(key, running);
    }
    if (running >= limits.concurrency) {
      st.blockedConcurrency.add(key);
      return { admit: false };
    }
    verdict.concurrency = key;
  }
  const rate = limits.rateLimit;
  if (rate && c.status === "pending" && !c.begun) {
    const key = c.workflow + FLOW_KEY_SEPARATOR + c.rateKey;
    let begun = st.begun.get(key);
    if (begun === undefined) {
      const since = now - rate.periodMs;
      begun = (yield { read: "begun", workflow: c.workflow, key: c.rateKey, since }) as BegunCount;
      st.begun.set(key, begun);
    }
    if (begun.count >= rate.limit) {
      st.blockedRate.add(key);
      return { admit: false, freeAt: (begun.oldest ?? now) + rate.periodMs };
    }
    verdict.rate = key;
  }
  return verdict;
}

function candidates(
  st: FlowState,
  dueBy: number,
  limit: number,
  order: "priority" | "due",
): FlowRead {
  return {
    read: "candidates",
    dueBy,
    limit,
    order,
    blockedConcurrency: [...st.blockedConcurrency],
    blockedRate: [...st.blockedRate],
  };
}

function newState(): FlowState {
  return {
    running: new Map(),
    begun: new Map(),
    blockedConcurrency: new Set(),
    blockedRate: new Set(),
  };
}

/**
 * Claims up to `limit` due runs in priority order, within the flow limits:
 * yields a `claim` read for each run to claim (`begins` when the claim is the
 * run's beginning under a rate limit: the driver records the time).
 */
export function* planFlowClaim(
  flow: FlowLimitsByWorkflow,
  now: number,
  limit: number,
): FlowPlan<void> {
  const st = newState();
  let claimed = 0;
  for (let round = 0; round < MAX_ROUNDS && claimed < limit; round++) {
    const rows = (yield candidates(st, now, limit - claimed, "priority")) as FlowCandidate[];
    if (rows.length === 0) return;
    let blocked = false;
    for (const c of rows) {
      const verdict = yield* decide(c, flow[c.workflow], now, st);
      if (!verdict.admit) {
        blocked = true;
        continue;
      }
      yield { read: "claim", candidate: c, begins: verdict.rate !== undefined };
      claimed++;
      if (verdict.concurrency) {
        st.running.set(verdict.concurrency, st.running.get(verdict.concurrency)! + 1);
      }
      if (verdict.rate) {
        const begun = st.begun.get(verdict.rate)!;
        st.begun.set(verdict.rate, { count: begun.count + 1, oldest: begun.oldest ?? now });
      }
    }
    if (!blocked) return;
  }
}

/**
 * The earliest time a run becomes claimable within the flow limits: runs
 * behind a full concurrency limit are skipped (a `released` notice reports a
 * freed slot); runs behind a full rate limit count from when the window
 * admits one again. Never a time at or before `now` for a blocked run, so a
 * worker does not spin on them.
 */
export function* planFlowNextDue(
  flow: FlowLimitsByWorkflow,
  now: number,
): FlowPlan<number | undefined> {
  const st = newState();
  let best: number | undefined;
  const earliest = (t: number) => best === undefined || t < best ? t : best;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const rows =
      (yield candidates(st, Number.MAX_SAFE_INTEGER, NEXT_BATCH, "due")) as FlowCandidate[];
    for (const c of rows) {
      if (c.dueAt > now) return earliest(c.dueAt);
      const verdict = yield* decide(c, flow[c.workflow], now, st);
      if (verdict.admit) return earliest(c.dueAt);
      if (verdict.freeAt !== undefined) best = earliest(verdict.freeAt);
    }
    if (rows.length < NEXT_BATCH) return best;
  }
  // Too many full keys to look through: look again in a second, never at once.
  return earliest(now + 1_000);
}

/** Runs a plan whose reads are answered synchronously. */
export function runPlanSync<T>(plan: FlowPlan<T>, answer: (read: FlowRead) => FlowAnswer): T {
  let step = plan.next();
  while (!step.done) step = plan.next(answer(step.value));
  return step.value;
}

/** Runs a plan whose reads are answered asynchronously. */
export async function runPlan<T>(
  plan: FlowPlan<T>,
  answer: (read: FlowRead) => Promise<FlowAnswer>,
): Promise<T> {
  let step = plan.next();
  while (!step.done) step = plan.next(await answer(step.value));
  return step.value;
}

/** Whether any workflow of a claim has flow limits. */
export function hasFlowLimits(
  flow: FlowLimitsByWorkflow | undefined,
  workflows: readonly string[],
): flow is FlowLimitsByWorkflow {
  if (!flow) return false;
  return workflows.some((name) => flow[name] !== undefined);
}
