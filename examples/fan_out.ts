/**
 * Fan-out: fetch several pages at once with `map` (at most 3 in flight), then
 * summarise them in parallel branches. Each item is checkpointed on its own,
 * so a crash or a retry never fetches a finished page again.
 *
 * Run it with `deno run examples/fan_out.ts`.
 */
import { LocalRunner, workflow } from "../mod.ts";

/** Pretend to fetch a page: its word count depends on the URL. */
export function fetchWords(url: string): Promise<number> {
  return Promise.resolve(url.length * 10);
}

export const crawl = workflow<{ urls: string[] }>("crawl")
  .map("fetch", (input) => input.urls, (url) => fetchWords(url), { concurrency: 3 })
  .parallel("summarise", {
    total: (counts) => counts.reduce((a, b) => a + b, 0),
    largest: (counts) => Math.max(...counts),
    pages: (counts) => counts.length,
  });

if (import.meta.main) {
  await using runner = new LocalRunner();
  const summary = await runner.run(crawl, {
    urls: ["https://a.example", "https://bb.example", "https://ccc.example", "https://d.example"],
  });
  console.log(summary);
}
