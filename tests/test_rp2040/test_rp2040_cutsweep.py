"""The power-cut sweep on the emulated RP2040's flash: the whole firmware (.mpy) takes taps,
and each tap's power is cut inside one of the flash erase/program operations that follow it
(the tail commit before the feedback, the signed record's segment write, watermarks),
at a fraction of the way through that operation, with the flash-timing model on. After every
cut the chip powers up on the image it left and must recover: the tap loop polls again and
no record number is ever offered for two cards. At the end the chip's own journal code
reads its journal back: every tap whose "recorded" feedback started (its 2.7 kHz tone on the
buzzer pin, before the cut) is there, and no card is there twice.

A probe tap first counts the flash operations one tap costs (N); the sweep then cuts inside
operation k + 1 after a card is presented, f of the way through it:
    make test                            quick: 3 cuts (k = 0, N/2, N-1)
    make hil HIL_ARGS=--target=rp2040    full: every k < N at f = 10 %, 50 %, 90 %
"""

from __future__ import annotations

import json

import pytest

from rpkit import SCALE, make_rp_reader, mpremote, ok  # noqa: F401

CONFIG = {"label": "R-0001", "station": "S-0001", "auto_keygen": True, "test_mode": True}
_RECORDED_HZ = 2700

JOURNAL_DUMP = """
import json
from journal import Journal
from protocol import record as rec
j = Journal('/data/journal').open()
out = [[r.seq, r.uid.hex()] for r in (rec.decode(b) for b in j.read(1, j.signed_upto))]
out += [[rec.peek_seq(p), rec.decode(p + bytes(64)).uid.hex()] for p in j.unsigned(999)]
print('JOURNAL', json.dumps(out), j.err)
"""


def _wait_polling(reader, searches: int = 3) -> None:
    # the firmware is up again: its tap loop looks for cards (a new power-up counts from 0)
    reader._wait(lambda s: s["booted"] and s["nfc_searches"] >= searches, 180, "poll for cards after boot")


def _feedback_started(reader, since_us: float) -> bool:
    # the "recorded" tone began before the cut: the person was told, the tap must survive
    return any(e.get("name") == "buzzer" and e.get("mode") == "pwm" and e.get("duty", 0) > 0
               and abs(e.get("freq_hz", 0) - _RECORDED_HZ) < 5 and e["emulated_us"] >= since_us
               for e in reader.gpio_events())


def _ops(status: dict) -> int:
    return status["flash"]["erases"] + status["flash"]["programs"]


def _settle(reader, what: str) -> int:
    # until the chip has been polling with its flash untouched for a while (signing and the
    # segment write done) -> flash operations so far
    searches, ops = -1, -1
    while True:
        status = reader.status()
        if not status["powered"]:
            return -1
        if _ops(status) != ops:
            searches, ops = status["nfc_searches"], _ops(status)
        elif status["nfc_searches"] >= searches + 12:
            return ops
        reader._wait(lambda s: s["nfc_searches"] >= status["nfc_searches"] + 2 or not s["powered"], 120,
                     what, allow_unpowered=True)


def _tap_ops(reader) -> int:
    # how many flash operations one tap costs on this firmware (the probe before the sweep)
    start = _settle(reader, "settle after boot")
    assert reader.tap(bytes.fromhex("04010203040506"))["event"] == "recorded"
    return _settle(reader, "store the probe tap") - start


def _sweep(reader, quick: bool) -> None:
    reader.install_firmware(config=CONFIG)
    reader.start()
    _wait_polling(reader)
    per_tap = _tap_ops(reader)
    assert per_tap >= 1, "a recorded tap wrote nothing to flash"
    if quick:
        cuts = [(0, 0.5), (per_tap // 2, 0.3), (per_tap - 1, 0.9)]
    else:
        cuts = [(skip, fraction) for skip in range(per_tap) for fraction in (0.1, 0.5, 0.9)]
    told, reached = ["04010203040506"], 0
    for index, (skip, fraction) in enumerate(cuts):
        uid = bytes([0x04, 0x5E, index, 0x11, 0x22, 0x33, 0x44])
        _settle(reader, "settle before cut {}".format(index))
        since = reader.emulated_time_us()
        reader.power_cut(at_flash_op=skip, fraction=fraction, wait=False)
        reader.present(uid)
        if _settle(reader, "be cut inside flash operation {} after card {}".format(skip + 1, uid.hex())) >= 0:
            reader.cancel_cut()          # this tap took fewer operations than the probe
            reader.power_cut()
        else:
            reached += 1
        if _feedback_started(reader, since):
            told.append(uid.hex())
        reader.remove()
        reader.power_on()
        _wait_polling(reader)
        assert not reader.runner.offer_conflicts, "a record number offered for two cards after cut {}: {}".format(
            index, reader.runner.offer_conflicts)
    last = reader.tap(bytes.fromhex("04aabbccddeeff"))          # the journal goes on after them all
    assert last["event"] == "recorded"
    out = ok(mpremote(reader.port, "exec", JOURNAL_DUMP, timeout=180))
    line = next(text for text in out.splitlines() if text.startswith("JOURNAL "))
    records = json.loads(line.split(" ", 1)[1].rsplit("]", 1)[0] + "]")
    seqs = [seq for seq, _ in records]
    uids = [uid for _, uid in records]
    assert seqs == list(range(1, len(seqs) + 1)), "seqs on flash: {}".format(seqs)
    assert len(set(uids)) == len(uids), "a card journaled twice: {}".format(uids)
    missing = [uid for uid in told if uid not in uids]
    assert not missing, "taps told 'recorded' then lost by a cut: {} (journal {})".format(missing, records)
    assert "04aabbccddeeff" in uids
    print("sweep: {} flash ops per tap; {} of {} cuts inside an op; {} taps told, {} records".format(
        per_tap, reached, len(cuts), len(told), len(records)))
    assert reached >= len(cuts) * 2 // 3, "only {} of {} cuts fell inside a flash operation ({} per tap)".format(
        reached, len(cuts), per_tap)


@pytest.mark.slow
def test_power_cuts_inside_journal_writes_lose_no_told_tap_quick(make_rp_reader):
    _sweep(make_rp_reader(start=False), quick=True)


@pytest.mark.rp2040_full
def test_power_cuts_inside_journal_writes_lose_no_told_tap_full_sweep(make_rp_reader):
    _sweep(make_rp_reader(start=False), quick=False)
