# dual: micropython
# Custody with the batched journal (flush_records 16, wm_records 8: the defaults): a record
# the agent acked while the reader held its signature only in RAM survives a power cut in
# the tail, is signed again byte for byte and offered again; acked watermarks reach flash
# with the next health frame, so what an update waits for (hub_wm) survives a reset.

from fwkit import Flash, make_app, uid, verify
from linkport import Link
from protocol import link
from protocol import record as rec


def _offered(app):
    lnk = Link(app, window=8, resend_ms=1000, idle_resend_ms=20000, agent_timeout_ms=5000,
               health_ms=30000)
    app.link = lnk
    d = link.LinkDecoder()
    for line in lnk.poll(0):
        d.feed(line)
    out = []
    while True:
        m = d.next_message()
        if m is link.NEED_DATA:
            return out
        if m.type == "R":
            out.append(bytes(m.body))


def _three_signed_in_ram(flash):
    app = make_app(flash, debounce_s=0)
    for i in range(3):
        assert app.tap(uid(i))["event"] == "recorded"
    while app.sign_pending(8):
        pass
    j = app.journal
    assert len(j.unflushed) == 3 and not j.segs  # signed in RAM only, the tail holds them
    sent = _offered(app)
    assert [rec.decode(r).seq for r in sent] == [1, 2, 3]
    return app, sent


def _cut(app, flash):
    # the power goes: nothing in RAM reaches the flash (no flush, no watermark write)
    app.journal.close()
    flash.remount()
    return make_app(flash, debounce_s=0)


def test_a_record_acked_from_ram_survives_a_cut_and_is_offered_again():
    flash = Flash()
    try:
        app, sent = _three_signed_in_ram(flash)
        app.apply_ack(3, 0)  # the agent has them; the hub not yet
        assert app.journal._wm_written == (0, 0)  # lazily written: not on flash yet
        app = _cut(app, flash)
        j = app.journal
        assert (j.agent_wm, j.hub_wm, j.last_seq) == (0, 0, 3)
        assert j.read(1, 10) == sent  # the tail kept them; signed again byte for byte
        again = _offered(app)
        assert again == sent
        for r in again:
            verify(app.public_key, r)
        assert app.tap(uid(9))["seq"] == 4  # no seq reused
    finally:
        flash.close()


def test_a_health_frame_puts_the_acked_watermarks_on_flash():
    flash = Flash()
    try:
        app, sent = _three_signed_in_ram(flash)
        app.apply_ack(3, 2)
        assert app.health()["hub_wm"] == 2
        assert app.journal._wm_written == (3, 2)
        app = _cut(app, flash)
        j = app.journal
        assert (j.agent_wm, j.hub_wm) == (3, 2)  # what the health frame said, after a reset
        assert j.read(1, 10) == sent  # acked by the agent, not the hub: still held
        assert j.unsynced() == 1
    finally:
        flash.close()
