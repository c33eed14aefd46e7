/**
 * The interpreter: walks a workflow's runtime nodes for one activation of one
 * run (from a claim until the run completes, fails or suspends).
 *
 * Resuming reads checkpoints only until the first unfinished node of each
 * sequence, and loops keep a progress row, so resume cost does not grow with
 * history. Every completed step is written (fenced by the lease) before the
 * run moves on; rows that can be rebuilt from others (branch, iteration and
 * decision rows) ride along with the next write.
 *
 * @module
 */
import type { NodeKind, RtBranch, RtNode, RtOf, RtStep } from "./nodes.ts";
import type { StepRow } from "./driver.ts";
import { isNonRetryable, SignalTimeoutError, toErrorInfo } from "./errors.ts";
import { decodeValue, encodeValue } from "./values.ts";
import { decodeWaitOutcome, encodeEventDetail, rowData, timedOutOutcome } from "./formats.ts";
import { observed } from "./recorder.ts";
import { timeAfter, toStoredTime } from "./time.ts";
import { yieldIfDue } from "./yield.ts";
import { retryDelay, runAttempt } from "./attempt.ts";
import { StepFailure, STOP } from "./suspension.ts";
import { ChildActivation } from "./children.ts";

export type { Middleware } from "./attempt.ts";
export type { Host } from "./activation.ts";

/** How the walk handles one kind of node (one entry per kind of `NODE_KINDS`). */
interface KindWalk<K extends NodeKind> {
  /** Runs the node; `row` is its pending row when resuming. */
  run(
    activation: Activation,
    node: RtOf<K>,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown>;
  /**
   * The output recorded in the node's `done` row; `input` is the value that
   * flowed in, `runInput` the workflow input.
   */
  done(node: RtOf<K>, row: StepRow, input: unknown, runInput: unknown): unknown;
}

/** Describes a step's output for error messages. */
function stepOutput(key: string): string {
  return `the output of step '${key}'`;
}

/**
 * The output of a wait that received `payload`: the payload (with the
 * signal's name for `waitForAnySignal`), joined with the value from before the
 * wait by `combine` when there is one (recomputed on replay, like every plan
 * function; it also gets the workflow input, which YAML's CEL `combine` reads).
 */
function received(
  node: RtOf<"waitForSignal">,
  key: string,
  value: unknown,
  signal: string,
  payload: unknown,
  runInput: unknown,
): unknown {
  const got = node.kind === "waitForAnySignal" ? { signal, payload } : payload;
  if (!node.combine) return got;
  try {
    return node.combine(value, got, runInput);
  } catch (error) {
    throw new StepFailure(error, key);
  }
}

/** One activation of one run: the tree walk over {@linkcode ActivationCore}. */
export class Activation extends ChildActivation {
  /** The key of the run's last top-level node when it is a step (see `mayDeferLast`). */
  #lastStep: string | undefined;

  protected override walk(
    nodes: readonly RtNode[],
    replay: boolean,
    signal: AbortSignal,
  ): Promise<unknown> {
    return this.#seq(nodes, this.input, "", replay, signal);
  }

  protected override runStep(
    node: RtStep,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    scope: AbortSignal,
  ): Promise<unknown> {
    return this.#step(node, value, key, row, scope);
  }

  // ---- the walk ---------------------------------------------------------------

