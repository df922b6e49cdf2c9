"""crediting.py, schedule.py, integrity.py, ledger.py (pure): table-driven standards cases."""

from __future__ import annotations

import random
from zoneinfo import ZoneInfo

import pytest

from protocol.record import KIND_IN, KIND_OUT, KIND_TAP
from server_hub.core import crediting, integrity, ledger, schedule
from server_hub.errors import DefinitionError

UTC = ZoneInfo("UTC")
SH = ZoneInfo("Asia/Shanghai")
DAY0 = 1_780_272_000          # 2026-06-01T00:00:00Z, a Monday
START = DAY0 + 9 * 3600       # session 09:00-11:00 UTC
END = DAY0 + 11 * 3600
RID = b"\x01" * 8


def activity(standard, sched=None, aid="A", station="S-1", tz=UTC):
    return crediting.Activity(aid, station, aid, sched or {"type": "once",
                                                           "sessions": [[START, END]]},
                              standard, tz)


def taps(*spec, station="S-1", holds=()):
    """spec: (kind, minutes after START)."""
    return [crediting.Tap(RID, i + 1, station, kind, START + int(minutes * 60), holds)
            for i, (kind, minutes) in enumerate(spec)]


def run(acts, tap_list, now=END + 7200, rules=None, **kw):
    rules = rules or crediting.Rules(UTC)
    by_station = {}
    for a in acts:
        by_station.setdefault(a.station_id, []).append(a)
    changed = min(t.time for t in tap_list)
    return crediting.evaluate("L", tap_list, by_station, rules, now=now, changed_from=changed,
                              **kw)


def one(decisions):
    assert len(decisions) == 1, decisions
    d = decisions[0]
    return d.status, d.amount


FIXED = {"type": "fixed", "credits": 1.5}
ATT = {"type": "attendance", "credits": 2, "share": 0.8}


@pytest.mark.parametrize("spec,expect", [
    ([(KIND_TAP, 5)], ("credited", 1500)),
    ([(KIND_IN, -10)], ("credited", 1500)),          # early grace (15 min)
    ([(KIND_IN, -16)], None),                        # before the grace window: no session
    ([(KIND_OUT, 30)], ("not_met", 0)),              # a check-out alone is no check-in
    ([(KIND_TAP, 5), (KIND_TAP, 50)], ("credited", 1500)),
])
def test_fixed_standard(spec, expect):
    got = run([activity(FIXED)], taps(*spec))
    assert (one(got) if got else None) == expect


@pytest.mark.parametrize("spec,expect", [
    ([(KIND_IN, 0), (KIND_OUT, 96)], ("credited", 2000)),       # exactly 80 %
    ([(KIND_IN, 0), (KIND_OUT, 95)], ("not_met", 0)),           # 79 %
    ([(KIND_IN, -10), (KIND_OUT, 110)], ("credited", 2000)),    # clipped to the session
    ([(KIND_TAP, 1), (KIND_TAP, 100)], ("credited", 2000)),     # taps pair in, out
    ([(KIND_TAP, 1), (KIND_TAP, 50), (KIND_TAP, 60), (KIND_TAP, 119)], ("credited", 2000)),
    ([(KIND_TAP, 1), (KIND_TAP, 50), (KIND_TAP, 90), (KIND_TAP, 119)], ("not_met", 0)),
    ([(KIND_TAP, 1), (KIND_TAP, 1.5), (KIND_TAP, 100)], ("credited", 2000)),  # debounced
    ([(KIND_IN, 0)], ("not_met", 0)),                           # no check-out: settled, none
    ([(KIND_OUT, 100), (KIND_IN, 110)], ("not_met", 0)),        # out before in counts nothing
])
def test_attendance_standard(spec, expect):
    assert one(run([activity(ATT)], taps(*spec))) == expect


def test_attendance_open_until_the_session_closes():
    tl = taps((KIND_IN, 0))
    assert one(run([activity(ATT)], tl, now=START + 600)) == ("open", 0)
    assert one(run([activity(ATT)], tl, now=END + 901)) == ("not_met", 0)


def test_missing_checkout_counted_to_session_end():
    std = dict(ATT, missing_checkout="session_end")
    assert one(run([activity(std)], taps((KIND_IN, 10)), now=START + 600)) == ("open", 0)
    assert one(run([activity(std)], taps((KIND_IN, 10)))) == ("credited", 2000)
    assert one(run([activity(std)], taps((KIND_IN, 30)))) == ("not_met", 0)


def test_attendance_credited_at_checkout_without_waiting_for_close():
    tl = taps((KIND_IN, 0), (KIND_OUT, 100))
    assert one(run([activity(ATT)], tl, now=START + 101 * 60)) == ("credited", 2000)


def weekly_taps(days, kind=KIND_TAP, minute=5):
    return [crediting.Tap(RID, i + 1, "S-1", kind, START + d * 86400 + minute * 60)
            for i, d in enumerate(days)]


