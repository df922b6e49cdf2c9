// The fleet's trend (#/trend): records waiting, sync lag p50/p99, stations offline and
// records/s accepted over 1 h / 6 h / 24 h / 7 d, drawn by uPlot (vendor/, MIT, no CDN) in the
// hub's time zone; and the small per-station sparklines of the stations table (sparkline()).
// Data: /dashboard/api/trend (fleet_history: survives hub restarts). Each chart writes the
// labels it drew and its last point into data-x-ticks / data-y-ticks / data-last, so a person
// with a screen reader (and the Chromium tests) can read what the canvas shows.
// Uses app.js's S, t, h, num, dur, clock, api and its TAP_VIEWS hook.
"use strict";

Object.assign(I18N.zh, {
  nav_trend: "全网趋势", tr_title: "全网同步趋势", tr_waiting: "等待同步的记录（条）",
  tr_lag: "同步延迟（点卡到中心）", tr_offline: "离线站点（个）", tr_rate: "中心接收速度（条/秒）",
  tr_at_least: "有站点离线时为下限：离线站点只报告了它最后一次联网时的数量",
  tr_span: "时间范围", tr_no_data: "还没有历史数据（中心每隔几秒记录一次）",
  tr_as_of: "数据截至", tr_res: "每点", tr_records: "条", tr_stations: "个", tr_per_s: "条/秒",
  spark_waiting: "过去 6 小时的等待记录数", spark_lag: "过去 6 小时的 p99 延迟",
  growth_est: "估计现在约 {n} 条（按本站该时段的点卡量）", tr_loading: "正在加载…", tr_failed: "读取失败：",
});
Object.assign(I18N.en, {
  nav_trend: "Fleet trend", tr_title: "Fleet sync trend", tr_waiting: "Records waiting",
  tr_lag: "Sync lag (tap to hub)", tr_offline: "Stations offline", tr_rate: "Records accepted per second",
  tr_at_least: "a lower bound while stations are offline: they reported their queue when last heard",
  tr_span: "Span", tr_no_data: "no history yet (the hub records one point every few seconds)",
  tr_as_of: "data as of", tr_res: "per point", tr_records: "records", tr_stations: "stations",
  tr_per_s: "/s", spark_waiting: "records waiting over the last 6 h",
  spark_lag: "p99 lag over the last 6 h",
  growth_est: "about {n} now (estimated from this station's taps at this hour)",
  tr_loading: "loading…", tr_failed: "could not read: ",
});

const TR = { span: "auto", data: null, key: null, loading: false, error: null, charts: [] };
const TR_SPANS = ["1h", "6h", "24h", "7d"];
// nice steps: counts, and durations in seconds (so a lag axis reads 30 s, 1 min, 5 min, 1 h)
const COUNT_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000,
  1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
  21600, 43200, 86400, 172800, 604800];
const RATE_STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5].concat(COUNT_STEPS);

// [0, top] and the ticks on it: the smallest step that needs at most `most` intervals
function niceAxis(max, steps, most) {
  const m = Math.max(max || 0, steps === RATE_STEPS ? 0.1 : 1);
  let step = steps[steps.length - 1];
  for (const s of steps) { if (m / s <= most) { step = s; break; } }
  const top = Math.ceil(m / step - 1e-9) * step;
  const ticks = [];
  for (let v = 0; v <= top + step / 1e6; v += step) ticks.push(+v.toFixed(6));
  return { top: top, ticks: ticks };
}

// a duration tick exactly (dur() rounds: 90 s would read "2 min" beside 120 s)
function tickDur(v) {
  const sp = S.lang === "zh" ? "" : " ";
  const f = (x) => String(+x.toFixed(1));
  if (v < 120) return f(v) + sp + t("unit_s");
  if (v < 7200) return f(v / 60) + sp + t("unit_min");
  if (v < 172800) return f(v / 3600) + sp + t("unit_h");
  return f(v / 86400) + sp + t("unit_d");
}

function trUnit(kind, v) {
  if (v === null || v === undefined) return "—";
  if (kind === "time") return tickDur(v);
  if (kind === "rate") return (v < 1 ? String(+v.toFixed(2)) : num(Math.round(v * 10) / 10)) + " " + t("tr_per_s");
  return num(v);
}

