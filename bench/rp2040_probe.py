# rp2040_probe: the chip side of bench/firmware_rp2040_bench.py, installed as /main.py of an
# emulated RP2040 (stock MicroPython, the firmware as .mpy). It boots the real App on the
# real rp2 board and the chip's own LittleFS, then measures with time.ticks_us(), which on
# the emulated chip is the emulator's clock (emulated time, never wall time).
#
# Output lines on the USB console: "R <json>" results, "SYNC <name>" then it waits for one
# byte from the host (which reads the runner's flash erase counters meanwhile), "DONE".
# Phase sizes come from /probe.json: {"sign": N, "rounds": R, "heap_taps": T,
# "steady_taps": S}.
import gc
import json
import sys
import time

ticks_us = time.ticks_us
diff = time.ticks_diff


def out(kind, **fields):
    fields["kind"] = kind
    sys.stdout.write("R " + json.dumps(fields) + "\n")


def sync(name):
    sys.stdout.write("SYNC " + name + "\n")
    sys.stdin.buffer.read(1)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, len(xs) * p // 100)] if xs else 0


def summary(xs):
    return {"n": len(xs), "median_us": pct(xs, 50), "p99_us": pct(xs, 99),
            "max_us": max(xs) if xs else 0}


def uid(i):
    return bytes((0x04, 0, 0, 0, 0, (i >> 8) & 0xFF, i & 0xFF))


try:
    with open("/probe.json") as f:
        SIZES = json.loads(f.read())
except OSError:
    SIZES = {}

import ballast  # noqa: E402

ballast.take()  # as main.py: an ESP32 heap budget when the bench wrote /ballast (--budget)
import signtable  # noqa: E402

signtable.prepare()  # as main.py: the table to flash first, while the heap is empty
del signtable
gc.collect()
import app as appmod  # noqa: E402
import config  # noqa: E402
from board import make_board  # noqa: E402


def rawstat(since=None):
    # the raw tap log's [pages programmed, blocks erased, erased pages left] (since a
    # snapshot: the first two as differences); None without one (tail slots only)
    raw = App.journal.raw
    if raw is None:
        return None
    now = [raw.pages, raw.erases, raw.free_pages()]
    if since:
        now[0] -= since[0]
        now[1] -= since[1]
    return now


cfg, err = config.load()
App = appmod.App(cfg, make_board(cfg)).start()
gc.collect()
out("boot", heap_free=gc.mem_free(), heap_used=gc.mem_alloc() - ballast.size, err=App.err,
    raw=rawstat(),
    table=sys.modules.get("signtable") is not None, ballast=ballast.size,
    thumb="protocol.ed25519_thumb" in sys.modules)


def sign_phase(n):
    signer = App.signer
    from protocol import ed25519 as ed
    from protocol.sha512 import sha512
    total = []
    parts = {"hash_r": [], "comb": [], "encode": [], "hash_k": []}
    for i in range(n):
        msg = bytes((i & 0xFF,)) * 52
        t0 = ticks_us()
        signer.sign(msg)
        total.append(diff(ticks_us(), t0))
    for i in range(min(n, 20)):  # where a signature's time goes (same steps as sign_steps)
        msg = bytes((i & 0xFF,)) * 52
        t0 = ticks_us()
        r = int.from_bytes(sha512(signer._prefix + msg), "little") % ed.L
        t1 = ticks_us()
        state = ed.comb_start(r)
        ed.comb_run(state, 1, 32)
        t2 = ticks_us()
        R = ed.encode_point(state[0], state[1], state[2])
        t3 = ticks_us()
        sha512(R + signer.public_key + msg)
        t4 = ticks_us()
        for k, a, b in (("hash_r", t0, t1), ("comb", t1, t2), ("encode", t2, t3), ("hash_k", t3, t4)):
            parts[k].append(diff(b, a))
    out("sign", **summary(total), parts={k: pct(v, 50) for k, v in parts.items()})


HELD = []  # (start us, end us, name) of work other tasks held the loop for, >= 2 ms


