// Alarms on a station's page (app.js renderStation): who acknowledged each and when, and for an
// admin an "acknowledge" button on the open ones (POST /api/v1/alarms/{id}/acknowledge: admin
// only, audited, once; server_hub/registry/alarmack.py). Uses app.js's S, t, h, clock, logout
// and refresh.
"use strict";

Object.assign(I18N.zh, {
  ack_col: "确认",
  ack_button: "确认已处理",
  ack_open: "未确认（需管理员确认）",
  ack_by: "{who} 已于 {at} 确认",
  ack_confirm: "确认告警 #{id}（{kind}）已查看处理？确认后站点的问题提示会消失，告警记录仍保留，操作会记入审计日志，且不能撤销。",
  ack_failed: "确认失败：",
});
Object.assign(I18N.en, {
  ack_col: "Acknowledged",
  ack_button: "Acknowledge",
  ack_open: "open (an admin acknowledges it)",
  ack_by: "by {who} at {at}",
  ack_confirm: "Acknowledge alarm #{id} ({kind})? The station's problem clears; the alarm stays listed; this is audited and cannot be undone.",
  ack_failed: "Could not acknowledge:",
});

const ACK = { error: null };   // the last failed acknowledgement: {id, text}

// An alarm stays listed once acknowledged, with who did it and when (everyone sees that); an
// open one has a button for an admin (POST /api/v1/alarms/{id}/acknowledge: admin only,
// audited, once -- the store refuses anyone else, the button only spares them the 403).
function ackCell(a) {
  if (a.acknowledged_at) {
    return h("span", { class: "acked", "data-acked": a.id },
      "✓ " + t("ack_by").replace("{who}", a.acknowledged_by || "?")
        .replace("{at}", clock(a.acknowledged_at)));
  }
  const failed = ACK.error && ACK.error.id === a.id
    ? h("div", { class: "error", role: "alert" }, t("ack_failed") + " " + ACK.error.text) : null;
  if (S.fleet && S.fleet.who && S.fleet.who.role === "admin") {
    const button = h("button", { type: "button", class: "ack", "data-alarm": a.id,
      onclick: () => acknowledge(a, button) }, t("ack_button"));
    return [button, failed];
  }
  return h("span", { class: "muted not-acked", "data-open": a.id }, t("ack_open"));
}

async function acknowledge(a, button) {
  if (!window.confirm(t("ack_confirm").replace("{id}", a.id).replace("{kind}", a.kind))) return;
  button.disabled = true;
  try {
    const resp = await fetch("/api/v1/alarms/" + encodeURIComponent(a.id) + "/acknowledge", {
      method: "POST", body: JSON.stringify({ note: "" }),
      headers: { Authorization: "Bearer " + S.token, "Content-Type": "application/json" } });
    if (resp.status === 401) { logout(); return; }
    // 409: someone acknowledged it a moment ago -- the refresh shows who
    if (!resp.ok && resp.status !== 409) {
      let why = resp.status + "";
      try { why = (await resp.json()).detail || why; } catch (err) { /* not JSON */ }
      throw new Error(why);
    }
    ACK.error = null;
  } catch (err) {
    ACK.error = { id: a.id, text: String(err.message || err).slice(0, 200) };
  }
  refresh();
}
