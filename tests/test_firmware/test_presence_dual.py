# dual: micropython
# Taps from NFC polls: a card resting on the reader is one tap until removed (3 "no card"
# polls in a row; a failed poll is not a miss), two cards at once and phones' random UIDs
# get their own feedback and no record.
import sys

from fwkit import Flash, ScriptedNFC, make_app, uid
from presence import Presence

MICROPYTHON = sys.implementation.name == "micropython"


def test_presence_counts_a_resting_card_once_until_removed():
    p = Presence()
    a = uid(1)
    assert p.seen(a) and not p.seen(a)
    p.missed()
    p.missed()
    assert not p.seen(a)  # two misses: a flicker, the card is still there
    for _ in range(3):
        p.missed()
    assert p.resting() is None and p.seen(a)  # removed and put back: a new tap
    assert p.seen(uid(2))  # another card


def _poll_taps(script, **cfg):
    # run the app's NFC task until the script is used up; -> (feedback events, app)
    import asyncio
    flash = Flash()
    try:
        app = make_app(flash, poll_ms=1, **cfg)
        nfc = ScriptedNFC(script)
        app.board.nfc = nfc

        async def main():
            task = asyncio.create_task(app._nfc())
            while nfc.script:
                await asyncio.sleep_ms(5)
            await asyncio.sleep_ms(20)
            task.cancel()

        asyncio.run(main())
        return [e["event"] for e in app.board.feedback.events if e["event"] != "boot"], app
    finally:
        flash.close()


def _micropython_only():
    if not MICROPYTHON:  # the app's tasks use MicroPython's asyncio (sleep_ms)
        raise __import__("unittest").SkipTest("MicroPython only")


def test_a_resting_card_is_one_tap_through_failed_polls():
    _micropython_only()
    # issue 16: after one failed poll the resting card counted as a new tap
    from drivers.errors import BusError
    a = uid(1)
    events, app = _poll_taps([a, BusError("x", "no_answer"), a, a, OSError(5), a, None, a,
                              None, None, None, a], debounce_s=0)
    assert events == ["recorded", "recorded"], events
    assert app.journal.last_seq == 2


def test_two_cards_at_once_get_their_own_feedback_once():
    _micropython_only()
    from drivers.errors import CardError
    two = CardError("two cards in the field: present one card at a time", "two_cards")
    events, app = _poll_taps([two, two, two, None, None, None, uid(1)], debounce_s=0)
    assert events == ["two_cards", "recorded"], events
    assert app.board.feedback.events[1]["text"] == "One card at a time"


def test_random_and_cascade_tag_uids_are_refused_without_a_record():
    flash = Flash()
    try:
        app = make_app(flash, debounce_s=0)
        got = app.tap(b"\x08\x12\x34\x56")
        assert got["event"] == "random_uid"
        assert got["text"] == "Phone or random-UID card not accepted"
        assert app.tap(b"\x88\x04\x11\x22\x33\x44\x55")["event"] == "error"
        assert app.tap(b"\x88\x01\x02\x03")["event"] == "error"
        assert app.journal.last_seq == 0
        assert app.tap(b"\x04\x12\x34\x56")["event"] == "recorded"  # fixed 4-byte UID
    finally:
        flash.close()
