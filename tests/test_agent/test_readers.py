"""The serial side: garbage on the line, unplug/replug, two readers, clock and health."""

import threading
import time

from agent.status import queue_counts
from protocol import link

from .hubstub import wait_until


def produced(reader):
    return {(reader.reader_id, s) for s in range(1, reader.last_seq + 1)}


def test_garbage_on_the_serial_line_is_skipped_and_counted(fake_readers, hub_stub, agent_config,
                                                           inproc_agent):
    hub = hub_stub()
    reader = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[reader.port]))
    wait_until(lambda: reader.port in agent.core.ports, 10, what="port open")
    good = link.encode(link.RECORD, b"x" * 10)
    reader.send_raw(b"MicroPython v1.29 on 2026-01-01; unix\r\n>>> \r\n"
                    b"Traceback (most recent call last):\r\n"
                    + good[:-5] + b"0000\n"                    # checksum damaged
                    + b"~Z:AAAA*00000000\n"                     # unknown frame type
                    + b"~R:@@notbase64@@*" + b"%08x\n" % 0     # bad frame
                    + b"#" * 700 + b"\n"                         # over-long line
                    + b"\x00\xff\x03 binary noise\n")
    reader.tap_many(15)
    wait_until(lambda: reader.hub_wm == 15, 15, what="records after garbage")
    assert hub.keys() == produced(reader)
    counts = agent.core.ports[reader.port].link_counts()
    assert counts["noise_lines"] >= 3
    assert counts["bad_frames"] >= 3
    assert counts["oversize_lines"] == 1


def test_undecodable_record_frames_are_counted_not_acked(fake_readers, hub_stub, agent_config,
                                                         inproc_agent):
    hub_stub()
    reader = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[reader.port]))
    wait_until(lambda: reader.port in agent.core.ports, 10, what="port open")
    reader.send_raw(link.encode(link.RECORD, b"\x01\x01short"))
    reader.tap_many(3)
    wait_until(lambda: reader.hub_wm == 3, 15, what="sync")
    assert agent.core.ports[reader.port].link_counts()["bad_records"] == 1


def test_malformed_record_with_an_identity_goes_to_the_hub_to_quarantine(
        fake_readers, hub_stub, agent_config, inproc_agent):
    hub_stub()
    reader = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[reader.port]))
    reader.tap_many(2)
    wait_until(lambda: reader.hub_wm == 2, 15, what="sync")
    bad = bytearray(reader.records()[1])
    bad[1] = 9  # kind 9 does not exist
    bad[10:14] = (3).to_bytes(4, "little")
    reader.send_raw(link.encode(link.RECORD, bytes(bad)))
    wait_until(lambda: queue_counts(agent.cfg.queue.path)["quarantined"] == 1, 15,
               what="hub quarantine of the malformed record")
    assert queue_counts(agent.cfg.queue.path)["reasons"] == {"malformed": 1}


def test_reader_unplugged_and_replugged_mid_stream(fake_readers, hub_stub, agent_config,
                                                   inproc_agent):
    hub = hub_stub()
    reader = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[reader.port]))
    stop = threading.Event()

    def tapping():
        while not stop.is_set() and reader.last_seq < 300:
            reader.tap()
            time.sleep(0.004)

    tapper = threading.Thread(target=tapping)
    tapper.start()
    try:
        for _ in range(3):
            time.sleep(0.25)
            reader.unplug()
            wait_until(lambda: not any(r.online for r in agent.core.readers.values()), 10,
                       what="agent to see the reader gone")
            time.sleep(0.2)
            reader.plug()
            wait_until(lambda: reader.port in agent.core.ports, 10, what="agent to reopen the port")
    finally:
        stop.set()
        tapper.join(10)
    last = reader.last_seq
    wait_until(lambda: reader.hub_wm == last, 30, what="all records after replugs")
    assert hub.keys() == produced(reader)
    assert reader.counts["times"] >= 4  # clock set on every (re)connect
    assert queue_counts(agent.cfg.queue.path)["synced"] == last


