// A stacked bar chart in SVG, drawn by hand: one bar per time bucket, one colour per group.
import { h, svg } from "./dom.js";
import { money } from "./format.js";

export const PALETTE = ["#3b6ee8", "#e8743b", "#19a979", "#ed4a7b", "#945ecf", "#13a4b4", "#c9a400", "#6f7d8c"];
const W = 720;
const H = 260;
const PAD = { left: 56, right: 8, top: 12, bottom: 28 };

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((s) => s * power >= value);
  return step * power;
}

function label(startIso, interval) {
  return interval === "hour" ? startIso.slice(11, 16) : startIso.slice(5, 10);
}

// report: the /spend/report answer; metric: "spend" | "requests" | "images"
export function stackedBars(report, metric, title) {
  const groups = report.groups.slice(0, PALETTE.length - 1);
  const other = report.groups.length > groups.length ? "other" : null;
  const colour = (g) => PALETTE[groups.indexOf(g)] ?? PALETTE[PALETTE.length - 1];
  const stacks = report.buckets.map((b) => {
    const parts = [];
    let otherValue = 0;
    for (const [g, amounts] of Object.entries(b.groups)) {
      if (groups.includes(g)) parts.push([g, amounts[metric]]);
      else otherValue += amounts[metric];
    }
    parts.sort((a, z) => groups.indexOf(a[0]) - groups.indexOf(z[0]));
    if (otherValue) parts.push([other, otherValue]);
    return { bucket: b, parts, total: parts.reduce((s, [, v]) => s + v, 0) };
  });
  const max = niceMax(Math.max(0, ...stacks.map((s) => s.total)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, stacks.length);
  const barW = Math.max(1, slot * 0.75);
  const fmt = (v) => (metric === "spend" ? money(v) : String(Math.round(v * 100) / 100));
  const tickText = (v) => (metric === "spend" ? `$${Number(v.toPrecision(3))}` : fmt(v));
  const gridLines = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = PAD.top + plotH * (1 - f);
    return [
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }),
      svg("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, tickText(max * f)),
    ];
  });
  const labelEvery = Math.ceil(stacks.length / 12);
  const bars = stacks.map((s, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    let y = PAD.top + plotH;
    const rects = s.parts.map(([g, v]) => {
      const hgt = (v / max) * plotH;
      y -= hgt;
      return svg(
        "rect",
        { x, y, width: barW, height: Math.max(0, hgt), fill: colour(g), class: "bar" },
        svg("title", {}, `${s.bucket.start_iso} · ${g}: ${fmt(v)}`),
      );
    });
    const tick =
      i % labelEvery === 0
        ? svg("text", { x: x + barW / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, label(s.bucket.start_iso, report.interval))
        : null;
    return [rects, tick];
  });
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart" },
    svg("title", {}, title),
    gridLines,
    bars,
  );
  const legend = h(
    "ul",
    { class: "legend", "aria-label": "Legend" },
    [...groups, ...(other ? [other] : [])].map((g) =>
      h("li", {}, h("span", { class: `swatch c${PALETTE.indexOf(colour(g))}`, "aria-hidden": "true" }), g),
    ),
  );
  return h("figure", { class: "chart-box" }, chart, legend);
}
