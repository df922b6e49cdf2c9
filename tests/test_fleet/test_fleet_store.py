"""The fleet store in the hub database (server_hub/fleet/store.py, migration 7), on SQLite and
PostgreSQL: verified bundles, targets from the registry, idempotent reports, pause / resume /
cancel / expiry, and what the offer loop sees."""

import threading

import pytest
import sqlalchemy as sa

from server_hub.errors import Conflict, NotFound
from server_hub.fleet.store import BundleRejected, FleetError, FleetStore
from storekit import finish


def test_bundles_are_verified_and_stored_once(fleet, bundles, release):
    hub, store, _ = fleet
    b = store.add_bundle(bundles["new"], [release[1]], by="alice")
    assert b["fw"] == "0.9.0" and b["size"] == len(bundles["new"]) and b["created_by"] == "alice"
    assert store.add_bundle(bundles["new"], [release[1]])["sha"] == b["sha"]      # again: same
    assert [x["sha"] for x in store.bundles()] == [b["sha"]]
    assert store.bundle_data(b["sha"]) == bundles["new"]
    with pytest.raises(BundleRejected) as refused:
        store.add_bundle(bundles["new"].replace(b'"0.9.0"', b'"0.9.9"'), [release[1]])
    assert refused.value.reason == "bad-signature"
    with pytest.raises(BundleRejected) as refused:
        store.add_bundle(bundles["new"], [b"\x01" * 32])
    assert refused.value.reason == "unknown-key"
    with pytest.raises(FleetError, match="release_keys"):
        store.add_bundle(bundles["new"], [])
    with pytest.raises(NotFound):
        store.bundle("0" * 64)
    assert len(store.bundles()) == 1


def test_targets_come_from_the_registry(fleet, bundles, release):
    hub, store, _ = fleet
    sha = store.add_bundle(bundles["new"], [release[1]])["sha"]
    rid = store.create_rollout(sha, canary=["S-0002"])
    assert store.rollout(rid).targets == ["S-0002", "S-0001", "S-0003"]     # not retired S-0009
    hub.registry.add_station("S-0004")
    assert "S-0004" in store.rollout(store.create_rollout(sha)).targets
    assert "S-0004" not in store.rollout(rid).targets                     # fixed at creation
    picked = store.rollout(store.create_rollout(sha, target="percent", percent=100)).targets
    assert sorted(picked) == ["S-0001", "S-0002", "S-0003", "S-0004"]
    few = store.rollout(store.create_rollout(sha, target="percent", percent=0.001,
                                             canary=["S-0003"])).targets
    assert few[0] == "S-0003"                    # a named canary goes first even if unpicked
    listed = store.create_rollout(sha, target="list", stations=["S-0003", "S-0001"])
    assert store.rollout(listed).targets == ["S-0001", "S-0003"]
    with pytest.raises(FleetError) as bad:
        store.create_rollout(sha, target="list", stations=["S-0001", "S-0404", "S-0009"])
    assert "not registered: S-0404" in str(bad.value) and "retired: S-0009" in str(bad.value)
    with pytest.raises(FleetError, match="S-0002.*not in the list"):
        store.create_rollout(sha, target="list", stations=["S-0001"], canary=["S-0002"])
    with pytest.raises(FleetError, match="percent"):
        store.create_rollout(sha, target="percent")
    with pytest.raises(FleetError, match="past"):
        store.create_rollout(sha, expires_at=1.0)
    with pytest.raises(NotFound):
        store.create_rollout("f" * 64)


def test_reports_are_idempotent_and_only_for_targets(fleet, bundles, release):
    hub, store, clock = fleet
    sha = store.add_bundle(bundles["new"], [release[1]])["sha"]
    rid = store.create_rollout(sha, target="list", stations=["S-0001"])
    report = {"rollout": rid, "reader": "R1", "state": "downloading"}
    assert store.report("S-0001", report) and store.report("S-0001", report)
    assert store.report("S-0001", dict(report, state="waiting_for_sync", reason="3 records"))
    assert not store.report("S-0002", report)                  # not a target
    assert not store.report("S-0001", dict(report, rollout="RO-none"))
    assert not store.report("S-0001", dict(report, state="bogus"))
    assert not store.report("S-0001", dict(report, state="cancelled"))   # station row only
    rows = hub.sql("SELECT station, reader, state, reason FROM fleet_reports")
    assert [tuple(r) for r in rows] == [("S-0001", "R1", "waiting_for_sync", "3 records")]
    assert store.status(rid)["stations"]["S-0001"]["readers"]["R1"]["state"] == \
        "waiting_for_sync"


