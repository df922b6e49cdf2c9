// tapcert service counter (/dashboard/counter): plain JS, no build step, phone first. For a
// service provider (library, gym…) with a token of the service_provider role: find a learner
// by account number or card, see the points available (and when some expire), redeem one of
// this counter's services, show the receipt, and list this counter's own redemptions. The
// API decides everything (only its own services, never below zero); an error is shown in its
// words. A redemption carries an idempotency key made once per attempt: pressing again after
// a lost answer repeats the same redemption instead of making a second one.
"use strict";

const C = {
  lang: localStorage.getItem("tapcert.lang") || "zh",
  token: sessionStorage.getItem("tapcert.token") || "",
  counter: null, learner: null, key: null,
};
const K = StaffKit(COUNTER_I18N, C);   // staffkit.js
const { t, h, $, call, flash, show } = K;

function newKey() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return "ctr-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function load() {
  if (!C.token) { show("login"); return; }
  const r = await call("GET", "/api/v1/counter");
  if (!K.admitted(r)) return;
  C.counter = r.data;
  HubTime.setZone(r.data.timezone);
  $("#who").textContent = t("who", { name: r.data.who.name }) + " · " + t("zone", { zone: HubTime.label() });
  show("desk");
  drawLearner();
  await loadMine();
}

function drawLearner() {
  const l = C.learner;
  $("#learner").hidden = !l;
  if (!l) return;
  $("#learner-line").textContent = t("learner_line", { name: l.name || "—", id: l.learner_id, points: l.points_available });
  const soon = (l.expiring || [])[0];
  $("#learner-expiring").textContent = soon ? t("expiring", { points: soon.points, day: soon.day }) : "";
  const pick = $("#service");
  const keep = pick.value;
  pick.replaceChildren(...C.counter.services.map((s) => h("option",
    { value: s.id, disabled: s.price_points > l.points_available ? "" : null },
    t(s.price_points > l.points_available ? "service_short" : "service_line", { name: s.name, price: s.price_points }))));
  if (keep && [...pick.options].some((o) => o.value === keep && !o.disabled)) pick.value = keep;
  else { const first = [...pick.options].find((o) => !o.disabled); pick.value = first ? first.value : ""; }
}

const serviceName = (id) => ((C.counter.services.find((s) => s.id === id) || {}).name || id);

async function loadMine() {
  const body = $("#mine .body");
  const r = await call("GET", "/api/v1/counter/redemptions?limit=50");
  if (!r.ok) { body.replaceChildren(h("p", { class: "error" }, r.error)); return; }
  body.replaceChildren(r.data.length
    ? h("ul", { class: "desk-list", id: "mine-list" }, r.data.map((e) => h("li", { "data-entry": e.id },
        h("strong", {}, e.learner_name || e.learner_id), " · ", serviceName(e.service_id), " · ", t("points", { n: -e.points }),
        h("div", { class: "sub" }, HubTime.full(e.created_at) + " · " + t("receipt_no", { id: e.id })
          + (e.reversed ? " · " + t("reversed") : "")))))
    : h("p", { class: "muted" }, t("mine_none")));
}

$("#find-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const value = f.value.value.trim();
  const r = await call("GET", "/api/v1/counter/learner?" + f.by.value + "=" + encodeURIComponent(value));
  $("#receipt").hidden = true;
  if (!r.ok) { C.learner = null; drawLearner(); flash(r.error, true); return; }
  C.learner = r.data;
  C.key = newKey();
  $("#flash").hidden = true;
  drawLearner();
});

$("#redeem-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const button = ev.target.querySelector("button");
  const service = $("#service").value;
  if (!C.learner || !service) { flash(t("pick_service"), true); return; }
  button.disabled = true;
  try {
    const r = await call("POST", "/api/v1/counter/redemptions",
      { learner_id: C.learner.learner_id, service_id: service, key: C.key });
    if (!r.ok) { if (r.status !== 0) C.key = newKey(); flash(r.error, true); return; }   // 0: retry, same key
    C.key = newKey();
    const e = r.data;
    C.learner = Object.assign({}, C.learner, { points_available: e.points_available, expiring: e.expiring });
    drawLearner();
    $("#receipt").hidden = false;
    $("#receipt-body").replaceChildren(...[
      ["receipt_no_label", String(e.id)], ["receipt_learner", (e.learner_name || "—") + " (" + e.learner_id + ")"],
      ["receipt_service", e.service.name], ["receipt_points", String(-e.points)],
      ["receipt_left", String(e.points_available)], ["receipt_time", HubTime.full(e.created_at)],
    ].map(([k, v]) => [h("dt", {}, t(k)), h("dd", { "data-k": k }, v)]).flat());
    flash(t(e.replayed ? "redeemed_again" : "redeemed", { name: e.service.name, points: -e.points, left: e.points_available }));
    await loadMine();
  } finally { button.disabled = false; }
});

K.wire(load, () => { K.translate(); if (C.counter) load(); }, () => { C.learner = null; });

K.translate();
load();
