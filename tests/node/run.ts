/**
 * Runs the Node smoke suite (`tests/node/smoke.ts`) on real Node binaries:
 * bundles it with `deno bundle --packages bundle`, installs each Node version
 * from npm (`node-<os>-<arch>@<version>`, cached under
 * `$SLUICE_NODE_CACHE`, default `~/.cache/sluice/node`), runs the bundle on
 * each, prints one line per version and exits non-zero if any run failed.
 *
 * `deno task node-smoke [version...]`; CI (`.ci/run`) runs it with the
 * defaults: the oldest Node Sluice supports and the newest Node 24.
 *
 * @module
 */
import * as esbuild from "esbuild";

/**
 * The versions tested by default. 22.20.0 is the oldest Node whose
 * `node:sqlite` binds the driver's numbered parameters (`?1`, reused): 22.19
 * throws "column index out of range"; `node:sqlite` itself needs no flag from
 * 22.13.0. "24" is the newest 24.x release (24.7.0 is the oldest 24 that works).
 */
const DEFAULT_VERSIONS = ["22.20.0", "24"];

/** How long one Node run may take before it counts as hung (a leaked handle). */
const RUN_TIMEOUT_MS = 60_000;

const root = new URL("../../", import.meta.url);
const decoder = new TextDecoder();

async function run(cmd: string, args: string[], env?: Record<string, string>) {
  const output = await new Deno.Command(cmd, {
    args,
    ...(env ? { env } : {}),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function must(cmd: string, args: string[]): Promise<string> {
  const result = await run(cmd, args);
  if (result.code !== 0) {
    throw new Error(`'${cmd} ${args.join(" ")}' failed (${result.code}):\n${result.stderr}`);
  }
  return result.stdout;
}

function nodePackage(): string {
  const os = { linux: "linux", darwin: "darwin" }[Deno.build.os as string];
  const arch = { x86_64: "x64", aarch64: "arm64" }[Deno.build.arch as string];
  if (!os || !arch) {
    throw new Error(
      `Cannot install Node from npm on ${Deno.build.os}/${Deno.build.arch}: run on Linux or macOS`,
    );
  }
  return `node-${os}-${arch}`;
}

/** Installs `version` (exact, or a major such as "24") once; returns its `node` binary. */
async function installNode(pkg: string, version: string, cache: string): Promise<string> {
  const exact = /^\d+\.\d+\.\d+$/.test(version)
    ? version
    : (JSON.parse(await must("npm", ["view", `${pkg}@${version}`, "version", "--json"])) as
      | string
      | string[]);
  const resolved = Array.isArray(exact) ? exact[exact.length - 1]! : exact;
  const prefix = `${cache}/${resolved}`;
  const bin = `${prefix}/node_modules/${pkg}/bin/node`;
  try {
    await Deno.stat(bin);
  } catch {
    await Deno.mkdir(prefix, { recursive: true });
    await must("npm", [
      "install",
      "--prefix",
      prefix,
      "--no-save",
      "--no-package-lock",
      "--no-audit",
      "--no-fund",
      `${pkg}@${resolved}`,
    ]);
  }
  return bin;
}

/** Node before 24 cannot parse `using` declarations (the examples use them): lower its copy. */
async function bundleFor(bundle: string, major: number): Promise<string> {
  if (major >= 24) return bundle;
  const lowered = bundle.replace(/\.mjs$/, `.node${major}.mjs`);
  const result = await esbuild.transform(await Deno.readTextFile(bundle), {
    loader: "js",
    format: "esm",
    target: `node${major}`,
  });
  await Deno.writeTextFile(lowered, result.code);
  return lowered;
}

interface Outcome {
  version: string;
  passed: number;
  failed: number;
  skipped: number;
  seconds: number;
  ok: boolean;
  output: string;
}

async function smoke(node: string, bundle: string): Promise<Outcome> {
  const version = (await must(node, ["--version"])).trim();
  const started = performance.now();
  const child = new Deno.Command(node, {
    args: ["--test-reporter=tap", bundle],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  const output = await child.output();
  clearTimeout(timer);
  const text = decoder.decode(output.stdout) + decoder.decode(output.stderr);
  const count = (name: string) => Number(text.match(new RegExp(`^# ${name} (\\d+)$`, "m"))?.[1]);
  const [passed, failed, skipped] = [count("pass"), count("fail"), count("skipped")];
  const inCi = Deno.env.get("CI") === "true";
  const ok = output.code === 0 && output.signal === null && passed > 30 && failed === 0 &&
    (!inCi || skipped === 0);
  return {
    version,
    passed,
    failed,
    skipped,
    seconds: (performance.now() - started) / 1000,
    ok,
    output: text,
  };
}

/** A count, or "-" when the run ended before printing it (killed or crashed). */
function shown(n: number): string {
  return Number.isNaN(n) ? "-" : String(n);
}

async function main(versions: string[]): Promise<number> {
  const pkg = nodePackage();
  const cache = Deno.env.get("SLUICE_NODE_CACHE") ??
    `${Deno.env.get("HOME") ?? Deno.cwd()}/.cache/sluice/node`;
  const work = await Deno.makeTempDir({ prefix: "sluice-node-smoke-" });
  try {
    const bundle = `${work}/smoke.mjs`;
    const entry = new URL("tests/node/smoke.ts", root).pathname;
    await must(Deno.execPath(), ["bundle", "--quiet", "--packages", "bundle", "-o", bundle, entry]);
    const outcomes: Outcome[] = [];
    for (const version of versions) {
      const node = await installNode(pkg, version, cache);
      const major = Number(version.split(".")[0]);
      outcomes.push(await smoke(node, await bundleFor(bundle, major)));
    }
    console.log("| node | passed | failed | skipped | seconds | result |");
    console.log("| --- | --- | --- | --- | --- | --- |");
    for (const o of outcomes) {
      console.log(
        `| ${o.version} | ${[o.passed, o.failed, o.skipped].map(shown).join(" | ")} | ${
          o.seconds.toFixed(1)
        } | ${o.ok ? "ok" : "FAILED"} |`,
      );
    }
    for (const o of outcomes.filter((o) => !o.ok)) {
      console.error(`\n--- Node ${o.version} output ---\n${o.output}`);
    }
    return outcomes.every((o) => o.ok) ? 0 : 1;
  } finally {
    await esbuild.stop();
    await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args.length > 0 ? Deno.args : DEFAULT_VERSIONS));
}