def test_concurrent_reports_from_two_hub_processes_leave_one_row_each(fleet, bundles, release):
    hub, store, _ = fleet
    sha = store.add_bundle(bundles["new"], [release[1]])["sha"]
    rid = store.create_rollout(sha)
    others = [FleetStore(hub.store), FleetStore(hub.store)]
    errors = []

    def send(s):
        try:
            for n in range(30):
                for sid in ("S-0001", "S-0002", "S-0003"):
                    s.report(sid, {"rollout": rid, "reader": f"R{n % 3}", "state": "pending"})
        except Exception as exc:      # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=send, args=(s,)) for s in others]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert hub.count("fleet_reports") == 9


def test_pause_resume_cancel_and_the_offer_loop(fleet, bundles, release):
    hub, store, clock = fleet
    sha = store.add_bundle(bundles["new"], [release[1]])["sha"]
    rid = store.create_rollout(sha, canary=["S-0002"], canary_count=1, wave_size=1)
    assert store.open_rollouts() == [rid]
    _, offers, cancels = store.plan(rid)
    assert offers == ["S-0002"] and cancels == []
    finish(store, rid, "S-0002", state="rolled_back")
    _, offers, _ = store.plan(rid)                      # 1 failure > 0: the planner pauses
    assert offers == [] and store.status(rid)["paused"]
    assert "1 station(s) failed" in store.status(rid)["paused_reason"]
    store.resume(rid)
    assert store.plan(rid)[1] == ["S-0001"] and store.status(rid)["max_failures"] == 1
    store.pause(rid, "lunch")
    assert store.status(rid)["state"] == "paused" and store.status(rid)["paused_reason"] == "lunch"
    assert store.plan(rid)[1] == []
    store.resume(rid)
    store.report("S-0001", {"rollout": rid, "reader": "", "state": "downloading"})
    store.cancel(rid, "wrong build")
    rollout, offers, cancels = store.plan(rid)
    assert offers == [] and cancels == ["S-0001"]       # at work: told to stop
    s = store.status(rid)
    assert s["state"] == "cancelled" and s["cancel_reason"] == "wrong build"
    assert s["stations"]["S-0003"]["state"] == "cancelled"        # never started
    assert "wrong build" in s["stations"]["S-0003"]["reason"]
    assert s["counts"] == {"rolled_back": 1, "downloading": 1, "cancelled": 1}
    assert not s["finished"] and store.open_rollouts() == [rid]
    for verb in (store.pause, store.resume, store.cancel):
        with pytest.raises(Conflict, match="cancelled"):
            verb(rid)
    store.report("S-0001", {"rollout": rid, "reader": "R1", "state": "pending"})
    store.report("S-0001", {"rollout": rid, "reader": "", "state": "cancelled",
                            "reason": "cancelled by the hub after 0 reader(s) updated"})
    assert store.plan(rid)[2] == []
    s = store.status(rid)
    assert s["finished"] and s["counts"] == {"rolled_back": 1, "cancelled": 2}
    assert s["stations"]["S-0001"]["readers"]["R1"]["state"] == "cancelled"
    assert store.open_rollouts() == []                  # the loop never reads it again
    with pytest.raises(NotFound):
        store.cancel("RO-nope")


def test_a_rollout_past_its_deadline_is_expired(fleet, bundles, release):
    hub, store, clock = fleet
    sha = store.add_bundle(bundles["new"], [release[1]])["sha"]
    rid = store.create_rollout(sha, expires_at=clock.now + 3600, wave_size=10, canary_count=0)
    assert sorted(store.plan(rid)[1]) == ["S-0001", "S-0002", "S-0003"]
    finish(store, rid, "S-0001")
    clock.now += 3601
    rollout, offers, cancels = store.plan(rid)
    assert offers == [] and cancels == []
    s = store.status(rid)
    assert s["state"] == "expired" and s["cancel_reason"] == "expired"
    assert s["counts"] == {"done": 1, "cancelled": 2} and s["finished"]
    assert "expired" in s["stations"]["S-0002"]["reason"]
    with hub.store.read() as conn:
        row = conn.execute(sa.text("SELECT cancelled_at, finished_at FROM fleet_rollouts")).first()
    assert row[0] == clock.now and row[1] == clock.now
    with pytest.raises(Conflict, match="expired"):
        store.resume(rid)


def test_finished_rollouts_are_closed_and_listed(fleet, bundles, release):
    hub, store, clock = fleet
    sha = store.add_bundle(bundles["new"], [release[1]])["sha"]
    rid = store.create_rollout(sha, target="list", stations=["S-0001"])
    clock.now += 1
    other = store.create_rollout(sha, target="list", stations=["S-0002"])
    finish(store, rid, "S-0001", readers=("R1", "R2"))
    store.plan(rid)
    assert store.open_rollouts() == [other]
    listed = store.rollouts()
    assert [r["id"] for r in listed] == [other, rid]           # newest first
    assert listed[1]["state"] == "finished" and listed[1]["progress"] == {"closed": 1, "total": 1}
    assert listed[0]["state"] == "running" and listed[0]["counts"] == {"pending": 1}
    with pytest.raises(Conflict, match="finished"):
        store.cancel(rid)
