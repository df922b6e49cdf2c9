"""Administrator reward points as an account, on SQLite and PostgreSQL: a finished month is
settled once (a second settlement adds nothing), spending is idempotent and never overdraws
(also under concurrent spends), adjustments need a reason, every entry is audited, and a
station administrator's view of the ledger is its own account only."""

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from bankkit import SESSION_START, District, wire
from server_hub.creditbank import audit, evaluation, rewards
from server_hub.errors import Conflict, NotFound, RegistryError
from server_hub.store import migrations

UTC = dt.timezone.utc
JUNE = "2026-06"                      # SESSION_START is 2026-06-01 09:00 UTC


def _earned(hub, learners=3):
    """wang runs A-1: one session with `learners` credited -> 5 + 1 * learners points."""
    d = District(hub, learners=learners)
    evaluation.assign_admin(hub.store, "A-1", "wang", "admin")
    hub.ingest(d.station, wire.encode_batch(1, [d.tap(lid, at=SESSION_START + 60 + i)
                                                for i, lid in enumerate(d.learners)]))
    return 5 + learners


@pytest.mark.parametrize("period,since,until", [
    ("2026-06", "2026-06-01", "2026-07-01"), ("2026-12", "2026-12-01", "2027-01-01"),
    ("2024-02", "2024-02-01", "2024-03-01")])
def test_period_is_a_calendar_month_in_the_district_zone(period, since, until):
    def ts(day, tz):
        return int(dt.datetime.fromisoformat(day).replace(tzinfo=tz).timestamp())
    assert rewards.period_bounds(period, UTC) == (ts(since, UTC), ts(until, UTC))
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert rewards.period_bounds(period, shanghai)[0] == ts(since, UTC) - 8 * 3600


@pytest.mark.parametrize("bad", ["2026-13", "2026-6", "June", "", None, "2026-06-01", "0000-01",
                                 "9999-12", "٢٠٢٦-06"])
def test_period_refused_in_words(bad):
    with pytest.raises(RegistryError, match="YYYY-MM"):
        rewards.period_bounds(bad, UTC)


def test_settle_a_finished_month_once(hub):
    points = _earned(hub)
    first = rewards.settle(hub.store, JUNE, UTC, "ann")
    again = rewards.settle(hub.store, JUNE, UTC, "ann")
    assert [(s["admin"], s["points"]) for s in first["settled"]] == [("wang", points)]
    assert again["settled"] == [] and again["already"] == ["wang"]
    assert rewards.balances(hub.store) == [{"admin": "wang", "earned": points, "spent": 0,
                                            "adjusted": 0, "balance": points}]
    st = rewards.statement(hub.store, "wang")
    assert [(e["entry"], e["points"], e["period"]) for e in st["entries"]] == \
        [("earned", points, JUNE)]
    assert [a["action"] for a in audit.entries(hub.store, subject="wang")] == \
        ["rewards.earned"]
    assert rewards.settle(hub.store, "2026-05", UTC, "ann")["settled"] == []   # nothing then
    with pytest.raises(Conflict, match="not over yet"):
        rewards.settle(hub.store, JUNE, UTC, "ann", now=SESSION_START + 3600)


def test_spend_is_idempotent_and_never_below_zero(hub):
    points = _earned(hub)
    rewards.settle(hub.store, JUNE, UTC, "ann")
    first = rewards.spend(hub.store, "wang", 5, "gift-0000001", "olga", "tea set")
    again = rewards.spend(hub.store, "wang", 5, "gift-0000001", "olga", "tea set")
    assert first["id"] == again["id"] and again["replayed"] and not first["replayed"]
    assert first["balance"] == again["balance"] == points - 5
    with pytest.raises(Conflict, match="another request"):
        rewards.spend(hub.store, "wang", 6, "gift-0000001", "olga")
    with pytest.raises(Conflict, match="not enough reward points"):
        rewards.spend(hub.store, "wang", points, "gift-0000002", "olga")
    with pytest.raises(Conflict, match="not enough reward points"):
        rewards.spend(hub.store, "nobody", 1, "gift-0000003", "olga")
    with pytest.raises(RegistryError):
        rewards.spend(hub.store, "wang", 0, "gift-0000004", "olga")
    with pytest.raises(RegistryError, match="idempotency key"):
        rewards.spend(hub.store, "wang", 1, "short", "olga")
    assert rewards.balances(hub.store)[0]["balance"] == points - 5


def test_adjustments_need_a_reason_and_stay_non_negative(hub):
    with pytest.raises(RegistryError, match="comment"):
        rewards.adjust(hub.store, "li", 10, "ann", " ")
    got = rewards.adjust(hub.store, "li", 10, "ann", "session of 06-03 credited late")
    assert got["balance"] == 10 and got["entry"] == "adjust"
    with pytest.raises(Conflict, match="not enough"):
        rewards.adjust(hub.store, "li", -11, "ann", "too much")
    assert rewards.adjust(hub.store, "li", -10, "ann", "counted twice")["balance"] == 0
    actions = [(a["actor"], a["action"], a["detail"]["points"])
               for a in audit.entries(hub.store, subject="li")]
    assert actions == [("ann", "rewards.adjust", -10), ("ann", "rewards.adjust", 10)]


def test_own_account_only_in_the_query(hub):
    rewards.adjust(hub.store, "wang", 3, "ann", "start")
    rewards.adjust(hub.store, "li", 4, "ann", "start")
    assert [r["admin"] for r in rewards.balances(hub.store, own="wang")] == ["wang"]
    assert rewards.statement(hub.store, "wang", own="wang")["balance"] == 3
    with pytest.raises(NotFound):
        rewards.statement(hub.store, "li", own="wang")
    with pytest.raises(NotFound, match="no reward account"):
        rewards.statement(hub.store, "zhou")


def test_concurrent_spends_never_overdraw(hub):
    rewards.adjust(hub.store, "wang", 20, "ann", "opening balance")
    done, refused = [], []
    start = threading.Barrier(8)

    def worker(i):
        start.wait()
        for j in range(2):
            try:
                done.append(rewards.spend(hub.store, "wang", 3, f"spend-{i}-{j}-x", "olga"))
            except Conflict as exc:
                refused.append(str(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done) == 6 and len(refused) == 16 - 6      # 6 * 3 = 18 <= 20
    assert all("not enough reward points" in r for r in refused)
    assert rewards.balances(hub.store)[0]["balance"] == 2
    assert hub.count("bank_audit", "action = 'rewards.spent'") == 6


def test_migration_14_adds_the_tables_to_a_hub_from_before(hub):
    with hub.store.write() as conn:                     # as a hub at migration 13 was
        conn.execute(sa.text("DROP TABLE reward_entries"))
        conn.execute(sa.text("DROP TABLE provider_services"))
        conn.execute(sa.text("DELETE FROM schema_migrations WHERE version = 14"))
    with hub.store.write() as conn:
        assert migrations.migrate(conn) == [
            "0014 credit bank: administrator reward ledger, service providers' services"]
    assert rewards.adjust(hub.store, "wang", 1, "ann", "after the upgrade")["balance"] == 1
