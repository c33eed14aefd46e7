// The dashboard's handler over HTTP, without a browser: the HTML 404, the CSP,
// escaping, the token, the CSRF guard, mounting under a path, filters and the
// Server-Sent Events stream. tests/dashboard_browser_test.ts drives it in Chromium.
import assert from "node:assert/strict";
import { Engine, MemoryDriver, workflow } from "../mod.ts";
import { dashboard } from "../cli/mod.ts";

const HOSTILE = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`;

const gate = workflow<{ note: string }>("gate")
  .step("prepare", (input) => input.note)
  .waitForAnySignal("approval", ["approved", "rejected"]);
const broken = workflow<number>("broken").step("explode", () => {
  throw new Error(`Exploded ${HOSTILE}`);
});

async function setup() {
  const engine = new Engine({ driver: new MemoryDriver(), workflows: [gate, broken] });
  const worker = engine.worker({ pollInterval: 20 });
  await worker.start();
  await engine.start(gate, { note: HOSTILE }, { id: "gate-1", labels: { who: HOSTILE } });
  await engine.start(broken, 1, { id: "broken-1" });
  await assert.rejects(engine.result("broken-1"));
  for (let i = 0; i < 200 && (await engine.get("gate-1")).status !== "waiting"; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return engine;
}

Deno.test("dashboard() answers unknown paths with an HTML 404 and API paths with JSON", async () => {
  await using engine = await setup();
  const handle = dashboard(engine);
  const page = await handle(new Request("http://localhost/nope/nope"));
  assert.equal(page.status, 404);
  assert.match(page.headers.get("content-type")!, /text\/html/);
  assert.match(await page.text(), /<h1>Not found<\/h1>/);
  const run = await handle(new Request("http://localhost/runs/missing-run"));
  assert.equal(run.status, 404);
  assert.match(await run.text(), /missing-run/);
  const api = await handle(new Request("http://localhost/api/nope"));
  assert.equal(api.status, 404);
  assert.equal((await api.json()).error.name, "NotFound");
  const stream = await handle(new Request("http://localhost/events?run=missing-run"));
  assert.equal(stream.status, 404);
  assert.equal((await stream.json()).error.name, "RunNotFoundError");
  const bad = await handle(new Request("http://localhost/?status=bogus"));
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /Cannot filter by status &#39;bogus&#39;/);
});

Deno.test("dashboard() pages escape every stored string and run only nonce'd inline code", async () => {
  await using engine = await setup();
  const handle = dashboard(engine, { workflows: [gate, broken] });
  for (
    const path of ["/", "/runs/gate-1", "/runs/broken-1", `/?id=${encodeURIComponent(HOSTILE)}`]
  ) {
    const response = await handle(new Request(`http://localhost${path}`));
    const text = await response.text();
    assert.equal(response.status, 200, path);
    assert.ok(!text.includes("<script>alert"), `${path} holds no injected script`);
    assert.ok(!text.includes("<img"), `${path} holds no injected image`);
    const csp = response.headers.get("content-security-policy")!;
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, "scripts need the nonce");
    assert.ok(!csp.includes("unsafe-inline"));
    assert.equal([...text.matchAll(/<script/g)].length, 1);
    assert.ok(text.includes(`<script nonce="${nonce}">`));
  }
  const run = await (await handle(new Request("http://localhost/runs/gate-1"))).text();
  assert.match(run, /id="signal-name"[^>]*value="approved"/, "the awaited name is pre-filled");
  assert.match(run, /<option value="rejected">/);
  assert.match(run, /data-node="approval" data-state="waiting"/);
  assert.match(run, /data-node="prepare" data-state="done"/);
  const failed = await (await handle(new Request("http://localhost/runs/broken-1"))).text();
  assert.match(failed, /Exploded &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(failed, /data-node="explode" data-state="failed"/);
  assert.ok(failed.includes('id="action-retry"') && !failed.includes('id="action-cancel"'));
});

