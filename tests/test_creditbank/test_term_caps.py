"""Term caps (`max_per_term`, terms.py): table-driven on the pure engine — a cap reached within
a term, the next term starting afresh, a session across a term boundary (it counts in the term
of its start day, like the day caps), a change of standard mid-term — and on the store
(SQLite and PostgreSQL): the same outcomes whatever order the taps arrive in, terms added or
moved later re-decide sessions with explicit ledger entries, and the running totals that
replace the per-batch history sum stay equal to the sessions' applied amounts."""

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from bankkit import District, wire
from protocol.record import KIND_TAP
from server_hub.core import crediting, terms
from server_hub.creditbank import audit
from server_hub.creditbank import terms as bank_terms
from server_hub.errors import Conflict, DefinitionError, RegistryError

UTC = ZoneInfo("UTC")
SH = ZoneInfo("Asia/Shanghai")
DAY0 = 1_780_272_000                     # 2026-06-01T00:00:00Z, a Monday
RID = b"\x01" * 8
DAILY = {"type": "daily", "start": "09:00", "end": "11:00", "from": "2026-06-01"}
NIGHT = {"type": "daily", "start": "22:00", "end": "02:00", "from": "2026-06-01"}
T1 = terms.Term("t1", "June, first part", "2026-06-01", "2026-06-03")
T2 = terms.Term("t2", "June, second part", "2026-06-04", "2026-06-10")


def fixed(**kw):
    return dict({"type": "fixed", "credits": 1}, **kw)


def versions(*items):
    return {"versions": [dict(standard=s, **({"from": f} if f else {})) for f, s in items]}


def at(day, hhmm, tz=UTC):
    return int(dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=tz).timestamp())


def run(standard, tap_times, sched=DAILY, term_list=(T1, T2), tz=UTC, **kw):
    act = crediting.Activity("A", "S-1", "A", sched, standard, tz)
    taps = [crediting.Tap(RID, i + 1, "S-1", KIND_TAP, t) for i, t in enumerate(tap_times)]
    got = crediting.evaluate("L", taps, {"S-1": [act]}, crediting.Rules(tz),
                             now=max(tap_times) + 5 * 86400, changed_from=min(tap_times),
                             terms=terms.Terms(term_list), **kw)
    return [(d.day, d.status, d.amount) for d in sorted(got, key=lambda d: d.session_start)]


def days(*names, hhmm="09:05"):
    return [at(f"2026-06-{n:02d}", hhmm) for n in names]


CASES = [
    # cap reached within a term: 2 credits in t1, the third session is capped to nothing
    ("cap reached", fixed(max_per_term=2), days(1, 2, 3),
     [("2026-06-01", "credited", 1000), ("2026-06-02", "credited", 1000),
      ("2026-06-03", "capped", 0)]),
    # a cut to the room left, not only to nothing
    ("partial room", fixed(credits=1.5, max_per_term=2), days(1, 2),
     [("2026-06-01", "credited", 1500), ("2026-06-02", "capped", 500)]),
    # the next term starts afresh
    ("next term fresh", fixed(max_per_term=2), days(1, 2, 3, 4, 5, 6),
     [("2026-06-01", "credited", 1000), ("2026-06-02", "credited", 1000),
      ("2026-06-03", "capped", 0), ("2026-06-04", "credited", 1000),
      ("2026-06-05", "credited", 1000), ("2026-06-06", "capped", 0)]),
    # days in no term are under no term cap
    ("outside terms", fixed(max_per_term=1), days(10, 11, 12),
     [("2026-06-10", "credited", 1000), ("2026-06-11", "credited", 1000),
      ("2026-06-12", "credited", 1000)]),
    # a change of standard mid-term: the new version's cap counts what the term used already
    ("mid-term cap raised", versions((None, fixed(max_per_term=2)),
                                     ("2026-06-06", fixed(max_per_term=3))),
     days(4, 5, 6, 7),
     [("2026-06-04", "credited", 1000), ("2026-06-05", "credited", 1000),
      ("2026-06-06", "credited", 1000), ("2026-06-07", "capped", 0)]),
    ("mid-term cap lowered", versions((None, fixed(max_per_term=5)),
                                      ("2026-06-06", fixed(max_per_term=1))),
     days(4, 5, 6),
     [("2026-06-04", "credited", 1000), ("2026-06-05", "credited", 1000),
      ("2026-06-06", "capped", 0)]),
    ("mid-term cap added", versions((None, fixed()), ("2026-06-06", fixed(max_per_term=2.5))),
     days(4, 5, 6, 7),
     [("2026-06-04", "credited", 1000), ("2026-06-05", "credited", 1000),
      ("2026-06-06", "capped", 500), ("2026-06-07", "capped", 0)]),
    # with a day cap too: the smaller room wins
    ("day and term caps", fixed(credits=2, max_per_day=1.5, max_per_term=2), days(1, 2),
     [("2026-06-01", "capped", 1500), ("2026-06-02", "capped", 500)]),
]


