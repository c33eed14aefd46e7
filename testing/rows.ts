/** Builders of driver-level records, shared by the conformance suite and the driver tests. */
import type { NewRun, StepRow } from "../lib/driver.ts";

/** The time the driver-level tests start at. */
export const T0 = 1_700_000_000_000;

/** The workflow of the runs these builders make. */
export const WF = "wf";

/** A new run of workflow {@linkcode WF}, due at {@linkcode T0}. */
export function newRun(id: string, overrides: Partial<NewRun> = {}): NewRun {
  return {
    id,
    workflow: WF,
    version: "1",
    planHash: "hash-1",
    labels: {},
    dueAt: T0,
    ...overrides,
  };
}

/** A `done` step row written at `at`. */
export function done(key: string, data?: string, at = T0): StepRow {
  const row: StepRow = {
    key,
    kind: "step",
    state: "done",
    attempt: 1,
    startedAt: at,
    finishedAt: at,
  };
  if (data !== undefined) row.data = data;
  return row;
}
