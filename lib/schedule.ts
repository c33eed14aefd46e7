/**
 * Schedules: a workflow started at the slots of a cron expression or of an
 * interval, exactly once per slot across every worker and process.
 *
 * @module
 */
import { Workflow } from "./builder.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { hasControlCharacters } from "./_text.ts";
import { describe, NAME, NAME_RULE } from "./validate.ts";
import { cronRule, everyRule, type SlotRule } from "./slots.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES, encodeValue } from "./values.ts";
import type { ScheduleSpec } from "./formats.ts";
export { decodeScheduleSpec, encodeScheduleSpec, type ScheduleSpec } from "./formats.ts";

/**
 * What a schedule does when a slot comes while its previous run is unfinished:
 * `"skip"` records a skipped slot, `"allow"` starts the run anyway.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { schedule, type ScheduleOverlap, workflow } from "@sluice/sluice";
 *
 * const overlap: ScheduleOverlap = "allow";
 * const sync = schedule("sync", workflow("sync").step("pull", () => 1), { every: "1m", overlap });
 * assert.equal(sync.overlap, "allow");
 * ```
 */
export type ScheduleOverlap = "skip" | "allow";

/**
 * What a schedule does with slots missed while no worker ran (a slot more than
 * one minute late is missed): `"latest"` fires only the most recent one,
 * `"all"` fires each (the newest 100 at most), `"none"` fires none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { schedule, type ScheduleCatchUp, workflow } from "@sluice/sluice";
 *
 * const catchUp: ScheduleCatchUp = "none";
 * const ping = schedule("ping", workflow("ping").step("ping", () => 1), { every: "5m", catchUp });
 * assert.equal(ping.catchUp, "none");
 * ```
 */
export type ScheduleCatchUp = "latest" | "all" | "none";

/**
 * Options of {@linkcode schedule}: exactly one of `cron` and `every`.
 *
 * @typeParam In The workflow input.
 *
 * @example A weekday schedule in Berlin
 * ```ts
 * import assert from "node:assert/strict";
 * import { schedule, type ScheduleOptions, workflow } from "@sluice/sluice";
 *
 * const options: ScheduleOptions<{ day: string }> = {
 *   cron: "0 9 * * MON-FRI",
 *   timezone: "Europe/Berlin",
 *   input: (slot) => ({ day: slot.toISOString().slice(0, 10) }),
 * };
 * const report = workflow<{ day: string }>("report").step("build", (input) => input.day);
 * assert.equal(schedule("weekday-report", report, options).cron, "0 9 * * MON-FRI");
 * ```
 */
export interface ScheduleOptions<In> {
  /**
   * A cron expression of 5 fields (minute to day of week) or 6 (with seconds
   * first), as `npm:croner` reads it: names (`MON-FRI`, `JAN`), ranges, steps,
   * lists, `L`, `W`, `#`. Give `cron` or `every`.
   */
  cron?: string;
  /**
   * An interval of at least one second, aligned to the Unix epoch
   * (`"10m"` fires at :00, :10, … UTC). Give `cron` or `every`.
   */
  every?: Duration;
  /**
   * The IANA time zone that `cron` is read in; not allowed with `every`.
   * @default {"UTC"}
   */
  timezone?: string;
  /**
   * The input of each run: a constant value (JSON plus `Date`), or a function
   * of the slot's time.
   */
  input?: In | ((slot: Date) => In);
  /**
   * What happens when a slot comes while the previous run is unfinished.
   * @default {"skip"}
   */
  overlap?: ScheduleOverlap;
  /**
   * What happens to slots missed while no worker ran.
   * @default {"latest"}
   */
  catchUp?: ScheduleCatchUp;
}

const OPTIONS = ["cron", "every", "timezone", "input", "overlap", "catchUp"];
const OVERLAPS: readonly ScheduleOverlap[] = ["skip", "allow"];
const CATCH_UPS: readonly ScheduleCatchUp[] = ["latest", "all", "none"];
/** The shortest `every`. */
const MIN_EVERY_MS = 1_000;

let internalsOf: (s: Schedule<unknown>) => { rule: SlotRule; spec: ScheduleSpec };

/**
 * A schedule made by {@linkcode schedule}: immutable, validated when built.
 * Give it to an `Engine` or a `LocalRunner` (`schedules` option) or export it
 * from the module that `sluice worker` runs.
 *
 * @typeParam In The workflow input.
 *
 * @example Read a schedule and its next slots
 * ```ts
 * import assert from "node:assert/strict";
 * import { Schedule, schedule, workflow } from "@sluice/sluice";
 *
 * const tick = schedule("tick", workflow("tick").step("t", () => 1), { every: "15m" });
 * assert.ok(tick instanceof Schedule);
 * assert.equal(tick.every, 900_000);
 * assert.equal(tick.nextSlot(Date.UTC(2026, 0, 1, 10, 7))?.toISOString(), "2026-01-01T10:15:00.000Z");
 * ```
 */
