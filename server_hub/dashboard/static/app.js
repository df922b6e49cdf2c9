// tapcert operator dashboard: plain JS, no build step, no external resources.
// The token lives in sessionStorage and goes out as a bearer header to /dashboard/api/*.
// The page polls the fleet summary and the current view every poll_s seconds.
"use strict";

const S = {
  lang: localStorage.getItem("tapcert.lang") || "zh",
  token: sessionStorage.getItem("tapcert.token") || "",
  q: "", state: "", level: "", offset: 0, limit: 50,
  poll: 5, timer: null, fleet: null, page: null, detail: null, failures: 0, stamp: null,
};
const STATE_MARK = { online: "●", offline: "✕", silent: "◌", unknown: "?" };
const LEVEL_MARK = { critical: "■", warning: "▲", info: "○", ok: "✓" };
// Views other scripts add (evaluation.js: grades, rewards; rollouts.js), shown at #/<name>:
// TAP_VIEWS[name] = { render(el) } — called on every refresh with the #ext-view element.
window.TAP_VIEWS = window.TAP_VIEWS || {};
function extView() {
  const m = location.hash.match(/^#\/([a-z]+)(?:\/.+)?$/);   // #/name or #/name/<id>
  return m && TAP_VIEWS[m[1]] ? m[1] : null;
}

function t(key) {
  const d = I18N[S.lang] || I18N.zh;
  return key in d ? d[key] : (I18N.en[key] !== undefined ? I18N.en[key] : key);
}

function h(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const k in attrs || {}) {
    if (k === "class") n.className = attrs[k];
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), attrs[k]);
    else if (attrs[k] !== null && attrs[k] !== undefined) n.setAttribute(k, attrs[k]);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    n.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
  }
  return n;
}

const num = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString(S.lang === "zh" ? "zh-CN" : "en-US"));

function dur(s) {
  if (s === null || s === undefined) return "—";
  s = Math.max(0, s);
  const sp = S.lang === "zh" ? "" : " ";
  if (s < 90) return Math.round(s) + sp + t("unit_s");
  if (s < 5400) return Math.round(s / 60) + sp + t("unit_min");
  if (s < 2 * 86400) return (s / 3600).toFixed(1).replace(/\.0$/, "") + sp + t("unit_h");
  return (s / 86400).toFixed(1).replace(/\.0$/, "") + sp + t("unit_d");
}

function sdur(s) {   // a signed offset: "+3 min", "−40 s", "0 s"
  if (s === null || s === undefined) return "—";
  if (Math.abs(s) < 0.5) return dur(0);
  return (s > 0 ? "+" : "−") + dur(Math.abs(s));
}

function clock(ts) {   // in the hub's time zone (hubtime.js), shown in the header
  if (!ts) return "—";
  return HubTime.day(ts) === HubTime.day(Date.now() / 1000) ? HubTime.hm(ts) : HubTime.full(ts);
}

function ago(ts) {
  if (!ts) return "—";
  const s = Date.now() / 1000 - ts;
  return S.lang === "zh" ? dur(s) + t("ago") : dur(s) + " " + t("ago");
}

function stateBadge(state, forS) {
  return h("span", { class: "badge state state-" + state, "data-state": state },
    STATE_MARK[state] || "?", " ", t(state),
    forS !== null && forS !== undefined && state !== "online" && state !== "unknown"
      ? h("span", { class: "for" }, " · " + (S.lang === "zh" ? "已" : "for ") + dur(forS)) : null);
}

function levelBadge(level) {
  return h("span", { class: "badge level level-" + level }, LEVEL_MARK[level] || "", " ",
    t("level_" + level));
}

function problemText(p) {
  // an offline station that reported no backlog, alerted on its expected taps (an estimate)
  const key = "rule_" + p.rule +
    (p.rule === "offline_backlog" && p.values && p.values.estimated ? "_expected" : "");
  const tpl = t(key);
  if (tpl === key) return p.text;
  const v = Object.assign({}, p.values || {});
  v.subject = p.subject === "pi" ? t("pi") : p.subject;
  if (v.seconds !== undefined) v.dur = dur(v.seconds);
  else if (v.minutes !== undefined) v.dur = dur(v.minutes * 60);
  return tpl.replace(/\{(\w+)\}/g, (_, k) =>
    v[k] === undefined || v[k] === null ? "?" : (typeof v[k] === "number" ? num(v[k]) : v[k]));
}

// --- data ------------------------------------------------------------------------------

