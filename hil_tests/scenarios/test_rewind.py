"""A replaced Pi (a new, empty agent queue) re-collects what only the reader still holds: the
reader's health says an earlier queue acked records this one lacks, the agent sends W, the
firmware re-offers them (SPEC §3), and the hub credits them exactly once."""

from __future__ import annotations

import shutil

from hil_tests.scenarios.helpers import accepted, setup_class, wait_credited

RECORDED = ("recorded", "warning")


def test_scenario_replaced_pi_rewinds_the_reader(district_factory):
    d = district_factory({"S-0001": 1})
    people = setup_class(d, "S-0001", 6)
    d.cut_network("S-0001")                     # the old Pi never gets them to the hub
    for lid, uid in people:
        assert d.tap("S-0001", 0, uid)["event"] in RECORDED
    reader = d.reader("S-0001", 0)

    def queued():
        for r in (d.agent_status("S-0001").get("status") or {}).get("readers") or []:
            if r.get("rid") == reader.reader_id and r.get("agent_wm") == len(people):
                return True
        return False
    d.wait_for(queued, 20, "the old queue to hold every tap")
    st = d.stations["S-0001"]
    st.agent.stop()                             # the Pi dies with its SD card
    shutil.rmtree(st.config.parent)
    d.heal_network("S-0001")
    d.start_agent("S-0001")                     # a new Pi, an empty queue
    wait_credited(d, people, {lid: 1.0 for lid, _ in people})
    assert accepted(d) == len(people)
