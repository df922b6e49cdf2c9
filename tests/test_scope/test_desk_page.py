"""The station desk page (/dashboard/desk) in a real headless Chromium, on a phone-sized
screen: a station administrator of S-0001 signs in with its token, sees today's taps and held
credits of its station (another station's learner unnamed), opens an account, issues a card,
decides the self-applications naming its station, sets and resets a learner's PIN, corrects a
learner's type — and never sees another station's learner or applicant, nor sets one's PIN or
type, even when it types the account number."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from scopekit import AWAY, FOREIGN, HOME, Hub, make_config, seed_two_stations
from server_hub.creditbank import applications, learnerauth, rewards
from server_hub.errors import AuthError

from dashkit import ARTIFACTS, Server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def desk(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url))
    seeded = seed_two_stations(hub)
    with Server(hub) as srv:
        yield hub, srv, seeded
    hub.close()


def body_text(page) -> str:
    return page.inner_text("body")


def open_phone(p, srv, path="/dashboard/desk"):
    """-> (browser, page, outside requests, page errors): the desk (or another staff page that
    signs in with a token) on a phone, not signed in."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    outside, errors = [], []
    page.on("request", lambda r: None if r.url.startswith(srv.url)
            or r.url.startswith("data:") else outside.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(srv.url + path)
    page.wait_for_selector("#login-form", state="visible")
    return browser, page, outside, errors


def flash_after(page, click: str, words: str, kind: str = "done") -> str:
    """Click, then wait for the flash of that kind saying `words`; -> its text."""
    page.evaluate("document.querySelector('#flash').hidden = true")
    page.click(click)
    page.wait_for_function("(a) => { const f = document.querySelector('#flash');"
                           " return !f.hidden && f.classList.contains(a[0])"
                           " && f.textContent.includes(a[1]); }", arg=[kind, words])
    return page.inner_text("#flash")


def test_station_admin_opens_an_account_and_issues_a_card_on_a_phone(desk):
    hub, srv, seeded = desk
    for admin, points in (("wang", 7), ("li", 9)):    # reward points (creditbank/rewards.py)
        rewards.adjust(hub.store, admin, points, "ann", "opening balance")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            page = ctx.new_page()
            outside, errors = [], []
            page.on("request", lambda r: None if r.url.startswith(srv.url)
                    or r.url.startswith("data:") else outside.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(srv.url + "/dashboard/desk")
            page.wait_for_selector("#login-form", state="visible")
            assert page.title() == "站点服务台"                       # Chinese by default
            page.fill("#token", seeded["tokens"]["wang"])
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#tap-list li")
            page.wait_for_selector("#hold-list li")
            assert HOME in page.inner_text("#who")
            taps = page.inner_text("#tap-list")
            assert taps.count("外站学习者") == 3 and "L-HOME1" in taps and "Wang Fang" in taps
            holds = page.inner_text("#hold-list")
            assert "L-HOME1" in holds and "挂失的卡" in holds and "外站学习者" in holds
            page.wait_for_selector('#reward-list li[data-admin="wang"]')  # its own account only
            assert "余额 7 积分" in page.inner_text("#reward-list")
            assert "li" not in [a.get_attribute("data-admin") for a in
                                page.query_selector_all("#reward-list li")]
            text = body_text(page)
            assert not [f for f in FOREIGN if f in text], text

            # open an account: its home station is the administrator's
            page.fill("#open-form input[name=id]", "L-NEW9")
            page.fill("#open-form input[name=name]", "陈静")
            page.select_option("#open-form select[name=learner_type]", "volunteer")
            page.click("#open-form button[type=submit]")
            page.wait_for_selector("#flash.done")
            assert "已开户" in page.inner_text("#flash") and "志愿者" in page.inner_text("#flash")
            page.wait_for_selector('#learner-list li[data-learner="L-NEW9"]:has-text("志愿者")')
            assert hub.sql("SELECT home_station, name, learner_type FROM learners "
                           "WHERE id = 'L-NEW9'") == [(HOME, "陈静", "volunteer")]
            # issue a card: the account number is filled in already
            assert page.input_value("#issue-form input[name=learner]") == "L-NEW9"
            page.fill("#issue-form input[name=uid]", "04d1d2d3")
            page.click("#issue-form button[type=submit]")
            page.wait_for_function("document.querySelector('#flash').textContent"
                                   ".includes('04d1d2d3')")
            assert "已发给 L-NEW9" in page.inner_text("#flash")
            assert hub.sql("SELECT learner_id, status FROM cards WHERE learner_id = 'L-NEW9'") \
                == [("L-NEW9", "active")]
            page.screenshot(path=str(ARTIFACTS / "desk-phone-zh.png"), full_page=True)

            # another station's learner: refused in the API's words, nothing about them shown
            page.fill("#issue-form input[name=learner]", "L-AWAY2")
            page.fill("#issue-form input[name=uid]", "04e1e2e3")
            page.click("#issue-form button[type=submit]")
            page.wait_for_selector("#flash.error")
            assert "not registered at your station" in page.inner_text("#flash")
            assert hub.sql("SELECT COUNT(*) FROM cards WHERE uid = X'04e1e2e3'") == [(0,)]
            text = body_text(page)
            assert not [f for f in FOREIGN if f in text and f != "L-AWAY2"], text
            assert "L-AWAY2" not in page.inner_text("#learners")

            # English, and usable on the phone: no sideways scrolling, no missing words
            page.click("#lang")
            page.wait_for_function("document.title === 'Station desk'")
            page.wait_for_function("document.querySelector('#tap-list') && document"
                                   ".querySelector('#tap-list').innerText.includes("
                                   "\"another station's learner\")")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert page.evaluate("window.__i18nMissing") == []
            page.screenshot(path=str(ARTIFACTS / "desk-phone-en.png"), full_page=True)
            assert outside == [] and errors == []
        finally:
            browser.close()


def test_station_admin_decides_applications_and_sets_pins_on_a_phone(desk):
    hub, srv, seeded = desk
    ARTIFACTS.mkdir(exist_ok=True)
    for name, kind, station in (("申请人甲", "retiree", HOME), ("申请人乙", "student", HOME),
                                ("Riverside applicant", "employee", AWAY)):
        applications.apply(hub.store, name, "13800000000", kind, station, "127.0.0.1")
    with sync_playwright() as p:
        browser, page, outside, errors = open_phone(p, srv)
        try:
            page.fill("#token", seeded["tokens"]["wang"])
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#app-list li")
            apps = page.inner_text("#app-list")
            assert "申请人甲" in apps and "退休人员" in apps and "13800000000" in apps
            assert "申请人乙" in apps and "Riverside applicant" not in body_text(page)
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.locator("#applications").screenshot(
                path=str(ARTIFACTS / "desk-applications-phone-zh.png"))

            # approve: the account opens with the applicant's type; its number is shown and
            # carried into the PIN and card forms
            first = '#app-list li:has-text("申请人甲")'
            page.fill(first + " input[name=learner_id]", "L-APP1")
            said = flash_after(page, first + " form.approve button", "L-APP1")
            assert "已批准并开户" in said and "退休人员" in said
            assert hub.sql("SELECT home_station, learner_type, name FROM learners "
                           "WHERE id = 'L-APP1'") == [(HOME, "retiree", "申请人甲")]
            page.wait_for_selector('#learner-list li[data-learner="L-APP1"]:has-text("退休人员")')
            assert page.input_value("#pin-form input[name=learner]") == "L-APP1"
            # reject: a reason is needed (the browser asks for it), then it is kept
            other = '#app-list li:has-text("申请人乙")'
            page.fill(other + " input[name=comment]", "请带身份证到服务台办理")
            assert "已拒绝" in flash_after(page, other + " form.reject button", "申请人乙")
            page.wait_for_selector("#applications .muted:has-text('没有待审核的申请')")
            assert hub.sql("SELECT name, status, comment FROM learner_applications "
                           "ORDER BY id") == [
                ("申请人甲", "approved", ""), ("申请人乙", "rejected", "请带身份证到服务台办理"),
                ("Riverside applicant", "pending", "")]

            # a PIN typed twice: different -> nothing set; the same -> set, never shown again
            page.fill("#pin-form input[name=pin]", "582047")
            page.fill("#pin-form input[name=pin2]", "582048")
            assert "不一致" in flash_after(page, "#pin-form button", "不一致", "error")
            assert hub.sql("SELECT COUNT(*) FROM learner_credentials") == [(0,)]
            page.fill("#pin-form input[name=pin]", "582047")
            page.fill("#pin-form input[name=pin2]", "582047")
            said = flash_after(page, "#pin-form button", "已为 L-APP1 设置 PIN")
            assert srv.url + "/learner" in said and "账号和这个 PIN 登录" in said
            assert page.input_value("#pin-form input[name=pin]") == "" == \
                page.input_value("#pin-form input[name=pin2]")
            assert "582047" not in page.content()
            learnerauth.sign_in(hub.store, "L-APP1", "582047", "127.0.0.1")
            # a reset ends the learner's sessions, and says so
            page.fill("#pin-form input[name=learner]", "L-APP1")
            page.fill("#pin-form input[name=pin]", "kite-lantern-77")
            page.fill("#pin-form input[name=pin2]", "kite-lantern-77")
            said = flash_after(page, "#pin-form button", "重设")
            assert "已结束 1 个登录" in said and "kite-lantern-77" not in page.content()
            with pytest.raises(AuthError):
                learnerauth.sign_in(hub.store, "L-APP1", "582047", "127.0.0.1")
            assert learnerauth.sign_in(hub.store, "L-APP1", "kite-lantern-77",
                                       "127.0.0.1").learner_id == "L-APP1"
            page.screenshot(path=str(ARTIFACTS / "desk-pin-phone-zh.png"), full_page=True)

            # the type corrected at the desk
            page.fill("#retype-form input[name=learner]", "L-APP1")
            page.select_option("#retype-form select[name=learner_type]", "student")
            assert "学生" in flash_after(page, "#retype-form button", "L-APP1 的学习者类型")
            page.wait_for_selector('#learner-list li[data-learner="L-APP1"]:has-text("学生")')

            # another station's learner: refused in the API's words, no PIN or type set
            page.fill("#pin-form input[name=learner]", "L-AWAY2")
            page.fill("#pin-form input[name=pin]", "739251")
            page.fill("#pin-form input[name=pin2]", "739251")
            said = flash_after(page, "#pin-form button", "not registered", "error")
            assert hub.sql("SELECT learner_id FROM learner_credentials") == [("L-APP1",)]
            page.fill("#retype-form input[name=learner]", "L-AWAY2")
            page.select_option("#retype-form select[name=learner_type]", "student")
            flash_after(page, "#retype-form button", "not registered", "error")
            assert hub.sql("SELECT id, learner_type FROM learners WHERE learner_type IS NOT "
                           "NULL") == [("L-APP1", "student")]
            text = body_text(page)
            assert not [f for f in FOREIGN if f in text and f != "L-AWAY2"], text
            assert AWAY not in text

            # English, and usable on the phone
            page.click("#lang")
            page.wait_for_function("document.title === 'Station desk'")
            page.wait_for_selector("#pin h2:has-text('Set / reset a PIN')")
            page.wait_for_selector('#learner-list li[data-learner="L-APP1"]:has-text("student")')
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert page.evaluate("window.__i18nMissing") == []
            page.screenshot(path=str(ARTIFACTS / "desk-pin-phone-en.png"), full_page=True)
            assert outside == [] and errors == []
        finally:
            browser.close()
