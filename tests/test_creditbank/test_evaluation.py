"""Station evaluation grades and administrator rewards: pure rules table-driven; reports from
the store (SQLite and PostgreSQL) with CSV export."""

import csv
import io

import pytest

from bankkit import SESSION_START, District, wire
from server_hub.creditbank import evaluation as ev
from server_hub.errors import NotFound, RegistryError

T = {"grades": [["A", {"min_learners": 3, "min_uptime": 0.9, "max_holds_share": 0.1}],
                ["B", {"min_learners": 1}], ["C", {}]]}


@pytest.mark.parametrize("ind,expect", [
    ({"learners_served": 3, "uptime": 0.9, "holds_share": 0.1}, "A"),
    ({"learners_served": 3, "uptime": 0.89, "holds_share": 0.0}, "B"),
    ({"learners_served": 3, "uptime": None, "holds_share": 0.0}, "B"),   # unknown uptime
    ({"learners_served": 3, "uptime": 1.0, "holds_share": 0.11}, "B"),
    ({"learners_served": 0, "uptime": 1.0, "holds_share": 0.0}, "C"),
])
def test_grade(ind, expect):
    assert ev.grade(ind, T) == expect


def test_grade_without_fallback():
    assert ev.grade({"learners_served": 0}, {"grades": [["A", {"min_learners": 1}]]}) == "-"


@pytest.mark.parametrize("bad", [{}, {"grades": []}, {"grades": [["A", {"min_smiles": 1}]]},
                                 {"grades": [["A", {"min_learners": "1"}]]},
                                 {"grades": [["A"]]}])
def test_bad_thresholds(bad):
    with pytest.raises(RegistryError):
        ev.check_thresholds(bad)


def test_rewards_rule():
    got = ev.rewards([("ann", "A-1", 1, 3), ("ann", "A-1", 2, 0), ("ann", "A-2", 3, 1),
                      ("bo", "B-1", 1, 0)], {"per_session": 5, "per_learner_credited": 2})
    assert got == [{"admin": "ann", "activities": 2, "sessions": 2, "learners_credited": 4,
                    "points": 5 * 2 + 2 * 4},
                   {"admin": "bo", "activities": 0, "sessions": 0, "learners_credited": 0,
                    "points": 0}]
    with pytest.raises(RegistryError):
        ev.check_reward({"per_session": -1})


def test_reports_from_store(hub):
    d = District(hub, learners=3)
    hub.registry.set_card_status(d.cards["L-2"].hex(), "lost", since=SESSION_START - 60)
    hub.ingest(d.station, wire.encode_batch(1, [d.tap(l, at=SESSION_START + 60 + i)
                                                for i, l in enumerate(d.learners)]))
    hub.registry.add_station("S-2", "Library")
    ev.set_setting(hub.store, "grade_thresholds", T, "admin")
    ev.set_setting(hub.store, "reward_rule", {"per_session": 10, "per_learner_credited": 1},
                   "admin")
    ev.assign_admin(hub.store, "A-1", "ann", "admin")
    with pytest.raises(NotFound):
        ev.assign_admin(hub.store, "nope", "ann", "admin")
    day = (SESSION_START - 9 * 3600, SESSION_START + 15 * 3600)
    rows = {r["station_id"]: r for r in ev.station_report(hub.store, *day)}
    s1 = rows["S-1"]
    assert (s1["activities"], s1["sessions"], s1["learners_served"], s1["records"]) == \
        (1, 1, 3, 3)
    assert s1["holds"] == 1 and s1["holds_share"] == round(1 / 3, 4)
    assert s1["uptime"] is None and s1["grade"] == "B"      # never seen online: not A
    assert rows["S-2"]["grade"] == "C" and rows["S-2"]["learners_served"] == 0
    assert ev.station_report(hub.store, day[1], day[1] + 86400)[0]["records"] == 0
    rew = ev.reward_report(hub.store, *day)
    assert rew == [{"admin": "ann", "activities": 1, "sessions": 1, "learners_credited": 2,
                    "points": 12}]
    parsed = list(csv.DictReader(io.StringIO(ev.to_csv(list(rows.values()),
                                                       ev.STATION_COLUMNS))))
    assert [p["station_id"] for p in parsed] == ["S-1", "S-2"]
    assert parsed[0]["grade"] == "B" and parsed[0]["learners_served"] == "3"
