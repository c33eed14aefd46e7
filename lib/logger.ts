/**
 * Attributes attached to a log record.
 *
 * @example Log from a step with extra attributes
 * ```ts
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
 * console.log(records);
 * // [ { runId: "pay-1", workflow: "pay", step: "charge", attempt: 1, cents: 500 } ]
 * ```
 */
export type LogAttributes = Record<string, unknown>;

/**
 * What Sluice logs through. Implement it to forward to any logging library;
 * Sluice is silent unless given one.
 *
 * @example Forward to an array
 * ```ts
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
 * import { consoleLogger, type LogLevel } from "@sluice/sluice";
 *
 * const level: LogLevel = "warn";
 * const logger = consoleLogger(level);
 * logger.info("not written");
 * logger.warn("disk almost full"); // "[sluice] warn disk almost full"
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

const levels: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * A logger that drops everything (the default).
 *
 * @example
 * ```ts
 * import { silentLogger } from "@sluice/sluice";
 *
 * silentLogger.info("nobody hears this");
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
 * @example
 * ```ts
 * import { consoleLogger, LocalRunner } from "@sluice/sluice";
 *
 * await using runner = new LocalRunner({ logger: consoleLogger("warn") });
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
