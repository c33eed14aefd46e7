// Declarative YAML workflows (SPEC §1.6): positioned errors and hostile documents. The constructs
// are in yaml_test.ts.
import { loadWorkflow, type YamlAction, YamlWorkflowError } from "@sluice/sluice/yaml";
import assert from "node:assert/strict";
import { ACTIONS, assertYamlError, load } from "./_fixtures/yaml.ts";

type Obj = Record<string, unknown>;

// ---- errors ------------------------------------------------------------------------------------

Deno.test("unparsable YAML names the line and column", () => {
  assertYamlError(["name: w", "steps:", "  - step: a", "   - step: b"], {
    line: 4,
    column: 4,
    message: /Cannot parse the YAML/,
  });
  assertYamlError("name: w\nsteps: [a, b\n", { line: 3, column: 1, message: /Cannot parse/ });
  assertYamlError("name: w\n\tsteps: []\n", { line: 2, column: 1, message: /tab/ });
});

Deno.test("an unknown key names its line, column and key", () => {
  assertYamlError(["name: w", "steps:", "  - step: a", "    actoin: inc"], {
    line: 4,
    column: 5,
    key: "actoin",
    message: /use 'step', 'action', 'retry', 'timeout' or 'compensate'/,
  });
  assertYamlError(["name: w", "stpes: []"], { line: 2, column: 1, key: "stpes" });
});

Deno.test("an unknown action names its line, column and key", () => {
  const error = assertYamlError(["name: w", "steps:", "  - step: a", "    action: incc"], {
    line: 4,
    column: 13,
    key: "action",
    message: /Cannot find the action 'incc' of step 'a': register it in the 'actions' option/,
  });
  assert.match(error.message, /'double'/);
  // The default action is the step name; the key is then 'step'.
  assertYamlError(["name: w", "steps:", "  - step: nothing"], {
    line: 3,
    column: 11,
    key: "step",
  });
  // Quoted values point at the quote; prototype members are not actions.
  assertYamlError(["name: w", "steps:", "  - step: a", '    action: "toString"'], {
    line: 4,
    column: 13,
    key: "action",
  });
});

Deno.test("a wrong type names its line, column and key", () => {
  assertYamlError(["name: w", "steps:", "  - step: a", "    action: double", "    retry: 3"], {
    line: 5,
    column: 12,
    key: "retry",
    message: /Cannot use the number 3 as 'retry' of step 'a': use a mapping/,
  });
  assertYamlError(["name: w", "steps: { step: a }"], { line: 2, column: 8, key: "steps" });
  assertYamlError(["name: w", "steps:", "  - parallel: p", "    branches: 5"], {
    line: 4,
    column: 15,
    key: "branches",
  });
  assertYamlError(["name: [w]", "steps: []"], { line: 1, column: 7, key: "name" });
});

Deno.test("a nested key names its own line, column and key", () => {
  assertYamlError(["name: w", "steps:", "  - step: double", "    retry: { maxAttempts: 0 }"], {
    line: 4,
    column: 27,
    key: "maxAttempts",
    message: /integer of at least 1/,
  });
  assertYamlError(
    [
      "name: w",
      "steps:",
      "  - parallel: p",
      "    branches:",
      "      left:",
      "        - if: x",
      "          when: 'true'",
      "          then:",
      "            - step: double",
      "              retry:",
      "                maxAttempts: 2",
      "                backof: 3",
    ],
    { line: 12, column: 17, key: "backof", message: /retry of step 'double'/ },
  );
});

Deno.test("a bad duration names its line, column and key", () => {
  assertYamlError(["name: w", "steps:", "  - sleep: s", "    for: 5 parsecs"], {
    line: 4,
    column: 10,
    key: "for",
    message: /Cannot parse 'for' of sleep 's' '5 parsecs'/,
  });
  assertYamlError(
    ["name: w", "steps:", "  - step: double", "    retry: { initialDelay: 1m, maxDelay: 1s }"],
    { line: 4, column: 42, key: "maxDelay", message: /below 'initialDelay'/ },
  );
  assertYamlError(["name: w", "steps:", "  - step: double", "    timeout: -5"], {
    line: 4,
    column: 14,
    key: "timeout",
  });
});

