"""Attacks on the hub's ingest that tests/test_hub does not already cover, on SQLite and
PostgreSQL. Each is refused (or held) with its reason, counted, and changes nothing else.

Covered elsewhere (not repeated here): forged signature, one altered byte, any bit flip
(tests/test_hub/test_ingest.py, test_store_ingest.py), unknown and revoked reader, a record
under another station's topic, malformed and oversize batches, equivocation and broken chain,
clock far ahead, lost card, replays and duplicates (test_store_ingest.py); unauthenticated,
bad-token and wrong-role API calls (test_api.py); a revoked station at the broker
(tests/test_provisioning/test_hub_side.py, test_broker_mtls.py)."""

from __future__ import annotations


import pytest


from hil_tests.simreader import SimReader
from hubkit import SESSION_START, District
from protocol import batch as wire
from protocol import record as rec

LATER = SESSION_START + 30 * 86400
TABLES = ("records", "ledger", "credit_state", "alarms", "readers", "cards", "learners")


def snapshot(hub):
    return {t: hub.count(t) for t in TABLES} | {"balance": hub.balance("L-0") + hub.balance("L-1")}


def rejected(hub, station="S-1"):
    rows = hub.sql("SELECT rejected FROM station_sync WHERE station_id = :s", s=station)
    return int(rows[0][0]) if rows else 0


def test_a_record_replayed_as_another_readers_is_a_bad_signature(hub):
    d = District(hub)
    other = SimReader(start_time=SESSION_START)
    hub.registry.enroll_reader(other.public_key.hex(), "S-1", "R-2")
    theirs = bytearray(other.tap(d.cards["L-0"], at=SESSION_START + 60))
    theirs[2:10] = d.reader.reader_id              # claim it came from reader R-1
    before = snapshot(hub)
    r = hub.ingest("S-1", wire.encode_batch(1, [bytes(theirs)]), now=LATER)
    assert list(wire.decode_ack(r.ack).outcomes) == [wire.BAD_SIGNATURE]
    assert snapshot(hub) == before
    assert hub.count("quarantine", "reason = 'bad_signature'") == 1 and rejected(hub) == 1


def test_a_valid_record_of_one_reader_replayed_by_another_station_changes_nothing(hub):
    d = District(hub)
    raw = d.tap("L-0", at=SESSION_START + 60)
    assert list(wire.decode_ack(hub.ingest("S-1", wire.encode_batch(1, [raw]), now=LATER).ack)
                .outcomes) == [wire.ACCEPTED]
    hub.registry.add_station("S-2")
    before = snapshot(hub)
    r = hub.ingest("S-2", wire.encode_batch(2, [raw]), now=LATER)
    # the record is already stored: the answer is "duplicate" (never a second credit) wherever
    # it comes from; the hub keeps the first copy's station
    assert list(wire.decode_ack(r.ack).outcomes) in ([wire.DUPLICATE], [wire.WRONG_STATION])
    assert snapshot(hub) == before
    assert hub.sql("SELECT station_id FROM records")[0][0] == "S-1"


def test_clock_far_in_the_past_credits_nothing(hub):
    d = District(hub)
    past = d.tap("L-0", at=946_684_800)             # 2000-01-01: a reader whose clock reset
    before = snapshot(hub)
    r = hub.ingest("S-1", wire.encode_batch(1, [past], flags=wire.FLAG_LIVE), now=SESSION_START)
    assert list(wire.decode_ack(r.ack).outcomes) == [wire.ACCEPTED]  # evidence is kept ...
    assert hub.balance("L-0") == 0 and hub.count("ledger") == before["ledger"]  # ... not credited
    # a clock before 2024 counts as "never set": the tap has no known time until an anchor
    # of the same boot (or the agent's estimate) dates it, so it cannot match any session
    assert hub.sql("SELECT best_time, time_source FROM records")[0] == (None, 0)
    assert hub.count("records") == before["records"] + 1


def test_clock_at_the_end_of_time_credits_nothing(hub):
    d = District(hub)
    future = d.tap("L-0", at=0xFFFFFFFF)            # the largest reader clock (year 2106)
    r = hub.ingest("S-1", wire.encode_batch(1, [future]), now=SESSION_START)
    assert list(wire.decode_ack(r.ack).outcomes) == [wire.ACCEPTED]
    assert hub.balance("L-0") == 0 and hub.count("ledger") == 0


def test_revoked_card_taps_are_held_not_credited(hub):
    d = District(hub)
    hub.registry.set_card_status(d.cards["L-0"].hex(), "revoked", since=SESSION_START - 60)
    raw = d.tap("L-0", at=SESSION_START + 60)
    hub.ingest("S-1", wire.encode_batch(1, [raw]), now=LATER)
    (state,) = hub.states().values()
    assert state[0] == "held" and "card_revoked" in state[3]
    assert hub.balance("L-0") == 0


def test_batch_claiming_more_than_1000_records_is_refused_whole(hub):
    d = District(hub)
    raws = [d.tap("L-0", at=SESSION_START + i) for i in range(3)]
    good = wire.encode_batch(5, raws)
    lying = good[:12] + (1001).to_bytes(2, "little") + good[14:]
    before = snapshot(hub)
    r = hub.ingest("S-1", lying, now=LATER)
    assert wire.decode_ack(r.ack).status == wire.BATCH_MALFORMED
    assert snapshot(hub) == before and hub.count("quarantine") == 1


def test_a_full_batch_of_1000_records_is_taken(hub):
    d = District(hub, learners=2)
    raws = [d.tap(("L-0", "L-1")[i % 2], at=SESSION_START + 60 + i) for i in range(1000)]
    payload = wire.encode_batch(6, raws)
    assert len(payload) <= wire.MAX_PAYLOAD
    r = hub.ingest("S-1", payload, now=LATER)
    assert list(wire.decode_ack(r.ack).outcomes) == [wire.ACCEPTED] * 1000
    assert hub.balance("L-0") == hub.balance("L-1") == 1000   # one session: one credit each


def test_mixed_attack_batch_good_records_survive_each_bad_one_counted(hub):
    d = District(hub)
    stranger = SimReader(start_time=SESSION_START)
    good = d.tap("L-0", at=SESSION_START + 60)
    forged = bytearray(d.tap("L-1", at=SESSION_START + 61))
    forged[-1] ^= 1
    unknown = stranger.tap(d.cards["L-1"], at=SESSION_START + 62)
    malformed = good[:50]
    r = hub.ingest("S-1", wire.encode_batch(8, [good, bytes(forged), unknown, malformed]),
                   now=LATER)
    assert list(wire.decode_ack(r.ack).outcomes) == [
        wire.ACCEPTED, wire.BAD_SIGNATURE, wire.UNKNOWN_READER, wire.MALFORMED]
    reasons = sorted(row[0] for row in hub.sql("SELECT reason FROM quarantine"))
    assert reasons == ["bad_signature", "malformed", "unknown_reader"]
    assert rejected(hub) == 3
    assert hub.balance("L-0") == 1000 and hub.balance("L-1") == 0
    assert [rec.decode(bytes(row[0])).seq for row in hub.sql("SELECT raw FROM records")] == [1]
