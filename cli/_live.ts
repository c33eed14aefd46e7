/**
 * Live updates of the dashboard pages over Server-Sent Events: the stream
 * sends a `change` event whenever what the page shows may have changed, and
 * the page then re-reads itself.
 *
 * @module
 */
import type { DashboardClient } from "./_client.ts";
import { listOptions, readRunsQuery } from "./_runs_page.ts";
import type { HistoryEvent, RunRecord } from "../lib/records.ts";

const encoder = new TextEncoder();

/** Comment lines keep proxies from closing an idle stream. */
const KEEP_ALIVE_MS = 15_000;

/** A fingerprint of what a page shows; a new one means the page changed. */
type Probe = () => Promise<string>;

/** A short hash (FNV-1a, 32 bits) of a fingerprint, for URLs. */
function digest(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

/** What a run's page shows, in short: its last event and its status. */
export function runFingerprint(run: RunRecord, history: readonly HistoryEvent[]): string {
  const seq = history.reduce((max, e) => Math.max(max, e.seq), -1);
  return digest(`${seq}|${run.status}|${run.updatedAt.getTime()}`);
}

/** What the runs page shows, in short: each run's id, status and last update. */
export function runsFingerprint(runs: readonly RunRecord[]): string {
  return digest(runs.map((r) => `${r.id}|${r.status}|${r.updatedAt.getTime()}`).join(","));
}

function runProbe(client: DashboardClient, runId: string): Probe {
  let after = -1;
  return async () => {
    const run = await client.get(runId);
    for (;;) {
      const page = await client.history(runId, { after, limit: 1000 });
      if (page.length > 0) after = page.at(-1)!.seq;
      if (page.length < 1000) break;
    }
    return digest(`${after}|${run.status}|${run.updatedAt.getTime()}`);
  };
}

function runsProbe(client: DashboardClient, params: URLSearchParams, pageSize: number): Probe {
  const options = listOptions(readRunsQuery(params), pageSize);
  return async () => runsFingerprint((await client.list(options)).runs);
}

/**
 * The event stream of a page: `?run=<id>` for a run's page, otherwise the
 * runs list's filters; `v` is the fingerprint of what the page showed, so a
 * change between rendering and connecting is not missed. It ends when the
 * client goes away.
 */
export function liveResponse(
  client: DashboardClient,
  params: URLSearchParams,
  signal: AbortSignal | undefined,
  options: { interval: number; pageSize: number },
): Response {
  const interval = options.interval;
  const runId = params.get("run");
  const probe = runId ? runProbe(client, runId) : runsProbe(client, params, options.pageSize);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (text: string) => {
        if (!closed) controller.enqueue(encoder.encode(text));
      };
      const close = () => {
        if (closed) return;
        closed = true;
        clearTimeout(timer);
        try {
          controller.close();
        } catch {
          // already closed by the client
        }
      };
      // The stream ends when the client goes away (cancel below) or `signal`
      // aborts; Deno's server aborts a request's own signal once it has
      // answered, so that one is not passed here.
      signal?.addEventListener("abort", close, { once: true });
      let last: string | undefined = params.get("v") ?? undefined;
      let quiet = 0;
      const tick = async () => {
        if (closed) return;
        try {
          const now = await probe();
          if (last !== undefined && now !== last) send("event: change\ndata: {}\n\n");
          last = now;
          quiet += interval;
          if (quiet >= KEEP_ALIVE_MS) {
            quiet = 0;
            send(": keep-alive\n\n");
          }
        } catch {
          close();
          return;
        }
        if (!closed) timer = setTimeout(tick, interval);
      };
      send("retry: 2000\n\n");
      await tick();
    },
    cancel() {
      closed = true;
      clearTimeout(timer);
    },
  });
  return new Response(stream, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}
