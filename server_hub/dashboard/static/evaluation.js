// Station grades (#/grades) and administrator rewards (#/rewards) in the operator dashboard.
// No learner data here: per station only counts and shares; rewards name administrators.
// Data: /api/v1/evaluation/stations|rewards|settings (roles admin and operator; a technician
// sees the API's refusal). CSV: the same routes with format=csv, fetched with the token and
// saved through a blob link. Uses app.js's S, t, h, num, logout and its TAP_VIEWS hook.
"use strict";

Object.assign(I18N.zh, {
  ev_grades_title: "站点评估与等级", ev_rewards_title: "认证管理员奖励积分",
  ev_period: "统计期间", ev_days: "最近 {n} 天", ev_csv: "下载 CSV", ev_loading: "正在加载…",
  ev_grade: "等级", ev_activities: "活动", ev_sessions: "场次", ev_learners: "服务学员",
  ev_records: "刷卡记录", ev_uptime: "在线率", ev_rejected: "拒收比例", ev_holds: "待审（比例）",
  ev_admin: "管理员", ev_learners_credited: "获学分人次", ev_points: "奖励积分",
  ev_unknown: "未知", ev_how: "评级规则（按顺序，满足全部条件的第一个等级）",
  ev_rest: "其余站点", ev_rule: "每个有学分的场次 {s} 分，每位获学分学员另加 {l} 分",
  ev_forbidden: "此页面需要管理员或操作员角色：", ev_failed: "无法读取：",
  ev_none: "此期间没有数据", ev_sort: "点击列标题排序",
  th_min_learners: "服务学员 ≥ {v}", th_min_sessions: "场次 ≥ {v}", th_min_records: "记录 ≥ {v}",
  th_min_uptime: "在线率 ≥ {v}", th_max_rejected_share: "拒收 ≤ {v}", th_max_holds_share: "待审 ≤ {v}",
});
Object.assign(I18N.en, {
  ev_grades_title: "Station evaluation and grades", ev_rewards_title: "Certification administrators' reward points",
  ev_period: "Period", ev_days: "last {n} days", ev_csv: "Download CSV", ev_loading: "loading…",
  ev_grade: "Grade", ev_activities: "Activities", ev_sessions: "Sessions", ev_learners: "Learners served",
  ev_records: "Records", ev_uptime: "Uptime", ev_rejected: "Rejected share", ev_holds: "Held (share)",
  ev_admin: "Administrator", ev_learners_credited: "Learners credited", ev_points: "Points",
  ev_unknown: "unknown", ev_how: "How grades are given (in order: the first grade whose thresholds all hold)",
  ev_rest: "every other station", ev_rule: "{s} points per session with a credit, plus {l} per learner credited",
  ev_forbidden: "This view needs the admin or operator role: ", ev_failed: "Could not load: ",
  ev_none: "no data in this period", ev_sort: "click a column heading to sort",
  th_min_learners: "learners served ≥ {v}", th_min_sessions: "sessions ≥ {v}", th_min_records: "records ≥ {v}",
  th_min_uptime: "uptime ≥ {v}", th_max_rejected_share: "rejected ≤ {v}", th_max_holds_share: "held ≤ {v}",
});

const EV = { data: {}, at: {}, error: {}, loading: {}, days: 30,
  sort: { grades: ["station_id", 1], rewards: ["points", -1] } };
const EV_COLS = {
  grades: [["grade", "ev_grade"], ["station_id", "col_station"], ["activities", "ev_activities"],
    ["sessions", "ev_sessions"], ["learners_served", "ev_learners"], ["records", "ev_records"],
    ["uptime", "ev_uptime"], ["rejected_share", "ev_rejected"], ["holds_share", "ev_holds"]],
  rewards: [["admin", "ev_admin"], ["activities", "ev_activities"], ["sessions", "ev_sessions"],
    ["learners_credited", "ev_learners_credited"], ["points", "ev_points"]],
};
const EV_PATH = { grades: "stations", rewards: "rewards" };

