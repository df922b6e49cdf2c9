# Mutation fuzzer for the firmware's own input handling, run inside the micropython binary.
# usage (from the repo root; fwkit from tests/test_firmware, as test_fuzz_firmware_micropython.py
# runs it):
#   MICROPYPATH=.frozen:tests/test_firmware:.:firmware micropython tests/test_fuzz_surfaces/mpy_fw_fuzz.py CASES SEED
#
# Targets (a share of CASES each):
#   link     mutated frame streams (every agent frame type, records, health, noise, long
#            lines) fed in random chunks to the real App's Link core on a LittleFS in RAM
#   journal  a real journal's files (segments, tail, watermarks) mutated, then Journal.open:
#            recovery must succeed or raise JournalError, and the journal must work after
#   blobs    persist.read_blob, the blocked-card list, the boot counter, the key file and
#            config.load on mutated bytes: only their own typed errors
# Nothing else may escape; the link's decoder buffer stays bounded; after all of it the same
# App still records a tap, answers a query with health, and slides its window on an ack.
# Prints "fwfuzz: N cases (link L, journal J, blobs B), ..." or "CRASH <target> ..." (exit 1).
import gc
import json
import os
import random
import sys
from binascii import hexlify

import persist
from fwkit import Flash, make_app, payload, fake_signed, uid
from journal import Journal, JournalError
from linkport import Link
from protocol import link
from protocol import record as rec

RID = b"R" * 8


def mutate(data):
    data = bytearray(data)
    for _ in range(random.randint(0, 8)):
        op = random.randint(0, 4)
        pos = random.randint(0, len(data))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = random.getrandbits(8)
        elif op == 1:
            data[pos:pos] = bytes(random.getrandbits(8) for _ in range(random.randint(1, 8)))
        elif op == 2:
            data[pos:pos + random.randint(1, 16)] = b""
        elif op == 3 and data:
            data[min(pos, len(data) - 1)] ^= 1 << random.randint(0, 7)
        else:
            data = data[:pos]
    return bytes(data)


def no_ctrl_c(data):
    # 0x03 is the console's interrupt (mpremote's break-in), not link input: SPEC §3
    return bytes(b for b in data if b != 3)


# -- link ------------------------------------------------------------------------------

def link_seeds(app):
    rid = app.reader_id
    signed = app.journal.signed_upto
    lines = [
        link.encode_ack(rid, signed, signed - 1),
        link.encode_ack(rid, signed + 5, 0),
        link.encode_ack(b"\x00" * 8, 3, 3),
        link.encode_time(1790000000123),
        link.encode(link.QUERY),
        link.encode_inject(1, uid(77)),
        link.encode(link.BLOCKED, b"\x00\x04\x04\x01\x02\x03\x07" + uid(5)),
        link.encode(link.BLOCKED, b"\x01\x07" + uid(6)),
        link.encode_rewind(rid, 1),
        link.encode(link.RECORD, app.journal.read(1, 1)[0]),
        link.encode(link.HEALTH, b'{"rid": "00", "fw": "x"}'),
        b"MicroPython v1.29 on linux\r\n>>> \r\n",
        b"Traceback (most recent call last):\n  File \"<stdin>\", line 1\n",
        b"~" + b"A" * 700 + b"\n",
        b"x" * 900,
    ]
    return lines


def fuzz_link(app, lnk, seeds, now):
    k = random.randint(1, 4)
    stream = b"".join(seeds[random.randint(0, len(seeds) - 1)] for _ in range(k))
    data = no_ctrl_c(mutate(stream))
    i = 0
    while i < len(data):
        n = random.randint(1, 300)
        lnk.feed(data[i:i + n], now)
        if len(lnk.decoder._buf) > link.MAX_LINE + n + 1:
            raise AssertionError("link buffer grew to {}".format(len(lnk.decoder._buf)))
        i += n
        for line in lnk.poll(now):
            if not line.startswith(b"~") or not line.endswith(b"\n") or len(line) > link.MAX_LINE + 1:
                raise AssertionError("reader wrote a non-frame line {}".format(line[:60]))
    return len(data)