export class Schedule<In = unknown> {
  /** The schedule id; the run of a slot has the id `<id>@<slot as ISO 8601 UTC>`. */
  readonly id: string;
  /** The workflow each slot starts. */
  readonly workflow: Workflow<In, unknown, unknown>;
  /** The cron expression, or `undefined` for an interval. */
  readonly cron: string | undefined;
  /** The interval in milliseconds, or `undefined` for a cron expression. */
  readonly every: number | undefined;
  /** The time zone of `cron` (canonical IANA name); `"UTC"` for `every`. */
  readonly timezone: string;
  /** The input: a constant value, a function of the slot, or `undefined`. */
  readonly input: In | ((slot: Date) => In) | undefined;
  /** The overlap policy. */
  readonly overlap: ScheduleOverlap;
  /** The catch-up policy. */
  readonly catchUp: ScheduleCatchUp;
  readonly #rule: SlotRule;
  readonly #spec: ScheduleSpec;

  static {
    internalsOf = (s) => ({ rule: s.#rule, spec: s.#spec });
  }

  /** @ignore Use {@linkcode schedule}. */
  constructor(
    id: string,
    workflow: Workflow<In, unknown, unknown>,
    spec: ScheduleSpec,
    input: In | ((slot: Date) => In) | undefined,
    rule: SlotRule,
  ) {
    this.id = id;
    this.workflow = workflow;
    this.cron = spec.cron;
    this.every = spec.every;
    this.timezone = spec.timezone;
    this.input = input;
    this.overlap = spec.overlap;
    this.catchUp = spec.catchUp;
    this.#spec = spec;
    this.#rule = rule;
    Object.freeze(this);
  }

  /**
   * The first slot strictly after a time, or `undefined` when the expression
   * has no later slot.
   *
   * @param after A `Date` or epoch milliseconds.
   * @returns The slot's time.
   *
   * @example The next nightly slot in Berlin, in UTC
   * ```ts
   * import assert from "node:assert/strict";
   * import { schedule, workflow } from "@sluice/sluice";
   *
   * const nightly = schedule("nightly", workflow("n").step("n", () => 1), {
   *   cron: "0 3 * * *",
   *   timezone: "Europe/Berlin",
   * });
   * const next = nightly.nextSlot(new Date("2026-07-01T12:00:00Z"));
   * assert.equal(next?.toISOString(), "2026-07-02T01:00:00.000Z");
   * ```
   */
  nextSlot(after: Date | number): Date | undefined {
    const at = after instanceof Date ? after.getTime() : after;
    if (typeof at !== "number" || !Number.isFinite(at)) {
      throw new TypeError(
        `Cannot find the slot of schedule '${this.id}' after ${
          String(after)
        }: pass a valid Date or epoch milliseconds`,
      );
    }
    const slot = this.#rule.next(at);
    return slot === undefined ? undefined : new Date(slot);
  }
}

/** The slot rule and the stored spec of a schedule (internal). */
export function scheduleInternals(
  s: Schedule<unknown>,
): { rule: SlotRule; spec: ScheduleSpec } {
  return internalsOf(s);
}

/**
 * Makes a schedule: `workflow` is started at every slot of `cron` (in
 * `timezone`) or of `every`, exactly once per slot across every worker and
 * process, with the run id `<id>@<slot as ISO 8601 UTC>` and the label
 * `{ schedule: <id> }`.
 *
 * @typeParam In The workflow input.
 * @param id The schedule id: a letter or `_`, then up to 127 letters, digits,
 * `_`, `.` or `-` (the rule of workflow names).
 * @param workflow The workflow each slot starts.
 * @param options `cron` or `every`, and the rest.
 * @returns The schedule.
 * @throws {TypeError} When the id, the workflow, the cron expression, the
 * time zone or an option is invalid, or when `cron` and `every` are both given
 * or both missing.
 * @throws {RangeError} When `every` is shorter than one second or invalid.
 * @throws {SerializationError} When a constant `input` is not JSON plus `Date`.
 *
 * @example A nightly report in Berlin, and an interval
 * ```ts
 * import assert from "node:assert/strict";
 * import { schedule, workflow } from "@sluice/sluice";
 *
 * const report = workflow<{ day: string }>("daily-report").step("build", (input) => input.day);
 * const nightly = schedule("nightly-report", report, {
 *   cron: "0 3 * * *",
 *   timezone: "Europe/Berlin",
 *   input: (slot) => ({ day: slot.toISOString().slice(0, 10) }),
 * });
 * assert.equal(nightly.overlap, "skip");
 * assert.equal(nightly.catchUp, "latest");
 * assert.throws(() => schedule("bad", report, { cron: "61 * * * *" }), TypeError);
 * assert.throws(() => schedule("both", report, { cron: "* * * * *", every: "1m" }), TypeError);
 * ```
 */
export function schedule<In>(
  id: string,
  workflow: Workflow<In, unknown, unknown>,
  options: ScheduleOptions<In>,
): Schedule<In> {
  // Schedule ids follow the rule of names, so `@` (which ends the id in a run id) never occurs.
  if (typeof id !== "string" || !NAME.test(id)) {
    throw new TypeError(`Cannot use schedule id ${describe(id)}: ids ${NAME_RULE}`);
  }
  if (!(workflow instanceof Workflow) || workflow.name === "") {
    throw new TypeError(
      `Cannot build schedule '${id}' with workflow ${
        describe(workflow)
      }: pass a workflow built with workflow()`,
    );
  }
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(
      `Cannot build schedule '${id}' with options ${
        describe(options)
      }: pass an options object with 'cron' or 'every'`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!OPTIONS.includes(key)) {
      throw new TypeError(
        `Cannot use option '${key}' in schedule '${id}': use ${OPTIONS.join(", ")}`,
      );
    }
  }
  const { spec, rule } = compileSpec(id, options);
  let input: In | ((slot: Date) => In) | undefined = options.input;
  if (typeof input === "function") spec.inputFunction = true;
  else if (input !== undefined) {
    const encoded = encodeValue(input, `the input of schedule '${id}'`, DEFAULT_MAX_PAYLOAD_BYTES);
    if (encoded !== undefined) spec.input = encoded;
    input = structuredClone(input);
  }
  return new Schedule<In>(id, workflow, spec, input, rule);
}

function compileSpec(
  id: string,
  options: ScheduleOptions<unknown>,
): { spec: ScheduleSpec; rule: SlotRule } {
  const overlap = pick(id, "overlap", options.overlap ?? "skip", OVERLAPS);
  const catchUp = pick(id, "catchUp", options.catchUp ?? "latest", CATCH_UPS);
  const { cron, every } = options;
  if ((cron === undefined) === (every === undefined)) {
    throw new TypeError(
      cron === undefined
        ? `Cannot build schedule '${id}' without 'cron' or 'every': give one, such as { cron: '0 3 * * *' } or { every: '15m' }`
        : `Cannot build schedule '${id}' with both 'cron' and 'every': give one of them`,
    );
  }
  if (every !== undefined) {
    if (options.timezone !== undefined) {
      throw new TypeError(
        `Cannot use 'timezone' ${
          describe(options.timezone)
        } in schedule '${id}' with 'every': intervals are aligned to the Unix epoch (UTC), use 'cron' for times of day in a time zone`,
      );
    }
    const ms = parseDuration(every, `'every' of schedule '${id}'`);
    if (ms < MIN_EVERY_MS) {
      throw new RangeError(
        `Cannot use 'every' ${
          describe(every)
        } in schedule '${id}': intervals are at least 1 second, use '1s' or more`,
      );
    }
    return { spec: { every: ms, timezone: "UTC", overlap, catchUp }, rule: everyRule(ms) };
  }
  if (typeof cron !== "string" || hasControlCharacters(cron) || cron.length > 256) {
    throw new TypeError(
      `Cannot use cron expression ${
        describe(cron)
      } in schedule '${id}': use a string of 5 or 6 fields such as '0 3 * * *'`,
    );
  }
  const timezone = canonicalTimeZone(id, options.timezone ?? "UTC");
  let rule: SlotRule;
  let first: number | undefined;
  try {
    rule = cronRule(cron, timezone);
    first = rule.next(0);
  } catch (error) {
    throw new TypeError(
      `Cannot use cron expression '${cron}' in schedule '${id}': ${
        error instanceof Error ? error.message : String(error)
      }; use 5 or 6 fields such as '0 3 * * *'`,
      { cause: error },
    );
  }
  if (first === undefined) {
    throw new TypeError(
      `Cannot use cron expression '${cron}' in schedule '${id}': it matches no time at all, check the day and month fields`,
    );
  }
  return { spec: { cron, timezone, overlap, catchUp }, rule };
}

function canonicalTimeZone(id: string, timezone: unknown): string {
  if (typeof timezone === "string" && timezone.length > 0 && timezone.length <= 64) {
    try {
      return new Intl.DateTimeFormat("en-US", { timeZone: timezone }).resolvedOptions().timeZone;
    } catch {
      // Falls through to the error below.
    }
  }
  throw new TypeError(
    `Cannot use time zone ${
      describe(timezone)
    } in schedule '${id}': use an IANA time zone name such as 'Europe/Berlin' or 'UTC'`,
  );
}

function pick<T extends string>(
  id: string,
  what: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T)) {
    throw new TypeError(
      `Cannot use '${what}' ${describe(value)} in schedule '${id}': use ${
        allowed.map((a) => `'${a}'`).join(" or ")
      }`,
    );
  }
  return value as T;
}

/** The slot rule of a stored spec. */
export function ruleOfSpec(spec: ScheduleSpec): SlotRule {
  return spec.every !== undefined ? everyRule(spec.every) : cronRule(spec.cron!, spec.timezone);
}
