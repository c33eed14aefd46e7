// Dependencies, resources, middleware and test overrides.
import {
  defineStep,
  Engine,
  flow,
  LocalRunner,
  MemoryDriver,
  type Middleware,
  resource,
  workflow,
  type WorkflowFailedError,
} from "@sluice/sluice";
import assert from "node:assert/strict";

Deno.test("plain dependencies, functions included, reach steps as they are", async () => {
  const send = (to: string) => `sent to ${to}`;
  const config = { region: "eu" };
  let seen: unknown[] = [];
  const wf = workflow<string>("plain-deps").step("use", (to, ctx) => {
    seen = [ctx.deps.send, ctx.deps.config];
    return (ctx.deps.send as typeof send)(to);
  });
  await using runner = new LocalRunner({ deps: { send, config } });
  assert.equal(await runner.run(wf, "ada"), "sent to ada");
  assert.equal(seen[0], send);
  assert.equal(seen[1], config);
});

Deno.test("a resource factory runs lazily, once per runner, before the first step", async () => {
  let built = 0;
  const wf = workflow<number>("res").step(
    "use",
    (n, ctx) => (ctx.deps.db as { id: number }).id + n,
  );
  await using runner = new LocalRunner({
    deps: {
      db: resource(async () => {
        built++;
        await Promise.resolve();
        return { id: 100 };
      }),
    },
  });
  assert.equal(built, 0);
  const results = await Promise.all([runner.run(wf, 1), runner.run(wf, 2), runner.run(wf, 3)]);
  assert.deepEqual(results, [101, 102, 103]);
  assert.equal(await runner.run(wf, 4), 104);
  assert.equal(built, 1);
});

Deno.test("a runner that never runs a workflow never builds its resources", async () => {
  let built = 0;
  const runner = new LocalRunner({ deps: { db: resource(() => built++) } });
  await runner.close();
  assert.equal(built, 0);
});

Deno.test("resource cleanups run last-in-first-out when the runner closes", async () => {
  const events: string[] = [];
  const wf = workflow<number>("cleanups").step("use", (n) => n);
  const runner = new LocalRunner({
    deps: {
      first: resource((scope) => {
        events.push("open first");
        scope.onCleanup(() => void events.push("close first"));
        return 1;
      }),
      second: resource((scope) => {
        events.push("open second");
        scope.onCleanup(async () => {
          await Promise.resolve();
          events.push("close second (a)");
        });
        scope.onCleanup(() => void events.push("close second (b)"));
        return 2;
      }),
    },
  });
  await runner.run(wf, 1);
  assert.deepEqual(events, ["open first", "open second"]);
  await runner.close();
  assert.deepEqual(events, [
    "open first",
    "open second",
    "close second (b)",
    "close second (a)",
    "close first",
  ]);
  await runner.close();
  assert.equal(events.length, 5);
});

Deno.test("every cleanup runs even when earlier ones throw, and close() reports them all", async () => {
  const ran: string[] = [];
  const wf = workflow<number>("bad-cleanups").step("use", (n) => n);
  const runner = new LocalRunner({
    deps: {
      a: resource((scope) => {
        scope.onCleanup(() => void ran.push("a"));
        return "a";
      }),
      b: resource((scope) => {
        scope.onCleanup(() => {
          ran.push("b");
          throw new Error("b failed");
        });
        return "b";
      }),
      c: resource((scope) => {
        scope.onCleanup(() => {
          ran.push("c");
          return Promise.reject(new Error("c failed"));
        });
        return "c";
      }),
    },
  });
  await runner.run(wf, 1);
  await assert.rejects(runner.close(), (e: unknown) => {
    assert.ok(e instanceof AggregateError);
    assert.deepEqual(e.errors.map((x: Error) => x.message), ["c failed", "b failed"]);
    return true;
  });
  assert.deepEqual(ran, ["c", "b", "a"]);
});

Deno.test("a resource is built once per engine and cleaned up when the engine closes", async () => {
  let built = 0;
  let closed = 0;
  const wf = workflow<number>("engine-res").step("use", (n, ctx) => n + (ctx.deps.k as number));
  const engine = new Engine({
    driver: new MemoryDriver(),
    workflows: [wf],
    deps: {
      k: resource((scope) => {
        built++;
        scope.onCleanup(() => void closed++);
        return 10;
      }),
    },
  });
  const a = engine.worker();
  const b = engine.worker();
  await a.start();
  await b.start();
  const handles = await Promise.all([1, 2, 3, 4].map((n) => engine.start(wf, n)));
  assert.deepEqual(await Promise.all(handles.map((h) => h.result())), [11, 12, 13, 14]);
  assert.equal(built, 1);
  await engine.close();
  assert.equal(closed, 1);
});

