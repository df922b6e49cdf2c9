// District statistics (#/stats): accounts, active learners, credits by month (a uPlot bar
// chart, vendor/), by course category, station, learner type and organisation (bars drawn as
// table rows), points issued and redeemed, for a period of the hub's days; CSV download.
// Data: /api/v1/stats (admin, operator; a station administrator's token gets its stations).
// The chart writes the labels it drew into data-x-ticks / data-y-ticks like trend.js, so a
// screen reader (and the Chromium test) can read what the canvas shows.
// Uses app.js's S, t, h, num, logout, TAP_VIEWS and trend.js's niceAxis / COUNT_STEPS.
"use strict";

Object.assign(I18N.zh, {
  nav_stats: "全区统计", st_title: "全区学分统计", st_since: "起始日", st_until: "截止日（不含）",
  st_show: "查询", st_csv: "下载 CSV", st_loading: "正在加载…", st_failed: "无法读取：",
  st_accounts: "学习账户", st_opened: "期间新开 {n}", st_active: "活跃学习者",
  st_active_help: "期间内刷卡或获得学分", st_credits: "学分", st_entries: "{n} 条记账",
  st_points_issued: "发放积分", st_points_rate: "按 1 学分 = {r} 积分", st_points_redeemed: "兑换积分",
  st_redemptions: "{n} 次兑换", st_by_month: "每月学分", st_axis_credits: "学分",
  st_axis_month: "月份", st_by_category: "按课程类别", st_by_station: "按站点",
  st_by_type: "按学习者类型", st_by_organisation: "按组织", st_col_name: "名称",
  st_col_credits: "学分", st_col_learners: "获学分人数", st_none: "此期间没有学分",
  st_zone: "日期按中心时区 {z}", st_scope: "仅含您的站点：{s}",
});
Object.assign(I18N.en, {
  nav_stats: "District statistics", st_title: "District credit statistics", st_since: "From",
  st_until: "Until (excluded)", st_show: "Show", st_csv: "Download CSV", st_loading: "loading…",
  st_failed: "Could not load: ", st_accounts: "Learning accounts", st_opened: "{n} opened in the period",
  st_active: "Active learners", st_active_help: "tapped or credited in the period",
  st_credits: "Credits", st_entries: "{n} ledger entries", st_points_issued: "Points issued",
  st_points_rate: "at 1 credit = {r} points", st_points_redeemed: "Points redeemed",
  st_redemptions: "{n} redemptions", st_by_month: "Credits per month", st_axis_credits: "credits",
  st_axis_month: "month", st_by_category: "By course category", st_by_station: "By station",
  st_by_type: "By learner type", st_by_organisation: "By organisation", st_col_name: "Name",
  st_col_credits: "Credits", st_col_learners: "Learners credited", st_none: "no credits in this period",
  st_zone: "days in the hub's time zone {z}", st_scope: "your stations only: {s}",
});

const ST = { since: null, until: null, data: null, error: null, loading: false, key: null, chart: null };
const stFill = (tpl, v) => tpl.replace(/\{(\w+)\}/g, (_, k) => (v[k] === undefined ? "?" : v[k]));

function stDefaults() {   // the last twelve months, whole months, in the hub's days
  const today = HubTime.day(Date.now() / 1000).split("-").map(Number);
  const pad = (n) => String(n).padStart(2, "0");
  let y = today[0], m = today[1] + 1;
  if (m > 12) { y += 1; m = 1; }
  ST.until = y + "-" + pad(m) + "-01";
  ST.since = (y - 1) + "-" + pad(m) + "-01";
}

async function stFetch(csv) {
  const qs = new URLSearchParams({ since: ST.since, until: ST.until });
  if (csv) qs.set("format", "csv");
  const resp = await fetch("/api/v1/stats?" + qs, { headers: { Authorization: "Bearer " + S.token } });
  if (resp.status === 401) { logout(); throw new Error("401"); }
  if (!resp.ok) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return resp;
}

async function stLoad() {
  ST.loading = true;
  try {
    ST.data = await (await stFetch(false)).json();
    HubTime.setZone(ST.data.time_zone);
    ST.error = null;
  } catch (err) {
    ST.data = null;
    ST.error = String(err.message || err);
  }
  ST.loading = false;
  ST.key = null;
  const el = document.getElementById("ext-view");
  if (extView() === "stats" && el) stShow(el);
}

