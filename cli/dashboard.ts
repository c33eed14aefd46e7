/**
 * The web dashboard: a request handler to mount in any server
 * ({@linkcode dashboard}), and the server of `sluice serve`
 * ({@linkcode serveDashboard}).
 *
 * Pages are rendered on the server; the one stylesheet and script are inlined
 * under a per-response CSP nonce, so nothing is fetched from elsewhere and no
 * injected markup can run. Every value shown is escaped. With a token, every
 * request must carry it; actions need the `x-sluice-action: 1` header, which a
 * form on another site cannot send.
 *
 * @module
 */
import type { Workflow } from "../lib/builder.ts";
import { SluiceError } from "../lib/errors.ts";
import { isFinished } from "../lib/driver.ts";
import type { HistoryEvent } from "../lib/records.ts";
import { RUN_ACTIONS } from "./_actions.ts";
import { type DashboardClient, PlanIndex } from "./_client.ts";
import { html } from "./_html.ts";
import { notFoundPage, renderPage } from "./_layout.ts";
import { childrenOf, liveResponse, runFingerprint, runsFingerprint } from "./_live.ts";
import { runBody } from "./_run_page.ts";
import { SCHEDULE_ACTIONS, schedulesBody, workersBody } from "./_ops_pages.ts";
import { listOptions, readRunsQuery, runsBody } from "./_runs_page.ts";

export type { DashboardClient };

/**
 * Options of {@linkcode dashboard}.
 *
 * @example Mount the dashboard under a path, with a token
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver } from "@sluice/sluice";
 * import { dashboard, type DashboardOptions } from "@sluice/sluice/cli";
 *
 * await using engine = new Engine({ driver: new MemoryDriver() });
 * const options: DashboardOptions = { basePath: "/ops", token: "a-long-secret-token" };
 * const handle = dashboard(engine, options);
 * const denied = await handle(new Request("http://localhost/ops/"));
 * assert.equal(denied.status, 401);
 * const page = await handle(new Request("http://localhost/ops/", {
 *   headers: { authorization: "Bearer a-long-secret-token" },
 * }));
 * assert.equal(page.status, 200);
 * ```
 */
export interface DashboardOptions {
  /**
   * Required on every request when set: as `Authorization: Bearer <token>`, as
   * the `sluice_token` cookie, or once as `?token=` (which sets the cookie).
   */
  token?: string;
  /**
   * The path the handler is mounted at (no trailing slash), used in links;
   * requests may arrive with or without it.
   * @default {""}
   */
  basePath?: string;
  /** Workflows whose plan graphs the run pages draw (matched by name and plan hash). */
  // deno-lint-ignore no-explicit-any
  workflows?: readonly Workflow<any, any>[];
  /**
   * Runs per page of the runs list, 1 to 1000.
   * @default {50}
   */
  pageSize?: number;
  /**
   * Live pages refresh at most this often, in milliseconds (they follow
   * `watch()` and refresh when what they show may have changed).
   * @default {1000}
   */
  liveInterval?: number;
}

function json(body: unknown, status = 200, headers?: HeadersInit): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
}

function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** The HTTP status of an error. */
function statusOf(error: unknown): number {
  if (error instanceof SluiceError) {
    if (error.code.endsWith("NOT_FOUND")) return 404;
    if (error.code === "INVALID_STATE") return 409;
    if (error.code === "SERIALIZATION" || error.code === "PAYLOAD_TOO_LARGE") return 400;
    return 500;
  }
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) {
    return 400;
  }
  return 500;
}

function apiError(error: unknown): Response {
  const status = statusOf(error);
  if (status === 500 && !(error instanceof SluiceError)) {
    return json({ error: { name: "Error", message: "Internal error" } }, 500);
  }
  const e = error as Error & { code?: string };
  return json(
    { error: { name: e.name, ...(e.code ? { code: e.code } : {}), message: e.message } },
    status,
  );
}

async function readJson(request: Request): Promise<Record<string, unknown>> {
  const text = await request.text();
  if (text.length > 2_000_000) throw new RangeError("Cannot accept a request body over 2 MB");
  if (!text) return {};
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("Cannot read the request body: send a JSON object");
  }
  return value as Record<string, unknown>;
}

