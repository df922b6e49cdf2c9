// tapcert learner portal (/learner): plain JS, no build step, phone first.
// A learner signs in with account number and PIN (POST /learner/api/sign-in sets an HttpOnly
// session cookie this script never sees) and reads only their own account from
// /learner/api/* — the learner id comes from the session on the hub, never from this page.
// A 401 (expired, signed out, PIN reset) shows the sign-in form again with the reason.
"use strict";

const P = { lang: localStorage.getItem("tapcert.lang") || "zh", me: null, st: null, ex: null,
  timer: null };
window.__i18nMissing = [];

function t(key, vars) {
  const d = LEARNER_I18N[P.lang] || LEARNER_I18N.zh;
  let s = d[key];
  if (s === undefined) { window.__i18nMissing.push(P.lang + ":" + key); s = LEARNER_I18N.en[key] || key; }
  return vars ? s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? "?" : vars[k])) : s;
}

function h(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const k in attrs || {}) {
    if (k === "class") n.className = attrs[k];
    else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) n.setAttribute(k, attrs[k]);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    n.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
  }
  return n;
}

const $ = (sel) => document.querySelector(sel);
const loc = () => (P.lang === "zh" ? "zh-CN" : "en-US");
const num = (v) => Number(v).toLocaleString(loc(), { maximumFractionDigits: 3 });
const signed = (v) => (v > 0 ? "+" : "") + num(v);
const when = (ts) => (ts ? HubTime.full(ts) : "—");

// --- the API ---------------------------------------------------------------------------

async function call(method, path, body) {
  const opts = { method: method, credentials: "same-origin", headers: {} };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  let resp;
  try { resp = await fetch(path, opts); } catch (err) { return { ok: false, status: 0, error: t("unreachable") }; }
  let data = null;
  const isJSON = (resp.headers.get("content-type") || "").includes("json");
  try { data = isJSON ? await resp.json() : null; } catch (err) { data = null; }
  const detail = data && typeof data.detail === "string" ? data.detail : "";
  return { ok: resp.ok, status: resp.status, data: data, detail: detail, resp: resp };
}

function lockText(r) {
  const until = (r.data && r.data.locked_until) || Date.now() / 1000 + 900;
  const minutes = Math.max(1, Math.ceil((until - Date.now() / 1000) / 60));
  const network = r.detail.indexOf("network") >= 0;
  // the lock answer names the hub's zone: "until 14:05" by the hub's clock, like every time here
  if (r.data && r.data.timezone) HubTime.setZone(r.data.timezone);
  const time = HubTime.hm(until);
  return t(network ? "locked_network" : "locked_account", { time: time, minutes: minutes });
}

// An answer the page cannot use: back to sign-in on 401, otherwise a message in words.
function trouble(r) {
  if (r.status === 401) {
    showSignIn(r.detail.indexOf("expired") >= 0 ? t("expired") : t("signed_out_reset"));
    return;
  }
  const f = $("#flash");
  f.hidden = false;
  f.textContent = r.status === 0 ? t("unreachable") : t("http_error", { status: r.status, detail: r.detail });
}

// --- sign-in and out -------------------------------------------------------------------

function showSignIn(message) {
  clearTimeout(P.timer);
  P.me = P.st = P.ex = null;
  $("#portal").hidden = true;
  $("#signout").hidden = true;
  $("#signin").hidden = false;
  $("#pin").value = "";
  const e = $("#signin-error");
  e.hidden = !message;
  e.textContent = message || "";
}

async function signIn(ev) {
  ev.preventDefault();
  const btn = $("#signin-form button");
  btn.disabled = true;
  const r = await call("POST", "/learner/api/sign-in",
    { account: $("#account").value.trim(), pin: $("#pin").value });
  btn.disabled = false;
  $("#pin").value = "";
  const e = $("#signin-error");
  if (r.ok) { e.hidden = true; load(); return; }
  e.hidden = false;
  e.textContent = r.status === 429 ? lockText(r) : r.status === 401 ? t("wrong_pin")
    : r.status === 0 ? t("unreachable") : t("http_error", { status: r.status, detail: r.detail });
}