// x labels in the hub's zone, 24 h clock: "12-08 00:00" where a new day starts, else "13:05";
// days only ("12-07") when the ticks are a day or more apart
function trTimeLabels(u, splits, ai, space, incr) {
  const md = (ts) => { const p = HubTime.parts(ts); return p.mo + "-" + p.d; };
  return splits.map((ts, i) => incr >= 86400 ? md(ts)
    : (i > 0 && HubTime.day(ts) !== HubTime.day(splits[i - 1]) ? md(ts) + " " : "") + HubTime.hm(ts));
}

// one uPlot chart: series [{label, values, dash, color}], axis kind count | time | rate
function trChart(box, title, unitLabel, kind, at, series, range, note) {
  const wrap = h("figure", { class: "trend-chart", "data-chart": title });
  const cap = h("figcaption", {}, title + (unitLabel ? " · " + unitLabel : ""), note || null);
  wrap.appendChild(cap);
  box.appendChild(wrap);
  const steps = kind === "time" ? TIME_STEPS : kind === "rate" ? RATE_STEPS : COUNT_STEPS;
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  const ax = niceAxis(max, steps, 4);
  const zone = HubTime.zone || "UTC";
  const width = Math.max(260, Math.min(760, (wrap.clientWidth || 640) - 14));
  const record = (u) => {
    wrap.dataset.xTicks = (u.axes[0]._values || []).join("|");
    wrap.dataset.yTicks = (u.axes[1]._values || []).join("|");
    wrap.setAttribute("aria-label", title + ": " + wrap.dataset.yTicks);
  };
  const opts = {
    width: width, height: 190, title: "",
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), zone),
    scales: { x: { time: true, range: () => [range[0], range[1]] },
              y: { range: () => [0, ax.top] } },
    axes: [
      { stroke: "#5b6470", grid: { stroke: "#e3e7eb" }, values: trTimeLabels },
      { stroke: "#5b6470", grid: { stroke: "#e3e7eb" }, size: 64,
        splits: () => ax.ticks, values: (u, vals) => vals.map((v) => trUnit(kind, v)) },
    ],
    series: [{ value: (u, ts) => (ts === null ? "—" : HubTime.full(ts)) }].concat(series.map((s) => ({
      label: s.label, stroke: s.color, width: 2, dash: s.dash, spanGaps: false,
      points: { show: at.length <= 90, size: 5, fill: s.color },
      value: (u, v) => trUnit(kind, v) }))),
    legend: { show: true, live: false },
    hooks: { draw: [record] },
  };
  const u = new uPlot(opts, [at].concat(series.map((s) => s.values)), wrap);
  const first = series[0].values;
  let last = null;
  for (let i = first.length - 1; i >= 0; i--) if (first[i] !== null) { last = first[i]; break; }
  wrap.dataset.last = last === null ? "" : String(last);
  wrap.dataset.lastLabel = trUnit(kind, last);
  TR.charts.push(u);
  return u;
}

function trDraw(el) {
  TR.charts.forEach((u) => u.destroy());
  TR.charts = [];
  const d = TR.data;
  // data-as-of: the hub's time of the data drawn (the cached answer is drawn first, then the
  // fresh one), so a reader of the page, a person's script or a test, can tell them apart
  const head = h("div", { class: "trend-head", "data-as-of": d ? String(d.end) : "" },
    h("h2", {}, t("tr_title")),
    h("div", { class: "spans noprint", role: "group", "aria-label": t("tr_span") },
      TR_SPANS.map((s) => h("button", { type: "button", "data-span": s,
        "aria-pressed": String(d && d.span === s),
        onclick: () => { TR.span = s; TR.key = null; trShow(el); } }, s))),
    d ? h("p", { class: "muted as-of" }, t("tr_as_of") + " " + clock(d.end) + " · " +
      t("times_in") + " " + HubTime.label() + " · " + t("tr_res") + " " + dur(d.res_s)) : null);
  el.replaceChildren(head);
  if (TR.error) { el.appendChild(h("p", { class: "error" }, TR.error)); return; }
  if (!d) { el.appendChild(h("p", { class: "muted" }, t("tr_loading"))); return; }
  if (!d.at.length) { el.appendChild(h("p", { class: "muted", id: "trend-empty" }, t("tr_no_data"))); return; }
  const box = h("div", { class: "trend-charts" });
  el.appendChild(box);
  const range = [d.start, d.end];
  const lower = d.waiting_at_least.some((x) => x);
  trChart(box, t("tr_waiting"), t("tr_records"), "count", d.at,
    [{ label: (lower ? "≥ " : "") + t("tr_waiting"), values: d.waiting, color: "#1f4e9c" }], range,
    lower ? h("div", { class: "muted at-least-note" }, "≥ " + t("tr_at_least")) : null);
  trChart(box, t("tr_lag"), "", "time", d.at,
    [{ label: "p50", values: d.lag_p50, color: "#1f4e9c" },
     { label: "p99", values: d.lag_p99, color: "#b3261e", dash: [6, 4] }], range);
  trChart(box, t("tr_offline"), t("tr_stations"), "count", d.at,
    [{ label: t("tr_offline"), values: d.offline, color: "#b3261e" }], range);
  trChart(box, t("tr_rate"), t("tr_per_s"), "rate", d.at,
    [{ label: t("tr_rate"), values: d.accepted_per_s, color: "#1e6b34" }], range);
}

