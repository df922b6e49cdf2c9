"""The power-cut sweep on the emulated RP2040's flash: the whole firmware (.mpy) takes taps,
and each tap's power is cut inside one of the flash erase/program operations that follow it
(the raw log's page program before the feedback, the signed record's segment write,
watermarks, the raw log's idle block erase),
at a fraction of the way through that operation, with the flash-timing model on. After every
cut the chip powers up on the image it left and must recover: the tap loop polls again and
no record number is ever offered for two cards. At the end the chip's own journal code
reads its journal back: every tap whose "recorded" feedback started (its 2.7 kHz tone on the
buzzer pin, before the cut) is there, and no card is there twice.

Two probe taps first count the flash operations one tap costs (N); the sweep then cuts inside
operation k + 1 after a card is presented, f of the way through it:
    make test                            quick: 3 cuts (k = 0, N/2, N-1)
    make hil HIL_ARGS=--target=rp2040    full: every k < N at f = 10 %, 50 %, 90 %
"""

from __future__ import annotations

import json
import time

import pytest

from rpkit import SCALE, mpremote, ok

# signed records go to a segment 0.2 s after the last signature (default 5 s, or 16
# records), so each tap's own segment write, tail deletion and LittleFS metadata commits
# fall inside the settle window the probe counts: the sweep cuts inside those too
CONFIG = {"label": "R-0001", "station": "S-0001", "auto_keygen": True, "test_mode": True,
          "flush_s": 0.2, "flush_records": 2}
_QUIET_US = 1_200_000
PROBES = ("04010203040506", "04010203040507")
_RECORDED_HZ = 2700

JOURNAL_DUMP = """
import json
import rawlog
from journal import Journal
from protocol import record as rec
j = Journal('/data/journal', bdev=rawlog.device()).open()
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
    # until the flash has been untouched for _QUIET_US of emulated time (signing, the segment
    # write flush_s later and its metadata commits done) -> flash operations so far; -1 once
    # the power is gone
    since, ops = None, -1
    deadline = time.monotonic() + 300 * SCALE
    while True:
        status = reader.status()
        if not status["powered"]:
            return -1
        if _ops(status) != ops or since is None:
            since, ops = status["emulated_us"], _ops(status)
        elif status["emulated_us"] - since >= _QUIET_US:
            return ops
        assert time.monotonic() < deadline, "the reader did not {} within {:.0f} s".format(what, 300 * SCALE)
        time.sleep(0.1)


def _tap_ops(reader) -> int:
    # how many flash operations one tap costs on this firmware (probe taps before the sweep;
    # the first tap also creates the journal's files, so the fewest of two counts)
    counts = []
    for uid in PROBES:
        start = _settle(reader, "settle before a probe tap")
        assert reader.tap(bytes.fromhex(uid))["event"] == "recorded"
        counts.append(_settle(reader, "store the probe tap") - start)
    return min(counts)


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
    told, reached, spent = list(PROBES), 0, []
    plan = [(skip, fraction, True) for skip, fraction in cuts]
    index = 0
    while plan:
        skip, fraction, retry = plan.pop(0)
        uid = bytes([0x04, 0x5E, index, 0x11, 0x22, 0x33, 0x44])
        before = _settle(reader, "settle before cut {}".format(index))
        since = reader.emulated_time_us()
        reader.power_cut(at_flash_op=skip, fraction=fraction, wait=False)
        reader.present(uid)
        after = _settle(reader, "be cut inside flash operation {} after card {}".format(skip + 1, uid.hex()))
        if after >= 0:
            # this tap took fewer operations than the probe's: cut its last one instead
            reader.cancel_cut()
            reader.power_cut()
            spent.append(after - before)
            if retry and after > before:
                plan.insert(0, (min(skip, after - before - 1), fraction, False))
        else:
            reached += 1
        if _feedback_started(reader, since):
            told.append(uid.hex())
        reader.remove()
        reader.power_on()
        _wait_polling(reader)
        assert not reader.runner.offer_conflicts, "a record number offered for two cards after cut {}: {}".format(
            index, reader.runner.offer_conflicts)
        index += 1
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
    print("sweep: {} flash ops per probe tap; {} of {} cuts inside an op; ops of taps not cut: {};"
          " {} taps told, {} records".format(per_tap, reached, len(cuts), spent, len(told), len(records)))
    assert reached == len(cuts), "only {} of {} cuts fell inside a flash operation ({} per probe tap, {})".format(
        reached, len(cuts), per_tap, spent)


@pytest.mark.slow
def test_power_cuts_inside_journal_writes_lose_no_told_tap_quick(make_rp_reader):
    _sweep(make_rp_reader(start=False), quick=True)


@pytest.mark.rp2040_full
def test_power_cuts_inside_journal_writes_lose_no_told_tap_full_sweep(make_rp_reader):
    _sweep(make_rp_reader(start=False), quick=False)
