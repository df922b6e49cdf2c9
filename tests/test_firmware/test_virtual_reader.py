"""The real firmware on a virtual reader (hil_tests/targets/virtual.py): taps through the
card field come out of the pty as signed link frames that `cryptography` verifies; acks,
clock, query, inject and garbage go in; power cuts, mpremote and resets leave nothing lost.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time

import pytest
import serial
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hil_tests.targets.virtual import VirtualReader, VirtualReaderError
from protocol import link
from protocol import record as rec

pytestmark = pytest.mark.slow  # system-level: every test here takes seconds

CONFIG = {"label": "R-0042", "station": "S-0007", "auto_keygen": True, "test_mode": True,
          "resend_ms": 500}


def uid(i: int) -> bytes:
    return bytes([0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, i])


class Agent:
    """The station agent's side of the serial link, minimal."""

    def __init__(self, port: str):
        self.serial = serial.Serial(port, timeout=0.05)
        self.decoder = link.LinkDecoder()
        self.records: dict[int, bytes] = {}
        self.health: list[dict] = []

    def send(self, line: bytes) -> None:
        self.serial.write(line)

    def pump(self, seconds: float = 0.2) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.decoder.feed(self.serial.read(4096))
            while True:
                try:
                    frame = self.decoder.next_message()
                except Exception:
                    continue
                if frame is link.NEED_DATA:
                    break
                if frame.type == link.RECORD:
                    r = rec.decode(frame.body)
                    old = self.records.setdefault(r.seq, frame.body)
                    assert old == frame.body, "seq {} offered with two contents".format(r.seq)
                elif frame.type == link.HEALTH:
                    self.health.append(link.decode_json(frame.body))

    def wait_for(self, check, timeout: float = 10.0, what: str = "frames"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.1)
            if check():
                return
        raise AssertionError("timed out waiting for {}: records {}, health {}".format(
            what, sorted(self.records), self.health[-1:]))

    def query(self) -> dict:
        count = len(self.health)
        self.send(link.encode(link.QUERY))
        self.wait_for(lambda: len(self.health) > count, what="health")
        return self.health[-1]

    def close(self) -> None:
        self.serial.close()


@pytest.fixture
def reader(tmp_path):
    r = VirtualReader(tmp_path / "reader", label="R-0042")
    r.install_firmware(config=CONFIG)
    r.start()
    try:
        yield r
    finally:
        r.stop()


def _verify(pk: bytes, body: bytes) -> rec.Record:
    payload, sig = rec.split(body)
    Ed25519PublicKey.from_public_bytes(pk).verify(sig, payload)
    return rec.decode(body)


def _mpremote(port: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=60)


def test_taps_come_out_signed_chained_and_verifiable(reader):
    agent = Agent(reader.port)
    try:
        got = [reader.tap(uid(i)) for i in range(3)]
        assert [(e["event"], e["seq"]) for e in got] == [("recorded", 1), ("recorded", 2),
                                                            ("recorded", 3)]
        assert reader.tap(uid(1))["event"] == "duplicate"
        agent.send(link.encode_time(1_780_000_000_000))
        health = agent.query()
        assert (health["label"], health["station"], health["test"]) == ("R-0042", "S-0007", True)
        pk = bytes.fromhex(health["pk"])
        assert health["rid"] == hashlib.sha256(pk).digest()[:8].hex()
        agent.wait_for(lambda: len(agent.records) == 3, what="3 records")
        records = [_verify(pk, agent.records[s]) for s in (1, 2, 3)]
        assert [r.uid for r in records] == [uid(0), uid(1), uid(2)]
        assert records[0].prev_hash == rec.GENESIS_HASH
        for a, b in zip(records, records[1:]):
            assert b.prev_hash == a.chain_hash()
        assert reader.tap(uid(9))["seq"] == 4  # after the clock was set
        agent.wait_for(lambda: 4 in agent.records, what="record 4")
        assert abs(_verify(pk, agent.records[4]).reader_time - 1_780_000_000) < 60
        agent.send(link.encode_ack(bytes.fromhex(health["rid"]), 4, 4))
        after = agent.query()
        assert (after["agent_wm"], after["hub_wm"], after["unsynced"]) == (4, 4, 0)
        lines = [json.dumps(e) for e in reader.events() if e["event"] != "boot"]
        assert [json.loads(line)["seq"] for line in lines][:3] == [1, 2, 3]
    finally:
        agent.close()


def test_garbage_and_injected_taps_on_the_console(reader):
    agent = Agent(reader.port)
    try:
        agent.send(b"hello\n~A:QUFBQQ==*00000000\n\x00\xff~~~*\n" + b"Z" * 900 + b"\n")
        agent.send(link.encode_inject(2, uid(7)))
        agent.wait_for(lambda: 1 in agent.records, what="the injected tap's record")
        r = rec.decode(agent.records[1])
        assert (r.kind, r.uid) == (2, uid(7))
        health = agent.query()
        assert health["bad"] >= 1 and health["noise"] >= 1 and health["seq"] == 1
    finally:
        agent.close()


def test_power_cut_keeps_every_recorded_tap_and_the_sequence(reader):
    recorded = [reader.tap(uid(i))["seq"] for i in range(5)]
    assert recorded == [1, 2, 3, 4, 5]
    reader.power_cut()
    reader.power_on()
    agent = Agent(reader.port)
    try:
        health = agent.query()
        assert health["boot"] == 2 and health["seq"] == 5 and health["unsigned"] == 0
        agent.wait_for(lambda: len(agent.records) == 5, what="5 records after the cut")
        assert reader.tap(uid(20))["seq"] == 6
        agent.wait_for(lambda: 6 in agent.records, what="record 6")
        pk = bytes.fromhex(health["pk"])
        assert _verify(pk, agent.records[6]).boot == 2
        assert _verify(pk, agent.records[6]).prev_hash == rec.chain_hash(
            rec.split(agent.records[5])[0])
    finally:
        agent.close()


def test_mpremote_breaks_in_and_reset_brings_the_firmware_back(reader):
    assert reader.tap(uid(1))["seq"] == 1
    out = _mpremote(reader.port, "exec", "import keys; keys.info()")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(info["pk"]) == 64 and info["rid"] == hashlib.sha256(
        bytes.fromhex(info["pk"])).digest()[:8].hex()
    with pytest.raises(VirtualReaderError):  # at the REPL: no firmware, no card field
        reader.tap(uid(2), timeout=0.5)
    before = len(reader.boots())
    assert _mpremote(reader.port, "reset").returncode == 0
    reader.wait_boot(before, "hard")
    assert reader.tap(uid(3))["seq"] == 2


def test_a_boot_that_fails_is_reported_with_its_reason(tmp_path):
    # issue 16: with --heapsize 128K (.py files compile out of heap) the CLI said
    # "running" although main.py had died with MemoryError
    r = VirtualReader(tmp_path / "reader", label="R-0043", heapsize="128K")
    r.install_firmware(config=CONFIG)
    r.start()
    try:
        with pytest.raises(VirtualReaderError, match="R-0043 failed to boot: MemoryError"):
            r.wait_firmware(timeout=60)
    finally:
        r.stop()
    proc = subprocess.run([sys.executable, "-m", "hil_tests.targets.virtual", "--dir",
                           str(tmp_path / "reader"), "--heapsize", "128K"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "running" not in proc.stdout
    assert "failed to boot: MemoryError" in proc.stderr


def test_a_good_boot_is_its_boot_feedback(reader):
    assert reader.wait_firmware(timeout=30)["event"] == "boot"