async function stDownload() {
  const url = URL.createObjectURL(await (await stFetch(true)).blob());
  const a = h("a", { href: url, download: "tapcert-stats-" + ST.since + "-" + ST.until + ".csv", hidden: "" });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

const stName = (r) => (S.lang === "zh" ? r.name.zh : r.name.en);
const stNum = (v) => num(Math.round(v * 1000) / 1000);

function stCard(id, label, value, note) {
  return h("div", { class: "card", id: id }, h("div", { class: "label" }, label),
    h("div", { class: "value" }, value), note ? h("div", { class: "muted" }, note) : null);
}

function stBars(dim, rows, title) {   // one table per breakdown, a bar per row
  const top = Math.max(...rows.map((r) => r.credits), 0) || 1;
  const learners = dim === "organisation";
  return h("section", { class: "stats-part" }, h("h3", {}, t(title)),
    h("table", { class: "detail stats-bars", id: "stats-" + dim },
      h("thead", {}, h("tr", {}, h("th", {}, t("st_col_name")), h("th", {}, t("st_col_credits")),
        learners ? h("th", {}, t("st_col_learners")) : null)),
      h("tbody", {}, rows.length ? rows.map((r) => h("tr", { "data-key": r.key },
        h("td", { "data-col": "name" }, stName(r)),
        h("td", { "data-col": "credits" }, h("span", { class: "bar", style:
          "display:inline-block;height:.8em;margin-right:.4em;background:#1f4e9c;width:" +
          Math.round(120 * Math.max(r.credits, 0) / top) + "px" }), stNum(r.credits)),
        learners ? h("td", { "data-col": "learners" }, num(r.learners)) : null))
        : h("tr", {}, h("td", { colspan: learners ? 3 : 2, class: "muted" }, t("st_none"))))));
}

function stChart(box, rows) {   // credits per month: bars on month indices, months as labels
  const wrap = h("figure", { class: "trend-chart stats-chart", id: "stats-month-chart" },
    h("figcaption", {}, t("st_by_month") + " · " + t("st_axis_credits")));
  box.appendChild(wrap);
  const months = rows.map((r) => r.key), idx = rows.map((r, i) => i);
  const ax = niceAxis(Math.max(...rows.map((r) => r.credits), 0), COUNT_STEPS, 4);
  const record = (u) => {
    wrap.dataset.xTicks = (u.axes[0]._values || []).join("|");
    wrap.dataset.yTicks = (u.axes[1]._values || []).join("|");
    wrap.setAttribute("aria-label", t("st_by_month") + ": " + rows.map((r) => r.key + " " + r.credits).join(", "));
  };
  const opts = {
    width: Math.max(260, Math.min(760, (wrap.clientWidth || 640) - 14)), height: 210,
    scales: { x: { time: false, range: () => [-0.5, months.length - 0.5] }, y: { range: () => [0, ax.top] } },
    axes: [
      { stroke: "#5b6470", grid: { show: false }, label: t("st_axis_month"), splits: () => idx,
        values: (u, vals) => vals.map((v) => months[v] || "") },
      { stroke: "#5b6470", grid: { stroke: "#e3e7eb" }, size: 64, label: t("st_axis_credits"),
        splits: () => ax.ticks, values: (u, vals) => vals.map((v) => num(v)) },
    ],
    series: [{ value: (u, v) => (v === null ? "—" : months[v]) },
      { label: t("st_axis_credits"), stroke: "#1f4e9c", fill: "#1f4e9c99", width: 1,
        paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false },
        value: (u, v) => stNum(v) }],
    legend: { show: false },
    hooks: { draw: [record] },
  };
  if (ST.chart) ST.chart.destroy();
  ST.chart = new uPlot(opts, [idx, rows.map((r) => r.credits)], wrap);
}

function stShow(el) {
  if (!ST.since) stDefaults();
  const key = [S.lang, ST.since, ST.until, ST.loading, ST.data ? 1 : 0, ST.error].join("|");
  if (ST.key === key) return;
  if (!ST.data && !ST.error && !ST.loading) { stLoad(); }
  ST.key = key;
  const input = (id, value) => h("input", { type: "date", id: id, value: value, required: "" });
  const form = h("form", { class: "filters noprint", id: "stats-period", onsubmit: (ev) => {
    ev.preventDefault();
    ST.since = document.getElementById("stats-since").value;
    ST.until = document.getElementById("stats-until").value;
    ST.data = null; ST.error = null; ST.key = null;
    stShow(el);
  } }, h("label", {}, t("st_since"), " ", input("stats-since", ST.since)),
    h("label", {}, t("st_until"), " ", input("stats-until", ST.until)),
    h("button", { type: "submit" }, t("st_show")),
    h("button", { type: "button", id: "stats-csv", disabled: ST.data ? null : "",
                  onclick: () => stDownload().catch((e) => alert(e.message)) }, t("st_csv")));
  const kids = [h("h2", {}, t("st_title")), form];
  const d = ST.data;
  if (ST.error) kids.push(h("p", { class: "error", id: "stats-error" }, t("st_failed") + ST.error));
  else if (!d) kids.push(h("p", { class: "muted" }, t("st_loading")));
  el.replaceChildren(...kids);
  if (!d || ST.error) return;
  el.appendChild(h("p", { class: "muted", id: "stats-note" }, stFill(t("st_zone"), { z: d.time_zone }),
    d.stations ? " · " + stFill(t("st_scope"), { s: d.stations.join(", ") }) : null));
  el.appendChild(h("section", { class: "summary", id: "stats-summary" },
    stCard("stats-accounts", t("st_accounts"), num(d.accounts), stFill(t("st_opened"), { n: num(d.accounts_opened) })),
    stCard("stats-active", t("st_active"), num(d.active_learners), t("st_active_help")),
    stCard("stats-credits", t("st_credits"), stNum(d.credits), stFill(t("st_entries"), { n: num(d.entries) })),
    stCard("stats-issued", t("st_points_issued"), num(d.points_issued), stFill(t("st_points_rate"), { r: num(d.points_per_credit) })),
    stCard("stats-redeemed", t("st_points_redeemed"), num(d.points_redeemed), stFill(t("st_redemptions"), { n: num(d.redemptions) }))));
  stChart(el, d.by_month);
  el.appendChild(stBars("category", d.by_category, "st_by_category"));
  el.appendChild(stBars("station", d.by_station, "st_by_station"));
  el.appendChild(stBars("type", d.by_type, "st_by_type"));
  el.appendChild(stBars("organisation", d.by_organisation, "st_by_organisation"));
}

window.TAP_VIEWS = window.TAP_VIEWS || {};
TAP_VIEWS.stats = { render: (el) => stShow(el) };
