"""Date-range statements (SQLite and PostgreSQL): opening + period = closing balance."""

import time

import pytest

from bankkit import SESSION_START, credited_district, wire
from server_hub.creditbank import statements
from server_hub.creditbank.bank import Bank
from server_hub.errors import NotFound


def test_period_statement(hub):
    d = credited_district(hub, credits=2)
    cut = time.time()
    time.sleep(0.02)
    hub.registry.update_activity("A-1", standard={"type": "fixed", "credits": 3})
    Bank(hub.store).add_service("tea", "Tea", 5)
    Bank(hub.store).redeem("L-0", "tea", "st-key-0001")
    before = statements.period(hub.store, "L-0", 0, cut)
    after = statements.period(hub.store, "L-0", cut, time.time() + 1)
    assert (before["opening_balance"], before["closing_balance"]) == (0, 2)
    assert [e["entry"] for e in before["entries"]] == ["credit"]
    assert before["entries"][0]["records"] == f"{d.reader.reader_id.hex()}#1"
    assert (after["opening_balance"], after["credited"], after["closing_balance"]) == (2, 1, 3)
    assert [e["entry"] for e in after["entries"]] == ["adjust"]
    assert [x["points"] for x in after["exchange"]] == [-5] and before["exchange"] == []
    assert after["closing_balance"] * 1000 == hub.balance("L-0")
    with pytest.raises(NotFound):
        statements.period(hub.store, "L-404", 0, 1)
