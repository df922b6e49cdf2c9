"""The dashboard in a real headless Chromium (Debian's chromium driven by Playwright): stations
in known states show correctly in Chinese and English, a change reaches the open page without
a reload, the station page draws its 24 h history, the page works on a phone-sized screen and
in print, and it loads nothing from outside the hub. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from dashkit import ARTIFACTS, Hub, Server, make_config, seed_fleet, write_history
from server_hub.dashboard.monitor import Monitor
from server_hub.identity.pki import FleetCA

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture
def dashboard(tmp_path):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}",
              make_config(dashboard__refresh_s=0.3, dashboard__poll_s=1.0))
    now = time.time()
    roles = seed_fleet(hub, now)
    for i in range(8):   # a few quiet stations below the interesting ones
        hub.add_station(f"S-Q{i:03d}", readers=1, name=f"Quiet centre {i}")
        hub.online(f"S-Q{i:03d}", now)
        hub.health(f"S-Q{i:03d}", now - 3)
    # 24 h of history for the offline station: a backlog building up since it went away
    write_history(hub, roles["offline"], [
        (now - 20 * 3600 + k * 1800, "online", 0, [3, 4, 6, 12]) for k in range(30)] + [
        (now - 5 * 3600 + k * 900, "online" if k < 16 else "offline", 20 * k, [5, 40, 900])
        for k in range(20)])
    _, token = hub.registry.create_operator("ops", "operator")
    hub.config.hub.ca_dir = str(tmp_path / "ca")      # no CA yet: no CRL line
    mon = Monitor(hub.store, hub.config, now=now - 120)
    mon.tick(now)
    ARTIFACTS.mkdir(exist_ok=True)
    with Server(hub, mon) as srv:
        yield hub, srv, roles, token
    hub.close()


def rows(page):
    return page.eval_on_selector_all(
        "#stations tbody tr",
        "els => els.map(e => [e.dataset.station, e.dataset.state, e.dataset.level, e.innerText])")


def sign_in(page, srv, token):
    page.goto(srv.url + "/dashboard")
    page.wait_for_selector("#login-form", state="visible")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#stations tbody tr[data-station]")


def test_dashboard_in_chromium(dashboard):
    hub, srv, roles, token = dashboard
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            outside = []
            page.on("request", lambda r: None if r.url.startswith(srv.url)
                    else outside.append(r.url))
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            sign_in(page, srv, token)

            # --- Chinese (default): order and each state -----------------------------------
            got = rows(page)
            assert [r[0] for r in got[:3]] == [roles["offline"], roles["journal"],
                                               roles["spike"]]
            by = {r[0]: r for r in got}
            assert by[roles["offline"]][1:3] == ["offline", "critical"]
            assert "离线" in by[roles["offline"]][3] and "342" in by[roles["offline"]][3]
            assert "已40分钟" in by[roles["offline"]][3]
            assert by[roles["journal"]][2] == "warning" and "92%" in by[roles["journal"]][3]
            assert "15 分钟内拒收 25 条" in by[roles["spike"]][3]
            assert by[roles["online"]][1:3] == ["online", "ok"]
            summary = page.inner_text("#summary")
            assert "342" in summary and "离线" in summary
            assert "离线且有积压" in page.inner_text("#alerts")
            page.screenshot(path=str(ARTIFACTS / "dashboard-stations-zh.png"), full_page=True)

            # --- English ----------------------------------------------------------------------
            page.click("#lang")
            page.wait_for_function("document.documentElement.lang === 'en'")
            by = {r[0]: r for r in rows(page)}
            assert "offline for 40 min with 342 records waiting" in by[roles["offline"]][3]
            assert "reader R-J1 journal 92% full" in by[roles["journal"]][3]
            assert "25 rejected in 15 min (mostly bad_signature)" in by[roles["spike"]][3]
            assert "bad_signature 25" in by[roles["spike"]][3]   # rejected (24 h) column
            assert "✓ ok" in by[roles["online"]][3] and "● online" in by[roles["online"]][3]
            page.screenshot(path=str(ARTIFACTS / "dashboard-stations-en.png"), full_page=True)

            # --- live: the OK station's agent dies (Last Will) and the offline one comes back
            page.evaluate("window.__not_reloaded = true")
            now = time.time()
            hub.offline(roles["online"], since=now - 3600, now=now)
            hub.online(roles["offline"], now, since=now)
            hub.health(roles["offline"], now, pending=0)
            page.wait_for_function(
                "sel => { const r = document.querySelector(sel); return r && "
                "r.dataset.state === 'offline'; }",
                arg=f'tr[data-station="{roles["online"]}"]', timeout=15000)
            page.wait_for_function(
                "sel => document.querySelector(sel).dataset.state === 'online'",
                arg=f'tr[data-station="{roles["offline"]}"]', timeout=15000)
            assert page.evaluate("window.__not_reloaded") is True
            assert "critical" not in {r[2] for r in rows(page)}
            page.wait_for_function("!document.querySelector('#alerts').innerText"
                                   ".includes('offline with backlog')")
            assert page.locator("#alerts .crl").count() == 0
            ca = FleetCA.open_or_create(Path(hub.config.hub.ca_dir))
            ca.write_crl(days=3)                         # the broker's CRL is running out
            page.wait_for_selector("#alerts .crl", timeout=15000)
            assert "The broker's CRL expires in 3 d" in page.inner_text("#alerts .crl")
            ca.write_crl(days=30)                        # re-issued: the line goes
            page.wait_for_selector("#alerts .crl", state="detached", timeout=15000)

            # --- search, then the station page with its 24 h chart ----------------------------
            page.fill("#q", "jnl")
            page.wait_for_function("document.querySelectorAll('#stations tbody tr').length === 1")
            page.fill("#q", "")
            page.wait_for_function("document.querySelectorAll('#stations tbody tr').length > 1")
            page.click(f'a.sid:text-is("{roles["offline"]}")')
            page.wait_for_selector(f'#station-view h2[data-station="{roles["offline"]}"]')
            # the fleet trend's charts (uPlot) over the station's samples: the queue as the
            # monitor sampled it last (342), and lag p50/p99 with duration ticks
            page.wait_for_selector('#station-view figure.trend-chart[data-y-ticks] canvas')
            assert page.locator("#station-view figure.trend-chart").count() == 2
            waiting = page.get_attribute('#station-view figure[data-chart="Records waiting"]',
                                         "data-last")
            assert waiting == "342"
            lag_ticks = page.get_attribute('#station-view figure[data-chart^="Sync lag"]',
                                           "data-y-ticks")
            assert lag_ticks.startswith("0 s|") and "min" in lag_ticks, lag_ticks
            view = page.inner_text("#station-view")
            assert "Records waiting" in view and "Recent rejections" in view
            page.screenshot(path=str(ARTIFACTS / "dashboard-station-en.png"), full_page=True)
            page.click("#lang")
            page.wait_for_function("document.documentElement.lang === 'zh-CN'")
            page.wait_for_function("document.querySelector('#station-view').innerText"
                                   ".includes('等待同步的记录')")

            # --- black-and-white print: controls hidden, states still in words and marks
            page.click("#back")
            page.wait_for_selector("#list-view:not([hidden]) #stations tbody tr")
            page.emulate_media(media="print")
            assert page.locator("#filters").is_hidden() and page.locator("#lang").is_hidden()
            assert "✕ 离线" in page.inner_text(f'tr[data-station="{roles["online"]}"]')
            page.screenshot(path=str(ARTIFACTS / "dashboard-print.png"), full_page=True)
            page.emulate_media(media="screen")

            # --- a phone: one card per station, labels beside values
            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True,
                                     has_touch=True, device_scale_factor=2)
            sign_in(phone, srv, token)
            assert phone.locator("#stations thead").is_hidden()
            label = phone.evaluate(
                "getComputedStyle(document.querySelector('#stations td'), '::before').content")
            assert label.strip('"') in ("级别", "Level")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390 + 2, f"page scrolls sideways on a phone ({width}px)"
            phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"))
            phone.click(f'a.sid:text-is("{roles["spike"]}")')
            phone.wait_for_selector(f'#station-view h2[data-station="{roles["spike"]}"]')
            phone.screenshot(path=str(ARTIFACTS / "dashboard-phone-station.png"), full_page=True)
            assert outside == [] and errors == []
        finally:
            browser.close()


def test_login_refuses_a_bad_token(dashboard):
    hub, srv, roles, token = dashboard
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(srv.url + "/dashboard")
            page.fill("#token", "not-a-token")
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#login-error", state="visible")
            assert page.locator("#app").is_hidden()
            assert page.evaluate("sessionStorage.getItem('tapcert.token')") is None
        finally:
            browser.close()
