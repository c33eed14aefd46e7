/**
 * The dashboard in a real headless Chromium (Debian's `chromium` driven by
 * playwright-core): a run's life clicked through (watched live without a
 * reload, signalled from the page, completed), a cancel, a retry of a failed
 * run, the runs list's filters and search, pause and resume, a parent's child
 * runs (followed live, a child signalled, the way back), the 404 page, and
 * hostile strings everywhere a user can put one. Full-page screenshots go to
 * tests/_screenshots/ (git-ignored).
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { Engine, flow, schedule, workflow } from "../mod.ts";
import { SqliteDriver } from "../drivers/sqlite/mod.ts";
import { dashboard } from "../cli/mod.ts";
import { findChromium, SCREENSHOTS } from "./_browser.ts";

const executablePath = findChromium();

const HOSTILE = `<script>window.__xss=1</script>"'><img src=x onerror="window.__xss=2">`;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => resolve = r);
  return { promise, resolve };
}

Deno.test({
  name: "dashboard: a run's life, cancel, retry, filters and hostile strings in Chromium",
  ignore: executablePath === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await Deno.mkdir(SCREENSHOTS, { recursive: true });
    const dir = await Deno.makeTempDir();
    const gate = deferred();
    let fixed = false;
    const order = workflow<{ customer: string; items: number }>("order")
      .step("price", (o) => ({ customer: o.customer, total: o.items * 12.5 }))
      .parallel("prepare", {
        stock: () => "reserved",
        invoice: flow<{ customer: string; total: number }>()
          .step("draft", (v) => ({ ...v, draft: true }))
          .step("number", () => "INV-7"),
      })
      .step("reserve", async (v) => {
        await gate.promise;
        return v;
      })
      .waitForSignal<{ by: string }>("approval", "approved")
      .step("ship", (signal) => `shipped, approved by ${signal.by}`);
    const charge = workflow<number>("charge")
      .step("authorize", (n) => n)
      .step("capture", (n) => {
        if (!fixed) {
          throw new Error(`Card declined ${HOSTILE}`, {
            cause: new TypeError("Gateway said <b>no</b>"),
          });
        }
        return n * 2;
      }, { retry: { maxAttempts: 2, initialDelay: "30ms" } });
    const hold = workflow<string>("hold")
      .sleep("cooldown", "20ms")
      .waitForSignal("go", "go")
      .step("done", () => "done");
    const task = workflow<string>("task").waitForSignal<string>("wait", "go");
    const batch = workflow<string>("batch")
      .spawn("audit", task, { id: (s) => `audit-${s}` })
      .call("main", task, { id: (_spawned, input) => `main-${input}`, input: (_s, input) => input })
      .step("after", (v) => `batch done: ${v}`);
    const workflows = [order, charge, hold, task, batch];

    const hourly = schedule("hourly-hold", hold, { every: "1h", input: "tick" });
    const engine = new Engine({
      driver: new SqliteDriver({ path: `${dir}/app.db` }),
      workflows,
      schedules: [hourly],
    });
    const worker = engine.worker({ pollInterval: 50 });
    await worker.start();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      dashboard(engine, { workflows, liveInterval: 100 }),
    );
    const origin = `http://127.0.0.1:${server.addr.port}`;
    const browser = await chromium.launch({
      ...(executablePath ? { executablePath } : {}),
      args: ["--no-sandbox"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
      page.setDefaultTimeout(20_000);
      page.on("dialog", (dialog) => void dialog.accept());
      const shot = (name: string) =>
        page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
      const noInjection = async () => {
        assert.equal(
          await page.evaluate(() => (globalThis as { __xss?: number }).__xss),
          undefined,
        );
        assert.equal(await page.locator("img").count(), 0);
        assert.equal(await page.locator("script").count(), 1);
      };

      // ---- a run's life: running → waiting (live) → signalled from the page → completed
      await engine.start(order, { customer: HOSTILE, items: 3 }, {
        id: "order-1",
        labels: { team: "<b>ops</b>", region: "eu" },
      });
      await page.goto(`${origin}/runs/order-1`);
      await page.locator('#plan [data-node="reserve"][data-state="running"]').waitFor();
      await page.locator("#live.on").waitFor();
      await page.evaluate(() => (globalThis as { __marker?: number }).__marker = 1);
      await shot("run-running");
      gate.resolve();
      await page.locator('#plan [data-node="approval"][data-state="waiting"]').waitFor();
      await page.locator("#run-status .s-waiting").waitFor();
      assert.equal(
        await page.evaluate(() => (globalThis as { __marker?: number }).__marker),
        1,
        "the page updated without a reload",
      );
      assert.equal(await page.inputValue("#signal-name"), "approved");
      assert.equal(await page.textContent("#waiting-for"), "approved");
      await noInjection();
      await shot("run-waiting");
      await page.fill("#signal-payload", JSON.stringify({ by: HOSTILE }));
      await page.click("#action-signal button");
      await page.locator("#run-status .s-completed").waitFor();
      await page.locator('#plan [data-node="ship"][data-state="done"]').waitFor();
      assert.equal(await engine.result("order-1"), `shipped, approved by ${HOSTILE}`);
      assert.equal(await page.locator("#action-signal").count(), 0, "no actions once finished");
      assert.deepEqual(
        await page.locator(".actions form").evaluateAll((forms) => forms.map((f) => f.id)),
        ["action-fork"],
        "a finished run offers only what applies",
      );
      await page.click("#output summary").catch(() => {});
      assert.ok((await page.textContent("#input pre"))!.includes(JSON.stringify(HOSTILE)));
      assert.ok(
        (await page.textContent("#output pre"))!.includes(
          JSON.stringify(`shipped, approved by ${HOSTILE}`),
        ),
      );
      await noInjection();
      await shot("run-completed");

      // ---- a failed run, its error and cause, then retried from the page
      await engine.start(charge, 21, { id: "charge-1", labels: { note: HOSTILE } });
      await page.goto(`${origin}/runs/charge-1`);
      await page.locator("#run-status .s-failed").waitFor();
      assert.ok((await page.textContent("#error"))!.includes(`Card declined ${HOSTILE}`));
      assert.ok((await page.textContent("#error .cause"))!.includes("Gateway said <b>no</b>"));
      assert.equal(
        await page.locator('#plan [data-node="capture"]').getAttribute("data-state"),
        "failed",
      );
      assert.equal(await page.locator('.row[data-step="capture"] .bar').count(), 2, "two attempts");
      await noInjection();
      await shot("run-failed");
      fixed = true;
      await page.click("#action-retry button");
      await page.locator("#run-status .s-completed").waitFor();
      assert.equal(await engine.result("charge-1"), 42);
      await shot("run-retried");

      // ---- cancelled from the page
      await engine.start(hold, "x", { id: "hold-1" });
      await page.goto(`${origin}/runs/hold-1`);
      await page.locator("#run-status .s-waiting").waitFor();
      await page.fill("#cancel-reason", `no longer needed ${HOSTILE}`);
      await page.click("#action-cancel button");
      await page.locator("#run-status .s-cancelled").waitFor();
      assert.ok((await page.textContent("#error"))!.includes(`no longer needed ${HOSTILE}`));
      await noInjection();
      await shot("run-cancelled");

      // ---- the runs list: columns, filters, search, pagination, live
      await engine.start(hold, "y", { id: "hold-2", labels: { region: "us" } });
      await page.goto(`${origin}/`);
      await page.locator('tr[data-run="hold-2"] .step', { hasText: /^go$/ }).waitFor();
      assert.equal(await page.locator("#runs tbody tr").count(), 4);
      assert.ok(
        (await page.textContent('tr[data-run="charge-1"]'))!.includes("completed"),
      );
      await noInjection();
      await shot("runs");
      await engine.start(hold, "z", { id: "hold-3" });
      await page.locator('tr[data-run="hold-3"]').waitFor(); // appears live
      await page.selectOption("#filter-status", "completed");
      await page.click("form.filters button");
      await page.waitForURL(/status=completed/);
      assert.deepEqual(
        await page.locator("#runs tbody tr").evaluateAll((rows) =>
          rows.map((r) => r.getAttribute("data-run"))
        ),
        ["charge-1", "order-1"],
      );
      await page.goto(`${origin}/?label=region%3Deu`);
      assert.deepEqual(
        await page.locator("#runs tbody tr").evaluateAll((rows) =>
          rows.map((r) => r.getAttribute("data-run"))
        ),
        ["order-1"],
      );
      await page.goto(`${origin}/`);
      await page.fill("#search-id", "charge-1");
      await page.press("#search-id", "Enter");
      await page.waitForURL(/\/runs\/charge-1$/);
      await page.goto(`${origin}/?id=${encodeURIComponent(HOSTILE)}`);
      assert.ok((await page.textContent("#flash"))!.includes(HOSTILE));
      await noInjection();
      const small = `${origin}/?status=waiting`;
      await page.goto(small);
      assert.equal(await page.locator("#runs tbody tr").count(), 2);

      // ---- schedules and workers
      await page.goto(`${origin}/schedules`);
      await page.locator('tr[data-schedule="hourly-hold"]').waitFor();
      await page.click('tr[data-schedule="hourly-hold"] form[data-action$="/pause"] button');
      await page.locator('tr[data-schedule="hourly-hold"] .s-paused').waitFor();
      await page.click('tr[data-schedule="hourly-hold"] form[data-action$="/trigger"] button');
      await page.locator("#flash", { hasText: "Started one run" }).waitFor();
      assert.equal((await engine.list({ labels: { schedule: "hourly-hold" } })).runs.length, 1);
      await shot("schedules");
      await page.goto(`${origin}/workers`);
      await page.locator("#workers tbody tr").first().waitFor();
      assert.match((await page.textContent("#workers"))!, /order v1/);
      await shot("workers");

      // ---- fork a finished run from its approval: the page goes to the new run
      await page.goto(`${origin}/runs/order-1`);
      await page.fill("#fork-from", "approval");
      await page.click("#action-fork button");
      await page.waitForURL((url) => !url.pathname.endsWith("/runs/order-1"));
      await page.locator("#run-status .s-waiting").waitFor();
      assert.equal(await page.inputValue("#signal-name"), "approved");

      // ---- pause and resume from the page
      await engine.start(hold, "p", { id: "hold-pause" });
      await page.goto(`${origin}/runs/hold-pause`);
      await page.locator("#run-status .s-waiting").waitFor();
      await page.click("#action-pause button");
      await page.locator("#run-status .s-paused").waitFor();
      assert.equal(await page.locator("#action-signal").count(), 1, "a paused run takes signals");
      await shot("run-paused");
      await page.click("#action-resume button");
      await page.locator("#run-status .s-waiting").waitFor();
      assert.equal((await engine.get("hold-pause")).status, "waiting");

      // ---- a parent's children (.spawn and .call), followed live, and the way back
      await engine.start(batch, "b1", { id: "batch-1" });
      await page.goto(`${origin}/runs/batch-1`);
      await page.locator('#children tr[data-child="main-b1"] .s-waiting').waitFor();
      await page.locator('#children tr[data-child="audit-b1"] .s-waiting').waitFor();
      await page.locator('#plan [data-node="main"][data-state="waiting"]').waitFor();
      assert.equal(
        await page.locator('#plan [data-node="audit"]').getAttribute("data-state"),
        "done",
        "the spawn is passed",
      );
      assert.equal(await page.textContent("#children h2 .sub"), "2");
      await page.evaluate(() => (globalThis as { __marker?: number }).__marker = 2);
      await engine.signal("audit-b1", "go", "audited");
      await page.locator('#children tr[data-child="audit-b1"] .s-completed').waitFor();
      assert.equal(
        await page.evaluate(() => (globalThis as { __marker?: number }).__marker),
        2,
        "a child's change shows on its parent's page without a reload",
      );
      await shot("run-children");
      await page.click('#children tr[data-child="main-b1"] a.child-run');
      await page.waitForURL(/\/runs\/main-b1$/);
      assert.equal(await page.textContent("#parent"), "batch-1");
      await page.fill("#signal-name", "go");
      await page.fill("#signal-payload", JSON.stringify("from the page"));
      await page.click("#action-signal button");
      await page.locator("#run-status .s-completed").waitFor();
      await page.click("#parent");
      await page.waitForURL(/\/runs\/batch-1$/);
      await page.locator("#run-status .s-completed").waitFor();
      assert.equal(await engine.result("batch-1"), "batch done: from the page");
      await page.goto(`${origin}/?parent=batch-1`);
      assert.deepEqual(
        (await page.locator("#runs tbody tr").evaluateAll((rows) =>
          rows.map((r) => r.getAttribute("data-run"))
        )).sort(),
        ["audit-b1", "main-b1"],
        "the runs list filtered to one run's children",
      );
      await page.locator("#parent-filter").waitFor();

      // ---- unknown paths: an HTML page, not JSON
      const response = await page.goto(`${origin}/no/such/page`);
      assert.equal(response?.status(), 404);
      assert.match(response!.headers()["content-type"]!, /text\/html/);
      await page.locator("h1", { hasText: "Not found" }).waitFor();
      await shot("not-found");
      const missing = await page.goto(
        `${origin}/runs/${encodeURIComponent(`"><script>window.__xss=5</script>`)}`,
      );
      assert.equal(missing?.status(), 404);
      await noInjection();
    } catch (error) {
      const pages = browser.contexts().flatMap((c) => c.pages());
      await pages[0]?.screenshot({ path: `${SCREENSHOTS}failure.png`, fullPage: true });
      throw error;
    } finally {
      gate.resolve(); // never leave the worker waiting on a step
      await browser.close();
      await server.shutdown();
      await engine.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
