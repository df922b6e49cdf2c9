"""Garbage into a running virtual reader's USB port: the real firmware on the micropython
binary keeps running (same boot), keeps recording taps, and keeps answering on its link.

Input: random bytes and mutated agent frames in random chunks (every byte but 0x03, which is
the console's Ctrl-C: mpremote's documented break-in, SPEC §3). Chunks: --fuzz-examples / 10
(150 in `make test`, 10,000 in `make fuzz`)."""

from __future__ import annotations

import random
import time

import pytest
import serial

from hil_tests.targets.virtual import VirtualReader
from protocol import link

CONFIG = {"label": "R-FUZZ", "station": "S-FUZZ", "auto_keygen": True, "test_mode": True}


def _uid(i: int) -> bytes:
    return bytes([0x04, 0xF0, 0x22, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF, 0x01])


def _mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(0, 6)):
        pos = rng.randint(0, len(data))
        op = rng.randint(0, 3)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del data[pos:pos + rng.randint(1, 16)]
        else:
            data = data[:pos]
    return bytes(data)


def _query(port: serial.Serial) -> dict:
    decoder = link.LinkDecoder()
    deadline = time.monotonic() + 10
    port.write(b"\n" + link.encode(link.QUERY))
    while time.monotonic() < deadline:
        decoder.feed(port.read(4096))
        while True:
            try:
                frame = decoder.next_message()
            except Exception:
                continue
            if frame is link.NEED_DATA:
                break
            if frame.type == link.HEALTH:
                return link.decode_json(frame.body)
    raise AssertionError("no health frame within 10 s after a query")


@pytest.fixture
def reader(tmp_path):
    vr = VirtualReader(tmp_path / "reader", label="R-FUZZ")
    vr.install_firmware(config=CONFIG)
    vr.start()
    try:
        yield vr
    finally:
        vr.stop()


def test_fuzz_garbage_on_a_running_readers_link(reader, fuzz_examples):
    chunks = max(150, fuzz_examples // 10)
    rng = random.Random(1128)
    with serial.Serial(reader.port, timeout=0.02) as port:
        first = _query(port)
        rid = bytes.fromhex(first["rid"])
        seeds = [link.encode_ack(rid, 0, 0), link.encode_time(1_790_000_000_000),
                 link.encode(link.QUERY), link.encode_inject(1, _uid(1)),
                 link.encode(link.BLOCKED, b"\x00"), link.encode_rewind(rid, 1),
                 b"~H:e30=*00000000\n", b"MicroPython v1.29\r\n>>> ", b"~" * 700]
        boots = reader.status()["boots"]
        recorded = []
        for i in range(chunks):
            if rng.random() < 0.5:
                data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
            else:
                data = _mutate(rng, b"".join(rng.choice(seeds) for _ in range(rng.randint(1, 3))))
            port.write(data.replace(b"\x03", b""))
            port.read(65536)  # the reader's output must not back up
            if i % 50 == 49:
                ev = reader.tap(_uid(1000 + i))
                assert ev["event"] in ("recorded", "warning", "blocked"), ev
                if ev["event"] != "blocked":
                    recorded.append(ev["seq"])
        port.write(b"\n" + link.encode(link.BLOCKED, b"\x00"))  # whatever the garbage blocked
        time.sleep(0.2)
        ev = reader.tap(_uid(999_999))
        assert ev["event"] in ("recorded", "warning"), ev
        recorded.append(ev["seq"])
        health = _query(port)
    status = reader.status()
    assert status["powered"] and status["boots"] == boots, "the firmware restarted"
    assert health["rid"] == first["rid"] and health["seq"] >= recorded[-1]
    assert health["bad"] + health["noise"] > first.get("bad", 0) + first.get("noise", 0)
    assert recorded == sorted(set(recorded)), "a sequence number was reused"
    assert all(s >= 1 for s in recorded)
