/**
 * Conformance cases. Checkpoint rows and writes: reading rows back, rows under
 * an expired lease, grouped writes, stored values.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { StepRow } from "../lib/driver.ts";
import { done, newRun, T0 } from "./rows.ts";
import { LeaseLostError } from "../lib/errors.ts";
import {
  claimAll,
  type ConformanceCase,
  pending,
  rowsOf,
  started,
  timeline,
} from "./_conformance_helpers.ts";

/** The cases of this area. */
export const STEPS_CASES: ConformanceCase[] = [
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
];
