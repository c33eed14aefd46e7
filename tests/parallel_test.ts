// parallel and map: output shapes, input order, failure aborting siblings, concurrency caps.
import {
  flow,
  LocalRunner,
  ManualClock,
  type StepContext,
  workflow,
  type WorkflowFailedError,
} from "@sluice/sluice";
import assert from "node:assert/strict";
import { deferred } from "./_fixtures/deferred.ts";

/** Lets queued work run (a few macrotask turns). */
async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Counts how many calls are in flight at once. */
function gauge() {
  let now = 0;
  let max = 0;
  return {
    get max() {
      return max;
    },
    async around<T>(fn: () => T | Promise<T>): Promise<T> {
      now++;
      max = Math.max(max, now);
      try {
        await settle(1);
        return await fn();
      } finally {
        now--;
      }
    },
  };
}

Deno.test("parallel with an array of branches produces a tuple", async () => {
  const wf = workflow<number>("tuple").parallel("fan", [
    (n) => n + 1,
    (n) => Promise.resolve(String(n)),
    flow<number>().step("a", (n) => n * 2).step("b", (n) => n > 5),
  ]);
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(wf, 3), [4, "3", true]);
});

Deno.test("parallel with an object of branches produces a record", async () => {
  const wf = workflow<{ id: number }>("record")
    .parallel("prepare", {
      profile: (v) => ({ tier: v.id > 1 ? "gold" : "basic" }),
      settings: () => Promise.resolve({ theme: "dark" }),
    })
    .step("merge", (v) => `${v.profile.tier}/${v.settings.theme}`);
  await using runner = new LocalRunner();
  assert.equal(await runner.run(wf, { id: 2 }), "gold/dark");
});

Deno.test("parallel results follow the branch order whatever order they finish in", async () => {
  const gates = [deferred(), deferred(), deferred()];
  const finished: number[] = [];
  const branch = (i: number) => async (n: number) => {
    await gates[i]!.promise;
    finished.push(i);
    return n + i;
  };
  const wf = workflow<number>("order").parallel("fan", [branch(0), branch(1), branch(2)]);
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 10);
  await settle();
  gates[2]!.resolve();
  await settle();
  gates[1]!.resolve();
  await settle();
  gates[0]!.resolve();
  assert.deepEqual(await handle.result(), [10, 11, 12]);
  assert.deepEqual(finished, [2, 1, 0]);
});

Deno.test("map results follow the item order whatever order the items finish in", async () => {
  const wf = workflow<number[]>("map-order").map("each", (v) => v, async (delay: number) => {
    await new Promise((resolve) => setTimeout(resolve, delay));
    return delay;
  });
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(wf, [12, 1, 8, 0, 4]), [12, 1, 8, 0, 4]);
});

Deno.test("a failing branch aborts its siblings through ctx.signal and fails the node", async () => {
  const aborted: unknown[] = [];
  let later = 0;
  const hang = (_n: number, ctx: StepContext) =>
    new Promise<number>((_resolve, reject) => {
      ctx.signal.addEventListener("abort", () => {
        aborted.push(ctx.step);
        reject(ctx.signal.reason);
      });
    });
  const wf = workflow<number>("abort-siblings")
    .parallel("fan", {
      slow: hang,
      slower: flow<number>().step("inner", hang),
      broken: async () => {
        await settle(1);
        throw new RangeError("branch failed");
      },
    })
    .step("after", () => later++);
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 1), (e: WorkflowFailedError) => {
    assert.equal((e.cause as Error).name, "RangeError");
    assert.equal((e.cause as Error).message, "branch failed");
    assert.equal(e.step, "fan/broken");
    return true;
  });
  assert.deepEqual(aborted.sort(), ["fan/slow", "fan/slower/inner"]);
  assert.equal(later, 0);
});

Deno.test("a failing map item aborts the other items and fails the run", async () => {
  const aborted: string[] = [];
  const wf = workflow<number[]>("map-abort").map("each", (v) => v, (n: number, ctx) => {
    if (n === 3) throw new Error(`item ${n} failed`);
    return new Promise<number>((_resolve, reject) =>
      ctx.signal.addEventListener("abort", () => {
        aborted.push(ctx.step);
        reject(ctx.signal.reason);
      })
    );
  });
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, [1, 2, 3]), (e: WorkflowFailedError) => {
    assert.equal(e.step, "each#2");
    assert.equal((e.cause as Error).message, "item 3 failed");
    return true;
  });
  assert.deepEqual(aborted.sort(), ["each#0", "each#1"]);
});