const pct = (v) => (v === null || v === undefined ? "—" :
  (Math.round(v * 1000) / 10).toLocaleString(S.lang === "zh" ? "zh-CN" : "en-US") + "%");
const day = (ts) => HubTime.day(ts);   // the hub's days (its periods start at its midnight)
const fill = (tpl, v) => tpl.replace(/\{(\w+)\}/g, (_, k) => (v[k] === undefined ? "?" : v[k]));

async function evFetch(path) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + S.token } });
  if (resp.status === 401) { logout(); throw new Error("401"); }
  if (!resp.ok) {
    let detail = "";
    try { detail = (await resp.json()).detail; } catch (e) { detail = resp.statusText; }
    const err = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    err.status = resp.status;
    throw err;
  }
  return resp;
}

function evQuery(view, csv) {
  const d = EV.data[view];
  const qs = new URLSearchParams({ since: d.since, until: d.until });
  if (csv) qs.set("format", "csv");
  return "/api/v1/evaluation/" + EV_PATH[view] + "?" + qs;
}

async function evLoad(view) {
  EV.loading[view] = true;
  const until = Math.floor(Date.now() / 1000) + 1, since = until - EV.days * 86400;
  try {
    const qs = new URLSearchParams({ since: since, until: until });
    const [rows, settings] = await Promise.all([
      evFetch("/api/v1/evaluation/" + EV_PATH[view] + "?" + qs).then((r) => r.json()),
      evFetch("/api/v1/evaluation/settings").then((r) => r.json())]);
    EV.data[view] = { rows: rows, settings: settings, since: since, until: until, days: EV.days };
    EV.error[view] = null;
  } catch (err) {
    EV.error[view] = { status: err.status || 0, text: String(err.message || err) };
  }
  EV.loading[view] = false;
  EV.at[view] = Date.now();
  const el = document.getElementById("ext-view");
  if (extView() === view && el) evShow(view, el);
}