interface Context {
  request: Request;
  url: URL;
  params: string[];
}

interface Route {
  method: "GET" | "POST";
  /** Segments; `*` matches one segment (decoded) and is passed in `params`. */
  path: string[];
  handle(ctx: Context): Promise<Response>;
}

/**
 * Makes the dashboard's request handler, for `Deno.serve`, Hono
 * (`app.mount("/ops", dashboard(engine, { basePath: "/ops" }))`) or any server
 * of web `Request`s.
 *
 * @param client The engine whose runs it shows and acts on.
 * @param options Token, base path, workflows to draw, page size.
 * @returns The handler.
 *
 * @example Serve it with Deno.serve
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, workflow } from "@sluice/sluice";
 * import { dashboard } from "@sluice/sluice/cli";
 *
 * const hello = workflow<string>("hello").step("greet", (name) => `Hi ${name}`);
 * await using engine = new Engine({ driver: new MemoryDriver(), workflows: [hello] });
 * await engine.start(hello, "<b>Ada</b>", { id: "hello-1" });
 * await using server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   dashboard(engine, { workflows: [hello] }),
 * );
 * const page = await fetch(`http://127.0.0.1:${server.addr.port}/runs/hello-1`);
 * const text = await page.text();
 * assert.equal(page.status, 200);
 * assert.ok(text.includes("&lt;b&gt;Ada&lt;/b&gt;")); // escaped, never markup
 * const missing = await fetch(`http://127.0.0.1:${server.addr.port}/nowhere`);
 * assert.equal(missing.status, 404);
 * assert.match(await missing.text(), /<h1>Not found<\/h1>/);
 * ```
 */
