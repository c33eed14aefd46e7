/**
 * The suspension bookkeeping of one activation: how many of its branches run,
 * which wait (on a timer or a signal), when the whole run suspends, and the
 * fork/join that caps branches in flight and aborts siblings on a failure.
 *
 * A branch that must wait calls {@linkcode Suspension.waitFor}: while another
 * branch of the run still runs, it waits in-process; once no branch runs, every
 * waiter is rejected with {@linkcode SUSPEND} and the run suspends (the caller
 * writes the earliest wake time and the awaited signals it noted).
 *
 * @module
 */
import type { Clock, ClockTimer } from "./clock.ts";

/** @internal Thrown to unwind when the run suspends on timers or signals. */
export const SUSPEND: { readonly control: "suspend" } = Object.freeze({ control: "suspend" });
/** @internal Thrown to unwind when the worker stops gracefully. */
export const STOP: { readonly control: "stop" } = Object.freeze({ control: "stop" });

/** @internal A failure of a node, carrying the step key where it happened. */
export class StepFailure {
  /** Wraps `error`, raised at step key `step` (empty for the run itself). */
  constructor(readonly error: unknown, readonly step: string) {}
}

interface Waiter {
  until: number | undefined;
  signals: readonly string[] | undefined;
  resolve: () => void;
  reject: (reason: unknown) => void;
  timer: ClockTimer | undefined;
  scope: AbortSignal;
  onAbort: () => void;
}

/**
 * @internal The branches in flight and the waiters of one activation. The
 * activation itself counts as one running branch from the start.
 */
export class Suspension {
  readonly #clock: Clock;
  /** Called before a branch waits in-process while others run (writes what is queued). */
  readonly #beforeWait: () => Promise<void> | undefined;
  #running = 1;
  #waiters = new Set<Waiter>();
  #suspended = false;
  #at: number | undefined;
  #signals = new Set<string>();
  /** Counts signal arrivals, so a wait can tell one came after it read the inbox. */
  #epoch = 0;
  #stopping = false;
  /** Branches awaiting user code (a step body): they run no engine code. */
  #userWaits = 0;
  /** Reports engine work (`delta` units) and awaited user code (`user`) to a simulated clock. */
  readonly #report: ((delta: number, user?: boolean) => void) | undefined;
  #idle = false;
  #closed = false;

  /**
   * Waits on `clock`; `beforeWait` runs before a branch waits while others
   * still run. `report` (a simulated clock's activity hook) hears `-1` when
   * every branch waits on the clock, a signal or a step body, `1` when one
   * runs engine code again, and each step body in flight as `user` work.
   */
  constructor(
    clock: Clock,
    beforeWait: () => Promise<void> | undefined,
    report?: (delta: number, user?: boolean) => void,
  ) {
    this.#clock = clock;
    this.#beforeWait = beforeWait;
    this.#report = report;
  }

