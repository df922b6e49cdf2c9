# app: the reader. tap -> journal -> feedback -> sign -> offer to the agent.
#
# tap() is synchronous and is the whole path to the learner's feedback: debounce, blocked
# list, build the record, journal it (one flash commit), feedback. Signing and the link run
# as asyncio tasks next to it (run()): the signer signs journaled records in seq order and
# appends them to the journal's segments, the link offers them to the agent. Other tasks:
# the tap source (NFC poll on boards, the card field on unix), the board's feedback
# patterns, the watchdog. Every task survives its own errors (counted, shown in the health
# frame); only KeyboardInterrupt ends run(), so mpremote can break in.
import gc
import sys

import linkport
import persist
from debounce import Debounce
from feedback import Feedback
from journal import Journal, JournalError, JournalFull
from protocol import ed25519  # noqa: F401  (long-lived code first: a compact heap)
from protocol import record as rec
from protocol.compat import ticks_diff, ticks_ms
from version import FW_VERSION

_TASK_RETRY_S = 1
_OOM_BACKOFF_MS = 200  # after a MemoryError survived: let the other tasks free their garbage
_WATCHDOG_CHECK_MS = 100
_RANDOM_UID = 0x08   # ISO 14443-3: a 4-byte UID starting 08 is random, made anew each time
_CASCADE_TAG = 0x88  # never the first byte of a real UID
_BOOT_ONLY = ("bootcount", "keys", "signtable", "config")
# The reader's state lives under /data: a folder named like a module (/journal, /keys)
# would shadow that module for `import` (the current directory "/" is first on sys.path).
DATA = "/data"
_BLOCKED = "/data/blocked.bin"