async function trLoad(el) {
  const key = TR.span + "@" + (S.stamp || 0);
  if (TR.loading || TR.key === key) return;
  TR.loading = true;
  try {
    TR.data = await api("/dashboard/api/trend?span=" + encodeURIComponent(TR.span));
    TR.error = null;
    TR.key = key;
  } catch (err) {
    TR.error = t("tr_failed") + String(err.message || err);
  } finally { TR.loading = false; }
  if (location.hash.startsWith("#/trend")) trDraw(el);
}

function trShow(el) {
  if (!el.querySelector(".trend-head")) trDraw(el);
  trLoad(el);
}

// A station page's history (fleet.history: samples of the last 24 h) as the fleet trend's
// charts: records waiting, lag p50/p99; the span is the shortest of 1 h / 6 h / 24 h that
// holds the samples, so fresh data is not squeezed against the right edge.
const ST_CHARTS = [];
function stationCharts(hist, now) {
  ST_CHARTS.splice(0).forEach((u) => u.destroy());
  const box = h("div", { class: "trend-charts station-charts" });
  if (!hist.length) return box;
  const age = now - hist[0].at;
  const span = age <= 3600 ? 3600 : age <= 6 * 3600 ? 6 * 3600 : 86400;
  const at = hist.map((x) => x.at).concat([now]);
  const lastOf = (xs) => xs.concat([xs[xs.length - 1]]);   // the queue holds until now
  const lag = (k) => hist.map((x) => (x.lag_n ? x[k] : null)).concat([null]);
  const before = TR.charts.length;
  trChart(box, t("tr_waiting"), t("tr_records"), "count", at,
    [{ label: t("tr_waiting"), values: lastOf(hist.map((x) => x.backlog)), color: "#1f4e9c" }],
    [now - span, now]);
  trChart(box, t("tr_lag"), "", "time", at,
    [{ label: "p50", values: lag("lag_p50"), color: "#1f4e9c" },
     { label: "p99", values: lag("lag_p99"), color: "#b3261e", dash: [6, 4] }], [now - span, now]);
  ST_CHARTS.push(...TR.charts.splice(before));
  return box;
}

// A 6 h sparkline for the stations table: values at equal steps, null where unknown.
function sparkline(values, label, kind) {
  const pts = (values || []).map((v, i) => [i, v]).filter((p) => p[1] !== null && p[1] !== undefined);
  if (!pts.length) return null;
  const W = 96, H = 22, n = Math.max(1, values.length - 1);
  const max = Math.max(1, ...pts.map((p) => p[1]));
  const X = (i) => (i / n) * (W - 4) + 2, Y = (v) => H - 2 - (v / max) * (H - 4);
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "spark spark-" + kind);
  svg.setAttribute("role", "img");
  const last = pts[pts.length - 1][1];
  svg.setAttribute("aria-label", label + ": " + (kind === "lag" ? dur(last) : num(last)));
  svg.dataset.last = String(last);
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("points", pts.map((p) => X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1)).join(" "));
  svg.appendChild(line);
  const dot = document.createElementNS(NS, "circle");
  dot.setAttribute("cx", X(pts[pts.length - 1][0]).toFixed(1));
  dot.setAttribute("cy", Y(last).toFixed(1));
  dot.setAttribute("r", "2");
  svg.appendChild(dot);
  return svg;
}

window.TAP_VIEWS = window.TAP_VIEWS || {};
TAP_VIEWS.trend = { render: (el) => trShow(el) };
