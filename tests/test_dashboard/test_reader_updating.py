"""Issue #21: a reader that a running firmware rollout has off its USB link (applying or
verifying) is "being updated", a note — not "not connected: check its USB cable"."""

from __future__ import annotations

import time

from dashkit import Hub, make_config, reader_health
from server_hub.core import health_model as hm
from server_hub.dashboard import fleet
from server_hub.store.fleet_tables import fleet_bundles, fleet_reports, fleet_rollouts

NOW = 1_780_000_000.0


def facts(updating):
    return hm.StationFacts(
        "S-1", status_state="online", status_since=NOW - 600, status_received_at=NOW - 600,
        health={"time": NOW - 5, "readers": [{"rid": "aa", "label": "R-1", "online": False}]},
        health_received_at=NOW - 5, updating=updating)


def test_an_updating_reader_is_a_note_not_a_cable_problem():
    plain = hm.evaluate(facts({}), NOW, hm.Thresholds())
    assert [(p.rule, p.severity) for p in plain.problems] == [("reader_offline", hm.WARNING)]
    busy = hm.evaluate(facts({"R-1": "applying"}), NOW, hm.Thresholds())
    assert [(p.rule, p.severity) for p in busy.problems] == [("reader_updating", hm.INFO)]
    assert "being updated (applying)" in busy.problems[0].text() and busy.level == hm.INFO


def test_the_fleet_view_reads_running_rollouts_only(tmp_path):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config())
    try:
        now = time.time()
        hub.add_station("S-UPD", readers=0)
        hub.online("S-UPD", now)
        hub.health("S-UPD", now - 3, readers=[reader_health("R-1", online=False),
                                              reader_health("R-2", online=False)])
        with hub.store.write() as conn:
            conn.execute(fleet_bundles.insert().values(sha="b" * 64, fw="1.2.0", size=1,
                                                       key_id="k", sig="s", created_at=now,
                                                       data=b"x"))
            for rid, cancelled in (("RO-1", None), ("RO-0", now - 60)):
                conn.execute(fleet_rollouts.insert().values(
                    id=rid, bundle="b" * 64, fw="1.2.0", target="all", targets="[]",
                    canary_count=0, wave_size=1, max_failures=0, created_at=now,
                    cancelled_at=cancelled))
            conn.execute(fleet_reports.insert(), [
                {"rollout": "RO-1", "station": "S-UPD", "reader": "R-1", "state": "verifying",
                 "at": now},
                {"rollout": "RO-0", "station": "S-UPD", "reader": "R-2", "state": "applying",
                 "at": now}])     # a cancelled rollout's stale row says nothing
        view = fleet.compute(hub.store, hub.config, now).by_id["S-UPD"]
    finally:
        hub.close()
    rules = {(p.rule, p.subject) for p in view.problems}
    assert rules == {("reader_updating", "R-1"), ("reader_offline", "R-2")}
