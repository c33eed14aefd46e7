// Pins what existing runs depend on: the plan hash (a run resumes only with the workflow of the
// hash it started with), and the plan JSON and Mermaid of every node kind, so a refactor of the node
// model cannot change them unnoticed.
import { flow, workflow } from "@sluice/sluice";
import assert from "node:assert/strict";
function everyKind() {
  return workflow<number>("every-kind", { version: "2" })
    .step("a", (n) => n, { retry: { maxAttempts: 2 }, timeout: "1s" })
    .if("b", (n) => n > 0, (n) => n, flow<number>().step("c", (n) => n))
    .if("d", () => true, flow<number>().step("e", (n) => n))
    .parallel("f", [(n: number) => n, flow<number>().step("g", (n) => n)], { concurrency: 1 })
    .parallel("h", { x: (n: [number, number]) => n[0], y: (n: [number, number]) => n[1] })
    .loop("i", 2, (v) => v)
    .loop("j", () => 1, flow<{ x: number; y: number }>().step("k", (v) => v))
    .while("l", () => false, (v) => v, { maxIterations: 5 })
    .map("m", () => [1, 2], (n: number) => n, { concurrency: 3 })
    .sleep("n", "1m")
    .sleepUntil("o", new Date(0))
    .sleepUntil("p", () => new Date(0))
    .waitForSignal("q", "go", { timeout: "1h" })
    .waitForAnySignal("r", ["s1", "s2"], {
      timeout: "1h",
      onTimeout: () => ({ signal: "s1", payload: 1 }),
    });
}

Deno.test("planHash values of existing workflows do not change", () => {
  assert.equal(everyKind().planHash, "755b0ec07a5d90ee");
  assert.equal(workflow("empty").planHash, "4f53cda18c2baa0c");
  assert.equal(
    workflow<number>("h").step("a", (n) => n).step("b", (n) => n).planHash,
    "f65147844851d021",
  );
});

Deno.test("the plan of every node kind is the same JSON", () => {
  assert.deepEqual(JSON.parse(JSON.stringify(everyKind().plan)), {
    "workflow": "every-kind",
    "version": "2",
    "nodes": [
      {
        "kind": "step",
        "name": "a",
        "retry": {
          "maxAttempts": 2,
          "initialDelayMs": 1000,
          "backoff": 2,
          "maxDelayMs": 3600000,
          "jitter": 0,
        },
        "timeoutMs": 1000,
      },
      {
        "kind": "if",
        "name": "b",
        "then": { "kind": "step", "name": "then" },
        "otherwise": { "kind": "flow", "name": "else", "nodes": [{ "kind": "step", "name": "c" }] },
      },
      {
        "kind": "if",
        "name": "d",
        "then": { "kind": "flow", "name": "then", "nodes": [{ "kind": "step", "name": "e" }] },
      },
      {
        "kind": "parallel",
        "name": "f",
        "shape": "tuple",
        "branches": [{ "kind": "step", "name": "0" }, {
          "kind": "flow",
          "name": "1",
          "nodes": [{ "kind": "step", "name": "g" }],
        }],
        "concurrency": 1,
      },
      {
        "kind": "parallel",
        "name": "h",
        "shape": "record",
        "branches": [{ "kind": "step", "name": "x" }, { "kind": "step", "name": "y" }],
      },
      { "kind": "loop", "name": "i", "times": 2, "body": { "kind": "step", "name": "body" } },
      {
        "kind": "loop",
        "name": "j",
        "times": "dynamic",
        "body": { "kind": "flow", "name": "body", "nodes": [{ "kind": "step", "name": "k" }] },
      },
      {
        "kind": "while",
        "name": "l",
        "maxIterations": 5,
        "body": { "kind": "step", "name": "body" },
      },
      { "kind": "map", "name": "m", "body": { "kind": "step", "name": "body" }, "concurrency": 3 },
      { "kind": "sleep", "name": "n", "durationMs": 60000 },
      { "kind": "sleepUntil", "name": "o", "at": 0 },
      { "kind": "sleepUntil", "name": "p" },
      { "kind": "waitForSignal", "name": "q", "signals": ["go"], "timeoutMs": 3600000 },
      {
        "kind": "waitForAnySignal",
        "name": "r",
        "signals": ["s1", "s2"],
        "timeoutMs": 3600000,
        "onTimeout": true,
      },
    ],
  });
});

Deno.test("the Mermaid chart of every node kind is the same", () => {
  assert.deepEqual(everyKind().toMermaid().split("\n"), [
    "flowchart TD",
    '  start(("every-kind"))',
    '  n1["a"]',
    '  n2{"if b"}',
    "  n3(( ))",
    '  n4["then"]',
    "  n2 -->|then| n4",
    "  n4 --> n3",
    '  n5["c"]',
    "  n2 -->|else| n5",
    "  n5 --> n3",
    "  n1 --> n2",
    '  n6{"if d"}',
    "  n7(( ))",
    '  n8["e"]',
    "  n6 -->|then| n8",
    "  n8 --> n7",
    "  n6 -->|else| n7",
    "  n3 --> n6",
    '  subgraph n9_g ["parallel f"]',
    '    n9[["parallel"]]',
    "    n10(( ))",
    '    n11["0"]',
    "    n9 -->|0| n11",
    "    n11 --> n10",
    '    n12["g"]',
    "    n9 -->|1| n12",
    "    n12 --> n10",
    "  end",
    "  n7 --> n9",
    '  subgraph n13_g ["parallel h"]',
    '    n13[["parallel"]]',
    "    n14(( ))",
    '    n15["x"]',
    "    n13 -->|x| n15",
    "    n15 --> n14",
    '    n16["y"]',
    "    n13 -->|y| n16",
    "    n16 --> n14",
    "  end",
    "  n10 --> n13",
    '  subgraph n17_g ["loop i"]',
    '    n17[["loop"]]',
    "    n18(( ))",
    '    n19["body"]',
    "    n17 --> n19",
    "    n19 --> n18",
    "    n18 -.->|repeat| n17",
    "  end",
    "  n14 --> n17",
    '  subgraph n20_g ["loop j"]',
    '    n20[["loop"]]',
    "    n21(( ))",
    '    n22["k"]',
    "    n20 --> n22",
    "    n22 --> n21",
    "    n21 -.->|repeat| n20",
    "  end",
    "  n18 --> n20",
    '  subgraph n23_g ["while l"]',
    '    n23[["while"]]',
    "    n24(( ))",
    '    n25["body"]',
    "    n23 --> n25",
    "    n25 --> n24",
    "    n24 -.->|repeat| n23",
    "  end",
    "  n21 --> n23",
    '  subgraph n26_g ["map m"]',
    '    n26[["map"]]',
    "    n27(( ))",
    '    n28["body"]',
    "    n26 --> n28",
    "    n28 --> n27",
    "    n27 -.->|repeat| n26",
    "  end",
    "  n24 --> n26",
    '  n29(["sleep n 60000ms"])',
    "  n27 --> n29",
    '  n30(["sleep until o"])',
    "  n29 --> n30",
    '  n31(["sleep until p"])',
    "  n30 --> n31",
    '  n32[/"wait q: go"/]',
    "  n31 --> n32",
    '  n33[/"wait r: s1 | s2"/]',
    "  n32 --> n33",
    "  start --> n1",
    '  n33 --> finish(("end"))',
  ]);
});
