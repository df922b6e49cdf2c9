"""Acknowledging an alarm from the dashboard (issue #21/#18): on a station's page, its alarms
list says for each one who acknowledged it and when; an open alarm has a button for an admin
only (whoami's role) -- an operator sees "open (an admin acknowledges it)". The admin's click
(after a confirmation) calls POST /api/v1/alarms/{id}/acknowledge (admin only, audited, once):
the station's identity-change problem clears, and the operator's open page shows who
acknowledged it on its next poll. Chinese and English. Real hub API on 127.0.0.1, headless
Chromium; screenshots in test-artifacts/."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import sync_playwright

from dashkit import ARTIFACTS, Hub, Server, make_config
from hil_tests.simreader import SimReader
from hil_tests.timescale import scaled
from server_hub.creditbank import audit
from test_browser import ARGS, CHROMIUM, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def station_with_alarm(tmp_path):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}",
              make_config(dashboard__refresh_s=0.3, dashboard__poll_s=1.0))
    now = time.time()
    [old] = hub.add_station("S-0001", readers=1, name="Library")
    hub.online("S-0001", now)
    hub.health("S-0001", now - 3)
    new = SimReader(seed=b"\x07" * 32)       # a technician re-keys the reader on site
    hub.registry.enroll_reader(new.public_key.hex(), "S-0001", "R-0010",
                               replaces=old.reader_id.hex(),
                               by={"name": "tech-1", "role": "technician"})
    tokens = {role: hub.registry.create_operator(f"{role}-1", role)[1]
              for role in ("admin", "operator")}
    ARTIFACTS.mkdir(exist_ok=True)
    with Server(hub, None) as srv:
        yield hub, srv, tokens
    hub.close()


def station_page(browser, srv, token):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    sign_in(page, srv, token)
    page.evaluate("location.hash = '#/station/S-0001'")
    page.wait_for_selector('#station-view h2[data-station="S-0001"]')
    return page


def test_an_admin_acknowledges_an_alarm_from_the_station_page(station_with_alarm):
    hub, srv, tokens = station_with_alarm
    wait = scaled(15) * 1000
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            ops = station_page(browser, srv, tokens["operator"])
            ops.wait_for_selector("#station-view [data-open]")
            assert ops.locator("#station-view button.ack").count() == 0   # not an admin
            assert "未确认" in ops.inner_text("#station-view [data-open]")
            assert ops.locator('#station-view li[data-rule="identity_change"]').count() == 1

            admin = station_page(browser, srv, tokens["admin"])
            posts = []
            admin.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
            button = admin.locator("#station-view button.ack")   # re-drawn on every poll
            button.wait_for()
            assert button.inner_text() == "确认已处理"
            admin.screenshot(path=str(ARTIFACTS / "alarm-ack-before-zh.png"), full_page=True)
            admin.once("dialog", lambda d: d.dismiss())         # dismissed: nothing is sent
            button.click()
            admin.once("dialog", lambda d: d.accept())
            button.click()
            admin.wait_for_selector("#station-view [data-acked]", timeout=wait)
            acked = admin.inner_text("#station-view [data-acked]")
            assert "admin-1" in acked and "已于" in acked
            admin.wait_for_selector('#station-view li[data-rule="identity_change"]',
                                    state="detached", timeout=wait)
            [entry] = audit.entries(hub.store, action="alarm.acknowledge")
            assert [u.split("/api/v1/")[1] for u in posts] == [
                "alarms/{}/acknowledge".format(entry["subject"])]         # one, the accepted
            assert (entry["actor"], entry["detail"]["kind"]) == ("admin-1", "reader_replaced")
            admin.screenshot(path=str(ARTIFACTS / "alarm-ack-after-zh.png"), full_page=True)

            # the operator's open page learns who acknowledged it by itself
            ops.wait_for_selector("#station-view [data-acked]", timeout=wait)
            assert "admin-1" in ops.inner_text("#station-view [data-acked]")
            assert ops.locator("#station-view [data-open]").count() == 0
            ops.click("#lang")
            ops.wait_for_function("document.documentElement.lang === 'en'")
            assert ops.inner_text("#station-view [data-acked]").startswith("✓ by admin-1 at ")
            assert "Acknowledged" in ops.inner_text("#station-view table.detail >> nth=-1")
            ops.screenshot(path=str(ARTIFACTS / "alarm-ack-operator-en.png"), full_page=True)
            assert ops.errors == [] and admin.errors == []
        finally:
            browser.close()
