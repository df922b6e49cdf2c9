# dual: micropython
# Feedback first (issue 16): the signer task signs while taps come, but its flash work (a
# segment write, watermarks, the journal's idle erase) waits until quiet_ms have passed
# without a tap, so a tap never waits behind an erase. Order of events on the ticks_ms
# clock, not wall-time figures: every flash work starts >= quiet_ms after the tap before it,
# and all of it is done once the taps stop. MicroPython only (App's tasks use its asyncio:
# sleep_ms, wait_for_ms); on CPython this file defines no tests.
import sys

MICROPYTHON = sys.implementation.name == "micropython"
QUIET_MS = 300


def _micropython_only():
    if not MICROPYTHON:
        raise __import__("unittest").SkipTest("MicroPython only")


def _log_flash_work(journal, events, ticks_ms):
    # journal calls that write flash, logged as (ms, name) when they start (upkeep: when it
    # erased or committed something)
    for name in ("flush", "save_watermarks", "store_watermarks", "upkeep"):
        fn = getattr(journal, name, None)
        if fn is None:
            continue

        def logged(*args, _fn=fn, _name=name):
            t = ticks_ms()
            got = _fn(*args)
            if _name != "upkeep" or got:
                events.append((t, _name))
            return got
        setattr(journal, name, logged)


def _run(app, taps, gap_ms, deadline_ms):
    # taps gap_ms apart, the agent acking what is signed after each; then wait until every
    # record is in a segment and the watermarks are on flash
    import asyncio
    from fwkit import uid
    from protocol.compat import ticks_diff, ticks_ms
    j = app.journal
    tapped, peak = [], [0]

    async def main():
        app._signal = asyncio.Event()
        signer = asyncio.create_task(app._signer())
        try:
            for i in range(taps):
                tapped.append(ticks_ms())
                assert app.tap(uid(i + 1))["event"] == "recorded"
                s = j.signed_upto
                app.apply_ack(s, s)
                peak[0] = max(peak[0], len(j.unflushed))
                await asyncio.sleep_ms(gap_ms)
                peak[0] = max(peak[0], len(j.unflushed))
            start = ticks_ms()
            while j.pending or j.unflushed or j._wm_written != (j.agent_wm, j.hub_wm) or \
                    j.agent_wm < j.last_seq:
                assert ticks_diff(ticks_ms(), start) < deadline_ms, "flash work never done"
                s = j.signed_upto
                app.apply_ack(s, s)
                await asyncio.sleep_ms(20)
        finally:
            signer.cancel()
            await asyncio.sleep_ms(0)

    asyncio.run(main())
    return tapped, peak[0]


def _scale():
    import os
    try:
        return float(os.getenv("TAPCERT_TIMEOUT_SCALE") or 1)
    except ValueError:
        return 1.0


def test_flash_work_waits_for_a_quiet_moment_and_is_all_done_after_the_taps():
    _micropython_only()
    from fwkit import Flash, chain_ok, make_app, verify
    from protocol import record as rec
    from protocol.compat import ticks_diff, ticks_ms

    flash = Flash()
    try:
        # 512-byte blocks: each raw page block holds one tap, so taps fill blocks that the
        # idle upkeep erases; 4 signed records per segment write; acks written at once
        # (and the last few, fewer than 4, after flush_s without a tap)
        app = make_app(flash, bdev=flash.raw, raw_pages=16, flush_records=4, sign_batch=2,
                       wm_records=1, quiet_ms=QUIET_MS, flush_s=2 * _scale())
        j = app.journal
        assert j.raw is not None
        events = []
        _log_flash_work(j, events, ticks_ms)
        tapped, peak = _run(app, 12, 20, int(30000 * _scale()))
        assert len(tapped) == 12
        names = [name for _, name in events]
        assert "flush" in names and "save_watermarks" in names and "upkeep" in names, names
        for t, name in events:
            before = [x for x in tapped if ticks_diff(t, x) >= 0]
            if before:  # flash work starts only quiet_ms after the last tap
                assert ticks_diff(t, before[-1]) >= QUIET_MS, (name, ticks_diff(t, before[-1]))
        # signing went on between the taps, held in RAM no longer than before the change
        assert 1 <= peak <= j.flush_records + 2 - 1, peak
        records = j.read(1, 20)
        assert [rec.peek_seq(r) for r in records] == list(range(1, 13))
        assert chain_ok(records)
        for r in records:
            verify(app.public_key, r)
        assert j.unflushed == [] and j.segs[-1][2] == 12
    finally:
        flash.close()


def test_a_stream_of_taps_puts_flash_work_off_for_flush_s_at_most():
    _micropython_only()
    from fwkit import Flash, make_app
    from protocol.compat import ticks_diff, ticks_ms

    flash = Flash()
    try:
        # taps never leave quiet_ms: the signed records still go to a segment, flush_s after
        # the work was first put off, while the taps go on
        app = make_app(flash, flush_records=2, sign_batch=2, wm_records=1, quiet_ms=60000,
                       flush_s=0.3)
        events = []
        _log_flash_work(app.journal, events, ticks_ms)
        tapped, peak = _run(app, 40, 25, int(30000 * _scale()) + 60000)
        flushes = [t for t, name in events if name == "flush"]
        assert flushes and ticks_diff(tapped[-1], flushes[0]) > 0, "no flush while tapping"
        assert peak <= app.journal.flush_records + 2 - 1
    finally:
        flash.close()
