# small_heap_scenario: the firmware boots, takes 200 taps, signs them for real and hands
# them over the link, acked window by window. test_small_heap.py runs it inside a 128 KiB
# MicroPython heap from .mpy files, as a small board runs it; the flash is a file-backed
# LittleFS (outside the heap), as on the virtual reader. Prints "OK <heap figures>".
import sys

from fwkit import MICROPYTHON, Flash, make_app, uid  # noqa: E402


def _flash():
    if not MICROPYTHON:
        return Flash(), None
    import os
    from board.blockdev import FileBlockDevice
    path = "tapcert-smallheap.img"  # in the working directory (the test's temp dir)
    try:
        os.remove(path)
    except OSError:
        pass
    dev = FileBlockDevice(path, 4096, 128)
    return Flash(dev=dev), (dev, path)


def _agent(lnk, now, state, hub_lag):
    # what the station agent does with the lines: check order, ack each record. The agent
    # runs on a Pi, not in this heap: it reads only what it must here (the seq, from the
    # first 20 base64 characters of an R line), so the heap the run measures is the
    # reader's. The link's own decoding is tested in test_link and against the real agent.
    import binascii
    import struct
    from protocol import link
    for line in lnk.poll(now):
        if line[1] != 0x52:  # "R"
            continue
        seq = struct.unpack_from("<I", binascii.a2b_base64(memoryview(line)[3:23]), 10)[0]
        assert seq == state[0], (seq, state[0])
        state[0] += 1
        lnk.feed(link.encode_ack(lnk.app.reader_id, seq, max(0, seq - hub_lag)), now)


def run(margin=0):
    # margin: bytes taken from the heap after boot (in 256-byte pieces, as fragments are)
    # and held for the whole run: the scenario must pass with them gone
    flash, file_dev = _flash()
    try:
        import signtable
        signtable.prepare(flash.root + signtable.PATH)  # as main.py does, heap still empty
        app = make_app(flash, debounce_s=0, reserve_bytes=8192, segment_bytes=16320)
        from linkport import Link
        from protocol import link
        lnk = Link(app, window=8)
        app.link = lnk
        taken = [bytearray(256 - 16) for _ in range(margin // 256)]
        state = [1]  # the next seq the agent expects
        now = 0
        for i in range(200):
            assert app.tap(uid(i))["event"] == "recorded"
            if i % 4 == 3:
                app.sign_pending(4)
            now += 50
            _agent(lnk, now, state, 8)
        while app.sign_pending(8):
            pass
        for _ in range(3):
            now += 50
            _agent(lnk, now, state, 0)
        assert state[0] == 201
        lnk.feed(link.encode_ack(app.reader_id, 200, 200), now)  # the hub's ack comes back
        assert app.journal.agent_wm == 200 and app.journal.hub_wm == 200
        assert app.health()["unsynced"] == 0
        import gc
        gc.collect()
        print("OK heap_used={} heap_free={} margin={}".format(gc.mem_alloc(), gc.mem_free(),
                                                             len(taken) * 256))
    finally:
        flash.close()
        if file_dev is not None:
            import os
            file_dev[0].close()
            os.remove(file_dev[1])


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
