// Firmware rollouts in the operator dashboard: #/rollouts (the list) and #/rollouts/<id> (one
// rollout: every station's and reader's state with its reason). Data: /api/v1/fleet/rollouts
// (any role reads); pause / resume / cancel buttons only for roles that may change them
// (admin, technician). Uses app.js's S, t, h, num, clock, logout and its TAP_VIEWS hook.
"use strict";

Object.assign(I18N.zh, {
  nav_rollouts: "固件升级", ro_title: "固件升级批次", ro_none: "还没有升级批次",
  ro_id: "批次", ro_fw: "固件", ro_state: "状态", ro_progress: "进度", ro_counts: "各状态站点",
  ro_created: "创建", ro_back: "全部批次", ro_station: "站点", ro_reason: "原因", ro_readers: "读卡器",
  ro_target: "目标", ro_target_all: "全部在用站点", ro_target_list: "指定站点", ro_target_percent: "按比例",
  ro_waves: "分批", ro_waves_text: "先 {c} 个试点站，之后每批 {w} 个；失败超过 {f} 个自动暂停",
  ro_expires: "截止", ro_never: "无", ro_by: "创建人", ro_pause: "暂停", ro_resume: "继续",
  ro_cancel: "取消升级", ro_confirm_cancel: "确定取消此批次？已开始的读卡器会完成当前这一台，其余不再升级。",
  ro_failed: "操作失败：", ro_loading: "正在加载…",
  ro_running: "进行中", ro_paused: "已暂停", ro_cancelled: "已取消", ro_expired: "已过期", ro_finished: "已完成",
  ro_st_pending: "等待", ro_st_downloading: "下载中", ro_st_waiting_for_sync: "等待同步",
  ro_st_applying: "写入中", ro_st_verifying: "校验中", ro_st_done: "完成", ro_st_rolled_back: "已回滚",
  ro_st_failed: "失败", ro_st_cancelled: "已取消",
  ro_waiting_online: "等待站点上线（站点离线，上线后自动开始）",
  ro_already: "已是 {fw} 版本，未重新写入",
});
Object.assign(I18N.en, {
  nav_rollouts: "Firmware rollouts", ro_title: "Firmware rollouts", ro_none: "no rollout yet",
  ro_id: "Rollout", ro_fw: "Firmware", ro_state: "State", ro_progress: "Progress", ro_counts: "Stations by state",
  ro_created: "Created", ro_back: "all rollouts", ro_station: "Station", ro_reason: "Reason", ro_readers: "Readers",
  ro_target: "Target", ro_target_all: "every active station", ro_target_list: "listed stations", ro_target_percent: "a share",
  ro_waves: "Waves", ro_waves_text: "{c} canary station(s) first, then waves of {w}; more than {f} failed pauses it",
  ro_expires: "Deadline", ro_never: "none", ro_by: "Created by", ro_pause: "Pause", ro_resume: "Resume",
  ro_cancel: "Cancel rollout", ro_confirm_cancel: "Cancel this rollout? Readers being updated finish; no other reader is updated.",
  ro_failed: "Failed: ", ro_loading: "loading…",
  ro_running: "running", ro_paused: "paused", ro_cancelled: "cancelled", ro_expired: "expired", ro_finished: "finished",
  ro_st_pending: "pending", ro_st_downloading: "downloading", ro_st_waiting_for_sync: "waiting for sync",
  ro_st_applying: "applying", ro_st_verifying: "verifying", ro_st_done: "done", ro_st_rolled_back: "rolled back",
  ro_st_failed: "failed", ro_st_cancelled: "cancelled",
  ro_waiting_online: "waiting for the station to come online (it starts by itself then)",
  ro_already: "already on version {fw}: not flashed",
});

const RO = { data: null, key: null, at: 0, error: null, loading: false, busy: false };
const RO_MARK = { done: "✓", rolled_back: "↶", failed: "✕", cancelled: "⊘", pending: "…",
  running: "▶", paused: "‖", expired: "⌛", finished: "✓" };
const RO_ORDER = ["done", "rolled_back", "failed", "cancelled", "verifying", "applying",
  "waiting_for_sync", "downloading", "pending"];