async function evDownload(view) {
  const d = EV.data[view];
  const resp = await evFetch(evQuery(view, true));
  const url = URL.createObjectURL(await resp.blob());
  const a = h("a", { href: url, download: "tapcert-" + EV_PATH[view] + "-" + day(d.since) + "-" +
                     day(d.until - 1) + ".csv", hidden: "" });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function evSorted(view, rows) {
  const [key, dir] = EV.sort[view];
  const tie = view === "grades" ? "station_id" : "admin";
  return rows.slice().sort((a, b) => {
    const x = a[key], y = b[key];
    if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1;
    if (y === null || y === undefined) return -1;
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return c ? c * dir : String(a[tie]).localeCompare(String(b[tie]));
  });
}

function evCell(view, key, r) {
  if (key === "grade") return h("span", { class: "badge grade grade-" + r.grade }, r.grade);
  if (key === "station_id") return [h("a", { href: "#/station/" + encodeURIComponent(r.station_id),
    class: "sid" }, r.station_id), r.name ? h("div", { class: "name" }, r.name) : null];
  if (key === "uptime") {   // over the station's life in the period (core/uptime.py)
    if (r.uptime === null) return t("ev_unknown");
    const d = EV.data[view], period = d ? d.until - d.since : null;
    const part = r.uptime_over_s !== undefined && period && r.uptime_over_s < 0.99 * period;
    return [pct(r.uptime), part ? h("div", { class: "muted over" },
      (S.lang === "zh" ? "统计时长 " : "over ") + dur(r.uptime_over_s)) : null];
  }
  if (key === "rejected_share") return pct(r.rejected_share);
  if (key === "holds_share") return num(r.holds) + " (" + pct(r.holds_share) + ")";
  if (key === "admin") return h("strong", {}, r.admin);
  return num(r[key]);
}

function evTable(view, rows) {
  const [skey, sdir] = EV.sort[view];
  const head = EV_COLS[view].map(([key, label]) => h("th", {
      "aria-sort": key === skey ? (sdir > 0 ? "ascending" : "descending") : "none" },
    h("button", { type: "button", class: "sort", "data-sort": key, onclick: () => {
      EV.sort[view] = [key, key === skey ? -sdir : 1];
      evShow(view, document.getElementById("ext-view"));
    } }, t(label), key === skey ? (sdir > 0 ? " ▲" : " ▼") : "")));
  const body = rows.length ? evSorted(view, rows).map((r) => h("tr", view === "grades"
      ? { "data-station": r.station_id, "data-grade": r.grade } : { "data-admin": r.admin },
    EV_COLS[view].map(([key, label]) => h("td", { "data-label": t(label), "data-col": key },
      h("div", { class: "cell" }, evCell(view, key, r))))))
    : [h("tr", {}, h("td", { colspan: EV_COLS[view].length, class: "muted" }, t("ev_none")))];
  return h("table", { class: "detail eval", id: "eval-" + view },
    h("thead", {}, h("tr", {}, head)), h("tbody", {}, body));
}

function evRules(view, settings) {
  if (view === "rewards") {
    const r = settings.reward_rule;
    return h("p", { class: "muted", id: "eval-rule" },
      fill(t("ev_rule"), { s: num(r.per_session), l: num(r.per_learner_credited) }));
  }
  return [h("h3", {}, t("ev_how")), h("ul", { class: "grades-rule", id: "eval-rule" },
    settings.grade_thresholds.grades.map(([name, req]) => {
      const parts = Object.entries(req).map(([k, v]) => fill(t("th_" + k),
        { v: /share|uptime/.test(k) ? pct(v) : num(v) }));
      return h("li", {}, h("span", { class: "badge grade grade-" + name }, name), " ",
        parts.length ? parts.join(" · ") : t("ev_rest"));
    }))];
}

function evShow(view, el) {
  const fresh = EV.at[view] && Date.now() - EV.at[view] < 60000 && EV.data[view] &&
    EV.data[view].days === EV.days;
  if (!fresh && !EV.loading[view] && !(EV.error[view] && Date.now() - EV.at[view] < 60000)) {
    evLoad(view);
  }
  const key = [view, S.lang, EV.days, EV.sort[view].join(), EV.at[view] || 0].join("|");
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  const d = EV.data[view], err = EV.error[view];
  const select = h("select", { id: "eval-days", onchange: (ev) => {
    EV.days = Number(ev.target.value); evShow(view, el);
  } }, [7, 30, 90, 365].map((n) => h("option", { value: n, selected: n === EV.days ? "" : null },
    fill(t("ev_days"), { n: n }))));
  const tools = h("div", { class: "filters noprint" }, h("label", {}, t("ev_period"), " ", select),
    h("button", { type: "button", id: "eval-csv", disabled: d && !err ? null : "",
                  onclick: () => evDownload(view).catch((e) => alert(e.message)) }, t("ev_csv")),
    h("span", { class: "muted" }, t("ev_sort")));
  const kids = [h("h2", {}, t(view === "grades" ? "ev_grades_title" : "ev_rewards_title")), tools];
  if (err) {
    kids.push(h("p", { class: "error", id: "eval-error" },
      (err.status === 403 ? t("ev_forbidden") : t("ev_failed")) + err.text));
  } else if (!d) {
    kids.push(h("p", { class: "muted" }, t("ev_loading")));
  } else {
    kids.push(h("p", { class: "muted", id: "eval-period" },
      t("ev_period") + ": " + day(d.since) + " – " + day(d.until - 1)),
      evTable(view, d.rows), evRules(view, d.settings));
  }
  el.replaceChildren(...kids.flat());
}

window.TAP_VIEWS = window.TAP_VIEWS || {};
TAP_VIEWS.grades = { render: (el) => evShow("grades", el) };
TAP_VIEWS.rewards = { render: (el) => evShow("rewards", el) };