Deno.test("a resource whose factory throws fails the run that needed it", async () => {
  const wf = workflow<number>("res-fails").step("use", (n) => n);
  await using runner = new LocalRunner({
    deps: {
      broken: resource(() => {
        throw new Error("cannot connect");
      }),
    },
  });
  await assert.rejects(runner.run(wf, 1), (e: WorkflowFailedError) => {
    assert.match((e.cause as Error).message, /cannot connect/);
    return true;
  });
});

Deno.test("middleware wraps every step, outermost first", async () => {
  const events: string[] = [];
  const named = (name: string): Middleware => async (ctx, next) => {
    events.push(`${name} before ${ctx.step}`);
    const result = await next();
    events.push(`${name} after ${ctx.step}`);
    return result;
  };
  const wf = workflow<number>("wrapped")
    .step("a", (n) => {
      events.push("a");
      return n + 1;
    })
    .step("b", (n) => {
      events.push("b");
      return n * 2;
    });
  await using runner = new LocalRunner({ middleware: [named("outer"), named("inner")] });
  assert.equal(await runner.run(wf, 1), 4);
  assert.deepEqual(events, [
    "outer before a",
    "inner before a",
    "a",
    "inner after a",
    "outer after a",
    "outer before b",
    "inner before b",
    "b",
    "inner after b",
    "outer after b",
  ]);
});

Deno.test("middleware can change a step's result", async () => {
  const double: Middleware = async (_ctx, next) => (await next() as number) * 2;
  const wf = workflow<number>("changed").step("a", (n) => n + 1);
  await using runner = new LocalRunner({ middleware: [double] });
  assert.equal(await runner.run(wf, 1), 4);
});

Deno.test("a throwing middleware fails the step attempt, and retries apply", async () => {
  let calls = 0;
  const flaky: Middleware = (ctx, next) => {
    if (ctx.attempt === 1) return Promise.reject(new Error("middleware refused"));
    return next();
  };
  const wf = workflow<number>("mw-retry").step("a", (n) => {
    calls++;
    return n;
  }, { retry: { maxAttempts: 2, initialDelay: 0 } });
  await using runner = new LocalRunner({ middleware: [flaky] });
  assert.equal(await runner.run(wf, 7), 7);
  assert.equal(calls, 1);

  const always: Middleware = () => {
    throw new TypeError("always refuses");
  };
  await using strict = new LocalRunner({ middleware: [always] });
  await assert.rejects(strict.run(wf, 1), (e: WorkflowFailedError) => {
    assert.equal(e.step, "a");
    assert.equal((e.cause as Error).message, "always refuses");
    return true;
  });
});

Deno.test("override by name swaps every step of that name without touching the workflow", async () => {
  const wf = workflow<number>("pay")
    .step("charge", (): number => {
      throw new Error("no network in tests");
    })
    .loop("again", 2, flow<number>().step("charge", (n) => n + 1000));
  await using runner = new LocalRunner();
  runner.override("charge", (n: number) => n + 1);
  assert.equal(await runner.run(wf, 1), 4);
  await using plain = new LocalRunner();
  await assert.rejects(plain.run(wf, 1), /no network in tests/);
});

Deno.test("override by defineStep swaps every use of that definition", async () => {
  const fetchRate = defineStep("fetchRate", (_: string): number => {
    throw new Error("network");
  });
  const wf = workflow<string>("rates")
    .step(fetchRate)
    .parallel("again", [(n: number) => String(n)])
    .step("pick", (v) => v[0])
    .step("twice", (s) => s);
  const nested = workflow<string>("rates-nested").parallel("p", { r: fetchRate });
  await using runner = new LocalRunner();
  runner.override(fetchRate, (currency: string) => currency.length);
  assert.equal(await runner.run(wf, "EUR"), "3");
  assert.deepEqual(await runner.run(nested, "GBPX"), { r: 4 });
});

Deno.test("override by full step key swaps only that step", async () => {
  const body = flow<number>().step("charge", (n) => n + 1);
  const wf = workflow<number>("keyed").loop("retryLoop", 4, body);
  await using runner = new LocalRunner();
  runner.override("retryLoop#2/charge", (n: number) => n + 100);
  assert.equal(await runner.run(wf, 0), 103);
});

Deno.test("override rejects targets and replacements of the wrong type", async () => {
  await using runner = new LocalRunner();
  assert.throws(() => runner.override(5 as never, () => 1), TypeError);
  assert.throws(() => runner.override("x", "not a function" as never), TypeError);
});
