"""The demo's district end to end: real hub process, Mosquitto, agents and virtual readers
running the firmware. Its stations show up live on the dashboard (a network cut turns a
station offline through its Last Will, healing brings it back), and each agent's staff page
says what is happening in plain words."""

from __future__ import annotations

import time

import httpx
import pytest

from dashkit import ARTIFACTS
from hil_tests.district import District

UID = bytes.fromhex("04a15e00103780")


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.mark.slow
def test_district_stations_show_up_live(tmp_path):
    d = District(tmp_path / "district", {"S-0001": 1, "S-0002": 1}, provision="fast",
                 hub_settings={"dashboard": {"refresh_s": 0.5, "poll_s": 1.0}})
    try:
        d.start()
        hub = httpx.Client(base_url=f"http://127.0.0.1:{d.api_port}",
                           headers={"Authorization": f"Bearer {d.token}"}, timeout=30)

        def stations():
            items = hub.get("/dashboard/api/stations").json()["items"]
            return {v["station_id"]: v for v in items}

        def staff(sid):
            return httpx.get(f"http://127.0.0.1:{d.stations[sid].page_port}/status.json",
                             timeout=10).json()

        both = wait(lambda: (lambda s: s if all(
            s.get(x, {}).get("state") == "online" and s[x]["readers_online"] == 1
            for x in ("S-0001", "S-0002")) else None)(stations()), 60, "both stations online")
        assert both["S-0001"]["level"] == "ok"
        assert staff("S-0001")["level"] == "ok"

        assert d.tap("S-0001", 0, UID)["event"] in ("recorded", "warning")
        wait(lambda: stations()["S-0001"]["accepted"] == 1, 30, "the tap at the hub")

        d.cut_network("S-0002")
        off = wait(lambda: (lambda v: v if v["state"] == "offline" else None)(
            stations()["S-0002"]), 60, "S-0002 offline on the dashboard (Last Will)")
        assert off["problems"][0]["rule"] == "offline"
        assert d.tap("S-0002", 0, UID)["event"] in ("recorded", "warning")
        words = wait(lambda: (lambda f: f if f["waiting"] == 1 else None)(staff("S-0002")),
                     30, "the staff page counting the waiting record")
        assert words["level"] == "down" and \
            words["text_en"].startswith("1 record waiting: network down since ")
        _screenshot(d, "S-0002")

        d.heal_network("S-0002")
        back = wait(lambda: (lambda v: v if v["state"] == "online" and v["accepted"] == 1
                             else None)(stations()["S-0002"]), 90, "S-0002 back and synced")
        assert back["backlog"] in (0, 1, None)
        wait(lambda: staff("S-0002")["level"] == "ok", 60, "the staff page saying all sent")
        assert staff("S-0002")["text_en"].startswith("All records sent")
        hub.close()
    finally:
        d.stop()


def _screenshot(d, offline_station):
    from playwright.sync_api import sync_playwright

    from test_browser import ARGS, CHROMIUM
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(d.dashboard_url)
            page.fill("#token", d.token)
            page.click("#login-form button[type=submit]")
            page.wait_for_selector(f'tr[data-station="{offline_station}"][data-state="offline"]')
            page.screenshot(path=str(ARTIFACTS / "dashboard-demo-district.png"), full_page=True)
            staff = browser.new_page(viewport={"width": 800, "height": 500})
            staff.goto(f"http://127.0.0.1:{d.stations[offline_station].page_port}/")
            assert "网络自" in staff.inner_text("#state")
            staff.screenshot(path=str(ARTIFACTS / "stationpage-demo-offline.png"))
        finally:
            browser.close()
