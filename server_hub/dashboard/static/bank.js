// tapcert credit-bank administration page (/dashboard/bank): plain JS, no build step.
// For certification administrators (role admin) only: its data comes from GET /api/v1/bank/desk,
// which answers 403 to every other role; the page then says so and shows nothing else.
// Sections: review queue, external credits (four-eyes), exchange, audit log; bank_admin.js adds
// activities and standards, course categories, terms, settings and redeeming. Every change goes
// through the /api/v1 routes; an error from the API is shown in its own words.
"use strict";

const B = {
  lang: localStorage.getItem("tapcert.lang") || "zh",
  token: sessionStorage.getItem("tapcert.token") || "",
  desk: null, who: null, account: null, audit: null, auditKind: "", auditSubject: "",
};
window.__i18nMissing = [];

function t(key, vars) {
  const d = BANK_I18N[B.lang] || BANK_I18N.zh;
  let s = d[key];
  if (s === undefined) { window.__i18nMissing.push(B.lang + ":" + key); s = BANK_I18N.en[key] || key; }
  return vars ? s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? "?" : vars[k])) : s;
}

function h(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const k in attrs || {}) {
    if (k === "class") n.className = attrs[k];
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), attrs[k]);
    else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) n.setAttribute(k, attrs[k]);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    n.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
  }
  return n;
}

const $ = (sel) => document.querySelector(sel);
const loc = () => (B.lang === "zh" ? "zh-CN" : "en-US");
const num = (v, digits) => (v === null || v === undefined ? "—" :
  Number(v).toLocaleString(loc(), { maximumFractionDigits: digits === undefined ? 3 : digits }));
function when(ts) {   // in the hub's time zone (hubtime.js), named beside the sign-in line
  return ts ? HubTime.full(ts) : "—";
}

// --- the API ---------------------------------------------------------------------------

function detailText(data, status) {
  const d = data && data.detail;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) return d.map((e) => (e.loc ? e.loc.slice(1).join(".") + ": " : "") + e.msg).join("; ");
  return t("http_error", { status: status });
}

async function call(method, path, body) {
  const opts = { method: method, headers: { Authorization: "Bearer " + B.token } };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  let resp;
  try { resp = await fetch(path, opts); } catch (err) {
    return { ok: false, status: 0, error: t("unreachable") };
  }
  let data = null;
  try { data = await resp.json(); } catch (err) { data = null; }
  if (resp.status === 401) signOut();
  return { ok: resp.ok, status: resp.status, data: data, error: resp.ok ? null : detailText(data, resp.status) };
}

function flash(text, kind) {     // kind: true (an error), "pending" (four-eyes), else done
  const f = $("#flash");
  const k = kind === true ? "error" : (kind === "pending" ? "pending" : "done");
  f.hidden = false;
  f.className = "flash " + k;
  f.textContent = { error: "⚠ ", pending: "⏳ ", done: "✓ " }[k] + text;
}

// --- loading ---------------------------------------------------------------------------

async function load() {
  const zone = await call("GET", "/dashboard/api/zone");
  if (zone.ok) HubTime.setZone(zone.data.timezone);
  const r = await call("GET", "/api/v1/bank/desk");
  if (r.status === 401) return;
  if (r.status === 403) {
    show("refused");
    $("#refused-detail").textContent = r.error;
    return;
  }
  if (!r.ok) { show("bank"); flash(r.error, true); return; }
  B.desk = r.data;
  B.who = r.data.who;
  show("bank");
  renderAll();
  loadAudit();
  adminLoad();
  if (B.account) lookup(B.account.learner_id);
}

async function loadAudit() {
  const qs = new URLSearchParams({ limit: 100 });
  if (B.auditKind) qs.set("action", B.auditKind + ".*");
  if (B.auditSubject) qs.set("subject", B.auditSubject);
  const r = await call("GET", "/api/v1/audit?" + qs);
  B.audit = r.ok ? r.data : { error: r.error };
  renderAudit();
}

// --- review queue ----------------------------------------------------------------------

