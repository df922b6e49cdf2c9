"""The pipeline on a real database (SQLite and PostgreSQL): crediting by each standard,
exactly once under duplicates, replays and reordering, rejections quarantined with nothing
else changed, gaps, equivocation, clocks and integrity holds."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubkit import (SESSION_END, SESSION_START, District, Hub, build_scenario,
                    fresh_pg_database, make_config, setup_scenario)
from hil_tests.simreader import SimReader
from protocol import batch as wire
from protocol import record as rec

LATER = SESSION_END + 86400        # "now" once every session has closed


def ack_outcomes(result):
    return list(wire.decode_ack(result.ack).outcomes)


def snapshot(hub):
    """Everything ingest may change, for 'nothing else changed' checks."""
    return {t: hub.count(t) for t in ("records", "ledger", "credit_state", "alarms")}


# --- crediting by each standard ------------------------------------------------------------

def test_fixed_credit_goes_to_the_right_learner(hub, district):
    r = hub.ingest("S-1", wire.encode_batch(1, [district.tap("L-1", at=SESSION_START + 120)]),
                   now=LATER)
    assert ack_outcomes(r) == [wire.ACCEPTED]
    assert hub.balance("L-1") == 1000
    assert hub.balance("L-0") == 0 and hub.balance("L-2") == 0
    (entry,) = hub.sql("SELECT learner_id, entry, evidence FROM ledger")
    assert entry[0] == "L-1" and entry[1] == "credit"
    assert entry[2] == f'[["{district.reader.reader_id.hex()}",1]]'


def test_attendance_credit_by_share(db_url):
    hub = Hub(db_url, make_config())
    try:
        d = District(hub, standard={"type": "attendance", "credits": 2, "share": 0.75})
        recs = [d.tap("L-0", rec.KIND_IN, at=SESSION_START - 60),
                d.tap("L-1", rec.KIND_IN, at=SESSION_START + 600),
                d.tap("L-2", at=SESSION_START + 5),
                d.tap("L-0", rec.KIND_OUT, at=SESSION_END - 1800),     # 75 %: credited
                d.tap("L-1", rec.KIND_OUT, at=SESSION_END - 1800),     # 67 %: not met
                d.tap("L-2", at=SESSION_END + 60)]                     # tap pair: 100 %
        hub.ingest("S-1", wire.encode_batch(1, recs), now=SESSION_END + 3600)
        assert (hub.balance("L-0"), hub.balance("L-1"), hub.balance("L-2")) == (2000, 0, 2000)
        states = {k[0]: v[0] for k, v in hub.states().items()}
        assert states == {"L-0": "credited", "L-1": "not_met", "L-2": "credited"}
    finally:
        hub.close()


def test_checkin_without_checkout_is_settled_when_the_session_closes(db_url):
    hub = Hub(db_url, make_config())
    try:
        d = District(hub, standard={"type": "attendance", "credits": 2, "share": 0.5,
                                    "missing_checkout": "session_end"})
        hub.ingest("S-1", wire.encode_batch(1, [d.tap("L-0", rec.KIND_IN, at=SESSION_START)]),
                   now=SESSION_START + 60)
        assert [v[0] for v in hub.states().values()] == ["open"]
        assert hub.pipeline.settle(now=SESSION_START + 600) == 0       # still running
        assert hub.pipeline.settle(now=SESSION_END + 3600) == 1
        assert [v[0] for v in hub.states().values()] == ["credited"]
        assert hub.balance("L-0") == 2000
        assert hub.pipeline.settle(now=SESSION_END + 7200) == 0
    finally:
        hub.close()


def test_caps_per_activity_across_batches(db_url):
    hub = Hub(db_url, make_config())
    try:
        d = District(hub, schedule={"type": "daily", "start": "09:00", "end": "11:00"},
                     standard={"type": "fixed", "credits": 1, "max_per_activity": 3})
        for day in range(5):
            hub.ingest("S-1", wire.encode_batch(day, [d.tap("L-0", at=SESSION_START + day * 86400)]),
                       now=LATER + 5 * 86400)
        assert hub.balance("L-0") == 3000
        assert sorted(v[0] for v in hub.states().values()) == \
            ["capped", "capped", "credited", "credited", "credited"]
    finally:
        hub.close()


# --- exactly once --------------------------------------------------------------------------

def test_duplicates_and_replays_change_nothing(hub, district):
    recs = [district.tap(lid, at=SESSION_START + 60 * i) for i, lid in enumerate(district.learners)]
    first = hub.ingest("S-1", wire.encode_batch(1, recs), now=LATER)
    assert ack_outcomes(first) == [wire.ACCEPTED] * 3
    before = (snapshot(hub), hub.effective_ledger())
    again = hub.ingest("S-1", wire.encode_batch(1, recs), now=LATER)
    assert ack_outcomes(again) == [wire.DUPLICATE] * 3
    replay = hub.ingest("S-1", wire.encode_batch(2, recs[1:] + recs[:1]), now=LATER)
    assert ack_outcomes(replay) == [wire.DUPLICATE] * 3
    assert (snapshot(hub), hub.effective_ledger()) == before
    assert [hub.balance(lid) for lid in district.learners] == [1000, 1000, 1000]


def run_scenario(url, order, now=LATER + 10 * 86400):
    readers, uid, batches = build_scenario()
    hub = Hub(url, make_config())
    try:
        setup_scenario(hub, readers, uid)
        for i in order:
            station, payload = batches[i]
            hub.ingest(station, payload, now=now)
        return hub.effective_ledger(), hub.states(), {l: hub.balance(l) for l in uid}
    finally:
        hub.close()


@pytest.mark.slow
def test_reordered_and_duplicated_batches_give_the_same_ledger(db_url, tmp_path, request):
    n = len(build_scenario()[2])
    baseline = run_scenario(db_url, list(range(n)))
    ledger_, states, balances = baseline
    assert all(balances[l] > 0 for l in ("L-1", "L-2", "L-3", "L-4"))
    held = [k for k, v in states.items() if v[0] == "held"]
    assert {k[0] for k in held} == {"L-0"}               # the impossible-travel learner
    assert any(v[0] == "capped" for v in states.values())  # the per-activity cap bit
    rng = random.Random(7)
    for attempt in range(2):
        order = list(range(n)) + rng.sample(range(n), 5)   # shuffled with duplicates
        rng.shuffle(order)
        url = other_db(request, tmp_path, f"shuffle{attempt}")
        assert run_scenario(url, order) == baseline


def other_db(request, tmp_path, name):
    if request.node.callspec.params["db_url"] == "sqlite":
        return f"sqlite:///{tmp_path / (name + '.db')}"
    return fresh_pg_database(request.getfixturevalue("postgres"))


@pytest.mark.slow
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(build_scenario()[2]))))
def test_any_batch_order_gives_the_same_ledger_sqlite(tmp_path_factory, order):
    base_dir = tmp_path_factory.mktemp("perm")
    baseline = run_scenario(f"sqlite:///{base_dir / 'a.db'}",
                            list(range(len(order))))
    assert run_scenario(f"sqlite:///{base_dir / 'b.db'}", list(order)) == baseline


# --- rejections: quarantined, nothing else changes -----------------------------------------

def rejection_case(hub, district, station, raws, expect):
    before = snapshot(hub), hub.effective_ledger()
    q_before = hub.count("quarantine")
    r = hub.ingest(station, wire.encode_batch(9, raws), now=LATER)
    assert ack_outcomes(r) == expect
    assert snapshot(hub) == before[0] and hub.effective_ledger() == before[1]
    assert hub.count("quarantine") == q_before + len(raws)
    reasons = [row[0] for row in hub.sql("SELECT reason FROM quarantine ORDER BY id")[q_before:]]
    assert reasons == [wire.OUTCOME_NAMES[c] for c in expect]
    # resending the same rejected batch does not duplicate the quarantine rows
    hub.ingest(station, wire.encode_batch(9, raws), now=LATER)
    assert hub.count("quarantine") == q_before + len(raws)


def test_forged_signature_rejected(hub, district):
    raw = district.tap("L-0", at=SESSION_START)
    rejection_case(hub, district, "S-1", [raw[:-64] + bytes(64)], [wire.BAD_SIGNATURE])


def test_one_altered_byte_rejected(hub, district):
    raw = bytearray(district.tap("L-0", at=SESSION_START))
    raw[42] ^= 0x10                                  # the card UID
    rejection_case(hub, district, "S-1", [bytes(raw)], [wire.BAD_SIGNATURE])


def test_unknown_reader_rejected(hub, district):
    stranger = SimReader()
    rejection_case(hub, district, "S-1", [stranger.tap(district.cards["L-0"], at=SESSION_START)],
                   [wire.UNKNOWN_READER])


def test_revoked_reader_rejected(hub, district):
    hub.registry.revoke_reader(district.reader.reader_id.hex(), "lost")
    rejection_case(hub, district, "S-1", [district.tap("L-0", at=SESSION_START)],
                   [wire.REVOKED_READER])


def test_record_under_another_stations_topic_rejected(hub, district):
    hub.registry.add_station("S-2")
    rejection_case(hub, district, "S-2", [district.tap("L-0", at=SESSION_START)],
                   [wire.WRONG_STATION])


def test_malformed_record_rejected(hub, district):
    raw = district.tap("L-0", at=SESSION_START)
    rejection_case(hub, district, "S-1", [raw[:60]], [wire.MALFORMED])


@pytest.mark.parametrize("payload,status", [
    (b"TB\x01\x00" + (77).to_bytes(8, "little") + b"\x02\x00\x05abc", wire.BATCH_MALFORMED),
    (b"TB\x09\x00" + (78).to_bytes(8, "little") + b"\x01\x00", wire.BATCH_BAD_VERSION),
])
def test_malformed_batch_quarantined_whole(hub, district, payload, status):
    before = snapshot(hub)
    r = hub.ingest("S-1", payload, now=LATER)
    ack = wire.decode_ack(r.ack)
    assert ack.status == status and ack.batch_id == int.from_bytes(payload[4:12], "little")
    assert snapshot(hub) == before
    (row,) = hub.sql("SELECT code, raw FROM quarantine")
    assert row[0] == status and bytes(row[1]) == payload


def test_unreadable_batch_has_no_ack_but_is_quarantined(hub, district):
    r = hub.ingest("S-1", b"garbage", now=LATER)
    assert r.ack is None and r.status == wire.BATCH_MALFORMED
    assert hub.count("quarantine", "reason = 'batch_malformed'") == 1


def test_oversize_batch(hub, district):
    hub.pipeline.max_payload = 200
    payload = wire.encode_batch(5, [district.tap("L-0", at=SESSION_START),
                                    district.tap("L-1", at=SESSION_START)])
    r = hub.ingest("S-1", payload, now=LATER)
    assert wire.decode_ack(r.ack).status == wire.BATCH_OVERSIZE
    assert hub.count("records") == 0 and hub.count("quarantine") == 1


# --- chain gaps and equivocation -----------------------------------------------------------

def test_gap_holds_credit_until_the_missing_record_arrives(hub, district):
    r1 = district.tap("L-0", at=SESSION_START)
    r2 = district.tap("L-1", at=SESSION_START + 60)
    r3 = district.tap("L-2", at=SESSION_START + 120)
    hub.ingest("S-1", wire.encode_batch(1, [r1, r3]), now=LATER)
    assert hub.balance("L-0") == 1000 and hub.balance("L-2") == 0
    held = {k[0]: v for k, v in hub.states().items()}
    assert held["L-2"][0] == "held" and "chain_gap" in held["L-2"][3]
    reader = hub.registry.reader(district.reader.reader_id.hex(), gaps=True)
    assert reader["gaps"] == [[2, 2]] and reader["contiguous"] == 1
    hub.ingest("S-1", wire.encode_batch(2, [r2]), now=LATER)
    assert [hub.balance(l) for l in ("L-0", "L-1", "L-2")] == [1000, 1000, 1000]
    reader = hub.registry.reader(district.reader.reader_id.hex(), gaps=True)
    assert reader["gaps"] == [] and reader["contiguous"] == 3 and reader["missing"] == 0


def test_equivocation_raises_an_alarm_and_keeps_the_first(hub, district):
    clone = SimReader(seed=district.reader.seed, start_time=SESSION_START)
    original = district.tap("L-0", at=SESSION_START)
    forked = clone.tap(district.cards["L-1"], at=SESSION_START + 5)     # same seq 1
    hub.ingest("S-1", wire.encode_batch(1, [original]), now=LATER)
    r = hub.ingest("S-1", wire.encode_batch(2, [forked]), now=LATER)
    assert ack_outcomes(r) == [wire.EQUIVOCATION]
    (alarm,) = hub.sql("SELECT kind, seq FROM alarms")
    assert tuple(alarm) == ("equivocation", 1)
    assert hub.balance("L-0") == 1000 and hub.balance("L-1") == 0
    hub.ingest("S-1", wire.encode_batch(2, [forked]), now=LATER)        # resent
    assert hub.count("alarms") == 1


# --- clocks ----------------------------------------------------------------------------------

def test_records_without_clock_are_timed_from_the_boots_anchor(hub, district):
    r = district.reader
    uptime0 = r.uptime_ms

    def raw_at(lid, reader_time, uptime_ms):
        r.seq += 1
        payload = rec.encode_payload(rec.KIND_TAP, r.reader_id, r.seq, r.prev_hash, reader_time,
                                     r.boot, uptime_ms, district.cards[lid])
        r.prev_hash = rec.chain_hash(payload)
        return payload + r.sign(payload)

    early = raw_at("L-0", 0, uptime0 + 1000)                  # clock not set yet
    anchor = raw_at("L-1", SESSION_START + 3000, uptime0 + 3_001_000)
    hub.ingest("S-1", wire.encode_batch(1, [early]), now=LATER)
    assert hub.balance("L-0") == 0
    (row,) = hub.sql("SELECT best_time, time_source FROM records")
    assert row[0] is None and row[1] == 0
    hub.ingest("S-1", wire.encode_batch(2, [anchor]), now=LATER)
    assert hub.sql("SELECT best_time, time_source FROM records WHERE seq = 1")[0] == \
        (SESSION_START, 2)
    assert hub.balance("L-0") == 1000 and hub.balance("L-1") == 1000


def test_clock_far_ahead_holds_the_credit(hub, district):
    future = district.tap("L-0", at=SESSION_START)
    hub.ingest("S-1", wire.encode_batch(1, [future]), now=SESSION_START - 3600)
    (state,) = hub.states().values()
    assert state[0] == "held" and "clock_skew" in state[3]


def test_live_batch_with_a_skewed_clock_holds_the_credit(hub, district):
    raw = district.tap("L-0", at=SESSION_START)
    payload = wire.encode_batch(1, [raw], flags=wire.FLAG_LIVE)
    hub.ingest("S-1", payload, now=SESSION_START + 2 * 3600)          # tapped "now": 2 h off
    (state,) = hub.states().values()
    assert state[0] == "held" and "clock_skew" in state[3]
    assert hub.count("clock_skews") == 1


# --- integrity holds and registry changes ----------------------------------------------------

def test_tap_burst_holds_every_card_in_it(db_url):
    hub = Hub(db_url, make_config())
    try:
        d = District(hub, learners=12)
        recs = []
        for lid in d.learners:                 # 12 cards in 12 * 0.3 s
            d.reader.uptime_ms += 300
            recs.append(d.reader.tap(d.cards[lid], at=SESSION_START + 30, advance=0))
        hub.ingest("S-1", wire.encode_batch(1, recs[:6]), now=LATER)
        assert sum(hub.balance(l) for l in d.learners) == 6000       # not a burst yet
        hub.ingest("S-1", wire.encode_batch(2, recs[6:]), now=LATER)
        assert sum(hub.balance(l) for l in d.learners) == 0
        assert {v[3] for v in hub.states().values()} == {"tap_burst"}
    finally:
        hub.close()


def test_lost_card_holds_later_taps_only(hub, district):
    hub.ingest("S-1", wire.encode_batch(1, [district.tap("L-0", at=SESSION_START)]), now=LATER)
    hub.registry.set_card_status(district.cards["L-0"].hex(), "lost", since=SESSION_START + 3600)
    assert hub.balance("L-0") == 1000
    hub.registry.set_card_status(district.cards["L-0"].hex(), "active", since=SESSION_START)
    hub.registry.set_card_status(district.cards["L-0"].hex(), "lost", since=SESSION_START - 60)
    assert hub.balance("L-0") == 0
    (state,) = hub.states().values()
    assert state[0] == "held" and state[3] == "card_lost"
    (learner, activity, start), = hub.states().keys()
    hub.registry.review(learner, activity, start, "approve", "tester", "seen in class")
    assert hub.balance("L-0") == 1000


def test_card_registered_after_its_taps_credits_them(hub, district):
    uid = b"\x04\x77\x77\x77"
    hub.registry.add_learner("L-new")
    hub.ingest("S-1", wire.encode_batch(1, [district.reader.tap(uid, at=SESSION_START)]),
               now=LATER)
    assert hub.count("credit_state") == 0
    hub.registry.add_card(uid.hex(), "L-new")
    assert hub.balance("L-new") == 1000


def test_activity_defined_after_the_taps_credits_them(hub, district):
    hub.ingest("S-1", wire.encode_batch(1, [district.tap("L-0", at=SESSION_START + 86400)]),
               now=LATER + 86400)
    assert hub.balance("L-0") == 0
    hub.registry.add_activity("A-2", "S-1", "Extra", {"type": "once", "sessions": [
        [SESSION_START + 86400, SESSION_END + 86400]]}, {"type": "fixed", "credits": 3})
    assert hub.balance("L-0") == 3000
    hub.registry.update_activity("A-2", standard={"type": "fixed", "credits": 2})
    assert hub.balance("L-0") == 2000
    entries = [r[0] for r in hub.sql("SELECT entry FROM ledger WHERE activity_id = 'A-2' "
                                     "ORDER BY id")]
    assert entries == ["credit", "adjust"]


def test_ledger_equals_applied_state(hub, district):
    recs = [district.tap(l, at=SESSION_START + 10 * i) for i, l in enumerate(district.learners)]
    hub.ingest("S-1", wire.encode_batch(1, recs), now=LATER)
    hub.registry.set_card_status(district.cards["L-1"].hex(), "lost", since=SESSION_START - 1)
    applied = {k: v[2] for k, v in hub.states().items() if v[2]}
    assert applied == hub.effective_ledger()


def test_records_of_a_reader_enrolled_late_are_replayed_from_quarantine(hub, district):
    late = SimReader(start_time=SESSION_START)
    raws = [late.tap(district.cards["L-0"], at=SESSION_START + 60),
            late.tap(district.cards["L-1"], at=SESSION_START + 120)]
    r = hub.ingest("S-1", wire.encode_batch(1, raws), now=LATER)
    assert ack_outcomes(r) == [wire.UNKNOWN_READER] * 2
    assert hub.pipeline.replay_quarantine(now=LATER) == {"unknown_reader": 2}   # still unknown
    hub.registry.enroll_reader(late.public_key.hex(), "S-1", "R-late")
    assert hub.pipeline.replay_quarantine(late.reader_id, now=LATER) == {"accepted": 2}
    assert hub.balance("L-0") == 1000 and hub.balance("L-1") == 1000
    assert hub.count("quarantine", "released_at IS NOT NULL") == 2
    assert hub.pipeline.replay_quarantine(now=LATER) == {}


@pytest.mark.parametrize("hub_config", [make_config(integrity__verify_every_signature=True)])
def test_every_signature_mode_keeps_a_forged_record_of_a_run_out(hub, district, hub_config):
    """integrity.verify_every_signature: a record whose own signature fails is rejected and
    quarantined even inside a chain run; the records around it are stored (the one after it
    waits behind the gap it leaves, as after any missing record)."""
    taps = [district.tap(lid, at=SESSION_START + 60 + i) for i, lid in
            enumerate(district.learners)]
    forged = bytearray(taps[1])
    forged[-64:] = SimReader().sign(bytes(taps[1][:-64]))
    taps[1] = bytes(forged)
    r = hub.ingest("S-1", wire.encode_batch(1, taps), now=LATER)
    assert ack_outcomes(r) == [wire.ACCEPTED, wire.BAD_SIGNATURE, wire.ACCEPTED]
    assert [row[0] for row in hub.sql("SELECT seq FROM records ORDER BY seq")] == [1, 3]
    assert [hub.balance(lid) for lid in district.learners][:2] == [1000, 0]
    assert hub.count("quarantine", "reason = 'bad_signature'") == 1
