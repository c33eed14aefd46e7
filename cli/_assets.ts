/**
 * The dashboard's one stylesheet and one script, inlined in every page under
 * the page's CSP nonce (no build step, no CDN, nothing fetched).
 *
 * @module
 */

/** The stylesheet. */
export const STYLE = `
:root{--fg:#1c2330;--muted:#5d6778;--line:#e3e7ee;--bg:#f6f8fb;--card:#fff;--accent:#2f5bd3;
--done:#1f8a4c;--failed:#c93434;--running:#2f6fde;--waiting:#b7791f;--sleeping:#7a4fd0;--pending:#6b7587;--paused:#a05a2c;--cancelled:#8a8f98}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans","DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header.top{background:#141a26;color:#fff;padding:0 24px;display:flex;align-items:center;gap:28px;height:52px}
header.top .brand{font-weight:700;font-size:16px;letter-spacing:.02em;color:#fff}
header.top nav a{color:#c8d0e0;margin-right:18px;padding:16px 0;border-bottom:2px solid transparent}
header.top nav a.on{color:#fff;border-bottom-color:#6f93ff}
header.top .live{margin-left:auto;font-size:12px;color:#9aa6bd}
header.top .live.on::before{content:"";display:inline-block;width:8px;height:8px;border-radius:50%;background:#3ccf7a;margin-right:6px}
main{max-width:1280px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:15px;margin:0 0 12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin-bottom:18px}
.sub{color:var(--muted)}.mono,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:#f3f5f9;border:1px solid var(--line);border-radius:6px;padding:10px 12px;overflow:auto;max-height:420px;margin:6px 0 0;white-space:pre-wrap;word-break:break-word}
table.runs{width:100%;border-collapse:collapse;background:var(--card)}
table.runs th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);text-align:left;font-weight:600;padding:9px 12px;border-bottom:1px solid var(--line);background:#fafbfd;white-space:nowrap}
table.runs td{padding:9px 12px;border-bottom:1px solid var(--line);vertical-align:top}
table.runs tr:hover td{background:#f8faff}
td.id a{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;white-space:nowrap}
td.id{max-width:280px;overflow:hidden;text-overflow:ellipsis}td.step{max-width:220px}
td.err{color:var(--failed);max-width:240px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
td.num{white-space:nowrap;color:var(--muted)}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;border:1px solid currentColor;background:#fff;white-space:nowrap}
.s-completed,.s-done{color:var(--done)}.s-failed{color:var(--failed)}.s-running{color:var(--running)}
.s-waiting{color:var(--waiting)}.s-sleeping{color:var(--sleeping)}.s-pending{color:var(--pending)}.s-paused{color:var(--paused)}.s-cancelled,.s-skipped{color:var(--cancelled)}
.chip{display:inline-block;background:#eef2f8;border:1px solid #dde3ee;color:#334;border-radius:4px;padding:0 6px;margin:0 4px 3px 0;font-size:12px;font-family:ui-monospace,Menlo,Consolas,monospace;max-width:260px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:top}
form.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end;margin-bottom:16px}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:3px}
input,select,textarea{font:inherit;padding:6px 8px;border:1px solid #cdd4e0;border-radius:6px;background:#fff;color:var(--fg)}
textarea{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;width:100%;min-height:64px}
button,.button{font:inherit;font-weight:600;padding:6px 14px;border-radius:6px;border:1px solid #c4cddd;background:#fff;color:var(--fg);cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.danger{color:var(--failed);border-color:#e7b4b4}
button:disabled{opacity:.5;cursor:default}
.pager{display:flex;gap:14px;margin-top:14px;align-items:center}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:10px 24px}
.grid div span{display:block;font-size:12px;color:var(--muted)}
.head{display:flex;align-items:center;gap:12px;flex-wrap:wrap}
.actions{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.actions form{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-end}
.actions form label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:3px}
.flash{padding:8px 12px;border-radius:6px;margin:0 0 14px;background:#fdecec;color:var(--failed);border:1px solid #f3c2c2}
.flash.ok{background:#eaf7ef;color:var(--done);border-color:#bfe5cc}
.error-box{border-left:4px solid var(--failed);padding:4px 0 4px 12px;margin-bottom:10px}
.error-box .name{font-weight:700;color:var(--failed)}
.cause{margin-left:18px;border-left:2px dashed #e5b5b5;padding-left:12px;margin-top:8px}
details{border-top:1px solid var(--line);padding:6px 0}details:first-of-type{border-top:0}
summary{cursor:pointer;font-weight:600}summary .sub{font-weight:400;margin-left:8px}
svg text{font-family:-apple-system,"Segoe UI",Roboto,Arial,"Liberation Sans","DejaVu Sans",sans-serif}
.svgwrap{overflow-x:auto}
.empty{color:var(--muted);padding:26px;text-align:center}
table.events{width:100%;border-collapse:collapse}table.events td,table.events th{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;font-size:12.5px;vertical-align:top}
table.events th{color:var(--muted);font-weight:600}
.grid2{display:grid;grid-template-columns:minmax(0,auto) minmax(340px,1fr);gap:18px;align-items:start}
.grid2>.card{margin-bottom:0;min-width:0}.grid2{margin-bottom:18px}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
.msg{margin:4px 0;white-space:pre-wrap;word-break:break-word}
.card.flush{padding:0;overflow-x:auto}
.lg-completed{background:#1f8a4c}.lg-failed{background:#c93434}.lg-open{background:#2f6fde}.lg-sleeping{background:#7a4fd0}.lg-waiting{background:#b7791f}.lg-paused{background:#a05a2c}.lg-pending{background:#a3acbb}
.legend{display:flex;gap:14px;font-size:12px;color:var(--muted);margin-top:6px;flex-wrap:wrap}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
`;