Deno.test("dashboard() with a token refuses requests without it and mounts under a base path", async () => {
  await using engine = await setup();
  const token = "a-long-enough-dashboard-token";
  const handle = dashboard(engine, { token, basePath: "/ops" });
  const denied = await handle(new Request("http://localhost/ops/"));
  assert.equal(denied.status, 401);
  assert.match(denied.headers.get("content-type")!, /text\/html/);
  const viaQuery = await handle(new Request(`http://localhost/ops/runs/gate-1?token=${token}`));
  assert.equal(viaQuery.status, 303);
  assert.equal(viaQuery.headers.get("location"), "/ops/runs/gate-1");
  assert.match(
    viaQuery.headers.get("set-cookie")!,
    /sluice_token=.*; HttpOnly; SameSite=Strict; Path=\/ops/,
  );
  const cookie = { cookie: `sluice_token=${token}` };
  const page = await handle(new Request("http://localhost/ops/", { headers: cookie }));
  const text = await page.text();
  assert.match(text, /href="\/ops\/runs\/gate-1"/, "links carry the base path");
  // Hono's mount strips the prefix: the same handler answers without it.
  const stripped = await handle(new Request("http://localhost/runs/gate-1", { headers: cookie }));
  assert.equal(stripped.status, 200);
  await stripped.body?.cancel();
  assert.throws(() => dashboard(engine, { token: "short" }), RangeError);
  assert.throws(() => dashboard(engine, { basePath: "ops" }), TypeError);
  assert.throws(() => dashboard(engine, { pageSize: 0 }), RangeError);
});

Deno.test("dashboard() actions need the CSRF header and are refused cross-site", async () => {
  await using engine = await setup();
  const handle = dashboard(engine);
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    handle(
      new Request(`http://localhost/api/runs/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      }),
    );
  assert.equal((await post("gate-1/cancel", {})).status, 403);
  assert.equal(
    (await post("gate-1/cancel", {}, { "x-sluice-action": "1", "sec-fetch-site": "cross-site" }))
      .status,
    403,
  );
  assert.equal((await engine.get("gate-1")).status, "waiting", "nothing changed");
  const noName = await post("gate-1/signal", {}, { "x-sluice-action": "1" });
  assert.equal(noName.status, 400);
  assert.match((await noName.json()).error.message, /without a name/);
  const unknown = await post("gate-1/explode", {}, { "x-sluice-action": "1" });
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();
  const signalled = await post("gate-1/signal", { name: "approved", payload: HOSTILE }, {
    "x-sluice-action": "1",
  });
  assert.equal(signalled.status, 200);
  assert.deepEqual(await signalled.json(), { ok: true });
  assert.deepEqual(await engine.result("gate-1"), { signal: "approved", payload: HOSTILE });
});

Deno.test("dashboard() filters runs by workflow, status, label and creation time", async () => {
  await using engine = await setup();
  const handle = dashboard(engine, { pageSize: 1 });
  const ids = async (query: string) => {
    const text = await (await handle(new Request(`http://localhost/?${query}`))).text();
    return [...text.matchAll(/<tr data-run="([^"]+)"/g)].map((m) => m[1]);
  };
  assert.deepEqual(await ids("workflow=broken"), ["broken-1"]);
  assert.deepEqual(await ids("status=waiting"), ["gate-1"]);
  assert.deepEqual(await ids(`label=${encodeURIComponent(`who=${HOSTILE}`)}`), ["gate-1"]);
  assert.deepEqual(await ids("to=2000-01-01T00:00"), []);
  assert.deepEqual(await ids("from=2999-01-01T00:00"), []);
  // one run a page: the first page links to the next
  const first = await (await handle(new Request("http://localhost/"))).text();
  const next = /href="([^"]+)" id="page-next"/.exec(first)![1]!.replaceAll("&amp;", "&");
  const second = await (await handle(new Request(`http://localhost${next}`))).text();
  const a = /<tr data-run="([^"]+)"/.exec(first)![1];
  const b = /<tr data-run="([^"]+)"/.exec(second)![1];
  assert.deepEqual([a, b].sort(), ["broken-1", "gate-1"]);
  const search = await handle(new Request("http://localhost/?id=gate-1"));
  assert.equal(search.status, 303);
  assert.equal(search.headers.get("location"), "/runs/gate-1");
});

