// tapcert credit-bank administration page, part two (bank.js is part one; this file uses its
// B, t, h, $, num, call and flash). Sections an administrator needs beyond the desk:
// course categories, terms, activities and their standards (effective-dated changes),
// settings (grade thresholds, reward rule; administrators per activity in the activities
// table) and redeeming a service on a learner's behalf (in the exchange section's account).
// Every change goes through the /api/v1 routes; a refusal is shown in the API's own words.
"use strict";

const ADM = { cats: null, terms: null, acts: null, settings: null, grades: null, admins: [],
              editing: null, answer: null, redeem: null };

async function adminLoad() {
  const [c, tm, a, s, g, o] = await Promise.all([
    call("GET", "/api/v1/categories?all=true"), call("GET", "/api/v1/terms"),
    call("GET", "/api/v1/bank/activities"), call("GET", "/api/v1/evaluation/settings"),
    call("GET", "/api/v1/evaluation/stations"), call("GET", "/api/v1/operators")]);
  const got = (r) => (r.ok ? r.data : { error: r.error });
  ADM.cats = got(c); ADM.terms = got(tm); ADM.acts = got(a); ADM.settings = got(s);
  ADM.grades = got(g);
  ADM.admins = o.ok ? o.data.filter((x) => x.role === "admin" && !x.revoked).map((x) => x.name) : [];
  renderAdmin();
}

function renderAdmin() {
  if (!ADM.cats) return;
  renderCategories(); renderTerms(); renderActivities(); renderSettings();
}

// a change through the API: the answer's words on failure (returned), the data on success.
// 202 is the four-eyes answer: nothing changed yet, a second admin must approve the proposal
// (data.pending); it is shown as pending, never as done or as an error.
async function adminChange(method, path, body, done, errBox) {
  const r = await call(method, path, body);
  if (!r.ok) {
    const words = refusalWords(r);
    if (errBox) { errBox.hidden = false; errBox.textContent = "⚠ " + words; }
    flash(words, true);
    return null;
  }
  const pending = r.status === 202 && r.data ? r.data.pending : null;
  if (pending) flash(t("four_eyes_pending", { id: pending.id, by: pending.proposed_by }), "pending");
  else flash(done);
  await adminLoad();
  loadAudit();
  return r.data || {};
}

function pendingAnswer(p) {    // a proposal waiting for a second admin (POST /activity-changes/{id}/decision)
  const written = p.would_write || {};
  const n = Object.keys(written).reduce((s, k) => s + written[k], 0);
  return h("div", { class: "answer pending", id: "change-pending", "data-proposal": p.id },
    h("p", {}, t("four_eyes_pending", { id: p.id, by: p.proposed_by })),
    h("p", { class: "muted" }, t("four_eyes_would_write", { n: n, id: p.id })));
}

function refusalWords(r) {     // the API's words, with a sentence in the page's language first
  const overlap = /overlaps term (\S+) \(([^)]*)\)/.exec(r.error || "");
  if (r.status === 409 && overlap) return t("term_overlap", { term: overlap[1], days: overlap[2] }) + " — " + r.error;
  if (r.status === 409 && /not enough points/.test(r.error || "")) return t("redeem_short") + " — " + r.error;
  return r.status ? t("refused_by_api", { status: r.status }) + " " + r.error : r.error;
}

const errLine = () => h("p", { class: "error", hidden: "" });
const cell = (label, v) => h("td", { "data-label": label ? t(label) : "" }, h("div", { class: "cell" }, v));
const head = (cols) => h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c ? t(c) : ""))));
const failed = (x) => h("p", { class: "error" }, "⚠ " + x.error);

// --- course categories -----------------------------------------------------------------

function catName(c) { return c ? (B.lang === "zh" ? c.name_zh : c.name_en) : "—"; }

