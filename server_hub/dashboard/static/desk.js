// tapcert station desk (/dashboard/desk): plain JS, no build step, phone first.
// For a station administrator (its own stations only; the API filters every answer by the
// token's scope) and district staff (admin, operator: any station). Open an account (with the
// learner's type; correct it later), set or reset a learner's PIN, decide the
// self-applications waiting for the station, issue a card, block a card, and see the
// station's learners, today's taps, held credits and its administrator's reward points. A PIN is sent once and never shown
// again (the form is cleared).
// Every change goes through /api/v1; an error from the API is shown in its own words.
"use strict";

const D = {
  lang: localStorage.getItem("tapcert.lang") || "zh",
  token: sessionStorage.getItem("tapcert.token") || "",
  home: null, station: null,
};
const K = StaffKit(DESK_I18N, D);   // staffkit.js
const { t, h, $, call, flash, show } = K;
// the learner types (server_hub/creditbank/learnertype.py; labels in desk_i18n.js)
const TYPES = ["student", "employee", "retiree", "volunteer", "other"];
const typeLabel = (code) => (code ? t("type_" + code) : t("type_none"));

function translate() {
  K.translate();
  document.querySelectorAll(".type-pick").forEach((sel) => {
    const keep = sel.value;
    sel.replaceChildren(h("option", { value: "" }, t("type_none")),
      ...TYPES.map((c) => h("option", { value: c }, t("type_" + c))));
    sel.value = keep;
  });
}

// --- loading ---------------------------------------------------------------------------

async function load() {
  if (!D.token) { show("login"); return; }
  const r = await call("GET", "/api/v1/desk");
  if (!K.admitted(r)) return;
  D.home = r.data;
  HubTime.setZone(r.data.timezone);
  const who = r.data.who;
  $("#who").textContent = (who.role === "station_admin"
    ? t("who", { name: who.name, stations: (who.stations || []).join(", ") })
    : t("who_staff", { name: who.name, role: who.role })) + " · " + t("zone", { zone: HubTime.label() });
  const pick = $("#station");
  pick.replaceChildren(...r.data.stations.map((s) => h("option", { value: s.id }, s.id + " " + (s.name || ""))));
  if (!D.station || !r.data.stations.some((s) => s.id === D.station)) D.station = r.data.stations.length ? r.data.stations[0].id : null;
  pick.value = D.station || "";
  show("desk");
  await Promise.all([loadLearners(), loadApplications(), loadTaps(), loadHolds(), loadRewards()]);
}

async function loadLearners() {
  const body = $("#learners .body");
  const r = await call("GET", "/api/v1/learners?limit=200");
  if (!r.ok) { body.replaceChildren(h("p", { class: "error" }, r.error)); return; }
  const rows = r.data.filter((l) => !D.station || l.home_station === D.station || D.home.who.role !== "station_admin");
  const list = rows.length
    ? h("ul", { class: "desk-list", id: "learner-list" }, rows.map((l) =>
        h("li", { "data-learner": l.id }, h("strong", {}, l.id), " ", l.name || "",
          h("div", { class: "sub" }, typeLabel(l.learner_type) + " · " + (l.home_station || "—")
            + " · " + HubTime.full(l.created_at)))))
    : h("p", { class: "muted" }, t("learners_none"));
  body.replaceChildren(...[list, r.data.length === 200 ? h("p", { class: "muted" }, t("more", { n: 200 })) : null]
    .filter((n) => n));
}

// Self-applications waiting for this desk (the API answers only its stations' for a station
// administrator). Each: approve with the account number to open, or reject with a reason.
async function loadApplications() {
  const body = $("#applications .body");
  const r = await call("GET", "/api/v1/learner-applications?status=pending&limit=200");
  if (!r.ok) { body.replaceChildren(h("p", { class: "error" }, r.error)); return; }
  body.replaceChildren(r.data.length
    ? h("ul", { class: "desk-list", id: "app-list" }, r.data.map((a) => h("li", { "data-app": a.id },
        h("strong", {}, a.name), " · ", a.phone,
        h("div", { class: "sub" }, typeLabel(a.learner_type) + " · " + (a.station_id || "—")
          + " · " + HubTime.full(a.created_at)),
        h("form", { class: "desk-form approve" },
          h("label", {}, h("span", {}, t("learner_id")),
            h("input", { name: "learner_id", required: "", maxlength: "64", placeholder: "L-000123" })),
          h("button", { type: "submit" }, t("app_approve"))),
        h("form", { class: "desk-form reject" },
          h("label", {}, h("span", {}, t("app_reason")),
            h("input", { name: "comment", required: "", maxlength: "2000" })),
          h("button", { type: "submit" }, t("app_reject"))))))
    : h("p", { class: "muted" }, t("apps_none")));
  body.querySelectorAll("li[data-app]").forEach((li) => {
    const id = li.dataset.app;
    const decide = async (f, payload) => {
      const button = f.querySelector("button");
      button.disabled = true;
      try {
        const d = await call("POST", "/api/v1/learner-applications/" + encodeURIComponent(id) + "/decision", payload);
        if (!d.ok) { flash(d.error, true); return; }
        if (d.data.status === "approved") {
          flash(t("app_approved", { id: d.data.learner_id, name: d.data.name, type: typeLabel(d.data.learner_type) }));
          $("#pin-form").elements.learner.value = d.data.learner_id;
          $("#issue-form").elements.learner.value = d.data.learner_id;
        } else flash(t("app_rejected", { name: d.data.name }));
        await Promise.all([loadApplications(), loadLearners()]);
      } finally { button.disabled = false; }
    };
    li.querySelector("form.approve").addEventListener("submit", (ev) => { ev.preventDefault();
      decide(ev.target, { decision: "approve", learner_id: ev.target.elements.learner_id.value.trim() }); });
    li.querySelector("form.reject").addEventListener("submit", (ev) => { ev.preventDefault();
      decide(ev.target, { decision: "reject", comment: ev.target.elements.comment.value.trim() }); });
  });
}

