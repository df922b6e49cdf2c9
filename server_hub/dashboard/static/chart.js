// A small SVG line chart (no library): time on x, one or more series on y.
// Series differ by dash pattern and marker as well as colour, so they read in black and white.
"use strict";

window.tapChart = function (series, opts) {
  const W = 640, H = 170, L = 54, R = 10, T = 10, B = 26;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", opts.title || "");
  const el = (name, attrs, text) => {
    const n = document.createElementNS(NS, name);
    for (const k in attrs) n.setAttribute(k, attrs[k]);
    if (text !== undefined) n.textContent = text;
    svg.appendChild(n);
    return n;
  };
  const x0 = opts.from, x1 = opts.to;
  const log = !!opts.log;
  const f = (v) => (log ? Math.log10(1 + Math.max(0, v)) : v);
  let vmax = 0;
  for (const s of series) for (const p of s.points) if (p[1] != null) vmax = Math.max(vmax, f(p[1]));
  if (vmax <= 0) vmax = log ? 1 : 1;
  const X = (t) => L + ((t - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => T + (1 - f(v) / vmax) * (H - T - B);
  el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "frame" });
  // y ticks: 0, middle, top
  const ticks = log ? [0, 10, 60, 600, 3600, 86400].filter((v) => f(v) <= vmax * 1.0001)
                    : [0, vmax / 2, vmax];
  for (const v of ticks) {
    const y = log ? T + (1 - f(v) / vmax) * (H - T - B) : Y(v);
    el("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" });
    el("text", { x: L - 4, y: y + 4, class: "tick", "text-anchor": "end" },
       opts.yfmt ? opts.yfmt(v) : String(Math.round(v)));
  }
  // x ticks every 6 h
  const step = 6 * 3600;
  for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) {
    const x = X(t);
    el("line", { x1: x, x2: x, y1: T, y2: H - B, class: "grid" });
    el("text", { x: x, y: H - 8, class: "tick", "text-anchor": "middle" }, HubTime.hm(t));
  }
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => p[1] != null && p[0] >= x0 && p[0] <= x1);
    if (!pts.length) return;
    let d = "";
    pts.forEach((p, j) => {
      const x = X(p[0]).toFixed(1), y = Y(p[1]).toFixed(1);
      if (j === 0) d += `M${x},${y}`;
      else if (s.step) d += `H${x}V${y}`;
      else d += `L${x},${y}`;
    });
    if (s.step && opts.extend !== false) d += `H${X(Math.min(x1, opts.now || x1)).toFixed(1)}`;
    el("path", { d: d, class: "series s" + i, "stroke-dasharray": s.dash || "" });
    for (const p of (pts.length <= 72 ? pts : [])) {
      if (s.marker === "square") {
        el("rect", { x: X(p[0]) - 2, y: Y(p[1]) - 2, width: 4, height: 4, class: "mark s" + i });
      } else if (s.marker === "circle") {
        el("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2.2, class: "mark s" + i });
      }
    }
  });
  // legend
  let lx = L + 6;
  series.forEach((s, i) => {
    el("line", { x1: lx, x2: lx + 22, y1: T + 10, y2: T + 10, class: "series s" + i,
                 "stroke-dasharray": s.dash || "" });
    const t = el("text", { x: lx + 26, y: T + 14, class: "legend" }, s.name);
    lx += 40 + 7 * s.name.length;
  });
  return svg;
};
