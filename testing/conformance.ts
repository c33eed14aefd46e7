/**
 * The storage-driver conformance suite: one set of tests that every driver
 * (memory, SQLite, PostgreSQL, and third-party ones) must pass, so that they
 * all behave like the reference `MemoryDriver`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { workflow } from "../lib/builder.ts";
import { ManualClock } from "../lib/clock.ts";
import {
  type Claim,
  type Driver,
  type DriverNotice,
  type Lease,
  signalRowData,
  type StepRow,
  type StoredEvent,
  type StoredRun,
} from "../lib/driver.ts";
import { done, newRun, T0, WF } from "./rows.ts";
import { registerTest } from "./_register.ts";
import { LIMIT_CASES } from "./_conformance_limits.ts";
import { Engine } from "../lib/engine.ts";
import {
  CancelledError,
  InvalidStateError,
  LeaseLostError,
  RunNotFoundError,
  toErrorInfo,
} from "../lib/errors.ts";

/**
 * Options of {@linkcode testDriverConformance}.
 *
 * @example Skip a case, with the reason
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ConformanceOptions } from "@sluice/sluice/testing";
 *
 * const options: ConformanceOptions = {
 *   skip: {
 *     "values with quotes, SQL keywords and unicode are stored verbatim":
 *       "this driver keeps values in memory only",
 *   },
 * };
 * assert.equal(Object.keys(options.skip!).length, 1);
 * ```
 */
export interface ConformanceOptions {
  /**
   * Cases to skip, by name (without the driver prefix), each with the reason,
   * which is printed with the skipped test. Unknown names throw, so a renamed
   * case cannot be skipped silently.
   *
   * @default {{}}
   */
  skip?: Record<string, string>;
}

interface ConformanceCase {
  name: string;
  /** The case closes the driver itself (through an Engine, or to test `close()`). */
  closes?: boolean;
  /**
   * The case body. `dispose` registers an engine or worker to dispose of when
   * the case ends, last registered first: what `await using` does, which Node
   * 22 cannot parse.
   */
  fn: (driver: Driver, dispose: <T extends AsyncDisposable>(resource: T) => T) => Promise<void>;
}

const LEASE_MS = 30_000;

function pending(key: string, data: string): StepRow {
  return { key, kind: "step", state: "pending", data, attempt: 1 };
}

async function claimAll(
  driver: Driver,
  now: number,
  options: { workerId?: string; leaseMs?: number; limit?: number; workflows?: string[] } = {},
): Promise<Claim[]> {
  return await driver.claimRuns({
    workerId: options.workerId ?? "worker-1",
    now,
    leaseMs: options.leaseMs ?? LEASE_MS,
    limit: options.limit ?? 100,
    workflows: options.workflows ?? [WF],
  });
}

/** Creates a run and claims it; returns its lease. */
async function started(
  driver: Driver,
  id: string,
  now = T0,
  leaseMs = LEASE_MS,
): Promise<Lease> {
  await driver.createRun(newRun(id, { dueAt: now }), now);
  const claims = await claimAll(driver, now, { leaseMs });
  const claim = claims.find((c) => c.run.id === id);
  assert.ok(claim, `run '${id}' should be claimable`);
  return claim.lease;
}

function ids(claims: readonly Claim[]): string[] {
  return claims.map((c) => c.run.id);
}

async function rowsOf(driver: Driver, runId: string, keys: string[]): Promise<StepRow[]> {
  const rows = await driver.readSteps(runId, keys);
  return keys.flatMap((key) => rows.has(key) ? [rows.get(key)!] : []);
}

/** Events and `done` rows of a history, as short labels, in order. */
async function timeline(driver: Driver, runId: string): Promise<string[]> {
  const items = await driver.history(runId);
  const seqs = items.map((item) => item.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "history is ordered by seq");
  assert.equal(new Set(seqs).size, seqs.length, "history seqs are unique");
  return items.flatMap((item) =>
    item.source === "event"
      ? [`${item.event.type}${item.event.step ? `:${item.event.step}` : ""}`]
      : item.row.state === "done"
      ? [`row:${item.row.key}`]
      : []
  );
}

function collect(driver: Driver): { notices: DriverNotice[]; off: () => void } {
  const notices: DriverNotice[] = [];
  const off = driver.subscribe((notice) => {
    if (notice.type !== "changed") notices.push(notice);
  });
  return { notices, off };
}

function has(notices: readonly DriverNotice[], type: DriverNotice["type"], runId: string): boolean {
  return notices.some((n) => n.type === type && n.runId === runId);
}

