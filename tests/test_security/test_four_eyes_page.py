"""Issue 18, privilege, on the page: the bank administration page shows a four-eyes answer
(HTTP 202, a standard change that would move granted credits waits for a second admin) as
pending — not as saved, not as an error. A real hub over HTTP and a real headless Chromium
(the bank page fixtures of tests/test_dashboard/test_bank_pages.py): ann changes yoga-1's
standard from yesterday (its learners hold 5 credits each from today's session); the page
says the proposal waits for a second admin, in Chinese and with the proposal's number, and
the ledger is untouched until bo approves through the API."""

from __future__ import annotations

import datetime as dt

import httpx

from test_bank_pages import open_page, sign_in, sql

LEDGER = "SELECT id, learner_id, entry, amount_milli FROM ledger WHERE activity_id = 'yoga-1'"


def test_a_standard_change_waiting_for_a_second_admin_shows_as_pending(browser, bank):
    hub, srv, facts = bank
    before = sql(hub, LEDGER)
    ctx, page = open_page(browser, srv)
    try:
        sign_in(page, srv, facts["tokens"]["ann"], "/dashboard/bank")
        row = page.locator('#activity-list tr[data-activity="yoga-1"]')
        row.wait_for()
        row.locator("button.edit").click()
        form = page.locator('#standard-form[data-activity="yoga-1"]')
        form.locator('input[name="credits"]').fill("1")
        yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
        form.locator('input[name="from"]').fill(yesterday)
        form.locator("button.save-standard").click()
        pending = page.locator("#change-pending")
        pending.wait_for()
        words = pending.inner_text()
        proposal = pending.get_attribute("data-proposal")
        assert "等待第二位管理员批准" in words and f"#{proposal}" in words, words
        assert "批准后将写入 3 条账本记录" in words, words
        flash = page.locator("#flash")
        assert "pending" in flash.get_attribute("class"), flash.get_attribute("class")
        assert flash.inner_text().startswith("⏳") and "学分尚未改变" in flash.inner_text()
        assert page.locator("#standard-answer").count() == 0      # not shown as saved
        assert sql(hub, LEDGER) == before                           # nothing written yet
        got = httpx.post(f"{srv.url}/api/v1/activity-changes/{proposal}/decision",
                         headers={"Authorization": "Bearer " + facts["tokens"]["bo"]},
                         json={"decision": "approve"})
        assert got.status_code == 200, got.text
        assert sql(hub, LEDGER) != before
        assert page.errors == [] and page.outside == []
    finally:
        ctx.close()
