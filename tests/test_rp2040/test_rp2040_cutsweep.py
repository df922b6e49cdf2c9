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
    make hil HIL_ARGS=--target=rp2040    full: every k < N at f = 10 %, 50 %, 90 %, then the
                                         raw log's idle block erase at the same three f
The raw log's block erase is not among a probe tap's N operations: it comes once per 16 taps,
after the tap that fills a block is in a segment (rawlog.py upkeep), after the tap's own
erases (E: a segment append copies its partly filled block). The full sweep then arms a cut
at erase E + 1 of every tap (the runner counting erases only) until, for each f, the flash
image shows a raw block torn by the cut.
Watermarks are written only when an agent acks (wm_records 1 here: every ack at once), so the
full sweep ends with the station agent's own reader link (agent/readerport.py) on the pty:
an ack moves both watermarks to the newest record (hub committed: the journal may free what
is below) and a cut lands inside operation k + 1 after the ack, every k of the W operations
a probe ack costs, at the same three f. No watermark on flash may pass what was acked, and
every told tap is still there.
"""

from __future__ import annotations

import json
import queue
import time

import pytest

from agent.readerport import ReaderPort
from rpkit import SCALE, mpremote, ok

# signed records go to a segment 0.2 s after the last signature (default 5 s, or 16
# records), so each tap's own segment write, tail deletion and LittleFS metadata commits
# fall inside the settle window the probe counts: the sweep cuts inside those too
CONFIG = {"label": "R-0001", "station": "S-0001", "auto_keygen": True, "test_mode": True,
          "flush_s": 0.2, "flush_records": 2, "wm_records": 1}
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
print('WATERMARKS', j.agent_wm, j.hub_wm)
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
    erase_cuts = _erase_cuts(reader, told, index) if not quick else []
    wm_cuts, acked = _watermark_cuts(reader, told) if not quick else ([], 0)
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
    agent_wm, hub_wm = (int(x) for x in next(
        text for text in out.splitlines() if text.startswith("WATERMARKS ")).split()[1:])
    assert agent_wm <= acked and hub_wm <= acked, \
        "watermarks on flash {} / {} past the last ack {}".format(agent_wm, hub_wm, acked)
    print("sweep: {} flash ops per probe tap; {} of {} cuts inside an op; ops of taps not cut: {};"
          " {} taps told, {} records; raw log erase cuts (fraction, taps until it): {};"
          " watermark cuts (k, fraction, cut): {}, acked up to {}, on flash {} / {}".format(
              per_tap, reached, len(cuts), spent, len(told), len(records), erase_cuts,
              wm_cuts, acked, agent_wm, hub_wm))
    assert reached == len(cuts), "only {} of {} cuts fell inside a flash operation ({} per probe tap, {})".format(
        reached, len(cuts), per_tap, spent)


def _torn_raw_blocks(reader) -> int:
    # 4 KiB blocks of the flash image that are erased at the start but still hold a raw log
    # page (rawlog.py: magic a5 54) at the end: a raw block cut inside its erase (a raw block
    # fills from its first page, so a whole one never looks like that)
    data = (reader.workdir / "flash.img").read_bytes()
    return sum(1 for at in range(len(data) - 1408 * 1024, len(data), 4096)  # LittleFS's part
               if data[at:at + 256] == b"\xff" * 256 and data[at + 3840:at + 3842] == b"\xa5T")


def _erase_cuts(reader, told: list, index: int) -> list:
    # cut inside the raw log's idle block erase, f of the way, for f = 10 %, 50 %, 90 %: a
    # tap makes E erases of its own (a segment append copies its partly filled block) and
    # the raw log's erase comes after them once per 16 taps; a cut is armed at erase E + 1
    # of each tap. A tap with no such erase is left uncut; a cut that fell in another erase
    # (a LittleFS compaction) counts as a cut all the same, and the phase goes on until the
    # flash image shows a raw block torn by the cut -> [(fraction, taps it took)]
    def card() -> bytes:
        nonlocal index
        index += 1
        return bytes([0x04, 0x5E, index & 0xFF, 0x12, 0x22, 0x33, 0x44])

    own = []
    for _ in range(2):
        _settle(reader, "settle before a tap")
        e0 = reader.status()["flash"]["erases"]
        uid = card()
        assert reader.tap(uid)["event"] == "recorded"
        told.append(uid.hex())
        _settle(reader, "store card {}".format(uid.hex()))
        own.append(reader.status()["flash"]["erases"] - e0)
    erases = min(own)
    got = []
    for fraction in (0.1, 0.5, 0.9):
        for taps in range(1, 41):
            uid = card()
            _settle(reader, "settle before an erase cut")
            since, torn = reader.emulated_time_us(), _torn_raw_blocks(reader)
            reader.power_cut(at_flash_op=erases, fraction=fraction, kind="erase", wait=False)
            reader.present(uid)
            after = _settle(reader, "store card {} (cut armed at its erase {})".format(uid.hex(), erases + 1))
            if _feedback_started(reader, since):
                told.append(uid.hex())
            reader.remove()
            if after >= 0:
                reader.cancel_cut()
                continue
            torn = _torn_raw_blocks(reader) > torn
            reader.power_on()
            _wait_polling(reader)
            assert not reader.runner.offer_conflicts, "a record number offered for two cards: {}".format(
                reader.runner.offer_conflicts)
            if torn:
                got.append((fraction, taps))
                break
        else:
            raise AssertionError("no cut fell inside the raw log's block erase at {} in 40 taps"
                                 " ({} erases a tap)".format(fraction, erases))
    return got


class _Agent:
    """The station agent's reader link on the reader's pty: the newest record offered."""

    def __init__(self, port: str):
        self.events: queue.Queue = queue.Queue()
        self.port = ReaderPort(port, self.events.put).start()
        self.top, self.rid = 0, None

    def offered(self, above: int) -> int:
        # until a record past `above` was offered -> the newest seq offered
        deadline = time.monotonic() + 120 * SCALE
        while self.top <= above:
            left = deadline - time.monotonic()
            assert left > 0, "no record past seq {} offered on the reader's link".format(above)
            try:
                event = self.events.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if event[0] == "records":
                for rid, seq, _data, _time in event[2]:
                    self.rid, self.top = rid, max(self.top, seq)
                if self.top <= above:
                    # offered again after a cut took the watermark written last: the agent
                    # has them, so it acks them again (the reader's offer window moves on)
                    self.ack(self.top)
        return self.top

    def ack(self, seq: int) -> None:
        self.port.send_ack(self.rid, seq, seq)

    def stop(self) -> None:
        self.port.stop()


def _watermark_cuts(reader, told: list) -> tuple[list, int]:
    # cuts inside the watermark writes an agent's ack makes: -> ([(k, fraction, cut)], the
    # highest seq acked)
    agent = _Agent(reader.port)
    acked, index, got = 0, 0, []

    def new_record() -> int:
        # one tap, not cut, its record signed and offered -> the newest seq offered
        nonlocal index
        uid = bytes([0x04, 0x5E, index & 0xFF, 0x13, 0x22, 0x33, 0x44])
        index += 1
        assert reader.tap(uid)["event"] == "recorded"
        told.append(uid.hex())
        return agent.offered(acked)

    top = new_record()
    start = _settle(reader, "settle before the probe ack")
    agent.ack(top)
    acked = top
    per_ack = _settle(reader, "write the probe ack's watermarks") - start
    assert per_ack >= 1, "an ack moved the watermarks and wrote nothing to flash"
    plan = [(skip, fraction) for skip in range(per_ack) for fraction in (0.1, 0.5, 0.9)]
    for skip, fraction in plan:
        top = new_record()
        before = _settle(reader, "settle before a watermark cut")
        reader.power_cut(at_flash_op=skip, fraction=fraction, wait=False)
        agent.ack(top)
        acked = top
        after = _settle(reader, "be cut inside flash operation {} after an ack".format(skip + 1))
        if after >= 0:  # this ack took fewer operations than the probe's
            reader.cancel_cut()
            reader.power_cut()
        got.append((skip, fraction, after < 0 or after - before))
        agent.stop()
        reader.power_on()
        _wait_polling(reader)
        assert not reader.runner.offer_conflicts, "a record number offered for two cards: {}".format(
            reader.runner.offer_conflicts)
        agent = _Agent(reader.port)
    agent.stop()
    return got, acked


@pytest.mark.slow
def test_power_cuts_inside_journal_writes_lose_no_told_tap_quick(make_rp_reader):
    _sweep(make_rp_reader(start=False), quick=True)


@pytest.mark.rp2040_full
def test_power_cuts_inside_journal_writes_lose_no_told_tap_full_sweep(make_rp_reader):
    _sweep(make_rp_reader(start=False), quick=False)