function describeStandard(std) {
  if (!std) return "—";
  if (std.versions) {
    const cur = std.versions[std.versions.length - 1];
    return describeStandard(cur.standard) + (std.versions.length > 1 ?
      " " + t("std_versions", { n: std.versions.length }) : "");
  }
  const c = num(std.credits);
  if (std.type === "fixed") return t("std_fixed", { c: c });
  if (std.type === "attendance") return t("std_attendance", { c: c, share: num((std.share || 0) * 100, 0) });
  if (std.type === "per_hour") return t("std_per_hour", { c: c, m: std.round_minutes || 1 });
  return JSON.stringify(std);
}

function optional(key, fallback) {   // a label when there is one, else the value as it is
  const own = BANK_I18N[B.lang][key];
  return own === undefined ? fallback : own;
}

function holdText(item, code) {
  const own = BANK_I18N[B.lang]["hold_" + code];
  return own !== undefined ? own : code + ": " + ((item.explanations || {})[code] || "");
}

function evidenceTable(list) {
  const cols = ["ev_kind", "ev_time", "ev_source", "ev_reader", "ev_seq", "ev_station", "ev_flags"];
  return h("table", { class: "detail evidence" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, t(c))))),
    h("tbody", {}, list.map((e) => h("tr", {}, (e.missing ? [t("ev_missing"), "—", "—",
        h("code", {}, e.reader_id), num(e.seq, 0), "—", "—"] : [
        t("kind_" + e.kind), when(e.best_time), optional("src_" + e.time_source, e.time_source),
        [e.reader_label ? e.reader_label + " " : "", h("code", {}, e.reader_id)],
        num(e.seq, 0), e.station_id, e.flags.length ? e.flags.join(", ") : "—"])
      .map((v, i) => h("td", { "data-label": t(cols[i]) }, h("div", { class: "cell" }, v)))))));
}

function decisionForm(onDecide) {
  const comment = h("input", { type: "text", class: "comment", maxlength: 2000,
                               placeholder: t("comment_ph"), "aria-label": t("comment") });
  const err = h("p", { class: "error", hidden: "" });
  const go = (decision) => async () => {
    if (!comment.value.trim()) { err.hidden = false; err.textContent = t("comment_required"); comment.focus(); return; }
    err.hidden = true;
    buttons.forEach((b) => { b.disabled = true; });
    const msg = await onDecide(decision, comment.value.trim());
    buttons.forEach((b) => { b.disabled = false; });
    if (msg) { err.hidden = false; err.textContent = "⚠ " + msg; }
  };
  const buttons = [h("button", { type: "button", class: "approve", onclick: go("approve") }, "✓ " + t("approve")),
                   h("button", { type: "button", class: "reject", onclick: go("reject") }, "✕ " + t("reject"))];
  return h("div", { class: "decide noprint" }, comment, buttons, err);
}

function renderReviews() {
  const list = B.desk.reviews;
  const box = $("#reviews .body");
  if (!list.length) { box.replaceChildren(h("p", { class: "muted", id: "queue-empty" }, t("queue_empty"))); return; }
  box.replaceChildren(h("p", {}, t("queue_count", { n: list.length })), ...list.map((item) => {
    const a = item.activity || {};
    return h("article", { class: "item review", "data-learner": item.learner_id,
                          "data-activity": item.activity_id, "data-start": item.session_start },
      h("h3", {}, item.learner_id, " · ", a.name || item.activity_id, " · ", when(item.session_start)),
      h("dl", { class: "facts" },
        h("dt", {}, t("learner")), h("dd", {}, item.learner_id),
        h("dt", {}, t("activity")), h("dd", {}, (a.name ? a.name + " " : ""), h("code", {}, item.activity_id)),
        h("dt", {}, t("station")), h("dd", {}, a.station_id || "—"),
        h("dt", {}, t("standard")), h("dd", { class: "standard" }, describeStandard(a.standard)),
        h("dt", {}, t("session")), h("dd", {}, when(item.session_start) + " (" + item.day + ")"),
        h("dt", {}, t("by_standard")), h("dd", {}, t("credits_n", { n: num(item.credits_by_standard) }))),
      h("ul", { class: "holds" }, item.holds.map((code) =>
        h("li", { "data-hold": code }, "▲ ", holdText(item, code)))),
      h("h4", {}, t("evidence")), evidenceTable(item.evidence),
      decisionForm(async (decision, comment) => {
        const r = await call("POST", "/api/v1/reviews", { learner_id: item.learner_id,
          activity_id: item.activity_id, session_start: item.session_start, decision: decision,
          comment: comment });
        if (!r.ok) return r.error;
        B.desk.reviews = B.desk.reviews.filter((x) => x !== item);
        renderReviews();
        flash(t("review_done_" + decision, { learner: item.learner_id,
          before: num(r.data.applied_before / 1000), after: num(r.data.applied_after / 1000) }));
        loadAudit();
        return null;
      }));
  }));
}