function renderCategories() {
  const box = $("#categories .body");
  if (ADM.cats.error) { box.replaceChildren(failed(ADM.cats)); return; }
  const cols = ["cat_code", "cat_zh", "cat_en", "cat_status", ""];
  const rows = ADM.cats.map((c) => {
    const zh = h("input", { type: "text", class: "name-zh", maxlength: 200, value: c.name_zh, "aria-label": t("cat_zh") });
    const en = h("input", { type: "text", class: "name-en", maxlength: 200, value: c.name_en, "aria-label": t("cat_en") });
    const err = errLine();
    const path = "/api/v1/categories/" + encodeURIComponent(c.code);
    return h("tr", { "data-category": c.code, "data-active": c.active ? "yes" : "no" },
      cell("cat_code", h("code", {}, c.code)),
      cell("cat_zh", [h("span", { class: "print-only" }, c.name_zh), h("span", { class: "noprint" }, zh)]),
      cell("cat_en", [h("span", { class: "print-only" }, c.name_en), h("span", { class: "noprint" }, en)]),
      cell("cat_status", c.active ? "● " + t("cat_active") : "✕ " + t("cat_retired")),
      cell("", h("div", { class: "noprint row-tools" },
        h("button", { type: "button", class: "rename", onclick: () => adminChange("PATCH", path,
          { name_zh: zh.value.trim(), name_en: en.value.trim() }, t("cat_renamed", { code: c.code }), err) }, t("save")),
        h("button", { type: "button", class: "toggle", onclick: () => adminChange("PATCH", path, { active: !c.active },
          t(c.active ? "cat_retire_done" : "cat_restore_done", { code: c.code }), err) },
          t(c.active ? "cat_retire" : "cat_restore")), err)));
  });
  const f = {};
  const field = (name, attrs) => h("label", {}, t("cat_" + name), (f[name] = h("input", Object.assign({ required: "" }, attrs))));
  const err = errLine();
  const form = h("form", { class: "inline noprint", id: "category-form", onsubmit: async (ev) => {
    ev.preventDefault();
    await adminChange("POST", "/api/v1/categories", { code: f.code.value.trim(), name_zh: f.zh.value.trim(),
      name_en: f.en.value.trim() }, t("cat_added", { code: f.code.value.trim() }), err);
  } }, h("h4", {}, t("cat_add")), field("code", { maxlength: 64, pattern: "[a-z0-9][a-z0-9\\-]*", placeholder: "health" }),
    field("zh", { maxlength: 200 }), field("en", { maxlength: 200 }), h("button", { type: "submit" }, t("cat_add_submit")), err);
  box.replaceChildren(h("table", { class: "detail", id: "category-list" }, head(cols), h("tbody", {}, rows)), form);
}

// --- terms -----------------------------------------------------------------------------

function renderTerms() {
  const box = $("#terms .body");
  if (ADM.terms.error) { box.replaceChildren(failed(ADM.terms)); return; }
  const cols = ["term_id", "term_name", "term_first", "term_last", ""];
  const rows = ADM.terms.map((x) => {
    const i = { name: h("input", { type: "text", class: "term-name", maxlength: 200, value: x.name, "aria-label": t("term_name") }),
                first: h("input", { type: "date", class: "term-first", value: x.first_day, "aria-label": t("term_first") }),
                last: h("input", { type: "date", class: "term-last", value: x.last_day, "aria-label": t("term_last") }) };
    const err = errLine();
    const path = "/api/v1/terms/" + encodeURIComponent(x.id);
    const tools = h("div", { class: "noprint row-tools" });
    const removeAsk = h("button", { type: "button", class: "remove", onclick: () => tools.replaceChildren(
      h("span", {}, t("term_remove_ask")),
      h("button", { type: "button", class: "confirm", onclick: () => adminChange("DELETE", path, undefined,
        t("term_removed", { id: x.id }), err) }, t("term_remove_confirm")),
      h("button", { type: "button", onclick: () => tools.replaceChildren(save, removeAsk, err) }, t("cancel")), err) },
      t("term_remove"));
    const save = h("button", { type: "button", class: "save", onclick: () => adminChange("PATCH", path,
      { name: i.name.value.trim(), first_day: i.first.value, last_day: i.last.value }, t("term_saved", { id: x.id }), err) },
      t("save"));
    tools.append(save, removeAsk, err);
    const both = (v, input) => [h("span", { class: "print-only" }, v), h("span", { class: "noprint" }, input)];
    return h("tr", { "data-term": x.id }, cell("term_id", h("code", {}, x.id)), cell("term_name", both(x.name, i.name)),
      cell("term_first", both(x.first_day, i.first)), cell("term_last", both(x.last_day, i.last)), cell("", tools));
  });
  const f = {};
  const field = (name, attrs) => h("label", {}, t("term_" + name), (f[name] = h("input", Object.assign({ required: "" }, attrs))));
  const err = errLine();
  const form = h("form", { class: "inline noprint", id: "term-form", onsubmit: async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    await adminChange("POST", "/api/v1/terms", { id: f.id.value.trim(), name: f.name.value.trim(),
      first_day: f.first.value, last_day: f.last.value }, t("term_added", { id: f.id.value.trim() }), err);
  } }, h("h4", {}, t("term_add")), field("id", { maxlength: 32, placeholder: "2026-autumn" }),
    field("name", { maxlength: 200 }), field("first", { type: "date" }), field("last", { type: "date" }),
    h("button", { type: "submit" }, t("term_add_submit")), err);
  box.replaceChildren(ADM.terms.length ? h("table", { class: "detail", id: "term-list" }, head(cols), h("tbody", {}, rows))
    : h("p", { class: "muted", id: "terms-empty" }, t("terms_empty")), form);
}