def link_still_works(app, lnk, now):
    lnk.feed(link.encode(link.BLOCKED, b"\x00"), now)  # an empty list: no card blocked
    ev = app.tap(uid(60000 + random.randint(0, 999)))
    if ev["event"] not in ("recorded", "warning"):
        raise AssertionError("tap after fuzzing gave {}".format(ev))
    while app.sign_pending(8):
        pass
    lnk.feed(link.encode(link.QUERY), now + 1)
    frames = decode_lines(lnk.poll(now + 1))
    health = [f for f in frames if f.type == "H"]
    if not health:
        raise AssertionError("no health frame after a query")
    h = link.decode_json(health[0].body)
    if h["seq"] != app.journal.last_seq or h["rid"] != rec.hexlify(app.reader_id):
        raise AssertionError("health after fuzzing is wrong: {}".format(h))
    top = app.journal.signed_upto
    lnk.feed(link.encode_ack(app.reader_id, top, top), now + 2)
    if app.journal.agent_wm != top or app.journal.hub_wm != top:
        raise AssertionError("ack after fuzzing not applied: wm {} {} top {} last {} err {}".format(
            app.journal.agent_wm, app.journal.hub_wm, top, app.journal.last_seq, app.err))


def decode_lines(lines):
    d = link.LinkDecoder()
    for line in lines:
        d.feed(line)
    out = []
    while True:
        m = d.next_message()
        if m is link.NEED_DATA:
            return out
        out.append(m)


# -- journal recovery ------------------------------------------------------------------

def _walk(path, out):
    for name in os.listdir(path):
        full = path + "/" + name
        if os.stat(full)[0] & 0x4000:
            _walk(full, out)
        else:
            with open(full, "rb") as f:
                out[full] = f.read()
    return out


def journal_seed(flash):
    j = Journal(flash.root + "/jseed", capacity=500, segment_bytes=600, reserve_bytes=0).open(RID)
    for _ in range(14):
        j.append(payload(j.last_seq + 1, j.last_hash, reader_id=RID))
    j.add_signed([fake_signed(p) for p in j.unsigned(11)])
    j.set_watermarks(6, 3)
    j.close()
    files = _walk(flash.root + "/jseed", {})
    base = flash.root + "/jseed"
    return dict((k[len(base):], v) for k, v in files.items())