async function api(path) {
  // a hub that does not answer within two polls counts as lost (the page turns stale)
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), Math.max(5, 2 * S.poll) * 1000);
  let resp;
  try {
    resp = await fetch(path, { headers: { Authorization: "Bearer " + S.token }, signal: abort.signal });
  } catch (err) {
    throw new Error(abort.signal.aborted ? "timeout" : String(err.message || err));
  } finally { clearTimeout(timer); }
  if (resp.status === 401) { logout(); throw new Error("unauthorised"); }
  if (!resp.ok) throw new Error(resp.status + " " + (await resp.text()).slice(0, 200));
  return resp.json();
}

function route() {
  const m = location.hash.match(/^#\/station\/(.+)$/);
  return m ? decodeURIComponent(m[1]) : null;
}

async function refresh() {
  clearTimeout(S.timer);
  try {
    const station = route();
    const fleet = api("/dashboard/api/fleet");
    let body;
    if (station) {
      body = api("/dashboard/api/stations/" + encodeURIComponent(station));
    } else if (!extView()) {
      const qs = new URLSearchParams({ q: S.q, state: S.state, level: S.level,
                                       offset: S.offset, limit: S.limit });
      body = api("/dashboard/api/stations?" + qs);
    }
    S.fleet = await fleet;
    HubTime.setZone(S.fleet.timezone);
    S.poll = S.fleet.poll_s || 5;
    if (station) { S.detail = await body; S.page = null; } else { S.page = await body; S.detail = null; }
    S.failures = 0;
    S.stamp = Date.now() / 1000;
    render();
  } catch (err) {
    S.failures += 1;
    renderLive(String(err.message || err));
    renderStale(true);
  }
  if (S.token) S.timer = setTimeout(refresh, S.poll * 1000 * Math.min(3, 1 + S.failures));
}

// --- rendering -------------------------------------------------------------------------

function applyStatic() {
  document.documentElement.lang = S.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  document.querySelectorAll("[data-t]").forEach((n) => { n.textContent = t(n.dataset.t); });
  document.querySelectorAll("[data-tp]").forEach((n) => { n.placeholder = t(n.dataset.tp); });
  document.getElementById("lang").textContent = t("lang_switch");
}

function renderLive(error) {
  const live = document.getElementById("live");
  live.replaceChildren(error
    ? h("span", { class: "stale" }, "⚠ " + t("stale"))
    : h("span", { class: "ok" }, "◉ " + t("live") + " · " + t("updated") + " " +
        HubTime.hms(S.stamp) + " · " + t("times_in") + " " + HubTime.label()));
}

// Lost hub: everything shown is greyed under a banner saying what time it is from, until the
// next answer (render() clears it). The retry keeps its pace: at most three polls apart.
function renderStale(stale) {
  document.body.classList.toggle("is-stale", stale);
  const banner = document.getElementById("stale-banner");
  if (!banner) return;
  banner.hidden = !stale;
  if (stale) {
    banner.replaceChildren("⚠ " + t("stale_title") + " · " + t("data_as_of") + " " +
      (S.stamp ? clock(S.stamp) + " (" + ago(S.stamp) + ")" : "—") + " · " + t("stale_retry"));
  }
}

function render() {
  applyStatic();
  renderLive(null);
  renderStale(false);
  renderSummary();
  renderAlerts();
  const station = route(), ext = extView();
  renderNav(ext);
  document.getElementById("list-view").hidden = !!station || !!ext;
  document.getElementById("station-view").hidden = !station;
  document.getElementById("ext-view").hidden = !ext;
  if (ext) TAP_VIEWS[ext].render(document.getElementById("ext-view"));
  if (station && S.detail) renderStation(S.detail);
  if (!station && S.page) renderStations(S.page);
}

function renderNav(current) {   // links by role (data-roles), the current one marked
  const role = S.fleet && S.fleet.who ? S.fleet.who.role : "";
  document.querySelectorAll("#nav a[data-view]").forEach((a) => {
    a.hidden = !!a.dataset.roles && !a.dataset.roles.split(" ").includes(role);
    if (a.dataset.view === (current || (route() ? "-" : ""))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
}

function card(label, value, extra, cls) {
  return h("div", { class: "card " + (cls || "") }, h("div", { class: "label" }, label),
    h("div", { class: "value" }, value), extra ? h("div", { class: "extra" }, extra) : null);
}

function renderSummary() {
  const s = S.fleet.summary;
  const st = s.states, lv = s.levels;
  document.getElementById("summary").replaceChildren(
    card(t("stations"), num(s.stations), null, "stations"),
    card(STATE_MARK.online + " " + t("online"), num(st.online), null, "online"),
    card(STATE_MARK.offline + " " + t("offline"), num(st.offline),
      st.silent ? STATE_MARK.silent + " " + t("silent") + " " + num(st.silent) : null, "offline"),
    card(t("backlog_total"), (s.backlog_at_least ? "≥ " : "") + num(s.backlog),
      s.oldest_unsynced_s ? t("oldest_unsynced") + " " + dur(s.oldest_unsynced_s) : null, "backlog"),
    card(t("needs_attention"), num(lv.critical + lv.warning),
      LEVEL_MARK.critical + " " + num(lv.critical) + "  " + LEVEL_MARK.warning + " " + num(lv.warning),
      "attention"),
    card(t("readers_online"), num(s.readers_online) + " / " + num(s.readers_reported), null, "readers"),
    card(t("credits_today"), num(s.credits_today), null, "credits"),
  );
}

// The broker's CRL (Mosquitto refuses every station once it expires): a line above the
// alerts from a week before, until someone re-issues it.
function crlBanner() {
  const c = S.fleet.summary && S.fleet.summary.crl;
  if (!c) return null;
  const left = c.expires_at === null ? null : c.expires_at - Date.now() / 1000;
  if (left !== null && left > 7 * 86400) return null;
  const text = left === null ? t("crl_unreadable") : left <= 0 ? t("crl_expired")
    : t("crl_expires").replace("{d}", dur(left));
  return h("p", { class: "crl", role: "alert" }, levelBadge(left !== null && left > 0 ?
    "warning" : "critical"), " ", text, " ", h("code", {}, "tapcert-hub station crl"));
}

function renderAlerts() {
  const list = S.fleet.alerts || [];
  const box = document.getElementById("alerts");
  const head = h("h2", {}, t("alerts") + " (" + num(S.fleet.alerts_firing || 0) + ")");
  const crl = crlBanner();
  if (!list.length) {
    box.replaceChildren(head, crl || "", h("p", { class: "muted" }, t("no_alerts")));
    return;
  }
  box.replaceChildren(head, crl || "", h("ul", {}, list.slice(0, 20).map((a) =>
    h("li", { class: "alert sev-" + a.severity, "data-rule": a.rule, "data-station": a.station_id },
      levelBadge(a.severity), " ",
      h("a", { href: "#/station/" + encodeURIComponent(a.station_id) }, a.station_id), " ",
      h("span", { class: "rule" }, t("alert_" + a.rule) + (a.subject ? " " +
        (a.subject === "pi" ? t("pi") : a.subject) : "")),
      " · ", t("since"), " ", clock(a.fired_at)))));
}

function readersCell(v) {
  const parts = [h("span", { class: "ro" }, num(v.readers_online) + "/" + num(v.readers_reported))];
  if (v.readers_enrolled && v.readers_enrolled !== v.readers_reported)
    parts.push(h("span", { class: "muted" }, " (" + num(v.readers_enrolled) + ")"));
  if (v.max_journal_pct !== null && v.max_journal_pct !== undefined && v.max_journal_pct >= 50)
    parts.push(h("div", { class: "jfill" }, t("journal") + " " + num(v.max_journal_pct) + "%"));
  if (v.max_clock_offset_s !== null && v.max_clock_offset_s !== undefined &&
      Math.abs(v.max_clock_offset_s) >= 1)
    parts.push(h("div", {}, t("clock") + " " + sdur(v.max_clock_offset_s)));
  return parts;
}

function rejectedCell(v) {
  const reasons = Object.entries(v.rejected_24h || {}).sort((a, b) => b[1] - a[1]);
  const total = reasons.reduce((n, r) => n + r[1], 0);
  if (!total) return "0";
  return [h("strong", {}, num(total)), h("div", { class: "reasons" },
    reasons.slice(0, 3).map((r) => r[0] + " " + num(r[1])).join(", "))];
}

function lagCell(l, spark) {
  if (!l || !l.n) return "—";
  return [dur(l.p50) + " / " + dur(l.p99),
    spark && window.sparkline ? sparkline(spark.lag_p99, t("spark_lag"), "lag") : null];
}

// An offline (or silent) station's backlog is what it last reported: "≥ N waiting, as of T
// (offline for Δ)" -- its readers go on queueing taps nobody can hear (core/health_model.py).
function backlogCell(v) {
  const spark = v.spark && window.sparkline
    ? sparkline(v.spark.waiting, t("spark_waiting"), "waiting") : null;
  const g = v.backlog_growth;
  if (v.backlog_at_least) {
    return [h("span", { class: "backlog at-least" }, "≥ " + num(v.backlog) + " " + t("waiting")),
      h("div", { class: "muted as-of" }, t("as_of") + " " + clock(v.backlog_as_of) +
        (v.state_for_s !== null && v.state_for_s !== undefined
          ? " (" + t(v.state + "_for") + " " + dur(v.state_for_s) + ")" : "")),
      g && g.estimate > g.reported
        ? h("div", { class: "growth" }, t("growth_est").replace("{n}", num(g.estimate))) : null,
      spark];
  }
  const drain = v.drain_eta_s !== null && v.drain_eta_s !== undefined && v.backlog
    ? h("div", { class: "muted drain" }, t("draining").replace("{rate}", num(v.drain_rate))
      .replace("{eta}", dur(Math.max(0, v.drain_eta_s - (Date.now() / 1000 - v.backlog_as_of)))))
    : null;
  return [h("span", { class: "backlog" }, num(v.backlog)), drain, spark];
}

function td(label, ...kids) {
  return h("td", { "data-label": t(label) }, h("div", { class: "cell" }, ...kids));
}

function renderStations(page) {
  const rows = page.items.map((v) => h("tr", {
      class: "row level-" + v.level, "data-station": v.station_id, "data-state": v.state,
      "data-level": v.level },
    td("col_level", levelBadge(v.level)),
    td("col_station", h("a", { href: "#/station/" + encodeURIComponent(v.station_id),
                               class: "sid" }, v.station_id),
       v.name ? h("div", { class: "name" }, v.name) : null),
    td("col_connection", stateBadge(v.state, v.state_for_s)),
    td("col_backlog", backlogCell(v),
       v.oldest_unsynced_s ? h("div", { class: "muted" }, t("oldest_unsynced") + " " +
                                dur(v.oldest_unsynced_s)) : null),
    td("col_last_ack", ago(v.last_hub_ack || v.last_batch_at)),
    td("col_readers", readersCell(v)),
    td("col_rejected", rejectedCell(v)),
    td("col_holds", num(v.holds)),
    td("col_lag", lagCell(v.lag_24h, v.spark)),
    td("col_problems", v.problems.length ? h("ul", { class: "problems" }, v.problems.map((p) =>
      h("li", { class: "sev-" + p.severity, "data-rule": p.rule },
        LEVEL_MARK[p.severity] + " " + problemText(p)))) : "—")));
  document.querySelector("#stations tbody").replaceChildren(...rows);
  const from = page.total ? page.offset + 1 : 0;
  const to = Math.min(page.total, page.offset + page.items.length);
  document.getElementById("range").textContent =
    num(from) + "–" + num(to) + " " + t("of") + " " + num(page.total);
  document.getElementById("prev").disabled = page.offset <= 0;
  document.getElementById("next").disabled = to >= page.total;
}

function table(headers, rows) {
  return h("table", { class: "detail" },
    h("thead", {}, h("tr", {}, headers.map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", {}, r.map((c, i) =>
      h("td", { "data-label": t(headers[i]) }, h("div", { class: "cell" }, c))))) :
      h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, t("none")))));
}