Deno.test("duplicate names and keys name their line, column and key", () => {
  assertYamlError(["name: w", "steps:", "  - step: double", "  - step: double"], {
    line: 4,
    column: 11,
    key: "step",
    message: /sibling already has that name/,
  });
  assertYamlError(["name: w", "steps:", "  - step: a", "    action: inc", "    action: double"], {
    line: 5,
    column: 5,
    key: "action",
    message: /Cannot repeat the key 'action'/,
  });
  assertYamlError(["name: w", "steps:", "  - waitForAnySignal: w", "    signals: [a, b, a]"], {
    line: 4,
    column: 21,
    key: "signals",
  });
});

Deno.test("invalid CEL names its line, column and key", () => {
  assertYamlError(["name: w", "steps:", "  - if: x", "    when: value >", "    then: inc"], {
    line: 4,
    column: 11,
    key: "when",
    message: /Cannot compile the expression 'value >' of if 'x'.*fix the CEL expression/,
  });
  assertYamlError(["name: w", "steps:", "  - if: x", "    when: foo == 1", "    then: inc"], {
    line: 4,
    column: 11,
    key: "when",
    message: /Unknown variable: foo/,
  });
  assertYamlError(["name: w", "steps:", "  - loop: l", "    times: \"'three'\"", "    do: inc"], {
    line: 4,
    column: 12,
    key: "times",
    message: /gives string, but an int is needed/,
  });
  assertYamlError(["name: w", "steps:", "  - if: x", "    when: 1 + 1", "    then: inc"], {
    line: 4,
    column: 11,
    key: "when",
    message: /gives int, but a bool is needed/,
  });
});

Deno.test("missing keys, bad names and shapeless nodes name their line, column and key", () => {
  assertYamlError(["name: w", "steps:", "  - if: x", "    then: inc"], {
    line: 3,
    column: 5,
    key: "when",
    message: /Cannot find the key 'when' of if 'x'/,
  });
  assertYamlError(["steps:", "  - step: double"], { line: 1, column: 1, key: "name" });
  assertYamlError(["name: w", "steps:", "  - step: 1bad"], {
    line: 3,
    column: 11,
    key: "step",
    message: /Cannot use the name '1bad'/,
  });
  assertYamlError(["name: w", "steps:", "  - action: inc"], {
    line: 3,
    column: 5,
    key: "action",
    message: /Cannot tell the kind of a node/,
  });
  assertYamlError(["name: w", "steps:", "  - step: a", "    sleep: b"], {
    line: 4,
    column: 5,
    key: "sleep",
    message: /both 'step' and 'sleep'/,
  });
  assertYamlError([
    "name: w",
    "steps:",
    "  - waitForSignal: w",
    "    signal: s",
    "    onTimeout: 1",
  ], {
    line: 5,
    column: 5,
    key: "onTimeout",
    message: /without a 'timeout'/,
  });
  assertYamlError([
    "name: w",
    "steps:",
    "  - waitForSignal: w",
    "    signal: s",
    "    combine: { n: 1 }",
  ], { line: 5, column: 14, key: "combine", message: /write a CEL expression/ });
  assertYamlError([
    "name: w",
    "steps:",
    "  - waitForSignal: w",
    "    signal: s",
    "    combine: payload + signal",
  ], { line: 5, column: 14, key: "combine", message: /Cannot compile the expression/ });
  assertYamlError([
    "name: w",
    "steps:",
    "  - waitForAnySignal: w",
    "    signals: [s]",
    "    combine: payload",
  ], { line: 5, column: 5, key: "combine", message: /Cannot use the key 'combine'/ });
  assertYamlError(["- step: a"], { line: 1, column: 1, message: /a list as a workflow/ });
  assertYamlError(["name: w", "steps: []"], { line: 2, column: 8, key: "steps" });
});

// ---- hostile input -----------------------------------------------------------------------------

/** Runs `fn`, which must throw a YamlWorkflowError, within a generous real-time bound. */
function assertRejectsFast(fn: () => unknown, message: RegExp): YamlWorkflowError {
  const start = performance.now();
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  const elapsed = performance.now() - start;
  assert.ok(caught instanceof YamlWorkflowError, `expected a YamlWorkflowError, got ${caught}`);
  assert.match(caught.message, message);
  assert.ok(elapsed < 2_000, `took ${elapsed}ms`);
  return caught;
}