// A reader the agent skipped because it already ran the version (protocol/updatestate.py
// ALREADY + fw + NOT_FLASHED) reads in the page's language; other reasons as the agent says.
function roReason(reason) {
  const m = /^already on version (.+): not flashed$/.exec(reason);
  return m ? t("ro_already").replace("{fw}", m[1]) : reason;
}

function roRoute() {
  const m = location.hash.match(/^#\/rollouts\/(.+)$/);
  return m ? decodeURIComponent(m[1]) : null;
}

function roMayChange() {
  const role = S.fleet && S.fleet.who ? S.fleet.who.role : "";
  return role === "admin" || role === "technician";
}

function roBadge(state, station) {
  return h("span", { class: "badge ro-state ro-" + state, "data-state": state },
    (RO_MARK[state] || "·") + " " + t((station ? "ro_st_" : "ro_") + state));
}

function roCounts(counts) {
  return h("span", { class: "ro-counts" }, RO_ORDER.filter((k) => counts[k]).map((k) =>
    h("span", { class: "ro-count", "data-state": k }, t("ro_st_" + k) + " " + num(counts[k]))));
}

function roProgress(p) {
  const share = p.total ? Math.round(100 * p.closed / p.total) : 0;
  return h("span", { class: "ro-progress", "data-closed": p.closed, "data-total": p.total },
    h("span", { class: "bar", role: "progressbar", "aria-valuenow": share, "aria-valuemin": 0,
                "aria-valuemax": 100 }, h("span", { style: "width:" + share + "%" })),
    " " + num(p.closed) + " / " + num(p.total) + " (" + share + "%)");
}

async function roLoad() {
  const id = roRoute();
  RO.loading = true;
  try {
    const path = "/api/v1/fleet/rollouts" + (id ? "/" + encodeURIComponent(id) : "");
    const resp = await fetch(path, { headers: { Authorization: "Bearer " + S.token } });
    if (resp.status === 401) { logout(); return; }
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.detail || resp.status);
    RO.data = { id: id, body: body };
    RO.error = null;
    if (id) RO.away = await roAway();
  } catch (err) {
    RO.error = String(err.message || err);
  }
  RO.loading = false;
  RO.at = Date.now();
  const el = document.getElementById("ext-view");
  if (extView() === "rollouts" && el) roShow(el, roRoute() === id);   // moved on: load again
}

// stations not online now (the sync-health view): an unfinished one is waiting for its
// station, not stuck; null when the view could not be read
async function roAway() {
  try {
    const pages = await Promise.all(["offline", "silent", "unknown"].map((st) =>
      api("/dashboard/api/stations?limit=500&state=" + st)));
    return new Set(pages.flatMap((p) => p.items.map((v) => v.station_id)));
  } catch (err) { return null; }
}

async function roAct(id, verb) {
  if (verb === "cancel" && !window.confirm(t("ro_confirm_cancel"))) return;
  RO.busy = true;
  try {
    const resp = await fetch("/api/v1/fleet/rollouts/" + encodeURIComponent(id) + "/" + verb,
      { method: "POST", headers: { Authorization: "Bearer " + S.token } });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.detail || resp.status);
    RO.data = { id: id, body: body };
    RO.error = null;
  } catch (err) {
    RO.error = t("ro_failed") + String(err.message || err);
  }
  RO.busy = false;
  RO.at = Date.now();
  roShow(document.getElementById("ext-view"), true);
}

function roList(rows) {
  if (!rows.length) return [h("p", { class: "muted" }, t("ro_none"))];
  const cols = ["ro_id", "ro_fw", "ro_state", "ro_progress", "ro_counts", "ro_created"];
  return [h("table", { class: "detail rollouts", id: "rollouts" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, t(c))))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-rollout": r.id, "data-state": r.state },
      [h("a", { href: "#/rollouts/" + encodeURIComponent(r.id), class: "sid" }, r.id),
       r.fw, roBadge(r.state), roProgress(r.progress), roCounts(r.counts), clock(r.created_at)]
        .map((c, i) => h("td", { "data-label": t(cols[i]) }, h("div", { class: "cell" }, c)))))))];
}