Deno.test("dashboard() streams a change event when a run moves on", async () => {
  await using engine = await setup();
  const handle = dashboard(engine, { liveInterval: 20 });
  const page = await (await handle(new Request("http://localhost/runs/gate-1"))).text();
  const live = /data-live="([^"]+)"/.exec(page)![1]!.replaceAll("&amp;", "&");
  const response = await handle(new Request(`http://localhost${live}`));
  assert.match(response.headers.get("content-type")!, /text\/event-stream/);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  await engine.signal("gate-1", "rejected", 1);
  let text = "";
  while (!text.includes("event: change")) text += (await reader.read()).value ?? "";
  await reader.cancel();
});

Deno.test("dashboard() pauses and resumes a run from its page's actions", async () => {
  await using engine = await setup();
  const handle = dashboard(engine, { workflows: [gate] });
  const act = (name: string) =>
    handle(
      new Request(`http://localhost/api/runs/gate-1/${name}`, {
        method: "POST",
        headers: { "x-sluice-action": "1" },
        body: "{}",
      }),
    );
  const page = async () => await (await handle(new Request("http://localhost/runs/gate-1"))).text();
  assert.match(await page(), /id="action-pause"/);
  assert.equal((await act("pause")).status, 200);
  assert.equal((await engine.get("gate-1")).status, "paused");
  const paused = await page();
  assert.match(paused, /id="action-resume"/);
  assert.ok(!paused.includes('id="action-pause"'));
  assert.equal((await act("resume")).status, 200);
  assert.notEqual((await engine.get("gate-1")).status, "paused");
  const again = await act("resume");
  assert.equal(again.status, 409, "resuming a run that is not paused is refused");
  await again.body?.cancel();
});

Deno.test("dashboard() forks a run from a step with a new input and points at the fork", async () => {
  await using engine = await setup();
  const handle = dashboard(engine, { workflows: [gate] });
  const fork = (body: unknown) =>
    handle(
      new Request("http://localhost/api/runs/gate-1/fork", {
        method: "POST",
        headers: { "x-sluice-action": "1" },
        body: JSON.stringify(body),
      }),
    );
  const response = await fork({ from: "approval", input: JSON.stringify({ note: "again" }) });
  assert.equal(response.status, 200);
  const { location } = await response.json();
  const id = decodeURIComponent(location.replace("/runs/", ""));
  assert.deepEqual((await engine.get(id)).input, { note: "again" });
  const bad = await fork({ input: "{not json" });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /Cannot fork with input/);
});

Deno.test("dashboard() lists a run's children with links and statuses, and filters runs by parent", async () => {
  const task = workflow<string>("task").waitForSignal<string>("wait", "go");
  const batch = workflow<string>("batch")
    .spawn("audit", task, { id: (s) => `audit-${s}` })
    .call("main", task, { id: (_s, input) => `main-${input}`, input: (_s, input) => input });
  await using engine = new Engine({ driver: new MemoryDriver(), workflows: [task, batch] });
  await using worker = engine.worker({ pollInterval: 20 });
  await worker.start();
  await engine.start(batch, "b1", { id: "batch-1" });
  for (let i = 0; i < 200 && (await engine.get("batch-1")).status !== "waiting"; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const handle = dashboard(engine, { workflows: [task, batch] });
  const page = await (await handle(new Request("http://localhost/runs/batch-1"))).text();
  const children = /<div class="card" id="children">([\s\S]*?)<\/table>/.exec(page)![1]!;
  const rows = [...children.matchAll(/<tr data-child="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(rows.sort(), ["audit-b1", "main-b1"]);
  assert.match(children, /<a class="child-run" href="\/runs\/main-b1">main-b1<\/a>/);
  assert.match(children, /s-waiting/);
  const child = await (await handle(new Request("http://localhost/runs/main-b1"))).text();
  assert.match(child, /<a id="parent" href="\/runs\/batch-1">batch-1<\/a>/);
  assert.ok(!child.includes('id="children"'), "no children: no section");
  const list = await (await handle(new Request("http://localhost/?parent=batch-1"))).text();
  assert.equal([...list.matchAll(/<tr data-run="/g)].length, 2);
  assert.match(list, /id="parent-filter"/);
  const bad = await handle(new Request(`http://localhost/?parent=${encodeURIComponent(HOSTILE)}`));
  assert.equal(bad.status, 400);
  assert.ok(!(await bad.text()).includes("<script>alert"), "the refused id is escaped");
});
