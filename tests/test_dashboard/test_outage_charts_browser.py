"""Issue #21 in headless Chromium: a scripted outage of S-0002 told through the hub's own
paths (status/health messages, batches, the monitor's ticks at the times they happen) and
looked at as an operator would — the main view (≥ N waiting, the growth estimate, the alert,
sparklines), the fleet trend (uPlot charts: axis labels in the hub's zone, the last point),
the station page, then the drain, then the hub lost (everything greyed, "as of T") and back.

Screenshots go to test-artifacts/<this test's name>/ (printed), for a person to look at; the
operator manual (docs/operator.md) shows copies of them."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from dashkit import ARTIFACTS, Hub, free_port, make_config, seed_fleet
from server_hub.api.app import HubContext, create_app
from server_hub.dashboard.monitor import Monitor
from test_browser import ARGS, CHROMIUM, sign_in

STATION = "S-0002"
WAIT_MS = 20_000
MIN = 60


class Api:
    """The hub's app on one fixed port, stoppable and startable again (a hub restart)."""

    def __init__(self, hub, monitor):
        self.app = create_app(HubContext(hub.store, hub.registry, hub.pipeline, hub.config,
                                         monitor))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = self.thread = None

    def start(self):
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "API did not start"
            time.sleep(0.05)

    def stop(self):
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(10)
            self.server = None


def ticks(mon, start, end, step=MIN):
    t = start
    while t <= end:
        mon.tick(t)
        t += step


def chart(page, name):
    return page.eval_on_selector(
        f'#ext-view figure.trend-chart[data-chart="{name}"]',
        "f => ({x: f.dataset.xTicks, y: f.dataset.yTicks, last: f.dataset.last,"
        " lastLabel: f.dataset.lastLabel, caption: f.querySelector('figcaption').innerText})")


@pytest.fixture
def outage(tmp_path):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}",
              make_config(dashboard__refresh_s=0.3, dashboard__poll_s=1.0,
                          dashboard__sample_every_s=60, hub__timezone="Asia/Shanghai",
                          alerts__offline_min=5))
    now = time.time()
    seed_fleet(hub, now - 70 * MIN)
    sim = hub.add_station(STATION, name="Xicheng library")[0]
    # its usual traffic: 10 taps in this hour of the week, three weeks running
    for week in (1, 2, 3):
        at = int(now - week * 7 * 86400 - 20 * MIN)
        hub.ingest(STATION, [sim.tap(bytes([4, week, i, 2]), at=at + i) for i in range(10)],
                   now=at + 30)
    _, token = hub.registry.create_operator("ops", "operator")
    hub.config.hub.ca_dir = str(tmp_path / "ca")
    mon = Monitor(hub.store, hub.config, now=now - 70 * MIN)
    # an hour ago: online, in sync
    hub.online(STATION, now - 70 * MIN, since=now - 3 * 3600)
    hub.health(STATION, now - 70 * MIN, pending=0)
    ticks(mon, now - 70 * MIN, now - 56 * MIN)
    # the network goes: its last report says 12 waiting, then the broker gives its Last Will
    hub.health(STATION, now - 55 * MIN, pending=12, oldest=now - 57 * MIN)
    hub.offline(STATION, since=now - 3 * 3600, now=now - 54 * MIN)
    ticks(mon, now - 55 * MIN, now - 1 * MIN)
    api = Api(hub, mon)
    api.start()
    shots = ARTIFACTS / "test_outage_charts_browser"
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    try:
        yield hub, api, mon, sim, token, shots, now
    finally:
        api.stop()
        hub.close()