// --- activities and their standards ------------------------------------------------------

function standardWords(std) {
  if (!std) return "—";
  if (std.versions) {
    return std.versions.map((v, i) => {
      const next = std.versions[i + 1];
      const span = next ? (v.from ? t("ver_between", { a: v.from, b: next.from }) : t("ver_until", { b: next.from }))
        : (v.from ? t("ver_from", { a: v.from }) : "");
      return (span ? span + ": " : "") + standardWords(v.standard);
    }).join(" · ");
  }
  const c = num(std.credits === undefined ? 1 : std.credits);
  let s;
  if (std.type === "fixed") s = t("sw_fixed", { c: c });
  else if (std.type === "attendance") s = t("sw_attendance", { c: c, share: num((std.share || 0.8) * 100, 0) });
  else if (std.type === "per_hour") {
    s = t("sw_per_hour", { c: c }) + t("sw_round_" + (std.rounding || "down"), { m: std.round_minutes || 1 });
    if (std.min_minutes) s += t("sw_min", { m: std.min_minutes });
  } else return JSON.stringify(std);
  if (std.type !== "fixed" && std.missing_checkout === "session_end") s += t("sw_session_end");
  const caps = [["max_per_day", "sw_cap_day"], ["max_per_term", "sw_cap_term"], ["max_per_activity", "sw_cap_activity"]]
    .filter(([k]) => std[k]).map(([k, label]) => t(label, { n: num(std[k]) }));
  return s + (caps.length ? t("sw_caps", { caps: caps.join(" / ") }) : "");
}

function currentStandard(std) {
  return std && std.versions ? std.versions[std.versions.length - 1].standard : (std || {});
}

function renderActivities() {
  const box = $("#activities .body");
  if (ADM.acts.error) { box.replaceChildren(failed(ADM.acts)); return; }
  const cols = ["station", "activity", "act_category", "standard", "act_admin", ""];
  const list = h("datalist", { id: "admin-names" }, ADM.admins.map((n) => h("option", { value: n })));
  const rows = ADM.acts.map((a) => {
    const admin = h("input", { type: "text", class: "admin", list: "admin-names", maxlength: 100, value: a.admin || "",
                               "aria-label": t("act_admin") });
    const err = errLine();
    return h("tr", { "data-activity": a.id, "data-active": a.active ? "yes" : "no" },
      cell("station", [a.station_name ? a.station_name + " " : "", h("code", {}, a.station_id)]),
      cell("activity", [a.name ? a.name + " " : "", h("code", {}, a.id), a.active ? null : " (" + t("act_inactive") + ")"]),
      cell("act_category", catName(a.category)),
      cell("standard", h("span", { class: "standard-words" }, standardWords(a.standard))),
      cell("act_admin", [h("span", { class: "print-only" }, a.admin || "—"), h("span", { class: "noprint row-tools" }, admin,
        h("button", { type: "button", class: "save-admin", onclick: () => admin.value.trim() ? adminChange("PUT",
          "/api/v1/activities/" + encodeURIComponent(a.id) + "/administrator", { admin: admin.value.trim() },
          t("act_admin_done", { id: a.id, name: admin.value.trim() }), err) : null }, t("save")), err)]),
      cell("", h("button", { type: "button", class: "edit noprint", onclick: () => {
        ADM.editing = a.id; ADM.answer = null; renderActivities();
        $("#standard-form").scrollIntoView({ block: "nearest" });
      } }, t("act_change"))));
  });
  const parts = [list, h("table", { class: "detail", id: "activity-list" }, head(cols), h("tbody", {}, rows))];
  if (!ADM.acts.length) parts[1] = h("p", { class: "muted" }, t("act_none"));
  const editing = ADM.acts.find((a) => a.id === ADM.editing);
  if (editing) parts.push(standardForm(editing));
  if (ADM.answer) parts.push(ADM.answer);
  parts.push(h("p", { class: "muted noprint", id: "activity-create" }, t("act_create_help"), " ",
    h("code", {}, "tapcert-hub activity add ID --station S-0001 --name … --category … --schedule '{…}' --standard '{…}'"),
    " ", t("act_create_api"), " ", h("code", {}, "POST /api/v1/activities")));
  box.replaceChildren(...parts);
}

