/**
 * Dependencies injected into steps as `ctx.deps`: plain values, or resources
 * built lazily once per runner or engine and cleaned up last-in-first-out.
 *
 * @module
 */

/**
 * What a resource factory receives.
 *
 * @example Close a resource when the runner closes
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, resource, type ResourceScope, workflow } from "@sluice/sluice";
 *
 * const closed: string[] = [];
 * function openPool(scope: ResourceScope) {
 *   scope.onCleanup(() => void closed.push("pool"));
 *   return { query: (sql: string) => `ran ${sql}` };
 * }
 * const wf = workflow<string>("query").step(
 *   "run",
 *   (sql, ctx) => (ctx.deps.pool as ReturnType<typeof openPool>).query(sql),
 * );
 * const runner = new LocalRunner({ deps: { pool: resource(openPool) } });
 * assert.equal(await runner.run(wf, "select 1"), "ran select 1");
 * await runner.close();
 * assert.deepEqual(closed, ["pool"]);
 * ```
 */
export interface ResourceScope {
  /**
   * Registers a cleanup, run when the runner or engine closes; cleanups run
   * last-in-first-out, each even when an earlier one throws.
   */
  onCleanup(cleanup: () => void | Promise<void>): void;
}

declare const resourceBrand: unique symbol;

/**
 * A dependency built on first use by a factory. Make one with {@linkcode resource}.
 *
 * @example A typed resource in the deps option
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type Resource, resource, workflow } from "@sluice/sluice";
 *
 * const ages: Resource<Map<string, number>> = resource(() => new Map([["ada", 36]]));
 * const wf = workflow<string>("age").step(
 *   "lookup",
 *   (name, ctx) => (ctx.deps.ages as Map<string, number>).get(name),
 * );
 * await using runner = new LocalRunner({ deps: { ages } });
 * assert.equal(await runner.run(wf, "ada"), 36);
 * ```
 */
export interface Resource<T> {
  /** Builds the value. */
  readonly factory: (scope: ResourceScope) => T | Promise<T>;
  /** @ignore */
  readonly [resourceBrand]: true;
}

const resources = new WeakSet<object>();

/**
 * Declares a dependency built lazily, once per runner or engine, before the
 * first step runs.
 *
 * @param factory Builds the value; may register cleanups.
 * @returns The resource, to put in the `deps` option.
 *
 * @example Build a greeting once and close it with the runner
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, resource, workflow } from "@sluice/sluice";
 *
 * const closed: string[] = [];
 * const wf = workflow<string>("greet").step("greet", (name, ctx) =>
 *   `${ctx.deps.greeting as string}, ${name}`);
 * const runner = new LocalRunner({
 *   deps: {
 *     greeting: resource((scope) => {
 *       scope.onCleanup(() => void closed.push("greeting"));
 *       return "Hello";
 *     }),
 *   },
 * });
 * assert.equal(await runner.run(wf, "Ada"), "Hello, Ada");
 * await runner.close();
 * assert.deepEqual(closed, ["greeting"]);
 * ```
 */
export function resource<T>(factory: (scope: ResourceScope) => T | Promise<T>): Resource<T> {
  if (typeof factory !== "function") {
    throw new TypeError(`Cannot create a resource from ${typeof factory}: pass a factory function`);
  }
  const res = Object.freeze({ factory }) as unknown as Resource<T>;
  resources.add(res);
  return res;
}

/** @internal Holds resolved dependencies and their cleanups. */
export class DepsScope {
  readonly values: Record<string, unknown> = {};
  #pending: [string, Resource<unknown>][] = [];
  #resolving: Promise<void> | undefined;
  #cleanups: (() => void | Promise<void>)[] = [];
  #closed = false;

  constructor(init: Record<string, unknown> | undefined) {
    if (init === undefined) return;
    if (typeof init !== "object" || init === null || Array.isArray(init)) {
      throw new TypeError(`Cannot use 'deps' of type ${typeof init}: pass an object of names`);
    }
    for (const [name, value] of Object.entries(init)) {
      if (typeof value === "object" && value !== null && resources.has(value)) {
        this.#pending.push([name, value as Resource<unknown>]);
      } else {
        this.values[name] = value;
      }
    }
  }

  /** Resolves every resource once; undefined when nothing is left to resolve. */
  ready(): Promise<void> | undefined {
    if (this.#pending.length === 0) return undefined;
    this.#resolving ??= this.#resolve().finally(() => this.#resolving = undefined);
    return this.#resolving;
  }

  async #resolve(): Promise<void> {
    const scope: ResourceScope = {
      onCleanup: (cleanup) => {
        if (typeof cleanup !== "function") {
          throw new TypeError(`Cannot register a cleanup of type ${typeof cleanup}`);
        }
        this.#cleanups.push(cleanup);
      },
    };
    while (this.#pending.length > 0) {
      const [name, res] = this.#pending[0]!;
      this.values[name] = await res.factory(scope);
      this.#pending.shift();
    }
  }

  /** Runs cleanups last-in-first-out; throws an `AggregateError` of their failures. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const errors: unknown[] = [];
    while (this.#cleanups.length > 0) {
      try {
        await this.#cleanups.pop()!();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) {
      throw new AggregateError(errors, `${errors.length} dependency cleanup(s) failed`);
    }
  }
}
