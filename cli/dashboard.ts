/**
 * The web dashboard of `sluice serve`: a runs list, a run's detail with its
 * history timeline, and signal/cancel/retry actions, over an `Engine`.
 *
 * It listens on 127.0.0.1 by default. On any other address it refuses to start
 * without a token, and with a token every request must carry it. Mutations
 * require a custom header, so another site cannot forge them from a browser.
 */
import type { Engine } from "../lib/engine.ts";
import { SluiceError } from "../lib/errors.ts";
import type { HistoryEvent, RunRecord } from "../lib/records.ts";
import { eventDetail } from "./_format.ts";

/** Options of {@linkcode serveDashboard}. */
export interface DashboardOptions {
  /** The engine to show. */
  engine: Engine;
  /** Listen address; default 127.0.0.1. */
  hostname?: string;
  /** Port; default 8080 (0 picks a free one). */
  port?: number;
  /** Required on every request when set; mandatory off loopback. */
  token?: string;
  /** Called once listening. */
  onListen?: (address: { hostname: string; port: number }) => void;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function jsonResponse(body: unknown, status = 200, headers?: HeadersInit): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

function errorResponse(error: unknown): Response {
  if (error instanceof SluiceError) {
    const status = error.code === "RUN_NOT_FOUND"
      ? 404
      : error.code === "INVALID_STATE"
      ? 409
      : error.code === "SERIALIZATION" || error.code === "PAYLOAD_TOO_LARGE"
      ? 400
      : 500;
    return jsonResponse(
      { error: { name: error.name, code: error.code, message: error.message } },
      status,
    );
  }
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) {
    return jsonResponse({ error: { name: error.name, message: error.message } }, 400);
  }
  return jsonResponse({ error: { name: "Error", message: "Internal error" } }, 500);
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #ddd}
th{background:#f4f4f4}code,pre{font:12px ui-monospace,monospace}pre{background:#f7f7f7;padding:.6rem;overflow:auto}
.completed{color:#080}.failed{color:#b00}.cancelled{color:#777}.waiting,.sleeping{color:#a60}.running,.pending{color:#06c}
nav a{margin-right:.8rem}button{margin-right:.4rem}`;

function page(title: string, body: string): Response {
  return new Response(
    `<!doctype html><html><head><meta charset="utf-8"><title>${
      escapeHtml(title)
    }</title><style>${STYLE}</style></head><body>${body}</body></html>`,
    {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy":
          "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
      },
    },
  );
}

const STATUSES = ["pending", "running", "sleeping", "waiting", "completed", "failed", "cancelled"];

function listPage(runs: RunRecord[], status: string | undefined, next?: string): Response {
  const nav = ["all", ...STATUSES].map((s) =>
    `<a href="/${s === "all" ? "" : `?status=${s}`}">${
      s === (status ?? "all") ? `<b>${s}</b>` : s
    }</a>`
  ).join("");
  const rows = runs.map((r) =>
    `<tr><td><a href="/runs/${encodeURIComponent(r.id)}">${escapeHtml(r.id)}</a></td><td>${
      escapeHtml(r.workflow)
    }</td><td>${
      escapeHtml(r.version)
    }</td><td class="${r.status}">${r.status}</td><td>${r.createdAt.toISOString()}</td><td>${r.updatedAt.toISOString()}</td></tr>`
  ).join("");
  const more = next
    ? `<p><a href="/?${status ? `status=${status}&` : ""}cursor=${
      encodeURIComponent(next)
    }">Next page</a></p>`
    : "";
  return page(
    "Sluice runs",
    `<h1>Runs</h1><nav>${nav}</nav><table><tr><th>ID</th><th>Workflow</th><th>Version</th><th>Status</th><th>Created</th><th>Updated</th></tr>${rows}</table>${more}`,
  );
}

const ACTIONS_SCRIPT = `async function act(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "content-type": "application/json", "x-sluice-action": "1" }, body: JSON.stringify(body ?? {}) });
  const out = await response.json();
  if (!response.ok) alert(out.error.message); else location.reload();
}
function sendSignal(id) {
  const name = document.getElementById("signal-name").value;
  let payload;
  const text = document.getElementById("signal-payload").value;
  try { payload = text ? JSON.parse(text) : undefined; } catch { alert("The payload must be JSON"); return; }
  act("/api/runs/" + encodeURIComponent(id) + "/signal", { name, payload });
}`;

function detailPage(run: RunRecord, history: HistoryEvent[]): Response {
  const id = escapeHtml(JSON.stringify(run.id));
  const field = (label: string, value: string) => `<tr><th>${label}</th><td>${value}</td></tr>`;
  const fields = [
    field("Workflow", `${escapeHtml(run.workflow)} (version ${escapeHtml(run.version)})`),
    field("Plan hash", `<code>${escapeHtml(run.planHash)}</code>`),
    field("Status", `<span class="${run.status}">${run.status}</span>`),
    field("Created", run.createdAt.toISOString()),
    field("Updated", run.updatedAt.toISOString()),
    run.wakeAt ? field("Wakes at", run.wakeAt.toISOString()) : "",
    run.waitingFor ? field("Waits for", escapeHtml(run.waitingFor.join(", "))) : "",
    field("Labels", `<code>${escapeHtml(JSON.stringify(run.labels))}</code>`),
    field("Input", `<pre>${escapeHtml(JSON.stringify(run.input, null, 2) ?? "")}</pre>`),
    run.output !== undefined
      ? field("Output", `<pre>${escapeHtml(JSON.stringify(run.output, null, 2))}</pre>`)
      : "",
    run.error
      ? field(
        "Error",
        `<pre>${
          escapeHtml(`${run.error.name}: ${run.error.message}\n${run.error.stack ?? ""}`)
        }</pre>`,
      )
      : "",
  ].join("");
  const timeline = history.map((e) =>
    `<tr><td>${e.at.toISOString()}</td><td>${e.type}</td><td>${escapeHtml(e.step ?? "")}</td><td>${
      e.attempt ?? ""
    }</td><td>${escapeHtml(eventDetail(e))}</td></tr>`
  ).join("");
  const finished = run.status === "completed" || run.status === "failed" ||
    run.status === "cancelled";
  const actions = finished
    ? (run.status === "failed"
      ? `<button onclick='act("/api/runs/"+encodeURIComponent(${id})+"/retry")'>Retry</button>`
      : "")
    : `<input id="signal-name" placeholder="signal name"> <input id="signal-payload" placeholder='payload (JSON)'> <button onclick='sendSignal(${id})'>Send signal</button> <button onclick='act("/api/runs/"+encodeURIComponent(${id})+"/cancel", { reason: "cancelled from the dashboard" })'>Cancel</button>`;
  return page(
    `Run ${run.id}`,
    `<nav><a href="/">← Runs</a></nav><h1>Run ${
      escapeHtml(run.id)
    }</h1><table>${fields}</table><h2>Actions</h2><p>${actions}</p><h2>History</h2><table><tr><th>Time</th><th>Event</th><th>Step</th><th>Attempt</th><th>Detail</th></tr>${timeline}</table><script>${ACTIONS_SCRIPT}</script>`,
  );
}

async function readJson(request: Request): Promise<Record<string, unknown>> {
  const text = await request.text();
  if (text.length > 2_000_000) throw new RangeError("The request body is too large");
  if (!text) return {};
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("The request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Handles one dashboard request. */
export function dashboardHandler(
  engine: Engine,
  token: string | undefined,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    if (token !== undefined) {
      const header = request.headers.get("authorization");
      const cookie = /(?:^|;\s*)sluice_token=([^;]+)/.exec(request.headers.get("cookie") ?? "")
        ?.[1];
      const query = url.searchParams.get("token");
      const given = header?.startsWith("Bearer ") ? header.slice(7) : cookie ?? query ?? "";
      if (!sameSecret(decodeURIComponent(given), token)) {
        return jsonResponse({
          error: { name: "Unauthorized", message: "A valid token is required" },
        }, 401);
      }
      if (query !== null) {
        url.searchParams.delete("token");
        return new Response(null, {
          status: 303,
          headers: {
            location: url.pathname + url.search,
            "set-cookie": `sluice_token=${
              encodeURIComponent(token)
            }; HttpOnly; SameSite=Strict; Path=/`,
          },
        });
      }
    }
    try {
      const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
      if (request.method === "GET") {
        if (parts.length === 0) {
          const status = url.searchParams.get("status") ?? undefined;
          const result = await engine.list({
            ...(status ? { status: status as RunRecord["status"] } : {}),
            ...(url.searchParams.get("cursor") ? { cursor: url.searchParams.get("cursor")! } : {}),
            limit: 100,
          });
          return listPage(result.runs, status, result.nextCursor);
        }
        if (parts[0] === "runs" && parts.length === 2) {
          const [run, history] = await Promise.all([
            engine.get(parts[1]!),
            engine.history(parts[1]!),
          ]);
          return detailPage(run, history);
        }
        if (parts[0] === "api" && parts[1] === "runs") {
          if (parts.length === 2) {
            const status = url.searchParams.get("status");
            const workflow = url.searchParams.get("workflow");
            const limit = url.searchParams.get("limit");
            const cursor = url.searchParams.get("cursor");
            return jsonResponse(
              await engine.list({
                ...(status ? { status: status as RunRecord["status"] } : {}),
                ...(workflow ? { workflow } : {}),
                ...(limit ? { limit: Number(limit) } : {}),
                ...(cursor ? { cursor } : {}),
              }),
            );
          }
          if (parts.length === 3) return jsonResponse(await engine.get(parts[2]!));
          if (parts.length === 4 && parts[3] === "history") {
            return jsonResponse(await engine.history(parts[2]!));
          }
        }
      }
      if (
        request.method === "POST" && parts[0] === "api" && parts[1] === "runs" &&
        parts.length === 4
      ) {
        if (request.headers.get("x-sluice-action") !== "1") {
          return jsonResponse(
            {
              error: { name: "Forbidden", message: "Actions need the 'x-sluice-action: 1' header" },
            },
            403,
          );
        }
        const runId = parts[2]!;
        const body = await readJson(request);
        switch (parts[3]) {
          case "signal":
            if (typeof body.name !== "string") throw new TypeError("Pass the signal 'name'");
            await engine.signal(runId, body.name, body.payload);
            return jsonResponse({ ok: true });
          case "cancel":
            await engine.cancel(runId, typeof body.reason === "string" ? body.reason : undefined);
            return jsonResponse({ ok: true });
          case "retry":
            await engine.retry(runId);
            return jsonResponse({ ok: true });
        }
      }
      return jsonResponse({ error: { name: "NotFound", message: "No such page" } }, 404);
    } catch (error) {
      return errorResponse(error);
    }
  };
}

/**
 * Serves the dashboard until `shutdown()`.
 *
 * @throws {TypeError} When asked to listen off loopback without a token.
 */
export function serveDashboard(options: DashboardOptions): Deno.HttpServer<Deno.NetAddr> {
  const hostname = options.hostname ?? "127.0.0.1";
  if (!LOOPBACK.has(hostname) && !options.token) {
    throw new TypeError(
      `Cannot serve the dashboard on '${hostname}' without a token: pass --token or set SLUICE_TOKEN, or listen on 127.0.0.1`,
    );
  }
  if (options.token !== undefined && options.token.length < 16) {
    throw new RangeError(
      "Cannot use a dashboard token shorter than 16 characters: use a longer one",
    );
  }
  return Deno.serve({
    hostname,
    port: options.port ?? 8080,
    onListen: (address) => options.onListen?.(address),
  }, dashboardHandler(options.engine, options.token));
}
