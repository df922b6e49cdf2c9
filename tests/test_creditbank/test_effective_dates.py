"""Effective-dated standards: a new version from a date on never rewrites credits granted
before it; sessions from that date are re-decided with explicit adjusting entries."""

from zoneinfo import ZoneInfo

import pytest

from bankkit import SESSION_START, District, wire
from protocol.record import KIND_TAP
from server_hub.core import crediting
from server_hub.errors import DefinitionError

UTC = ZoneInfo("UTC")
DAILY = {"type": "daily", "start": "09:00", "end": "11:00", "from": "2026-06-01"}
V1 = {"type": "fixed", "credits": 1}
V2 = {"type": "fixed", "credits": 3}


def versions(*items):
    return {"versions": [dict(standard=s, **({"from": f} if f else {})) for f, s in items]}


@pytest.mark.parametrize("session_day,expect", [
    ("2026-06-01", 1000), ("2026-06-02", 1000), ("2026-06-03", 3000), ("2026-06-10", 3000)])
def test_version_by_session_start(session_day, expect):
    act = crediting.Activity("A", "S-1", "A", DAILY, versions((None, V1), ("2026-06-03", V2)),
                             UTC)
    start = schedule_start(session_day)
    got = crediting.evaluate("L", [crediting.Tap(b"\x01" * 8, 1, "S-1", KIND_TAP, start + 60)],
                             {"S-1": [act]}, crediting.Rules(UTC), now=start + 86400,
                             changed_from=start)
    assert [(d.status, d.amount) for d in got] == [("credited", expect)]


def schedule_start(day):
    import datetime as dt
    return int(dt.datetime.fromisoformat(day + "T09:00").replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize("bad", [
    {"versions": []},
    {"versions": [{"from": "2026-06-03", "standard": V1}, {"standard": V2}]},
    {"versions": [{"standard": V1}, {"from": "2026-06-03", "standard": V2},
                  {"from": "2026-06-02", "standard": V1}]},
    {"versions": [{"standard": {"type": "nope"}}]},
    {"versions": [{"standard": V1}], "type": "fixed"},
    {"versions": [{"standard": V1, "until": "2027-01-01"}]},
])
def test_bad_versions(bad):
    with pytest.raises(DefinitionError):
        crediting.Activity("A", "S-1", "A", DAILY, bad, UTC)


def test_caps_seen_in_any_version():
    v = crediting.Activity("A", "S-1", "A", DAILY, versions(
        (None, dict(V1, max_per_activity=5)), ("2026-06-03", V2)), UTC).standard
    assert v.max_per_activity == 5000 and v.max_per_day == 0


def test_new_version_never_rewrites_granted_credits(hub):
    d = District(hub, learners=1, schedule=DAILY, standard=V1)
    hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", at=SESSION_START + 60),
                                                d.tap("L-0", at=SESSION_START + 86400 + 60)]))
    assert hub.balance("L-0") == 2000
    entries = hub.count("ledger")
    # from 2026-06-03: nothing granted before changes
    hub.registry.update_activity("A-1", standard=versions((None, V1), ("2026-06-03", V2)))
    assert hub.count("ledger") == entries and hub.balance("L-0") == 2000
    hub.ingest(d.station, wire.encode_batch(2, [d.tap("L-0", at=SESSION_START + 2 * 86400)]))
    assert hub.balance("L-0") == 5000
    # effective from 2026-06-02 instead: that session is re-decided by an explicit adjust entry
    hub.registry.update_activity("A-1", standard=versions((None, V1), ("2026-06-02", V2)))
    rows = hub.sql("SELECT entry, amount_milli, session_start FROM ledger ORDER BY id")
    assert tuple(rows[-1]) == ("adjust", 2000, SESSION_START + 86400)
    assert [tuple(r)[:2] for r in rows[:3]] == [("credit", 1000), ("credit", 1000),
                                                 ("credit", 3000)]
    assert hub.balance("L-0") == 7000
