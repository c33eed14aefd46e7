/** Text checks shared by the builder and the runtime. */

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** Whether text holds control characters (which some databases cannot store). */
export function hasControlCharacters(text: string): boolean {
  return CONTROL.test(text);
}
