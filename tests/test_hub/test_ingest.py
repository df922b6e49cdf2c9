"""ingest.py (pure): decode, reader checks, chain-run authentication, chain checks, outcomes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil_tests.simreader import SimReader
from protocol import batch as wire
from protocol import record as rec
from server_hub.core.ingest import (BatchIngest, BatchRejected, ReaderInfo, StoredRecord, Verifier,
                                    advance_chain, missing_ranges)

STATION = "S-1"


def reader_info(sim, station=STATION, status="active"):
    return {sim.reader_id: ReaderInfo(sim.reader_id, sim.public_key, station, status, "R-1")}


def stored_of(raws):
    out = {}
    for raw in raws:
        r = rec.decode(raw)
        out[(r.reader_id, r.seq)] = StoredRecord(r.seq, r.chain_hash(), r.prev_hash, raw)
    return out


def decide(raws, readers, stored=None, station=STATION, verifier=None):
    ing = BatchIngest(station, wire.encode_batch(7, raws))
    return ing.decide(readers, stored or {}, verifier or Verifier())


def test_a_contiguous_run_costs_one_signature_verification():
    sim = SimReader()
    raws = sim.taps(50)
    verifier = Verifier()
    plan = decide(raws, reader_info(sim), verifier=verifier)
    assert bytes(plan.outcomes) == bytes([wire.ACCEPTED]) * 50
    assert verifier.count == 1
    assert {e.auth_seq for e in plan.accepted} == {50}


def test_runs_split_at_gaps_each_verified_once():
    sim = SimReader()
    raws = sim.taps(30)
    batch = raws[:10] + raws[12:20] + raws[25:]
    verifier = Verifier()
    plan = decide(batch, reader_info(sim), verifier=verifier)
    assert set(plan.outcomes) == {wire.ACCEPTED}
    assert verifier.count == 3


def test_needs_asks_for_neighbours_of_each_reader():
    a, b = SimReader(), SimReader()
    ing = BatchIngest(STATION, wire.encode_batch(1, a.taps(3) + b.taps(2)))
    assert ing.needs() == {a.reader_id: (1, 4), b.reader_id: (1, 3)}


@pytest.mark.parametrize("where", ["newest", "middle", "oldest"])
def test_altered_payload_byte_is_bad_signature_and_the_rest_survive(where):
    sim = SimReader()
    raws = sim.taps(5)
    index = {"newest": 4, "middle": 2, "oldest": 0}[where]
    bad = bytearray(raws[index])
    bad[30] ^= 0x01                      # reader_time
    raws[index] = bytes(bad)
    plan = decide(raws, reader_info(sim))
    expect = [wire.ACCEPTED] * 5
    expect[index] = wire.BAD_SIGNATURE
    assert list(plan.outcomes) == expect
    assert [r.reason for r in plan.rejections] == ["bad_signature"]


def test_forged_signature_is_rejected():
    sim = SimReader()
    raw = sim.tap(b"\x04\x01\x02\x03")
    forged = raw[:-64] + bytes(64)
    plan = decide([forged], reader_info(sim))
    assert list(plan.outcomes) == [wire.BAD_SIGNATURE]


def test_record_signed_by_another_key_is_rejected():
    sim, other = SimReader(), SimReader()
    raw = sim.tap(b"\x04\x01\x02\x03")
    resigned = raw[:-64] + other.sign(raw[:-64])
    plan = decide([resigned], reader_info(sim))
    assert list(plan.outcomes) == [wire.BAD_SIGNATURE]


@settings(max_examples=150, deadline=None)
@given(pos=st.integers(0, 115), bit=st.integers(0, 7))
def test_any_single_bit_flip_is_never_accepted(pos, bit):
    sim = SimReader(seed=bytes(range(32)))
    raw = bytearray(sim.tap(b"\x04\x01\x02\x03", at=1_780_000_000))
    raw[pos] ^= 1 << bit
    readers = reader_info(sim)
    try:
        plan = decide([bytes(raw)], readers)
    except BatchRejected:  # pragma: no cover - the batch framing is intact
        raise
    assert plan.outcomes[0] != wire.ACCEPTED
    assert len(plan.rejections) == 1


def test_reader_checks_in_order():
    sim = SimReader()
    raw = sim.tap(b"\x04\x01\x02\x03")
    assert list(decide([raw], {}).outcomes) == [wire.UNKNOWN_READER]
    assert list(decide([raw], reader_info(sim, status="revoked")).outcomes) == \
        [wire.REVOKED_READER]
    assert list(decide([raw], reader_info(sim, station="S-2")).outcomes) == [wire.WRONG_STATION]


def test_identical_stored_record_is_duplicate_even_from_a_revoked_reader():
    sim = SimReader()
    raws = sim.taps(3)
    plan = decide(raws, reader_info(sim, status="revoked"), stored_of(raws))
    assert list(plan.outcomes) == [wire.DUPLICATE] * 3
    assert not plan.rejections and not plan.accepted


def test_duplicate_inside_one_batch():
    sim = SimReader()
    raws = sim.taps(2)
    plan = decide(raws + raws[:1], reader_info(sim))
    assert list(plan.outcomes) == [wire.ACCEPTED, wire.ACCEPTED, wire.DUPLICATE]
    assert len(plan.accepted) == 2


def test_equivocation_against_stored_record_raises_an_alarm():
    sim = SimReader(seed=bytes(32))
    clone = SimReader(seed=bytes(32))       # the same key, a rolled-back journal
    first = sim.tap(b"\x04\x01\x02\x03", at=1_780_000_000)
    second = clone.tap(b"\x04\x09\x09\x09", at=1_780_000_100)
    plan = decide([second], reader_info(sim), stored_of([first]))
    assert list(plan.outcomes) == [wire.EQUIVOCATION]
    assert [a.kind for a in plan.alarms] == ["equivocation"]


def test_equivocation_with_bad_signature_is_only_a_forgery():
    sim = SimReader()
    first = sim.tap(b"\x04\x01\x02\x03")
    other = bytearray(first)
    other[42] ^= 0xFF                       # another card, signature not redone
    plan = decide([bytes(other)], reader_info(sim), stored_of([first]))
    assert list(plan.outcomes) == [wire.BAD_SIGNATURE]
    assert not plan.alarms


def test_two_different_records_with_one_seq_in_a_batch():
    sim = SimReader(seed=bytes(32))
    clone = SimReader(seed=bytes(32))
    a = sim.tap(b"\x04\x01\x02\x03", at=1_780_000_000)
    b = clone.tap(b"\x04\x01\x02\x04", at=1_780_000_001)
    plan = decide([a, b], reader_info(sim))
    assert list(plan.outcomes) == [wire.ACCEPTED, wire.EQUIVOCATION]
    assert plan.alarms[0].kind == "equivocation"


def test_broken_chain_against_stored_predecessor():
    sim = SimReader(seed=bytes(32))
    clone = SimReader(seed=bytes(32))
    stored = sim.taps(2)                     # seq 1, 2
    clone.tap(b"\x04\x00\x00\x07", at=1)     # seq 1 differs: the clone's chain diverges
    clone.tap(b"\x04\x00\x00\x08", at=2)
    diverged = clone.tap(b"\x04\x00\x00\x09", at=3)   # seq 3 links to the clone's seq 2
    plan = decide([diverged], reader_info(sim), stored_of(stored))
    assert list(plan.outcomes) == [wire.BROKEN_CHAIN]
    assert plan.alarms[0].kind == "broken_chain"


def test_broken_chain_against_stored_successor():
    sim = SimReader(seed=bytes(32))
    clone = SimReader(seed=bytes(32))
    good = sim.taps(3)
    odd = clone.taps(2, uid_of=lambda i: b"\x04\x07\x07" + bytes([i]))
    plan = decide([odd[1]], reader_info(sim), stored_of([good[0], good[2]]))
    assert list(plan.outcomes) == [wire.BROKEN_CHAIN]


def test_malformed_and_bad_version_records_are_per_record_outcomes():
    sim = SimReader()
    good = sim.tap(b"\x04\x01\x02\x03")
    version2 = bytes([2]) + good[1:]
    plan = decide([good[:50], version2, good], reader_info(sim))
    assert list(plan.outcomes) == [wire.MALFORMED, wire.BAD_VERSION, wire.ACCEPTED]
    assert plan.rejections[0].reader_id is None


@pytest.mark.parametrize("payload,status", [
    (b"TB\x01", wire.BATCH_MALFORMED),
    (b"XX" + bytes(20), wire.BATCH_MALFORMED),
    (b"TB\x02\x00" + (5).to_bytes(8, "little") + b"\x01\x00\x01\x00", wire.BATCH_BAD_VERSION),
])
def test_whole_batch_rejections(payload, status):
    with pytest.raises(BatchRejected) as err:
        BatchIngest(STATION, payload)
    assert err.value.status == status


def test_oversize_batch_keeps_its_id():
    sim = SimReader()
    payload = wire.encode_batch(99, sim.taps(10))
    with pytest.raises(BatchRejected) as err:
        BatchIngest(STATION, payload, max_payload=100)
    assert err.value.status == wire.BATCH_OVERSIZE and err.value.batch_id == 99


def test_chain_watermark_and_missing_ranges():
    assert advance_chain(0, [], [1, 2, 3]) == 3
    assert advance_chain(3, [6, 7], [5]) == 3
    assert advance_chain(3, [5, 6, 7, 9], [4]) == 7
    assert missing_ranges(3, [6, 7, 10]) == [(4, 5), (8, 9)]
    assert missing_ranges(3, []) == []


def _forge_middle(sim, raws, index):
    """Record `index` keeps its payload (the chain still binds it) but carries a signature by
    another key: chain-run authentication cannot see that, verifying every signature does."""
    other = SimReader()
    raws[index] = raws[index][:-64] + other.sign(raws[index][:-64])
    return raws


def test_every_signature_mode_rejects_a_bad_signature_inside_a_chain_run():
    sim = SimReader()
    raws = _forge_middle(sim, sim.taps(5), 2)
    chain = Verifier()
    plan = decide(raws, reader_info(sim), verifier=chain)
    assert list(plan.outcomes) == [wire.ACCEPTED] * 5        # one verification per run
    assert chain.count == 1
    every = Verifier()
    ing = BatchIngest(STATION, wire.encode_batch(7, raws))
    plan = ing.decide(reader_info(sim), {}, every, every_signature=True)
    assert list(plan.outcomes) == [wire.ACCEPTED, wire.ACCEPTED, wire.BAD_SIGNATURE,
                                   wire.ACCEPTED, wire.ACCEPTED]
    assert [(r.reason, r.seq) for r in plan.rejections] == [("bad_signature", 3)]
    assert every.count == 5
    assert {e.record.seq: e.auth_seq for e in plan.accepted} == {1: 1, 2: 2, 4: 4, 5: 5}