export function dashboard(
  client: DashboardClient,
  options: DashboardOptions = {},
): (request: Request) => Promise<Response> {
  if (typeof client !== "object" || client === null || typeof client.list !== "function") {
    throw new TypeError("Cannot make a dashboard without an engine: pass an Engine");
  }
  const base = (options.basePath ?? "").replace(/\/+$/, "");
  if (base !== "" && !/^\/[\w\-./~%]*$/.test(base)) {
    throw new TypeError(
      `Cannot mount the dashboard at '${base}': pass a path such as '/ops'`,
    );
  }
  const token = options.token;
  if (token !== undefined && (typeof token !== "string" || token.length < 16)) {
    throw new RangeError(
      "Cannot use a dashboard token shorter than 16 characters: use a longer one",
    );
  }
  const pageSize = options.pageSize ?? 50;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
    throw new RangeError(`Cannot use 'pageSize' ${pageSize}: use 1 to 1000`);
  }
  const liveInterval = options.liveInterval ?? 1000;
  if (!Number.isFinite(liveInterval) || liveInterval < 10) {
    throw new RangeError(`Cannot use 'liveInterval' ${liveInterval}: use at least 10 ms`);
  }
  const plans = new PlanIndex(options.workflows ?? []);
  const workflowNames = [...new Set((options.workflows ?? []).map((w) => w.name))].sort();

  const runsPage = async ({ url }: Context): Promise<Response> => {
    const id = url.searchParams.get("id")?.trim();
    let notice: string | undefined;
    if (id) {
      try {
        await client.get(id);
        return new Response(null, {
          status: 303,
          headers: { location: `${base}/runs/${encodeURIComponent(id)}` },
        });
      } catch (error) {
        if (statusOf(error) === 500) throw error;
        notice = `No run has the id '${id}'.`;
      }
    }
    const query = readRunsQuery(url.searchParams);
    const { runs, nextCursor } = await client.list(listOptions(query, pageSize));
    const histories = new Map<string, HistoryEvent[]>();
    await Promise.all(
      runs.filter((r) => !isFinished(r.status)).map(async (r) => {
        histories.set(r.id, await client.history(r.id).catch(() => []));
      }),
    );
    const live = new URLSearchParams(url.searchParams);
    live.delete("id");
    live.set("v", runsFingerprint(runs));
    return renderPage({
      base,
      title: "Runs",
      active: "/",
      live: `${base}/events?${live}`,
      body: runsBody({
        base,
        query,
        runs,
        histories,
        plans: (run) => plans.find(run.workflow, run.planHash),
        ...(nextCursor ? { nextCursor } : {}),
        workflows: workflowNames,
        now: Date.now(),
        ...(notice ? { notice } : {}),
      }),
    });
  };

  const runPage = async ({ params }: Context): Promise<Response> => {
    const runId = params[0]!;
    const [run, history, children] = await Promise.all([
      client.get(runId),
      client.history(runId),
      childrenOf(client, runId),
    ]);
    return renderPage({
      base,
      title: `Run ${run.id}`,
      active: "/",
      live: `${base}/events?${new URLSearchParams({
        run: run.id,
        v: runFingerprint(run, history, children.runs),
      })}`,
      body: runBody({
        base,
        run,
        history,
        plan: plans.find(run.workflow, run.planHash),
        children,
        now: Date.now(),
      }),
    });
  };

  const action = async ({ request, params }: Context): Promise<Response> => {
    const [runId, name] = params as [string, string];
    const found = RUN_ACTIONS.find((a) => a.name === name);
    if (!found) return json({ error: { name: "NotFound", message: `No action '${name}'` } }, 404);
    const next = await found.perform(client, runId, await readJson(request));
    return json(
      next
        ? { ok: true, location: `${base}/runs/${encodeURIComponent(next.runId)}` }
        : { ok: true },
    );
  };

  /** The route table; pages for schedules and workers plug in here (and in NAV). */
  const routes: Route[] = [
    { method: "GET", path: [], handle: runsPage },
    { method: "GET", path: ["runs", "*"], handle: runPage },
    {
      method: "GET",
      path: ["events"],
      handle: async ({ url }) => {
        // A run's stream for a run that does not exist is a 404 (RunNotFoundError), not an empty stream.
        const run = url.searchParams.get("run");
        if (run !== null) await client.get(run);
        return liveResponse(client, url.searchParams, undefined, {
          interval: liveInterval,
          pageSize,
        });
      },
    },
    {
      method: "GET",
      path: ["api", "runs"],
      handle: async ({ url }) => {
        const query = readRunsQuery(url.searchParams);
        const limit = Number(url.searchParams.get("limit") ?? pageSize);
        return json(await client.list(listOptions(query, limit)));
      },
    },
    {
      method: "GET",
      path: ["api", "runs", "*"],
      handle: async ({ params }) => json(await client.get(params[0]!)),
    },
    {
      method: "GET",
      path: ["api", "runs", "*", "history"],
      handle: async ({ params }) => json(await client.history(params[0]!)),
    },
    { method: "POST", path: ["api", "runs", "*", "*"], handle: action },
    {
      method: "GET",
      path: ["schedules"],
      handle: async () =>
        renderPage({
          base,
          title: "Schedules",
          active: "/schedules",
          body: schedulesBody(base, await client.schedules.list()),
        }),
    },
    {
      method: "GET",
      path: ["workers"],
      handle: async () =>
        renderPage({
          base,
          title: "Workers",
          active: "/workers",
          body: workersBody(await client.workers(), Date.now()),
        }),
    },
    {
      method: "POST",
      path: ["api", "schedules", "*", "*"],
      handle: async ({ params }) => {
        const [id, name] = params as [string, string];
        const found = SCHEDULE_ACTIONS.find((a) => a.name === name);
        if (!found) {
          return json({ error: { name: "NotFound", message: `No action '${name}'` } }, 404);
        }
        await found.perform(client, id);
        return json({ ok: true });
      },
    },
  ];

  const match = (method: string, segments: string[]) => {
    for (const route of routes) {
      if (route.method !== method || route.path.length !== segments.length) continue;
      const params: string[] = [];
      if (
        route.path.every((p, i) => {
          if (p === "*") return params.push(segments[i]!);
          return p === segments[i];
        })
      ) return { route, params };
    }
    return undefined;
  };

  return async (request) => {
    const url = new URL(request.url);
    let path = url.pathname;
    if (base && (path === base || path.startsWith(`${base}/`))) path = path.slice(base.length);
    const isApi = path.startsWith("/api/") || path === "/events";
    if (token !== undefined) {
      const header = request.headers.get("authorization");
      const cookie = /(?:^|;\s*)sluice_token=([^;]+)/.exec(request.headers.get("cookie") ?? "")
        ?.[1];
      const query = url.searchParams.get("token");
      let given = header?.startsWith("Bearer ") ? header.slice(7) : cookie ?? query ?? "";
      try {
        given = decodeURIComponent(given);
      } catch {
        given = "";
      }
      if (!sameSecret(given, token)) {
        return isApi
          ? json({ error: { name: "Unauthorized", message: "A valid token is required" } }, 401)
          : renderPage({
            base,
            title: "Token required",
            status: 401,
            body: html`
              <div class="card empty">
                <h1>Token required</h1>
                <p>Open the dashboard with <code>?token=…</code> once, or send <code>Authorization: Bearer …</code>.</p>
              </div>
            `,
          });
      }
      if (query !== null) {
        url.searchParams.delete("token");
        return new Response(null, {
          status: 303,
          headers: {
            location: `${base}${path}${url.search}`,
            "set-cookie": `sluice_token=${
              encodeURIComponent(token)
            }; HttpOnly; SameSite=Strict; Path=${base || "/"}`,
          },
        });
      }
    }
    let segments: string[];
    try {
      segments = path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch {
      return notFoundPage(base, "That address is not valid.");
    }
    const found = match(request.method, segments);
    if (!found) {
      if (isApi) return json({ error: { name: "NotFound", message: "No such resource" } }, 404);
      return notFoundPage(base, `There is no page at '${url.pathname}'.`);
    }
    if (request.method === "POST") {
      if (request.headers.get("x-sluice-action") !== "1") {
        return json({
          error: { name: "Forbidden", message: "Actions need the 'x-sluice-action: 1' header" },
        }, 403);
      }
      if (request.headers.get("sec-fetch-site") === "cross-site") {
        return json(
          { error: { name: "Forbidden", message: "Cross-site actions are refused" } },
          403,
        );
      }
    }
    try {
      return await found.route.handle({ request, url, params: found.params });
    } catch (error) {
      if (isApi || request.method !== "GET") return apiError(error);
      const status = statusOf(error);
      if (status === 404) return notFoundPage(base, (error as Error).message);
      return renderPage({
        base,
        title: status === 500 ? "Error" : "Bad request",
        status,
        body: html`
          <div class="card empty">
            <h1>${status === 500 ? "Something went wrong" : "Bad request"}</h1>
            <p>${status === 500 && !(error instanceof SluiceError)
              ? "Internal error: see the server's log."
              : (error as Error).message}</p>
            <p><a href="${base}/">Back to the runs</a></p>
          </div>
        `,
      });
    }
  };
}

