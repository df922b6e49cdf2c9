# dual: micropython
# The agent link core: frames in (bytes, as from the console), lines out; offers in order
# within a window, resends, watermarks, clock, query, inject, blocked list, and garbage.

from fwkit import Flash, make_app, uid, verify
from linkport import Link, fit_json
from protocol import link, linkcredit
from protocol import record as rec


def _setup(n=5, **cfg):
    flash = Flash()
    app = make_app(flash, debounce_s=0, **cfg)
    for i in range(n):
        app.tap(uid(i))
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


def _seqs(frames):
    return [rec.decode(f.body).seq for f in frames if f.type == "R"]


def test_boot_sends_health_then_the_first_window_in_order():
    flash, app, lnk = _setup(6)
    try:
        frames = _frames(lnk.poll(0))
        assert frames[0].type == "H"
        h = link.decode_json(frames[0].body)
        assert h["rid"] == rec.hexlify(app.reader_id) and h["seq"] == 6 and h["bad"] == 0
        assert _seqs(frames) == [1, 2, 3, 4]  # the window
        for f in frames[1:]:
            verify(app.public_key, f.body)
        assert lnk.poll(10) == []  # nothing more until an ack or a timeout
    finally:
        flash.close()


def test_acks_slide_the_window_and_are_persisted():
    flash, app, lnk = _setup(6)
    try:
        lnk.poll(0)
        lnk.feed(link.encode_ack(app.reader_id, 2, 0), 5)
        assert _seqs(_frames(lnk.poll(6))) == [5, 6]
        lnk.feed(link.encode_ack(app.reader_id, 6, 3), 7)
        assert (app.journal.agent_wm, app.journal.hub_wm) == (6, 3)
        app.tap(uid(40))
        app.sign_pending()
        assert _seqs(_frames(lnk.poll(8))) == [7]
    finally:
        flash.close()


def test_unacked_window_is_offered_again_after_the_timeout():
    flash, app, lnk = _setup(3)
    try:
        lnk.feed(link.encode(link.QUERY), 0)  # an agent is there
        assert _seqs(_frames(lnk.poll(0))) == [1, 2, 3]
        assert _seqs(_frames(lnk.poll(999))) == []
        assert _seqs(_frames(lnk.poll(1000))) == [1, 2, 3]
        lnk.feed(link.encode_ack(app.reader_id, 1, 0), 1500)
        assert _seqs(_frames(lnk.poll(2400))) == []  # progress restarted the timer
        assert _seqs(_frames(lnk.poll(2500))) == [2, 3]
    finally:
        flash.close()


def test_without_an_agent_resends_are_rare():
    flash, app, lnk = _setup(2)
    try:
        assert _seqs(_frames(lnk.poll(0))) == [1, 2]
        assert _seqs(_frames(lnk.poll(19999))) == []
        assert _seqs(_frames(lnk.poll(20000))) == [1, 2]
        assert lnk.next_poll_ms(20000) <= 1000
    finally:
        flash.close()


def test_lower_acks_and_acks_for_other_readers_are_ignored():
    flash, app, lnk = _setup(5)
    try:
        lnk.feed(link.encode_ack(app.reader_id, 4, 2), 0)
        lnk.feed(link.encode_ack(app.reader_id, 3, 1), 1)
        lnk.feed(link.encode_ack(b"other-id", 5, 5), 2)
        assert (app.journal.agent_wm, app.journal.hub_wm) == (4, 2)
        assert lnk.ignored == 1
        lnk.feed(link.encode_ack(app.reader_id, 99, 0), 3)  # beyond the last record
        assert lnk.refused == 1 and app.journal.agent_wm == 4 and "ack" in app.err
    finally:
        flash.close()


def test_query_answers_health_and_offers_everything_unacked_again():
    flash, app, lnk = _setup(3)
    try:
        lnk.poll(0)
        lnk.feed(link.encode_ack(app.reader_id, 1, 0), 1)
        lnk.feed(link.encode(link.QUERY), 2)
        frames = _frames(lnk.poll(3))
        assert frames[0].type == "H" and _seqs(frames) == [2, 3]
    finally:
        flash.close()