function tomorrow() {   // the hub's tomorrow
  return HubTime.day(Date.now() / 1000 + 86400);
}

function standardForm(a) {
  const cur = currentStandard(a.standard);
  const f = {};
  const input = (name, attrs, value) => (f[name] = h("input", Object.assign({ name: name, value: value === undefined ? "" : value }, attrs)));
  const select = (name, options, value) => (f[name] = h("select", { name: name },
    options.map(([v, label]) => h("option", { value: v, selected: v === value ? "" : null }, label))));
  const label = (key, control, cls) => h("label", { class: cls || null }, t(key), control);
  const cats = ADM.cats.error ? [] : ADM.cats.filter((c) => c.active || (a.category && c.code === a.category.code));
  select("category", [["", t("act_no_category")]].concat(cats.map((c) => [c.code, catName(c) + " (" + c.code + ")"])),
    a.category ? a.category.code : "");
  select("type", [["fixed", t("sw_type_fixed")], ["attendance", t("sw_type_attendance")], ["per_hour", t("sw_type_per_hour")]], cur.type);
  const typed = (key, control, kinds) => label(key, control, "for-" + kinds.join(" for-"));
  const err = errLine();
  const form = h("form", { class: "inline noprint", id: "standard-form", "data-activity": a.id, onsubmit: async (ev) => {
    ev.preventDefault();
    const std = { type: f.type.value, credits: Number(f.credits.value) };
    if (std.type === "attendance") std.share = Number(f.share.value) / 100;
    if (std.type === "per_hour") Object.assign(std, { round_minutes: Number(f.round_minutes.value),
      rounding: f.rounding.value, min_minutes: Number(f.min_minutes.value || 0) });
    if (std.type !== "fixed") std.missing_checkout = f.missing_checkout.value;
    for (const k of ["max_per_day", "max_per_term", "max_per_activity"]) if (Number(f[k].value) > 0) std[k] = Number(f[k].value);
    go.disabled = true;
    const data = await adminChange("POST", "/api/v1/activities/" + encodeURIComponent(a.id) + "/standard-versions",
      { from: f.from.value, standard: std, category: f.category.value }, t("std_saved", { id: a.id, from: f.from.value }), err);
    go.disabled = false;
    if (data) {
      ADM.editing = null;
      ADM.answer = data.pending ? pendingAnswer(data.pending) : standardAnswer(a.id, data);
      renderActivities();
    }
  } }, h("h3", {}, t("std_change_title", { name: a.name || a.id })),
    h("p", { class: "muted", style: "flex-basis:100%" }, t("std_now"), " ", standardWords(a.standard)),
    label("act_category", f.category), label("sw_type", f.type),
    label("sw_credits", input("credits", { type: "number", min: 0, step: "0.001", required: "" }, cur.credits === undefined ? 1 : cur.credits)),
    typed("sw_share", input("share", { type: "number", min: 1, max: 100, step: 1 }, Math.round((cur.share || 0.8) * 100)), ["attendance"]),
    typed("sw_round_minutes", input("round_minutes", { type: "number", min: 1, max: 1440, step: 1 }, cur.round_minutes || 15), ["per_hour"]),
    typed("sw_rounding", select("rounding", [["down", t("sw_rounding_down")], ["up", t("sw_rounding_up")],
      ["nearest", t("sw_rounding_nearest")]], cur.rounding || "down"), ["per_hour"]),
    typed("sw_min_minutes", input("min_minutes", { type: "number", min: 0, max: 1440, step: 1 }, cur.min_minutes || 0), ["per_hour"]),
    typed("sw_missing", select("missing_checkout", [["none", t("sw_missing_none")], ["session_end", t("sw_missing_end")]],
      cur.missing_checkout || "none"), ["attendance", "per_hour"]),
    label("sw_max_day", input("max_per_day", { type: "number", min: 0, step: "0.001" }, cur.max_per_day || "")),
    label("sw_max_term", input("max_per_term", { type: "number", min: 0, step: "0.001" }, cur.max_per_term || "")),
    label("sw_max_activity", input("max_per_activity", { type: "number", min: 0, step: "0.001" }, cur.max_per_activity || "")),
    label("std_from", input("from", { type: "date", required: "" }, tomorrow())));
  const go = h("button", { type: "submit", class: "save-standard" }, t("std_save"));
  form.append(go, h("button", { type: "button", onclick: () => { ADM.editing = null; renderActivities(); } }, t("cancel")),
    h("p", { class: "note", id: "standard-note" }, t("std_never_rewrites")), err);
  const showTyped = () => form.querySelectorAll("label[class^=for-], label[class*=' for-']").forEach((l) => {
    l.hidden = !l.classList.contains("for-" + f.type.value);
  });
  f.type.addEventListener("change", showTyped);
  showTyped();
  return form;
}