const CASES: ConformanceCase[] = [
  {
    name: "createRun stores a pending run and returns the existing run for a known id",
    async fn(driver) {
      const { run, created } = await driver.createRun(
        newRun("run-1", { input: '{"a":1}', labels: { team: "core" } }),
        T0,
      );
      assert.equal(created, true);
      const expected: StoredRun = {
        id: "run-1",
        workflow: WF,
        version: "1",
        planHash: "hash-1",
        status: "pending",
        input: '{"a":1}',
        labels: { team: "core" },
        createdAt: T0,
        updatedAt: T0,
        dueAt: T0,
        leaseToken: 0,
      };
      assert.deepEqual(run, expected);
      assert.deepEqual(await driver.getRun("run-1"), expected);
      const again = await driver.createRun(
        newRun("run-1", { workflow: "another", version: "2", input: '"x"', dueAt: T0 + 5 }),
        T0 + 10,
      );
      assert.equal(again.created, false);
      assert.deepEqual(again.run, expected);
      assert.deepEqual(await driver.getRun("run-1"), expected);
      assert.deepEqual(await timeline(driver, "run-1"), ["run.created"]);
      assert.equal(await driver.getRun("missing"), undefined);
      const bare = await driver.createRun(newRun("run-2"), T0);
      assert.equal("input" in bare.run, false);
      assert.equal("input" in (await driver.getRun("run-2"))!, false);
    },
  },
  {
    name: "claimRuns never hands the same run to two concurrent claimers",
    async fn(driver) {
      for (let i = 0; i < 20; i++) {
        await driver.createRun(newRun(`run-${String(i).padStart(2, "0")}`, { dueAt: T0 + i }), T0);
      }
      const batches = await Promise.all(
        Array.from(
          { length: 8 },
          (_, i) => claimAll(driver, T0 + 100, { workerId: `worker-${i}`, limit: 3 }),
        ),
      );
      const claimed = batches.flatMap(ids);
      assert.equal(claimed.length, 20, "every due run is claimed");
      assert.equal(new Set(claimed).size, 20, "no run is claimed twice");
      batches.forEach((claims, i) => {
        for (const claim of claims) {
          assert.equal(claim.run.status, "running");
          assert.equal(claim.run.leaseOwner, `worker-${i}`);
          assert.equal(claim.run.dueAt, T0 + 100 + LEASE_MS);
          assert.equal(claim.previousStatus, "pending");
          assert.deepEqual(claim.lease, { runId: claim.run.id, token: 1 });
          assert.equal(claim.run.leaseToken, 1);
        }
      });
      assert.deepEqual(await claimAll(driver, T0 + 200), []);
    },
  },
  {
    name: "claimRuns honours due order, the workflows filter and the limit",
    async fn(driver) {
      await driver.createRun(newRun("a", { dueAt: T0 + 30 }), T0);
      await driver.createRun(newRun("b", { dueAt: T0 + 10 }), T0);
      await driver.createRun(newRun("c", { dueAt: T0 + 20 }), T0);
      await driver.createRun(newRun("d", { dueAt: T0 + 5, workflow: "other" }), T0);
      await driver.createRun(newRun("e", { dueAt: T0 + 1_000 }), T0);
      assert.equal(await driver.nextDueAt([WF]), T0 + 10);
      assert.equal(await driver.nextDueAt([WF, "other"]), T0 + 5);
      assert.equal(await driver.nextDueAt(["unknown"]), undefined);
      assert.deepEqual(await claimAll(driver, T0 + 4), []);
      assert.deepEqual(ids(await claimAll(driver, T0 + 100, { limit: 2 })), ["b", "c"]);
      assert.deepEqual(ids(await claimAll(driver, T0 + 100, { limit: 10 })), ["a"]);
      assert.deepEqual(await claimAll(driver, T0 + 100, { workflows: [] }), []);
      assert.deepEqual(ids(await claimAll(driver, T0 + 100, { workflows: ["other"] })), ["d"]);
      assert.equal(await driver.nextDueAt([WF]), T0 + 1_000);
      assert.deepEqual(ids(await claimAll(driver, T0 + 1_000)), ["e"]);
      const claimed = (await driver.getRun("b"))!;
      assert.equal(claimed.updatedAt, T0 + 100);
      assert.deepEqual(await timeline(driver, "b"), ["run.created", "run.started"]);
    },
  },
  {
    name: "an expired lease makes the run claimable again with a higher token",
    async fn(driver) {
      const first = await started(driver, "run-1", T0, 1_000);
      assert.equal(first.token, 1);
      assert.deepEqual(await claimAll(driver, T0 + 999, { workerId: "worker-2" }), []);
      const [again] = await claimAll(driver, T0 + 1_000, { workerId: "worker-2" });
      assert.ok(again);
      assert.equal(again.previousStatus, "running");
      assert.equal(again.lease.token, 2);
      assert.equal(again.run.leaseOwner, "worker-2");
      assert.equal(again.run.updatedAt, T0, "a reclaim is not a status change");
      await assert.rejects(driver.write(first, { steps: [done("a")] }, T0 + 1_001), LeaseLostError);
      await driver.write(again.lease, { steps: [done("a", "1")] }, T0 + 1_001);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a"]), [done("a", "1")]);
      assert.deepEqual(await timeline(driver, "run-1"), [
        "run.created",
        "run.started",
        "run.recovered",
        "row:a",
      ]);
    },
  },
  {
    name:
      "a takeover is a recovery: counted, recorded, and reset by a flagged write or a transition",
    async fn(driver) {
      const recoveries = async () => (await driver.getRun("run-1"))!.recoveries;
      await started(driver, "run-1", T0, 1_000);
      assert.equal(await recoveries(), undefined);
      const [second] = await claimAll(driver, T0 + 1_000, { workerId: "worker-2", leaseMs: 1_000 });
      assert.equal(second?.previousOwner, "worker-1");
      assert.equal(second?.run.recoveries, 1);
      const [third] = await claimAll(driver, T0 + 2_000, { workerId: "worker-3", leaseMs: 1_000 });
      assert.equal(third?.previousOwner, "worker-2");
      assert.equal(third?.run.recoveries, 2);
      await driver.write(third.lease, { steps: [done("a")] }, T0 + 2_001);
      assert.equal(await recoveries(), 2, "an unflagged write keeps the count");
      await driver.write(third.lease, { steps: [done("b")], clearRecoveries: true }, T0 + 2_002);
      assert.equal(await recoveries(), undefined, "a flagged write resets it");
      const [fourth] = await claimAll(driver, T0 + 4_000, { leaseMs: 1_000 });
      assert.equal(fourth?.run.recoveries, 1);
      await assert.rejects(
        driver.write(third.lease, { clearRecoveries: true }, T0 + 4_001),
        LeaseLostError,
      );
      assert.equal(await recoveries(), 1, "a stale flagged write changes nothing");
      await driver.write(fourth.lease, { run: { status: "running" } }, T0 + 4_002);
      assert.equal(await recoveries(), undefined, "a transition resets it");
      const [fifth] = await claimAll(driver, T0 + 4_002, { workerId: "worker-2" });
      assert.equal(fifth?.previousStatus, "running");
      assert.equal(fifth?.previousOwner, undefined, "a handed-back run is not taken over");
      const recovered = (await driver.history("run-1")).flatMap((item) =>
        item.source === "event" && item.event.type === "run.recovered"
          ? [{ at: item.event.at, ...JSON.parse(item.event.detail!) }]
          : []
      );
      assert.deepEqual(recovered, [
        { at: T0 + 1_000, previousWorker: "worker-1", worker: "worker-2" },
        { at: T0 + 2_000, previousWorker: "worker-2", worker: "worker-3" },
        { at: T0 + 4_000, previousWorker: "worker-3", worker: "worker-1" },
      ]);
    },
  },
  {
    name: "a stale lease is refused on every fenced write and leaves data unchanged",
    async fn(driver) {
      const stale = await started(driver, "run-1", T0, 1_000);
      await driver.write(stale, { steps: [done("a", "1"), pending("b", '{"n":1}')] }, T0 + 1);
      const [fresh] = await claimAll(driver, T0 + 2_000, { workerId: "worker-2" });
      assert.ok(fresh);
      await driver.sendSignal("run-1", "go", '"payload"', T0 + 2_001);
      const keys = ["a", "b", "c", "wait"];
      const before = {
        run: await driver.getRun("run-1"),
        rows: await rowsOf(driver, "run-1", keys),
        history: await driver.history("run-1"),
      };
      const attempts: [string, () => Promise<unknown>][] = [
        ["a row", () => driver.write(stale, { steps: [done("c", "3")] }, T0 + 2_002)],
        [
          "a done row over a pending one",
          () => driver.write(stale, { steps: [done("b", "2")] }, T0 + 2_002),
        ],
        ["several rows", () =>
          driver.write(
            stale,
            { steps: Array.from({ length: 6 }, (_, i) => done(`c${i}`, String(i))) },
            T0 + 2_002,
          )],
        [
          "an event",
          () => driver.write(stale, { events: [{ type: "step.failed", at: T0, step: "c" }] }, T0),
        ],
        ["an empty batch", () => driver.write(stale, {}, T0 + 2_002)],
        [
          "a completion",
          () => driver.write(stale, { run: { status: "completed", output: "1" } }, T0 + 2_002),
        ],
        ["a failure", () =>
          driver.write(
            stale,
            { run: { status: "failed", error: { name: "Error", message: "x" } } },
            T0 + 2_002,
          )],
        [
          "a sleep",
          () => driver.write(stale, { run: { status: "sleeping", dueAt: T0 + 9_000 } }, T0 + 2_002),
        ],
        ["a release", () => driver.write(stale, { run: { status: "running" } }, T0 + 2_002)],
        [
          "a signal consumption",
          () => driver.consumeSignal(stale, ["go"], done("wait"), {}, T0 + 2_002),
        ],
        [
          "a token never issued",
          () => driver.write({ runId: "run-1", token: 99 }, { steps: [done("c")] }, T0 + 2_002),
        ],
        [
          "an unknown run",
          () => driver.write({ runId: "nope", token: 1 }, { steps: [done("c")] }, T0 + 2_002),
        ],
      ];
      for (const [what, attempt] of attempts) {
        await assert.rejects(async () => await attempt(), LeaseLostError, `${what} is refused`);
      }
      assert.deepEqual(await driver.getRun("run-1"), before.run);
      assert.deepEqual(await rowsOf(driver, "run-1", keys), before.rows);
      assert.deepEqual(await driver.history("run-1"), before.history);
      const got = await driver.consumeSignal(fresh.lease, ["go"], done("wait"), {}, T0 + 2_003);
      assert.deepEqual(got, { name: "go", payload: '"payload"' });
    },
  },
  {
    name: "extendLeases reports held, lost and cancelled leases and pending signals",
    async fn(driver) {
      for (const id of ["a", "b", "c"]) await driver.createRun(newRun(id), T0);
      const claims = await claimAll(driver, T0, { leaseMs: 1_000 });
      const lease = (id: string) => claims.find((c) => c.run.id === id)!.lease;
      await driver.sendSignal("b", "go", undefined, T0 + 1);
      assert.deepEqual(await driver.extendLeases([lease("b")], T0 + 500, 1_000), [
        { runId: "b", state: "held", signals: true },
      ]);
      assert.equal((await driver.getRun("b"))!.dueAt, T0 + 1_500);
      await driver.cancelRun("c", "stop", T0 + 600);
      assert.deepEqual(ids(await claimAll(driver, T0 + 1_200, { workerId: "worker-2" })), ["a"]);
      const states = await driver.extendLeases(
        [lease("a"), lease("b"), lease("c"), { runId: "nope", token: 1 }],
        T0 + 1_200,
        1_000,
      );
      assert.deepEqual(states, [
        { runId: "a", state: "lost", signals: false },
        { runId: "b", state: "held", signals: true },
        { runId: "c", state: "cancelled", signals: false },
        { runId: "nope", state: "cancelled", signals: false },
      ]);
      assert.equal((await driver.getRun("b"))!.dueAt, T0 + 2_200);
      assert.deepEqual(await driver.extendLeases([], T0, 1_000), []);
    },
  },
  {
    name: "checkpoint rows are read back, done rows are never overwritten and pending rows are",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(lease, { steps: [pending("a", '{"n":1}'), done("b", "1")] }, T0 + 1);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b", "missing"]), [
        pending("a", '{"n":1}'),
        done("b", "1"),
      ]);
      await driver.write(lease, { steps: [pending("a", '{"n":2}')] }, T0 + 2);
      await driver.write(lease, { steps: [done("b", "2")] }, T0 + 3);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b"]), [
        pending("a", '{"n":2}'),
        done("b", "1"),
      ]);
      await driver.write(lease, { steps: [done("a", "3")] }, T0 + 4);
      await driver.write(lease, { steps: [pending("a", '{"n":4}'), done("a", "5")] }, T0 + 5);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a"]), [done("a", "3")]);
      const many = Array.from({ length: 11 }, (_, i) => done(`loop#${i}/s`, String(i)));
      await driver.write(lease, { steps: many }, T0 + 6);
      const keys = many.map((row) => row.key);
      assert.deepEqual(await rowsOf(driver, "run-1", keys), many);
      assert.deepEqual(await rowsOf(driver, "run-1", []), []);
      assert.deepEqual(await rowsOf(driver, "other", ["a"]), []);
      const bare: StepRow = { key: "bare", kind: "sleep", state: "done" };
      await driver.write(lease, { steps: [bare] }, T0 + 7);
      assert.deepEqual(await rowsOf(driver, "run-1", ["bare"]), [bare]);
      await driver.write(lease, { run: { status: "running" } }, T0 + 8);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b", "bare"]), [
        done("a", "3"),
        done("b", "1"),
        bare,
      ]);
      const [again] = await claimAll(driver, T0 + 9);
      assert.ok(again);
      await driver.write(again.lease, { steps: [done("b", "6"), done("c", "7")] }, T0 + 10);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b", "c", ...keys]), [
        done("a", "3"),
        done("b", "1"),
        done("c", "7"),
        ...many,
      ]);
    },
  },
  {
    name: "rows written under a lease that expired are seen by the next claimant",
    async fn(driver) {
      const first = await started(driver, "run-1", T0, 1_000);
      await driver.write(first, { steps: [done("a", "1")] }, T0 + 1);
      await driver.write(
        first,
        {
          steps: [pending("b", '{"failures":1}')],
          events: [{ type: "step.failed", at: T0 + 2, step: "b", attempt: 1 }],
        },
        T0 + 2,
      );
      const [second] = await claimAll(driver, T0 + 5_000, { workerId: "worker-2" });
      assert.ok(second);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b"]), [
        done("a", "1"),
        pending("b", '{"failures":1}'),
      ]);
      await driver.write(second.lease, { steps: [done("b", "2")] }, T0 + 5_001);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b"]), [done("a", "1"), done("b", "2")]);
      assert.deepEqual(await timeline(driver, "run-1"), [
        "run.created",
        "run.started",
        "row:a",
        "step.failed:b",
        "run.recovered",
        "row:b",
      ]);
    },
  },
  {
    name: "sleeping runs become claimable exactly at their due time, in due order",
    async fn(driver) {
      const clock = new ManualClock(T0);
      for (const id of ["r1", "r2", "r3"]) await driver.createRun(newRun(id), clock.now());
      const claims = await claimAll(driver, clock.now());
      const wake: Record<string, string> = { r1: "3h", r2: "1h", r3: "2h" };
      const hours: Record<string, number> = { r1: 3, r2: 1, r3: 2 };
      for (const claim of claims) {
        await driver.write(
          claim.lease,
          {
            events: [{ type: "run.sleeping", at: clock.now() }],
            run: { status: "sleeping", dueAt: T0 + hours[claim.run.id]! * 3_600_000 },
          },
          clock.now(),
        );
      }
      const r2 = (await driver.getRun("r2"))!;
      assert.equal(r2.status, "sleeping");
      assert.equal(r2.dueAt, T0 + 3_600_000);
      assert.equal(r2.leaseOwner, undefined);
      assert.equal(await driver.nextDueAt([WF]), T0 + 3_600_000);
      assert.deepEqual(await claimAll(driver, clock.now()), []);
      const order: string[] = [];
      for (const id of ["r2", "r3", "r1"]) {
        const due = T0 + hours[id]! * 3_600_000;
        await clock.advance(due - 1 - clock.now());
        assert.deepEqual(await claimAll(driver, clock.now()), [], `${id} is not due 1ms early`);
        await clock.advance(1);
        assert.equal(wake[id] !== undefined, true);
        const woken = await claimAll(driver, clock.now());
        assert.deepEqual(ids(woken), [id]);
        assert.equal(woken[0]!.previousStatus, "sleeping");
        order.push(...ids(woken));
        await driver.write(woken[0]!.lease, { run: { status: "completed" } }, clock.now());
      }
      assert.deepEqual(order, ["r2", "r3", "r1"]);
      assert.equal(await driver.nextDueAt([WF]), undefined);
    },
  },
  {
    name: "a signal sent before the wait is kept and consumed when the wait is reached",
    async fn(driver) {
      await driver.createRun(newRun("run-1"), T0);
      await driver.sendSignal("run-1", "approve", '{"ok":true}', T0 + 1);
      assert.equal((await driver.getRun("run-1"))!.status, "pending");
      const [claim] = await claimAll(driver, T0 + 2);
      assert.ok(claim);
      const row: StepRow = {
        key: "approval",
        kind: "wait",
        state: "done",
        startedAt: T0 + 2,
        finishedAt: T0 + 3,
      };
      const got = await driver.consumeSignal(claim.lease, ["approve"], row, {}, T0 + 3);
      assert.deepEqual(got, { name: "approve", payload: '{"ok":true}' });
      assert.deepEqual(await rowsOf(driver, "run-1", ["approval"]), [
        { ...row, data: signalRowData("approve", '{"ok":true}') },
      ]);
      assert.equal(
        await driver.consumeSignal(claim.lease, ["approve"], { ...row, key: "again" }, {}, T0 + 4),
        undefined,
      );
      assert.deepEqual(await rowsOf(driver, "run-1", ["again"]), []);
      assert.deepEqual(await timeline(driver, "run-1"), [
        "run.created",
        "signal.received",
        "run.started",
        "row:approval",
      ]);
    },
  },
  {
    name: "consumeSignal takes the oldest matching signal exactly once, in send order",
    async fn(driver) {
      await driver.createRun(newRun("run-1"), T0);
      await driver.sendSignal("run-1", "a", "1", T0);
      await driver.sendSignal("run-1", "b", "2", T0);
      await driver.sendSignal("run-1", "a", "3", T0);
      await driver.sendSignal("run-1", "c", undefined, T0);
      const [claim] = await claimAll(driver, T0);
      assert.ok(claim);
      let n = 0;
      const take = (names: string[], batch = {}) =>
        driver.consumeSignal(
          claim.lease,
          names,
          { key: `w${n++}`, kind: "wait", state: "done" },
          batch,
          T0 + 1,
        );
      assert.deepEqual(await take(["a"]), { name: "a", payload: "1" });
      assert.deepEqual(await take(["a", "c"]), { name: "a", payload: "3" });
      assert.equal(await take(["a"]), undefined);
      assert.deepEqual(await take(["c", "b"]), { name: "b", payload: "2" });
      const waitRow: StepRow = { key: "later", kind: "wait", state: "pending", data: "{}" };
      assert.deepEqual(await take(["c"], { steps: [waitRow] }), { name: "c" });
      assert.equal(await take(["b", "c"], { steps: [waitRow] }), undefined);
      assert.deepEqual(await rowsOf(driver, "run-1", ["later"]), [waitRow]);
      await driver.sendSignal("run-1", "x", '"only"', T0 + 2);
      const both = await Promise.all([take(["x"]), take(["x"])]);
      assert.deepEqual(both.filter((got) => got !== undefined), [{ name: "x", payload: '"only"' }]);
      const extended = await driver.extendLeases([claim.lease], T0 + 3, LEASE_MS);
      assert.equal(extended[0]!.signals, false, "the inbox is empty");
    },
  },
  {
    name: "suspending to waiting with a matching signal in the inbox makes the run due at once",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.sendSignal("run-1", "go", undefined, T0 + 1);
      const { notices, off } = collect(driver);
      await driver.write(
        lease,
        { run: { status: "waiting", waitingFor: ["go"], dueAt: T0 + 99_999 } },
        T0 + 2,
      );
      off();
      const run = (await driver.getRun("run-1"))!;
      assert.equal(run.status, "waiting");
      assert.equal(run.dueAt, T0 + 2);
      assert.deepEqual(run.waitingFor, ["go"]);
      assert.ok(has(notices, "runnable", "run-1"));
      const [claim] = await claimAll(driver, T0 + 2);
      assert.ok(claim);
      assert.equal(claim.previousStatus, "waiting");
      assert.equal(claim.run.waitingFor, undefined);
      await driver.write(
        claim.lease,
        { run: { status: "waiting", waitingFor: ["other"], dueAt: T0 + 50 } },
        T0 + 3,
      );
      assert.equal((await driver.getRun("run-1"))!.dueAt, T0 + 50);
      const [third] = await claimAll(driver, T0 + 50);
      assert.ok(third);
      await driver.write(
        third.lease,
        { run: { status: "waiting", waitingFor: ["other"] } },
        T0 + 51,
      );
      assert.equal((await driver.getRun("run-1"))!.dueAt, undefined);
    },
  },
  {
    name: "sendSignal to a waiting run makes it due and reports it runnable",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(lease, { run: { status: "waiting", waitingFor: ["go", "stop"] } }, T0 + 1);
      assert.equal((await driver.getRun("run-1"))!.dueAt, undefined);
      assert.equal(await driver.nextDueAt([WF]), undefined);
      const { notices, off } = collect(driver);
      await driver.sendSignal("run-1", "other", undefined, T0 + 2);
      assert.equal((await driver.getRun("run-1"))!.dueAt, undefined);
      assert.ok(has(notices, "signal", "run-1"));
      assert.equal(has(notices, "runnable", "run-1"), false);
      await driver.sendSignal("run-1", "stop", '"now"', T0 + 50);
      off();
      assert.ok(has(notices, "runnable", "run-1"));
      assert.equal((await driver.getRun("run-1"))!.dueAt, T0 + 50);
      const [claim] = await claimAll(driver, T0 + 50);
      assert.ok(claim);
      assert.deepEqual(
        await driver.consumeSignal(claim.lease, ["go", "stop"], done("w"), {}, T0 + 51),
        { name: "stop", payload: '"now"' },
      );
    },
  },
  {
    name: "sendSignal, cancelRun and retryRun reject unknown runs and finished runs",
    async fn(driver) {
      await assert.rejects(driver.sendSignal("nope", "go", undefined, T0), RunNotFoundError);
      await assert.rejects(driver.cancelRun("nope", undefined, T0), RunNotFoundError);
      await assert.rejects(driver.retryRun("nope", T0), RunNotFoundError);
      await assert.rejects(driver.history("nope"), RunNotFoundError);
      const completed = await started(driver, "completed");
      await driver.write(completed, { run: { status: "completed", output: "1" } }, T0 + 1);
      const failed = await started(driver, "failed");
      await driver.write(
        failed,
        { run: { status: "failed", error: { name: "Error", message: "boom" } } },
        T0 + 1,
      );
      await driver.createRun(newRun("cancelled"), T0);
      await driver.cancelRun("cancelled", undefined, T0 + 1);
      for (const id of ["completed", "failed", "cancelled"]) {
        const before = await driver.getRun(id);
        const history = await driver.history(id);
        await assert.rejects(driver.sendSignal(id, "go", undefined, T0 + 2), InvalidStateError);
        await assert.rejects(driver.cancelRun(id, "again", T0 + 2), InvalidStateError);
        if (id !== "failed") await assert.rejects(driver.retryRun(id, T0 + 2), InvalidStateError);
        assert.deepEqual(await driver.getRun(id), before);
        assert.deepEqual(await driver.history(id), history);
      }
      assert.equal((await driver.getRun("completed"))!.output, "1");
    },
  },
  {
    name: "cancelRun revokes the lease and records the reason",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(lease, { steps: [done("a", "1")] }, T0 + 1);
      const { notices, off } = collect(driver);
      const cancelled = await driver.cancelRun("run-1", "too slow", T0 + 5);
      off();
      const error = toErrorInfo(new CancelledError("run-1", "too slow"));
      delete error.stack;
      assert.deepEqual(cancelled, {
        id: "run-1",
        workflow: WF,
        version: "1",
        planHash: "hash-1",
        status: "cancelled",
        error,
        labels: {},
        createdAt: T0,
        updatedAt: T0 + 5,
        leaseToken: lease.token + 1,
      });
      assert.deepEqual(await driver.getRun("run-1"), cancelled);
      assert.ok(
        notices.some((n) =>
          n.type === "cancelled" && n.runId === "run-1" && n.reason === "too slow"
        ),
        "the cancelled notice carries the reason",
      );
      assert.ok(has(notices, "finished", "run-1"));
      await assert.rejects(driver.write(lease, { steps: [done("b")] }, T0 + 6), LeaseLostError);
      await assert.rejects(
        driver.consumeSignal(lease, ["go"], done("w"), {}, T0 + 6),
        LeaseLostError,
      );
      assert.deepEqual(await claimAll(driver, T0 + 100_000), []);
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b"]), [done("a", "1")]);
      const history = await driver.history("run-1");
      const last = history[history.length - 1]!;
      assert.equal(last.source, "event");
      assert.deepEqual(
        (last as { event: StoredEvent }).event,
        { type: "run.cancelled", at: T0 + 5, detail: JSON.stringify({ reason: "too slow" }) },
      );
      await driver.createRun(newRun("run-2"), T0);
      const plain = await driver.cancelRun("run-2", undefined, T0 + 1);
      assert.equal(plain.status, "cancelled");
      const items = await driver.history("run-2");
      assert.deepEqual((items[items.length - 1] as { event: StoredEvent }).event, {
        type: "run.cancelled",
        at: T0 + 1,
      });
    },
  },
  {
    name: "retryRun resumes only failed runs and clears the failed step's pending row",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(
        lease,
        {
          steps: [done("a", "1"), pending("b", '{"failures":1}')],
          events: [{ type: "step.failed", at: T0 + 1, step: "b", attempt: 1 }],
        },
        T0 + 1,
      );
      await driver.write(
        lease,
        { run: { status: "failed", error: { name: "Error", message: "boom", step: "b" } } },
        T0 + 2,
      );
      const failed = (await driver.getRun("run-1"))!;
      assert.equal(failed.status, "failed");
      assert.deepEqual(failed.error, { name: "Error", message: "boom", step: "b" });
      assert.equal(failed.dueAt, undefined);
      const { notices, off } = collect(driver);
      const retried = await driver.retryRun("run-1", T0 + 10);
      off();
      assert.equal(retried.status, "pending");
      assert.equal(retried.error, undefined);
      assert.equal(retried.dueAt, T0 + 10);
      assert.equal(retried.updatedAt, T0 + 10);
      assert.deepEqual(await driver.getRun("run-1"), retried);
      assert.ok(has(notices, "runnable", "run-1"));
      assert.deepEqual(await rowsOf(driver, "run-1", ["a", "b"]), [done("a", "1")]);
      await assert.rejects(driver.retryRun("run-1", T0 + 11), InvalidStateError);
      const [claim] = await claimAll(driver, T0 + 10);
      assert.ok(claim);
      assert.equal(claim.previousStatus, "pending");
      assert.equal(claim.lease.token, lease.token + 1);
      await driver.write(claim.lease, { run: { status: "completed", output: "2" } }, T0 + 12);
      await assert.rejects(driver.retryRun("run-1", T0 + 13), InvalidStateError);
      assert.deepEqual(await timeline(driver, "run-1"), [
        "run.created",
        "run.started",
        "row:a",
        "step.failed:b",
        "run.retried",
        "run.started",
      ]);
    },
  },
  {
    name: "purge deletes only finished runs last updated before the cut-off",
    async fn(driver) {
      const finish = async (id: string, at: number, how: "completed" | "failed") => {
        const lease = await started(driver, id);
        await driver.write(lease, { steps: [done("a", "1")] }, at);
        await driver.write(
          lease,
          {
            run: how === "completed"
              ? { status: "completed", output: "1" }
              : { status: "failed", error: { name: "Error", message: "x" } },
          },
          at,
        );
      };
      await finish("old-completed", T0 + 10, "completed");
      await finish("old-failed", T0 + 10, "failed");
      await finish("new-completed", T0 + 100, "completed");
      await driver.createRun(newRun("old-cancelled"), T0);
      await driver.sendSignal("old-cancelled", "go", undefined, T0 + 1);
      await driver.cancelRun("old-cancelled", undefined, T0 + 10);
      await driver.createRun(newRun("pending", { dueAt: T0 + 1_000_000 }), T0);
      const sleeper = await started(driver, "sleeping");
      await driver.write(sleeper, { run: { status: "sleeping", dueAt: T0 + 99_999 } }, T0 + 10);
      assert.equal(await driver.purge(T0 + 50), 3);
      for (const id of ["old-completed", "old-failed", "old-cancelled"]) {
        assert.equal(await driver.getRun(id), undefined, `${id} is purged`);
        assert.deepEqual(await rowsOf(driver, id, ["a"]), []);
        await assert.rejects(driver.history(id), RunNotFoundError);
      }
      for (const id of ["new-completed", "pending", "sleeping"]) {
        assert.ok(await driver.getRun(id), `${id} is kept`);
      }
      assert.deepEqual(await rowsOf(driver, "new-completed", ["a"]), [done("a", "1")]);
      assert.equal(await driver.purge(T0 + 50), 0);
      assert.equal(await driver.purge(T0 + 101), 1);
    },
  },
  {
    name: "listRuns filters by status, workflow and labels and pages newest first without gaps",
    async fn(driver) {
      const all: string[] = [];
      for (let i = 0; i < 25; i++) {
        const id = `run-${String(i).padStart(2, "0")}`;
        all.push(id);
        await driver.createRun(
          newRun(id, {
            workflow: i % 2 === 0 ? WF : "other",
            labels: { team: i % 3 === 0 ? "a" : "b", env: "prod", "we'ird \"key": "va'l" },
          }),
          T0 + Math.floor(i / 3),
        );
      }
      const newestFirst = [...all].sort((x, y) => {
        const tx = Math.floor(Number(x.slice(4)) / 3);
        const ty = Math.floor(Number(y.slice(4)) / 3);
        return ty - tx || (x < y ? 1 : -1);
      });
      const pageThrough = async (filter: Parameters<Driver["listRuns"]>[0]) => {
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let pages = 0; pages < 100; pages++) {
          const page = await driver.listRuns({ ...filter, ...(cursor ? { cursor } : {}) });
          assert.ok(page.runs.length <= (filter.limit ?? 100));
          seen.push(...page.runs.map((run) => run.id));
          if (page.nextCursor === undefined) return seen;
          cursor = page.nextCursor;
        }
        throw new Error("listRuns never ended");
      };
      assert.deepEqual(await pageThrough({ limit: 4 }), newestFirst);
      assert.deepEqual(await pageThrough({ limit: 5 }), newestFirst);
      assert.deepEqual(await pageThrough({}), newestFirst);
      const first = await driver.listRuns({ limit: 25 });
      assert.equal(first.nextCursor, undefined);
      assert.deepEqual(first.runs[0], await driver.getRun(newestFirst[0]!));
      const claimed = ids(await claimAll(driver, T0 + 100, { limit: 3 }));
      assert.deepEqual(
        await pageThrough({ status: "running", limit: 2 }),
        newestFirst.filter((id) => claimed.includes(id)),
      );
      assert.deepEqual(
        await pageThrough({ status: ["running", "pending"], limit: 7 }),
        newestFirst,
      );
      assert.deepEqual(await pageThrough({ status: "completed" }), []);
      const other = newestFirst.filter((id) => Number(id.slice(4)) % 2 === 1);
      assert.deepEqual(await pageThrough({ workflow: "other", limit: 3 }), other);
      const teamA = newestFirst.filter((id) => Number(id.slice(4)) % 3 === 0);
      assert.deepEqual(await pageThrough({ labels: { team: "a" }, limit: 2 }), teamA);
      assert.deepEqual(await pageThrough({ labels: { team: "a", env: "prod" } }), teamA);
      assert.deepEqual(await pageThrough({ labels: { "we'ird \"key": "va'l" } }), newestFirst);
      assert.deepEqual(await pageThrough({ labels: { team: "a", env: "dev" } }), []);
      assert.deepEqual(await pageThrough({ labels: { team: "zzz" } }), []);
      assert.deepEqual(
        await pageThrough({ workflow: "other", labels: { team: "a" }, status: "pending" }),
        other.filter((id) => teamA.includes(id) && !claimed.includes(id)),
      );
    },
  },
  {
    name: "history returns events and checkpoint rows in write order",
    async fn(driver) {
      const lease = await started(driver, "run-1");
      await driver.write(
        lease,
        {
          steps: [done("a", "1")],
          events: [{ type: "step.failed", at: T0, step: "b", attempt: 1 }],
        },
        T0,
      );
      await driver.write(lease, { steps: [done("c", "2")] }, T0);
      await driver.write(lease, { events: [{ type: "step.retried", at: T0, step: "b" }] }, T0);
      await driver.sendSignal("run-1", "go", '"p"', T0);
      await driver.write(
        lease,
        {
          steps: [done("d", "3")],
          events: [{ type: "run.waiting", at: T0, detail: '{"signals":["x"]}' }],
          run: { status: "waiting", waitingFor: ["x"] },
        },
        T0,
      );
      assert.deepEqual(await timeline(driver, "run-1"), [
        "run.created",
        "run.started",
        "row:a",
        "step.failed:b",
        "row:c",
        "step.retried:b",
        "signal.received",
        "row:d",
        "run.waiting",
      ]);
      const items = await driver.history("run-1");
      const signal = items.find((item) =>
        item.source === "event" && item.event.type === "signal.received"
      ) as { event: StoredEvent };
      assert.deepEqual(signal.event, {
        type: "signal.received",
        at: T0,
        detail: signalRowData("go", '"p"'),
      });
      const failedEvent = items.find((item) =>
        item.source === "event" && item.event.type === "step.failed"
      ) as { event: StoredEvent };
      assert.deepEqual(failedEvent.event, { type: "step.failed", at: T0, step: "b", attempt: 1 });
      const row = items.find((item) => item.source === "step" && item.row.key === "a") as {
        row: StepRow;
      };
      assert.deepEqual(row.row, done("a", "1"));
    },
  },
  {
    name: "subscribe reports runnable and finished notices",
    async fn(driver) {
      const { notices, off } = collect(driver);
      await driver.createRun(newRun("a"), T0);
      assert.ok(has(notices, "runnable", "a"), "a new run is runnable");
      let [claim] = await claimAll(driver, T0);
      notices.length = 0;
      await driver.write(claim!.lease, { run: { status: "running" } }, T0 + 1);
      assert.ok(has(notices, "runnable", "a"), "a released run is runnable");
      [claim] = await claimAll(driver, T0 + 1);
      notices.length = 0;
      await driver.write(claim!.lease, { run: { status: "sleeping", dueAt: T0 + 1 } }, T0 + 2);
      assert.ok(has(notices, "runnable", "a"), "a run that sleeps until the past is runnable");
      [claim] = await claimAll(driver, T0 + 2);
      notices.length = 0;
      await driver.write(claim!.lease, { run: { status: "sleeping", dueAt: T0 + 9 } }, T0 + 3);
      assert.equal(has(notices, "runnable", "a"), false, "a run that sleeps is not runnable");
      [claim] = await claimAll(driver, T0 + 9);
      await driver.write(claim!.lease, { run: { status: "completed" } }, T0 + 10);
      assert.ok(has(notices, "finished", "a"), "a completed run is finished");
      const failing = await started(driver, "b");
      notices.length = 0;
      await driver.write(
        failing,
        { run: { status: "failed", error: { name: "Error", message: "x" } } },
        T0 + 1,
      );
      assert.ok(has(notices, "finished", "b"), "a failed run is finished");
      await driver.retryRun("b", T0 + 2);
      assert.ok(has(notices, "runnable", "b"), "a retried run is runnable");
      await driver.cancelRun("b", undefined, T0 + 3);
      assert.ok(has(notices, "cancelled", "b"));
      assert.ok(has(notices, "finished", "b"), "a cancelled run is finished");
      off();
      notices.length = 0;
      await driver.createRun(newRun("c"), T0);
      assert.deepEqual(notices, [], "no notice after unsubscribing");
    },
  },
  {
    name: "many writes issued together by different runs all land, and a stale one fails alone",
    async fn(driver) {
      const count = 40;
      for (let i = 0; i < count; i++) await driver.createRun(newRun(`run-${i}`), T0);
      const claims = await claimAll(driver, T0);
      assert.equal(claims.length, count);
      await driver.cancelRun("run-0", undefined, T0 + 1);
      const results = await Promise.allSettled(
        claims.map((claim) =>
          driver.write(claim.lease, { steps: [done("s", JSON.stringify(claim.run.id))] }, T0 + 2)
        ),
      );
      results.forEach((result, i) => {
        const id = claims[i]!.run.id;
        if (id === "run-0") {
          assert.equal(result.status, "rejected");
          assert.ok((result as PromiseRejectedResult).reason instanceof LeaseLostError);
        } else {
          assert.equal(result.status, "fulfilled", `the write of ${id} lands`);
        }
      });
      for (const claim of claims) {
        const id = claim.run.id;
        assert.deepEqual(
          await rowsOf(driver, id, ["s"]),
          id === "run-0" ? [] : [done("s", JSON.stringify(id))],
        );
      }
      const live = claims.filter((claim) => claim.run.id !== "run-0");
      const finished = await Promise.allSettled([
        ...live.map((claim, i) =>
          driver.write(
            claim.lease,
            {
              steps: [done("t", String(i)), done("u", String(i))],
              events: [{ type: "run.completed", at: T0 + 3 }],
              run: { status: "completed", output: String(i) },
            },
            T0 + 3,
          )
        ),
        driver.write(claims[0]!.lease, { run: { status: "completed" } }, T0 + 3),
      ]);
      assert.equal(finished.filter((r) => r.status === "fulfilled").length, live.length);
      for (const [i, claim] of live.entries()) {
        const run = (await driver.getRun(claim.run.id))!;
        assert.equal(run.status, "completed");
        assert.equal(run.output, String(i));
        assert.deepEqual(await rowsOf(driver, claim.run.id, ["s", "t", "u"]), [
          done("s", JSON.stringify(claim.run.id)),
          done("t", String(i)),
          done("u", String(i)),
        ]);
      }
      assert.equal((await driver.getRun("run-0"))!.status, "cancelled");
    },
  },
  {
    name: "values with quotes, SQL keywords and unicode are stored verbatim",
    async fn(driver) {
      const id = `run'";DROP_TABLE_runs;--`;
      const wf = `wf'"; DELETE FROM runs; --`;
      const labels = { "k'\"": "v'); --", "ключ": "値 ✓" };
      const input = JSON.stringify({ text: 'it\'s "quoted" -- ; DROP TABLE runs; \u0000 ✓' });
      await driver.createRun(newRun(id, { workflow: wf, labels, input }), T0);
      const run = (await driver.getRun(id))!;
      assert.equal(run.workflow, wf);
      assert.deepEqual(run.labels, labels);
      assert.equal(run.input, input);
      assert.deepEqual(
        (await driver.listRuns({ labels, workflow: wf })).runs.map((r) => r.id),
        [id],
      );
      const [claim] = await claimAll(driver, T0, { workflows: [wf], workerId: "w'--" });
      assert.ok(claim);
      const key = `step'"--;/x#1`;
      const row = done(key, JSON.stringify("';--"));
      await driver.write(claim.lease, { steps: [row] }, T0 + 1);
      assert.deepEqual(await rowsOf(driver, id, [key]), [row]);
      await driver.sendSignal(id, `sig'--`, JSON.stringify("x'); --"), T0 + 2);
      assert.deepEqual(
        await driver.consumeSignal(claim.lease, [`sig'--`], done("w"), {}, T0 + 3),
        { name: `sig'--`, payload: JSON.stringify("x'); --") },
      );
      const cancelled = await driver.cancelRun(id, `x'); DELETE FROM runs; --`, T0 + 4);
      assert.equal(cancelled.status, "cancelled");
      assert.equal((await driver.listRuns({})).runs.length, 1);
    },
  },
  {
    name: "close() leaves nothing open and later calls throw InvalidStateError",
    closes: true,
    async fn(driver) {
      const off = driver.subscribe(() => {});
      const lease = await started(driver, "run-1");
      await driver.close();
      off();
      const calls: [string, () => Promise<unknown>][] = [
        ["migrate", () => driver.migrate()],
        ["createRun", () => driver.createRun(newRun("run-2"), T0)],
        ["getRun", () => driver.getRun("run-1")],
        ["listRuns", () => driver.listRuns({})],
        ["history", () => driver.history("run-1")],
        ["claimRuns", () => claimAll(driver, T0)],
        ["nextDueAt", () => driver.nextDueAt([WF])],
        ["extendLeases", () => driver.extendLeases([lease], T0, LEASE_MS)],
        ["readSteps", () => driver.readSteps("run-1", ["a"])],
        ["write", () => driver.write(lease, { steps: [done("a")] }, T0)],
        ["consumeSignal", () => driver.consumeSignal(lease, ["go"], done("w"), {}, T0)],
        ["sendSignal", () => driver.sendSignal("run-1", "go", undefined, T0)],
        ["cancelRun", () => driver.cancelRun("run-1", undefined, T0)],
        ["retryRun", () => driver.retryRun("run-1", T0)],
        ["purge", () => driver.purge(T0)],
      ];
      for (const [what, call] of calls) {
        await assert.rejects(async () => await call(), InvalidStateError, `${what} after close`);
      }
      assert.throws(() => driver.subscribe(() => {}), InvalidStateError);
      await driver.close();
      await driver[Symbol.asyncDispose]();
    },
  },
  {
    name: "an Engine and a Worker run a step, a sleep and a waitForSignal to the right output",
    closes: true,
    async fn(driver, dispose) {
      const clock = new ManualClock(T0);
      let steps = 0;
      const order = workflow<{ qty: number }>("conformance-order")
        .step("price", (o) => {
          steps++;
          return o.qty * 3;
        })
        .sleep("coolDown", "1h")
        .waitForSignal<{ approved: boolean }>("approval", "approved")
        .step("finish", (answer, ctx) => {
          steps++;
          return { approved: answer.approved, at: ctx.now().getTime() };
        });
      const engine = dispose(new Engine({ driver, workflows: [order], clock }));
      const worker = dispose(engine.worker());
      await worker.start();
      const run = await engine.start(order, { qty: 2 }, { id: "order-1" });
      await clock.advance(0);
      assert.equal(await run.status(), "sleeping");
      await clock.advance("59m");
      assert.equal(await run.status(), "sleeping");
      await clock.advance("1m");
      assert.equal(await run.status(), "waiting");
      await engine.signal("order-1", "approved", { approved: true });
      assert.deepEqual(await run.result(), { approved: true, at: T0 + 3_600_000 });
      assert.equal(steps, 2);
      const types = (await engine.history("order-1")).map((event) => event.type);
      assert.deepEqual(types, [
        "run.created",
        "run.started",
        "step.started",
        "step.completed",
        "run.sleeping",
        "run.waiting",
        "signal.received",
        "step.started",
        "step.completed",
        "step.started",
        "step.completed",
        "run.completed",
      ]);
    },
  },
  {
    name: "completed steps are not re-run when a new worker takes over a run",
    closes: true,
    async fn(driver, dispose) {
      const clock = new ManualClock(T0);
      const counts = { a: 0, slow: 0, b: 0 };
      const gate = Promise.withResolvers<void>();
      const wf = workflow<number>("conformance-handoff")
        .step("a", (n) => {
          counts.a++;
          return n + 1;
        })
        .step("slow", async (n) => {
          counts.slow++;
          await gate.promise;
          return n * 10;
        })
        .sleep("nap", "1h")
        .step("b", (n) => {
          counts.b++;
          return n + 2;
        });
      const engine = dispose(new Engine({ driver, workflows: [wf], clock }));
      const first = engine.worker({ id: "first" });
      await first.start();
      const run = await engine.start(wf, 1, { id: "handoff-1" });
      for (let i = 0; i < 100 && counts.slow === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      assert.equal(counts.slow, 1, "the slow step started");
      const stopping = first.stop();
      gate.resolve();
      await stopping;
      const released = await engine.get("handoff-1");
      assert.equal(released.status, "running", "a stopped worker hands its run back");
      const second = dispose(engine.worker({ id: "second" }));
      await second.start();
      await clock.advance(0);
      assert.equal(await run.status(), "sleeping");
      await second.stop();
      const third = dispose(engine.worker({ id: "third" }));
      await third.start();
      await clock.advance("1h");
      assert.equal(await run.result(), 22);
      assert.deepEqual(counts, { a: 1, slow: 1, b: 1 });
    },
  },
  ...LIMIT_CASES,
];