async function applyForAccount(ev) {
  ev.preventDefault();
  const r = await call("POST", "/learner/api/applications", { name: $("#apply-name").value.trim(),
    phone: $("#apply-phone").value.trim(), learner_type: $("#apply-type").value,
    station_id: $("#apply-station").value.trim() });
  const out = $("#apply-result");
  out.hidden = false;
  out.className = r.ok ? "done" : "error";
  out.textContent = r.ok ? t("apply_done", { id: r.data.id }) : r.status === 429 ? t("apply_limited")
    : r.status === 0 ? t("unreachable") : t("http_error", { status: r.status, detail: r.detail || detailOf(r) });
  if (r.ok) $("#apply-form").reset();
}

function detailOf(r) {   // pydantic's list of field errors, in its words
  const d = r.data && r.data.detail;
  return Array.isArray(d) ? d.map((e) => (e.loc ? e.loc.slice(1).join(".") + ": " : "") + e.msg).join("; ") : "";
}

async function signOut() {
  await call("POST", "/learner/api/sign-out");
  showSignIn(t("signed_out"));
  $("#signin-error").className = "muted";
}

// --- loading and drawing -----------------------------------------------------------------

async function load() {
  const me = await call("GET", "/learner/api/me");
  if (!me.ok) { if (me.status === 401) showSignIn(""); else trouble(me); return; }
  P.me = me.data;
  HubTime.setZone(P.me.timezone);
  const [st, ex] = await Promise.all([call("GET", "/learner/api/statement"),
    call("GET", "/learner/api/exchange")]);
  if (!st.ok) return trouble(st);
  if (!ex.ok) return trouble(ex);
  P.st = st.data; P.ex = ex.data;
  $("#signin").hidden = true;
  $("#portal").hidden = false;
  $("#signout").hidden = false;
  $("#signin-error").className = "error";
  clearTimeout(P.timer);     // the session ends on the hub then: say so at that moment
  P.timer = setTimeout(() => showSignIn(t("expired")),
    Math.max(0, P.me.session_expires_at * 1000 - Date.now()));
  draw();
}

function evidenceLine(ev) {
  if (ev.missing) return h("li", {}, t("ev_missing", { reader: ev.reader_id, seq: ev.seq }));
  return h("li", { class: "ev" }, t("ev_line", {
    kind: t("kind_" + ev.kind), time: when(ev.best_time), source: t("src_" + ev.time_source),
    station: ev.station_name || ev.station_id, reader: ev.reader_label || ev.reader_id, seq: ev.seq }),
    ev.flags && ev.flags.length ? " · " + t("ev_flags", { flags: ev.flags.join(", ") }) : null);
}

function evidence(list) {
  if (!list.length) return null;
  return h("details", {}, h("summary", {}, t("evidence", { n: list.length })),
    h("ul", { class: "evidence" }, list.map(evidenceLine)));
}

function title(item) {
  if (item.activity_id.indexOf("external:") === 0) return t("external");
  return item.activity_name || item.activity_id;
}

function categoryLine(item) {
  const c = item.category;
  return c ? h("div", { class: "meta" }, t("category", { name: P.lang === "zh" ? c.zh : c.en })) : null;
}

function entryCard(e) {
  return h("div", { class: "entry" },
    h("div", { class: "top" }, h("strong", {}, title(e)),
      h("span", { class: "amount" + (e.amount < 0 ? " minus" : "") }, t("credits_n", { n: signed(e.amount) }))),
    h("div", { class: "meta" }, [t("entry_" + e.entry), e.station_name || e.station_id,
      t("session", { time: when(e.session_start) }), t("recorded", { time: when(e.recorded_at) })]
      .filter(Boolean).join(" · ")),
    categoryLine(e), evidence(e.evidence));
}

function pendingCard(n) {
  return h("div", { class: "entry held" },
    h("div", { class: "top" }, h("strong", {}, title(n)), h("span", { class: "amount" }, t("status_" + n.status))),
    h("div", { class: "meta" }, [n.station_name || n.station_id, t("session", { time: when(n.session_start) }),
      t("by_standard", { n: num(n.credits_by_standard) })].filter(Boolean).join(" · ")),
    n.holds.length ? h("ul", { class: "reasons" }, n.holds.map((x) => h("li", {}, t("hold_" + x)))) : null,
    evidence(n.evidence));
}