// --- external credits (four-eyes) ------------------------------------------------------

function renderExternal() {
  const list = B.desk.external_pending;
  const cols = ["ext_id", "learner", "credits", "ext_title", "ext_institution", "ext_proof", "ext_day", "ext_entered_by", ""];
  const rows = list.map((x) => h("tr", { "data-external": x.id },
    [["ext_id", "#" + x.id], ["learner", x.learner_id], ["credits", num(x.credits)], ["ext_title", x.title],
     ["ext_institution", x.institution], ["ext_proof", h("code", {}, x.proof_ref)], ["ext_day", x.day],
     ["ext_entered_by", [x.entered_by, h("div", { class: "muted" }, when(x.entered_at)),
       B.who && x.entered_by === B.who.name ? h("div", { class: "mine" }, t("ext_yours")) : null]],
     ["decide", decisionForm(async (decision, comment) => {
       const r = await call("POST", "/api/v1/external-credits/" + x.id + "/decision",
                            { decision: decision, comment: comment });
       if (!r.ok) return r.error;
       B.desk.external_pending = B.desk.external_pending.filter((y) => y !== x);
       renderExternal();
       flash(t("ext_done_" + decision, { id: x.id, learner: x.learner_id }));
       loadAudit();
       return null;
     })]].map(([k, v]) => h("td", { "data-label": k === "decide" ? "" : t(k) }, h("div", { class: "cell" }, v)))));
  const table = list.length ? h("table", { class: "detail", id: "external-list" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c ? t(c) : "")))), h("tbody", {}, rows))
    : h("p", { class: "muted", id: "external-empty" }, t("ext_empty"));
  const f = {};
  const field = (name, attrs) => h("label", {}, t("ext_" + name), (f[name] = h("input", Object.assign({ required: "" }, attrs))));
  const err = h("p", { class: "error", hidden: "" });
  const form = h("form", { class: "inline noprint", id: "external-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const r = await call("POST", "/api/v1/external-credits", { learner_id: f.learner.value.trim(),
      amount_milli: Math.round(Number(f.credits.value) * 1000), title: f.title.value.trim(),
      institution: f.institution.value.trim(), proof_ref: f.proof.value.trim(), day: f.day.value });
    if (!r.ok) { err.hidden = false; err.textContent = "⚠ " + r.error; return; }
    B.desk.external_pending = [r.data].concat(B.desk.external_pending);
    renderExternal();
    flash(t("ext_entered", { id: r.data.id }));
    loadAudit();
  } }, h("h3", {}, t("ext_enter")),
    field("learner", { maxlength: 64 }), field("credits", { type: "number", min: "0.001", max: "1000", step: "0.001" }),
    field("title", { maxlength: 200 }), field("institution", { maxlength: 200 }),
    field("proof", { maxlength: 200 }), field("day", { type: "date" }),
    h("button", { type: "submit" }, t("ext_submit")), err);
  $("#external .body").replaceChildren(table, form);
}

// --- exchange --------------------------------------------------------------------------

async function change(method, path, body, done) {
  const r = await call(method, path, body);
  if (!r.ok) { flash(r.error, true); return null; }
  flash(done);
  await load();
  return r.data;
}

