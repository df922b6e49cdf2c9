# dual: micropython
# A flash write that fails and then works again (e.g. LittleFS out of space). MicroPython
# keeps a LittleFS file whose commit failed open, and its GC finaliser later replays the
# stale commit. The journal must never let that replay replace newer data: the tail moves
# to a new file name, a segment is rewritten under a fresh file before the next append.
# MicroPython only (LittleFS finaliser behaviour): on CPython this file defines no tests.
import sys


MICROPYTHON = sys.implementation.name == "micropython"


class Flaky:
    # passes everything through until .fail is set; then every program/erase raises EIO
    def __init__(self, inner):
        self.inner = inner
        self.fail = False

    def readblocks(self, block, buf, offset=0):
        self.inner.readblocks(block, buf, offset)

    def writeblocks(self, block, buf, offset=0):
        if self.fail:
            raise OSError(5)
        self.inner.writeblocks(block, buf, offset)

    def ioctl(self, op, arg):
        if op == 6 and self.fail:
            raise OSError(5)
        return self.inner.ioctl(op, arg)


def _flaky_app(segment_bytes=600):
    from board.blockdev import RAMBlockDevice
    from fwkit import Flash, make_app, put_seed
    raw = RAMBlockDevice(512, 128)
    flash = Flash(dev=raw)
    put_seed(flash.root)
    dev = Flaky(raw)
    flash.remount(dev)
    # every signing written at once (flush_records 1): the failing segment append is the case
    app = make_app(flash, seed=None, debounce_s=0, reserve_bytes=0, segment_bytes=segment_bytes,
                   flush_records=1)
    return flash, dev, app


def _replay_stale_commits():
    import gc
    import persist
    persist.release()
    gc.collect()


def _micropython_only():
    if not MICROPYTHON:  # LittleFS on a device: the [micropython] item runs it
        raise __import__("unittest").SkipTest("MicroPython only")


def test_failed_tail_write_cannot_come_back_later():
    _micropython_only()
    from fwkit import make_app, uid
    flash, dev, app = _flaky_app()
    try:
        assert app.tap(uid(1))["seq"] == 1
        dev.fail = True
        assert app.tap(uid(2))["event"] == "error"
        dev.fail = False
        got = app.tap(uid(3))
        assert got["seq"] == 2
        promised = app.journal.pending[-1]
        _replay_stale_commits()  # the failed tail file commits its stale content now
        app.journal.close()
        flash.remount()
        again = make_app(flash, seed=None, debounce_s=0, reserve_bytes=0)
        records = again.journal.read(1, 5)
        from protocol import record as rec
        assert len(records) == 2 and rec.split(records[1])[0] == promised
        assert rec.decode(records[1]).uid == uid(3)
    finally:
        flash.close()

def test_failed_segment_append_loses_nothing_when_replayed():
    _micropython_only()
    from fwkit import chain_ok, make_app, uid
    from protocol import record as rec
    flash, dev, app = _flaky_app(16000)  # later records go to the same segment
    try:
        for i in range(3):
            app.tap(uid(i))
        app.sign_pending(8)
        app.tap(uid(10))
        dev.fail = True
        assert app.sign_pending(8) == 0 and "signatures" in app.err
        dev.fail = False
        for i in range(11, 20):
            assert app.tap(uid(i))["event"] == "recorded"
            app.sign_pending(8)
        _replay_stale_commits()  # the failed writer's commit replays now
        app.journal.close()
        flash.remount()
        again = make_app(flash, seed=None, debounce_s=0, reserve_bytes=0)
        records = again.journal.read(1, 50)
        assert [rec.decode(r).seq for r in records] == list(range(1, 14))
        assert chain_ok(records) and again.journal.pending == []
    finally:
        flash.close()
