"""One reader's serial port (pyserial), driven by the protocol's link codec (SPEC §3).

A ReaderPort owns one thread that blocks in read() (no polling: an idle reader costs no
CPU). On open it sets the reader's clock (T) and asks for health (Q), which also makes the
reader re-offer what we have not acked. Decoded records and health go to the agent's core as
events; the core commits records and only then calls send_ack(). Noise lines, damaged frames
and undecodable records are counted, never fatal. Unplugging the reader ends the thread (the
service opens the port again when it reappears).

Lines to the reader are paced (agent/linkpace.py, SPEC §3 "Line credits"): send() queues a
line and writes what the reader has room for; its K credits (read by the read thread) and a
timer for a reader that stops crediting write the rest.

Events posted: ("port_up", port), ("records", port, [(rid, seq, data, reader_time), ...]),
("health", port, dict), ("port_down", port, reason).
"""

from __future__ import annotations

import logging
import threading
import time

import serial

from agent import readers
from agent.linkpace import LinePacer
from agent.logs import note
from protocol import link, linkcredit
from protocol import record as recordproto
from protocol.errors import RemoteProtocolError

log = logging.getLogger("agent.reader")

_MAX_BATCH_RECORD = 255  # a record longer than this cannot be framed in an MQTT batch


class ReaderPort:
    def __init__(self, path, post, *, baudrate=115200, set_clock=True, write_timeout_s=2.0,
                 clock=time.time):
        self.path = path
        self._post = post
        self._baudrate = baudrate
        self._set_clock = set_clock
        self._write_timeout = write_timeout_s
        self._clock = clock
        self._serial = None
        self._write_lock = threading.Lock()
        self._stopping = False
        self._end_reason = "stopped"
        self.thread = None
        self.opened_at = None
        self.decoder = link.LinkDecoder()
        self.pacer = LinePacer()
        self._timer = None
        self.reader_ids = set()
        self.stats = {"records": 0, "health": 0, "unexpected_frames": 0, "bad_records": 0,
                      "write_errors": 0, "bad_reader_time": 0}

    # -- counters for status/health -------------------------------------------------------

    def link_counts(self):
        d = self.decoder
        out = dict(self.stats)
        out.update(noise_lines=d.noise_lines, bad_frames=d.bad_frames, oversize_lines=d.oversize_lines)
        out.update(self.pacer.stats, lines_waiting=self.pacer.waiting, line_pacing=self.pacer.mode)
        return out

    # -- lifecycle ------------------------------------------------------------------------

    def start(self):
        self.thread = threading.Thread(target=self._run, name="reader " + self.path, daemon=True)
        self.thread.start()
        return self

    def alive(self):
        return self.thread is not None and self.thread.is_alive()

    def stop(self, timeout=2.0):
        self._stopping = True
        self._cancel_timer()
        ser = self._serial
        if ser is not None:
            try:
                ser.cancel_read()
            except (OSError, serial.SerialException, AttributeError):
                pass
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self):
        try:
            ser = serial.Serial(self.path, self._baudrate, timeout=None,
                                write_timeout=self._write_timeout, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._post(("port_down", self, "cannot open: {}".format(exc)))
            return
        with self._write_lock:
            self.pacer.opened(time.monotonic())  # the credit request goes first
            self._serial = ser
        self.opened_at = self._clock()
        reason = None
        try:
            self._post(("port_up", self))
            if self._set_clock:
                self.send(link.encode_time(int(self._clock() * 1000)))
            self.send(link.encode(link.QUERY))
            self._read_loop(ser)
        except (serial.SerialException, OSError) as exc:
            reason = "link lost: {}".format(exc)
        finally:
            self._serial = None
            self._cancel_timer()
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass
            self._post(("port_down", self, reason or self._end_reason))

    def _read_loop(self, ser):
        read = ser.read
        while not self._stopping:
            data = read(1)
            if not data:
                continue  # cancel_read()
            waiting = ser.in_waiting
            if waiting:
                data += read(waiting)
            self._feed(data)

    # -- inbound ---------------------------------------------------------------------------

    def _feed(self, data):
        decoder = self.decoder
        decoder.feed(data)
        records = []
        while True:
            try:
                frame = decoder.next_message()
            except RemoteProtocolError as exc:
                note(log, logging.DEBUG, "damaged link frame skipped", port=self.path, reason=exc.reason)
                continue
            if frame is link.NEED_DATA:
                break
            if frame.type == link.RECORD:
                item = self._record(frame.body)
                if item is not None:
                    records.append(item)
            elif frame.type == link.HEALTH:
                self._health(frame.body)
            elif frame.type == link.CREDIT:
                self._credit(frame.body)
            else:
                self.stats["unexpected_frames"] += 1
        if records:
            self.stats["records"] += len(records)
            self._post(("records", self, records))

    def _record(self, body):
        try:
            rec = recordproto.decode(body)
            rid, seq, reader_time = rec.reader_id, rec.seq, rec.reader_time
        except RemoteProtocolError as exc:
            # Keep anything with an identity: the hub decides (it quarantines it as
            # malformed) and the reader's window moves on. Without one, it cannot be keyed.
            if len(body) < recordproto.PEEK_KEY_LEN or len(body) > _MAX_BATCH_RECORD:
                self.stats["bad_records"] += 1
                note(log, logging.WARNING, "undecodable record from reader dropped (not acked)",
                     port=self.path, reason=exc.reason, size=len(body))
                return None
            rid = recordproto.peek_reader_id(body)
            seq, reader_time = recordproto.peek_seq_time(body)
            if seq == 0:
                self.stats["bad_records"] += 1
                return None
            note(log, logging.WARNING, "malformed record queued for the hub to quarantine",
                 port=self.path, reader=rid.hex(), seq=seq, reason=exc.reason)
        self.reader_ids.add(rid)
        return (rid, seq, bytes(body), reader_time)

    def _health(self, body):
        try:
            obj = link.decode_json(body)
        except RemoteProtocolError as exc:   # not JSON, too deep, NaN/Infinity/1e999 ...
            self.stats["unexpected_frames"] += 1
            key = "health_" + exc.reason
            self.stats[key] = self.stats.get(key, 0) + 1
            note(log, logging.WARNING, "reader health refused", port=self.path, reason=exc.reason)
            return
        self.stats["health"] += 1
        with self._write_lock:
            self.pacer.health(obj, time.monotonic())
        self._write_ready()
        # A reader that lost its clock (power cut, reset: no RTC) says time 0 in its health;
        # set it again at once so its next taps carry a real time (SPEC 3, design "Time").
        # A time that is no Unix time (negative, past u32) is unknown too: counted, and reset.
        bad_time = readers.bad_reader_time(obj.get("time"))
        if bad_time:
            self.stats["bad_reader_time"] += 1
            note(log, logging.WARNING, "reader health says a clock that is no Unix time; "
                 "treated as unknown and set again", port=self.path)
        if self._set_clock and (obj.get("time") == 0 or bad_time):
            self.send(link.encode_time(int(self._clock() * 1000)))
        self._post(("health", self, obj))

    def _credit(self, body):
        try:
            lines = linkcredit.decode_credit(body)
        except RemoteProtocolError:
            self.stats["unexpected_frames"] += 1
            return
        if not lines:
            self.stats["unexpected_frames"] += 1  # a request travels the other way
            return
        with self._write_lock:
            self.pacer.credit(lines, time.monotonic())
        self._write_ready()

    # -- outbound --------------------------------------------------------------------------

    def send(self, line):
        """Queue one frame and write what the reader has room for (SPEC §3 line credits);
        False if the port is gone or stuck (the read thread then ends)."""
        if self._serial is None:
            return False
        with self._write_lock:
            if not self.pacer.push(line):
                self.stats["write_errors"] += 1
                self._end_reason = "reader took no line for {} waiting lines".format(self.pacer.waiting)
                queued = False
            else:
                queued = True
        if not queued:
            self._give_up()
            return False
        return self._write_ready()

    def _write_ready(self):
        ser = self._serial
        if ser is None:
            return False
        try:
            with self._write_lock:
                lines = self.pacer.take(time.monotonic())
                for line in lines:
                    ser.write(line)
                self._arm_timer()
            return True
        except serial.SerialTimeoutException:
            self.stats["write_errors"] += 1
            self._end_reason = "reader did not take a frame within {} s".format(self._write_timeout)
        except (serial.SerialException, OSError, TypeError) as exc:
            # TypeError: pyserial's write after another thread closed the port (fd None)
            self.stats["write_errors"] += 1
            self._end_reason = "write failed: {}".format(exc)
        self._give_up()
        return False

    def _give_up(self):
        self._stopping = True
        self._cancel_timer()
        ser = self._serial
        if ser is None:
            return
        try:
            ser.cancel_read()
        except (OSError, serial.SerialException, AttributeError):
            pass

    def _arm_timer(self):
        # under _write_lock: lines wait for a credit; if none comes, the pacer's timeout frees them
        deadline = self.pacer.deadline()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is None or self._stopping:
            return
        timer = threading.Timer(max(0.0, deadline - time.monotonic()) + 0.01, self._write_ready)
        timer.daemon = True
        timer.start()
        self._timer = timer

    def _cancel_timer(self):
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def send_ack(self, reader_id, agent_wm, hub_wm):
        return self.send(link.encode_ack(reader_id, agent_wm, hub_wm))