async function loadTaps() {
  const body = $("#taps .body");
  if (!D.station) { body.replaceChildren(); return; }
  const r = await call("GET", "/api/v1/stations/" + encodeURIComponent(D.station) + "/taps?limit=500");
  if (!r.ok) { body.replaceChildren(h("p", { class: "error" }, r.error)); return; }
  body.replaceChildren(r.data.length
    ? h("ul", { class: "desk-list", id: "tap-list" }, r.data.map((x) => h("li", {},
        h("strong", {}, HubTime.hms(x.time)), " ",
        x.learner_elsewhere ? h("em", {}, t("elsewhere")) : x.card_unknown ? h("em", {}, t("unknown_card"))
          : [x.learner_id, " ", x.learner_name || ""],
        h("div", { class: "sub" }, t("kind_" + x.kind) + " · " + (x.reader_label || x.reader_id) + " #" + x.seq
          + (x.flagged ? t("flagged") : "")))))
    : h("p", { class: "muted" }, t("taps_none")));
}

async function loadHolds() {
  const body = $("#holds .body");
  const r = await call("GET", "/api/v1/holds?limit=200");
  if (!r.ok) { body.replaceChildren(h("p", { class: "error" }, r.error)); return; }
  body.replaceChildren(r.data.length
    ? h("ul", { class: "desk-list", id: "hold-list" }, r.data.map((x) => h("li", {},
        h("strong", {}, x.activity_id), " · ", HubTime.full(x.session_start), " · ",
        x.learner_elsewhere ? h("em", {}, t("elsewhere")) : [x.learner_id, " ", x.learner_name || ""],
        h("div", { class: "sub" }, x.holds.map((k) => t("hold_" + k)).join("、")))))
    : h("p", { class: "muted" }, t("holds_none")));
}

// Reward points: a station administrator's own account (the API answers no other); district
// staff see every administrator's balance.
async function loadRewards() {
  const body = $("#rewards .body");
  const r = await call("GET", "/api/v1/rewards/accounts");
  if (!r.ok) { body.replaceChildren(h("p", { class: "error" }, r.error)); return; }
  body.replaceChildren(r.data.length
    ? h("ul", { class: "desk-list", id: "reward-list" }, r.data.map((a) => h("li", { "data-admin": a.admin },
        h("strong", {}, a.admin), " · ", t("reward_balance", { n: a.balance }),
        h("div", { class: "sub" }, t("reward_parts", { earned: a.earned, spent: a.spent, adjusted: a.adjusted })))))
    : h("p", { class: "muted" }, t("rewards_none")));
}

// --- the desk's work -------------------------------------------------------------------

function form(id, handler) {
  $(id).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const button = f.querySelector("button");
    button.disabled = true;
    try { await handler(Object.fromEntries(new FormData(f).entries()), f); } finally { button.disabled = false; }
  });
}

form("#open-form", async (v, f) => {
  const r = await call("POST", "/api/v1/learners", { id: v.id.trim(), name: v.name.trim(),
    home_station: D.station, learner_type: v.learner_type || null });
  if (!r.ok) { flash(r.error, true); return; }
  flash(t("opened", { id: r.data.id, name: r.data.name, station: r.data.home_station, type: typeLabel(r.data.learner_type) }));
  f.reset();
  $("#issue-form").elements.learner.value = r.data.id;
  $("#pin-form").elements.learner.value = r.data.id;
  await loadLearners();
});

// Set or reset a PIN: typed twice, compared here, sent once; the form is cleared either way
// and the PIN never appears on the page again.
form("#pin-form", async (v, f) => {
  const learner = v.learner.trim();
  if (v.pin !== v.pin2) { f.elements.pin.value = ""; f.elements.pin2.value = "";
    flash(t("pin_differ"), true); return; }
  const r = await call("PUT", "/api/v1/learners/" + encodeURIComponent(learner) + "/pin", { pin: v.pin });
  f.elements.pin.value = ""; f.elements.pin2.value = "";
  if (!r.ok) { flash(r.error, true); return; }
  flash(t(r.data.reset ? "pin_was_reset" : "pin_was_set", { id: r.data.learner_id, n: r.data.sessions_ended })
    + " " + t("pin_next", { url: location.origin + "/learner" }));
  f.reset();
});

form("#retype-form", async (v, f) => {
  const learner = v.learner.trim();
  const r = await call("PUT", "/api/v1/learners/" + encodeURIComponent(learner) + "/type",
    { learner_type: v.learner_type || null });
  if (!r.ok) { flash(r.error, true); return; }
  flash(t("retyped", { id: r.data.learner_id, type: typeLabel(r.data.learner_type) }));
  f.reset();
  await loadLearners();
});

form("#issue-form", async (v, f) => {
  const r = await call("POST", "/api/v1/cards", { uid: v.uid.trim(), learner_id: v.learner.trim() });
  if (!r.ok) { flash(r.error, true); return; }
  flash(t("issued", { uid: r.data.uid, learner: r.data.learner_id }));
  f.reset();
});

form("#block-form", async (v, f) => {
  const r = await call("PATCH", "/api/v1/cards/" + encodeURIComponent(v.uid.trim()), { status: v.status });
  if (!r.ok) { flash(r.error, true); return; }
  flash(t("blocked", { uid: r.data.uid, status: t("status_" + r.data.status) }));
  f.reset();
});

K.wire(load, () => { translate(); if (D.home) load(); });
$("#station").addEventListener("change", (ev) => { D.station = ev.target.value; load(); });

translate();
load();
