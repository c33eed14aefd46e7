/**
 * The plan graph as SVG: a sequence flows top to bottom; `if`, `parallel`,
 * `loop`, `while` and `map` are boxes holding their branches side by side;
 * every node is coloured by the state derived from the run's history.
 *
 * @module
 */
import { type Html, html } from "./_html.ts";
import type { NodeState, NodeView } from "./_steps.ts";

/** Stroke and fill of each state. */
export const STATE_COLOURS: Record<NodeState, [stroke: string, fill: string]> = {
  done: ["#1f8a4c", "#e8f6ee"],
  running: ["#2f6fde", "#e7effd"],
  failed: ["#c93434", "#fcebeb"],
  waiting: ["#b7791f", "#fdf4e3"],
  sleeping: ["#7a4fd0", "#f1ecfb"],
  pending: ["#8d96a7", "#ffffff"],
  skipped: ["#b8bec9", "#f6f7f9"],
  cancelled: ["#8a8f98", "#f1f2f4"],
};

interface Box {
  w: number;
  h: number;
  draw(x: number, y: number, out: Html[]): void;
}

const LEAF_W = 176;
const LEAF_H = 46;
const GAP_Y = 22;
const GAP_X = 18;
const PAD = 12;
const HEAD = 26;
const EDGE = 16;

