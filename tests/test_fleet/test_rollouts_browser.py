"""The dashboard's rollouts view in a real headless Chromium (as tests/test_dashboard/
test_browser.py drives it): a rollout whose stations are in known states (written through the
fleet store, as the hub's fleet service would) shows its counts and progress in the list, and
per-station and per-reader states with their reasons on its page, in Chinese and English.
An operator sees no buttons; a technician pauses, resumes and cancels it from the page."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import sync_playwright


from dashkit import ARTIFACTS, Hub, Server, make_config
from server_hub.fleet.store import FleetStore

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def reports(fleet, rid, station, rows):
    for reader, state, reason in rows:
        assert fleet.report(station, {"rollout": rid, "reader": reader, "state": state,
                                      "reason": reason})


@pytest.fixture
def rollout_page(tmp_path, bundles, release):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config(dashboard__poll_s=1.0))
    for sid in ("S-0001", "S-0002", "S-0003", "S-0004"):
        hub.add_station(sid, readers=0)
    fleet = FleetStore(hub.store)
    sha = fleet.add_bundle(bundles["new"], [release[1]], by="ops")["sha"]
    old = fleet.create_rollout(sha, target="list", stations=["S-0004"], rid="RO-OLD")
    fleet.cancel(old, "superseded")
    time.sleep(0.01)
    rid = fleet.create_rollout(sha, canary=["S-0001"], canary_count=1, wave_size=3,
                               max_failures=5, rid="RO-NEW", by="tech")
    reports(fleet, rid, "S-0001", [("R-0001", "done", None),      # R-0002 ran 0.9.0 already
                                   ("R-0002", "done", "already on version 0.9.0: not flashed"),
                                   ("", "done", None)])
    reports(fleet, rid, "S-0002", [("R-0003", "done", None),
                                   ("R-0004", "rolled_back", "not healthy within 20 s"),
                                   ("", "done", None)])
    reports(fleet, rid, "S-0003", [("", "downloading", None),
                                   ("R-0005", "waiting_for_sync",
                                    "3 records not yet committed by the hub")])
    tokens = {role: hub.registry.create_operator(f"{role}-1", role)[1]
              for role in ("operator", "technician")}
    ARTIFACTS.mkdir(exist_ok=True)
    with Server(hub) as srv:
        yield hub, fleet, srv, tokens, rid
    hub.close()


def sign_in(page, srv, token, hash_=""):
    page.goto(srv.url + "/dashboard" + hash_)
    page.wait_for_selector("#login-form", state="visible")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


def cells(page, selector):
    return page.eval_on_selector_all(selector, "els => els.map(e => [e.dataset.rollout || "
                                     "e.dataset.station, e.dataset.state, e.innerText])")


def test_rollouts_view_in_chromium(rollout_page):
    hub, fleet, srv, tokens, rid = rollout_page
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            outside, errors = [], []
            page.on("request", lambda r: None if r.url.startswith(srv.url)
                    else outside.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            sign_in(page, srv, tokens["operator"])
            page.click("#nav a[data-view=rollouts]")
            page.wait_for_selector("#rollouts tbody tr[data-rollout]")
            rows = {r[0]: r for r in cells(page, "#rollouts tbody tr")}
            assert list(rows) == ["RO-NEW", "RO-OLD"]                       # newest first
            assert rows["RO-NEW"][1] == "running" and rows["RO-OLD"][1] == "cancelled"
            new = rows["RO-NEW"][2]
            assert "进行中" in new and "0.9.0" in new and "2 / 4 (50%)" in new
            assert "完成 1" in new and "已回滚 1" in new and "等待同步 1" in new and "等待 1" in new
            assert "已取消 1" in rows["RO-OLD"][2] and "1 / 1" in rows["RO-OLD"][2]
            page.screenshot(path=str(ARTIFACTS / "rollouts-list-zh.png"), full_page=True)

            page.click('a.sid:text-is("RO-NEW")')
            page.wait_for_selector('#ext-view h2[data-rollout="RO-NEW"]')
            st = {r[0]: r for r in cells(page, "#rollout-stations tbody tr")}
            assert list(st) == ["S-0001", "S-0002", "S-0003", "S-0004"]
            assert [st[s][1] for s in st] == ["done", "rolled_back", "waiting_for_sync",
                                              "pending"]
            assert "not healthy within 20 s" in st["S-0002"][2]
            assert "3 records not yet committed" in st["S-0003"][2]
            # none of them has ever connected: an unfinished one waits for its station
            page.wait_for_selector('#rollout-stations tr[data-station="S-0004"][data-away="1"]')
            assert "等待站点上线" in page.inner_text('#rollout-stations tr[data-station="S-0004"]')
            assert page.get_attribute('#rollout-stations tr[data-station="S-0001"]',
                                      "data-away") is None                    # done: not waiting
            readers = page.eval_on_selector_all(
                '#rollout-stations tr[data-station="S-0002"] li[data-reader]',
                "els => els.map(e => [e.dataset.reader, e.dataset.state])")
            assert readers == [["R-0003", "done"], ["R-0004", "rolled_back"]]
            skipped = '#rollout-stations tr[data-station="S-0001"] li[data-reader="R-0002"]'
            assert "已是 0.9.0 版本，未重新写入" in page.inner_text(skipped)
            assert page.locator("#ro-pause, #ro-resume, #ro-cancel").count() == 0  # operator
            page.click("#lang")
            page.wait_for_function("document.documentElement.lang === 'en'")
            page.wait_for_function("document.querySelector('#rollout-stations')"
                                   ".innerText.includes('rolled back')")
            view = page.inner_text("#ext-view")
            assert "waiting for sync" in view and "every active station" in view
            assert "already on version 0.9.0: not flashed" in view
            page.screenshot(path=str(ARTIFACTS / "rollout-page-en.png"), full_page=True)

            # a change the fleet service records reaches the open page without a reload
            page.evaluate("window.__not_reloaded = true")
            reports(fleet, rid, "S-0003", [("R-0005", "done", None), ("", "done", None)])
            page.wait_for_function("document.querySelector('#rollout-stations "
                                   "tr[data-station=\"S-0003\"]').dataset.state === 'done'",
                                   timeout=15000)
            assert page.evaluate("window.__not_reloaded") is True

            # a technician may steer it: pause, resume, cancel (confirmed)
            tech = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            tech.on("pageerror", lambda e: errors.append(str(e)))
            sign_in(tech, srv, tokens["technician"], "#/rollouts/RO-NEW")
            tech.wait_for_selector("#ro-pause")
            tech.click("#ro-pause")
            tech.wait_for_selector('#ext-view h2[data-state="paused"]')
            assert fleet.status(rid)["paused"]
            assert "(technician-1)" in tech.inner_text("#ro-why")
            tech.click("#ro-resume")
            tech.wait_for_selector('#ext-view h2[data-state="running"]')
            tech.once("dialog", lambda d: d.accept())
            tech.click("#ro-cancel")
            tech.wait_for_selector('#ext-view h2[data-state="cancelled"]')
            assert tech.locator("#ro-pause, #ro-resume, #ro-cancel").count() == 0
            assert tech.get_attribute('#rollout-stations tr[data-station="S-0004"]',
                                      "data-state") == "cancelled"
            width = tech.evaluate("document.documentElement.scrollWidth")
            assert width <= 390 + 2, f"the rollout page scrolls sideways on a phone ({width}px)"
            tech.screenshot(path=str(ARTIFACTS / "rollout-page-phone.png"), full_page=True)
            s = fleet.status(rid)
            assert s["state"] == "cancelled" and s["counts"] == {"done": 2, "rolled_back": 1,
                                                                 "cancelled": 1}
            assert outside == [] and errors == []
        finally:
            browser.close()