Deno.test("a billion-laughs alias bomb fails fast on the expanded-node limit", () => {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  const names = "bcdefghij";
  for (let i = 0; i < names.length; i++) {
    const previous = i === 0 ? "a" : names[i - 1];
    lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${previous}`).join(",")}]`);
  }
  const error = assertRejectsFast(
    () => loadWorkflow(lines.join("\n"), { actions: ACTIONS }),
    /Cannot expand the document past 100000 nodes/,
  );
  assert.ok(error.line >= 2);
  // As a workflow value, too.
  assertRejectsFast(
    () =>
      loadWorkflow(
        [
          "name: w",
          ...lines.map((line) => `x${line}`),
          "steps:",
          "  - waitForSignal: s",
          "    signal: go",
          "    timeout: 1s",
          "    onTimeout: *i",
        ].join("\n"),
        { actions: ACTIONS },
      ),
    /Cannot expand|Cannot use the key|Cannot find the anchor/,
  );
});

Deno.test("too many aliases and undefined or self-referencing anchors are refused", () => {
  const many = ["v: &v 1", "list:", ...Array.from({ length: 101 }, () => "  - *v")].join("\n");
  assertRejectsFast(() => loadWorkflow(many, { actions: ACTIONS }), /more than 100 aliases/);
  assertRejectsFast(
    () => loadWorkflow("a: *nowhere", { actions: ACTIONS }),
    /Cannot find the anchor '&nowhere'/,
  );
  assertRejectsFast(
    () => loadWorkflow("a: &self [*self]", { actions: ACTIONS }),
    /Cannot find the anchor '&self'/,
  );
  // Aliases within the limits work: one retry policy shared by two steps.
  const shared = load([
    "name: shared",
    "steps:",
    "  - step: double",
    "    retry: &policy { maxAttempts: 3, initialDelay: 1s }",
    "  - step: inc",
    "    retry: *policy",
  ]);
  assert.deepEqual(
    shared.plan.nodes.map((n) => n.kind === "step" && n.retry?.maxAttempts),
    [3, 3],
  );
});

Deno.test("very deep nesting fails fast with a clear error", () => {
  assertRejectsFast(
    () => loadWorkflow("a: " + "[".repeat(100_000) + "]".repeat(100_000), { actions: ACTIONS }),
    /deeper than the limit/,
  );
  const deep = Array.from({ length: 200 }, (_, i) => `${" ".repeat(i)}a:`).join("\n") + " 1";
  assertRejectsFast(() => loadWorkflow(deep, { actions: ACTIONS }), /deeper than the limit/);
  assertRejectsFast(
    () =>
      load([
        "name: w",
        "steps:",
        "  - if: x",
        `    when: "${"(".repeat(500)}true${")".repeat(500)}"`,
        "    then: inc",
      ]),
    /Cannot compile the expression/,
  );
});

Deno.test("an oversized document or expression fails fast before parsing", () => {
  const huge = "name: w\nsteps: []\n#" + "x".repeat(2 * 1024 * 1024);
  const error = assertRejectsFast(
    () => loadWorkflow(huge, { actions: ACTIONS }),
    /Cannot load a document of \d+ characters as the limit is 1048576/,
  );
  assert.equal(error.line, 1);
  const wide = `[${Array(150_000).fill("1").join(",")}]`;
  assertRejectsFast(
    () => loadWorkflow(`a: ${wide}`, { actions: ACTIONS }),
    /past 100000 nodes/,
  );
  assertRejectsFast(
    () =>
      load([
        "name: w",
        "steps:",
        "  - if: x",
        `    when: "${Array(3_000).fill("true").join(" && ")}"`,
        "    then: inc",
      ]),
    /more than the limit of 4096/,
  );
});

