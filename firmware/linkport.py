# linkport: the agent link over the USB console (SPEC.md §3): a sans-I/O core and an
# asyncio pump for sys.stdin/sys.stdout.
#
# Theory of operation. Link.feed(bytes, now) decodes frames and applies them; Link.poll(now)
# returns the lines to write: the health frame when due (boot, Q, every health period) and
# signed records with seq > agent watermark, in order, at most `window` in flight. An ack
# that moves the agent watermark lets the window slide; with no progress for resend_ms the
# window is offered again from the watermark (idle_resend_ms while no agent has spoken for
# agent_timeout_ms, so an unplugged link costs little). Every damaged or unexpected frame
# is counted, never fatal; nothing but frames is ever written to stdout. The pump never
# catches KeyboardInterrupt: mpremote's Ctrl-C ends the firmware and the board's REPL runs.
#
# Rewind (W from_seq): a replaced Pi's queue lacks records this reader still holds below its
# agent watermark. The offer base drops to from_seq (or the oldest record held) and walks up
# again one window per agent ack: an A frame that arrives after a window was offered means
# the agent has taken it (its watermark cannot say so: it is above the rewound records).
# Once the base passes the agent watermark, offering is back to normal. A reader without a
# key (nothing journaled) still answers Q with its health frame.
#
# Line credits (K): an ESP32's console buffers 260 bytes of input, so an agent that writes
# several lines back to back overruns it. Once the agent asks (an empty K), every line taken
# off the console - frame, noise or damaged, the K itself included - is credited in a K
# written before anything else at the next poll; health says "fc": 1 while crediting (0: not
# asked since boot, so an agent asks again after a reset). Only lines after the request count.
from protocol import link
from protocol.compat import ticks_diff
from protocol.errors import RemoteProtocolError

_MAX_BODY = 430  # JSON bytes that fit one 600-byte line once base64-encoded
_OOM_BACKOFF_MS = 200  # after a MemoryError survived in the pump
_CHUNK = 256  # console bytes taken per read round