def held_by(name, fn):
    # fn timed: a call that held the event loop >= 2 ms is kept in HELD (latency phase)
    def timed(*args):
        t0 = ticks_us()
        try:
            return fn(*args)
        finally:
            took = diff(ticks_us(), t0)
            if took >= 2000 and len(HELD) < 400:
                HELD.append((t0, took, name))
    return timed


def instrument():
    # which task held the loop: the signer's slices, its gc.collect, the journal's segment
    # writes, watermark blobs, idle erases; -> a function that undoes it
    journal = App.journal
    signer = App.signer
    saved = [(journal, k, getattr(journal, k)) for k in (
        "add_signed", "flush", "upkeep", "set_watermarks", "save_watermarks", "free")]
    saved.append((signer, "sign_steps", signer.sign_steps))
    saved.append((appmod, "gc", appmod.gc))
    for obj, k, fn in saved[:6]:
        setattr(obj, k, held_by(k, fn))
    steps = signer.sign_steps

    def timed_steps(payload):
        it = steps(payload)
        while True:
            t0 = ticks_us()
            try:
                v = next(it)
            except StopIteration:
                return
            took = diff(ticks_us(), t0)
            if took >= 2000 and len(HELD) < 400:
                HELD.append((t0, took, "sign_slice"))
            yield v

    signer.sign_steps = timed_steps

    class GC:
        collect = staticmethod(held_by("gc_collect", gc.collect))
        mem_free = staticmethod(gc.mem_free)
        mem_alloc = staticmethod(gc.mem_alloc)

    appmod.gc = GC

    def undo():
        for obj, k, fn in saved:
            setattr(obj, k, fn)
    return undo


def blockers(due, start):
    # the held work that overlapped [due, start]: the loop was not free when the tap was due
    out = []
    for t0, took, name in HELD:
        if diff(time.ticks_add(t0, took), due) > 0 and diff(start, t0) > 0:
            out.append([name, took])
    return out


def latency_phase(rounds):
    # A backlog of 50 taps, then 20 more taps while the signer task works it off (and an
    # agent acks every 0.4 s). A tap "arrives" at a scheduled instant (as the NFC task's
    # poll would return a UID); feedback = tap() returned. journaled = tap() start to
    # journal.append() returned (the tail commit).
    import asyncio
    import persist
    journal = App.journal
    feedback, journaled, backlog_tap, slow, paced = [], [], [], [], []
    state = {"start": 0, "parts": None}
    append = journal.append
    write_file = persist.write_file

    def timed_write_file(path, data):  # where a slow tail write spends its time
        t0 = ticks_us()
        f = open(path, "wb")
        t1 = ticks_us()
        f.write(data)
        t2 = ticks_us()
        f.close()
        t3 = ticks_us()
        state["parts"] = (diff(t1, t0), diff(t2, t1), diff(t3, t2))

    def timed_append(payload):
        state["parts"] = None
        seq = append(payload)
        took = diff(ticks_us(), state["start"])
        journaled.append(took)
        if took > 30000:
            slow.append((took, state["parts"]))
        return seq

    persist.write_file = timed_write_file

    journal.append = timed_append
    raw0 = rawstat()

    def tap(i):
        state["start"] = ticks_us()
        App.tap(uid(i))

    waits = []  # slow taps: [feedback us, [work the loop was held for meanwhile]]
    undo = instrument()

    async def acker():
        while True:
            await asyncio.sleep_ms(400)
            s = journal.signed_upto
            try:
                App.apply_ack(s, s - 8 if s > 8 else 0)
            except Exception:
                pass

    async def main():
        App._signal = asyncio.Event()
        signer = asyncio.create_task(App._signer())
        ack = asyncio.create_task(acker())
        n = 0
        for rnd in range(rounds):
            for i in range(50):
                t0 = ticks_us()
                tap(n)
                backlog_tap.append(diff(ticks_us(), t0))
                n += 1
            App._signal.set()
            for k in range(20):
                due = time.ticks_add(ticks_us(), 45000 + (k * 7919) % 30000)
                while diff(due, ticks_us()) > 2000:
                    await asyncio.sleep_ms(1)
                while diff(due, ticks_us()) > 0:
                    pass
                tap(n)  # due may have passed while another task held the loop
                took = diff(ticks_us(), due)
                feedback.append(took)
                if took > 10000:
                    waits.append([took, blockers(due, state["start"])])
                paced.append(journaled[-1])
                n += 1
            while journal.pending:
                await asyncio.sleep_ms(20)
        signer.cancel()
        ack.cancel()
        await asyncio.sleep_ms(0)

    asyncio.run(main())
    undo()
    journal.append = append
    persist.write_file = write_file
    App.flush()
    slow.sort()
    held = {}  # name -> [count, max us] of the work that held the loop >= 2 ms
    for _, took, name in HELD:
        h = held.setdefault(name, [0, 0])
        h[0] += 1
        h[1] = max(h[1], took)
    waits.sort()
    pacer = getattr(journal, "pacer", None)
    out("latency", taps=len(journaled), feedback=summary(feedback), journaled=summary(journaled),
        journaled_paced=summary(paced), backlog_taps=summary(backlog_tap), err=App.err,
        raw=rawstat(raw0),  # [pages programmed, blocks erased, erased pages left]
        pacer=[pacer.ahead, pacer.missed, pacer.on_tap, pacer.period] if pacer else None,
        slow_appends=[[t, p] for t, p in slow[-6:]],  # [us, [open, write, close us]]
        held=held, slow_waits=waits[-8:])  # the 8 slowest taps > 10 ms and what held the loop
    gc.collect()
    t0 = ticks_us()
    gc.collect()
    out("gc", collect_us=diff(ticks_us(), t0), heap_free=gc.mem_free())