Deno.test("a workflow of more than 2000 nodes is refused before building it", () => {
  const steps = Array.from({ length: 2_001 }, (_, i) => `  - step: s${i}\n    action: inc`);
  const error = assertRejectsFast(
    () => loadWorkflow(`name: w\nsteps:\n${steps.join("\n")}`, { actions: ACTIONS }),
    /more than 2000 nodes: split it/,
  );
  assert.deepEqual([error.line, error.column, error.key], [2 + 2 * 2_000 + 1, 5, "step"]);
  const fits = Array.from({ length: 2_000 }, (_, i) => `  - step: s${i}\n    action: inc`);
  assert.equal(
    loadWorkflow(`name: w\nsteps:\n${fits.join("\n")}`, { actions: ACTIONS }).plan.nodes.length,
    2_000,
  );
});

Deno.test("long user text is shortened in error messages", () => {
  const long = "x".repeat(100_000);
  for (
    const text of [
      `name: w\nsteps:\n  - step: a\n    action: ${long}`,
      `name: w\n${long}: 1`,
      `name: w\nsteps:\n  - if: a\n    when: "${long}"\n    then: inc`,
    ]
  ) {
    let error: unknown;
    try {
      loadWorkflow(text, { actions: ACTIONS });
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof YamlWorkflowError);
    assert.ok(error.message.length < 600, error.message.slice(0, 200));
  }
});

Deno.test("prototype keys are refused and pollute nothing", () => {
  const cases: [string, string][] = [
    ["__proto__: { polluted: true }\nname: w\nsteps: [{ step: inc }]", "__proto__"],
    [
      "name: w\nsteps:\n  - parallel: p\n    branches:\n      __proto__: inc\n      ok: inc",
      "__proto__",
    ],
    [
      "name: w\nsteps:\n  - waitForSignal: s\n    signal: go\n    timeout: 1s\n    onTimeout: { constructor: { prototype: 1 } }",
      "constructor",
    ],
    ["name: w\nsteps: [{ step: inc, prototype: 1 }]", "prototype"],
  ];
  for (const [text, key] of cases) {
    const error = assertRejectsFast(
      () => loadWorkflow(text, { actions: ACTIONS }),
      new RegExp(`reserved key '${key}'`),
    );
    assert.equal(error.key, key);
  }
  assert.equal(({} as Obj).polluted, undefined);
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted"), false);
  // Names of prototype members are not actions.
  for (const name of ["constructor", "__proto__", "hasOwnProperty", "toString"]) {
    assertRejectsFast(
      () => loadWorkflow(`name: w\nsteps: [{ step: a, action: "${name}" }]`, { actions: ACTIONS }),
      /Cannot find the action/,
    );
  }
});

Deno.test("code-bearing and custom tags, %TAG directives and several documents are refused", () => {
  const cases: [string, RegExp][] = [
    ["name: !!js/function 'function () { return 1 }'\nsteps: []", /tag '!!js\/function'/],
    ["name: w\nsteps: !!js/undefined ''", /tag '!!js\/undefined'/],
    ["name: !!python/object:os.system w\nsteps: []", /tag '!!python\/object:os.system'/],
    ["name: !custom w\nsteps: []", /tag '!custom'/],
    ["name: w\nsteps: !!set { a, b }", /tag '!!set'/],
    ["%TAG !! tag:evil.example,2000:\n---\nname: !!int 1\nsteps: []", /%TAG directive/],
    ["name: a\nsteps: []\n---\nname: b\nsteps: []", /several documents/],
    ["", /empty document/],
    ["# only a comment\n", /empty document/],
  ];
  for (const [text, message] of cases) {
    assertRejectsFast(() => loadWorkflow(text, { actions: ACTIONS }), message);
  }
  // Standard tags still work.
  const wf = loadWorkflow("name: !!str w\nversion: !!str 2\nsteps: [{ step: inc }]", {
    actions: ACTIONS,
  });
  assert.equal(wf.version, "2");
});

Deno.test("loadWorkflow() rejects misuse with TypeError", () => {
  assert.throws(() => loadWorkflow(42 as unknown as string, { actions: {} }), TypeError);
  assert.throws(
    () => loadWorkflow("name: w", undefined as unknown as { actions: Record<string, YamlAction> }),
    TypeError,
  );
  assert.throws(
    () => loadWorkflow("name: w", { actions: null as unknown as Record<string, YamlAction> }),
    TypeError,
  );
  assertYamlError(["name: w", "steps:", "  - step: a"], {
    line: 3,
    column: 11,
    key: "step",
    message: /as it is number/,
  }, { a: 5 as unknown as YamlAction });
});
