"""The administration page's second half (bank_admin.js) in a real headless Chromium, one
browser for the module: course categories and terms (an overlap refused in words), an
activity's standard changed from a date on (versions via the API, granted ledger entries
untouched), grade thresholds and the reward rule edited (grades change), an activity's
administrator, and redeeming on a learner's behalf (a double click redeems once; too few
points refused). Same seeded hub as test_bank_pages.py (its fixtures and helpers)."""

from __future__ import annotations

import datetime as dt

import httpx

from dashkit import ARTIFACTS
from test_bank_pages import open_page, raw_keys, sign_in, sql
from server_hub.creditbank import audit
from server_hub.creditbank.bank import Bank


def api(srv, facts, path):
    resp = httpx.get(srv.url + "/api/v1" + path,
                     headers={"Authorization": "Bearer " + facts["tokens"]["ann"]})
    assert resp.status_code == 200, resp.text
    return resp.json()


def admin_page(browser, srv, facts, lang="zh", viewport=None):
    ctx, page = open_page(browser, srv, viewport)
    if lang == "en":
        page.add_init_script("localStorage.setItem('tapcert.lang', 'en')")
    sign_in(page, srv, facts["tokens"]["ann"], "/dashboard/bank")
    page.wait_for_selector('#activity-list tr[data-activity="yoga-1"]')
    return ctx, page


def test_categories_and_terms(browser, bank):
    hub, srv, facts = bank
    ctx, page = admin_page(browser, srv, facts)
    try:
        form = "#category-form label:nth-of-type({}) input"
        page.fill(form.format(1), "health")
        page.fill(form.format(2), "健康课程")
        page.fill(form.format(3), "Health courses")
        page.click("#category-form button[type=submit]")
        row = page.locator('#category-list tr[data-category="health"]')
        row.wait_for()
        assert {"code": "health", "name_zh": "健康课程", "name_en": "Health courses",
                "active": True} in api(srv, facts, "/categories")
        row.locator("input.name-en").fill("Health and sport")
        row.locator("button.rename").click()
        page.wait_for_function("document.querySelector('#flash').innerText.includes('health')")
        row.locator("button.toggle").click()
        page.wait_for_selector('#category-list tr[data-category="health"][data-active="no"]')
        got = {c["code"]: c for c in api(srv, facts, "/categories?all=true")}
        assert (got["health"]["name_en"], got["health"]["active"]) == ("Health and sport", False)
        assert "health" not in {c["code"] for c in api(srv, facts, "/categories")}

        def add_term(tid, name, first, last):
            for i, value in enumerate((tid, name, first, last), start=1):
                page.fill(f"#term-form label:nth-of-type({i}) input", value)
            page.click("#term-form button[type=submit]")

        add_term("2026-spring", "2026 春季", "2026-03-01", "2026-07-15")
        page.wait_for_selector('#term-list tr[data-term="2026-spring"]')
        assert api(srv, facts, "/terms") == [{"id": "2026-spring", "name": "2026 春季",
                                              "first_day": "2026-03-01",
                                              "last_day": "2026-07-15"}]
        add_term("2026-summer", "2026 夏季", "2026-07-01", "2026-08-31")     # overlaps
        err = page.locator("#term-form .error")
        err.wait_for()
        words = err.inner_text()
        assert "与学期 2026-spring（2026-03-01..2026-07-15）重叠" in words, words
        assert "terms may not share a day" in words               # and the API's own words
        assert [x["id"] for x in api(srv, facts, "/terms")] == ["2026-spring"]
        # change the existing term: move its last day
        row = page.locator('#term-list tr[data-term="2026-spring"]')
        row.locator("input.term-last").fill("2026-06-30")
        row.locator("button.save").click()
        page.wait_for_function("document.querySelector('#flash').innerText.includes('2026-spring')")
        assert api(srv, facts, "/terms")[0]["last_day"] == "2026-06-30"
        assert [a["action"] for a in audit.entries(hub.store, action="term.*")] == \
            ["term.set", "term.add"]
        page.screenshot(path=str(ARTIFACTS / "bank-admin-terms-zh.png"), full_page=True)
        # remove it (asks first)
        row.locator("button.remove").click()
        row.locator("button.confirm").click()
        page.wait_for_selector("#terms-empty")
        assert api(srv, facts, "/terms") == []
        assert page.outside == [] and page.errors == []
    finally:
        ctx.close()


