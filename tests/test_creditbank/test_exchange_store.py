"""Exchange against the store, on SQLite and PostgreSQL: idempotent redemption, no overdraft
under concurrent redemptions, reversal only by an explicit entry, audit trail; point expiry
(a district setting, audited: credits earned on 2026-06-01 stop counting toward points once
it applies — they stay on the ledger — and a redemption is decided by the same rule)."""

import threading
import uuid

import pytest

from bankkit import credited_district
from server_hub.creditbank import audit
from server_hub.creditbank.bank import Bank
from server_hub.errors import Conflict, NotFound, RegistryError


@pytest.fixture
def bank(hub):
    b = Bank(hub.store)
    b.set_rate(10, actor="admin-a")
    b.add_service("swim", "Swimming lesson", 7, "community", actor="admin-a")
    return b


def test_redeem_is_idempotent_by_key(hub, bank):
    credited_district(hub, credits=5)
    first = bank.redeem("L-0", "swim", "key-0000001", actor="op")
    again = bank.redeem("L-0", "swim", "key-0000001", actor="op")
    assert first["id"] == again["id"] and not first["replayed"] and again["replayed"]
    acct = bank.account("L-0")
    assert acct["points_available"] == 50 - 7
    assert [e["entry"] for e in acct["entries"]] == ["redeem"]
    with pytest.raises(Conflict):       # same key, another request
        bank.redeem("L-1", "swim", "key-0000001")
    assert hub.balance("L-0") == 5000   # the credit ledger is untouched


def test_refuses_overdraft_and_unknown(hub, bank):
    credited_district(hub, credits=1)
    bank.redeem("L-0", "swim", "k-aaaaaaa1")
    with pytest.raises(Conflict, match="not enough points"):
        bank.redeem("L-0", "swim", "k-aaaaaaa2")
    with pytest.raises(NotFound):
        bank.redeem("L-0", "nothing", "k-aaaaaaa3")
    with pytest.raises(NotFound):
        bank.redeem("L-404", "swim", "k-aaaaaaa4")
    bank.set_service("swim", active=False)
    with pytest.raises(NotFound):
        bank.redeem("L-1", "swim", "k-aaaaaaa5")


def test_rate_change_never_rewrites_a_redemption(hub, bank):
    credited_district(hub, credits=1)
    bank.redeem("L-0", "swim", "k-rate-0001")           # 0.7 credit at 10 points/credit
    bank.set_rate(100)
    acct = bank.account("L-0")
    assert acct["credits_exchanged"] == 0.7
    assert acct["points_available"] == 30               # 0.3 credit at the new rate


def test_reversal_is_explicit_once_and_audited(hub, bank):
    credited_district(hub, credits=1)
    red = bank.redeem("L-0", "swim", "k-rev-00001", actor="op-1")
    with pytest.raises(RegistryError):
        bank.reverse("k-rev-00001", actor="op-2")        # no comment
    rev = bank.reverse("k-rev-00001", actor="op-2", comment="lesson cancelled")
    again = bank.reverse("k-rev-00001", actor="op-2", comment="twice")
    assert again["replayed"] and again["id"] == rev["id"]
    acct = bank.account("L-0")
    assert [e["entry"] for e in acct["entries"]] == ["reversal", "redeem"]
    assert acct["entries"][0]["reverses"] == red["id"]
    assert acct["points_available"] == 10
    with pytest.raises(NotFound):
        bank.reverse("k-none-0001", comment="x")
    actions = [(a["actor"], a["action"]) for a in audit.entries(hub.store, subject="L-0")]
    assert actions == [("op-2", "exchange.reverse"), ("op-1", "exchange.redeem")]
    assert {a["action"] for a in audit.entries(hub.store)} >= {"exchange.rate.set",
                                                               "exchange.service.add"}


@pytest.mark.parametrize("same_key", [False, True])
def test_concurrent_redemptions_never_overdraw(hub, bank, same_key):
    credited_district(hub, credits=5)                   # 50 points, service costs 7: 7 fit
    results, errors = [], []
    start = threading.Barrier(12)

    def worker(i):
        key = "k-same-0001" if same_key else f"k-{uuid.uuid4()}"
        start.wait()
        for _ in range(2):
            try:
                results.append(bank.redeem("L-0", "swim", key if same_key else
                                           f"{key}-{_}",
                                           actor="t" if same_key else f"t{i}"))  # keys are per person
            except Conflict as exc:
                errors.append(str(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    acct = bank.account("L-0")
    redeemed = [e for e in acct["entries"] if e["entry"] == "redeem"]
    if same_key:
        assert len(redeemed) == 1 and len(results) == 24 and not errors
        assert len({r["id"] for r in results}) == 1
    else:
        assert len(redeemed) == 7 and len(errors) == 24 - 7
        assert all("not enough points" in e for e in errors)
    assert acct["credits_available"] >= 0
    assert acct["points_available"] == 50 - 7 * len(redeemed)
    assert hub.count("bank_audit", "action = 'exchange.redeem'") == len(redeemed)


def test_expired_credits_buy_nothing_but_stay_on_the_ledger(hub, bank):
    credited_district(hub, credits=5)                   # earned on 2026-06-01
    with hub.store.read() as conn:
        assert Bank.expiry(conn) == {"months": 0}       # off by default
    assert bank.account("L-0")["points_available"] == 50
    bank.redeem("L-0", "swim", "k-exp-00001")          # 0.7 credit, consumed oldest first
    bank.set_expiry(600, actor="admin-b")               # counting until 2076-06-01
    acct = bank.account("L-0")
    assert acct["points_available"] == 43 and acct["expiry_months"] == 600
    assert acct["expiring"] == [{"day": "2076-06-01", "credits": 4.3, "points": 43}]
    bank.set_expiry(1, actor="admin-b")                 # expired on 2026-07-01
    acct = bank.account("L-0")
    assert acct["points_available"] == 0 and acct["expiring"] == []
    assert acct["credits"] == 5.0 and hub.balance("L-0") == 5000
    with pytest.raises(Conflict, match="not enough points"):
        bank.redeem("L-0", "swim", "k-exp-00002")
    bank.reverse("k-exp-00001", actor="admin-b", comment="lesson cancelled")
    assert bank.account("L-0")["points_available"] == 0   # what it returns expired too
    bank.set_expiry(0, actor="admin-b")
    assert bank.account("L-0")["points_available"] == 50
    changes = [(a["actor"], a["detail"]) for a in audit.entries(hub.store,
                                                                 action="settings.point_expiry")]
    assert changes == [("admin-b", {"months": 0}), ("admin-b", {"months": 1}),
                       ("admin-b", {"months": 600})]
    with pytest.raises(RegistryError, match="months"):
        bank.set_expiry(-1)