function renderStation(d) {
  const v = d.station;
  const now = Date.now() / 1000;
  const hist = d.history || [];
  const charts = hist.length ? [stationCharts(hist, now)] : [h("p", { class: "muted" }, t("no_data"))];
  const facts = [
    [t("col_connection"), stateBadge(v.state, v.state_for_s)],
    [t("col_backlog"), h("span", {}, backlogCell(v), v.oldest_unsynced_s ? " · " +
      t("oldest_unsynced") + " " + dur(v.oldest_unsynced_s) : "")],
    [t("col_last_ack"), ago(v.last_hub_ack)],
    [t("last_batch"), ago(v.last_batch_at)],
    [t("health_age"), v.health_age_s === null ? "—" : dur(v.health_age_s) + (S.lang === "zh" ? t("ago") : " " + t("ago"))],
    [t("taps_today"), num(d.taps_today)],
    [t("accepted"), num(v.accepted)],
    [t("col_lag") + " (24h)", lagCell(d.lag_24h)],
    [t("col_holds"), num(v.holds)],
    [t("pi_clock"), sdur(v.pi_clock_offset_s)],
    [t("agent"), v.agent_version || "—"],
  ];
  const readers = (v.readers || []).map((r) => [
    r.label || "—", h("code", {}, r.rid),
    stateBadge(r.online ? "online" : "offline", null),
    r.journal_pct === null ? "—" : num(r.journal_pct) + "%",
    r.unsynced === null ? "—" : num(r.unsynced),
    r.fw || "—",
    sdur(r.clock_offset_s),
  ]);
  const rejections = (d.rejections || []).map((q) => [
    clock(q.received_at), q.reason, q.reader_id ? h("code", {}, q.reader_id) : "—",
    q.seq === null ? "—" : num(q.seq), q.detail]);
  const alarms = (d.alarms || []).map((a) => [clock(a.created_at), a.kind,
    a.reader_id ? h("code", {}, a.reader_id) : "—", num(a.seq), a.detail,
    window.ackCell ? ackCell(a) : "—"]);
  const enrolled = (d.enrolled || []).map((r) => [r.label || "—", h("code", {}, r.reader_id),
    r.status]);
  document.getElementById("station-view").replaceChildren(...[
    h("p", { class: "noprint" }, h("a", { href: "#", id: "back" }, "← " + t("back"))),
    h("h2", { "data-station": v.station_id, "data-state": v.state, "data-level": v.level },
      levelBadge(v.level), " ", v.station_id, v.name ? " · " + v.name : ""),
    v.problems.length ? h("ul", { class: "problems big" }, v.problems.map((p) =>
      h("li", { class: "sev-" + p.severity, "data-rule": p.rule },
        LEVEL_MARK[p.severity] + " " + problemText(p)))) : null,
    h("dl", { class: "facts" }, facts.map(([k, val]) => [h("dt", {}, k), h("dd", {}, val)])),
    h("h3", {}, t("history")), ...charts,
    h("h3", {}, t("readers")),
    table(["reader", "reader_id", "status", "journal", "unsynced", "firmware", "clock"], readers),
    h("h3", {}, t("enrolled")),
    table(["reader", "reader_id", "status"], enrolled),
    h("h3", {}, t("rejections")),
    table(["received", "reason", "reader_id", "seq", "detail"], rejections),
    h("h3", {}, t("alarms")),
    table(["received", "kind", "reader_id", "seq", "detail", "ack_col"], alarms),
  ].filter((n) => n));
}