def test_standard_change_from_a_date_leaves_granted_credits(browser, bank):
    hub, srv, facts = bank
    ledger = "SELECT id, learner_id, entry, amount_milli, activity_id FROM ledger ORDER BY id"
    before = sql(hub, ledger)
    assert [r[1:] for r in before if r[4] == "yoga-1"] == \
        [(f"L-{i}", "credit", 5000, "yoga-1") for i in (1, 2, 3)]
    ctx, page = admin_page(browser, srv, facts)
    try:
        row = page.locator('#activity-list tr[data-activity="yoga-1"]')
        assert "固定：每次签到 5 学分" in row.inner_text() and "West library" in row.inner_text()
        row.locator("button.edit").click()
        form = page.locator('#standard-form[data-activity="yoga-1"]')
        assert "已发放的学分不会被改写" in form.locator(".note").inner_text()
        form.locator('select[name="category"]').select_option("station-session")
        form.locator('select[name="type"]').select_option("per_hour")
        assert form.locator('input[name="share"]').is_hidden()
        form.locator('input[name="credits"]').fill("1")
        form.locator('input[name="round_minutes"]').fill("30")
        form.locator('select[name="rounding"]').select_option("down")
        form.locator('input[name="max_per_day"]').fill("2")
        form.locator('input[name="max_per_term"]').fill("10")
        day = (dt.date.today() + dt.timedelta(days=1)).isoformat()
        assert form.locator('input[name="from"]').input_value() == day    # tomorrow by default
        form.locator("button.save-standard").click()
        page.wait_for_selector('#standard-answer[data-entries="0"]')
        answer = page.inner_text("#standard-answer")
        assert "现有 2 个标准版本" in answer and "没有写入账本记录" in answer
        got = api(srv, facts, "/activities/yoga-1")
        assert got["category"] == "station-session"
        assert got["standard"] == {"versions": [
            {"standard": {"type": "fixed", "credits": 5}},
            {"from": day, "standard": {"type": "per_hour", "credits": 1, "round_minutes": 30,
                                       "rounding": "down", "min_minutes": 0,
                                       "missing_checkout": "none", "max_per_day": 2,
                                       "max_per_term": 10}}]}
        assert sql(hub, ledger) == before                   # nothing granted was touched
        row = page.locator('#activity-list tr[data-activity="yoga-1"]')
        words = row.inner_text()
        assert f"自 {day} 起: 按小时：每小时 1 学分，按 30 分钟向下取整；每天最多 2 / 每学期最多 10 学分" \
            in words, words
        assert f"{day} 之前: 固定：每次签到 5 学分" in words and "站点面授" in words
        page.screenshot(path=str(ARTIFACTS / "bank-admin-standard-zh.png"), full_page=True)
        # a date not after the last version's is refused, in the API's words, and changes nothing
        row.locator("button.edit").click()
        form.locator('input[name="from"]').fill(dt.date.today().isoformat())
        form.locator("button.save-standard").click()
        err = form.locator(".error")
        err.wait_for()
        assert "422" in err.inner_text() and "later than the one before" in err.inner_text()
        assert len(api(srv, facts, "/activities/yoga-1")["standard"]["versions"]) == 2
        assert sql(hub, ledger) == before
        [entry] = audit.entries(hub.store, action="activity.standard")
        assert (entry["actor"], entry["subject"]) == ("ann", "yoga-1")
        page.wait_for_selector('#audit-log tr[data-action="activity.standard"]')
        assert page.outside == [] and page.errors == []
    finally:
        ctx.close()


def test_thresholds_reward_rule_and_administrators(browser, bank):
    hub, srv, facts = bank
    ctx, page = admin_page(browser, srv, facts, lang="en")
    try:
        grades = lambda: dict(page.eval_on_selector_all(      # noqa: E731
            "#station-grades tbody tr", "els => els.map(e => [e.dataset.station, e.dataset.grade])"))
        assert grades() == {"S-A01": "A", "S-B02": "B", "S-C03": "C"}
        first = page.locator("#thresholds tr.grade-row").first
        assert first.locator(".grade-name").input_value() == "A"
        assert first.locator('input[data-check="min_uptime"]').input_value() == "90"   # percent
        first.locator('input[data-check="min_learners"]').fill("10")    # S-A01 serves 3
        page.click("#thresholds-save")
        page.wait_for_function("document.querySelector('#station-grades tr[data-station=S-A01]')"
                               ".dataset.grade === 'B'")
        assert grades() == {"S-A01": "B", "S-B02": "B", "S-C03": "C"}
        got = api(srv, facts, "/evaluation/settings")["grade_thresholds"]["grades"]
        assert got[0] == ["A", {"min_learners": 10, "min_uptime": 0.9, "max_holds_share": 0.1}]
        assert {s["station_id"]: s["grade"] for s in api(srv, facts, "/evaluation/stations")} \
            == grades()
        page.fill("#reward-form label:nth-of-type(1) input", "7")
        page.click("#reward-form button[type=submit]")
        page.wait_for_function("document.querySelector('#flash').innerText.includes('Reward rule saved')")
        assert api(srv, facts, "/evaluation/settings")["reward_rule"] == \
            {"per_session": 7, "per_learner_credited": 1}
        # the administrator of an activity
        row = page.locator('#activity-list tr[data-activity="paint-1"]')
        assert row.locator("input.admin").input_value() == "bo"
        row.locator("input.admin").fill("ann")
        row.locator("button.save-admin").click()
        page.wait_for_function("document.querySelector('#flash').innerText.includes('set to ann')")
        assert {a["id"]: a["admin"] for a in api(srv, facts, "/bank/activities")} == \
            {"yoga-1": "ann", "paint-1": "ann"}
        assert [a["action"] for a in audit.entries(hub.store, action="settings.*")][:2] == \
            ["settings.reward_rule", "settings.grade_thresholds"]
        page.screenshot(path=str(ARTIFACTS / "bank-admin-settings-en.png"), full_page=True)
        assert page.outside == [] and page.errors == []
    finally:
        ctx.close()


