"""The signer on the emulated RP2040 (stock MicroPython rp2, firmware as .mpy for armv6m):
the Thumb field code (protocol/ed25519_thumb.py) is in use, agrees with its portable
reference (protocol/ed25519_fe.py) on random and edge inputs, and signs RFC 8032's vectors
and random messages byte for byte as the big-int path does, with the table read from flash."""

import json
from pathlib import Path

import pytest
from rpkit import Console

from hil_tests.targets.flashimage import firmware_files

REPO = Path(__file__).resolve().parents[2]

CHIP = r"""
import json, os, sys
import signtable
signtable.install()          # the table from /data/signtable.bin, as on a reader
from protocol import ed25519 as ed
from protocol import ed25519_fe as fe
th = sys.modules.get("protocol.ed25519_thumb")
out = {"thumb": th is not None and ed.field_ops is th}
bad = []
edges = (b"\xff" * 32, bytes(32), (2**255 - 19).to_bytes(32, "little"), b"\xff" * 31 + b"\x7f")
for trial in range(24):     # 16 edge pairs, then random
    x = edges[trial % 4] if trial < 8 else os.urandom(32)
    y = edges[(trial // 4) % 4] if trial < 16 else os.urandom(32)
    for name in ("fmul", "fadd", "fsub"):
        for d, a, b in ((96, 32, 48), (32, 32, 48), (48, 32, 48), (96, 32, 32)):
            s1 = bytearray(608)
            s1[64:96] = x
            s1[96:128] = y
            s2 = bytearray(s1)
            getattr(th, name)(s1, d, a, b)
            getattr(fe, name)(s2, d, a, b)
            if s1[64:] != s2[64:]:
                bad.append([name, d, a, b, x.hex(), y.hex()])
    for n in (1, 3):
        s1 = bytearray(608)
        s1[64:96] = x
        s2 = bytearray(s1)
        th.fsqr(s1, 48, 32, n)
        fe.fsqr(s2, 48, 32, n)
        if s1[64:] != s2[64:]:
            bad.append(["fsqr", n, x.hex()])
src = os.urandom(97)
s1 = bytearray(608)
th.fload(s1, 224, memoryview(src)[1:])
out["fload"] = bytes(s1[448:544]) == src[1:] and bytes(s1[:448]) == bytes(448)
out["bad"] = bad[:5]
with open("/v.json") as f:
    cases = json.load(f)
out["rfc"] = [ed.Signer(bytes.fromhex(c["seed"])).sign(bytes.fromhex(c["message"])).hex()
              for c in cases]
seeds = [os.urandom(32) for _ in range(2)]
msgs = [os.urandom(n) for n in (0, 116, 200)]   # empty, a record's body, > one SHA block
def sigs():
    return [ed.Signer(seed).sign(m) for seed in seeds for m in msgs]
thumb = sigs()
ed.set_field(None)
ints = sigs()
out["same"] = thumb == ints
out["n"] = len(thumb)
print("RESULT " + json.dumps(out))
print("DONE")
"""


@pytest.mark.slow  # ~60-110 s wall: the emulator signs 12 times + 3 vectors and writes the table file
def test_thumb_field_code_signs_byte_for_byte_on_the_chip(make_rp_reader):
    cases = [c for c in json.loads((REPO / "protocol" / "vectors" / "ed25519.json").read_text())["cases"]
             if c["name"] in ("TEST 1", "TEST 2", "TEST 3")]
    assert len(cases) == 3
    files = firmware_files()
    files["/main.py"] = CHIP.encode()
    files["/v.json"] = json.dumps([{"seed": c["seed"], "message": c["message"]} for c in cases]).encode()
    reader = make_rp_reader(start=False)
    reader.install_firmware(files, {"label": "R-SIGN", "station": "S-SIGN", "test_mode": True})
    reader.start()
    console = Console(reader.port)
    try:
        seen = console.expect(b"DONE", timeout=240).decode("utf-8", "replace")
    finally:
        console.close()
    line = [x for x in seen.splitlines() if x.startswith("RESULT ")]
    assert line, "the chip printed no result:\n" + seen[-1500:]
    got = json.loads(line[-1][len("RESULT "):])
    assert got["thumb"], "the signer is not using protocol/ed25519_thumb on the RP2040"
    assert got["bad"] == [] and got["fload"]
    assert got["rfc"] == [c["signature"] for c in cases]
    assert got["same"] and got["n"] == 6