function renderExchange() {
  const d = B.desk;
  const rate = h("input", { type: "number", min: 1, step: 1, value: d.rate, id: "rate-input", "aria-label": t("rate") });
  const rateBox = h("div", { class: "inline" }, h("strong", { id: "rate" }, t("rate_text", { n: num(d.rate) })),
    h("span", { class: "noprint" }, " ", rate, h("button", { type: "button", id: "rate-set", onclick: () =>
      change("PUT", "/api/v1/exchange/rate", { points_per_credit: Number(rate.value) }, t("rate_done", { n: rate.value })) },
    t("rate_set"))));
  const cols = ["svc_id", "svc_name", "svc_category", "svc_price", "svc_status", ""];
  const rows = d.services.map((s) => {
    const price = h("input", { type: "number", min: 1, step: 1, value: s.price_points, class: "price", "aria-label": t("svc_price") });
    return h("tr", { "data-service": s.id, "data-active": s.active ? "yes" : "no" },
      [h("code", {}, s.id), s.name, s.category || "—",
       [h("span", { class: "print-only" }, num(s.price_points, 0)), h("span", { class: "noprint" }, price,
         h("button", { type: "button", class: "save-price", onclick: () => change("PATCH",
           "/api/v1/exchange/services/" + encodeURIComponent(s.id), { price_points: Number(price.value) },
           t("svc_price_done", { id: s.id, n: price.value })) }, t("save")))],
       s.active ? "● " + t("svc_active") : "✕ " + t("svc_retired"),
       h("button", { type: "button", class: "noprint toggle", onclick: () => change("PATCH",
         "/api/v1/exchange/services/" + encodeURIComponent(s.id), { active: !s.active },
         t(s.active ? "svc_retire_done" : "svc_restore_done", { id: s.id })) },
         t(s.active ? "svc_retire" : "svc_restore"))]
        .map((v, i) => h("td", { "data-label": cols[i] ? t(cols[i]) : "" }, h("div", { class: "cell" }, v))));
  });
  const f = {};
  const field = (name, attrs) => h("label", {}, t("svc_" + name), (f[name] = h("input", attrs)));
  const add = h("form", { class: "inline noprint", id: "service-form", onsubmit: async (ev) => {
    ev.preventDefault();
    await change("POST", "/api/v1/exchange/services", { id: f.id.value.trim(), name: f.name.value.trim(),
      price_points: Number(f.price.value), category: f.category.value.trim() }, t("svc_added", { id: f.id.value.trim() }));
  } }, h("h4", {}, t("svc_add")), field("id", { required: "", maxlength: 64 }),
    field("name", { required: "", maxlength: 200 }), field("price", { required: "", type: "number", min: 1, step: 1 }),
    field("category", { maxlength: 64 }), h("button", { type: "submit" }, t("svc_add_submit")));
  const who = h("input", { type: "search", id: "learner-id", maxlength: 64, placeholder: t("learner_ph"),
                           value: B.account ? B.account.learner_id : "" });
  const lookupForm = h("form", { class: "inline noprint", id: "learner-form", onsubmit: (ev) => {
    ev.preventDefault(); lookup(who.value.trim());
  } }, who, h("button", { type: "submit" }, t("lookup")));
  $("#exchange .body").replaceChildren(h("h3", {}, t("rate")), rateBox,
    h("h3", {}, t("catalogue")), h("table", { class: "detail", id: "services" },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c ? t(c) : "")))), h("tbody", {}, rows)), add,
    h("h3", {}, t("account")), lookupForm, h("div", { id: "account" }));
  renderAccount();
}

async function lookup(learner) {
  if (!learner) return;
  const r = await call("GET", "/api/v1/learners/" + encodeURIComponent(learner) + "/exchange");
  B.account = r.ok ? r.data : { learner_id: learner, error: r.error };
  renderAccount();
}

