/**
 * Registers a test with the runtime's test runner: `Deno.test` on Deno (with
 * its op and resource sanitizers), `node:test` elsewhere (Node, Bun).
 *
 * @module
 */
import { test as nodeTest } from "node:test";

/** One test to register. */
export interface TestRegistration {
  /** The test's name. */
  name: string;
  /** Registered but not run (reported as skipped). */
  ignore: boolean;
  /** The test body. */
  fn(): Promise<void>;
}

/** The Deno global as far as this module uses it; absent on Node. */
interface DenoTesting {
  test?(definition: TestRegistration): void;
}

/** Registers `definition` with Deno's test runner when there is one, else with `node:test`. */
export function registerTest(definition: TestRegistration): void {
  // Feature-detected (allowed by tests/runtime_api_test.ts): Deno.test keeps Deno's sanitizers on.
  const deno = (globalThis as { Deno?: DenoTesting }).Deno;
  if (typeof deno?.test === "function") deno.test(definition);
  else nodeTest(definition.name, { skip: definition.ignore }, definition.fn);
}
