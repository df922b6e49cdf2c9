"""Fuzz every protocol decoder on CPython: random and mutated bytes either decode or raise
the package's own error — never anything else, never a hang. Round trips hold.

`make test` runs a small share; `make fuzz` runs --fuzz-examples=100000 per target.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import batch, link, record
from protocol.errors import ProtocolError

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
RECORDS = json.loads((VECTORS / "records.json").read_text())
SEEDS = [bytes.fromhex(v["encoded"]) for v in RECORDS["valid"]]
BATCH = json.loads((VECTORS / "batch.json").read_text())
SEED_BATCHES = [bytes.fromhex(v["hex"]) for v in BATCH["valid_batches"]]
SEED_ACK = bytes.fromhex(BATCH["valid_acks"][0]["hex"])
LINK_SEEDS = [v["line"].encode() for v in json.loads((VECTORS / "link.json").read_text())["valid"]]


def _settings(request_examples):
    return settings(max_examples=request_examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@st.composite
def mutated(draw, seeds):
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.integers(0, 3))
        pos = draw(st.integers(0, max(0, len(data))))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 1:
            data[pos:pos] = draw(st.binary(max_size=8))
        elif op == 2:
            del data[pos:pos + draw(st.integers(1, 8))]
        else:
            data = data[:pos]
    return bytes(data)


def _decode_or_protocol_error(fn, data):
    try:
        fn(data)
    except ProtocolError:
        pass


def _link_stream(data):
    dec = link.LinkDecoder()
    dec.feed(data)
    for _ in range(len(data) + 2):
        try:
            if dec.next_message() is link.NEED_DATA:
                return
        except ProtocolError:
            continue
    raise AssertionError("link decoder did not drain its input")


TARGETS = {
    "record": record.decode,
    "batch": batch.decode_batch,
    "ack": batch.decode_ack,
    "link": _link_stream,
    "link_json": link.decode_json,
}
SEEDS_FOR = {"record": SEEDS, "batch": SEED_BATCHES, "ack": [SEED_ACK],
             "link": [b"".join(LINK_SEEDS)] + LINK_SEEDS, "link_json": [b'{"rid": "00"}']}


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_random_bytes(target, fuzz_examples):
    @_settings(fuzz_examples)
    @given(st.binary(max_size=700))
    def run(data):
        _decode_or_protocol_error(TARGETS[target], data)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_mutations(target, fuzz_examples):
    @_settings(fuzz_examples)
    @given(mutated(SEEDS_FOR[target]))
    def run(data):
        _decode_or_protocol_error(TARGETS[target], data)

    run()


uids = st.sampled_from([4, 7, 10]).flatmap(lambda n: st.binary(min_size=n, max_size=n))


@pytest.mark.slow
@given(kind=st.sampled_from(record.KINDS), rid=st.binary(min_size=8, max_size=8),
       seq=st.integers(1, 2**32 - 1), prev=st.binary(min_size=16, max_size=16),
       t=st.integers(0, 2**32 - 1), boot=st.integers(0, 2**16 - 1), up=st.integers(0, 2**32 - 1),
       uid=uids, auth=st.binary(max_size=16), sig=st.binary(min_size=64, max_size=64))
@settings(max_examples=500, deadline=None)
def test_record_round_trip(kind, rid, seq, prev, t, boot, up, uid, auth, sig):
    payload = record.encode_payload(kind, rid, seq, prev, t, boot, up, uid, auth)
    r = record.decode(payload + sig)
    assert (r.kind, r.reader_id, r.seq, r.prev_hash, r.reader_time, r.boot, r.uptime_ms, r.uid,
            r.auth, r.signature) == (kind, rid, seq, prev, t, boot, up, uid, auth, sig)
    assert r.encode() == payload + sig


@given(bid=st.integers(0, 2**64 - 1),
       recs=st.lists(st.binary(min_size=1, max_size=132), min_size=1, max_size=50),
       flags=st.integers(0, 255), timed=st.booleans(), data=st.data())
@settings(max_examples=300, deadline=None)
def test_batch_round_trip(bid, recs, flags, timed, data):
    times = data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=len(recs), max_size=len(recs))) \
        if timed else None
    b = batch.decode_batch(batch.encode_batch(bid, recs, flags, times))
    want_flags = (flags | batch.FLAG_AGENT_TIMES) if timed else (flags & ~batch.FLAG_AGENT_TIMES)
    assert (b.batch_id, b.records, b.flags, b.agent_times) == (bid, recs, want_flags, times)


@given(bid=st.integers(0, 2**64 - 1),
       outcomes=st.lists(st.sampled_from([c for c in batch.OUTCOME_NAMES if c < 0x20]),
                         min_size=1, max_size=1000))
@settings(max_examples=300, deadline=None)
def test_ack_round_trip(bid, outcomes):
    a = batch.decode_ack(batch.encode_ack(bid, bytes(outcomes)))
    assert (a.batch_id, a.status, list(a.outcomes)) == (bid, 0, outcomes)


@pytest.mark.slow
@given(frames=st.lists(st.tuples(st.sampled_from(list(link.TYPES)), st.binary(max_size=300)),
                       max_size=10),
       noise=st.lists(st.text(alphabet=st.characters(blacklist_characters="~\n",
                                                      blacklist_categories=("Cs",)), max_size=40),
                      max_size=5), chunk=st.integers(1, 64))
@settings(max_examples=300, deadline=None)
def test_link_round_trip_through_noise_and_chunking(frames, noise, chunk):
    stream = b"".join(n.encode() + b"\n" for n in noise)
    stream += b"".join(link.encode(t, b) for t, b in frames)
    dec = link.LinkDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        dec.feed(stream[i:i + chunk])
        while (m := dec.next_message()) is not link.NEED_DATA:
            got.append((m.type, m.body))
    assert got == frames