def steady_phase(taps):
    # A reader tapped now and then (no backlog): a tap every 0.4-0.8 s while the signer
    # task signs each one and the journal's upkeep runs between taps. feedback = tap()
    # returned after its scheduled instant; journaled = tap() start to the tail commit.
    import asyncio
    journal = App.journal
    append = journal.append
    feedback, journaled = [], []
    state = {"start": 0}

    def timed_append(payload):
        seq = append(payload)
        journaled.append(diff(ticks_us(), state["start"]))
        return seq

    journal.append = timed_append
    raw0 = rawstat()

    async def main():
        App._signal = asyncio.Event()
        signer = asyncio.create_task(App._signer())
        for k in range(taps):
            due = time.ticks_add(ticks_us(), 400000 + (k * 7919) % 400000)
            while diff(due, ticks_us()) > 2000:
                await asyncio.sleep_ms(1)
            while diff(due, ticks_us()) > 0:
                pass
            state["start"] = ticks_us()
            App.tap(uid(40000 + k))
            feedback.append(diff(ticks_us(), due))
            if k % 8 == 7:
                s = journal.signed_upto
                App.apply_ack(s, s)
        while journal.pending:
            await asyncio.sleep_ms(20)
        signer.cancel()
        await asyncio.sleep_ms(0)

    asyncio.run(main())
    journal.append = append
    App.flush()
    pacer = getattr(journal, "pacer", None)  # [ahead, idle commits spent, paid by taps, period]
    out("steady", taps=len(journaled), feedback=summary(feedback), journaled=summary(journaled),
        err=App.err, raw=rawstat(raw0),
        pacer=[pacer.ahead, pacer.missed, pacer.on_tap, pacer.period] if pacer else None)


def heap_phase(taps):
    gc.collect()
    before = gc.mem_free()
    base = 20000
    for i in range(taps):
        App.tap(uid(base + i))
        App.sign_pending(4)
        if i % 8 == 7:
            s = App.journal.signed_upto
            App.apply_ack(s, s)
    App.flush()
    gc.collect()
    out("heap", taps=taps, free_before=before, free_after=gc.mem_free(),
        lost=before - gc.mem_free(), err=App.err)


sync("sign")
sign_phase(SIZES.get("sign", 50))
sync("latency")
latency_phase(SIZES.get("rounds", 2))
sync("steady")
steady_phase(SIZES.get("steady_taps", 60))
sync("heap")
heap_phase(SIZES.get("heap_taps", 100))
sync("end")
sys.stdout.write("DONE\n")
