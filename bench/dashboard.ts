/**
 * The dashboard over 10,000 runs on SQLite (SPEC §8.4): the runs page (first
 * page, a filtered page, a page deep in the list) and a run's page, rendered
 * by the handler with a file-backed engine. Target: a runs page in under
 * 200 ms. Baseline: the `list()` call the page makes, alone.
 */
import { Engine, workflow } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { dashboard } from "../cli/mod.ts";
import { median, type Row, time } from "./_harness.ts";

const RUNS = 10_000;

export async function dashboardScenarios(): Promise<Row[]> {
  const dir = await Deno.makeTempDir({ prefix: "sluice-bench-dashboard-" });
  const order = workflow<{ n: number }>("order")
    .step("price", (o) => o.n * 2)
    .step("charge", (n) => {
      if (n % 100 === 0) throw new Error(`card declined for ${n}`);
      return n;
    })
    .waitForSignal("approval", "approved")
    .step("ship", () => "shipped");
  const engine = new Engine({
    driver: new SqliteDriver({ path: `${dir}/bench.db` }),
    workflows: [order],
  });
  try {
    // 10,000 runs: most wait for approval, every 25th completes, every 50th fails.
    const started: Promise<unknown>[] = [];
    for (let i = 0; i < RUNS; i++) {
      started.push(
        engine.start(order, { n: i }, {
          id: `order-${String(i).padStart(5, "0")}`,
          labels: { shop: i % 2 ? "eu" : "us" },
        }),
      );
      if (started.length === 500) await Promise.all(started.splice(0));
    }
    await Promise.all(started);
    const worker = engine.worker({ concurrency: 64, pollInterval: 20 });
    await worker.start();
    for (;;) {
      const pending = await engine.list({ status: ["pending", "running"], limit: 1 });
      if (pending.runs.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < RUNS; i += 25) {
      if (i % 50 !== 0) await engine.signal(`order-${String(i).padStart(5, "0")}`, "approved");
    }
    await worker.stop();
    const handle = dashboard(engine, { workflows: [order] });
    const page = (path: string) => async () => {
      const response = await handle(new Request(`http://localhost${path}`));
      if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
      await response.text();
    };
    const first = await engine.list({ limit: 50 });
    let cursor = first.nextCursor!;
    for (let i = 0; i < 100; i++) cursor = (await engine.list({ limit: 50, cursor })).nextCursor!;
    const rows: Row[] = [];
    const baseline = median(await time(() => engine.list({ limit: 50 }), 20));
    const scenario = (name: string, path: string, target: boolean) => async () => {
      const ms = median(await time(page(path), 20));
      rows.push({
        scenario: `dashboard over ${RUNS.toLocaleString("en-US")} runs (SQLite): ${name}`,
        figure: `${ms.toFixed(1)} ms`,
        baseline: `${baseline.toFixed(1)} ms (list of 50)`,
        ratio: ms / baseline,
        target: target ? "< 200 ms" : "",
        ok: target ? ms < 200 : undefined,
      });
    };
    await scenario("runs page, newest 50 (waiting runs: current step from history)", "/", true)();
    await scenario("runs page, failed only", "/?status=failed", true)();
    await scenario("runs page, label shop=eu", "/?label=shop%3Deu", true)();
    await scenario("runs page 102 (cursor)", `/?cursor=${encodeURIComponent(cursor)}`, true)();
    await scenario("a failed run's page (timeline, plan graph)", "/runs/order-00050", false)();
    return rows;
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
}