/**
 * The names of every case of the suite (without the driver prefix), to build a
 * `skip` list from.
 *
 * @example Check a case exists before skipping it
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONFORMANCE_CASES } from "@sluice/sluice/testing";
 *
 * assert.ok(CONFORMANCE_CASES.includes("cancelRun revokes the lease and records the reason"));
 * ```
 */
export const CONFORMANCE_CASES: readonly string[] = CASES.map((c) => c.name);

/**
 * Registers the storage-driver conformance suite with the runtime's test
 * runner (`Deno.test` on Deno, `node:test` on Node): one test per case,
 * named `"<name>: <case>"`, each on a fresh driver from `factory` that is
 * closed at the end. Every driver must behave like the reference
 * `MemoryDriver`; a driver that cannot support a case lists it in
 * `options.skip` with the reason, which is printed with the skipped test.
 *
 * @param name The driver name that prefixes every test name.
 * @param factory Makes a fresh, empty driver for each case.
 * @param options The skip list.
 *
 * @example Run the suite against a driver, skipping one case with a reason
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryDriver } from "@sluice/sluice";
 * import { testDriverConformance } from "@sluice/sluice/testing";
 *
 * // In a test module such as tests/my_driver_test.ts, at the top level:
 * function registerSuite(): void {
 *   testDriverConformance("memory", () => new MemoryDriver(), {
 *     skip: {
 *       "values with quotes, SQL keywords and unicode are stored verbatim":
 *         "this driver stores nothing as SQL",
 *     },
 *   });
 * }
 * assert.equal(typeof registerSuite, "function");
 * ```
 */