/**
 * The script: actions (POST with the CSRF header, errors shown in the page),
 * and live refresh (an EventSource on the page's `data-live` URL; each notice
 * re-reads the page and swaps its `<main>`, keeping open `<details>`).
 */
export const SCRIPT = `(() => {
const main = () => document.querySelector("main");
function flash(text, ok) {
  let box = document.getElementById("flash");
  if (!box) { box = document.createElement("p"); box.id = "flash"; main().prepend(box); }
  box.className = ok ? "flash ok" : "flash";
  box.textContent = text;
}
let refreshing = false, again = false;
async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    const response = await fetch(location.href, { headers: { accept: "text/html" } });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const next = doc.querySelector("main");
    if (!next) return;
    const open = new Set([...document.querySelectorAll("details[open][id]")].map((d) => d.id));
    const closed = new Set([...document.querySelectorAll("details[id]:not([open])")].map((d) => d.id));
    const kept = {};
    for (const el of document.querySelectorAll("main [data-keep][data-dirty]")) kept[el.id] = el.value;
    const flashBox = document.getElementById("flash");
    main().replaceWith(next);
    for (const d of next.querySelectorAll("details[id]")) {
      if (open.has(d.id)) d.open = true; else if (closed.has(d.id)) d.open = false;
    }
    for (const [id, value] of Object.entries(kept)) {
      const el = document.getElementById(id);
      if (el) { el.value = value; el.dataset.dirty = "1"; }
    }
    if (flashBox) next.prepend(flashBox);
    document.dispatchEvent(new CustomEvent("sluice:refreshed"));
  } finally {
    refreshing = false;
    if (again) { again = false; refresh(); }
  }
}
document.addEventListener("input", (event) => {
  if (event.target.dataset && "keep" in event.target.dataset) event.target.dataset.dirty = "1";
});
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-action]");
  if (!form) return;
  event.preventDefault();
  if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
  const body = {};
  for (const [key, value] of new FormData(form)) body[key] = value;
  if ("payload" in body) {
    const text = String(body.payload).trim();
    if (text === "") delete body.payload;
    else {
      try { body.payload = JSON.parse(text); }
      catch { flash("The payload must be JSON, e.g. {\\"approved\\": true} or \\"yes\\""); return; }
    }
  }
  for (const b of form.querySelectorAll("button")) b.disabled = true;
  try {
    const response = await fetch(form.dataset.action, {
      method: "POST",
      headers: { "content-type": "application/json", "x-sluice-action": "1" },
      body: JSON.stringify(body),
    });
    const out = await response.json().catch(() => ({}));
    if (!response.ok) flash((out.error && out.error.message) || ("The action failed (" + response.status + ")"));
    else if (out.location) location.assign(out.location);
    else { flash(form.dataset.done || "Done", true); await refresh(); }
  } catch (error) {
    flash("The action failed: " + error.message);
  } finally {
    for (const b of document.querySelectorAll("form[data-action] button")) b.disabled = false;
  }
});
const live = main() && main().dataset.live;
const dot = document.getElementById("live");
if (live && window.EventSource) {
  const source = new EventSource(live);
  let timer;
  source.addEventListener("open", () => { if (dot) { dot.className = "live on"; dot.textContent = "live"; } });
  source.addEventListener("error", () => { if (dot) { dot.className = "live"; dot.textContent = "reconnecting…"; } });
  source.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(refresh, 60); });
}
})();`;
