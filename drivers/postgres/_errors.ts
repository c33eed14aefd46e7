/**
 * Turns database failures into `StorageError`s that never carry credentials.
 *
 * @module
 */
import { SluiceError, StorageError } from "../../lib/errors.ts";

/** Strings to hide from every error: the password in its raw and encoded forms. */
export function secretsOf(url: string | undefined, password: unknown): string[] {
  const secrets = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value === "string" && value.length > 0) {
      secrets.add(value);
      try {
        secrets.add(decodeURIComponent(value));
      } catch {
        // not percent-encoded
      }
      secrets.add(encodeURIComponent(value));
    }
  };
  add(password);
  if (url !== undefined) {
    try {
      add(new URL(url).password);
    } catch {
      // an unparsable URL: postgres.js reports it without the password
    }
    const match = /^[a-z]+:\/\/[^:@/]*:([^@/]*)@/i.exec(url);
    if (match) add(match[1]);
  }
  return [...secrets].sort((a, b) => b.length - a.length);
}

/** Replaces every secret in a text. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("***");
  return out;
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "57P01",
  "57P02",
  "57P03",
]);

/**
 * Whether a `StorageError` made by {@linkcode toStorageError} says PostgreSQL
 * refused the statement (so it wrote nothing), rather than the connection
 * failing (when a commit may or may not have happened).
 */
export function isRefusedStatement(error: unknown): boolean {
  if (!(error instanceof StorageError)) return false;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith("08") &&
    !CONNECTION_CODES.has(code);
}

/**
 * Wraps a failure of `what` (e.g. "read run 'r-1'") in a `StorageError`, with a
 * cause that keeps the name, code and message of the original error, redacted;
 * a connection failure is marked `transient`.
 * Sluice errors pass through unchanged.
 */
export function toStorageError(what: string, error: unknown, secrets: readonly string[]): Error {
  if (error instanceof SluiceError) return error;
  const original = error instanceof Error ? error : new Error(String(error));
  const rawCode = (original as { code?: unknown }).code;
  const code = typeof rawCode === "string" ? rawCode : undefined;
  const message = redact(original.message, secrets);
  const cause = new Error(message);
  cause.name = redact(original.name, secrets);
  cause.stack = `${cause.name}: ${message}`;
  if (code !== undefined) Object.defineProperty(cause, "code", { value: code, enumerable: true });
  const transient = code !== undefined && CONNECTION_CODES.has(code);
  const advice = transient
    ? "check that PostgreSQL is running and reachable at the configured address, then retry"
    : "check the database logs and that the schema is migrated, then retry";
  return new StorageError(
    `Cannot ${what} as PostgreSQL failed${code ? ` with ${code}` : ""} ('${message}'): ${advice}`,
    { cause, transient },
  );
}
