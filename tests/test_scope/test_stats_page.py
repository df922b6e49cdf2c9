"""The dashboard's district statistics page (#/stats) in a real headless Chromium, on the
seeded district of statskit.py: an operator signs in and sees the figures the test knows (the
summary cards, the credits-per-month chart's axis labels, the bars by category, station, type
and organisation) in Chinese, then in English, and downloads the CSV. A screenshot goes to
test-artifacts/ for a person to look at."""

from __future__ import annotations

import csv
import datetime as dt
import time

import pytest
from playwright.sync_api import sync_playwright

from dashkit import ARTIFACTS, Server
from scopekit import HOME, Hub, make_config
from server_hub.dashboard.monitor import Monitor
from statskit import seed_stats

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
WAIT_MS = 20_000


@pytest.fixture
def district(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url, hub__timezone="Asia/Shanghai",
                               dashboard__refresh_s=0.3, dashboard__poll_s=1.0))
    hub.config.hub.ca_dir = str(tmp_path / "ca")
    seeded = seed_stats(hub)
    now = time.time()
    mon = Monitor(hub.store, hub.config, now=now - 120)
    mon.tick(now)
    with Server(hub, mon) as srv:
        yield hub, srv, seeded
    hub.close()


def cells(page, dim):
    return page.eval_on_selector_all(
        f"#stats-{dim} tbody tr",
        "els => els.map(e => [e.dataset.key, e.querySelector('[data-col=name]').innerText,"
        " e.querySelector('[data-col=credits]').innerText.trim()])")


def test_an_operator_reads_the_district_statistics(district, tmp_path):
    hub, srv, seeded = district
    month = dt.datetime.fromtimestamp(seeded["now"], hub.config.tz).strftime("%Y-%m")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000},
                                    accept_downloads=True)
            outside, errors = [], []
            page.on("request", lambda r: None if r.url.startswith(srv.url)
                    or r.url.startswith("data:") or r.url.startswith("blob:")
                    else outside.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(srv.url + "/dashboard")
            page.wait_for_selector("#login-form", state="visible")
            page.fill("#token", seeded["tokens"]["olga"])
            page.click("#login-form button[type=submit]")
            page.wait_for_selector('#nav a[data-view="stats"]:not([hidden])', timeout=WAIT_MS)
            page.click('#nav a[data-view="stats"]')
            page.wait_for_selector("#stats-summary", timeout=WAIT_MS)
            # the default period is the last twelve months; the seeded credits are this month's
            value = lambda card: page.inner_text(f"#{card} .value")      # noqa: E731
            assert [value(c) for c in ("stats-accounts", "stats-active", "stats-credits",
                                       "stats-issued", "stats-redeemed")] == \
                ["5", "5", "6", "60", "5"]
            assert "期间新开 5" in page.inner_text("#stats-accounts")
            assert "Asia/Shanghai" in page.inner_text("#stats-note")
            chart = page.wait_for_selector("#stats-month-chart[data-y-ticks] canvas",
                                           timeout=WAIT_MS)
            assert chart is not None
            fig = page.eval_on_selector(
                "#stats-month-chart", "f => ({x: f.dataset.xTicks, y: f.dataset.yTicks,"
                " caption: f.querySelector('figcaption').innerText})")
            assert fig["caption"] == "每月学分 · 学分"
            xs, ys = fig["x"].split("|"), fig["y"].split("|")
            assert len(xs) == 12 and xs[-1] == month, xs        # one bar per month, this last
            assert ys[0] == "0" and int(ys[-1].replace(",", "")) >= 6, ys
            assert cells(page, "category") == [["community-event", "社区活动", "3"],
                                               ["cultural-life", "文化生活课程", "3"]]
            assert [c[:2] for c in cells(page, "station")] == \
                [[HOME, "West library"], ["S-0002", "Riverside centre"]]
            assert cells(page, "type") == [["", "未登记", "2"], ["retiree", "退休人员", "2"],
                                           ["student", "学生", "2"]]
            assert [c[1:] for c in cells(page, "organisation")] == \
                [["Riverside works", "4"], ["西城小学", "2"]]
            page.screenshot(path=str(ARTIFACTS / "stats-page-zh.png"), full_page=True)

            page.click("#lang")
            page.wait_for_function("document.documentElement.lang === 'en'")
            page.wait_for_function("document.querySelector('#stats-month-chart figcaption')"
                                   ".innerText === 'Credits per month · credits'")
            assert cells(page, "category")[1][1] == "Cultural-life courses"
            assert cells(page, "type")[0][1] == "not recorded"
            assert "5 opened in the period" in page.inner_text("#stats-accounts")

            with page.expect_download() as info:
                page.click("#stats-csv")
            path = tmp_path / "stats.csv"
            info.value.save_as(str(path))
            rows = list(csv.DictReader(path.open(encoding="utf-8")))
            summary = {r["key"]: r["value"] for r in rows if r["dimension"] == "summary"}
            assert (summary["credits"], summary["points_issued"]) == ("6.0", "60")
            assert info.value.suggested_filename.startswith("tapcert-stats-")
            assert not outside, outside                   # nothing loaded from outside the hub
            assert not errors, errors
        finally:
            browser.close()
