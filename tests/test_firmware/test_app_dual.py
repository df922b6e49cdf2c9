# dual: micropython
# Tap handling through the real App on the unix board: record, debounce, blocked cards,
# fill thresholds, signing (real Ed25519, verified), boot counter, clock, provisioning.

import keys
from blocked import OP_ADD, OP_REMOVE
from fwkit import Flash, chain_ok, make_app, uid, verify
from protocol import record as rec
from protocol.ed25519 import public_key
from fwkit import SEED


def test_tap_is_recorded_signed_and_verifies():
    flash = Flash()
    try:
        app = make_app(flash)
        assert app.ready and app.public_key == public_key(SEED)
        app.set_clock_ms(1780000123456)
        got = app.tap(uid(1), rec.KIND_IN)
        assert got == {"event": "recorded", "seq": 1, "text": "Recorded #1"}
        assert app.journal.signed_upto == 0  # journaled before signing
        assert app.sign_pending() == 1
        r = rec.decode(app.journal.read(1, 1)[0])
        assert (r.seq, r.kind, r.uid, r.boot) == (1, rec.KIND_IN, uid(1), 1)
        assert r.reader_id == rec.reader_id_from_public_key(public_key(SEED))
        assert 1780000123 <= r.reader_time <= 1780000125
        assert r.prev_hash == rec.GENESIS_HASH
        verify(app.public_key, r.encode())
        assert app.board.feedback.events[-1]["event"] == "recorded"
    finally:
        flash.close()


def test_records_chain_and_every_signature_verifies():
    flash = Flash()
    try:
        app = make_app(flash)
        for i in range(6):
            assert app.tap(uid(i))["seq"] == i + 1
        while app.sign_pending(4):
            pass
        records = app.journal.read(1, 10)
        assert len(records) == 6 and chain_ok(records)
        for r in records:
            verify(app.public_key, r)
    finally:
        flash.close()


def test_same_card_within_the_window_is_a_duplicate():
    flash = Flash()
    try:
        app = make_app(flash, debounce_s=10)
        assert app.tap(uid(7))["event"] == "recorded"
        assert app.tap(uid(7)) == {"event": "duplicate", "seq": None, "text": "Already recorded"}
        assert app.tap(uid(8))["event"] == "recorded"
        assert app.journal.last_seq == 2
        app.debounce.window_ms = 0  # the window has passed
        assert app.tap(uid(7))["seq"] == 3
    finally:
        flash.close()


def test_blocked_card_gets_no_record_until_unblocked():
    flash = Flash()
    try:
        app = make_app(flash)
        app.update_blocked(bytes((OP_ADD, 7)) + uid(3))
        assert app.tap(uid(3))["event"] == "blocked"
        assert app.journal.last_seq == 0
        flash.remount()
        app = make_app(flash)  # the list is on flash
        assert app.tap(uid(3))["event"] == "blocked"
        app.update_blocked(bytes((OP_REMOVE, 7)) + uid(3))
        assert app.tap(uid(3))["event"] == "recorded"
        try:
            app.update_blocked(b"\x01\x05abc")
            raise AssertionError("malformed blocked list accepted")
        except ValueError:
            pass
    finally:
        flash.close()


def test_warning_from_80_percent_then_full_refuses():
    flash = Flash()
    try:
        app = make_app(flash, journal_capacity=5, warn_pct=80, debounce_s=0)
        events = [app.tap(uid(i)) for i in range(7)]
        assert [e["event"] for e in events] == ["recorded"] * 3 + ["warning"] * 2 + ["full"] * 2
        assert events[3]["text"] == "Recorded #4 - storage 80% full"
        assert events[5]["seq"] is None and app.journal.last_seq == 5
        assert "not yet synced" in app.err
    finally:
        flash.close()


def test_unsigned_records_are_signed_at_the_next_boot():
    flash = Flash()
    try:
        app = make_app(flash)
        for i in range(3):
            app.tap(uid(i))
        app.sign_pending(1)
        assert len(app.journal.pending) == 2
        flash.remount()  # power cut before signing
        app = make_app(flash)
        assert app.journal.pending == [] and app.boot == 2
        records = app.journal.read(1, 5)
        assert [rec.decode(r).seq for r in records] == [1, 2, 3]
        for r in records:
            verify(app.public_key, r)
        assert app.tap(uid(9))["seq"] == 4
        app.sign_pending()
        assert rec.decode(app.journal.read(4, 1)[0]).boot == 2
    finally:
        flash.close()


def test_reader_without_a_key_refuses_taps_and_says_why():
    flash = Flash()
    try:
        app = make_app(flash, seed=None)
        assert not app.ready
        got = app.tap(uid(1))
        assert got["event"] == "error" and "set up" in got["text"]
        assert "keys.generate" in app.health()["err"]
    finally:
        flash.close()


def test_auto_keygen_makes_a_key_once():
    flash = Flash()
    try:
        app = make_app(flash, seed=None, auto_keygen=True)
        assert app.ready
        pk = app.public_key
        assert keys.info(flash.root)["pk"] == rec.hexlify(pk)
        flash.remount()
        assert make_app(flash, seed=None, auto_keygen=True).public_key == pk
        try:
            keys.generate(root=flash.root)
            raise AssertionError("second key generated")
        except keys.KeysError as exc:
            assert "already has a key" in str(exc)
    finally:
        flash.close()


def test_rekey_is_refused_while_the_journal_holds_records():
    flash = Flash()
    try:
        app = make_app(flash)
        app.tap(uid(1))
        try:
            keys.generate(force=True, root=flash.root, quiet=True)
            raise AssertionError("re-keyed over unsynced records")
        except keys.KeysError as exc:
            assert "wipe" in str(exc)
    finally:
        flash.close()


def test_bad_uid_and_kind_are_errors_without_a_record():
    flash = Flash()
    try:
        app = make_app(flash)
        assert app.tap(b"\x01\x02\x03")["event"] == "error"
        assert app.tap(uid(1), 9)["event"] == "error"
        assert app.journal.last_seq == 0
    finally:
        flash.close()


def test_health_reports_the_journal():
    flash = Flash()
    try:
        app = make_app(flash, label="R-0007", station="S-0001", test_mode=True)
        for i in range(4):
            app.tap(uid(i))
        app.sign_pending(3)
        app.apply_ack(2, 1)
        h = app.health()
        assert h["rid"] == rec.hexlify(app.reader_id) and h["fw"]
        assert (h["label"], h["station"], h["boot"], h["test"]) == ("R-0007", "S-0001", 1, True)
        assert (h["seq"], h["signed"], h["unsigned"], h["unsynced"]) == (4, 3, 1, 3)
        assert (h["agent_wm"], h["hub_wm"], h["time"]) == (2, 1, 0)
        assert h["pk"] == rec.hexlify(app.public_key) and h["heap"] >= 0
        assert 0 <= h["jfill"] <= 1
    finally:
        flash.close()