def test_redeem_on_behalf_double_click_redeems_once(browser, bank):
    hub, srv, facts = bank
    Bank(hub.store).add_service("museum", "Museum ticket", 10, "", "setup")
    entries = lambda: sql(hub, "SELECT service_id, points, comment, actor, idem_key "  # noqa: E731
                               "FROM exchange_entries WHERE learner_id = 'L-2' ORDER BY id")
    ctx, page = admin_page(browser, srv, facts)
    try:
        page.fill("#learner-id", "L-2")                  # 5 credits at 10 = 50 points
        page.click("#learner-form button[type=submit]")
        page.wait_for_selector('#balance[data-learner="L-2"]')
        assert page.inner_text("#points").startswith("50")
        page.select_option("#redeem-service", "museum")   # 10 points: a second would fit
        page.fill("#redeem-comment", "museum visit")
        page.dblclick("#redeem-go")
        page.wait_for_selector('#entries tr[data-entry="redeem"]')
        page.wait_for_function("document.querySelector('#flash').innerText.includes('剩余 40 积分')")
        assert page.inner_text("#points").startswith("40")
        [first] = entries()
        assert first[:4] == ("museum", -10, "museum visit", "ann")
        assert page.locator("#entries tbody tr").count() == 1
        # the answer is lost on the way back: the retry sends the same key, redeemed once
        lost = []

        def lose_answer(route):
            route.fetch()                                # the hub does redeem
            lost.append(route.request.post_data_json["key"])
            route.abort()
        page.route("**/api/v1/exchange/redemptions", lose_answer)
        page.select_option("#redeem-service", "swim")     # 30 points
        page.click("#redeem-go")
        page.wait_for_selector("#redeem-form .error:not([hidden])")
        assert "无法连接" in page.inner_text("#redeem-form .error")   # the page could not tell
        page.unroute("**/api/v1/exchange/redemptions")
        page.click("#redeem-go")
        page.wait_for_function("document.querySelector('#flash').innerText.includes('未重复兑换')")
        assert [e[0] for e in entries()] == ["museum", "swim"] and entries()[1][4] == lost[0]
        assert page.inner_text("#points").startswith("10")
        # the next click is a new redemption: 10 points do not pay 30 -> refused in words
        page.click("#redeem-go")
        err = page.locator("#redeem-form .error")
        err.wait_for()
        assert "积分不足" in err.inner_text() and "not enough points" in err.inner_text()
        assert len(entries()) == 2
        assert api(srv, facts, "/learners/L-2/exchange")["points_available"] == 10
        page.screenshot(path=str(ARTIFACTS / "bank-admin-redeem-zh.png"), full_page=True)
        assert page.errors == []
    finally:
        ctx.close()


def test_new_sections_in_both_languages_on_a_phone(browser, bank):
    hub, srv, facts = bank
    ctx, page = admin_page(browser, srv, facts, viewport={"width": 390, "height": 844})
    try:
        keys = page.evaluate("[Object.keys(BANK_ADMIN_I18N.zh), Object.keys(BANK_ADMIN_I18N.en)]")
        assert set(keys[0]) ^ set(keys[1]) == set(), "a label missing in one language"
        page.fill("#learner-id", "L-1")
        page.click("#learner-form button[type=submit]")
        page.wait_for_selector("#redeem-form")
        page.click('#activity-list tr[data-activity="paint-1"] button.edit')
        page.wait_for_selector("#standard-form")
        page.wait_for_selector("#station-grades")
        for lang in ("zh", "en"):
            if lang == "en":
                page.click("#lang")
                page.wait_for_function("document.documentElement.lang === 'en'")
                assert "Course categories" in page.inner_text("#categories h2")
                assert "attendance: 2 credits for 50% of the session, an open check-in counts " \
                       "to the session end" in page.inner_text("#activity-list")
            assert page.evaluate("window.__i18nMissing") == [], lang
            assert raw_keys(page) == [], (lang, raw_keys(page))
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 392, f"{lang}: the page scrolls sideways on a phone ({width}px)"
            page.screenshot(path=str(ARTIFACTS / f"bank-admin-phone-{lang}.png"), full_page=True)
            page.locator("#activities").screenshot(
                path=str(ARTIFACTS / f"bank-admin-phone-activities-{lang}.png"))
        page.emulate_media(media="print")
        assert page.locator("#category-form").is_hidden() and page.locator("#redeem-form").is_hidden()
        assert page.locator("#category-list").is_visible() and page.locator("#term-form").is_hidden()
        assert page.outside == [] and page.errors == []
    finally:
        ctx.close()