function standardAnswer(id, data) {
  const written = data.ledger_entries || {};
  const kinds = Object.keys(written);
  const n = kinds.reduce((s, k) => s + written[k], 0);
  return h("div", { class: "answer", id: "standard-answer", "data-entries": n },
    h("p", {}, t("std_answer", { id: id, n: data.versions })),
    h("p", {}, n ? t("std_entries", { n: n, kinds: kinds.map((k) => optional("entry_kind_" + k, k) + " " + written[k]).join(", ") })
      : t("std_no_entries")),
    h("p", { class: "muted" }, t("std_now"), " ", standardWords(data.activity.standard)));
}

// --- settings: grade thresholds and the reward rule ----------------------------------------

const CHECKS = ["min_learners", "min_sessions", "min_records", "min_uptime", "max_rejected_share", "max_holds_share"];
const PERCENT = { min_uptime: 1, max_rejected_share: 1, max_holds_share: 1 };

function renderSettings() {
  const box = $("#settings .body");
  if (ADM.settings.error) { box.replaceChildren(failed(ADM.settings)); return; }
  const grades = ADM.settings.grade_thresholds.grades.map((g) => [g[0], Object.assign({}, g[1])]);
  const tbody = h("tbody", {});
  const rowOf = (g) => {
    const name = h("input", { type: "text", class: "grade-name", maxlength: 20, value: g[0], "aria-label": t("set_grade") });
    const inputs = CHECKS.map((k) => h("input", { type: "number", min: 0, step: PERCENT[k] ? "0.1" : "1", "data-check": k,
      value: g[1][k] === undefined ? "" : (PERCENT[k] ? Math.round(g[1][k] * 1000) / 10 : g[1][k]), "aria-label": t("chk_" + k) }));
    const tr = h("tr", { class: "grade-row" }, cell("set_grade", name), CHECKS.map((k, i) => cell("chk_" + k, inputs[i])),
      cell("", h("button", { type: "button", class: "noprint", onclick: () => tr.remove() }, t("set_grade_remove"))));
    return tr;
  };
  grades.forEach((g) => tbody.append(rowOf(g)));
  const err = errLine();
  const thresholds = h("form", { class: "noprint-inputs", id: "thresholds-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const spec = { grades: [...tbody.querySelectorAll("tr.grade-row")].map((tr) => {
      const req = {};
      tr.querySelectorAll("input[data-check]").forEach((i) => {
        if (i.value !== "") req[i.dataset.check] = PERCENT[i.dataset.check] ? Number(i.value) / 100 : Number(i.value);
      });
      return [tr.querySelector(".grade-name").value.trim(), req];
    }) };
    await adminChange("PUT", "/api/v1/evaluation/thresholds", spec, t("set_thresholds_done"), err);
  } }, h("p", { class: "muted" }, t("set_thresholds_help")),
    h("table", { class: "detail", id: "thresholds" }, head(["set_grade"].concat(CHECKS.map((k) => "chk_" + k), [""])), tbody),
    h("div", { class: "inline noprint" },
      h("button", { type: "button", id: "grade-add", onclick: () => tbody.append(rowOf(["", {}])) }, t("set_grade_add")),
      h("button", { type: "submit", id: "thresholds-save" }, t("set_thresholds_save")), err));
  const gradesNow = ADM.grades.error ? failed(ADM.grades) : h("table", { class: "detail", id: "station-grades" },
    head(["station", "set_learners_served", "set_grade"]), h("tbody", {}, ADM.grades.map((s) =>
      h("tr", { "data-station": s.station_id, "data-grade": s.grade }, cell("station", [s.name ? s.name + " " : "", h("code", {}, s.station_id)]),
        cell("set_learners_served", num(s.learners_served, 0)), cell("set_grade", h("strong", {}, s.grade))))));
  const rule = ADM.settings.reward_rule;
  const r = {};
  const rerr = errLine();
  const reward = h("form", { class: "inline noprint", id: "reward-form", onsubmit: async (ev) => {
    ev.preventDefault();
    await adminChange("PUT", "/api/v1/evaluation/reward-rule", { per_session: Number(r.s.value),
      per_learner_credited: Number(r.l.value) }, t("set_reward_done"), rerr);
  } }, h("label", {}, t("set_per_session"), (r.s = h("input", { type: "number", min: 0, step: 1, value: rule.per_session, required: "" }))),
    h("label", {}, t("set_per_learner"), (r.l = h("input", { type: "number", min: 0, step: 1, value: rule.per_learner_credited, required: "" }))),
    h("button", { type: "submit" }, t("save")), rerr);
  box.replaceChildren(h("h3", {}, t("set_thresholds")), thresholds,
    h("h4", {}, t("set_grades_now")), gradesNow,
    h("h3", {}, t("set_reward")), h("p", { class: "muted" }, t("set_reward_help")),
    h("p", { class: "print-only" }, t("set_reward_text", { s: rule.per_session, l: rule.per_learner_credited })), reward,
    h("p", { class: "muted" }, t("set_admins_help")));
}

