"""The chaos oracle must catch every way the hub could be wrong, and accept what is right.

Records are signed here with a real Ed25519 key, as a reader would; each test bends one thing
(a record lost, one made up, one stored twice under two seqs, one altered, a credit missing,
doubled or invented) and checks that exactly that is reported."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hil_tests.chaos_oracle import UNCONFIRMED, Tap, activity_id, judge
from hil_tests.chaos_plan import make_plan
from protocol import record as rec

PLAN = make_plan(5, taps=100, faults=0, stations=1, readers=1, learners=4, session_s=30)
T0 = 1_800_000_000
STATION = PLAN.stations[0]
ACT = activity_id(STATION)


class Reader:
    def __init__(self):
        self.key = Ed25519PrivateKey.generate()
        self.pk = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.rid = rec.reader_id_from_public_key(self.pk)
        self.prev = rec.GENESIS_HASH
        self.seq = 0

    def record(self, uid, t):
        self.seq += 1
        payload = rec.encode_payload(1, self.rid, self.seq, self.prev, t, 1, self.seq * 100, uid)
        self.prev = rec.chain_hash(payload)
        return payload + self.key.sign(payload)


def _session_start(t):
    return PLAN.session_list(STATION, T0)[PLAN.session_index(STATION, T0, t)][0]


def _world(n=4):
    """n recorded taps by learners 0..n-1 at T0+5+i, all stored and credited."""
    r = Reader()
    taps, stored, ledger = [], [], {}
    for i in range(n):
        p = PLAN.learners[i % len(PLAN.learners)]
        t = T0 + 5 + i
        raw = r.record(p.uid, t)
        taps.append(Tap(STATION, 0, p.id, p.uid, 1, t, t + 0.01, "recorded", r.seq))
        stored.append((r.rid.hex(), r.seq, raw))
        ledger[(p.id, ACT, _session_start(t))] = 1000
    return r, taps, stored, ledger


def _judge(r, taps, stored, ledger, held=(), quarantined=0, alarms=0):
    return judge(PLAN, T0, {r.rid.hex(): taps}, {r.rid.hex(): (r.pk, STATION)}, stored,
                 ledger, list(held), quarantined, alarms)


def test_a_faithful_hub_passes():
    v = _judge(*_world())
    assert v.ok, v.problems
    assert v.counts["recorded"] == 4 and v.counts["hub_records"] == 4
    assert v.counts["expected_credits"] == 4 and v.counts["lost"] == 0


def test_a_lost_record_and_its_credit_are_caught():
    r, taps, stored, ledger = _world()
    del stored[2]
    ledger.pop((taps[2].learner, ACT, _session_start(T0 + 7)))
    v = _judge(r, taps, stored, ledger)
    assert v.counts["lost"] == 1 and v.counts["missing_credits"] == 1
    assert "gap" in v.problems  # seq 3 missing below 4


def test_a_record_no_tap_explains_is_a_phantom():
    r, taps, stored, ledger = _world()
    stranger = bytes.fromhex("04aaaaaaaaaaaa")
    stored.append((r.rid.hex(), r.seq + 1, r.record(stranger, T0 + 12)))
    v = _judge(r, taps, stored, ledger)
    assert v.counts["phantom"] == 1 and not v.counts["duplicated"]


def test_a_tap_stored_twice_under_two_seqs_is_a_duplicate():
    r, taps, stored, ledger = _world()
    again = taps[-1]
    stored.append((r.rid.hex(), r.seq + 1, r.record(again.uid, T0 + 9)))
    v = _judge(r, taps, stored, ledger)
    assert v.counts["duplicated"] == 1


def test_an_unconfirmed_tap_may_or_may_not_be_stored():
    r, taps, stored, ledger = _world(2)
    p = PLAN.learners[3]
    cut = Tap(STATION, 0, p.id, p.uid, 1, T0 + 10, T0 + 10.02, UNCONFIRMED)
    assert _judge(r, taps + [cut], stored, ledger).ok  # not stored: fine
    raw = r.record(p.uid, T0 + 10)
    stored.append((r.rid.hex(), r.seq, raw))
    ledger[(p.id, ACT, _session_start(T0 + 10))] = 1000
    v = _judge(r, taps + [cut], stored, ledger)
    assert v.ok, v.problems
    assert v.counts["unconfirmed_stored"] == 1
    # stored, but its credit is missing: caught
    del ledger[(p.id, ACT, _session_start(T0 + 10))]
    assert _judge(r, taps + [cut], stored, ledger).counts["missing_credits"] == 1


def test_an_unconfirmed_tap_explains_only_its_own_card_in_its_own_place():
    r, taps, stored, ledger = _world(2)
    p, q = PLAN.learners[2], PLAN.learners[3]
    cut = Tap(STATION, 0, p.id, p.uid, 1, T0 + 10, T0 + 10.02, UNCONFIRMED)
    stored.append((r.rid.hex(), r.seq + 1, r.record(q.uid, T0 + 10)))
    assert _judge(r, taps + [cut], stored, ledger).counts["phantom"] == 1


def test_a_record_altered_after_signing_is_caught():
    r, taps, stored, ledger = _world()
    rid, seq, raw = stored[1]
    bad = bytearray(raw)
    bad[45] ^= 0x01  # a byte of the card UID
    stored[1] = (rid, seq, bytes(bad))
    v = _judge(r, taps, stored, ledger)
    assert "altered" in v.problems and not v.ok


def test_doubled_and_invented_credits_are_caught():
    r, taps, stored, ledger = _world()
    key = next(iter(ledger))
    ledger[key] = 2000
    ledger[(PLAN.learners[0].id, ACT, _session_start(T0 + 5) + PLAN.session_s)] = 1000
    v = _judge(r, taps, stored, ledger)
    assert v.counts["duplicated_credits"] == 1 and v.counts["phantom_credits"] == 1


def test_held_credits_quarantine_and_alarms_fail_the_run():
    world = _world()
    assert not _judge(*world, held=[("L-00001", ACT, T0, "held", "chain_gap")]).ok
    assert not _judge(*world, quarantined=1).ok
    assert not _judge(*world, alarms=1).ok


def test_a_record_without_reader_clock_is_dated_by_the_host_around_the_tap():
    r, taps, stored, ledger = _world(1)
    p = PLAN.learners[1]
    t = T0 + PLAN.session_s + 10  # the next session
    raw = r.record(p.uid, 0)      # reader clock not set yet
    taps.append(Tap(STATION, 0, p.id, p.uid, 1, t, t + 0.05, "recorded", r.seq))
    stored.append((r.rid.hex(), r.seq, raw))
    ledger[(p.id, ACT, _session_start(t))] = 1000
    v = _judge(r, taps, stored, ledger)
    assert v.ok, v.problems
    assert v.counts["dated_by_host"] == 1
