"""A reader rolled back (an old flash image restored) reuses sequence numbers. The agent keeps
the second record aside once (not once per re-offer), and when it reaches the hub (the Pi was
replaced, so the agent no longer holds the first) the hub quarantines it as an equivocation,
raises an alarm and credits nothing for it; everything credited before stays as it was.
End to end: the real firmware on a virtual reader, the agent, Mosquitto and the hub."""

from __future__ import annotations

import shutil
import sqlite3
import time

import pytest

from hil_tests.district import District
from hil_tests.scenarios.helpers import balances, setup_class

from hil_tests.simreader import SimReader
from agent.store import Store


@pytest.mark.slow
def test_store_keeps_a_re_offered_equivocation_once(tmp_path):
    store = Store(tmp_path / "queue.db")
    sim = SimReader()
    first, second = sim.tap(b"\x04\x01\x02\x03"), sim.tap(b"\x04\x01\x02\x04")
    store.add_records([(sim.reader_id, 1, first, 0, False), (sim.reader_id, 2, second, 0, False)],
                      now=1.0)
    other = SimReader(seed=sim.seed)  # the same key, another history: a rolled-back reader
    other.tap(b"\x04\x01\x02\x03")
    rolled = other.tap(b"\x04\x09\x09\x09")
    results = [store.add_records([(sim.reader_id, 2, rolled, 0, False)], now=2.0 + i)
               for i in range(20)]  # re-offered every few seconds, unacked
    assert results[0].equivocations == [(sim.reader_id, 2)]
    assert all(r.equivocations == [] for r in results[1:])
    assert store.counts()["equivocations"] == 1
    assert store.conn.execute("SELECT data FROM records WHERE seq=2").fetchone()[0] == second
    store.close()


def _agent_equivocations(d: District, sid: str) -> int:
    with sqlite3.connect(f"file:{d.agent_dir(sid) / 'queue.db'}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT COUNT(*) FROM equivocations").fetchone()[0]


@pytest.mark.slow
def test_rolled_back_reader_is_caught_as_equivocation(tmp_path):
    d = District(tmp_path / "d", {"S-0001": 1}, provision="fast",
                 hub_settings={"integrity": {"burst_cards": 1000}})
    try:
        d.start()
        people = setup_class(d, "S-0001", 6)
        vr = d.reader("S-0001", 0).virtual
        rid = d.reader("S-0001", 0).reader_id
        for lid, uid in people[:3]:
            assert d.tap("S-0001", 0, uid)["seq"] in (1, 2, 3)
        d.wait_for(lambda: balances(d, people[:3]) == {p: 1.0 for p, _ in people[:3]}, 60,
                   "the first three credited")
        vr.power_cut()
        image = vr.image.path.read_bytes()   # the old journal: seq 1..3
        vr.power_on()
        for lid, uid in people[3:5]:
            assert d.tap("S-0001", 0, uid)["seq"] in (4, 5)
        good = {p: 1.0 for p, _ in people[:5]}
        d.wait_for(lambda: balances(d, people[:5]) == good, 60, "five credited")

        vr.power_cut()
        vr.image.path.write_bytes(image)     # roll the reader back
        vr.power_on()
        ev = d.tap("S-0001", 0, people[5][1])
        assert ev["event"] in ("recorded", "warning") and ev["seq"] == 4, ev  # seq 4 again

        d.wait_for(lambda: _agent_equivocations(d, "S-0001") == 1, 30, "the agent to see it")
        time.sleep(8)  # the reader re-offers its unacked record every 3 s
        assert _agent_equivocations(d, "S-0001") == 1, "kept once, not once per re-offer"
        queue = d.agent_status("S-0001").get("queue") or {}
        assert queue.get("equivocations") == 1, queue  # `tapcert-agent status` shows it

        # the Pi is replaced: a fresh queue, the reader still offers its rolled-back record
        d.kill_agent("S-0001")
        for name in ("queue.db", "queue.db-wal", "queue.db-shm"):
            (d.agent_dir("S-0001") / name).unlink(missing_ok=True)
        d.revive_agent("S-0001")

        def alarmed():
            return [a for a in d.api("GET", "/alarms") if a.get("kind") == "equivocation"]
        alarms = d.wait_for(alarmed, 60, "the hub's equivocation alarm")
        assert alarms[0]["reader_id"] == rid and alarms[0]["seq"] == 4
        counts = d.api("GET", "/quarantine/counts")
        assert "equivocation" in str(counts), counts
        time.sleep(2)
        assert balances(d, people) == dict(good, **{people[5][0]: 0.0})
    finally:
        d.stop()
        shutil.rmtree(tmp_path / "d", ignore_errors=True)
