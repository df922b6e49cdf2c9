"""The credit-bank pages in a real headless Chromium (one browser for the module): the operator
dashboard's station grades and administrator rewards views (computed grades, sorting, CSV, no
learner data), and the administration page /dashboard/bank (review queue, four-eyes external
credits, exchange with a reversal, audit log) — admins only, refused to other roles by the API.
Data is put in known states through the hub's own paths; screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import re
import time

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import sync_playwright

from protocol import record as rec
from dashkit import ARTIFACTS, Hub, Server, make_config, write_history
from server_hub.creditbank import audit, evaluation, external
from server_hub.creditbank.bank import Bank

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
THRESHOLDS = {"grades": [["A", {"min_learners": 3, "min_uptime": 0.9, "max_holds_share": 0.1}],
                         ["B", {"min_learners": 1}], ["C", {}]]}
EXPECTED_GRADES = {"S-A01": "A", "S-B02": "B", "S-C03": "C"}
LEARNER_DATA = re.compile(r"\bL-\d|Learner \d|04a0")


def sql(hub, query, **params):
    with hub.store.read() as conn:
        return [tuple(r) for r in conn.execute(sa.text(query), params).fetchall()]


def seed(hub: Hub, now: float) -> dict:
    """Three stations (grades A, B, C by THRESHOLDS), two administrators' activities, two held
    credits (lost cards), a redemption, an external credit entered by `bo`."""
    reg = hub.registry
    session = [[int(now) - 3 * 3600, int(now) - 3600]]
    ra = hub.add_station("S-A01", name="West library")[0]
    rb = hub.add_station("S-B02", name="Riverside centre")[0]
    hub.add_station("S-C03", name="Old school")
    reg.add_activity("yoga-1", "S-A01", "Yoga", {"type": "once", "sessions": session},
                     {"type": "fixed", "credits": 5})
    reg.add_activity("paint-1", "S-B02", "Painting", {"type": "once", "sessions": session},
                     {"type": "attendance", "credits": 2, "share": 0.5,
                      "missing_checkout": "session_end"})
    cards = {}
    for i in range(1, 7):
        cards[f"L-{i}"] = bytes([0x04, 0xA0, 0, i])
        reg.add_learner(f"L-{i}", f"Learner {i}")
        reg.add_card(cards[f"L-{i}"].hex(), f"L-{i}")
    for lid in ("L-4", "L-6"):
        reg.set_card_status(cards[lid].hex(), "lost", since=int(now) - 4 * 3600)
    at = int(now) - 2 * 3600
    hub.ingest("S-A01", [ra.tap(cards[f"L-{i}"], at=at + i) for i in (1, 2, 3)], now=now - 60)
    start = session[0][0]       # check-in 30 min in, check-out 75 min later: 62.5 % attended
    hub.ingest("S-B02", [rb.tap(cards[lid], kind=kind, at=start + offset + i)
                         for offset, kind in ((1800, rec.KIND_IN), (6300, rec.KIND_OUT))
                         for i, lid in enumerate(("L-4", "L-5", "L-6"))], now=now - 60)
    write_history(hub, "S-A01", [(now - 3600 * k, "online", 0, []) for k in range(1, 6)])
    evaluation.set_setting(hub.store, "grade_thresholds", THRESHOLDS, "setup")
    evaluation.assign_admin(hub.store, "yoga-1", "ann", "setup")
    evaluation.assign_admin(hub.store, "paint-1", "bo", "setup")
    bank = Bank(hub.store)
    bank.set_rate(10, "setup")
    bank.add_service("swim", "Swimming lesson", 30, "sport", "setup")
    bank.redeem("L-1", "swim", "k-swim-0001", "setup")
    ext = external.enter(hub.store, "L-2", 1500, "First aid", "Red Cross Beijing", "RC-2026-42",
                         "2026-11-01", "bo")
    tokens = {name: reg.create_operator(name, role)[1] for name, role in
              (("ann", "admin"), ("bo", "admin"), ("olga", "operator"), ("ted", "technician"))}
    return {"tokens": tokens, "external_id": ext["id"]}


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def bank(tmp_path):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config(dashboard__poll_s=1.0))
    facts = seed(hub, time.time())
    with Server(hub) as srv:
        yield hub, srv, facts
    hub.close()


def open_page(browser, srv, viewport=None):
    ctx = browser.new_context(accept_downloads=True,
                              viewport=viewport or {"width": 1280, "height": 900})
    page = ctx.new_page()
    page.outside, page.errors = [], []
    page.on("request", lambda r: None if r.url.startswith(srv.url) or r.url.startswith("blob:")
            or r.url.startswith("data:") else page.outside.append(r.url))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return ctx, page


def sign_in(page, srv, token, path):
    page.goto(srv.url + path)
    page.wait_for_selector("#login-form", state="visible")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")


def raw_keys(page) -> list:
    """Visible words outside <code> (ids, action codes) that look like label keys."""
    text = page.evaluate("""() => { const b = document.body.cloneNode(true);
        b.querySelectorAll('code, script').forEach(n => n.remove());
        document.body.appendChild(b); b.hidden = false;
        const s = b.innerText; b.remove(); return s; }""")
    return sorted(set(re.findall(r"\b[a-z]+_[a-z_]+\b", text)))


def downloaded_csv(page, button) -> tuple[str, list]:
    with page.expect_download() as info:
        page.click(button)
    dl = info.value
    return dl.suggested_filename, list(csv.DictReader(io.StringIO(open(dl.path()).read())))


def test_grades_and_rewards_views(browser, bank):
    hub, srv, facts = bank
    ctx, page = open_page(browser, srv)
    try:
        sign_in(page, srv, facts["tokens"]["olga"], "/dashboard")
        page.wait_for_selector("#stations tbody tr[data-station]")
        assert page.is_visible('#nav a[data-view="grades"]')
        assert page.is_hidden('#nav a[data-view="bank"]')      # operators: no bank link
        page.click('#nav a[data-view="grades"]')
        page.wait_for_selector("#eval-grades tbody tr[data-station]")
        assert page.is_hidden("#list-view")
        got = page.eval_on_selector_all("#eval-grades tbody tr", "els => els.map(e => "
                                        "[e.dataset.station, e.dataset.grade, e.innerText])")
        assert {g[0]: g[1] for g in got} == EXPECTED_GRADES
        report = {r["station_id"]: r for r in evaluation.station_report(
            hub.store, int(time.time()) - 30 * 86400, int(time.time()) + 1)}
        assert {s: r["grade"] for s, r in report.items()} == EXPECTED_GRADES
        row = {g[0]: g[2] for g in got}
        assert "100%" in row["S-A01"] and "West library" in row["S-A01"]
        assert "2 (66.7%)" in row["S-B02"] and "未知" in row["S-B02"]   # unknown uptime
        assert "服务学员 ≥ 3" in page.inner_text("#eval-rule")
        # sortable: by grade, then reversed
        page.click('#eval-grades th button[data-sort="grade"]')
        order = lambda: page.eval_on_selector_all(               # noqa: E731
            "#eval-grades tbody tr", "els => els.map(e => e.dataset.grade)")
        assert order() == ["A", "B", "C"]
        page.click('#eval-grades th button[data-sort="grade"]')
        assert order() == ["C", "B", "A"]
        name, rows = downloaded_csv(page, "#eval-csv")
        assert name.startswith("tapcert-stations-") and name.endswith(".csv")
        assert list(rows[0]) == evaluation.STATION_COLUMNS
        assert {r["station_id"]: r["grade"] for r in rows} == EXPECTED_GRADES
        assert {r["station_id"]: int(r["learners_served"]) for r in rows} == \
            {s: r["learners_served"] for s, r in report.items()}
        assert not LEARNER_DATA.search(page.inner_text("body"))
        assert raw_keys(page) == []
        page.screenshot(path=str(ARTIFACTS / "dashboard-grades-zh.png"), full_page=True)

        page.click("#lang")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert "Station evaluation and grades" in page.inner_text("#ext-view")
        assert "learners served ≥ 3" in page.inner_text("#eval-rule")
        page.screenshot(path=str(ARTIFACTS / "dashboard-grades-en.png"), full_page=True)

        page.click('#nav a[data-view="rewards"]')
        page.wait_for_selector("#eval-rewards tbody tr[data-admin]")
        rew = page.eval_on_selector_all("#eval-rewards tbody tr", "els => els.map(e => "
                                        "[e.dataset.admin, e.querySelector('[data-col=points]')"
                                        ".innerText])")
        # ann: 1 session, 3 credited -> 5 + 3; bo: 1 session, 1 credited (2 held) -> 5 + 1
        assert rew == [["ann", "8"], ["bo", "6"]]
        assert "5 points per session with a credit, plus 1 per learner credited" in \
            page.inner_text("#eval-rule")
        name, rows = downloaded_csv(page, "#eval-csv")
        assert [(r["admin"], r["points"]) for r in rows] == [("ann", "8"), ("bo", "6")]
        assert list(rows[0]) == evaluation.REWARD_COLUMNS
        assert raw_keys(page) == [] and not LEARNER_DATA.search(page.inner_text("body"))
        page.screenshot(path=str(ARTIFACTS / "dashboard-rewards-en.png"), full_page=True)
        keys = page.evaluate("[Object.keys(I18N.zh).sort(), Object.keys(I18N.en).sort()]")
        assert set(keys[0]) ^ set(keys[1]) == set(), "a label missing in one language"
        assert page.outside == [] and page.errors == []
    finally:
        ctx.close()


def test_technician_sees_the_refusal_and_no_grades_link(browser, bank):
    hub, srv, facts = bank
    ctx, page = open_page(browser, srv)
    try:
        page.add_init_script("localStorage.setItem('tapcert.lang', 'en')")
        sign_in(page, srv, facts["tokens"]["ted"], "/dashboard")
        page.wait_for_selector("#stations tbody tr[data-station]")
        assert page.is_hidden('#nav a[data-view="grades"]')
        page.evaluate("location.hash = '#/grades'")
        page.wait_for_selector("#eval-error")
        assert "needs the admin or operator role" in page.inner_text("#eval-error")
        assert "role technician may not do this" in page.inner_text("#eval-error")
    finally:
        ctx.close()


def test_non_admins_are_refused_the_bank_page(browser, bank):
    hub, srv, facts = bank
    for who in ("olga", "ted"):       # the API refuses the page's data to every other role
        resp = httpx.get(srv.url + "/api/v1/bank/desk",
                         headers={"Authorization": "Bearer " + facts["tokens"][who]})
        assert resp.status_code == 403 and "admin" in resp.json()["detail"]
    assert httpx.get(srv.url + "/api/v1/bank/desk", headers={
        "Authorization": "Bearer " + facts["tokens"]["ann"]}).status_code == 200
    ctx, page = open_page(browser, srv)
    try:
        sign_in(page, srv, facts["tokens"]["olga"], "/dashboard/bank")
        page.wait_for_selector("#refused", state="visible")
        assert "此页面仅供认证管理员使用" in page.inner_text("#refused")
        assert "role operator may not do this" in page.inner_text("#refused-detail")
        assert page.is_hidden("#bank")
        assert not LEARNER_DATA.search(page.inner_text("body"))
        page.screenshot(path=str(ARTIFACTS / "bank-refused-zh.png"), full_page=True)
    finally:
        ctx.close()


def test_review_queue_approves_one_held_credit(browser, bank):
    hub, srv, facts = bank
    ctx, page = open_page(browser, srv)
    try:
        sign_in(page, srv, facts["tokens"]["bo"], "/dashboard")
        page.wait_for_selector('#nav a[data-view="bank"]', state="visible")  # admins: the link
        page.click('#nav a[data-view="bank"]')
        page.wait_for_url("**/dashboard/bank")
        page.wait_for_selector("article.review")            # same tab: still signed in
        assert page.locator("article.review").count() == 2
        item = page.locator('article.review[data-learner="L-4"]')
        text = item.inner_text()
        assert "Painting" in text and "S-B02" in text and "此卡在刷卡前已挂失" in text
        assert "出勤：签到签退覆盖场次 50% 得 2 学分" in text
        assert item.locator("table.evidence tbody tr").count() == 2   # check-in and check-out
        assert "签到" in text and "签退" in text and "R-B00" in text
        page.screenshot(path=str(ARTIFACTS / "bank-reviews-zh.png"), full_page=True)

        item.locator("button.approve").click()              # no comment: refused by the page
        assert "请填写说明" in item.locator(".decide .error").inner_text()
        assert sql(hub, "SELECT COUNT(*) FROM ledger WHERE learner_id = 'L-4'") == [(0,)]
        item.locator("input.comment").fill("seen in class by the teacher")
        item.locator("button.approve").click()
        page.wait_for_selector('article.review[data-learner="L-4"]', state="detached")
        assert page.locator("article.review").count() == 1
        assert "已批准 L-4 的学分" in page.inner_text("#flash")
        assert sql(hub, "SELECT entry, amount_milli, activity_id FROM ledger "
                        "WHERE learner_id = 'L-4'") == [("credit", 2000, "paint-1")]
        log = audit.entries(hub.store, action="review.*")
        assert [(a["action"], a["actor"], a["subject"], a["detail"]["comment"]) for a in log] == \
            [("review.approve", "bo", "L-4", "seen in class by the teacher")]
        page.wait_for_selector('#audit-log tr[data-action="review.approve"][data-subject="L-4"]')
        page.select_option("#audit-kind", "exchange")
        page.wait_for_function("!document.querySelector('#audit-log tr[data-action^=review]')")
        assert page.locator('#audit-log tr[data-action="exchange.redeem"]').count() == 1
        assert page.outside == [] and page.errors == []
    finally:
        ctx.close()


def test_external_credit_needs_a_second_administrator(browser, bank):
    hub, srv, facts = bank
    ext_id = facts["external_id"]
    ctx, page = open_page(browser, srv)
    try:
        page.add_init_script("localStorage.setItem('tapcert.lang', 'en')")
        sign_in(page, srv, facts["tokens"]["bo"], "/dashboard/bank")   # bo entered it
        row = page.locator(f'#external-list tr[data-external="{ext_id}"]')
        row.wait_for()
        assert "entered by you" in row.inner_text() and "RC-2026-42" in row.inner_text()
        row.locator("input.comment").fill("certificate checked")
        row.locator("button.approve").click()
        err = row.locator(".decide .error")
        err.wait_for()
        assert "a second administrator must approve or reject it (four-eyes)" in err.inner_text()
        assert sql(hub, "SELECT COUNT(*) FROM ledger WHERE activity_id LIKE 'external:%'") == [(0,)]
        page.screenshot(path=str(ARTIFACTS / "bank-external-refused-en.png"), full_page=True)
        page.click("#logout")
        page.fill("#token", facts["tokens"]["ann"])
        page.click("#login-form button[type=submit]")
        row = page.locator(f'#external-list tr[data-external="{ext_id}"]')
        row.locator("input.comment").fill("certificate checked")
        row.locator("button.approve").click()
        row.wait_for(state="detached")
        assert page.is_visible("#external-empty")
        assert sql(hub, "SELECT learner_id, amount_milli FROM ledger WHERE activity_id = :a",
                   a=f"external:{ext_id}") == [("L-2", 1500)]
        page.wait_for_selector('#audit-log tr[data-action="external.approve"]')
    finally:
        ctx.close()


def test_exchange_catalogue_rate_and_reversal(browser, bank):
    hub, srv, facts = bank
    ctx, page = open_page(browser, srv)
    try:
        sign_in(page, srv, facts["tokens"]["ann"], "/dashboard/bank")
        page.wait_for_selector('#services tr[data-service="swim"]')
        # add a service, change its price, retire it
        page.fill("#service-form label:nth-of-type(1) input", "museum")
        page.fill("#service-form label:nth-of-type(2) input", "Museum ticket")
        page.fill("#service-form label:nth-of-type(3) input", "15")
        page.click("#service-form button[type=submit]")
        museum = page.locator('#services tr[data-service="museum"]')
        museum.wait_for()
        museum.locator("input.price").fill("25")
        museum.locator("button.save-price").click()
        page.wait_for_function("document.querySelector('#flash').innerText.includes('25')")
        page.locator('#services tr[data-service="museum"] button.toggle').click()
        page.wait_for_selector('#services tr[data-service="museum"][data-active="no"]')
        svc = {s["id"]: s for s in Bank(hub.store).services(include_inactive=True)}
        assert (svc["museum"]["price_points"], svc["museum"]["active"]) == (25, False)
        page.fill("#rate-input", "12")
        page.click("#rate-set")
        page.wait_for_function("document.querySelector('#rate').innerText.includes('12')")
        assert Bank(hub.store).rate() == 12
        # a learner's balance: 5 credits, 3 exchanged for swim at 10/credit -> 2 left = 24 pts
        page.fill("#learner-id", "L-1")
        page.click("#learner-form button[type=submit]")
        page.wait_for_selector('#balance[data-learner="L-1"]')
        assert page.inner_text("#points").startswith("24")
        redemption = page.locator('#entries tr[data-key="k-swim-0001"]')
        redemption.locator("button.reverse-open").click()
        redemption.locator("button.confirm").click()                 # no reason: refused
        assert "请填写冲正原因" in redemption.locator(".error").inner_text()
        redemption.locator("input.reason").fill("lesson cancelled by the pool")
        redemption.locator("button.confirm").click()
        page.wait_for_selector('#entries tr[data-entry="reversal"]')
        assert page.inner_text("#points").startswith("60")           # 5 credits at 12
        assert "已冲正" in page.inner_text('#entries tr[data-key="k-swim-0001"]')
        assert sql(hub, "SELECT entry, points FROM exchange_entries WHERE learner_id = 'L-1' "
                        "ORDER BY id") == [("redeem", -30), ("reversal", 30)]
        log = audit.entries(hub.store, action="exchange.reverse")
        assert len(log) == 1 and log[0]["detail"]["comment"] == "lesson cancelled by the pool"
        assert log[0]["actor"] == "ann"
        page.wait_for_selector('#audit-log tr[data-action="exchange.reverse"]')
        page.screenshot(path=str(ARTIFACTS / "bank-exchange-zh.png"), full_page=True)
        assert page.outside == [] and page.errors == []
    finally:
        ctx.close()


def test_bank_page_languages_phone_and_print(browser, bank):
    hub, srv, facts = bank
    ctx, page = open_page(browser, srv, viewport={"width": 390, "height": 844})
    try:
        sign_in(page, srv, facts["tokens"]["ann"], "/dashboard/bank")
        page.wait_for_selector("article.review")
        page.fill("#learner-id", "L-1")
        page.click("#learner-form button[type=submit]")
        page.wait_for_selector("#entries")
        page.wait_for_selector("#audit-log")
        for lang in ("zh", "en"):
            if lang == "en":
                page.click("#lang")
                page.wait_for_function("document.documentElement.lang === 'en'")
                assert "Held credits to review" in page.inner_text("#reviews")
                assert "fixed: 5 credits per check-in" not in page.inner_text("#reviews")
                assert "the card was reported lost before this tap" in page.inner_text("#reviews")
            assert page.evaluate("window.__i18nMissing") == [], lang
            assert raw_keys(page) == [], (lang, raw_keys(page))
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 392, f"{lang}: the page scrolls sideways on a phone ({width}px)"
            page.screenshot(path=str(ARTIFACTS / f"bank-phone-{lang}.png"), full_page=True)
        keys = page.evaluate("[Object.keys(BANK_I18N.zh), Object.keys(BANK_I18N.en)]")
        assert set(keys[0]) ^ set(keys[1]) == set(), "a label missing in one language"
        page.emulate_media(media="print")
        assert page.locator("article.review .decide").first.is_hidden()
        assert page.locator("#service-form").is_hidden() and page.is_hidden("#lang")
        assert page.locator("#services").is_visible()
        page.screenshot(path=str(ARTIFACTS / "bank-print.png"), full_page=True)
        assert page.outside == [] and page.errors == []
    finally:
        ctx.close()