def test_per_activity_cap_applies_in_session_order():
    std = {"type": "fixed", "credits": 1, "max_per_activity": 2.5}
    sched = {"type": "daily", "start": "09:00", "end": "11:00"}
    got = run([activity(std, sched)], weekly_taps(range(5)))
    assert [(d.status, d.amount) for d in sorted(got, key=lambda d: d.session_start)] == \
        [("credited", 1000), ("credited", 1000), ("capped", 500), ("capped", 0), ("capped", 0)]


def test_per_activity_cap_counts_prior_sessions():
    std = {"type": "fixed", "credits": 1, "max_per_activity": 2}
    sched = {"type": "daily", "start": "09:00", "end": "11:00"}
    got = run([activity(std, sched)], weekly_taps([3]), prior_activity={"A": 1500})
    assert one(got) == ("capped", 500)


def test_global_daily_cap_across_activities():
    a = activity({"type": "fixed", "credits": 2}, aid="A")
    b = activity({"type": "fixed", "credits": 2},
                 {"type": "once", "sessions": [[END, END + 3600]]}, aid="B")
    rules = crediting.Rules(UTC, max_per_day=3000)
    tl = [crediting.Tap(RID, 1, "S-1", KIND_TAP, START + 60),
          crediting.Tap(RID, 2, "S-1", KIND_TAP, END + 60)]
    got = {d.activity_id: (d.status, d.amount) for d in run([a, b], tl, rules=rules,
                                                             now=END + 9000)}
    assert got == {"A": ("credited", 2000), "B": ("capped", 1000)}


def test_per_day_cap_of_one_activity():
    std = {"type": "fixed", "credits": 1, "max_per_day": 1}
    sched = {"type": "once", "sessions": [[START, START + 1800], [START + 3600, START + 5400]]}
    tl = [crediting.Tap(RID, 1, "S-1", KIND_TAP, START + 60),
          crediting.Tap(RID, 2, "S-1", KIND_TAP, START + 3660)]
    got = sorted(run([activity(std, sched)], tl), key=lambda d: d.session_start)
    assert [(d.status, d.amount) for d in got] == [("credited", 1000), ("capped", 0)]


def test_daily_cap_resets_at_local_midnight():
    # Shanghai is UTC+8: 23:30 and 00:30 local are two different days
    sched = {"type": "daily", "start": "23:00", "end": "23:59"}
    sched2 = {"type": "daily", "start": "00:10", "end": "01:00"}
    a = activity({"type": "fixed", "credits": 1}, sched, aid="late", tz=SH)
    b = activity({"type": "fixed", "credits": 1}, sched2, aid="early", tz=SH)
    rules = crediting.Rules(SH, max_per_day=1000)
    t1 = DAY0 + 15 * 3600 + 30 * 60      # 23:30 local on 06-01
    t2 = DAY0 + 16 * 3600 + 30 * 60      # 00:30 local on 06-02
    tl = [crediting.Tap(RID, 1, "S-1", KIND_TAP, t1), crediting.Tap(RID, 2, "S-1", KIND_TAP, t2)]
    got = run([a, b], tl, rules=rules, now=t2 + 86400)
    assert sorted((d.day, d.status, d.amount) for d in got) == \
        [("2026-06-01", "credited", 1000), ("2026-06-02", "credited", 1000)]


def test_held_credit_uses_no_cap_room_and_review_decides():
    std = {"type": "fixed", "credits": 1}
    tl = taps((KIND_TAP, 5), holds=(integrity.CHAIN_GAP,))
    assert one(run([activity(std)], tl)) == ("held", 0)
    key = ("A", START)
    assert one(run([activity(std)], tl, reviews={key: "approve"})) == ("credited", 1000)
    assert one(run([activity(std)], tl, reviews={key: "reject"})) == ("rejected", 0)


def test_impossible_travel_holds_both_sessions():
    a = activity(FIXED, aid="A", station="S-1")
    b = activity(FIXED, aid="B", station="S-2")
    tl = [crediting.Tap(RID, 1, "S-1", KIND_TAP, START + 60),
          crediting.Tap(b"\x02" * 8, 1, "S-2", KIND_TAP, START + 120)]
    got = run([a, b], tl)
    assert {(d.activity_id, d.status, d.holds) for d in got} == \
        {("A", "held", "impossible_travel"), ("B", "held", "impossible_travel")}


def test_travel_with_coordinates():
    rules = integrity.Rules(travel_speed_kmh=60)
    coords = {"S-1": (39.91, 116.36), "S-2": (39.99, 116.36)}   # ~8.9 km: ~9 minutes
    near = [(0, "S-1", "a"), (300, "S-2", "b")]
    far = [(0, "S-1", "a"), (900, "S-2", "b")]
    assert integrity.travel_holds(near, coords, rules) == {"a", "b"}
    assert integrity.travel_holds(far, coords, rules) == set()


