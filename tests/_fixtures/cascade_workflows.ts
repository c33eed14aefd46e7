/**
 * Workflows of the cancel-cascade crash tests: a parent that waits for a
 * `.call` child (the child waits for a signal that never comes), with and
 * without a workflow timeout.
 */
import { workflow } from "../../mod.ts";

/** The child: waits for `go`. */
export const cascadeGate = workflow<string>("cascade-gate").waitForSignal<string>("wait", "go");

/** A parent that times out (fails) while its child waits. */
export const cascadeTimed = workflow<string>("cascade-timed", { timeout: "2s" })
  .call("held", cascadeGate);

/** A parent that waits for its child until someone cancels it. */
export const cascadeHeld = workflow<string>("cascade-held").call("held", cascadeGate);
