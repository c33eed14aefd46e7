// The error taxonomy: codes, names, causes carried across the store.
import {
  CancelledError,
  DuplicateRunError,
  Engine,
  InvalidStateError,
  LeaseLostError,
  LocalRunner,
  MemoryDriver,
  NonRetryableError,
  PayloadTooLargeError,
  PlanMismatchError,
  RunNotFoundError,
  SerializationError,
  SignalTimeoutError,
  SluiceError,
  StepTimeoutError,
  StorageError,
  workflow,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from "@sluice/sluice";
import assert from "node:assert/strict";

class InsufficientFunds extends Error {
  override name = "InsufficientFunds";
}

function chargeCard(): never {
  throw new InsufficientFunds("Card declined: balance too low");
}

Deno.test("every domain error extends SluiceError with a stable code and its class name", () => {
  const errors: [SluiceError, string][] = [
    [new WorkflowNotFoundError("w"), "WORKFLOW_NOT_FOUND"],
    [new RunNotFoundError("r"), "RUN_NOT_FOUND"],
    [new InvalidStateError("Cannot do that"), "INVALID_STATE"],
    [new DuplicateRunError("r", "a", "b"), "DUPLICATE_RUN"],
    [new PlanMismatchError("r", "w", "1", "abc"), "PLAN_MISMATCH"],
    [new WorkflowFailedError("r", "w", new Error("x"), "s"), "WORKFLOW_FAILED"],
    [new StepTimeoutError("s", 5), "STEP_TIMEOUT"],
    [new SignalTimeoutError("s", ["go"]), "SIGNAL_TIMEOUT"],
    [new CancelledError("r", "why"), "CANCELLED"],
    [new LeaseLostError("r"), "LEASE_LOST"],
    [new SerializationError("the input", "a function at $"), "SERIALIZATION"],
    [new PayloadTooLargeError("the input", 2, 1), "PAYLOAD_TOO_LARGE"],
    [new NonRetryableError("Stop"), "NON_RETRYABLE"],
    [new StorageError("Cannot reach the database"), "STORAGE"],
  ];
  for (const [error, code] of errors) {
    assert.ok(error instanceof SluiceError);
    assert.ok(error instanceof Error);
    assert.equal(error.code, code);
    assert.equal(error.name, error.constructor.name);
    assert.ok(error.message.length > 0);
    assert.match(error.message, /^[A-Z]/, "sentence case");
  }
  assert.equal(new Set(errors.map(([, code]) => code)).size, errors.length);
});

Deno.test("WorkflowFailedError carries the step error's name, message and stack as cause", async () => {
  const wf = workflow<number>("pay").step("charge", () => chargeCard());
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1, { id: "pay-1" });
  const error = await handle.result().catch((e) => e);
  assert.ok(error instanceof WorkflowFailedError);
  assert.ok(error instanceof SluiceError);
  assert.equal(error.code, "WORKFLOW_FAILED");
  assert.equal(error.runId, "pay-1");
  assert.equal(error.step, "charge");
  assert.match(error.message, /'pay-1'/);
  assert.match(error.message, /'pay'/);
  assert.match(error.message, /'charge'/);
  assert.match(error.message, /Card declined/);
  const cause = error.cause as Error;
  assert.equal(cause.name, "InsufficientFunds");
  assert.equal(cause.message, "Card declined: balance too low");
  assert.match(cause.stack ?? "", /chargeCard/);
});

Deno.test("a failed run's record stores the error with its step", async () => {
  const wf = workflow<number>("pay-record").step("charge", () => chargeCard());
  await using runner = new LocalRunner();
  const handle = await runner.start(wf, 1);
  await handle.result().catch(() => {});
  const record = await runner.get(handle.id);
  assert.equal(record.status, "failed");
  assert.equal(record.error?.name, "InsufficientFunds");
  assert.equal(record.error?.message, "Card declined: balance too low");
  assert.equal(record.error?.step, "charge");
  assert.match(record.error?.stack ?? "", /chargeCard/);
  const failed = (await runner.history(handle.id)).at(-1)!;
  assert.equal(failed.type, "run.failed");
  assert.equal(failed.step, "charge");
  assert.equal(failed.error?.name, "InsufficientFunds");
});

Deno.test("a Sluice error thrown by a step comes back as an instance of its class", async () => {
  const wf = workflow<number>("typed-cause").step("stop", () => {
    throw new NonRetryableError("Give up", { cause: new RangeError("inner") });
  });
  await using runner = new LocalRunner();
  const error = await runner.run(wf, 1).catch((e) => e);
  assert.ok(error.cause instanceof NonRetryableError);
  assert.equal(error.cause.code, "NON_RETRYABLE");
  assert.equal((error.cause.cause as Error).name, "RangeError");
  assert.equal((error.cause.cause as Error).message, "inner");
});

Deno.test("a thrown non-Error value becomes the cause's message", async () => {
  await using runner = new LocalRunner();
  const text = await runner.run(
    workflow<number>("throws-string").step("s", () => {
      throw "plain text";
    }),
    1,
  ).catch((e) => e);
  assert.equal((text.cause as Error).message, "plain text");
  const object = await runner.run(
    workflow<number>("throws-object").step("s", () => {
      throw { code: 42 };
    }),
    1,
  ).catch((e) => e);
  assert.match((object.cause as Error).message, /42/);
});

Deno.test("a failure recorded by another engine reaches result() with name, message and stack", async () => {
  const wf = workflow<number>("remote-failure").step("charge", (): number => chargeCard());
  const driver = new MemoryDriver();
  const worker = new Engine({ driver, workflows: [wf] });
  const client = new Engine({ driver, workflows: [wf] });
  try {
    const w = worker.worker();
    await w.start();
    const handle = await client.start(wf, 1, { id: "remote-1" });
    const error = await client.result("remote-1").catch((e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal(error.step, "charge");
    assert.equal((error.cause as Error).name, "InsufficientFunds");
    assert.equal((error.cause as Error).message, "Card declined: balance too low");
    assert.match((error.cause as Error).stack ?? "", /chargeCard/);
    await assert.rejects(handle.result(), WorkflowFailedError);
    await w.stop();
  } finally {
    await client.close().catch(() => {});
    await worker.close().catch(() => {});
  }
});

Deno.test("unknown workflows and runs give typed errors", async () => {
  await using runner = new LocalRunner();
  await assert.rejects(runner.start("nope", 1), (e: unknown) => {
    assert.ok(e instanceof WorkflowNotFoundError);
    assert.match(e.message, /'nope'/);
    return true;
  });
  for (
    const call of [
      () => runner.get("ghost"),
      () => runner.history("ghost"),
      () => runner.signal("ghost", "go"),
      () => runner.cancel("ghost"),
    ]
  ) {
    await assert.rejects(call(), (e: unknown) => {
      assert.ok(e instanceof RunNotFoundError);
      assert.equal(e.runId, "ghost");
      return true;
    });
  }
  const handle = await runner.start(workflow<number>("known").step("a", (n) => n), 1);
  await handle.result();
  await assert.rejects(runner.get(" bad id "), TypeError);
});