def test_burst_detection():
    items = [(i + 1, 1, i * 300, bytes([i])) for i in range(12)]      # 12 cards in 3.3 s
    assert integrity.burst_seqs(items, 10, 5) == set(range(1, 13))
    slow = [(i + 1, 1, i * 1000, bytes([i])) for i in range(12)]      # one per second
    assert integrity.burst_seqs(slow, 10, 5) == set()
    same = [(i + 1, 1, i * 100, b"\x01") for i in range(12)]          # one card, many taps
    assert integrity.burst_seqs(same, 10, 5) == set()


def test_card_hold():
    assert integrity.card_hold("lost", 100, 150) == integrity.CARD_LOST
    assert integrity.card_hold("lost", 100, 50) is None
    assert integrity.card_hold("revoked", 100, 100) == integrity.CARD_REVOKED
    assert integrity.card_hold("active", 100, 150) is None


def test_inside_session_beats_grace_window_of_the_previous():
    a = activity(FIXED, {"type": "once", "sessions": [[START, START + 3600]]}, aid="A")
    b = activity(FIXED, {"type": "once", "sessions": [[START + 3600, START + 7200]]}, aid="B")
    tl = [crediting.Tap(RID, 1, "S-1", KIND_TAP, START + 3600 + 300)]
    assert [d.activity_id for d in run([a, b], tl)] == ["B"]


def test_decisions_do_not_depend_on_tap_order():
    std = {"type": "attendance", "credits": 1, "share": 0.5}
    sched = {"type": "daily", "start": "09:00", "end": "11:00"}
    rng = random.Random(5)
    tl = []
    for day in range(6):
        for minute in sorted(rng.sample(range(-10, 125), 4)):
            tl.append(crediting.Tap(RID, len(tl) + 1, "S-1", KIND_TAP,
                                    START + day * 86400 + minute * 60))
    base = [(d.key, d.status, d.amount, d.evidence) for d in run([activity(std, sched)], tl)]
    for _ in range(5):
        rng.shuffle(tl)
        got = [(d.key, d.status, d.amount, d.evidence) for d in run([activity(std, sched)], tl)]
        assert got == base


def test_ledger_diff_writes_deltas_only():
    d = crediting.Decision("L", "A", START, END, "2026-06-01", "credited", 1000, 1000, "",
                           '[["01",1]]', "fixed")
    states, entries = ledger.diff([d], {}, 1.0)
    assert [e[1:3] for e in entries] == [(1000, "credit")]
    old = {("A", START): ledger.State("credited", 1000, 1000, "", '[["01",1]]', END,
                                      "2026-06-01")}
    assert ledger.diff([d], old, 2.0) == ([], [])
    held = crediting.Decision("L", "A", START, END, "2026-06-01", "held", 1000, 0, "chain_gap",
                              '[["01",1]]', "held")
    states, entries = ledger.diff([held], old, 3.0)
    assert [e[1:3] for e in entries] == [(-1000, "reversal")]


@pytest.mark.parametrize("spec", [
    {"type": "nope"},
    {"type": "once", "sessions": []},
    {"type": "once", "sessions": [[10, 5]]},
    {"type": "once", "sessions": [[0, 90000]]},
    {"type": "weekly", "days": ["xyz"], "start": "09:00", "end": "10:00"},
    {"type": "daily", "start": "25:00", "end": "10:00"},
    {"type": "daily", "start": "09:00", "end": "09:00"},
])
def test_invalid_schedules(spec):
    with pytest.raises(DefinitionError):
        schedule.Schedule(spec, UTC)


@pytest.mark.parametrize("spec", [
    {"type": "bonus"},
    {"type": "fixed", "credits": -1},
    {"type": "attendance", "share": 0},
    {"type": "attendance", "share": 1.5},
    {"type": "fixed", "extra": 1},
    {"type": "attendance", "missing_checkout": "maybe"},
])
def test_invalid_standards(spec):
    with pytest.raises(DefinitionError):
        crediting.Standard(spec)


def test_weekly_schedule_in_local_time_and_overnight():
    s = schedule.Schedule({"type": "weekly", "days": ["mon", "wed"], "start": "18:30",
                           "end": "20:00", "from": "2026-06-01", "until": "2026-06-30"}, SH)
    monday = schedule.local_date(DAY0 + 12 * 3600, SH)
    (start, end), = s.sessions_on(monday)
    assert end - start == 5400 and start == DAY0 + 10 * 3600 + 30 * 60    # 18:30 +08:00
    assert s.sessions_on(schedule.local_date(DAY0 + 86400 + 12 * 3600, SH)) == []  # tuesday
    night = schedule.Schedule({"type": "daily", "start": "22:00", "end": "02:00"}, UTC)
    (start, end), = night.sessions_on(schedule.local_date(DAY0, UTC))
    assert end - start == 4 * 3600