function fit(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function leafCaption(v: NodeView): string {
  const n = v.node;
  const parts: string[] = [];
  switch (n.kind) {
    case "sleep":
      parts.push("sleep");
      break;
    case "sleepUntil":
      parts.push("sleep until");
      break;
    case "waitForSignal":
    case "waitForAnySignal":
      parts.push(`wait: ${n.signals.join(" | ")}`);
      break;
    default:
      parts.push(v.state);
  }
  if (v.keys > 1) parts.push(`×${v.keys}`);
  if (n.kind === "step" && v.attempts > v.keys) parts.push(`${v.attempts} attempts`);
  return parts.join(" · ");
}

function leaf(v: NodeView): Box {
  return {
    w: LEAF_W,
    h: LEAF_H,
    draw(x, y, out) {
      const [stroke, fill] = STATE_COLOURS[v.state];
      const round = v.node.kind === "sleep" || v.node.kind === "sleepUntil" ? 22 : 7;
      out.push(html`
        <g class="node n-${v.state}" data-node="${v.node.name}" data-state="${v.state}">
          <title>${v.node.kind} ${v.node.name}: ${v.state}</title>
          <rect x="${x}" y="${y}" width="${LEAF_W}" height="${LEAF_H}" rx="${round}"
            fill="${fill}" stroke="${stroke}" stroke-width="${v.state === "running"
              ? 2.5
              : 1.5}" ${v.state === "pending"
              ? html`
                stroke-dasharray="4 3"
              `
              : ""} />
          <text x="${x + LEAF_W / 2}" y="${y +
            19}" text-anchor="middle" font-size="13" font-weight="600"
            fill="#1c2330">${fit(v.node.name, 22)}</text>
          <text x="${x + LEAF_W / 2}" y="${y + 35}" text-anchor="middle" font-size="11"
            fill="${stroke}">${fit(leafCaption(v), 28)}</text>
        </g>
      `);
    },
  };
}

function arrow(x: number, y1: number, y2: number, out: Html[]): void {
  out.push(
    html`
      <line x1="${x}" y1="${y1}" x2="${x}" y2="${y2 - 5}" stroke="#9aa3b2"
        stroke-width="1.4" />
      <path d="M${x - 4} ${y2 - 6} L${x + 4} ${y2 - 6} L${x} ${y2} Z"
        fill="#9aa3b2" />
    `,
  );
}

function sequence(views: readonly NodeView[]): Box {
  const boxes = views.map(layout);
  if (boxes.length === 0) {
    return {
      w: 60,
      h: 20,
      draw: (x, y, out) =>
        out.push(
          html`<text x="${x + 30}" y="${
            y + 14
          }" text-anchor="middle" font-size="11" fill="#8d96a7">pass</text>`,
        ),
    };
  }
  const w = Math.max(...boxes.map((b) => b.w));
  const h = boxes.reduce((n, b) => n + b.h, 0) + GAP_Y * (boxes.length - 1);
  return {
    w,
    h,
    draw(x, y, out) {
      let top = y;
      boxes.forEach((b, i) => {
        if (i > 0) arrow(x + w / 2, top - GAP_Y, top, out);
        b.draw(x + (w - b.w) / 2, top, out);
        top += b.h + GAP_Y;
      });
    },
  };
}

function title(v: NodeView): string {
  const n = v.node;
  switch (n.kind) {
    case "loop":
      return `loop ${n.name} ×${n.times === "dynamic" ? "n" : n.times}${
        v.keys ? ` · ${iterations(v)} run` : ""
      }`;
    case "while":
      return `while ${n.name}${v.keys ? ` · ${iterations(v)} run` : ""}`;
    case "map":
      return `map ${n.name}${v.keys ? ` · ${iterations(v)} items` : ""}`;
    default:
      return `${n.kind} ${n.name}`;
  }
}

/** Iterations seen: the largest count among the body's leaves. */
function iterations(v: NodeView): number {
  const leaves = (x: NodeView): number[] =>
    x.children.length ? x.children.flatMap(leaves) : [x.keys];
  return Math.max(0, ...leaves(v));
}

function container(v: NodeView): Box {
  const inner = v.children.map((c) =>
    c.node.kind === "flow" ? sequence(c.children) : layout({ ...c, edge: c.edge ?? "" })
  );
  const labelled = v.children.some((c) => c.edge);
  const contentW = inner.reduce((n, b) => n + b.w, 0) + GAP_X * (inner.length - 1);
  const contentH = Math.max(0, ...inner.map((b) => b.h));
  const w = Math.max(contentW + PAD * 2, 150);
  const h = HEAD + (labelled ? EDGE : 0) + contentH + PAD;
  return {
    w,
    h,
    draw(x, y, out) {
      const [stroke, fill] = STATE_COLOURS[v.state];
      out.push(html`
        <g class="group n-${v.state}" data-node="${v.node.name}" data-state="${v.state}">
          <title>${v.node.kind} ${v.node.name}: ${v.state}</title>
          <rect x="${x}" y="${y}" width="${w}" height="${h}" rx="9"
            fill="${fill}" fill-opacity="0.45" stroke="${stroke}" stroke-width="1.3"
            stroke-dasharray="6 3" />
          <text x="${x + 10}" y="${y + 17}" font-size="12" font-weight="700"
            fill="${stroke}">${fit(title(v), Math.floor(w / 7))}</text>
        </g>
      `);
      let left = x + (w - contentW) / 2;
      const top = y + HEAD + (labelled ? EDGE : 0);
      inner.forEach((b, i) => {
        const edge = v.children[i]!.edge;
        if (edge) {
          out.push(
            html`
              <text x="${left + b.w / 2}" y="${top -
                5}" text-anchor="middle" font-size="11" font-style="italic"
                fill="#5d6778">${fit(edge, Math.floor(b.w / 6))}</text>
            `,
          );
        }
        b.draw(left, top, out);
        left += b.w + GAP_X;
      });
    },
  };
}

function layout(v: NodeView): Box {
  if (v.node.kind === "flow") return sequence(v.children);
  return v.children.length > 0 ? container(v) : leaf(v);
}

/** The SVG of a plan with its states; `workflow` labels the start. */
export function planSvg(views: readonly NodeView[], workflow: string): Html {
  const body = sequence(views);
  const margin = 16;
  const cap = 26;
  const w = Math.max(body.w, 200) + margin * 2;
  const h = body.h + cap * 2 + GAP_Y * 2 + margin * 2;
  const out: Html[] = [];
  const cx = w / 2;
  const terminal = (y: number, text: string) =>
    out.push(
      html`
        <rect x="${cx - 70}" y="${y}" width="140" height="${cap}" rx="13" fill="#141a26" />
        <text x="${cx}" y="${y + 17}" text-anchor="middle" font-size="12" font-weight="600"
          fill="#fff">${fit(text, 20)}</text>
      `,
    );
  terminal(margin, workflow);
  const top = margin + cap + GAP_Y;
  arrow(cx, margin + cap, top, out);
  body.draw(margin + (w - margin * 2 - body.w) / 2, top, out);
  arrow(cx, top + body.h, top + body.h + GAP_Y, out);
  terminal(top + body.h + GAP_Y, "end");
  return html`
    <svg class="plan" role="img" aria-label="Plan graph of ${workflow}" width="${w}"
      height="${h}" viewBox="0 0 ${w} ${h}"
      xmlns="http://www.w3.org/2000/svg">${out}</svg>
  `;
}