function reverseButton(e) {
  const cell = h("div", { class: "reverse" });
  const open = () => {
    const reason = h("input", { type: "text", class: "reason", maxlength: 2000, placeholder: t("reverse_reason"),
                                "aria-label": t("reverse_reason") });
    const err = h("p", { class: "error", hidden: "" });
    cell.replaceChildren(reason, h("button", { type: "button", class: "confirm", onclick: async () => {
      if (!reason.value.trim()) { err.hidden = false; err.textContent = t("reason_required"); return; }
      const r = await call("POST", "/api/v1/exchange/redemptions/" + encodeURIComponent(e.key) + "/reversal",
                           { comment: reason.value.trim() });
      if (!r.ok) { err.hidden = false; err.textContent = "⚠ " + r.error; return; }
      flash(t("reverse_done", { key: e.key }));
      loadAudit();
      lookup(B.account.learner_id);
    } }, t("reverse_confirm")), h("button", { type: "button", onclick: () => cell.replaceChildren(start) }, t("cancel")), err);
    reason.focus();
  };
  const start = h("button", { type: "button", class: "reverse-open noprint", onclick: open }, t("reverse"));
  cell.appendChild(start);
  return cell;
}

function renderAccount() {
  const box = $("#account");
  if (!box || !B.account) return;
  const a = B.account;
  if (a.error) { box.replaceChildren(h("p", { class: "error" }, "⚠ " + a.error)); return; }
  const reversed = new Set(a.entries.filter((e) => e.entry === "reversal").map((e) => e.reverses));
  const cols = ["at", "entry", "service", "points", "credits", "key", "actor", "comment", ""];
  const rows = a.entries.map((e) => h("tr", { "data-entry": e.entry, "data-key": e.key },
    [when(e.created_at), t("entry_" + e.entry), e.service_id, num(e.points, 0), num(e.credits),
     h("code", {}, e.key), e.actor, e.comment || "—",
     e.entry === "redeem" ? (reversed.has(e.id) ? t("reversed") : reverseButton(e)) : ""]
      .map((v, i) => h("td", { "data-label": cols[i] ? t(cols[i]) : "" }, h("div", { class: "cell" }, v)))));
  box.replaceChildren(
    h("dl", { class: "facts", id: "balance", "data-learner": a.learner_id },
      h("dt", {}, t("learner")), h("dd", {}, a.learner_id),
      h("dt", {}, t("bal_credits")), h("dd", {}, num(a.credits)),
      h("dt", {}, t("bal_exchanged")), h("dd", {}, num(a.credits_exchanged)),
      h("dt", {}, t("bal_available")), h("dd", {}, num(a.credits_available)),
      h("dt", {}, t("bal_points")), h("dd", { id: "points" }, num(a.points_available, 0) + " " +
        t("points_at", { n: num(a.points_per_credit, 0) }))),
    redeemForm(a),
    a.entries.length ? h("table", { class: "detail", id: "entries" },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c ? t(c) : "")))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, t("no_redemptions")));
}

// --- audit log -------------------------------------------------------------------------

const AUDIT_KINDS = ["", "review", "external", "exchange", "settings", "activity", "category", "term"];

function auditDetail(d) {   // the facts a person reads, in words; anything else as code
  if (!d) return "";
  const parts = [];
  const said = { comment: 1, changed: 1, holds: 1, session_start: 1, entry_id: 1, redemption_id: 1,
                 ledger_id: 1, rate: 1, credits_milli: 1, entered_by: 1 };
  if (d.comment) parts.push("“" + d.comment + "”");
  if (d.applied_before !== undefined) {
    parts.push(t("ledger_change", { before: num(d.applied_before / 1000), after: num(d.applied_after / 1000) }));
    said.applied_before = said.applied_after = 1;
  }
  const words = { activity_id: (v) => t("activity") + " " + v, service_id: (v) => t("service") + " " + v,
    key: (v) => t("key") + " " + v, id: (v) => "#" + v, amount_milli: (v) => t("credits_n", { n: num(v / 1000) }),
    points: (v) => t("points") + " " + num(v, 0), price_points: (v) => t("svc_price") + " " + num(v, 0),
    points_per_credit: (v) => t("rate_text", { n: num(v, 0) }), admin: (v) => t("admin_of", { name: v }),
    name: (v) => t("svc_name") + " " + v, category: (v) => t("svc_category") + " " + v,
    active: (v) => (v ? t("svc_active") : t("svc_retired")), title: (v) => v, institution: (v) => v,
    proof_ref: (v) => t("ext_proof") + " " + v, day: (v) => v, decision: (v) => t(v) };
  const rest = {};
  for (const k in d) {
    if (said[k] || d[k] === null || d[k] === "") continue;
    if (words[k]) parts.push(words[k](d[k])); else rest[k] = d[k];
  }
  return [parts.join(" · "), Object.keys(rest).length ? [" ", h("code", {}, JSON.stringify(rest))] : null];
}