function drawExchange() {
  const ex = P.ex, names = {};
  ex.services.forEach((s) => { names[s.id] = s.name; });
  const rows = ex.entries.map((e) => h("tr", {},
    h("td", {}, when(e.created_at)),
    h("td", {}, t(e.entry === "redeem" ? "move_redeem" : "move_reversal", { service: names[e.service_id] || e.service_id }),
      e.comment ? h("div", { class: "meta" }, e.comment) : null),
    h("td", { class: "num" }, signed(e.points)), h("td", { class: "num" }, signed(e.credits))));
  const soon = (ex.expiring || []).filter((x) => x.points > 0);
  return [soon.length ? h("ul", { class: "expiring", id: "expiring" }, soon.slice(0, 3).map((x) =>
      h("li", {}, t("points_expire", { points: num(x.points), day: x.day })))) : null,
    h("h3", {}, t("moves")),
    rows.length ? h("table", { class: "moves" }, h("thead", {}, h("tr", {},
      ["col_when", "col_what", "col_points", "col_credits"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, rows)) : h("p", { class: "muted" }, t("no_moves")),
    h("h3", {}, t("services")),
    ex.services.length ? h("ul", { class: "services", id: "services" }, ex.services.map((s) =>
      h("li", { class: s.affordable ? "affordable" : "short", "data-service": s.id }, s.name, " — ",
        t("service_price", { points: num(s.price_points) }), " · ",
        t(s.affordable ? "service_affordable" : "service_short",
          { more: num(s.price_points - ex.points_available) }))))
      : h("p", { class: "muted" }, t("no_services"))];
}

function fill(sel, nodes) {
  const body = $(sel + " .body");
  body.replaceChildren(...[].concat(nodes).filter(Boolean));
}

function draw() {
  document.documentElement.lang = P.lang === "zh" ? "zh" : "en";
  document.title = t("title");
  document.querySelectorAll("[data-t]").forEach((n) => { n.textContent = t(n.getAttribute("data-t")); });
  $("#lang").textContent = t("lang_switch");
  if (!P.me) return;
  $("#hello").textContent = t("hello", { name: P.me.name || P.me.learner_id, id: P.me.learner_id });
  const kind = P.me.learner_type_label;
  $("#learner-type").textContent = t("learner_type", { type: kind ? (P.lang === "zh" ? kind.zh : kind.en) : t("type_none") });
  $("#v-credits").textContent = num(P.me.credits);
  $("#v-available").textContent = num(P.me.credits_available);
  $("#v-points").textContent = num(P.me.points_available);
  $("#v-rate").textContent = t("rate", { rate: P.me.points_per_credit });
  $("#session-note").textContent = t("session_until", { time: HubTime.hm(P.me.session_expires_at), zone: HubTime.label() });
  $("#verify-cmd").textContent = "tapcert-hub verify-transcript transcript-" + P.me.learner_id + ".json";
  fill("#statement", P.st.entries.length ? P.st.entries.map(entryCard) : h("p", { class: "muted" }, t("none_yet")));
  fill("#pending", P.st.not_credited.length ? P.st.not_credited.map(pendingCard) : h("p", { class: "muted" }, t("none_pending")));
  fill("#exchange", drawExchange());
}

async function download() {   // the bytes exactly as the hub signed and sent them
  let resp;
  try { resp = await fetch("/learner/api/transcript", { credentials: "same-origin" }); } catch (err) {
    return trouble({ status: 0 });
  }
  if (!resp.ok) {
    let detail = "";
    try { detail = (await resp.json()).detail || ""; } catch (err) { detail = ""; }
    return trouble({ status: resp.status, detail: String(detail) });
  }
  const m = (resp.headers.get("content-disposition") || "").match(/filename="([^"]+)"/);
  const file = m ? m[1] : "transcript.json";
  const url = URL.createObjectURL(await resp.blob());
  const a = h("a", { href: url, download: file });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  const done = $("#download-done");
  done.hidden = false;
  done.textContent = t("downloaded", { file: file });
}

document.addEventListener("DOMContentLoaded", () => {
  $("#lang").addEventListener("click", () => {
    P.lang = P.lang === "zh" ? "en" : "zh";
    localStorage.setItem("tapcert.lang", P.lang);
    const msg = $("#signin-error");
    if (!msg.hidden && msg.className === "error") msg.hidden = true;   // its words were in the other language
    draw();
  });
  $("#signin-form").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", signOut);
  $("#apply-form").addEventListener("submit", applyForAccount);
  $("#download").addEventListener("click", download);
  draw();
  load();
});
