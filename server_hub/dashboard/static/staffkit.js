// What the staff pages that sign in with an API token share (the station desk, desk.js; the
// service counter, counter.js): words by language with a fallback to English (a missing key
// is recorded in window.__i18nMissing for the tests), elements built without innerHTML, API
// calls with the bearer token answering {ok, status, data, error} with the API's own words,
// the status line, and the page's frame: the sections #login, #refused and #desk, the words
// of [data-t] elements, the sign-in form and the sign-out and language buttons.
// StaffKit(WORDS, state): state.lang and state.token are read per call.
"use strict";

function StaffKit(words, state) {
  window.__i18nMissing = window.__i18nMissing || [];

  function t(key, vars) {
    const d = words[state.lang] || words.zh;
    let s = d[key];
    if (s === undefined) { window.__i18nMissing.push(state.lang + ":" + key); s = words.en[key] || key; }
    return vars ? s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined || vars[k] === null ? "" : vars[k])) : s;
  }

  function h(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const k in attrs || {}) {
      if (k === "class") n.className = attrs[k];
      else if (attrs[k] !== null && attrs[k] !== undefined) n.setAttribute(k, attrs[k]);
    }
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      n.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
    }
    return n;
  }

  const $ = (sel) => document.querySelector(sel);

  function detailText(data, status) {
    const d = data && data.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((e) => (e.loc ? e.loc.slice(1).join(".") + ": " : "") + e.msg).join("; ");
    return t("http_error", { status: status });
  }

  async function call(method, path, body) {
    const opts = { method: method, headers: { Authorization: "Bearer " + state.token } };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    let resp;
    try { resp = await fetch(path, opts); } catch (err) { return { ok: false, status: 0, error: t("unreachable") }; }
    let data = null;
    try { data = await resp.json(); } catch (err) { data = null; }
    return { ok: resp.ok, status: resp.status, data: data, error: resp.ok ? null : detailText(data, resp.status) };
  }

  function flash(text, isError) {
    const f = $("#flash");
    f.hidden = false;
    f.className = "flash " + (isError ? "error" : "done");
    f.textContent = (isError ? "⚠ " : "✓ ") + text;
  }

  function show(which) {
    for (const id of ["login", "refused", "desk"]) $("#" + id).hidden = id !== which;
    $("#logout").hidden = which === "login";
  }

  function translate() {
    document.documentElement.lang = state.lang;
    document.querySelectorAll("[data-t]").forEach((n) => { n.textContent = t(n.dataset.t); });
    $("#lang").textContent = t("lang_switch");
    document.title = t("title");
  }

  // The first answer of a page's load(): true when it may go on; else it shows the sign-in
  // form again (401: the token is unknown or revoked) or why this token may not use the page.
  function admitted(r) {
    if (r.status === 401) {
      sessionStorage.removeItem("tapcert.token"); state.token = "";
      show("login"); $("#login-error").hidden = false;
      $("#login-error").textContent = t("login_failed", { detail: r.error });
      return false;
    }
    if (!r.ok) { show("refused"); $("#refused-detail").textContent = r.error; return false; }
    return true;
  }

  // load(): after signing in; relabel(): after the language changed; signedOut(): optional.
  function wire(load, relabel, signedOut) {
    $("#login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.token = $("#token").value.trim();
      sessionStorage.setItem("tapcert.token", state.token);
      $("#login-error").hidden = true;
      load();
    });
    $("#logout").addEventListener("click", () => {
      sessionStorage.removeItem("tapcert.token"); state.token = "";
      if (signedOut) signedOut();
      show("login");
    });
    $("#lang").addEventListener("click", () => {
      state.lang = state.lang === "zh" ? "en" : "zh";
      localStorage.setItem("tapcert.lang", state.lang);
      relabel();
    });
  }

  return { t: t, h: h, $: $, call: call, flash: flash, show: show, translate: translate,
           admitted: admitted, wire: wire };
}