  /** A branch starts (`1`) or stops (`-1`) awaiting user code: a step body. */
  userWork(delta: 1 | -1): void {
    if (this.#closed) return;
    this.#userWaits += delta;
    if (this.#report === undefined) return;
    this.#report(delta, true);
    this.#changed();
  }

  /**
   * The activation ends: it counts as running again (it writes its end), and
   * step bodies that never settled are forgotten.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#report === undefined) return;
    if (this.#idle) this.#report(1);
    if (this.#userWaits !== 0) this.#report(-this.#userWaits, true);
    this.#idle = false;
  }

  /** Tells `onIdle` when engine code stops or starts running in some branch. */
  #changed(): void {
    if (this.#report === undefined || this.#closed) return;
    // A suspending run unwinds its branches: engine code until it has written.
    const idle = !this.#suspended && this.#running <= this.#userWaits;
    if (idle === this.#idle) return;
    this.#idle = idle;
    this.#report(idle ? -1 : 1);
  }

  /** Whether the run is suspending (every branch unwinds). */
  get suspended(): boolean {
    return this.#suspended;
  }

  /** Whether the activation was asked to hand its run back. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** The earliest wake time noted by the branches that suspended. */
  get wakeAt(): number | undefined {
    return this.#at;
  }

  /** The signals awaited by the branches that suspended. */
  get awaitedSignals(): string[] {
    return [...this.#signals];
  }

  /** The signal arrival count, read before the inbox is (see {@linkcode waitFor}). */
  get epoch(): number {
    return this.#epoch;
  }

  /** Branches running now (not waiting). */
  get running(): number {
    return this.#running;
  }

  /** Branches waiting in-process now. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Asks every branch to unwind with {@linkcode STOP}; waiting ones at once. */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const waiter of [...this.#waiters]) this.#release(waiter, STOP);
  }

  /** A signal reached the run's inbox: branches waiting for signals look again. */
  signalArrived(): void {
    this.#epoch++;
    for (const waiter of [...this.#waiters]) {
      if (waiter.signals) this.#wake(waiter);
    }
  }

  /**
   * Waits until `until` or until one of `signals` may have arrived. When no
   * other branch is running, the whole run suspends instead (throws SUSPEND).
   * `epoch` is {@linkcode epoch} as read before the caller read the inbox.
   */
  async waitFor(
    until: number | undefined,
    signals: readonly string[] | undefined,
    scope: AbortSignal,
    epoch: number = this.#epoch,
  ): Promise<void> {
    // A signal that arrived after the caller read the inbox found no waiter
    // to wake: return so the caller reads the inbox again.
    if (signals !== undefined && epoch !== this.#epoch) return;
    if (this.#running === 1 && this.#waiters.size === 0) {
      this.#note(until, signals);
      throw SUSPEND;
    }
    const flushed = this.#beforeWait();
    if (flushed) await flushed;
    if (scope.aborted) throw scope.reason;
    if (this.#stopping) throw STOP;
    if (this.#suspended) throw SUSPEND;
    if (until !== undefined && until <= this.#clock.now()) return;
    if (signals !== undefined && epoch !== this.#epoch) return;
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        until,
        signals,
        resolve,
        reject,
        timer: undefined,
        scope,
        onAbort: () => this.#release(waiter, scope.reason),
      };
      this.#waiters.add(waiter);
      this.#running--;
      this.#changed();
      if (until !== undefined) {
        waiter.timer = this.#clock.setTimer(until, () => this.#wake(waiter));
      }
      scope.addEventListener("abort", waiter.onAbort, { once: true });
      if (this.#running === 0) this.#suspendAll();
    });
  }

  /**
   * Runs `count` children with at most `limit` in flight. The first failure
   * aborts the others (through their AbortSignal) and fails the whole; the
   * parent branch resumes once every started child has settled.
   */
  forkJoin(
    count: number,
    limit: number,
    child: (index: number, signal: AbortSignal) => Promise<unknown>,
    parent: AbortSignal,
  ): Promise<unknown[]> {
    if (count === 0) return Promise.resolve([]);
    if (parent.aborted) return Promise.reject(parent.reason);
    const controller = new AbortController();
    const onParentAbort = () => controller.abort(parent.reason);
    parent.addEventListener("abort", onParentAbort, { once: true });
    const results: unknown[] = new Array(count);
    let next = 0;
    let settled = 0;
    let failure: { error: unknown } | undefined;
    let control: unknown;
    return new Promise<unknown[]>((resolve, reject) => {
      const settle = (index: number, ok: boolean, value: unknown) => {
        settled++;
        if (ok) results[index] = value;
        else if (value === STOP) control = STOP;
        else if (value === SUSPEND) control ??= SUSPEND;
        else if (parent.aborted) control = parent.reason;
        else if (!(controller.signal.aborted && value === controller.signal.reason)) {
          if (!failure) {
            failure = { error: value };
            controller.abort(value instanceof StepFailure ? value.error : value);
          }
        }
        const more = next < count && !failure && control === undefined && !this.#suspended &&
          !this.#stopping && !controller.signal.aborted;
        if (more) {
          launch();
          this.#running--;
          this.#changed();
          return;
        }
        if (settled === next) {
          parent.removeEventListener("abort", onParentAbort);
          if (failure) reject(failure.error);
          else if (control !== undefined) reject(control);
          else if (next < count) reject(this.#stopping ? STOP : SUSPEND);
          else resolve(results);
          return;
        }
        this.#stopRunning();
      };
      const launch = () => {
        const index = next++;
        this.#running++;
        let started: Promise<unknown>;
        try {
          started = child(index, controller.signal);
        } catch (error) {
          started = Promise.reject(error);
        }
        started.then((v) => settle(index, true, v), (e) => settle(index, false, e));
      };
      const initial = Math.min(limit, count);
      for (let i = 0; i < initial; i++) launch();
      // The parent stops counting as running only once every child counts, so
      // a child that waits at once does not take itself for the only runner
      // (and suspend the run without noting its siblings' timers and signals).
      this.#stopRunning();
    });
  }

  /** One branch less runs; when none does and some wait, the run suspends. */
  #stopRunning(): void {
    this.#running--;
    this.#changed();
    if (this.#running === 0 && this.#waiters.size > 0 && !this.#suspended) this.#suspendAll();
  }

  #note(until: number | undefined, signals: readonly string[] | undefined): void {
    this.#suspended = true;
    if (until !== undefined && (this.#at === undefined || until < this.#at)) this.#at = until;
    if (signals) { for (const name of signals) this.#signals.add(name); }
  }

  #detach(waiter: Waiter): boolean {
    if (!this.#waiters.delete(waiter)) return false;
    waiter.timer?.cancel();
    waiter.scope.removeEventListener("abort", waiter.onAbort);
    return true;
  }

  #wake(waiter: Waiter): void {
    if (!this.#detach(waiter)) return;
    this.#running++;
    this.#changed();
    waiter.resolve();
  }

  #release(waiter: Waiter, reason: unknown): void {
    if (!this.#detach(waiter)) return;
    this.#running++;
    this.#changed();
    waiter.reject(reason);
  }

  #suspendAll(): void {
    for (const waiter of [...this.#waiters]) {
      this.#note(waiter.until, waiter.signals);
      this.#detach(waiter);
      waiter.reject(SUSPEND);
    }
  }
}
