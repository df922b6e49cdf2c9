"""Issue #21 in headless Chromium on a real district (Mosquitto, hub process, agents, virtual
readers running the firmware): a station with records waiting goes offline, the main view
says "≥ N waiting, as of T (offline for Δ)" with the critical offline-with-backlog alert;
the hub stops and the whole page turns stale under a banner; the hub returns and the page
with it; the network heals and the station drains. Screenshots go to a folder named after
the test (printed), for a person to look at."""

from __future__ import annotations

import json
import threading

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import sync_playwright

from hil_tests.district import District
from protocol import topics
from test_browser import ARGS, CHROMIUM

STATION = "S-0002"
CARDS = [bytes.fromhex("04a15e0010378%x" % i) for i in range(4)]
WAIT_MS = 90_000


class StatusWatch:
    """The station's retained status as the broker holds it (a plain MQTT subscriber)."""

    def __init__(self, port):
        self.last = None
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="h10-status-watch",
                                  clean_session=True, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, *a: c.subscribe(topics.topic(STATION, topics.STATUS), 1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_message(self, client, userdata, message):
        with self._lock:
            self.last = json.loads(message.payload) if message.payload else None

    def get(self):
        with self._lock:
            return self.last

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def waiting(doc):
    q = (doc or {}).get("queue") or {}
    return (q.get("pending") or 0) + (q.get("inflight") or 0)


@pytest.mark.slow
def test_offline_station_backlog_alert_and_stale_page(tmp_path, request):
    shots = tmp_path / request.node.name
    shots.mkdir()
    print(f"\nscreenshots: {shots}")
    d = District(tmp_path / "district", {"S-0001": 1, STATION: 1}, provision="fast",
                 hub_settings={"dashboard": {"refresh_s": 0.5, "poll_s": 1.0},
                               "alerts": {"offline_min": 0}})
    watch = None
    try:
        d.start()
        hub = httpx.Client(base_url=f"http://127.0.0.1:{d.api_port}",
                           headers={"Authorization": f"Bearer {d.token}"}, timeout=30)

        def station():
            items = hub.get("/dashboard/api/stations").json()["items"]
            return {v["station_id"]: v for v in items}[STATION]

        d.wait_for(lambda: station()["state"] == "online", 60, "S-0002 online")
        watch = StatusWatch(d.broker_port)
        d.wait_for(lambda: (watch.get() or {}).get("state") == "online", 30, "the retained status")

        # records queue at the station while nobody acks them (the hub is down) ...
        d.hub.stop()
        for uid in CARDS[:3]:
            assert d.tap(STATION, 0, uid)["event"] in ("recorded", "warning")
        # ... and the broker's retained status follows the queue within seconds
        d.wait_for(lambda: waiting(watch.get()) == 3, 30, "the retained status counting 3 waiting")
        d.cut_network(STATION)
        d.wait_for(lambda: (watch.get() or {}).get("state") == "offline", 60, "the Last Will")
        assert d.tap(STATION, 0, CARDS[3])["event"] in ("recorded", "warning")  # nobody hears
        d.restart_hub()

        off = d.wait_for(lambda: (lambda v: v if v["state"] == "offline" and v["backlog"] else None)(
            station()), 60, "S-0002 offline with its last reported backlog")
        assert (off["backlog"], off["backlog_at_least"]) == (3, True)  # 4 wait: it said 3
        assert off["problems"][0]["rule"] == "offline_backlog"
        assert off["problems"][0]["severity"] == "critical"

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(d.dashboard_url)
                page.fill("#token", d.token)
                page.click("#login-form button[type=submit]")
                row = f'tr[data-station="{STATION}"]'
                page.wait_for_selector(f'{row}[data-state="offline"] .backlog.at-least',
                                       timeout=WAIT_MS)
                cell = page.inner_text(f"{row} td:nth-child(4)")
                assert "≥ 3 条等待" in cell and "截至" in cell and "已离线" in cell, cell
                assert "离线且有积压" in page.inner_text("#alerts")
                assert page.get_attribute(row, "data-level") == "critical"
                page.screenshot(path=str(shots / "1-offline-backlog-zh.png"), full_page=True)

                page.click("#lang")
                page.wait_for_function("document.documentElement.lang === 'en'")
                cell = page.inner_text(f"{row} td:nth-child(4)")
                assert "≥ 3 waiting" in cell and "as of" in cell and "offline for" in cell, cell
                assert "offline with backlog" in page.inner_text("#alerts")
                page.screenshot(path=str(shots / "2-offline-backlog-en.png"), full_page=True)

                # the hub goes away: everything shown turns stale, under a banner
                assert not page.is_visible("#stale-banner")
                d.hub.stop()
                page.wait_for_function("document.body.classList.contains('is-stale')",
                                       timeout=WAIT_MS)
                banner = page.inner_text("#stale-banner")
                assert page.is_visible("#stale-banner")
                assert "data is stale" in banner and "data as of" in banner, banner
                assert "grayscale" in page.eval_on_selector("#app",
                                                            "n => getComputedStyle(n).filter")
                page.screenshot(path=str(shots / "3-hub-lost-stale.png"), full_page=True)

                # ... and comes back by itself when the hub answers again
                d.restart_hub()
                page.wait_for_function("!document.body.classList.contains('is-stale')",
                                       timeout=WAIT_MS)
                assert not page.is_visible("#stale-banner")

                # the station returns and drains its queue: all four reach the hub
                d.heal_network(STATION)
                page.wait_for_selector(f'{row}[data-state="online"]', timeout=WAIT_MS)
                d.wait_for(lambda: station()["accepted"] == 4, 90, "the 4 records at the hub")
                page.wait_for_function(
                    f"(document.querySelector('{row} .backlog') || {{}}).textContent === '0'",
                    timeout=WAIT_MS)
                assert not page.is_visible(f"{row} .backlog.at-least")
                page.screenshot(path=str(shots / "4-back-drained.png"), full_page=True)
            finally:
                browser.close()
        hub.close()
    finally:
        if watch is not None:
            watch.close()
        d.stop()
