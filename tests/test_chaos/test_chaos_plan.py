"""The chaos plan is a function of the seed: same seed, same faults and taps; the session grid
keeps taps clear of boundaries."""

from __future__ import annotations

import itertools

from hil_tests.chaos_plan import FAULT_KINDS, make_plan


def test_same_seed_same_plan_other_seed_other_plan():
    a, b, c = make_plan(7), make_plan(7), make_plan(8)
    assert a.faults == b.faults and a.reader_seeds == b.reader_seeds
    assert a.faults != c.faults
    first = [p.id for p in itertools.islice(a.learner_stream("S-0001", 1), 50)]
    assert first == [p.id for p in itertools.islice(b.learner_stream("S-0001", 1), 50)]
    assert first != [p.id for p in itertools.islice(c.learner_stream("S-0001", 1), 50)]


def test_full_size_plan_has_every_fault_kind_inside_the_run():
    plan = make_plan(3)
    assert len(plan.faults) == 50 and len(plan.learners) == 500
    assert {f.kind for f in plan.faults} == set(FAULT_KINDS)
    triggers = [f.at_tap for f in plan.faults]
    assert triggers == sorted(triggers)
    assert all(0.04 * plan.taps <= t < 0.9 * plan.taps for t in triggers)
    for f in plan.faults:
        lo, hi = FAULT_KINDS[f.kind][2]
        assert lo <= f.duration_s <= hi
        assert (f.reader >= 0) == (f.scope == "reader")
        assert bool(f.station) == (f.scope in ("station", "reader"))


def test_quotas_add_up_to_the_taps():
    plan = make_plan(1, taps=2003, stations=3, readers=2)
    assert sum(plan.quota(s, i) for s, i in plan.readers) == 2003


def test_cards_are_distinct_and_valid_lengths():
    plan = make_plan(1, learners=500)
    uids = {p.uid for p in plan.learners}
    assert len(uids) == 500 and {len(u) for u in uids} == {7}


def test_taps_are_only_made_clear_of_session_boundaries():
    plan = make_plan(1, session_s=30)
    t0 = 1_800_000_000
    for station in plan.stations:
        off = plan.offset(station)
        for k in range(0, 3000):
            now = t0 + k * 0.05
            wait = plan.wait_before_tap(station, t0, now)
            if wait == 0:
                rel = (now - t0 - off) % plan.session_s
                assert plan.guard_s <= rel <= plan.session_s - plan.guard_s, (station, now)
                assert plan.session_index(station, t0, now) is not None
            else:
                assert plan.wait_before_tap(station, t0, now + wait + 1e-6) == 0


def test_session_index_matches_the_session_list():
    plan = make_plan(1, session_s=30)
    t0 = 1_800_000_000
    sessions = plan.session_list("S-0002", t0)
    for k, (start, end) in enumerate(sessions[:20]):
        assert plan.session_index("S-0002", t0, start) == k
        assert plan.session_index("S-0002", t0, end - 1) == k
    assert plan.session_index("S-0002", t0, sessions[0][0] - 1) is None
    assert plan.session_index("S-0002", t0, sessions[-1][1]) == len(sessions) - 1