class Link:
    def __init__(self, app, window=8, resend_ms=3000, idle_resend_ms=60000,
                 agent_timeout_ms=90000, health_ms=30000):
        self.app = app
        self.window = window
        self.resend_ms = resend_ms
        self.idle_resend_ms = idle_resend_ms
        self.agent_timeout_ms = agent_timeout_ms
        self.health_ms = health_ms
        self.decoder = link.LinkDecoder()
        self.frames_in = 0
        self.refused = 0    # frames understood but not applied (bogus ack, inject off, ...)
        self.ignored = 0    # frames for another reader or of a type the agent never sends
        self.sent_records = 0
        self.wake = None    # set by the pump: an asyncio.Event to poll sooner
        self._next = 0      # next seq to offer
        self._last_offer = None
        self._last_heard = None
        self._health_at = None  # None: send one at the next poll (boot)
        self.injected = None     # [count, event, seq] of the last injected tap (test mode)
        self._rewind = 0        # > 0: offer from here although it is below the agent watermark
        self.rewinds = 0
        self.credit = False     # the agent asked for line credits (K); then decoder.lines
        #                         counts the lines taken and not yet credited

    # -- frames in --------------------------------------------------------------------

    def feed(self, data, now):
        # MemoryError: raised with the lines not yet decoded kept (feed(b"", now) later
        # goes on with them); a frame's own MemoryError while applied refuses that frame
        decoder = self.decoder
        decoder.feed(data)
        while True:
            try:
                frame = decoder.next_message()
            except RemoteProtocolError:
                continue  # counted by the decoder; the line is gone
            except MemoryError:
                raise
            except Exception as exc:  # a decoder bug must not end the link task: count it
                decoder.bad_frames += 1
                self.app.note("link line dropped: {!r}".format(exc))
                continue
            if frame is link.NEED_DATA:
                return
            self.frames_in += 1
            try:
                self._apply(frame, now)
            except Exception as exc:  # never crash on input
                self.refused += 1
                self.app.note("link frame {} not applied: {}".format(frame.type, exc))

    def _apply(self, frame, now):
        kind = frame.type
        app = self.app
        if kind == link.ACK:
            rid, agent, hub = link.decode_ack(frame.body)
            self._last_heard = now
            if rid != app.reader_id:
                self.ignored += 1
                return
            before = app.journal.agent_wm
            app.apply_ack(agent, hub)
            if app.journal.agent_wm != before:
                self._last_offer = now  # progress: the resend timer starts again
            if self._rewind and self._next > self._rewind:
                self._rewind = self._next  # the agent has what was offered before this ack
                self._last_offer = now
        elif kind == link.TIME:
            self._last_heard = now
            app.set_clock_ms(link.decode_time(frame.body))
        elif kind == link.QUERY:
            self._last_heard = now
            self._health_at = None
            self._next = 0  # re-offer everything unacked
        elif kind == link.INJECT:
            self._last_heard = now
            tap_kind, uid = link.decode_inject(frame.body)
            if not app.test_mode:
                self.refused += 1
                app.note("inject refused: reader is not in test mode")
                return
            result = app.tap(uid, tap_kind)
            # answer with a health frame naming the feedback given (the bench's only view
            # of a real reader's LEDs): "inj": [injections so far, event, seq]
            self.injected = [self.injected[0] + 1 if self.injected else 1,
                             result.get("event"), result.get("seq")]
            self._health_at = None
            self.kick()
        elif kind == link.BLOCKED:
            self._last_heard = now
            app.update_blocked(frame.body)
        elif kind == link.CREDIT:
            if frame.body:
                self.ignored += 1  # a credit travels the other way
                return
            self._last_heard = now
            if not self.credit:
                self.credit = True
                self.decoder.lines = 1  # from this K on (it is a line taken too)
        elif kind == link.REWIND:
            self._last_heard = now
            rid, from_seq = link.decode_rewind(frame.body)
            if rid != app.reader_id or not app.ready:
                self.ignored += 1
                return
            journal = app.journal
            start = max(from_seq, journal.first_held())
            if start <= journal.agent_wm:
                self._rewind = start
                self._next = start
                self._last_offer = None
                self.rewinds += 1
        else:
            self.ignored += 1  # R and H travel the other way

    # -- lines out --------------------------------------------------------------------

    def agent_present(self, now):
        return self._last_heard is not None and \
            ticks_diff(now, self._last_heard) < self.agent_timeout_ms

    def poll(self, now):
        # Nothing is spent (lines credited, health sent) until every line exists: a
        # MemoryError on the way (the health frame saves moved watermarks: a file open)
        # leaves it all for the next round, which the pump beats only if it gets through;
        # a link that never does is reset by the watchdog, never silent (issue 16).
        out = []
        credited = 0
        lines = self.decoder.lines if self.credit else 0
        while credited < lines:  # first: the agent may wait for room
            n = min(lines - credited, 255)
            out.append(link.encode(link.CREDIT, bytes((n,))))
            credited += n
        due = self._health_at is None or ticks_diff(now, self._health_at) >= self.health_ms
        if due:
            out.append(self.health_line())
        self._offer(now, out)
        self.decoder.lines -= credited
        if due:
            self._health_at = now
        return out

    def _offer(self, now, out):
        if not self.app.ready:
            return  # no key or no journal: nothing to offer
        journal = self.app.journal
        base = max(journal.agent_wm + 1, journal.first_held())
        if self._rewind:
            rewind = max(self._rewind, journal.first_held())
            if rewind < base:
                base = rewind
            else:
                self._rewind = 0  # caught up with the agent watermark
        if self._next < base:
            self._next = base
        elif self._next > base and self._last_offer is not None:
            wait = self.resend_ms if self.agent_present(now) else self.idle_resend_ms
            if ticks_diff(now, self._last_offer) >= wait:
                self._next = base
        end = min(journal.signed_upto, base - 1 + self.window)
        if self._next > end:
            return
        records = journal.read(self._next, end - self._next + 1)
        for r in records:
            out.append(link.encode(link.RECORD, r))
        if records:
            self._next += len(records)
            self._last_offer = now
            self.sent_records += len(records)

    def next_poll_ms(self, now):
        """ms until poll() has something to do by itself (health or a resend)."""
        wait = self.health_ms - ticks_diff(now, self._health_at) if self._health_at is not None else 0
        if self._last_offer is not None and self.app.ready and \
                self._next > min(self._rewind or self._next, self.app.journal.agent_wm + 1):
            resend = self.resend_ms if self.agent_present(now) else self.idle_resend_ms
            wait = min(wait, resend - ticks_diff(now, self._last_offer))
        return max(0, min(wait, 1000))

    def health_line(self):
        health = self.app.health()
        health["bad"] = self.decoder.bad_frames + self.decoder.oversize_lines
        health["noise"] = self.decoder.noise_lines
        health["refused"] = self.refused
        health["fc"] = 1 if self.credit else 0
        if self.injected:
            health["inj"] = self.injected
        return link.encode(link.HEALTH, fit_json(health))

    def kick(self):
        if self.wake is not None:
            self.wake.set()


