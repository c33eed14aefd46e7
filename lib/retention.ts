/**
 * Retention: workers delete finished runs older than the engine's
 * `retention` durations, per final status, in small batches (one short
 * transaction each), so purging never holds up claims. The same passes, over
 * shared storage, cancel the `.call` children whose parent ended while their
 * cancel cascade did not happen (its process died in between).
 *
 * @module
 */
import { type Duration, parseDuration } from "./duration.ts";
import type { PurgeOptions } from "./driver.ts";
import type { Runtime } from "./runtime.ts";
import { unrefTimer } from "./timers.ts";
import { describe } from "./validate.ts";
import { SluiceError } from "./errors.ts";

/**
 * How long finished runs are kept, per final status (`Duration`s); a status
 * left out is kept forever.
 *
 * @example Keep completed runs a week and failed ones a month
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MemoryDriver, type Retention } from "@sluice/sluice";
 *
 * const retention: Retention = { completed: "7d", failed: "30d" };
 * await using engine = new Engine({ driver: new MemoryDriver(), retention });
 * assert.ok(engine);
 * ```
 */
export interface Retention {
  /** How long completed runs are kept. */
  completed?: Duration;
  /** How long failed runs are kept. */
  failed?: Duration;
  /** How long cancelled runs are kept. */
  cancelled?: Duration;
}

/** Runs deleted per transaction. */
export const RETENTION_BATCH = 100;

type Final = NonNullable<PurgeOptions["status"]>;
const FINALS: readonly Final[] = ["completed", "failed", "cancelled"];

/** Checks the `retention` option; returns each kept status's age limit in ms. */
export function parseRetention(retention: unknown): Map<Final, number> {
  const limits = new Map<Final, number>();
  if (retention === undefined) return limits;
  if (typeof retention !== "object" || retention === null || Array.isArray(retention)) {
    throw new TypeError(
      `Cannot use 'retention' ${describe(retention)}: pass { completed?, failed?, cancelled? }`,
    );
  }
  for (const [key, value] of Object.entries(retention)) {
    if (!FINALS.includes(key as Final)) {
      throw new TypeError(
        `Cannot use 'retention' key '${key}': use 'completed', 'failed' or 'cancelled'`,
      );
    }
    if (value === undefined) continue;
    const ms = parseDuration(value as Duration, `'retention.${key}'`);
    if (ms < 1_000) {
      throw new RangeError(`Cannot keep ${key} runs ${ms}ms: 'retention.${key}' is at least 1s`);
    }
    limits.set(key as Final, ms);
  }
  return limits;
}

/**
 * @internal One worker's maintenance passes, at start, then every `everyMs` of
 * real time: over shared storage, the sweep of orphaned `.call` children;
 * with `retention`, the purge.
 */
export class RetentionPasses {
  readonly #rt: Runtime;
  readonly #everyMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(rt: Runtime, everyMs: number) {
    this.#rt = rt;
    this.#everyMs = everyMs;
  }

  start(): void {
    if (!this.#stopped || (this.#rt.retention.size === 0 && !this.#rt.driver.shared)) return;
    this.#stopped = false;
    this.#pass();
  }

  #pass(): void {
    this.#running = this.#sweep().then(() => this.#purge()).finally(() => {
      this.#running = undefined;
      if (this.#stopped) return;
      this.#timer = setTimeout(() => this.#pass(), this.#everyMs);
      unrefTimer(this.#timer);
    });
  }

  /**
   * Cancels the unfinished `.call` children of failed, cancelled or purged
   * parents, batch by batch until none is left (their own call children
   * become orphans of a cancelled parent, so the next batch takes them; at
   * most 100 batches a pass). Only over shared
   * storage: in one process no crash can cut the cascade off (and the call
   * closes the one race itself, `lib/children.ts`).
   */
  async #sweep(): Promise<void> {
    const rt = this.#rt;
    if (!rt.driver.shared) return;
    try {
      for (let round = 0; round < 100 && !this.#stopped; round++) {
        const orphans = await rt.driver.orphanedChildren(RETENTION_BATCH);
        for (const id of orphans) {
          if (this.#stopped) return;
          try {
            await rt.driver.cancelRun(id, "its parent run ended before it", rt.clock.now());
            rt.logger.info(`run ${id}: cancelled, as its parent run ended`, { runId: id });
          } catch (error) {
            // Finished meanwhile, or cancelled by the cascade itself.
            if (!(error instanceof SluiceError && error.code === "INVALID_STATE")) throw error;
          }
        }
        if (orphans.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } catch (error) {
      rt.logger.warn("cannot cancel the children of ended runs", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async #purge(): Promise<void> {
    const rt = this.#rt;
    try {
      for (const [status, keepMs] of rt.retention) {
        const now = rt.clock.now();
        const before = rt.purgeCutoff(now - keepMs, now);
        for (;;) {
          if (this.#stopped) return;
          const deleted = await rt.driver.purge(before, { status, limit: RETENTION_BATCH });
          if (deleted > 0) rt.logger.debug(`retention deleted ${deleted} ${status} runs`);
          if (deleted < RETENTION_BATCH) break;
          // Let claims and heartbeats between two batches.
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
    } catch (error) {
      rt.logger.warn("retention cannot purge finished runs", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