def test_outage_then_drain_as_the_operator_sees_it(outage):
    hub, api, mon, sim, token, shots, now = outage
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            outside, errors = [], []
            page.on("request", lambda r: None if r.url.startswith(api.url)
                    else outside.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            sign_in(page, api, token)
            row = f'tr[data-station="{STATION}"]'

            # --- the outage on the main view ----------------------------------------------
            page.wait_for_selector(f'{row}[data-state="offline"] .backlog.at-least')
            cell = page.inner_text(f"{row} td:nth-child(4)")
            assert "≥ 12 条等待" in cell and "截至" in cell and "已离线" in cell, cell
            assert "估计现在约" in cell, cell        # ~10 taps an hour here at this time
            assert page.get_attribute(row, "data-level") == "critical"
            assert "离线且有积压" in page.inner_text("#alerts")
            assert page.get_attribute(f"{row} svg.spark-waiting", "data-last") == "12"
            page.screenshot(path=str(shots / "1-main-offline-zh.png"), full_page=True)
            page.click("#lang")
            page.wait_for_function("document.documentElement.lang === 'en'")
            cell = page.inner_text(f"{row} td:nth-child(4)")
            assert "≥ 12 waiting" in cell and "about" in cell and "estimated" in cell, cell
            page.screenshot(path=str(shots / "2-main-offline-en.png"), full_page=True)

            # --- the fleet trend: axis labels, units, the hub's zone, the last point -------
            page.click('#nav a[data-view="trend"]')
            page.wait_for_selector('#ext-view figure.trend-chart[data-y-ticks]',
                                   timeout=WAIT_MS)
            # 70 min of history: the shortest span that holds it all
            assert page.get_attribute('button[data-span="6h"]', "aria-pressed") == "true"
            page.click('button[data-span="1h"]')
            page.wait_for_selector('button[data-span="1h"][aria-pressed="true"]')
            page.wait_for_selector('#ext-view figure.trend-chart[data-y-ticks]',
                                   timeout=WAIT_MS)
            waiting = chart(page, "Records waiting")
            assert waiting["y"].split("|")[0] == "0" and len(waiting["y"].split("|")) >= 3
            assert int(waiting["last"]) >= 12 + 342          # S-OFF02's 342 and S-0002's 12
            hm = time.strftime("%H", time.gmtime(now - 30 * MIN + 8 * 3600))  # Shanghai = UTC+8
            labels = waiting["x"].split("|")
            assert any(x.split(" ")[-1].startswith(hm + ":") for x in labels), labels
            assert all(len(x.split(" ")[-1]) == 5 for x in labels), labels   # 24 h "HH:MM"
            offline = chart(page, "Stations offline")
            gone = page.evaluate("S.fleet.summary.states.offline + S.fleet.summary.states.silent")
            assert offline["last"] == str(gone) and gone >= 2      # silent ones count too
            assert int(offline["y"].split("|")[-1]) >= gone
            assert "lower bound" in page.inner_text(".at-least-note")
            assert "Asia/Shanghai" in page.inner_text("#ext-view .as-of")
            page.screenshot(path=str(shots / "3-trend-offline.png"), full_page=True)

            # --- the station page --------------------------------------------------------
            page.goto(api.url + "/dashboard#/station/" + STATION)
            page.wait_for_selector(f'#station-view h2[data-station="{STATION}"]')
            assert "≥ 12 waiting" in page.inner_text("#station-view")
            page.wait_for_selector('#station-view figure.trend-chart[data-y-ticks] canvas')
            assert page.get_attribute('#station-view figure[data-chart="Records waiting"]',
                                      "data-last") == "12"
            page.screenshot(path=str(shots / "4-station-offline.png"), full_page=True)

            # --- it comes back with 305 waiting and drains --------------------------------
            t = time.time()
            hub.online(STATION, t - 50, since=t - 50)
            hub.health(STATION, t - 50, pending=305, oldest=t - 57 * MIN)
            mon.tick(t - 50)
            left = 305
            for k in range(4):     # batches arrive, the queue falls: 305 → 0
                n = 80 if left > 80 else left
                at = t - 40 + k * 10
                hub.ingest(STATION, [sim.tap(bytes([4, 9, k, i % 250]), at=int(at) - 60)
                                     for i in range(n)], now=at)
                left -= n
                hub.health(STATION, at, pending=left, oldest=t - 50 * MIN if left else None)
            assert left == 0
            hub.health(STATION, t, pending=0)
            mon.tick(t)
            page.goto(api.url + "/dashboard#")
            page.wait_for_selector(f'{row}[data-state="online"]', timeout=WAIT_MS)
            page.wait_for_function(
                f"(document.querySelector('{row} .backlog') || {{}}).textContent === '0'",
                timeout=WAIT_MS)
            assert page.get_attribute(f"{row} svg.spark-waiting", "data-last") == "0"
            page.screenshot(path=str(shots / "5-main-drained.png"), full_page=True)
            page.click('#nav a[data-view="trend"]')
            # the view draws its cached answer (before the drain) first, then the fresh one
            page.wait_for_function(
                f"(document.querySelector('#ext-view .trend-head') || {{dataset: {{}}}})"
                f".dataset.asOf >= {t}", timeout=WAIT_MS)
            page.wait_for_selector('#ext-view figure.trend-chart[data-y-ticks]',
                                   timeout=WAIT_MS)
            rate = chart(page, "Records accepted per second")
            assert float(rate["last"]) > 0 and "/s" in rate["y"], rate
            waiting = chart(page, "Records waiting")
            assert int(waiting["last"]) >= 305     # the drain's peak is in the last minute
            page.screenshot(path=str(shots / "6-trend-drain.png"), full_page=True)

            # --- the hub is lost: everything greyed, "as of T"; back by itself -------------
            api.stop()
            page.wait_for_function("document.body.classList.contains('is-stale')",
                                   timeout=WAIT_MS)
            assert "data as of" in page.inner_text("#stale-banner")
            assert "grayscale" in page.eval_on_selector("#app", "n => getComputedStyle(n).filter")
            page.screenshot(path=str(shots / "7-hub-lost-stale.png"), full_page=True)
            api.start()
            page.wait_for_function("!document.body.classList.contains('is-stale')",
                                   timeout=WAIT_MS)
            assert not page.is_visible("#stale-banner")
            assert outside == [] and errors == [], (outside, errors)
        finally:
            browser.close()