export function testDriverConformance(
  name: string,
  factory: () => Driver | Promise<Driver>,
  options: ConformanceOptions = {},
): void {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError("Cannot run the conformance suite without a driver name: pass one");
  }
  if (typeof factory !== "function") {
    throw new TypeError("Cannot run the conformance suite without a factory: pass () => driver");
  }
  const skip = options.skip ?? {};
  for (const [key, reason] of Object.entries(skip)) {
    if (!CONFORMANCE_CASES.includes(key)) {
      throw new TypeError(
        `Cannot skip conformance case '${key}': no case has that name; use one of CONFORMANCE_CASES`,
      );
    }
    if (typeof reason !== "string" || reason.trim().length === 0) {
      throw new TypeError(`Cannot skip conformance case '${key}' without a reason: give one`);
    }
  }
  for (const testCase of CASES) {
    const reason = skip[testCase.name];
    registerTest({
      name: reason === undefined
        ? `${name}: ${testCase.name}`
        : `${name}: ${testCase.name} (skipped: ${reason})`,
      ignore: reason !== undefined,
      async fn() {
        const driver = await factory();
        const resources: AsyncDisposable[] = [];
        try {
          await testCase.fn(driver, (resource) => (resources.push(resource), resource));
        } finally {
          for (const resource of resources.reverse()) await resource[Symbol.asyncDispose]();
          if (!testCase.closes) await driver.close();
        }
      },
    });
  }
}
