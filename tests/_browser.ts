/**
 * Finds the headless Chromium the browser tests drive (Debian's `chromium`,
 * or `$SLUICE_CHROMIUM`). Under `CI=true` a missing browser is an error;
 * elsewhere the browser tests are skipped with a notice.
 */
import { existsSync } from "node:fs";

/** The browser's path, or undefined (with a printed notice) to skip. */
export function findChromium(): string | undefined {
  const candidates = [
    Deno.env.get("SLUICE_CHROMIUM"),
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (found) return found;
  if (Deno.env.get("CI") === "true") {
    throw new Error(
      "Cannot run the browser tests under CI: no Chromium found (install Debian's 'chromium' or set SLUICE_CHROMIUM)",
    );
  }
  console.warn(
    "%cSkipping the dashboard browser tests: no Chromium found (apt-get install chromium, or set SLUICE_CHROMIUM)",
    "color: #b7791f",
  );
  return undefined;
}

/** Where screenshots go (git-ignored). */
export const SCREENSHOTS: string = new URL("./_screenshots/", import.meta.url).pathname;