def fit_json(obj, limit=_MAX_BODY):
    # JSON bytes within the line limit: drop pk (the hub has it), shorten err, then drop
    # label and station (the hub's registry has them), then err
    import json
    data = json.dumps(obj).encode()
    for key in ("pk", "err", "label", "station", "err"):
        if len(data) <= limit:
            break
        value = obj.get(key)
        if value is None:
            continue
        keep = len(value) - (len(data) - limit) - 3
        if key == "err" and "..." not in value and keep >= 24:
            obj[key] = value[:keep] + "..."
        else:
            del obj[key]
        data = json.dumps(obj).encode()
    return data


# -- the asyncio pump (MicroPython) -----------------------------------------------------

async def serve(lnk, stdin=None, stdout=None, clock=None):
    """Pump frames between the console and the link until cancelled."""
    import asyncio
    import sys
    if clock is None:
        from protocol.compat import ticks_ms as clock
    if stdin is None:
        stdin = getattr(sys.stdin, "buffer", sys.stdin)
    if stdout is None:
        stdout = getattr(sys.stdout, "buffer", sys.stdout)
    wake = asyncio.Event()
    lnk.wake = wake
    reader = asyncio.create_task(_read_loop(lnk, stdin, clock))
    writer = asyncio.StreamWriter(stdout, {})
    alive = getattr(lnk.app, "alive", None)  # the app's watchdog: fed while we go round
    try:
        while True:
            if reader is not None and reader.done():
                await reader  # raises what ended it (the task is restarted); None: EOF
                reader = None
            try:
                lines = lnk.poll(clock())
                for line in lines:
                    writer.write(line)
                if lines:
                    await writer.drain()
                lines = None
                if alive is not None:
                    alive("link")
            except MemoryError as exc:  # no beat this round: a link that never recovers is reset
                lines = None
                _out_of_memory(lnk, exc)
                await asyncio.sleep_ms(_OOM_BACKOFF_MS)
                continue
            wait = lnk.next_poll_ms(clock())
            if wait:
                try:
                    await asyncio.wait_for_ms(wake.wait(), wait)
                except asyncio.TimeoutError:
                    pass
            wake.clear()
    finally:
        if reader is not None:
            reader.cancel()


def _out_of_memory(lnk, exc):
    oom = getattr(lnk.app, "out_of_memory", None)
    if oom is not None:
        oom("link", exc)
    else:
        import gc
        gc.collect()


async def _read_loop(lnk, stdin, clock):
    # One awaited byte, then whatever else is already there: a board's stdin read(n)
    # blocks until n bytes arrive, so larger reads would stall the event loop. The bytes
    # gather in one buffer made once; a MemoryError in the decoder is survived: the bytes
    # or lines it had not taken yet are fed again after a pause.
    import asyncio
    import select
    stream = asyncio.StreamReader(stdin)
    poller = select.poll()
    poller.register(stdin, select.POLLIN)
    read = stdin.read
    chunk = bytearray(_CHUNK)
    view = memoryview(chunk)
    n = 0
    backlog = False  # lines taken but not yet decoded (a MemoryError stopped the decoder)
    while True:
        if not n and not backlog:
            first = await stream.read(1)
            if not first:
                return  # console closed (unix port with no terminal): nothing more will come
            chunk[0] = first[0]
            n = 1
            while n < _CHUNK and poller.poll(0):
                more = read(1)
                if not more:
                    break
                chunk[n] = more[0]
                n += 1
        try:
            if n:
                lnk.decoder.feed(view[:n])  # taken whole or not at all
                n = 0
            backlog = True
            lnk.feed(b"", clock())
            backlog = False
            lnk.kick()
        except MemoryError as exc:
            _out_of_memory(lnk, exc)
            await asyncio.sleep_ms(_OOM_BACKOFF_MS)

