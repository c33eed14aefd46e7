// The storage-driver conformance suite against the reference MemoryDriver.
import assert from "node:assert/strict";
import { MemoryDriver } from "../mod.ts";
import { testDriverConformance } from "../testing/mod.ts";

testDriverConformance("memory", () => new MemoryDriver());

Deno.test("the memory driver sends 'written' only to wake a reader of the feed", async () => {
  // A run nobody watches pays for no notice; a reader hears of what follows its read, once a turn.
  await using driver = new MemoryDriver();
  const written: number[] = [];
  driver.subscribe((notice) => notice.type === "written" && written.push(written.length));
  const base = { workflow: "w", version: "1", planHash: "h", labels: {}, dueAt: 0 };
  const turn = () => new Promise((resolve) => setTimeout(resolve, 0));
  await driver.createRun({ ...base, id: "a" }, 0);
  await turn();
  assert.equal(written.length, 0, "nobody read the feed");
  await driver.feed(undefined, 10);
  await driver.createRun({ ...base, id: "b" }, 1);
  await driver.createRun({ ...base, id: "c" }, 2);
  await turn();
  assert.equal(written.length, 1, "one notice for the writes of a turn");
  await driver.createRun({ ...base, id: "d" }, 3);
  await turn();
  assert.equal(written.length, 1, "the reader has not read again");
  const items = await driver.feed(undefined, 10);
  assert.deepEqual(items.map((i) => i.runId), ["a", "b", "c", "d"], "the feed kept everything");
});