/** Options of {@linkcode serveDashboard}. */
export interface ServeDashboardOptions extends DashboardOptions {
  /** The engine to show. */
  engine: DashboardClient;
  /**
   * Listen address; any address but loopback needs a `token`.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * Port (0 picks a free one).
   * @default {8080}
   */
  port?: number;
  /** Called once listening. */
  onListen?: (address: { hostname: string; port: number }) => void;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/**
 * Serves the dashboard until `shutdown()`: on 127.0.0.1 by default; on any
 * other address only with a token.
 *
 * @param options The engine, address and dashboard options.
 * @returns The server.
 * @throws {TypeError} When asked to listen off loopback without a token.
 *
 * @example Refuse to listen on every address without a token
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver } from "@sluice/sluice";
 * import { serveDashboard } from "@sluice/sluice/cli";
 *
 * await using engine = new Engine({ driver: new MemoryDriver() });
 * assert.throws(() => serveDashboard({ engine, hostname: "0.0.0.0" }), TypeError);
 * ```
 */
export function serveDashboard(options: ServeDashboardOptions): Deno.HttpServer<Deno.NetAddr> {
  const hostname = options.hostname ?? "127.0.0.1";
  if (!LOOPBACK.has(hostname) && !options.token) {
    throw new TypeError(
      `Cannot serve the dashboard on '${hostname}' without a token: pass --token or set SLUICE_TOKEN, or listen on 127.0.0.1`,
    );
  }
  const handler = dashboard(options.engine, options);
  return Deno.serve({
    hostname,
    port: options.port ?? 8080,
    onListen: (address) => options.onListen?.(address),
  }, handler);
}