function actLabel(action) {   // a word for known actions; the code alone for others
  const own = BANK_I18N[B.lang]["act_" + action.replace(/\./g, "_")];
  return own === undefined ? "" : own;
}

function renderAudit() {
  const sel = h("select", { id: "audit-kind", onchange: (ev) => { B.auditKind = ev.target.value; loadAudit(); } },
    AUDIT_KINDS.map((k) => h("option", { value: k, selected: k === B.auditKind ? "" : null }, t("audit_kind_" + (k || "all")))));
  const subj = h("input", { type: "search", id: "audit-subject", maxlength: 200, value: B.auditSubject,
                            placeholder: t("audit_subject") });
  const tools = h("form", { class: "inline noprint", onsubmit: (ev) => {
    ev.preventDefault(); B.auditSubject = subj.value.trim(); loadAudit();
  } }, sel, subj, h("button", { type: "submit" }, t("filter")));
  const a = B.audit;
  let body;
  if (!a) body = h("p", { class: "muted" }, t("loading"));
  else if (a.error) body = h("p", { class: "error" }, "⚠ " + a.error);
  else if (!a.length) body = h("p", { class: "muted" }, t("audit_empty"));
  else {
    const cols = ["at", "actor", "action", "subject", "detail"];
    body = h("table", { class: "detail", id: "audit-log" },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, t(c))))),
      h("tbody", {}, a.map((e) => h("tr", { "data-action": e.action, "data-subject": e.subject },
        [when(e.at), e.actor, [actLabel(e.action), " ", h("code", {}, e.action)],
         h("code", {}, e.subject), auditDetail(e.detail)]
          .map((v, i) => h("td", { "data-label": t(cols[i]) }, h("div", { class: "cell" }, v)))))));
  }
  $("#audit .body").replaceChildren(tools, body);
}

// --- page ------------------------------------------------------------------------------

function renderAll() {
  applyStatic();
  if (!B.desk) return;
  $("#who").textContent = B.who ? t("signed_in_as", { name: B.who.name, role: B.who.role }) +
    " · " + t("times_in") + " " + HubTime.label() : "";
  renderReviews();
  renderExternal();
  renderExchange();
  renderAdmin();
  renderAudit();
}

function applyStatic() {
  document.documentElement.lang = B.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  document.querySelectorAll("[data-t]").forEach((n) => { n.textContent = t(n.dataset.t); });
  $("#lang").textContent = t("lang_switch");
}

function show(which) {
  for (const id of ["login", "refused", "bank"]) $("#" + id).hidden = id !== which;
  $("#logout").hidden = which === "login";
}

function signOut() {
  B.token = "";
  B.desk = null;
  sessionStorage.removeItem("tapcert.token");
  $("#who").textContent = "";
  show("login");
}

async function signIn(ev) {
  ev.preventDefault();
  const token = $("#token").value.trim();
  const resp = await fetch("/api/v1/whoami", { headers: { Authorization: "Bearer " + token } });
  if (!resp.ok) { $("#login-error").hidden = false; return; }
  $("#login-error").hidden = true;
  B.token = token;
  sessionStorage.setItem("tapcert.token", token);
  $("#token").value = "";
  load();
}

document.addEventListener("DOMContentLoaded", () => {
  applyStatic();
  $("#lang").addEventListener("click", () => {
    B.lang = B.lang === "zh" ? "en" : "zh";
    localStorage.setItem("tapcert.lang", B.lang);
    renderAll();
  });
  $("#print").addEventListener("click", () => window.print());
  $("#logout").addEventListener("click", signOut);
  $("#login-form").addEventListener("submit", signIn);
  if (B.token) load(); else show("login");
});
