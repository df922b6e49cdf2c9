# dual: micropython
# The link's rewind (W frame, SPEC §3), a keyless reader's health answer, and the blocked
# list's count and CRC in the health frame.
import binascii

from fwkit import Flash, make_app, uid, verify
from linkport import Link
from protocol import blocklist
from protocol import link
from protocol import record as rec


def _setup(n, **cfg):
    flash = Flash()
    app = make_app(flash, debounce_s=0, **cfg)
    for i in range(n):
        app.tap(uid(i + 1))
    while app.sign_pending(8):
        pass
    lnk = Link(app, window=4, resend_ms=1000, idle_resend_ms=20000, agent_timeout_ms=5000,
               health_ms=30000)
    app.link = lnk
    return flash, app, lnk


def _frames(lines):
    d = link.LinkDecoder()
    for line in lines:
        d.feed(line)
    out = []
    while True:
        m = d.next_message()
        if m is link.NEED_DATA:
            return out
        out.append(m)


def _seqs(lines):
    return [rec.decode(f.body).seq for f in _frames(lines) if f.type == "R"]


def test_rewind_offers_acked_records_again_one_window_per_ack():
    flash, app, lnk = _setup(10)
    try:
        lnk.poll(0)
        lnk.feed(link.encode_ack(app.reader_id, 10, 3), 1)  # an earlier queue took them all
        assert _seqs(lnk.poll(2)) == []
        lnk.feed(link.encode_rewind(app.reader_id, 4), 3)
        first = lnk.poll(4)
        assert _seqs(first) == [4, 5, 6, 7]
        for f in _frames(first):
            verify(app.public_key, f.body)
        assert _seqs(lnk.poll(5)) == []  # the window waits for the agent
        lnk.feed(link.encode_ack(app.reader_id, 10, 3), 6)  # its watermark cannot move
        assert _seqs(lnk.poll(7)) == [8, 9, 10]
        lnk.feed(link.encode_ack(app.reader_id, 10, 3), 8)
        assert _seqs(lnk.poll(9)) == []
        assert _seqs(lnk.poll(5000)) == []  # caught up: nothing is offered again
        assert (app.journal.agent_wm, app.journal.hub_wm) == (10, 3) and lnk.rewinds == 1
        app.tap(uid(50))
        app.sign_pending()
        assert _seqs(lnk.poll(5001)) == [11]
    finally:
        flash.close()


def test_an_unanswered_rewind_window_is_offered_again():
    flash, app, lnk = _setup(6)
    try:
        lnk.feed(link.encode_ack(app.reader_id, 6, 0), 0)
        lnk.poll(0)
        lnk.feed(link.encode_rewind(app.reader_id, 2), 1)
        assert _seqs(lnk.poll(2)) == [2, 3, 4, 5]
        assert _seqs(lnk.poll(1001)) == []
        assert _seqs(lnk.poll(1002)) == [2, 3, 4, 5]
        lnk.feed(link.encode(link.QUERY), 1003)  # a query restarts from the rewind point
        assert _seqs(lnk.poll(1004)) == [2, 3, 4, 5]
    finally:
        flash.close()


def test_rewind_starts_at_the_oldest_record_still_held():
    flash, app, lnk = _setup(40)   # 16 records per 2 KiB segment: 1-16, 17-32, 33-40
    try:
        lnk.feed(link.encode_ack(app.reader_id, 40, 35), 0)
        held = app.journal.first_held()
        assert 1 < held <= 36
        lnk.poll(1)
        lnk.feed(link.encode_rewind(app.reader_id, 1), 2)
        assert _seqs(lnk.poll(3)) == [held, held + 1, held + 2, held + 3]
    finally:
        flash.close()


def test_rewinds_that_do_not_apply_are_ignored():
    flash, app, lnk = _setup(5)
    try:
        lnk.feed(link.encode_ack(app.reader_id, 3, 0), 0)
        assert _seqs(lnk.poll(1)) == [4, 5]
        lnk.feed(link.encode_rewind(b"other-id", 1), 2)
        assert lnk.ignored == 1
        lnk.feed(link.encode_rewind(app.reader_id, 4), 3)  # not below the watermark
        assert lnk.rewinds == 0
        lnk.feed(link.encode(link.REWIND, b"short"), 4)
        assert lnk.refused == 1
    finally:
        flash.close()


def test_a_reader_without_a_key_answers_a_query_with_health():
    flash = Flash()
    try:
        app = make_app(flash, seed=None)
        assert not app.ready
        lnk = Link(app, window=4, resend_ms=1000)
        app.link = lnk
        lnk.poll(0)
        lnk.feed(link.encode(link.QUERY), 1)
        lnk.feed(link.encode_ack(b"\x00" * 8, 1, 1), 2)
        lnk.feed(link.encode_rewind(b"\x00" * 8, 1), 3)
        frames = _frames(lnk.poll(4))
        assert [f.type for f in frames] == ["H"]
        h = link.decode_json(frames[0].body)
        assert h["rid"] == "" and h["fw"] and h["seq"] == 0 and "key" in h["err"]
        assert lnk.next_poll_ms(5) <= 1000
    finally:
        flash.close()


def test_health_reports_the_blocked_list_count_and_crc():
    flash, app, lnk = _setup(0)
    try:
        h = link.decode_json(_frames([lnk.health_line()])[0].body)
        assert h["blocked"] == 0 and h["bcrc"] == 0
        uids = [uid(i, 4 + 3 * (i % 3)) for i in range(1, 50)]
        for body in blocklist.frame_bodies(uids):
            lnk.feed(link.encode(link.BLOCKED, body), 0)
        h = link.decode_json(_frames([lnk.health_line()])[0].body)
        message = blocklist.encode_list(7, uids)
        assert h["blocked"] == 49
        assert h["bcrc"] == binascii.crc32(message[blocklist.HEADER:]) & 0xFFFFFFFF
        flash.remount()
        app = make_app(flash)  # the list and its CRC survive a reboot
        assert len(app.blocked) == 49 and app.health()["bcrc"] == h["bcrc"]
        for body in blocklist.frame_bodies([]):
            app.update_blocked(body)
        assert app.health()["blocked"] == 0 and app.health()["bcrc"] == 0
    finally:
        flash.close()