@pytest.mark.parametrize("name,standard,taps,expect", CASES, ids=[c[0] for c in CASES])
def test_term_caps(name, standard, taps, expect):
    assert run(standard, taps) == expect


def test_session_across_the_term_boundary_counts_in_its_start_term():
    """22:00-02:00 sessions: the one starting on t1's last evening (tapped after midnight, on
    t2's first day) counts in t1 and is capped; the next evening's is t2's first."""
    taps = [at("2026-06-02", "22:30"), at("2026-06-04", "01:00"), at("2026-06-04", "22:30")]
    assert run(fixed(max_per_term=1), taps, sched=NIGHT) == [
        ("2026-06-02", "credited", 1000), ("2026-06-03", "capped", 0),
        ("2026-06-04", "credited", 1000)]


def test_terms_in_local_time():
    """Shanghai: a session at 07:30 local on 06-04 is 23:30 UTC on 06-03 — in t2."""
    sched = {"type": "daily", "start": "07:00", "end": "08:00", "from": "2026-06-01"}
    taps = [at("2026-06-03", "07:30", SH), at("2026-06-04", "07:30", SH)]
    assert run(fixed(max_per_term=1), taps, sched=sched, tz=SH) == [
        ("2026-06-03", "credited", 1000), ("2026-06-04", "credited", 1000)]


def test_prior_term_room_counts():
    assert run(fixed(max_per_term=2), days(3), prior_term={("t1", "A"): 1500}) == [
        ("2026-06-03", "capped", 500)]
    # room used in another term does not count
    assert run(fixed(max_per_term=2), days(4), prior_term={("t1", "A"): 2000}) == [
        ("2026-06-04", "credited", 1000)]


@pytest.mark.parametrize("day,expect", [("2026-05-31", None), ("2026-06-01", "t1"),
                                        ("2026-06-03", "t1"), ("2026-06-04", "t2"),
                                        ("2026-06-10", "t2"), ("2026-06-11", None)])
def test_term_lookup(day, expect):
    got = terms.Terms([T2, T1]).of_day(day)
    assert (got.id if got else None) == expect


def test_term_rules():
    with pytest.raises(RegistryError):
        terms.Terms([T1, terms.Term("x", "x", "2026-06-03", "2026-06-05")])
    with pytest.raises(RegistryError, match="before its first"):
        terms.check_range("2026-06-05", "2026-06-04")
    with pytest.raises(RegistryError, match="YYYY-MM-DD"):
        terms.check_range("June", "2026-06-04")
    with pytest.raises(RegistryError):
        terms.check_id("spring 2026")
    with pytest.raises(DefinitionError):
        crediting.Standard(fixed(max_per_term=-1))
    assert crediting.Standard(fixed(max_per_term=2)).to_spec()["max_per_term"] == 2


# --- on the store --------------------------------------------------------------------------

def totals_match(hub):
    """credit_totals (kept in the crediting transaction) == the sessions' applied sums."""
    want = {(r[0], r[1]): int(r[2]) for r in hub.sql(
        "SELECT learner_id, activity_id, SUM(applied_milli) FROM credit_state "
        "GROUP BY learner_id, activity_id")}
    got = {(r[0], r[1]): int(r[2]) for r in hub.sql(
        "SELECT learner_id, activity_id, applied_milli FROM credit_totals")}
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in want.items() if v}


def term_district(hub, standard, learners=2):
    d = District(hub, learners=learners, schedule=DAILY, standard=standard)
    bank_terms.add(hub.registry, "t1", "June, first part", "2026-06-01", "2026-06-03", "adm")
    bank_terms.add(hub.registry, "t2", "June, second part", "2026-06-04", "2026-06-10", "adm")
    return d


def per_session(hub, learner):
    rows = hub.sql("SELECT day, applied_milli FROM credit_state WHERE learner_id = :l "
                   "ORDER BY session_start", l=learner)
    return [(r[0], int(r[1])) for r in rows]


EXPECT = [("2026-06-01", 1000), ("2026-06-02", 1000), ("2026-06-03", 0),
          ("2026-06-04", 1000), ("2026-06-05", 1000), ("2026-06-06", 0)]


