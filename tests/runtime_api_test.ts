// Issue 14: the published library runs on Node too. No published file uses the
// `Deno` global at run time, except the entries below, each with its reason.
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url);

/**
 * Where the `Deno` global may appear in published code, by file, and which of
 * its members ("Deno" alone for a `globalThis` lookup).
 */
const ALLOWED: Record<string, { apis: string[]; reason: string }> = {
  "lib/timers.ts": {
    apis: ["Deno"],
    reason: "feature-detected Deno.unrefTimer for Deno releases whose timers are numbers; " +
      "timer.unref() everywhere else",
  },
  "testing/_register.ts": {
    apis: ["Deno"],
    reason: "feature-detected Deno.test (keeps Deno's sanitizers); node:test everywhere else",
  },
  "cli/mod.ts": {
    apis: [
      "Deno.readTextFile",
      "Deno.cwd",
      "Deno.env",
      "Deno.addSignalListener",
      "Deno.removeSignalListener",
      "Deno.exit",
      "Deno.args",
    ],
    reason:
      "the sluice CLI is a Deno program (deno run jsr:@sluice/sluice/cli), see README Runtimes",
  },
  "cli/_worker.ts": {
    apis: [
      "Deno.cwd",
      "Deno.Signal",
      "Deno.build",
      "Deno.addSignalListener",
      "Deno.removeSignalListener",
    ],
    reason: "`sluice worker` imports the user's module and stops on SIGINT/SIGTERM; the CLI is " +
      "Deno-only",
  },
  "cli/_watch.ts": {
    apis: ["Deno.addSignalListener", "Deno.removeSignalListener"],
    reason: "`sluice watch` stops on SIGINT; the CLI is Deno-only",
  },
  "cli/dashboard.ts": {
    apis: ["Deno.HttpServer", "Deno.NetAddr", "Deno.serve"],
    reason: "the CLI's `serve` command listens with Deno.serve; the CLI is Deno-only",
  },
};

/** Every `Deno` mention: `Deno.member`, `Deno?.member`, or the bare name. */
const MENTION = /\bDeno\b(?:\s*\??\.\s*(\w+))?/g;

async function publishExcludes(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  return (config.publish?.exclude ?? []).map((p: string) => p.replace(/\/$/, ""));
}

async function* published(dir: URL, rel: string, exclude: string[]): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = rel + entry.name;
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    if (exclude.includes(path)) continue;
    if (entry.isDirectory) yield* published(new URL(`${entry.name}/`, dir), `${path}/`, exclude);
    else if (/\.(ts|js|mjs|mts|tsx)$/.test(entry.name)) yield path;
  }
}

/** The code with comments blanked out (line numbers kept); strings are left alone. */
export function withoutComments(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, (block) => block.replace(/[^\n]/g, " "))
    .replace(/(^|\s)\/\/.*$/gm, "$1");
}

/** Each `Deno` use in `source` as `line: API`. */
export function denoUses(source: string): { line: number; api: string }[] {
  const uses: { line: number; api: string }[] = [];
  withoutComments(source).split("\n").forEach((code, i) => {
    for (const match of code.matchAll(MENTION)) {
      uses.push({ line: i + 1, api: match[1] ? `Deno.${match[1]}` : "Deno" });
    }
  });
  return uses;
}

Deno.test("published files use the Deno global only where the allow-list says why", async () => {
  const exclude = await publishExcludes();
  assert.ok(exclude.includes("tests"), "deno.json publish.exclude should exclude tests/");
  const files: string[] = [];
  for await (const file of published(root, "", exclude)) files.push(file);
  assert.ok(files.includes("mod.ts") && files.includes("drivers/sqlite/mod.ts"), files.join());
  assert.ok(files.length > 30, `expected to scan the published sources, found ${files.length}`);
  const offenders: string[] = [];
  const used = new Set<string>();
  for (const file of files) {
    for (const { line, api } of denoUses(await Deno.readTextFile(new URL(file, root)))) {
      if (ALLOWED[file]?.apis.includes(api)) used.add(`${file} ${api}`);
      else offenders.push(`${file}:${line}: ${api}`);
    }
  }
  assert.deepEqual(offenders, [], "a Deno-only API in published code breaks Node users");
  const stale = Object.entries(ALLOWED).flatMap(([file, { apis }]) =>
    apis.filter((api) => !used.has(`${file} ${api}`)).map((api) => `${file} ${api}`)
  );
  assert.deepEqual(stale, [], "remove allow-list entries that are no longer used");
});

/** A `using` or `await using` declaration: Node 22 cannot parse one. */
const USING = /(?:^|[;{(]\s*|\bfor\s*\(\s*)(?:await\s+)?using\s+[\w$]+\s*(?:=|of\b)/;

Deno.test("published files declare nothing with using, which Node 22 cannot parse", async () => {
  const exclude = await publishExcludes();
  const offenders: string[] = [];
  for await (const file of published(root, "", exclude)) {
    const lines = withoutComments(await Deno.readTextFile(new URL(file, root))).split("\n");
    lines.forEach((code, i) => {
      if (USING.test(code.trim())) offenders.push(`${file}:${i + 1}: ${code.trim()}`);
    });
  }
  assert.deepEqual(offenders, [], "use try/finally (or a disposal list) in published code");
});

Deno.test("the using scan catches declarations and spares the word", () => {
  for (const bad of ["await using engine = new Engine(o);", "using lock = take();"]) {
    assert.ok(USING.test(bad), bad);
  }
  for (const bad of ["for (await using x of list) {}", "if (a) { await using w = e.worker();"]) {
    assert.ok(USING.test(bad), bad);
  }
  for (const ok of ["const using = 1;", 'log("using the cache");', "usingX = 2;"]) {
    assert.ok(!USING.test(ok), ok);
  }
});

Deno.test("the Deno scan skips doc comments and finds calls, types and lookups", () => {
  const source = [
    "/**",
    " * const dir = await Deno.makeTempDir();",
    " */",
    "// Deno.exit(1) in a comment",
    "Deno.unrefTimer(t); const s: Deno.HttpServer = x;",
    "const d = (globalThis as { Deno?: unknown }).Deno; d?.test; Deno?.env.get('A');",
    "const url = new URL(file, `file://${Deno.cwd()}/`);",
  ].join("\n");
  assert.deepEqual(denoUses(source), [
    { line: 5, api: "Deno.unrefTimer" },
    { line: 5, api: "Deno.HttpServer" },
    { line: 6, api: "Deno" },
    { line: 6, api: "Deno" },
    { line: 6, api: "Deno.env" },
    { line: 7, api: "Deno.cwd" },
  ]);
});
