/** Shared pieces of the benchmarks: timing, medians and the result table. */

/** One line of the results table. */
export interface Row {
  /** What was measured. */
  scenario: string;
  /** The measured figure, formatted with its unit. */
  figure: string;
  /** The baseline measured in the same run, formatted with its unit. */
  baseline: string;
  /** figure / baseline (or the scenario's own ratio), as a number. */
  ratio: number;
  /** The target, as text. */
  target: string;
  /** Whether the target is met (undefined: the row has no target, it is for reference). */
  ok: boolean | undefined;
}

/** The median of some numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A percentile (0 to 1) of some numbers. */
export function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** Runs `fn` `rounds` times after `warmup` untimed runs; returns each round's milliseconds. */
export async function time(
  fn: () => Promise<unknown> | unknown,
  rounds: number,
  warmup = 2,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await fn();
    out.push(performance.now() - started);
  }
  return out;
}

/** Formats microseconds. */
export function us(value: number): string {
  return value >= 1000
    ? `${(value / 1000).toFixed(2)} ms`
    : `${value.toFixed(value < 10 ? 3 : 1)} µs`;
}

/** Formats a rate. */
export function perSecond(value: number, unit: string): string {
  return `${Math.round(value).toLocaleString("en-US")} ${unit}/s`;
}

/** Prints the table as Markdown. */
export function printTable(rows: Row[]): void {
  const header = ["scenario", "figure", "baseline (same run)", "ratio", "target", "met"];
  const lines = rows.map((r) => [
    r.scenario,
    r.figure,
    r.baseline,
    `${r.ratio.toFixed(2)}×`,
    r.target,
    r.ok === undefined ? "—" : r.ok ? "yes" : "NO",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
  for (const l of lines) console.log(line(l));
}