def clear(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        full = path + "/" + name
        if os.stat(full)[0] & 0x4000:
            clear(full)
            os.rmdir(full)
        else:
            os.remove(full)


def fuzz_journal(flash, seed_files):
    base = flash.root + "/jf"
    clear(base)
    persist.make_dirs(base + "/seg")
    persist.make_dirs(base + "/tail")
    names = list(seed_files)
    victims = [names[random.randint(0, len(names) - 1)] for _ in range(random.randint(1, 3))]
    for name, data in seed_files.items():
        if name in victims:
            if random.randint(0, 5) == 0:
                continue  # the file is gone
            data = mutate(data)
        with open(base + name, "wb") as f:
            f.write(data)
    if random.randint(0, 7) == 0:  # a stray file where the journal looks
        stray = ["/seg/0000000x.seg", "/seg/99999999.seg", "/tail/abc", "/tail/7", "/wm.3.tmp"]
        with open(base + stray[random.randint(0, len(stray) - 1)], "wb") as f:
            f.write(mutate(seed_files[names[0]]))
    j = Journal(base, capacity=500, segment_bytes=600, reserve_bytes=0)
    try:
        j.open(RID)
    except JournalError:
        return "refused"
    # invariants of a recovered journal
    if j.last_seq < max(j.agent_wm, j.hub_wm) or j.signed_upto < 0:
        raise AssertionError("recovered journal inconsistent: last {} wm {} {}".format(
            j.last_seq, j.agent_wm, j.hub_wm))
    for k, p in enumerate(j.pending):
        if journal_seq(p) != j.signed_upto + 1 + k:
            raise AssertionError("unsigned records not in sequence after recovery")
    got = j.read(j.first_held(), 50)
    for r in got:
        rec.decode(r)  # what the journal offers must be a well-formed record
    j.append(payload(j.last_seq + 1, j.last_hash, reader_id=RID))
    j.add_signed([fake_signed(p) for p in j.unsigned(50)])
    if j.read(j.last_seq, 1) == [] and not j.err:
        raise AssertionError("a new record could not be read back after recovery")
    j.close()
    return "recovered"


def journal_seq(p):
    import struct
    return struct.unpack_from("<I", p, 10)[0]


# -- blobs -----------------------------------------------------------------------------

def fuzz_blobs(flash, seeds):
    import blocked
    import bootcount
    import config
    import keys
    kind = random.randint(0, 4)
    data = mutate(seeds[kind])
    path = flash.root + "/blob{}".format(kind)
    with open(path, "wb") as f:
        f.write(data)
    if kind == 0:
        got = persist.read_blob(path)
        if got is not None and not isinstance(got, bytes):
            raise AssertionError("read_blob returned {}".format(type(got)))
    elif kind == 1:
        lst = blocked.BlockedList(path)
        try:
            lst.apply(mutate(seeds[1][4:-4] if len(seeds[1]) > 8 else b"\x00"))
        except blocked.BlockedError:
            pass
        lst.contains(uid(5))
    elif kind == 2:
        boot = bootcount.next_boot(path)
        if not 1 <= boot <= 0xFFFF:
            raise AssertionError("boot counter {}".format(boot))
    elif kind == 3:
        persist.make_dirs(flash.root + "/k/data")
        with open(flash.root + "/k" + keys.SEED_PATH, "wb") as f:
            f.write(data)
        try:
            keys.load_seed(flash.root + "/k")
        except keys.KeysError:
            pass
    else:
        cfg, err = config.load(path)
        if not isinstance(cfg, dict):
            raise AssertionError("config.load returned {}".format(cfg))


def blob_seeds():
    import binascii
    import struct

    def blob(body):
        return bytes(body) + struct.pack("<I", binascii.crc32(body) & 0xFFFFFFFF)
    entries = b"\x04\x01\x02\x03\x04" + b"\x00" * 6
    return [blob(b"\x05\x00\x00\x00\x07\x00\x00\x00"), blob(b"\x00\x04\x01\x02\x03\x04"),
            blob(b"\x07\x00"), blob(bytes(range(32))),
            json.dumps({"label": "R-1", "station": "S-1", "debounce_s": 10}).encode() + entries]


def main():
    cases = int(sys.argv[1])
    random.seed(int(sys.argv[2]))
    flash = Flash(block_size=512, blocks=512)
    counts = {"link": 0, "journal": 0, "blobs": 0, "recovered": 0, "refused": 0}
    try:
        app = make_app(flash, debounce_s=0)
        for i in range(12):
            app.tap(uid(i + 1))
        while app.sign_pending(8):
            pass
        lnk = Link(app, window=4, resend_ms=1000, idle_resend_ms=20000, agent_timeout_ms=5000,
                   health_ms=30000)
        app.link = lnk
        seeds = link_seeds(app)
        jseed = journal_seed(flash)
        bseeds = blob_seeds()
        gc.collect()
        heap0 = gc.mem_free()
        now = 0
        target = None
        data = b""
        for i in range(cases):
            target = ("link", "link", "journal", "blobs")[i % 4]
            now += random.randint(0, 2000)
            if target == "link":
                data = fuzz_link(app, lnk, seeds, now)
            elif target == "journal":
                counts[fuzz_journal(flash, jseed)] += 1
            else:
                fuzz_blobs(flash, bseeds)
            counts[target] += 1
            if i % 500 == 499:
                link_still_works(app, lnk, now)
        link_still_works(app, lnk, now + 10)
        gc.collect()
        lost = heap0 - gc.mem_free()
        if lost > 96 * 1024:
            raise AssertionError("heap shrank by {} bytes over the run".format(lost))
        print("fwfuzz: {} cases (link {}, journal {}, blobs {}); journal recovered {}, refused {};"
              " link bad frames {}, noise {}, refused {}; heap change {} bytes".format(
                  cases, counts["link"], counts["journal"], counts["blobs"], counts["recovered"],
                  counts["refused"], lnk.decoder.bad_frames, lnk.decoder.noise_lines,
                  lnk.refused, lost))
    except Exception as exc:
        print("CRASH", target, type(exc).__name__, exc)
        sys.print_exception(exc)
        print("input", hexlify(data) if isinstance(data, bytes) else data)
        sys.exit(1)
    finally:
        flash.close()


main()
