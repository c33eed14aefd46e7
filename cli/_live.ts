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
import type { WatchEvent } from "../lib/watch.ts";
import { CHILD_ROWS } from "./_run_page.ts";

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

/** A run's newest children (and whether it has more), as its page lists them. */
export async function childrenOf(
  client: DashboardClient,
  runId: string,
): Promise<{ runs: RunRecord[]; more: boolean }> {
  const page = await client.list({ parentId: runId, limit: CHILD_ROWS });
  return { runs: page.runs, more: page.nextCursor !== undefined };
}

function childrenPrint(children: readonly RunRecord[]): string {
  return children.map((r) => `${r.id}|${r.status}|${r.updatedAt.getTime()}`).join(",");
}

/** What a run's page shows, in short: its last event, its status and its children's. */
export function runFingerprint(
  run: RunRecord,
  history: readonly HistoryEvent[],
  children: readonly RunRecord[],
): string {
  const seq = history.reduce((max, e) => Math.max(max, e.seq), -1);
  return digest(`${seq}|${run.status}|${run.updatedAt.getTime()}|${childrenPrint(children)}`);
}

/** What the runs page shows, in short: each run's id, status and last update. */
export function runsFingerprint(runs: readonly RunRecord[]): string {
  return digest(childrenPrint(runs));
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
    const children = (await childrenOf(client, runId)).runs;
    return digest(`${after}|${run.status}|${run.updatedAt.getTime()}|${childrenPrint(children)}`);
  };
}

function runsProbe(client: DashboardClient, params: URLSearchParams, pageSize: number): Probe {
  const options = listOptions(readRunsQuery(params), pageSize);
  return async () => runsFingerprint((await client.list(options)).runs);
}

/**
 * The event stream of a page: `?run=<id>` for a run's page, otherwise the
 * runs list's filters; `v` is the fingerprint of what the page showed. It
 * follows `watch()` from now on and sends `change` for the events that
 * concern the page, at most once per `interval` (a busy engine does not make
 * pages reload without pause); one look at the fingerprint when it opens
 * catches a change between rendering and connecting. It ends when the client
 * goes away or `signal` aborts.
 */
export function liveResponse(
  client: DashboardClient,
  params: URLSearchParams,
  signal: AbortSignal | undefined,
  options: { interval: number; pageSize: number },
): Response {
  const interval = options.interval;
  const runId = params.get("run");
  const query = runId ? undefined : readRunsQuery(params);
  const probe = runId ? runProbe(client, runId) : runsProbe(client, params, options.pageSize);
  const watching = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let second: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const stop = () => {
    closed = true;
    watching.abort();
    clearTimeout(timer);
    clearInterval(keepAlive);
    clearTimeout(second);
  };
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        if (!closed) controller.enqueue(encoder.encode(text));
      };
      const close = () => {
        if (closed) return;
        stop();
        try {
          controller.close();
        } catch {
          // already closed by the client
        }
      };
      // Deno's server aborts a request's own signal once it has answered, so
      // that one is not passed here: the stream ends through cancel().
      signal?.addEventListener("abort", close, { once: true });
      let lastSent = 0;
      const change = () => {
        if (closed || timer !== undefined) return;
        const wait = Math.max(0, lastSent + interval - Date.now());
        timer = setTimeout(() => {
          timer = undefined;
          lastSent = Date.now();
          send("event: change\ndata: {}\n\n");
        }, wait);
      };
      send("retry: 2000\n\n");
      keepAlive = setInterval(() => send(": keep-alive\n\n"), KEEP_ALIVE_MS);
      // A run's page shows its children too: their events count.
      const filter = runId ? {} : query?.workflow !== undefined ? { workflow: query.workflow } : {};
      const children = new Set<string>();
      const learnChildren = async () => {
        if (runId === null) return;
        for (const child of (await childrenOf(client, runId)).runs) children.add(child.id);
      };
      const concerns = async (event: WatchEvent): Promise<boolean> => {
        if (runId === null || event.runId === runId || children.has(event.runId)) return true;
        // Every child begins with its run.created: is this run one of them?
        if (event.type !== "run.created") return false;
        const created = await client.get(event.runId).catch(() => undefined);
        if (created?.parentId !== runId) return false;
        children.add(event.runId);
        return true;
      };
      void (async () => {
        try {
          const events = client.watch(filter, { after: "now", signal: watching.signal });
          const iterator = events[Symbol.asyncIterator]();
          const first = iterator.next(); // finds the feed's end, then waits
          await learnChildren();
          // What changed between rendering and that moment: one look now, and
          // one once the watch surely stands at the end.
          const seen = params.get("v");
          const look = async () => {
            if (!closed && seen !== null && (await probe()) !== seen) change();
          };
          await look();
          second = setTimeout(() => void look().catch(() => {}), interval);
          for (let next = await first; !next.done; next = await iterator.next()) {
            if (await concerns(next.value)) change();
          }
        } catch {
          // the engine closed or the storage failed: the page reconnects
        }
        close();
      })();
    },
    cancel() {
      stop();
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