@pytest.mark.parametrize("order", ["forward", "reverse", "shuffled"])
def test_term_cap_on_the_store_in_any_order(hub, order):
    d = term_district(hub, fixed(max_per_term=2))
    taps = [d.tap(lid, at=t) for lid in d.learners for t in days(1, 2, 3, 4, 5, 6)]
    if order == "reverse":
        taps.reverse()
    elif order == "shuffled":
        random.Random(11).shuffle(taps)
    for i in range(0, len(taps), 2):
        hub.ingest(d.station, wire.encode_batch(i + 1, taps[i:i + 2]))
    for lid in d.learners:
        assert per_session(hub, lid) == EXPECT
        assert hub.balance(lid) == 4000
    totals_match(hub)


def test_adding_a_term_later_writes_explicit_entries(hub):
    d = District(hub, learners=1, schedule=DAILY, standard=fixed(max_per_term=2))
    hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", at=t) for t in days(1, 2, 3)]))
    assert hub.balance("L-0") == 3000                    # no term yet: no term cap
    bank_terms.add(hub.registry, "t1", "June", "2026-06-01", "2026-06-03", "alice")
    rows = hub.sql("SELECT entry, amount_milli, day FROM ledger ORDER BY id")
    assert [tuple(r) for r in rows] == [("credit", 1000, "2026-06-01"),
                                        ("credit", 1000, "2026-06-02"),
                                        ("credit", 1000, "2026-06-03"),
                                        ("reversal", -1000, "2026-06-03")]
    # moving the term's first day to the 2nd frees room for the 3rd again: one more entry
    bank_terms.update(hub.registry, "t1", "alice", first_day="2026-06-02")
    assert [tuple(r)[:2] for r in hub.sql("SELECT entry, amount_milli FROM ledger "
                                          "ORDER BY id")][4:] == [("credit", 1000)]
    assert hub.balance("L-0") == 3000
    with pytest.raises(Conflict, match="overlaps term t1"):
        bank_terms.add(hub.registry, "t0", "May", "2026-05-01", "2026-06-02", "alice")
    bank_terms.remove(hub.registry, "t1", "alice")
    assert hub.balance("L-0") == 3000
    assert [a["action"] for a in audit.entries(hub.store, action="term.*")] == [
        "term.remove", "term.set", "term.add"]
    totals_match(hub)


def test_change_of_standard_mid_term_keeps_granted_credits(hub):
    d = term_district(hub, fixed(max_per_term=3), learners=1)
    hub.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", at=t) for t in days(4, 5)]))
    before = hub.count("ledger")
    # from 06-06 on a cap of 2 in the term: the two granted credits stay, no entry written
    hub.registry.update_activity("A-1", standard=versions(
        (None, fixed(max_per_term=3)), ("2026-06-06", fixed(max_per_term=2))))
    assert hub.count("ledger") == before
    hub.ingest(d.station, wire.encode_batch(2, [d.tap("L-0", at=t) for t in days(6, 7)]))
    assert per_session(hub, "L-0") == [("2026-06-04", 1000), ("2026-06-05", 1000),
                                       ("2026-06-06", 0), ("2026-06-07", 0)]
    # raised to 3 from 06-07: the 7th is re-decided with an explicit entry
    hub.registry.update_activity("A-1", standard=versions(
        (None, fixed(max_per_term=3)), ("2026-06-06", fixed(max_per_term=2)),
        ("2026-06-07", fixed(max_per_term=3))))
    assert [tuple(r) for r in hub.sql("SELECT entry, amount_milli, day FROM ledger "
                                      "ORDER BY id")][-1] == ("credit", 1000, "2026-06-07")
    totals_match(hub)


def test_activity_cap_uses_the_running_total(hub):
    """Sessions before the re-decided window count through credit_totals, not a history sum."""
    d = District(hub, learners=1, schedule=DAILY, standard=fixed(max_per_activity=2.5))
    for i, n in enumerate((1, 2, 9, 10)):
        hub.ingest(d.station, wire.encode_batch(i + 1, [d.tap("L-0", at=days(n)[0])]))
    assert per_session(hub, "L-0") == [("2026-06-01", 1000), ("2026-06-02", 1000),
                                       ("2026-06-09", 500), ("2026-06-10", 0)]
    # a review-style re-decision of the 9th alone (its window excludes days 1-2)
    hub.pipeline.recompute({"L-0": days(9)[0] - 60})
    assert hub.balance("L-0") == 2500
    totals_match(hub)