Deno.test("parallel concurrency caps the branches in flight", async () => {
  const g = gauge();
  const branch = (i: number) => (n: number) => g.around(() => n + i);
  const wf = workflow<number>("capped").parallel(
    "fan",
    Array.from({ length: 6 }, (_, i) => branch(i)),
    { concurrency: 2 },
  );
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(wf, 0), [0, 1, 2, 3, 4, 5]);
  assert.equal(g.max, 2);
});

Deno.test("map concurrency caps the items in flight", async () => {
  const g = gauge();
  const items = Array.from({ length: 20 }, (_, i) => i);
  const wf = workflow<number[]>("map-capped").map(
    "each",
    (v) => v,
    flow<number>().step("work", (n) => g.around(() => n * 2)),
    { concurrency: 3 },
  );
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(wf, items), items.map((n) => n * 2));
  assert.equal(g.max, 3);
});

Deno.test("without a concurrency option every branch and item starts at once", async () => {
  const g = gauge();
  const wf = workflow<number[]>("uncapped").map("each", (v) => v, (n: number) => g.around(() => n));
  await using runner = new LocalRunner();
  await runner.run(wf, Array.from({ length: 10 }, (_, i) => i));
  assert.equal(g.max, 10);
});

Deno.test("map over no items produces an empty array", async () => {
  let calls = 0;
  const wf = workflow<number[]>("empty-map")
    .map("each", (v) => v, (n: number) => {
      calls++;
      return n;
    })
    .step("after", (v) => ({ length: v.length }));
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(wf, []), { length: 0 });
  assert.equal(calls, 0);
});

Deno.test("map over 1,000 items produces 1,000 results in order", async () => {
  const items = Array.from({ length: 1_000 }, (_, i) => i);
  const wf = workflow<number[]>("big-map").map("each", (v) => v, (n: number) => n * n, {
    concurrency: 50,
  });
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(wf, items), items.map((n) => n * n));
});

Deno.test("map items come from a function of the value and each item flows into the body", async () => {
  const wf = workflow<{ words: string }>("words")
    .map("lengths", (v) => v.words.split(" "), (w: string, ctx) => `${ctx.step}:${w.length}`);
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(wf, { words: "a bb ccc" }), [
    "lengths#0:1",
    "lengths#1:2",
    "lengths#2:3",
  ]);
});

Deno.test("a map whose items function does not return an array fails the run", async () => {
  const wf = workflow<number>("not-array").map("each", () => 5 as never, (n: number) => n);
  await using runner = new LocalRunner();
  await assert.rejects(runner.run(wf, 1), (e: WorkflowFailedError) => {
    assert.equal(e.step, "each");
    assert.ok(e.cause instanceof Error && e.cause.name === "TypeError");
    return true;
  });
});

Deno.test("parallel branches and map items run nested inside each other", async () => {
  const wf = workflow<number[]>("nested").map(
    "rows",
    (v) => v,
    flow<number>().parallel("cells", [(n: number) => n, (n: number) => -n]),
  );
  await using runner = new LocalRunner();
  assert.deepEqual(await runner.run(wf, [1, 2]), [[1, -1], [2, -2]]);
});

Deno.test("a branch that completed before a sibling's sleep suspended the run does not run again", async () => {
  const clock = new ManualClock(Date.UTC(2030, 0, 1));
  let quick = 0;
  let afterNap = 0;
  const wf = workflow<number>("branch-sleep").parallel("fan", [
    flow<number>().sleep("nap", "1h").step("woke", (n) => {
      afterNap++;
      return n * 10;
    }),
    (n: number) => {
      quick++;
      return n + 1;
    },
  ]);
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, 1);
  await clock.advance("30m");
  assert.equal(await handle.status(), "sleeping");
  assert.equal(quick, 1);
  assert.equal(afterNap, 0);
  await clock.advance("30m");
  assert.deepEqual(await handle.result(), [10, 2]);
  assert.equal(quick, 1);
  assert.equal(afterNap, 1);
});

Deno.test("map items that sleep for different times all resume and keep their order", async () => {
  const clock = new ManualClock(Date.UTC(2030, 0, 1));
  const calls: number[] = [];
  const wf = workflow<number[]>("map-sleep").map(
    "each",
    (v) => v,
    flow<number>()
      .sleepUntil("wait", (n) => clock.now() + n * 60_000)
      .step("done", (n) => {
        calls.push(n);
        return n * 2;
      }),
  );
  await using runner = new LocalRunner({ clock });
  const handle = await runner.start(wf, [3, 1, 2]);
  await clock.advance("10m");
  assert.deepEqual(await handle.result(), [6, 2, 4]);
  assert.deepEqual(calls, [1, 2, 3]);
});
