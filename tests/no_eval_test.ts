// SPEC §7: no `eval` or `new Function` anywhere in Sluice's own code.
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url);
const folders = ["lib", "drivers", "cli", "testing", "examples"];
const forbidden = [
  /\beval\s*\(/,
  /\bnew\s+Function\s*\(/,
  /(?<![.\w])Function\s*\(\s*["'`]/,
  /setTimeout\s*\(\s*["'`]/,
  /setInterval\s*\(\s*["'`]/,
];

async function* sources(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sources(url);
    else if (/\.(ts|js|mjs)$/.test(entry.name)) yield url;
  }
}

Deno.test("no source file uses eval, new Function or string timers", async () => {
  const files: URL[] = [new URL("mod.ts", root)];
  for (const folder of folders) {
    for await (const file of sources(new URL(`${folder}/`, root))) files.push(file);
  }
  assert.ok(files.length > 20, `expected to scan the sources, found ${files.length} files`);
  const offenders: string[] = [];
  for (const file of files) {
    const lines = (await Deno.readTextFile(file)).split("\n");
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "");
      if (forbidden.some((pattern) => pattern.test(code))) {
        offenders.push(`${file.pathname}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(offenders, []);
});

Deno.test("the scan catches what it looks for", () => {
  for (const bad of ['eval("1")', "new Function('return 1')", 'setTimeout("x()", 1)']) {
    assert.ok(forbidden.some((pattern) => pattern.test(bad)), bad);
  }
  assert.ok(!forbidden.some((pattern) => pattern.test("evaluate(x); retrieval(y)")));
});
