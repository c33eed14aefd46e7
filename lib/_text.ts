/** Text checks shared by the builder and the runtime. */

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Whether text holds characters that some databases cannot store: control
 * characters, or a lone UTF-16 surrogate (half of an emoji cut by `slice`),
 * which is not valid Unicode (PostgreSQL refuses it in `jsonb` and UTF-8 text).
 */
export function hasControlCharacters(text: string): boolean {
  return CONTROL.test(text) || !text.isWellFormed();
}

/** Describes what {@linkcode hasControlCharacters} refuses, for error messages. */
export const CONTROL_CHARACTERS = "control characters or lone surrogates";