def test_time_frame_sets_the_clock_used_by_records():
    flash, app, lnk = _setup(0)
    try:
        lnk.feed(link.encode_time(1780000000500), 0)
        app.tap(uid(1))
        app.sign_pending()
        assert rec.decode(app.journal.read(1, 1)[0]).reader_time in (1780000000, 1780000001)
        lnk.feed(link.encode_time(5000), 1)  # 1970: refused, clock kept
        assert lnk.refused == 1 and app.board.clock.now() >= 1780000000
    finally:
        flash.close()


def test_inject_only_in_test_mode():
    flash, app, lnk = _setup(0)
    try:
        lnk.feed(link.encode_inject(1, uid(5)), 0)
        assert app.journal.last_seq == 0 and lnk.refused == 1 and "test mode" in app.err
    finally:
        flash.close()
    flash, app, lnk = _setup(0, test_mode=True)
    try:
        lnk.feed(link.encode_inject(2, uid(5)), 0)
        app.sign_pending()
        r = rec.decode(app.journal.read(1, 1)[0])
        assert (r.kind, r.uid) == (2, uid(5))
    finally:
        flash.close()


def test_blocked_frame_updates_the_list():
    flash, app, lnk = _setup(0)
    try:
        lnk.feed(link.encode(link.BLOCKED, bytes((0, 7)) + uid(9)), 0)
        assert app.tap(uid(9))["event"] == "blocked"
        lnk.feed(link.encode(link.BLOCKED, b"\x07"), 1)
        assert lnk.refused == 1
    finally:
        flash.close()


def test_garbage_is_counted_and_never_stops_the_link():
    flash, app, lnk = _setup(2)
    try:
        noise = [b"MicroPython v1.29 on linux\r\n>>> \n", b"\x00\xff\xfe garbage\n",
                 b"~A:AAAA*00000000\n", b"~Z:*12345678\n", b"~A:" + b"Q" * 900 + b"\n",
                 link.encode(link.ACK, b"short"), link.encode(link.TIME, b"x"),
                 link.encode(link.INJECT, b"\x01\x02"), link.encode(link.RECORD, b"x" * 10),
                 link.encode_json(link.HEALTH, {"x": 1}), b"~T:" + b"\xff" * 50 + b"*zz\n"]
        for chunk in noise:
            lnk.feed(chunk, 0)
        seed = 12345
        for _ in range(300):  # a few kilobytes of pseudo-random bytes, one at a time
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            lnk.feed(bytes((seed >> 16 & 0xFF,)), 0)
        lnk.feed(b"\n", 0)
        assert lnk.decoder.bad_frames >= 2 and lnk.decoder.noise_lines >= 2
        assert lnk.refused >= 3 and lnk.ignored >= 2
        lnk.feed(link.encode_ack(app.reader_id, 2, 2), 1)
        assert app.journal.hub_wm == 2
        h = link.decode_json(_frames([lnk.health_line()])[0].body)
        assert h["bad"] >= 2 and h["noise"] >= 2 and h["refused"] >= 3
    finally:
        flash.close()


def test_health_always_fits_one_line():
    flash, app, lnk = _setup(0, label="L" * 40, station="S" * 32)
    try:
        app.note("x" * 500)
        line = lnk.health_line()
        assert len(line) <= link.MAX_LINE
        h = link.decode_json(_frames([line])[0].body)
        assert h["rid"] and h["fw"] and h["err"].endswith("...")
        assert len(fit_json({"rid": "a", "err": "y" * 1000})) <= 430
    finally:
        flash.close()


def _crc_line(core):
    # a line whose checksum is right whatever its body holds
    import binascii
    return b"~" + core + b"*" + "{:08x}".format(binascii.crc32(core) & 0xFFFFFFFF).encode() + b"\n"


def test_bad_base64_under_a_valid_checksum_is_counted_not_fatal():
    # issue 16: `except (ValueError, binascii.Error)` raised AttributeError on MicroPython
    decoder = link.LinkDecoder()
    for core in (b"A:YQ", b"T:abc", b"B:ab=c"):
        decoder.feed(_crc_line(core))
        try:
            decoder.next_message()
            raise AssertionError("bad base64 accepted")
        except link.RemoteProtocolError as exc:
            assert "base64" in exc.args[0], exc.args
    assert decoder.bad_frames == 3
    flash, app, lnk = _setup(2)
    try:
        for _ in range(5):
            lnk.feed(_crc_line(b"A:YQ"), 0)
        lnk.feed(link.encode_ack(app.reader_id, 2, 2), 1)
        assert app.journal.hub_wm == 2 and lnk.decoder.bad_frames == 5
    finally:
        flash.close()


