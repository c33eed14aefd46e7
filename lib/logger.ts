/**
 * Attributes attached to a log record.
 *
 * @example Log from a step with extra attributes
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, type LogAttributes, type Logger, workflow } from "@sluice/sluice";
 *
 * const records: LogAttributes[] = [];
 * const keep = (_message: string, attributes: LogAttributes = {}) => void records.push(attributes);
 * const logger: Logger = { debug: keep, info: keep, warn: keep, error: keep };
 * const wf = workflow<number>("pay").step("charge", (cents, ctx) => {
 *   ctx.log.info("charging", { cents });
 *   return cents;
 * });
 * await using runner = new LocalRunner({ logger });
 * await runner.run(wf, 500, { id: "pay-1" });
 * assert.deepEqual(records, [
 *   { runId: "pay-1", workflow: "pay", step: "charge", attempt: 1, cents: 500 },
 * ]);
 * ```
 */
export type LogAttributes = Record<string, unknown>;

/**
 * What Sluice logs through. Implement it to forward to any logging library;
 * Sluice is silent unless given one.
 *
 * @example Forward to an array
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Logger } from "@sluice/sluice";
 *
 * const lines: string[] = [];
 * const logger: Logger = {
 *   debug: (m) => lines.push(`debug ${m}`),
 *   info: (m) => lines.push(`info ${m}`),
 *   warn: (m) => lines.push(`warn ${m}`),
 *   error: (m) => lines.push(`error ${m}`),
 * };
 * logger.info("hello");
 * assert.deepEqual(lines, ["info hello"]);
 * ```
 */
export interface Logger {
  /** Detail for debugging. */
  debug(message: string, attributes?: LogAttributes): void;
  /** Normal progress. */
  info(message: string, attributes?: LogAttributes): void;
  /** Something unexpected that Sluice handled. */
  warn(message: string, attributes?: LogAttributes): void;
  /** A failure. */
  error(message: string, attributes?: LogAttributes): void;
}

/**
 * Log levels from most to least verbose.
 *
 * @example Write warnings and errors only
 * ```ts
 * import assert from "node:assert/strict";
 * import { consoleLogger, type LogLevel } from "@sluice/sluice";
 *
 * const level: LogLevel = "warn";
 * const logger = consoleLogger(level);
 * const written: unknown[] = [];
 * const { log, warn } = console;
 * console.log = console.warn = (line: unknown) => void written.push(line);
 * try {
 *   logger.info("not written");
 *   logger.warn("disk almost full");
 * } finally {
 *   Object.assign(console, { log, warn });
 * }
 * assert.deepEqual(written, ["[sluice] warn disk almost full"]);
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

const levels: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * A logger that drops everything (the default).
 *
 * @example The default logger
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalRunner, silentLogger, workflow } from "@sluice/sluice";
 *
 * silentLogger.info("nobody hears this");
 * await using runner = new LocalRunner({ logger: silentLogger });
 * assert.equal(await runner.run(workflow<number>("quiet").step("a", (n) => n), 1), 1);
 * ```
 */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/**
 * A logger that writes records at `level` or above to the console.
 *
 * @param level The least severe level written.
 * @returns The logger.
 *
 * @example Log warnings and errors to the console
 * ```ts
 * import assert from "node:assert/strict";
 * import { consoleLogger, LocalRunner, type LogLevel } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner({ logger: consoleLogger("warn") });
 * assert.throws(() => consoleLogger("loud" as LogLevel), RangeError);
 * ```
 */
export function consoleLogger(level: LogLevel = "info"): Logger {
  if (!(level in levels)) {
    throw new RangeError(`Cannot use log level '${level}': use debug, info, warn or error`);
  }
  const min = levels[level];
  const write = (at: LogLevel, message: string, attributes?: LogAttributes) => {
    if (levels[at] < min) return;
    const line = `[sluice] ${at} ${message}`;
    const sink = at === "error" ? console.error : at === "warn" ? console.warn : console.log;
    if (attributes && Object.keys(attributes).length > 0) sink(line, attributes);
    else sink(line);
  };
  return {
    debug: (message, attributes) => write("debug", message, attributes),
    info: (message, attributes) => write("info", message, attributes),
    warn: (message, attributes) => write("warn", message, attributes),
    error: (message, attributes) => write("error", message, attributes),
  };
}