class App:
    def __init__(self, config, board, root="", bdev=None):
        self.config = config
        self.board = board
        self.root = root
        self.test_mode = bool(config.get("test_mode"))
        self.signer = None
        self.public_key = None
        self.reader_id = None
        self.boot = 0
        self.ready = False   # key present and journal open: taps can be recorded
        self.err = None      # last problem, for the health frame
        self.errors = 0
        self.memory_errors = 0  # MemoryErrors survived (health "oom"): a heap too small or cut up
        self.taps = 0
        self._again = False  # a tap lost to MemoryError: the card resting is read again
        if bdev is None and not root:
            # the block device under "/" (a board's flash, an ESP32's vfs partition), for
            # the journal's raw tap log: a tap then programs a page and opens no file
            import rawlog
            bdev = rawlog.device()
        self.journal = Journal(root + config["journal_dir"], config["journal_capacity"],
                               config["segment_bytes"], config["warn_pct"],
                               config["pressure_pct"], config["reserve_bytes"],
                               config["flush_records"], config["wm_records"],
                               bdev, config["raw_pages"])
        self.debounce = Debounce(int(config["debounce_s"] * 1000))
        self.blocked = None  # the blocked-card list, loaded when there is one
        self.feedback = Feedback(board.feedback)
        self.link = None
        self._signal = None
        self._beats = {}  # task name -> progress seen since the last watchdog feed
        self._up_ms = 0
        self._up_last = ticks_ms()
        self._tap_ms = None    # when the last tap came (the signer's flash work waits)
        self._put_off = None   # since when flash work has waited for a quiet moment
        self._wm_due = False   # an ack's watermarks wait for a quiet moment to go to flash
        self._garbage = False  # records signed since the last gc.collect

    # -- boot -------------------------------------------------------------------------

    def start(self):
        """Boot counter, key, journal recovery, signing what a power cut left unsigned."""
        import bootcount
        import keys
        import signtable
        persist.make_dirs(self.root + DATA)
        self.boot = bootcount.next_boot(self.root + DATA + "/boot.bin")
        if persist.exists(self.root + _BLOCKED):
            self._blocked_list()
        table = self.config.get("sign_table", "auto")
        if signtable.wanted(table):
            try:
                signtable.install(self.root + signtable.PATH)
            except (OSError, MemoryError) as exc:
                self.note("signing table stays in RAM: {!r}".format(exc))
                table = "ram"
        try:
            if keys.load_seed(self.root) is None and self.config.get("auto_keygen"):
                keys.generate(root=self.root, journal_dir=self.config["journal_dir"], quiet=True)
            self.signer = keys.signer(self.root, table)
        except keys.KeysError as exc:
            self.note(str(exc))
        del bootcount, keys, signtable  # dropped before recovery, the boot's peak of heap
        _drop_boot_modules()
        if self.signer is None:
            self.note(self.err or "reader has no key: provision it (import keys; keys.generate())")
        else:
            self.public_key = self.signer.public_key
            self.reader_id = rec.reader_id_from_public_key(self.public_key)
            try:
                self.journal.open(self.reader_id)
                self.ready = True
            except (JournalError, OSError, MemoryError) as exc:
                self.note("journal unusable: {}".format(exc))
            if self.journal.err:
                self.note(self.journal.err)
        while self.ready and self.journal.pending:
            if not self.sign_pending(self.config["sign_batch"]):
                break
        self.feedback.give("boot", text="tapcert {} ready".format(FW_VERSION) if self.ready
                           else "Reader not set up - call technician")
        _drop_boot_modules()
        return self

    def note(self, text):
        self.err = text
        self.errors += 1

    def out_of_memory(self, where, exc=None):
        # a MemoryError caught at a task's iteration boundary: counted, the heap tidied; the
        # task carries on (its watchdog beat is skipped for that round)
        self.memory_errors += 1
        gc.collect()
        try:
            self.note("{}: out of memory ({}), {} bytes free; carried on".format(
                where, exc.args[0] if exc is not None and exc.args else "", _heap_free()))
        except MemoryError:
            pass

    def uptime_ms(self):
        now = ticks_ms()
        self._up_ms += ticks_diff(now, self._up_last)
        self._up_last = now
        return self._up_ms

    # -- the tap path -----------------------------------------------------------------

    def tap(self, uid, kind=rec.KIND_TAP):
        """One card presented: -> the feedback given, {"event", "seq", "text"}."""
        now = ticks_ms()
        self._tap_ms = now  # the signer's flash work waits for quiet_ms without a tap
        uid = bytes(uid)
        self.taps += 1
        give = self.feedback.give
        if kind not in rec.KINDS or len(uid) not in rec.UID_LENGTHS or uid[0] == _CASCADE_TAG:
            return give("error", text="Card not readable - tap again")
        if len(uid) == 4 and uid[0] == _RANDOM_UID:
            return give("random_uid")  # a phone's or a random-UID card: a new UID every tap
        if not self.ready:
            return give("error", text="Reader not set up - call technician")
        if self.debounce.recent(uid, now):
            return give("duplicate")
        if self.blocked is not None and self.blocked.contains(uid):
            return give("blocked")
        journal = self.journal
        try:
            payload = rec.encode_payload(kind, self.reader_id, journal.last_seq + 1,
                                         journal.last_hash, self.board.clock.now(), self.boot,
                                         self.uptime_ms(), uid)
            seq = journal.append(payload)
        except JournalFull as exc:
            self.note(str(exc))
            return give("full")
        except (OSError, JournalError) as exc:
            self.note("journal write failed: {}".format(exc))
            return give("error")
        except MemoryError as exc:
            # nothing journaled, or a page whose retry beats it (journal.append): no
            # "recorded"; the card still on the reader is read again (_nfc)
            self._again = True
            self.out_of_memory("tap not recorded", exc)
            return give("error")
        self.debounce.note(uid, now)
        if self._signal is not None:
            self._signal.set()
        pct = journal.fill_pct()
        if pct >= journal.warn_pct:
            return give("warning", seq, pct=pct)
        return give("recorded", seq)

    def sign_pending(self, limit=4):
        """Sign the oldest unsigned records and journal them; -> how many."""
        if self.signer is None:
            return 0
        sign = self.signer.sign
        return self._store_signed([p + sign(p) for p in self.journal.unsigned(limit)])

    def flush(self):
        """Signed records held in RAM and moved watermarks to flash (also before a planned
        reset: a power cut only costs signing them again)."""
        try:
            self.journal.flush()
            self.journal.save_watermarks()
        except (OSError, JournalError) as exc:
            self.note("journal could not store signatures: {}".format(exc))
        except MemoryError as exc:  # they stay in RAM (and their payloads on flash)
            self.out_of_memory("flush", exc)

    def _store_signed(self, records, flush=True):
        # flush False: they wait in RAM for the signer's next quiet moment (_flash_work)
        if not records:
            return 0
        if flush:
            gc.collect()  # signing leaves much garbage: tidy before the journal's segment write
        else:
            self._garbage = True  # collected in the signer's next quiet moment
        try:
            self.journal.add_signed(records, flush)
        except (OSError, JournalError) as exc:
            self.note("journal could not store signatures: {}".format(exc))
            return 0
        except MemoryError as exc:  # taken and waiting for a flush, or signed again later
            self.out_of_memory("signer", exc)
            return 0
        if self.link is not None:
            self.link.kick()
        return len(records)

    # -- what the agent link asks -----------------------------------------------------

    def apply_ack(self, agent, hub):
        # the watermarks to flash at once only in a quiet moment; else the signer writes them
        # in the next one (older ones on flash only make the reader offer again)
        quiet = self._signal is None or not self._quiet_left()
        try:
            if self.journal.set_watermarks(agent, hub, quiet) and not quiet:
                self._wm_due = True
                self._signal.set()
        except JournalError as exc:
            self.note("ack refused: {}".format(exc))
            raise

    def set_clock_ms(self, unix_ms):
        self.board.clock.set(unix_ms // 1000)

    def update_blocked(self, body):
        blocked = self._blocked_list()
        try:
            blocked.apply(body)
        except ValueError as exc:  # blocked.BlockedError
            self.note(str(exc))
            raise

    def _blocked_list(self):
        if self.blocked is None:
            from blocked import BlockedList
            self.blocked = BlockedList(self.root + _BLOCKED,
                                       self.config.get("blocked_max", 1000))
        return self.blocked

    def save_watermarks(self):
        """Acked watermarks to flash now (they are otherwise written per wm_records): the
        hub_wm a health frame reports, and the one an update waits for, survives a reset."""
        if not self.ready:
            return
        try:
            self.journal.save_watermarks()
        except OSError as exc:
            self.note("journal could not store watermarks: {}".format(exc))

    def health(self):
        j = self.journal
        opened = self.ready
        self.save_watermarks()  # at most once per health frame, and only when they moved
        out = {"rid": rec.hexlify(self.reader_id) if self.reader_id else "",
               "fw": FW_VERSION, "label": self.config.get("label", ""),
               "station": self.config.get("station", ""), "boot": self.boot,
               "up": self.uptime_ms() & 0xFFFFFFFF, "time": self.board.clock.now(),
               "seq": j.last_seq if opened else 0,
               "signed": j.held() - len(j.pending) if opened else 0,
               "unsigned": len(j.pending) if opened else 0,
               "unsynced": j.unsynced() if opened else 0,
               "agent_wm": j.agent_wm if opened else 0, "hub_wm": j.hub_wm if opened else 0,
               "jfill": j.fill_pct() if opened else 0, "heap": _heap_free(),
               "oom": self.memory_errors,
               "test": self.test_mode,
               "blocked": len(self.blocked) if self.blocked is not None else 0,
               "bcrc": self.blocked.crc if self.blocked is not None else 0,
               "pk": rec.hexlify(self.public_key) if self.public_key else None}
        faults = self.board.faults() if hasattr(self.board, "faults") else []
        err = self.err
        if faults:
            err = "; ".join(faults) + ("; " + err if err else "")
        if err:
            out["err"] = err
        return out

    # -- tasks ------------------------------------------------------------------------

    async def run(self, stdin=None, stdout=None):
        import asyncio
        cfg = self.config
        self._signal = asyncio.Event()
        self.link = linkport.Link(self, cfg["offer_window"], cfg["resend_ms"],
                                  cfg["idle_resend_ms"], cfg["agent_timeout_ms"],
                                  int(cfg["health_s"] * 1000))
        board = self.board
        self._beats = {"link": False}  # the watchdog is fed while each of these beats
        nfc = getattr(board.nfc, "kind", "virtual") != "virtual"
        if nfc:
            self._beats["taps"] = False
        tasks = [asyncio.create_task(self._guard("signer", self._signer)),
                 asyncio.create_task(self._guard("watchdog", self._watchdog))]
        if hasattr(board.feedback, "run"):
            tasks.append(asyncio.create_task(self._guard("feedback", board.feedback.run)))
        card_field = getattr(board, "card_field", None)
        if card_field is not None:
            tasks.append(asyncio.create_task(
                self._guard("card field", lambda: card_field.serve(self.tap))))
        if nfc:
            tasks.append(asyncio.create_task(self._guard("nfc", self._nfc)))
        try:
            await self._guard("link", lambda: linkport.serve(self.link, stdin, stdout))
        finally:
            for t in tasks:
                t.cancel()

    async def _guard(self, name, start):
        # run a task for ever: an exception is noted and the task starts again
        import asyncio
        while True:
            try:
                await start()
                return
            except MemoryError as exc:  # the note itself must not need the heap that ran out
                self.out_of_memory(name + " task", exc)
            except Exception as exc:
                try:
                    self.note("{} task failed: {!r}".format(name, exc))
                except MemoryError:
                    self.out_of_memory(name + " task")
            await asyncio.sleep(_TASK_RETRY_S)

    async def _signer(self):
        # Signs what taps journaled; the flash work (a segment write, the gc.collect after
        # signing, watermarks, the journal's idle upkeep) waits for a quiet moment, quiet_ms
        # without a tap, so a tap's feedback never waits behind an erase (issue 16); in a
        # quiet moment it comes before more signing, so erased pages are ready for the next
        # burst. Signed records wait in RAM meanwhile, never more than before: signing
        # pauses at flush_records (their payloads are on flash, in the raw log or the tail,
        # and are signed again byte for byte after a cut). Work put off for flush_s goes
        # ahead anyway, one piece at a time.
        import asyncio
        signal = self._signal
        journal = self.journal
        idle_ms = int(self.config["flush_s"] * 1000)
        while True:
            signal.clear()
            wait = self._quiet_left(idle_ms)
            if not wait and await self._flash_work():
                continue
            if journal.pending and len(journal.unflushed) < journal.flush_records:
                if not await self.sign_stepwise(self.config["sign_batch"]):
                    await asyncio.sleep(_TASK_RETRY_S)
                continue
            if wait:
                try:
                    await asyncio.wait_for_ms(signal.wait(), wait)  # a tap: sign it first
                except asyncio.TimeoutError:
                    pass
                continue
            if journal.unflushed:
                try:  # signed records wait in RAM for a fuller segment write, not for ever
                    await asyncio.wait_for_ms(signal.wait(), idle_ms)
                except asyncio.TimeoutError:
                    self.flush()
            else:
                await signal.wait()

    def _quiet_left(self, longest_ms=0):
        # -> ms until quiet_ms have passed without a tap (0: quiet now); work put off for
        # longest_ms goes ahead (a stream of taps never stalls the journal for good)
        last = self._tap_ms
        if last is None:
            return 0
        now = ticks_ms()
        left = self.config.get("quiet_ms", 0) - ticks_diff(now, last)
        if left <= 0:
            self._put_off = None
            return 0
        if not longest_ms:
            return left
        if self._put_off is None:
            self._put_off = now
        waited = ticks_diff(now, self._put_off)
        if waited >= longest_ms:
            self._put_off = None
            return 0
        return min(left, longest_ms - waited)

    async def _flash_work(self):
        # one piece of the signer's flash work, in a quiet moment -> True if there was one
        import asyncio
        journal = self.journal
        if self._garbage:  # signing leaves much garbage: collected now, not in a tap
            self._garbage = False
            gc.collect()
            return True
        if len(journal.unflushed) >= journal.flush_records:
            try:
                journal.flush()
            except (OSError, JournalError) as exc:
                self.note("journal could not store signatures: {}".format(exc))
                await asyncio.sleep(_TASK_RETRY_S)
            return True
        if self._wm_due:
            self._wm_due = False
            try:
                journal.store_watermarks()
            except OSError as exc:
                self.note("journal could not store watermarks: {}".format(exc))
            return True
        # idle: the raw log's next block erased, or the tail commit that would compact its
        # metadata made now rather than by the next tap (journal.upkeep, tailslots.py)
        last = self._tap_ms
        await asyncio.sleep(0)
        if self._tap_ms != last:
            return True  # a tap came meanwhile: wait again
        try:
            return journal.upkeep()
        except OSError as exc:
            self.note("journal upkeep failed: {}".format(exc))
            return False

    async def sign_stepwise(self, limit):
        # sign_pending() that never holds the event loop for more than a slice of one
        # signature (~1/6 of it: ~15 ms at 125 MHz): a tap waiting is answered first. The
        # signed records go to the journal together (one segment write for up to `limit`).
        import asyncio
        if self.signer is None:
            return 0
        records = []
        steps = self.signer.sign_steps
        for payload in self.journal.unsigned(limit):
            for sig in steps(payload):
                await asyncio.sleep(0)
            records.append(payload + sig)
        return self._store_signed(records, False)

    async def _watchdog(self):
        # Fed only while the tasks the reader lives for make progress: the tap source
        # (NFC poll or card field) and the link pump each call alive() on every round;
        # a task stuck or dead for the watchdog's timeout resets the board.
        import asyncio
        feed = self.board.watchdog.feed
        beats = self._beats
        while True:
            self.uptime_ms()  # folds the tick counter in well before it wraps
            if all(beats.values()):
                feed()
                for name in beats:
                    beats[name] = False
            await asyncio.sleep_ms(_WATCHDOG_CHECK_MS)

    def alive(self, name):
        self._beats[name] = True

    async def _nfc(self):
        # Poll the front end; a card resting on the reader is one tap until removed
        # (presence.py). Two cards at once get their own feedback, no record.
        import asyncio
        from drivers.errors import DriverError
        from presence import Presence
        nfc = self.board.nfc
        kind = self.config.get("tap_kind", rec.KIND_TAP)
        period = self.config["poll_ms"]
        presence = Presence()
        poll = getattr(nfc, "poll_uid", None)  # awaitable polls where the driver has them
        while True:
            try:
                try:
                    uid = await poll() if poll is not None else nfc.read_uid()
                except DriverError as exc:  # the board's NFC layer reports its fault in faults()
                    if getattr(exc, "reason", "") == "two_cards" and presence.seen(b"2"):
                        self.feedback.give("two_cards")
                    uid = False
                except MemoryError:
                    raise
                except Exception:
                    uid = False
                if uid is None:
                    presence.missed()
                elif uid is not False and presence.seen(uid):
                    self._again = False
                    self.tap(uid, kind)
                    if self._again:  # not recorded for want of heap: the card is a new tap
                        self._again = False
                        presence = Presence()
                        await asyncio.sleep_ms(_OOM_BACKOFF_MS)
                self.alive("taps")
            except MemoryError as exc:  # no beat this round: a reader that never recovers is reset
                self.out_of_memory("nfc", exc)
                await asyncio.sleep_ms(_OOM_BACKOFF_MS)
            await asyncio.sleep_ms(period)


def _drop_boot_modules():
    for name in _BOOT_ONLY:  # their code is not needed again: give the heap back
        sys.modules.pop(name, None)
    gc.collect()


def _heap_free():
    # after a collection: without one the figure falls with garbage that is not a leak
    gc.collect()
    try:
        return gc.mem_free()
    except AttributeError:
        return 0


def main(root="", config_path="/config.json"):
    import asyncio
    import config
    from board import make_board
    cfg, err = config.load(root + config_path)
    del config
    app = App(cfg, make_board(cfg), root)
    if err:
        app.note(err)
    app.start()
    asyncio.new_event_loop()
    try:
        asyncio.run(app.run())
    except KeyboardInterrupt:  # a planned stop (mpremote breaks in to flash or update)
        app.save_watermarks()
        raise