function roDetail(r) {
  const why = r.state === "paused" ? r.paused_reason :
    (r.state === "cancelled" || r.state === "expired") ? r.cancel_reason : null;
  const target = t("ro_target_" + r.target) + (r.target === "percent" ? " " + r.percent + "%" : "");
  const waves = t("ro_waves_text").replace("{c}", num(r.canary_count))
    .replace("{w}", num(r.wave_size)).replace("{f}", num(r.max_failures));
  const facts = [[t("ro_fw"), r.fw + " · " + r.bundle.slice(0, 12) + "…"], [t("ro_target"), target],
    [t("ro_waves"), waves], [t("ro_expires"), r.expires_at ? clock(r.expires_at) : t("ro_never")],
    [t("ro_created"), clock(r.created_at)], [t("ro_by"), r.created_by || "—"],
    [t("ro_progress"), roProgress(r.progress)], [t("ro_counts"), roCounts(r.counts)]];
  const over = r.state === "cancelled" || r.state === "expired" || r.state === "finished";
  const buttons = roMayChange() && !over ? h("div", { class: "filters noprint ro-actions" },
    r.paused ? h("button", { type: "button", id: "ro-resume", onclick: () => roAct(r.id, "resume") }, t("ro_resume"))
      : h("button", { type: "button", id: "ro-pause", onclick: () => roAct(r.id, "pause") }, t("ro_pause")),
    h("button", { type: "button", id: "ro-cancel", class: "danger",
                  onclick: () => roAct(r.id, "cancel") }, t("ro_cancel"))) : null;
  const cols = ["ro_station", "ro_state", "ro_reason", "ro_readers"];
  const closed = ["done", "rolled_back", "failed", "cancelled"];
  const rows = Object.entries(r.stations).map(([sid, st]) => {
    const away = !over && RO.away && RO.away.has(sid) && !closed.includes(st.state);
    return h("tr", { "data-station": sid, "data-state": st.state, "data-away": away ? "1" : null },
    [h("a", { href: "#/station/" + encodeURIComponent(sid), class: "sid" }, sid),
     roBadge(st.state, true),
     away ? h("span", { class: "ro-away" }, t("ro_waiting_online"), st.reason ? " · " + st.reason : "")
       : st.reason || "—",
     Object.keys(st.readers).length ? h("ul", { class: "ro-readers" },
       Object.entries(st.readers).map(([label, rd]) => h("li", { "data-reader": label,
         "data-state": rd.state }, h("strong", {}, label), " ", roBadge(rd.state, true),
         rd.reason ? h("span", { class: "muted" }, " " + roReason(rd.reason)) : null))) : "—"]
      .map((c, i) => h("td", { "data-label": t(cols[i]) }, h("div", { class: "cell" }, c))));
  });
  return [
    h("p", { class: "noprint" }, h("a", { href: "#/rollouts", id: "ro-back" }, "← " + t("ro_back"))),
    h("h2", { "data-rollout": r.id, "data-state": r.state }, roBadge(r.state), " ", r.id),
    why ? h("p", { class: "error", id: "ro-why" }, why) : null,
    buttons,
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("table", { class: "detail rollout", id: "rollout-stations" },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, t(c))))), h("tbody", {}, rows)),
  ];
}

function roShow(el, loaded) {
  const id = roRoute();
  if (!loaded && !RO.loading && !RO.busy) roLoad();          // every refresh: fresh data
  const current = RO.data && RO.data.id === id ? RO.data.body : null;
  const key = [location.hash, S.lang, RO.at, S.fleet && S.fleet.who ? S.fleet.who.role : ""].join("|");
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  const kids = [h("h2", {}, t("ro_title"))];
  if (RO.error) kids.push(h("p", { class: "error", id: "ro-error" }, RO.error));
  if (!current) kids.push(h("p", { class: "muted" }, t("ro_loading")));
  else if (id) kids.splice(0, 1, ...roDetail(current));
  else kids.push(...roList(current));
  el.replaceChildren(...kids.flat().filter((n) => n));
}

window.TAP_VIEWS = window.TAP_VIEWS || {};
TAP_VIEWS.rollouts = { render: (el) => roShow(el, false) };