def test_every_frame_toward_the_reader_fits_an_esp32_console_buffer():
    # issue 16: a 600-byte blocked-list frame overflowed the ESP32 console's 260-byte buffer
    from protocol import blocklist
    rid = b"R" * 8
    uids = [bytes((i >> 8, i & 0xFF)) + b"\x01" * 8 for i in range(blocklist.MAX_CARDS)]
    lines = [link.encode(link.BLOCKED, b) for b in blocklist.frame_bodies(uids)]
    lines += [link.encode_ack(rid, 0xFFFFFFFF, 0xFFFFFFFF), link.encode_time(2 ** 63),
              link.encode(link.QUERY), link.encode_inject(3, b"\xff" * 10),
              link.encode_rewind(rid, 0xFFFFFFFF)]
    assert max(len(line) for line in lines) <= link.MAX_LINE_TO_READER <= 256
    flash, app, lnk = _setup(0)
    try:
        for line in lines[:-5]:
            lnk.feed(line, 0)
        assert len(app.blocked) == blocklist.MAX_CARDS and app.blocked.contains(uids[-1])
    finally:
        flash.close()


def _credits(frames):
    return [linkcredit.decode_credit(f.body) for f in frames if f.type == "K"]


def test_lines_are_credited_only_once_the_agent_asks():
    flash, app, lnk = _setup(0)
    try:
        h = link.decode_json(_frames(lnk.poll(0))[0].body)
        assert h["fc"] == 0  # not asked since boot
        lnk.feed(link.encode(link.QUERY) + b"noise\n", 1)
        assert _credits(_frames(lnk.poll(2))) == []  # an old agent never sees a K
        # the request, then a Q, a damaged line and a blocked frame cut in two reads
        blocked = link.encode(link.BLOCKED, bytes([0, 4]) + b"\xde\xad\xbe\xef")
        lnk.feed(linkcredit.encode_credit() + link.encode(link.QUERY) + b"~B:zz*00000000\n"
                 + blocked[:9], 3)
        frames = _frames(lnk.poll(4))
        assert frames[0].type == "K" and _credits(frames) == [3]  # first: the agent waits on it
        assert link.decode_json([f for f in frames if f.type == "H"][0].body)["fc"] == 1
        lnk.feed(blocked[9:], 5)
        assert _credits(_frames(lnk.poll(6))) == [1]
        assert app.health()["blocked"] == 1
        assert _credits(_frames(lnk.poll(7))) == []  # nothing taken, nothing credited
        lnk.feed(linkcredit.encode_credit(2), 8)  # a credit travels the other way: ignored, counted
        assert _credits(_frames(lnk.poll(9))) == [1] and lnk.ignored == 1
    finally:
        flash.close()


def test_a_credit_never_counts_more_than_255_lines():
    flash, app, lnk = _setup(0)
    try:
        lnk.poll(0)
        lnk.feed(linkcredit.encode_credit() + b"x\n" * 299, 1)
        assert _credits(_frames(lnk.poll(2))) == [255, 45]
    finally:
        flash.close()


def test_a_memory_error_while_polling_spends_neither_the_credit_nor_the_health():
    # issue 16 (the budget's silent reader): the health frame saves moved watermarks, which
    # opens a file; a MemoryError there ended poll() after it had counted the credit and the
    # health as sent, so the next round had nothing to write and the link task fed the
    # watchdog while the reader said nothing for good. Nothing is spent before its line exists:
    # the next poll writes them (or, if the heap never recovers, the link stops beating).
    flash, app, lnk = _setup(3)
    try:
        lnk.poll(0)
        lnk.feed(linkcredit.encode_credit() + link.encode_ack(app.reader_id, 3, 3)
                 + link.encode(link.QUERY), 1)
        save = app.save_watermarks

        def out_of_memory():
            raise MemoryError("memory allocation failed, allocating 1148 bytes")

        app.save_watermarks = out_of_memory
        try:
            lnk.poll(2)
            raised = False
        except MemoryError:
            raised = True
        assert raised
        app.save_watermarks = save
        frames = _frames(lnk.poll(3))
        assert [f.type for f in frames] == ["K", "H"] and _credits(frames) == [3]
        health = link.decode_json(frames[1].body)
        assert (health["agent_wm"], health["hub_wm"]) == (3, 3)
        assert _frames(lnk.poll(4)) == []  # sent once
    finally:
        flash.close()