// --- redeem on a learner's behalf (in the exchange section's account) -------------------

function newKey() {       // a UUID; crypto.getRandomValues works on plain http too
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("").replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-");
}

function redeemForm(account) {
  const services = ((B.desk && B.desk.services) || []).filter((s) => s.active);
  if (!services.length) return h("p", { class: "muted noprint" }, t("redeem_no_services"));
  // one key per (learner, service) until the API answers: a double click or a retry after a
  // lost answer sends the same key, and the API redeems once
  const arm = (service) => { ADM.redeem = { learner: account.learner_id, service: service, key: newKey() }; };
  if (!ADM.redeem || ADM.redeem.learner !== account.learner_id || !services.some((s) => s.id === ADM.redeem.service)) arm(services[0].id);
  const pick = h("select", { id: "redeem-service", onchange: () => arm(pick.value) }, services.map((s) =>
    h("option", { value: s.id, selected: s.id === ADM.redeem.service ? "" : null },
      s.name + " — " + t("redeem_price", { n: num(s.price_points, 0) }))));
  const comment = h("input", { type: "text", id: "redeem-comment", maxlength: 2000, placeholder: t("redeem_comment") });
  const err = errLine();
  const go = h("button", { type: "submit", id: "redeem-go" }, t("redeem_submit"));
  return h("form", { class: "inline noprint", id: "redeem-form", onsubmit: async (ev) => {
    ev.preventDefault();
    if (go.disabled) return;
    go.disabled = true;
    err.hidden = true;
    const req = ADM.redeem;
    const r = await call("POST", "/api/v1/exchange/redemptions", { learner_id: req.learner, service_id: req.service,
      key: req.key, comment: comment.value.trim() });
    if (r.status) arm(req.service);          // answered: the next redemption is a new one
    go.disabled = false;
    if (!r.ok) { err.hidden = false; err.textContent = "⚠ " + refusalWords(r); return; }
    await lookup(req.learner);
    flash(t(r.data.replayed ? "redeem_replayed" : "redeem_done", { learner: req.learner, service: req.service,
      n: num(B.account && B.account.points_available, 0) }));
    loadAudit();
  } }, h("h4", {}, t("redeem_title")), pick, comment, go, err);
}