  async #seq(
    nodes: readonly RtNode[],
    value: unknown,
    prefix: string,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    let rows: Map<string, StepRow> | undefined;
    if (replay && nodes.length > 0) rows = await this.read(nodes.map((n) => prefix + n.name));
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      if (scope.aborted) throw scope.reason;
      if (this.suspension.stopping) throw STOP;
      const key = prefix + node.name;
      // The run's last node, a step: its checkpoint rides with the completion.
      if (prefix === "" && i === nodes.length - 1 && node.kind === "step" && this.mayDeferLast) {
        this.#lastStep = key;
      }
      if (rows !== undefined) {
        const row = rows.get(key);
        if (row?.state === "done") {
          value = this.#doneValue(node, row, value);
          continue;
        }
        rows = undefined;
        value = await this.#node(node, value, key, row, true, scope);
      } else {
        value = await this.#node(node, value, key, undefined, false, scope);
      }
    }
    return value;
  }

  /** The output recorded in a node's `done` row; `input` is the value that flowed in. */
  #doneValue(node: RtNode, row: StepRow, input: unknown): unknown {
    return (Activation.#kinds[node.kind] as KindWalk<NodeKind>).done(node, row, input, this.input);
  }

  #node(
    node: RtNode,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    const walk = Activation.#kinds[node.kind] as KindWalk<NodeKind>;
    return walk.run(this, node, value, key, row, replay, scope);
  }

  /** How the walk runs each kind of node, and reads its output back from its `done` row. */
  static #kinds: { readonly [K in NodeKind]: KindWalk<K> };
  static {
    const recorded = (_node: unknown, row: StepRow) => decodeValue(row.data);
    const passThrough = (_node: unknown, _row: StepRow, input: unknown) => input;
    const waited = (
      node: RtOf<"waitForSignal">,
      row: StepRow,
      input: unknown,
      runInput: unknown,
    ) => {
      const record = decodeWaitOutcome(row.data);
      if (record.timedOut) return record.value;
      return received(node, row.key, input, record.signal!, record.payload, runInput);
    };
    Activation.#kinds = {
      step: {
        run: (a, node, v, key, row, _, scope) => a.#step(node, v, key, row, scope),
        done: recorded,
      },
      flow: {
        run: (a, node, v, key, _, replay, scope) => a.#flow(node, v, key, replay, scope),
        done: recorded,
      },
      if: {
        run: (a, node, v, key, row, replay, scope) => a.#if(node, v, key, row, replay, scope),
        done: recorded,
      },
      parallel: {
        run: (a, node, v, key, _, replay, scope) => a.#parallel(node, v, key, replay, scope),
        done: recorded,
      },
      loop: {
        run: (a, node, v, key, row, replay, scope) => a.#loop(node, v, key, row, replay, scope),
        done: recorded,
      },
      while: {
        run: (a, node, v, key, row, replay, scope) => a.#loop(node, v, key, row, replay, scope),
        done: recorded,
      },
      map: {
        run: (a, node, v, key, _, replay, scope) => a.#map(node, v, key, replay, scope),
        done: recorded,
      },
      sleep: {
        run: (a, node, v, key, row, _, scope) => a.#sleep(node, v, key, row, scope),
        done: passThrough,
      },
      sleepUntil: {
        run: (a, node, v, key, row, _, scope) => a.#sleep(node, v, key, row, scope),
        done: passThrough,
      },
      waitForSignal: {
        run: (a, node, v, key, row, _, scope) => a.#wait(node, v, key, row, scope),
        done: waited,
      },
      waitForAnySignal: {
        run: (a, node, v, key, row, _, scope) => a.#wait(node, v, key, row, scope),
        done: waited,
      },
      call: {
        run: (a, node, v, key, row, _, scope) => a.child(node, v, key, row, scope),
        done: recorded,
      },
      spawn: {
        run: (a, node, v, key, row, _, scope) => a.child(node, v, key, row, scope),
        done: recorded,
      },
    };
  }

  async #flow(
    node: Extract<RtNode, { kind: "flow" }>,
    value: unknown,
    key: string,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    const output = await this.#seq(node.nodes, value, key + "/", replay, scope);
    const data = this.encode(output, `the output of '${key}'`, key);
    const row: StepRow = { key, kind: "flow", state: "done", finishedAt: this.host.clock.now() };
    if (data !== undefined) row.data = data;
    this.queue(row);
    return output;
  }

  /** Runs a branch or body at `key`; in replay mode it first reads the branch's row. */
  async #branch(
    branch: RtBranch,
    value: unknown,
    key: string,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    if (!replay) return this.#node(branch, value, key, undefined, false, scope);
    const row = (await this.read([key])).get(key);
    if (row?.state === "done") return this.#doneValue(branch, row, value);
    return this.#node(branch, value, key, row, true, scope);
  }

  async #step(
    node: RtStep,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    scope: AbortSignal,
  ): Promise<unknown> {
    // The hot path of every run: no closure here captures a variable of the
    // loop (that would allocate a context per step), and observer events are
    // built only when someone observes (`observed`).
    const host = this.host;
    let failures = 0;
    if (row !== undefined && row.data !== undefined) {
      const progress = rowData.step.decode(row.data);
      failures = progress.failures;
      await this.waitUntil(progress.until, scope);
    }
    for (;;) {
      if (scope.aborted) throw scope.reason;
      // A retry is a new step beginning: not after a pause.
      if (this.suspension.stopping) throw STOP;
      const attempt = failures + 1;
      const startedAt = host.clock.now();
      if (observed(host)) {
        host.emit("onStepStarted", { ...this.event(), step: key, attempt });
      }
      let output: unknown;
      this.inFlight.push(key);
      // While the body runs, this branch waits on user code, not on the engine.
      this.suspension.userWork(1);
      try {
        output = await runAttempt(this, node, value, key, attempt, scope);
        this.suspension.userWork(-1);
      } catch (error) {
        this.suspension.userWork(-1);
        this.landed(key);
        if (scope.aborted) throw scope.reason;
        const until = this.#attemptFailed(node, key, attempt, ++failures, startedAt, error);
        if (until !== undefined) await this.waitUntil(until, scope);
        continue;
      }
      let data: string | undefined;
      try {
        data = encodeValue(output, stepOutput, host.maxPayloadBytes, key);
      } catch (error) {
        this.queueEvent({
          type: "step.failed",
          at: host.clock.now(),
          step: key,
          attempt,
          detail: encodeEventDetail("step.failed", { error: toErrorInfo(error) }),
        });
        this.landed(key);
        throw new StepFailure(error, key);
      }
      const finishedAt = host.clock.now();
      const done: StepRow = { key, kind: "step", state: "done", attempt, startedAt, finishedAt };
      if (data !== undefined) done.data = data;
      // The step stays in flight until its result is recorded; the run's last
      // step is recorded by the completion write (one write, not two).
      // (It stays in flight until then: a lost lease names it.)
      if (key === this.#lastStep) this.queue(done);
      else {
        await this.record(done);
        this.landed(key);
      }
      // Between write cycles, let the process's event loop run (timers,
      // heartbeats, signals, the host's own I/O): see yield.ts.
      const pause = yieldIfDue(host.clock);
      if (pause) await pause;
      if (observed(host)) {
        host.emit("onStepCompleted", {
          ...this.event(),
          step: key,
          attempt,
          durationMs: finishedAt - startedAt,
          output,
        });
      }
      return output;
    }
  }

  /**
   * Records a failed attempt (the `failures`-th): throws the step's failure
   * when it was the last one, else queues its retry and returns when it is due
   * (undefined: at once).
   */
  #attemptFailed(
    node: RtStep,
    key: string,
    attempt: number,
    failures: number,
    startedAt: number,
    error: unknown,
  ): number | undefined {
    const retry = node.retry;
    const final = retry === undefined || failures >= retry.maxAttempts || isNonRetryable(error);
    const now = this.host.clock.now();
    this.queueEvent(
      {
        type: "step.failed",
        at: now,
        step: key,
        attempt,
        detail: encodeEventDetail("step.failed", { error: toErrorInfo(error), startedAt }),
      },
      "onStepFailed",
      () => ({
        ...this.event(),
        step: key,
        attempt,
        durationMs: now - startedAt,
        error,
        willRetry: !final,
      }),
    );
    if (final) throw new StepFailure(error, key);
    const delay = retryDelay(retry, failures);
    const until = timeAfter(now, delay);
    this.queue({
      key,
      kind: "step",
      state: "pending",
      data: rowData.step.encode({ failures, until }),
      attempt,
      startedAt,
      finishedAt: now,
    });
    this.queueEvent(
      {
        type: "step.retried",
        at: now,
        step: key,
        attempt: attempt + 1,
        detail: encodeEventDetail("step.retried", { wakeAt: until, delayMs: delay }),
      },
      "onStepRetried",
      () => ({
        ...this.event(),
        step: key,
        attempt: attempt + 1,
        delayMs: delay,
        wakeAt: new Date(until),
      }),
    );
    return delay > 0 ? until : undefined;
  }

  async #if(
    node: Extract<RtNode, { kind: "if" }>,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    let taken: "then" | "else";
    if (row?.state === "pending" && row.data !== undefined) {
      taken = rowData.if.decode(row.data).branch;
    } else {
      taken = (await this.call(key, node.cond, value)) ? "then" : "else";
      this.queue({ key, kind: "if", state: "pending", data: rowData.if.encode({ branch: taken }) });
    }
    const branch = taken === "then" ? node.then : node.otherwise;
    const output = branch
      ? await this.#branch(branch, value, `${key}/${taken}`, replay, scope)
      : value;
    this.#queueDone(key, "if", output);
    return output;
  }

  async #loop(
    node: Extract<RtNode, { kind: "loop" | "while" }>,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    let index = 0;
    let current = value;
    if (row?.state === "pending" && row.data !== undefined) {
      // Progress holds only the next index; the value is the previous
      // iteration's recorded output (written no later than the progress row).
      const next = rowData.loop.decode(row.data).next;
      const last = `${key}#${next - 1}`;
      const previous = next > 0 ? (await this.read([last])).get(last) : undefined;
      if (previous?.state === "done") {
        index = next;
        current = this.#doneValue(node.body, previous, undefined);
      }
    }
    let times = Infinity;
    if (node.kind === "loop") {
      const count = typeof node.times === "number"
        ? node.times
        : await this.call(key, node.times, value);
      if (typeof count !== "number" || !Number.isInteger(count) || count < 0) {
        throw new StepFailure(
          new TypeError(
            `Cannot run loop '${key}' ${
              String(count)
            } times: the count must be an integer of 0 or more`,
          ),
          key,
        );
      }
      times = count;
    }
    for (;; index++) {
      if (scope.aborted) throw scope.reason;
      if (this.suspension.stopping) throw STOP;
      if (node.kind === "loop") {
        if (index >= times) break;
      } else {
        if (!(await this.call(key, node.cond, current))) break;
        if (index >= node.maxIterations) {
          throw new StepFailure(
            new RangeError(
              `While '${key}' reached its limit of ${node.maxIterations} iterations with its condition still true: raise 'maxIterations' or fix the condition`,
            ),
            key,
          );
        }
      }
      current = await this.#branch(node.body, current, `${key}#${index}`, replay, scope);
      replay = false;
      this.queue({
        key,
        kind: node.kind,
        state: "pending",
        data: rowData.loop.encode({ next: index + 1 }),
      });
    }
    const done: StepRow = {
      key,
      kind: node.kind,
      state: "done",
      finishedAt: this.host.clock.now(),
    };
    const data = this.encode(current, `the output of '${key}'`, key);
    if (data !== undefined) done.data = data;
    this.queue(done);
    return current;
  }

  async #parallel(
    node: Extract<RtNode, { kind: "parallel" }>,
    value: unknown,
    key: string,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    const keys = node.branches.map((b) => `${key}/${b.name}`);
    const rows = replay ? await this.read(keys) : undefined;
    const results = await this.suspension.forkJoin(
      node.branches.length,
      node.concurrency ?? node.branches.length,
      (i, signal) => {
        const branch = node.branches[i]!;
        const row = rows?.get(keys[i]!);
        if (row?.state === "done") return Promise.resolve(this.#doneValue(branch, row, value));
        return this.#node(branch, value, keys[i]!, row, replay, signal);
      },
      scope,
    );
    const output = node.shape === "tuple"
      ? results
      : Object.fromEntries(node.branches.map((b, i) => [b.name, results[i]]));
    this.#queueDone(key, "parallel", output);
    return output;
  }

  async #map(
    node: Extract<RtNode, { kind: "map" }>,
    value: unknown,
    key: string,
    replay: boolean,
    scope: AbortSignal,
  ): Promise<unknown> {
    const items = await this.call(key, node.items, value);
    if (!Array.isArray(items)) {
      throw new StepFailure(
        new TypeError(
          `Cannot map over ${typeof items} in '${key}': the items function must return an array`,
        ),
        key,
      );
    }
    const keys = items.map((_, i) => `${key}#${i}`);
    let rows: Map<string, StepRow> | undefined;
    if (replay && keys.length > 0) {
      rows = new Map();
      for (let i = 0; i < keys.length; i += 500) {
        for (const [k, r] of await this.read(keys.slice(i, i + 500))) rows.set(k, r);
      }
    }
    const results = await this.suspension.forkJoin(
      items.length,
      node.concurrency ?? items.length,
      (i, signal) => {
        const row = rows?.get(keys[i]!);
        if (row?.state === "done") {
          return Promise.resolve(this.#doneValue(node.body, row, items[i]));
        }
        return this.#node(node.body, items[i], keys[i]!, row, replay, signal);
      },
      scope,
    );
    this.#queueDone(key, "map", results);
    return results;
  }

  #queueDone(key: string, kind: string, output: unknown): void {
    const row: StepRow = { key, kind, state: "done", finishedAt: this.host.clock.now() };
    const data = this.encode(output, `the output of '${key}'`, key);
    if (data !== undefined) row.data = data;
    this.queue(row);
  }

  async #sleep(
    node: Extract<RtNode, { kind: "sleep" | "sleepUntil" }>,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    scope: AbortSignal,
  ): Promise<unknown> {
    const now = this.host.clock.now();
    let until: number;
    if (row?.data !== undefined) {
      until = rowData.sleep.decode(row.data).until;
    } else {
      if (node.kind === "sleep") until = timeAfter(now, node.durationMs);
      else if (typeof node.at === "number") until = node.at;
      else {
        const target = await this.call(key, node.at, value);
        try {
          until = toStoredTime(target, `the time returned by sleepUntil '${key}'`);
        } catch (error) {
          throw new StepFailure(error, key);
        }
      }
      if (until > now) {
        this.queue({
          key,
          kind: "sleep",
          state: "pending",
          data: rowData.sleep.encode({ until }),
          startedAt: now,
        });
      }
    }
    await this.waitUntil(until, scope);
    this.queue({ key, kind: "sleep", state: "done", finishedAt: this.host.clock.now() });
    return value;
  }

  async #wait(
    node: Extract<RtNode, { kind: "waitForSignal" | "waitForAnySignal" }>,
    value: unknown,
    key: string,
    row: StepRow | undefined,
    scope: AbortSignal,
  ): Promise<unknown> {
    const host = this.host;
    let until: number | undefined;
    let startedAt = host.clock.now();
    if (row?.data !== undefined) {
      until = rowData.wait.decode(row.data).until;
      startedAt = row.startedAt ?? startedAt;
    } else if (node.timeoutMs !== undefined) {
      until = timeAfter(startedAt, node.timeoutMs);
    }
    let recorded = row !== undefined;
    for (;;) {
      if (scope.aborted) throw scope.reason;
      const batch = this.takeBatch();
      const epoch = this.suspension.epoch;
      const done: StepRow = {
        key,
        kind: "wait",
        state: "done",
        startedAt,
        finishedAt: host.clock.now(),
      };
      const got = await this.store.consumeSignal(
        node.signals,
        done,
        batch,
        host.clock.now(),
      );
      if (got) return received(node, key, value, got.name, decodeValue(got.payload), this.input);
      const now = host.clock.now();
      if (until !== undefined && now >= until) {
        if (!node.onTimeout) throw new StepFailure(new SignalTimeoutError(key, node.signals), key);
        const output = await this.call(key, node.onTimeout, value);
        const data = this.encode(timedOutOutcome(output), `the output of '${key}'`, key);
        await this.record(
          data === undefined ? { ...done, finishedAt: now } : { ...done, finishedAt: now, data },
        );
        return output;
      }
      if (!recorded) {
        recorded = true;
        this.queue({
          key,
          kind: "wait",
          state: "pending",
          data: rowData.wait.encode(until === undefined ? {} : { until }),
          startedAt,
        });
      }
      await this.suspension.waitFor(until, node.signals, scope, epoch);
    }
  }
}
