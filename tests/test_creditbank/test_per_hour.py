"""The per-hour standard (crediting.py, pure): rounding rules at boundary minutes, minimum
time, caps across midnight, open sessions; and on the store, a change of standard is an
explicit adjusting ledger entry (SQLite and PostgreSQL)."""

from zoneinfo import ZoneInfo

import pytest

from bankkit import SESSION_START, District, wire
from protocol.record import KIND_IN, KIND_OUT, KIND_TAP
from server_hub.core import crediting
from server_hub.errors import DefinitionError

UTC = ZoneInfo("UTC")
DAY0 = 1_780_272_000
START, END = DAY0 + 9 * 3600, DAY0 + 12 * 3600     # a three-hour session
RID = b"\x01" * 8


def run(standard, spec, start=START, end=END, now=None, rules=None):
    act = crediting.Activity("A", "S-1", "A", {"type": "once", "sessions": [[start, end]]},
                             standard, UTC)
    taps = [crediting.Tap(RID, i + 1, "S-1", kind, start + int(minutes * 60))
            for i, (kind, minutes) in enumerate(spec)]
    return crediting.evaluate("L", taps, {"S-1": [act]}, rules or crediting.Rules(UTC),
                              now=end + 7200 if now is None else now,
                              changed_from=min(t.time for t in taps))


def std(**kw):
    return dict({"type": "per_hour", "credits": 1}, **kw)


@pytest.mark.parametrize("seconds,unit,rounding,minutes", [
    (0, 15, "down", 0), (899, 15, "down", 0), (900, 15, "down", 15), (1799, 15, "down", 15),
    (1, 15, "up", 15), (900, 15, "up", 15), (901, 15, "up", 30),
    (449, 15, "nearest", 0), (450, 15, "nearest", 15), (1349, 15, "nearest", 15),
    (1350, 15, "nearest", 30), (3599, 60, "down", 0), (3600, 60, "down", 60),
    (59, 1, "down", 0), (60, 1, "down", 1), (61, 1, "up", 2),
])
def test_rounded_minutes(seconds, unit, rounding, minutes):
    assert crediting.rounded_minutes(seconds, unit, rounding) == minutes


@pytest.mark.parametrize("standard,spec,expect", [
    # 1 credit per hour, rounded down to 15 min: 89 min -> 75 min -> 1.25
    (std(round_minutes=15), [(KIND_IN, 0), (KIND_OUT, 89)], ("credited", 1250)),
    (std(round_minutes=15), [(KIND_IN, 0), (KIND_OUT, 90)], ("credited", 1500)),
    (std(round_minutes=30, rounding="up"), [(KIND_IN, 0), (KIND_OUT, 61)], ("credited", 1500)),
    (std(round_minutes=30, rounding="nearest"), [(KIND_IN, 0), (KIND_OUT, 74.9)],
     ("credited", 1000)),
    (std(round_minutes=30, rounding="nearest"), [(KIND_IN, 0), (KIND_OUT, 75)],
     ("credited", 1500)),
    # minimum time: 29 min under a 30-min minimum credits nothing, 30 min does
    (std(min_minutes=30), [(KIND_IN, 0), (KIND_OUT, 29)], ("not_met", 0)),
    (std(min_minutes=30), [(KIND_IN, 0), (KIND_OUT, 30)], ("credited", 500)),
    # time outside the session is clipped: in 10 min early, out 10 min late = 180 min
    (std(), [(KIND_IN, -10), (KIND_OUT, 190)], ("credited", 3000)),
    # two intervals add up (TAP toggles): 40 + 50 = 90 min
    (std(credits=2), [(KIND_TAP, 0), (KIND_TAP, 40), (KIND_TAP, 100), (KIND_TAP, 150)],
     ("credited", 3000)),
    # a check-in never closed: nothing ("none") or to the session end
    (std(), [(KIND_IN, 60)], ("not_met", 0)),
    (std(missing_checkout="session_end"), [(KIND_IN, 60)], ("credited", 2000)),
    # per-activity cap cuts the amount
    (std(max_per_activity=1), [(KIND_IN, 0), (KIND_OUT, 120)], ("capped", 1000)),
    # thirds of an hour do not lose thousandths beyond flooring: 20 min at 1/h = 0.333
    (std(round_minutes=20), [(KIND_IN, 0), (KIND_OUT, 20)], ("credited", 333)),
])
def test_per_hour_outcomes(standard, spec, expect):
    got = run(standard, spec)
    assert len(got) == 1
    assert (got[0].status, got[0].amount) == expect


def test_open_session_grows_then_settles():
    spec = [(KIND_IN, 0), (KIND_OUT, 60), (KIND_IN, 90)]
    during = run(std(), spec, now=START + 100 * 60)[0]
    assert (during.status, during.amount) == ("credited", 1000)
    after = run(std(), spec + [(KIND_OUT, 150)], now=START + 151 * 60)[0]
    assert (after.status, after.amount) == ("credited", 2000)


def test_caps_across_midnight():
    """A 22:00-02:00 session belongs to the day it starts; max_per_day of 3 credits per local
    day lets one 4-hour attendance give 3, and the next night's session its own 3."""
    rules = crediting.Rules(UTC)
    s1 = DAY0 + 22 * 3600
    act = crediting.Activity("N", "S-1", "Night", {"type": "daily", "start": "22:00",
                                                   "end": "02:00"},
                             std(max_per_day=3), UTC)
    taps = [crediting.Tap(RID, 1, "S-1", KIND_IN, s1),
            crediting.Tap(RID, 2, "S-1", KIND_OUT, s1 + 4 * 3600),
            crediting.Tap(RID, 3, "S-1", KIND_IN, s1 + 86400),
            crediting.Tap(RID, 4, "S-1", KIND_OUT, s1 + 86400 + 2 * 3600)]
    got = crediting.evaluate("L", taps, {"S-1": [act]}, rules, now=s1 + 3 * 86400,
                             changed_from=s1)
    assert [(d.day, d.status, d.amount) for d in got] == [
        ("2026-06-01", "capped", 3000), ("2026-06-02", "credited", 2000)]


@pytest.mark.parametrize("bad", [
    std(rounding="sideways"), std(round_minutes=0), std(round_minutes=1.5),
    std(min_minutes=-1), {"type": "fixed", "credits": 1, "round_minutes": 15},
])
def test_bad_per_hour_standards(bad):
    with pytest.raises(DefinitionError):
        crediting.Standard(bad)


def test_changing_standard_writes_an_adjusting_entry(hub):
    d = District(hub, standard=std(round_minutes=15))
    hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", KIND_IN, at=SESSION_START),
                                                d.tap("L-0", KIND_OUT,
                                                      at=SESSION_START + 100 * 60)]))
    assert hub.balance("L-0") == 1500                       # 100 min -> 90 min -> 1.5
    hub.registry.update_activity("A-1", standard=std(credits=2, round_minutes=15))
    rows = hub.sql("SELECT entry, amount_milli FROM ledger WHERE learner_id = 'L-0' ORDER BY id")
    assert [tuple(r) for r in rows] == [("credit", 1500), ("adjust", 1500)]
    assert hub.balance("L-0") == 3000