def test_two_readers_on_one_agent(fake_readers, hub_stub, agent_config, inproc_agent):
    hub = hub_stub()
    a = fake_readers("ra")
    b = fake_readers("rb")
    agent = inproc_agent(agent_config(ports=[str(a.port).rsplit("/", 1)[0] + "/r*"]))
    for _ in range(40):
        a.tap()
        b.tap()
    wait_until(lambda: a.hub_wm == 40 and b.hub_wm == 40, 20, what="both readers synced")
    assert hub.keys() == produced(a) | produced(b)
    assert a.counts["foreign_acks"] + b.counts["foreign_acks"] == 0  # acks go to their own reader
    ids = {r.rid for r in agent.core.readers.values() if r.online}
    assert ids == {a.reader_id, b.reader_id}


def test_health_frames_feed_reader_state_and_hub_telemetry(fake_readers, hub_stub, agent_config,
                                                           inproc_agent):
    import json
    hub = hub_stub()
    reader = fake_readers("r1", health_s=0.3)
    agent = inproc_agent(agent_config(ports=[reader.port], status={"health_interval_s": 0.5}))
    reader.tap_many(4)
    wait_until(lambda: reader.hub_wm == 4, 15, what="sync")
    wait_until(lambda: len(hub.health) >= 2, 10, what="health telemetry")
    msg = json.loads(hub.health[-1])
    assert msg["v"] == 1 and msg["queue"]["pending"] == 0 and msg["last_hub_ack"] is not None
    (entry,) = msg["readers"]
    assert entry["rid"] == reader.rid and entry["online"] is True and entry["fw"] == "fake-1"
    assert abs(entry["clock_offset_s"]) < 5 and entry["health_age_s"] < 5
    assert entry["unsynced"] in (0, 4) and entry["jfill"] == 0  # as the reader last reported
    state = agent.core.readers[reader.reader_id]
    assert state.label == "r1" and state.health["jfill"] == 0


def test_agent_never_acks_a_reader_before_commit(fake_readers, hub_stub, agent_config,
                                                 inproc_agent, monkeypatch):
    """Make every commit fail: the reader must never get an agent watermark."""
    from agent.errors import StoreError
    from agent.store import Store

    def failing(self, rows, now):
        raise StoreError("simulated I/O error")

    monkeypatch.setattr(Store, "add_records", failing)
    hub_stub()
    reader = fake_readers("r1", reoffer_s=0.2)
    agent = inproc_agent(agent_config(ports=[reader.port]))
    reader.tap_many(5)
    # the agent's own state, not the reader's count of offers: on a busy machine the core
    # handles the offers well after the reader sent them
    wait_until(lambda: "queue_error" in agent.core.problems, 10, what="the failed commit reported")
    offers = reader.counts["offers"]
    wait_until(lambda: reader.counts["offers"] >= offers + 10, 10, what="re-offers")
    assert reader.agent_wm == 0 and reader.hub_wm == 0


def test_a_reader_set_up_for_another_station_is_reported(fake_readers, hub_stub, agent_config,
                                                         inproc_agent):
    hub_stub()
    reader = fake_readers("r1", station="S-9999")
    agent = inproc_agent(agent_config(ports=[reader.port]))
    wait_until(lambda: any("set up for station S-9999" in p for p in agent.core.problems.values()),
               10, what="wrong-station problem")
    reader.tap()
    wait_until(lambda: reader.hub_wm == 1, 15, what="its taps still relayed (the hub decides)")


def test_untimed_tap_time_is_rebuilt_from_the_same_boot_health():
    from agent.readers import HealthReport, ReaderState
    state = ReaderState(b"\x01" * 8)
    assert state.estimate_tap_time(boot=3, uptime_ms=5_000, received_at=2_000.0) == 2_000
    HealthReport({"rid": "01" * 8, "fw": "x", "boot": 3, "up": 65_000}).apply(state, 1_000_000.0, 0.0)
    # tapped 60 s of uptime before that health report
    assert state.estimate_tap_time(boot=3, uptime_ms=5_000, received_at=1_000_100.0) == 1_000_000 - 60
    # tapped 10 s after it
    assert state.estimate_tap_time(boot=3, uptime_ms=75_000, received_at=1_000_100.0) == 1_000_010
    # another boot: the receive time is all we know
    assert state.estimate_tap_time(boot=4, uptime_ms=5_000, received_at=1_000_100.0) == 1_000_100
