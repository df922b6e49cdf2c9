"""The station desk page (/dashboard/desk) in a real headless Chromium, on a phone-sized
screen: a station administrator of S-0001 signs in with its token, sees today's taps and held
credits of its station (another station's learner unnamed), opens an account, issues a card
— and never sees another station's learner, even when it types one's account number."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from scopekit import FOREIGN, HOME, Hub, make_config, seed_two_stations

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


def test_station_admin_opens_an_account_and_issues_a_card_on_a_phone(desk):
    hub, srv, seeded = desk
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
            text = body_text(page)
            assert not [f for f in FOREIGN if f in text], text

            # open an account: its home station is the administrator's
            page.fill("#open-form input[name=id]", "L-NEW9")
            page.fill("#open-form input[name=name]", "陈静")
            page.click("#open-form button[type=submit]")
            page.wait_for_selector("#flash.done")
            assert "已开户" in page.inner_text("#flash")
            page.wait_for_selector('#learner-list li[data-learner="L-NEW9"]')
            assert hub.sql("SELECT home_station, name FROM learners WHERE id = 'L-NEW9'") == \
                [(HOME, "陈静")]
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
