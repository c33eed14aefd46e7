/**
 * The frame of every dashboard page: the top bar with its navigation (one
 * entry per page in {@linkcode NAV}), the inlined stylesheet and script under
 * the response's nonce, and the `<main>` that live updates replace.
 *
 * @module
 */
import { SCRIPT, STYLE } from "./_assets.ts";
import { type Html, html, makeNonce, pageHeaders, raw } from "./_html.ts";

/** One entry of the top navigation. */
export interface NavItem {
  /** Path under the dashboard's base, e.g. `/` or `/schedules`. */
  path: string;
  /** The link text. */
  label: string;
}

/** The navigation; a new page is one entry here and one route in `dashboard.ts`. */
export const NAV: readonly NavItem[] = [
  { path: "/", label: "Runs" },
  { path: "/schedules", label: "Schedules" },
  { path: "/workers", label: "Workers" },
];

/** What a page needs to render. */
export interface PageOptions {
  /** The dashboard's base path (no trailing slash), for links. */
  base: string;
  /** The `<title>`. */
  title: string;
  /** The active navigation path. */
  active?: string;
  /** The Server-Sent Events URL this page refreshes from. */
  live?: string;
  /** The content of `<main>`. */
  body: Html;
  /** The HTTP status. */
  status?: number;
}

/** Renders a page as a response with its CSP. */
export function renderPage(options: PageOptions): Response {
  const nonce = makeNonce();
  const nav = NAV.map((item) =>
    html`<a href="${options.base}${item.path}" class="${
      item.path === options.active ? "on" : ""
    }">${item.label}</a>`
  );
  const page = html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>${options.title} · Sluice</title>
        <style nonce="${nonce}">${raw(STYLE)}</style>
      </head>
      <body>
        <header
          class="top"><a class="brand" href="${options
            .base}/">Sluice</a><nav>${nav}</nav>${options.live
            ? html`<span id="live" class="live">connecting…</span>`
            : ""}</header>
        <main${options.live
          ? html`
            data-live="${options.live}"
          `
          : ""}>${options.body}</main>
    <script nonce="${nonce}">${raw(SCRIPT)}</script></body></html>
  `;
  return new Response(page.text, { status: options.status ?? 200, headers: pageHeaders(nonce) });
}

/** The HTML page for an unknown path or a missing run. */
export function notFoundPage(base: string, what: string): Response {
  return renderPage({
    base,
    title: "Not found",
    status: 404,
    body: html`
      <div class="card empty">
        <h1>Not found</h1>
        <p>${what}</p>
        <p><a href="${base}/">Back to the runs</a></p>
      </div>
    `,
  });
}
