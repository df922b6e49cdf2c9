"""The agent with real firmware: two virtual readers (firmware/ on the MicroPython unix port,
behind ptys) on one agent, a real Mosquitto and the acking hub stand-in."""

import json
import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hil_tests.targets.virtual import VirtualReader
from protocol import record as rec

from .hubstub import wait_until


@pytest.fixture
def virtual_readers(tmp_path):
    made = []

    def make(label):
        reader = VirtualReader(tmp_path / label, label=label)
        reader.install_firmware(config={"label": label, "station": "S-0001", "auto_keygen": True,
                                        "debounce_s": 0})
        reader.start()
        made.append(reader)
        return reader

    yield make
    for reader in made:
        reader.stop()


def uid(n):
    return bytes.fromhex("04a1b2c3d4") + n.to_bytes(2, "big")


def test_two_real_virtual_readers_on_one_agent(tmp_path, virtual_readers, hub_stub, agent_config,
                                               inproc_agent):
    hub = hub_stub()
    r1 = virtual_readers("R-0001")
    r2 = virtual_readers("R-0002")
    agent = inproc_agent(agent_config(ports=[r1.port, r2.port]))
    core = agent.core
    wait_until(lambda: {s.label for s in core.readers.values() if s.online} == {"R-0001", "R-0002"},
               20, what="both readers' health frames")
    by_label = {s.label: s.rid for s in core.readers.values()}
    taps = {"R-0001": 0, "R-0002": 0}
    for n in range(6):
        for reader in (r1, r2):
            event = reader.tap(uid(n + 10 * len(reader.label)))
            assert event["event"] in ("recorded", "warning"), event
            taps[reader.label] += 1

    # (unplug/plug of a real virtual reader power-cycles it; see the fake-reader test for
    # replugging: the firmware does not boot twice from one flash image yet)

    def synced():
        return all(core.readers[by_label[label]].hub_wm == count for label, count in taps.items())

    wait_until(synced, 40, what="every tap acked by the hub and relayed to its reader")
    assert hub.count() == sum(taps.values())
    assert {rid for rid, _ in hub.keys()} == set(by_label.values())

    # the records are the firmware's own: keys from the readers' health, chains and signatures
    conn = sqlite3.connect(agent.cfg.queue.path)
    keys = {bytes(rid): json.loads(health)["pk"] for rid, health in
            conn.execute("SELECT reader_id, health FROM readers")}
    conn.close()
    for rid in by_label.values():
        pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(keys[rid]))
        assert rec.reader_id_from_public_key(bytes.fromhex(keys[rid])) == rid
        prev = rec.GENESIS_HASH
        for seq in range(1, taps[[k for k, v in by_label.items() if v == rid][0]] + 1):
            data = hub.records[(rid, seq)]
            payload, signature = rec.split(data)
            pub.verify(signature, payload)
            r = rec.decode(data)
            assert r.prev_hash == prev and r.reader_time > 1_700_000_000  # clock set by the agent
            prev = rec.chain_hash(payload)