// --- wiring ----------------------------------------------------------------------------

function showApp(signedIn) {
  document.getElementById("login").hidden = signedIn;
  document.getElementById("app").hidden = !signedIn;
  document.getElementById("logout").hidden = !signedIn;
}

function logout() {
  S.token = "";
  sessionStorage.removeItem("tapcert.token");
  clearTimeout(S.timer);
  showApp(false);
}

async function login(ev) {
  ev.preventDefault();
  const token = document.getElementById("token").value.trim();
  const resp = await fetch("/api/v1/whoami", { headers: { Authorization: "Bearer " + token } });
  if (!resp.ok) { document.getElementById("login-error").hidden = false; return; }
  document.getElementById("login-error").hidden = true;
  S.token = token;
  sessionStorage.setItem("tapcert.token", token);
  document.getElementById("token").value = "";
  showApp(true);
  refresh();
}

let debounce = null;
function filtersChanged() {
  clearTimeout(debounce);
  debounce = setTimeout(() => {
    S.q = document.getElementById("q").value;
    S.state = document.getElementById("state").value;
    S.level = document.getElementById("level").value;
    S.offset = 0;
    refresh();
  }, 250);
}

document.addEventListener("DOMContentLoaded", () => {
  applyStatic();
  document.getElementById("lang").addEventListener("click", () => {
    S.lang = S.lang === "zh" ? "en" : "zh";
    localStorage.setItem("tapcert.lang", S.lang);
    if (S.fleet) render(); else applyStatic();
  });
  document.getElementById("print").addEventListener("click", () => window.print());
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("login-form").addEventListener("submit", login);
  for (const id of ["q", "state", "level"]) {
    document.getElementById(id).addEventListener("input", filtersChanged);
  }
  document.getElementById("prev").addEventListener("click", () => {
    S.offset = Math.max(0, S.offset - S.limit); refresh();
  });
  document.getElementById("next").addEventListener("click", () => {
    S.offset += S.limit; refresh();
  });
  window.addEventListener("hashchange", () => {
    if (location.hash === "#") history.replaceState(null, "", location.pathname);
    refresh();
  });
  showApp(!!S.token);
  if (S.token) refresh();
});
