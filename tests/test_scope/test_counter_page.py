"""The service counter page (/dashboard/counter) in a real headless Chromium on a phone-sized
screen: a service provider signs in with its token, finds a learner by card, redeems one of
its own services and shows the receipt, sees its own redemptions; a lost card is refused in
the API's words, a service the points do not cover cannot be picked, English has every word,
and a station administrator's token is refused the page's data."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from scopekit import LEARNERS, Hub, make_config, seed_two_stations
from server_hub.creditbank.bank import Bank

from dashkit import ARTIFACTS, Server
from test_desk_page import PHONE, open_phone

HOME_CARD = LEARNERS["L-HOME3"][2]      # Zhang Min: 2 credits = 20 points
LOST_CARD = LEARNERS["L-HOME1"][2]


@pytest.fixture
def counter(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url))
    seeded = seed_two_stations(hub)
    bank = Bank(hub.store)
    for sid, name, price in (("swim", "游泳课", 7), ("lib", "自习室", 3), ("gym", "健身月卡", 20)):
        bank.add_service(sid, name, price, actor="ann")
    bank.set_expiry(600, actor="ann")
    seeded["tokens"]["pool"] = hub.registry.create_operator(
        "pool", "service_provider", services=["swim", "lib"])[1]
    with Server(hub) as srv:
        yield hub, srv, seeded
    hub.close()


def test_counter_redeems_on_a_phone(counter):
    hub, srv, seeded = counter
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser, page, outside, errors = open_phone(p, srv, "/dashboard/counter")
        try:
            assert page.title() == "积分兑换服务点"                     # Chinese by default
            page.fill("#token", seeded["tokens"]["pool"])
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#mine .body p")
            assert "pool" in page.inner_text("#who")

            page.select_option("#find-form select[name=by]", "card")
            page.fill("#find-form input[name=value]", HOME_CARD)
            page.click("#find-form button[type=submit]")
            page.wait_for_selector("#learner", state="visible")
            assert "Zhang Min（L-HOME3）：可用积分 20" in page.inner_text("#learner-line")
            assert "积分将于 2" in page.inner_text("#learner-expiring")
            options = page.eval_on_selector_all("#service option", "os => os.map(o => o.value)")
            assert options == ["lib", "swim"]                         # its own services only
            for left in (13, 6):
                page.select_option("#service", "swim")
                page.evaluate("document.querySelector('#flash').hidden = true")
                page.click("#redeem-form button[type=submit]")
                page.wait_for_function("(n) => { const d = document.querySelector("
                                       "'#receipt-body dd[data-k=receipt_left]');"
                                       " return d && d.textContent === String(n); }", arg=left)
            assert "已兑换" in page.inner_text("#flash")
            assert "游泳课" in page.inner_text("#receipt-body")
            assert page.eval_on_selector("#service option[value=swim]", "o => o.disabled")
            page.wait_for_function("document.querySelectorAll('#mine-list li').length === 2")
            assert hub.sql("SELECT learner_id, service_id, points, actor FROM exchange_entries "
                           "ORDER BY id") == [("L-HOME3", "swim", -7, "pool")] * 2
            page.screenshot(path=str(ARTIFACTS / "counter-phone-zh.png"), full_page=True)

            page.fill("#find-form input[name=value]", LOST_CARD)       # a lost card
            page.click("#find-form button[type=submit]")
            page.wait_for_selector("#flash.error")
            assert "new card" in page.inner_text("#flash")
            assert page.is_hidden("#learner")

            page.click("#lang")
            page.wait_for_function("document.title === 'Points counter'")
            page.wait_for_function("document.querySelector('#mine-list') && document"
                                   ".querySelector('#mine-list').innerText.includes('receipt')")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert page.evaluate("window.__i18nMissing") == []
            page.screenshot(path=str(ARTIFACTS / "counter-phone-en.png"), full_page=True)

            page.click("#logout")                                     # a station admin's token
            page.fill("#token", seeded["tokens"]["wang"])
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#refused", state="visible")
            assert "service_provider" in page.inner_text("#refused-detail")
            assert outside == [] and errors == []
        finally:
            browser.close()
