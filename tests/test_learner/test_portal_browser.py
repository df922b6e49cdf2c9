"""The learner portal (/learner) in a real headless Chromium on a phone-sized screen: sign in
with the PIN set at the desk, see the balance, the statement with the evidence behind each
credit, a held credit with its reason, points and redemptions; switch to English; download
the transcript and verify it with the `tapcert-hub verify-transcript` command; sign out — and
a wrong PIN, a lockout and an expired session in words. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashkit import ARTIFACTS, Server
from test_bank_pages import browser  # noqa: F401  (one headless Chromium per module)
from hil_tests import timescale
from learnerkit import PINS, SESSION_START, Hub, make_config, seed, wire
from server_hub.creditbank import applications, learnertype
from server_hub.creditbank.bank import Bank
from server_hub.store.learner_tables import learner_sessions

REPO = Path(__file__).resolve().parents[2]
PHONE = {"width": 390, "height": 844}
WAIT_MS = int(15000 * timescale.scale())


@pytest.fixture
def portal(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url, hub__ca_dir=str(tmp_path / "ca")))
    d = seed(hub)
    # a held credit for L-1: its card reported lost before a tap at a third activity
    hub.registry.add_activity("A-3", d.station, "Choir",
                              {"type": "once", "sessions": [[SESSION_START + 10800,
                                                             SESSION_START + 14400]]},
                              {"type": "fixed", "credits": 1})
    hub.registry.set_card_status(d.cards["L-1"].hex(), "lost", since=SESSION_START + 10000)
    hub.ingest(d.station, wire.encode_batch(2, [d.tap("L-1", at=SESSION_START + 10900)]))
    with Server(hub) as srv:
        yield hub, srv
    hub.close()


def open_page(browser, srv):
    ctx = browser.new_context(accept_downloads=True, viewport=PHONE, is_mobile=True,
                              has_touch=True)
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    page.outside, page.errors = [], []
    page.on("request", lambda r: None if r.url.startswith(srv.url) or r.url.startswith("blob:")
            or r.url.startswith("data:") else page.outside.append(r.url))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(srv.url + "/learner")
    page.wait_for_selector("#signin-form", state="visible")
    return ctx, page


def sign_in(page, account, pin):
    page.fill("#account", account)
    page.fill("#pin", pin)
    page.click("#signin-form button[type=submit]")


def answered(page, account, pin) -> int:
    """Sign in and wait for the hub's answer: its HTTP status."""
    with page.expect_response(lambda r: r.url.endswith("/learner/api/sign-in")) as got:
        sign_in(page, account, pin)
    return got.value.status


def test_sign_in_statement_transcript_sign_out(browser, portal, tmp_path):
    hub, srv = portal
    bank = Bank(hub.store)
    bank.add_service("gym", "Gym month", 40, "sport", "setup")     # L-1 has 30 points
    bank.set_expiry(600, "setup")                # credits of 2026-06-01 count until 2076-06-01
    learnertype.change(hub.store, "L-1", "retiree", {"name": "desk-ann", "role": "operator"})
    ctx, page = open_page(browser, srv)
    assert page.locator("html").get_attribute("lang") == "zh"
    sign_in(page, "L-1", PINS["L-1"])
    page.wait_for_selector("#portal", state="visible")
    assert page.text_content("#hello") == "Learner 1，您好（账号 L-1）"
    assert page.text_content("#learner-type") == "学习者类型：退休人员"
    assert page.text_content("#v-credits") == "3" and page.text_content("#v-points") == "30"
    cards = page.locator("#statement .entry")
    assert cards.count() == 2
    text = page.text_content("#statement")
    assert "Calligraphy" in text and "Tea ceremony" in text and "+2 学分" in text
    page.locator("#statement .entry summary").first.click()
    ev = page.locator("#statement .entry ul.evidence li").first.text_content()
    assert "Community centre" in ev and "读卡器 R-1" in ev and "读卡器时钟" in ev
    held = page.text_content("#pending")
    assert "Choir" in held and "暂缓审核" in held and "刷卡时这张卡已经挂失" in held
    assert "积分够用" in page.text_content("#services li[data-service=swim]")
    assert "还差 10 积分" in page.text_content("#services li[data-service=gym]")
    assert "30 积分将于 2076-06-01 过期" in page.text_content("#expiring")
    page.screenshot(path=str(ARTIFACTS / "learner-portal-zh.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.click("#lang")
    assert page.text_content("#signout") == "Sign out"
    assert page.text_content("#learner-type") == "Learner type: retiree"
    assert "Held for review" in page.text_content("#pending")
    assert "+2 credits" in page.text_content("#statement")
    assert "10 points more needed" in page.text_content("#services li[data-service=gym]")
    assert "30 points expire on 2076-06-01" in page.text_content("#expiring")
    page.screenshot(path=str(ARTIFACTS / "learner-portal-en.png"), full_page=True)

    with page.expect_download() as info:
        page.click("#download")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name == "transcript-L-1.json"
    assert json.loads(saved.read_text())["credentialSubject"]["id"] == "urn:tapcert:learner:L-1"
    pub = (tmp_path / "ca" / "issuer.pub").read_text().strip()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "server_hub.cli", "verify-transcript",
                           str(saved), "--issuer-key", pub], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60 * timescale.scale())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("VALID")

    page.click("#signout")
    page.wait_for_selector("#signin-form", state="visible")
    assert "Signed out" in page.text_content("#signin")
    assert page.evaluate("fetch('/learner/api/me').then(r => r.status)") == 401
    assert not page.outside and not page.errors and not page.evaluate("window.__i18nMissing")
    ctx.close()


def test_apply_wrong_pin_lockout_and_expiry_in_words(browser, portal):
    hub, srv = portal
    ctx, page = open_page(browser, srv)
    page.click("#apply summary")
    page.fill("#apply-name", "王芳")
    page.fill("#apply-phone", "13800000000")
    page.select_option("#apply-type", "retiree")
    page.click("#apply-form button[type=submit]")
    page.wait_for_selector("#apply-result.done")
    assert "申请已提交" in page.text_content("#apply-result")
    (item,) = applications.listing(hub.store)
    assert (item["name"], item["learner_type"]) == ("王芳", "retiree")
    for _ in range(5):
        assert answered(page, "L-2", "wrong-pin-0") == 401
        page.wait_for_selector("#signin-form button:enabled")
        assert "账号或密码不对" in page.text_content("#signin-error")
    assert answered(page, "L-2", PINS["L-2"]) == 429
    page.wait_for_function("document.querySelector('#signin-error').textContent.includes('已锁定')")
    assert "服务台重置密码" in page.text_content("#signin-error")
    page.screenshot(path=str(ARTIFACTS / "learner-portal-locked-zh.png"), full_page=True)

    sign_in(page, "L-0", PINS["L-0"])
    page.wait_for_selector("#portal", state="visible")
    with hub.store.write() as conn:
        conn.execute(learner_sessions.update().values(expires_at=time.time() - 1))
    page.click("#download")                   # any call now finds the session expired
    page.wait_for_selector("#signin-form", state="visible")
    assert "登录已过期" in page.text_content("#signin-error")
    assert not page.outside and not page.errors and not page.evaluate("window.__i18nMissing")
    ctx.close()
