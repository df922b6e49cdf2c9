# fakehw_pn532: a PN532 as seen from its I2C or HSU (UART) pins.
#
# Written from the PN532 User Manual (UM0701-02) independently of the driver:
# it checks every host frame (LEN/LCS, TFI D4, DCS), answers with an ACK frame
# and then the response frame, shows "not ready" in the I2C status byte for
# `busy_polls` polls, resends its last response on NACK, drops the pending
# response on an ACK (abort), and over HSU ignores everything until woken by
# 55 55 00 00 00. Tests steer it: `target` (a card's InListPassiveTarget
# data), `script` (raw bytes instead of a response), `silent` (ack, never
# answer), `no_ack`, `ack_bytes`.

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"


def frame(payload):
    # PN532 information frame around payload (TFI first), per UM0701 6.2.1.1
    n = len(payload)
    dcs = (256 - (sum(payload) & 0xFF)) & 0xFF
    return bytes([0x00, 0x00, 0xFF, n, (256 - n) & 0xFF]) + bytes(payload) + bytes([dcs, 0x00])


def target_data(uid, sens_res=b"\x00\x04", sel_res=0x08, ats=b""):
    # InListPassiveTarget data after D5 4B for one type A target (UM0701 7.3.5)
    return bytes([0x01, 0x01]) + bytes(sens_res) + bytes([sel_res, len(uid)]) + bytes(uid) + \
        (bytes([len(ats) + 1]) + bytes(ats) if ats else b"")


class FakePN532:
    def __init__(self, firmware=b"\x32\x01\x06\x07", busy_polls=0):
        self.firmware = bytes(firmware)
        self.busy_polls = busy_polls
        self.target = None
        self.script = {}
        self.silent = set()
        self.no_ack = False
        self.ack_bytes = ACK
        self.log = []  # command codes in arrival order (while record is True)
        self.record = True  # False: no list growth, for heap_lock() tests
        self.errors = []  # host frames a real chip would reject
        self.retries = None
        self.sam = None
        self.aborts = 0
        self.nacks = 0
        self.awake = True  # I2C: address match wakes it; HSU sets this False
        self.status_polls = 0
        self._ack_out = None
        self._resp_out = None
        self._last = None
        self._busy_left = busy_polls
        self._no_target = frame(b"\xd5\x4b\x00")
        self._uart_in = bytearray()
        self._uart_out = bytearray()
        self._uart_at = 0

    # -- command processing ------------------------------------------------

    def _check(self, data, start):
        # -> index of TFI of a valid host frame at data[start:], or -1 (and an error logged)
        n = len(data)
        if n - start < 6:
            self.errors.append("short frame")
            return -1
        if data[start] != 0x00 or data[start + 1] != 0x00 or data[start + 2] != 0xFF:
            self.errors.append("no preamble/start code")
            return -1
        length = data[start + 3]
        if (length + data[start + 4]) & 0xFF:
            self.errors.append("bad LCS")
            return -1
        tfi = start + 5
        if tfi + length + 1 > n:
            self.errors.append("frame shorter than LEN")
            return -1
        total = 0
        for i in range(tfi, tfi + length + 1):
            total += data[i]
        if total & 0xFF:
            self.errors.append("bad DCS")
            return -1
        if data[tfi] != 0xD4:
            self.errors.append("TFI is not D4")
            return -1
        return tfi

    def _host_frame(self, data, start=0):
        # one complete frame from the host
        if len(data) - start >= 6 and data[start + 3] == 0x00 and data[start + 4] == 0xFF:
            self._resp_out = None  # ACK from the host: abort
            self._ack_out = None
            self.aborts += 1
            return
        if len(data) - start >= 6 and data[start + 3] == 0xFF and data[start + 4] == 0x00:
            self.nacks += 1
            self._resp_out = self._last
            self._busy_left = self.busy_polls
            return
        tfi = self._check(data, start)
        if tfi < 0:
            return
        length = data[tfi - 2]
        command = data[tfi + 1]
        if self.record:
            self.log.append(command)
        if self.no_ack:
            return
        self._ack_out = self.ack_bytes
        self._busy_left = self.busy_polls
        if command in self.silent:
            self._resp_out = None
            return
        if command in self.script:
            self._resp_out = self.script[command]
            return
        if command == 0x4A:  # the polling path: no slicing, no allocation
            if length != 4 or data[tfi + 2] != 0x01 or data[tfi + 3] != 0x00:
                self.errors.append("InListPassiveTarget for something else than 1 type A target")
            self._resp_out = self._no_target if self.target is None else \
                frame(b"\xd5\x4b" + self.target)
            return
        self._resp_out = self._respond(command, data[tfi + 2:tfi + length])

    def _respond(self, command, params):
        if command == 0x02:
            return frame(b"\xd5\x03" + self.firmware)
        if command == 0x14:
            self.sam = bytes(params)
            return frame(b"\xd5\x15")
        if command == 0x32:
            if len(params) == 4 and params[0] == 0x05:
                self.retries = params[3]
            return frame(b"\xd5\x33")
        return frame(b"\x7f")  # syntax error frame for commands it does not know

    def _next_out(self):
        return self._ack_out if self._ack_out is not None else self._resp_out

    def _served(self):
        if self._ack_out is not None:
            self._ack_out = None
        else:
            self._last = self._resp_out
            self._resp_out = None
        self._busy_left = self.busy_polls

    # -- I2C ---------------------------------------------------------------

    def i2c_write(self, buf):
        self._host_frame(buf)

    def i2c_read(self, buf):
        out = self._next_out()
        n = len(buf)
        ready = out is not None and self._busy_left == 0
        if out is not None and self._busy_left:
            self._busy_left -= 1
        buf[0] = 1 if ready else 0
        if n == 1:
            self.status_polls += 1
            return
        for i in range(1, n):
            buf[i] = 0
        if ready:
            m = len(out)
            for i in range(min(m, n - 1)):
                buf[1 + i] = out[i]
            self._served()

    # -- HSU ---------------------------------------------------------------

    def uart_write(self, data):
        self._uart_in.extend(data)
        buf = self._uart_in
        if not self.awake:
            for i in range(len(buf) - 4):
                if buf[i] == 0x55 and buf[i + 1] == 0x55 and buf[i + 2:i + 5] == b"\x00\x00\x00":
                    self.awake = True
                    buf = self._uart_in = buf[i + 2:]
                    break
            else:
                self._uart_in = bytearray()
                return
        while True:
            start = -1
            for i in range(len(buf) - 1):
                if buf[i] == 0x00 and buf[i + 1] == 0xFF:
                    start = i - 1
                    break
            if start < 0 or len(buf) < start + 6:
                return
            length = buf[start + 3]
            special = (length == 0 and buf[start + 4] == 0xFF) or \
                (length == 0xFF and buf[start + 4] == 0x00)
            end = start + 6 if special else start + 7 + length
            if len(buf) < end:
                return
            piece = bytes(buf[start:end])
            buf = self._uart_in = buf[end:]
            self._host_frame(piece)
            while True:
                out = self._next_out()
                if out is None:
                    break
                self._uart_out.extend(out)
                self._served()

    def uart_any(self):
        return len(self._uart_out) - self._uart_at

    def uart_readinto(self, buf):
        n = 0
        while n < len(buf) and self._uart_at < len(self._uart_out):
            buf[n] = self._uart_out[self._uart_at]
            self._uart_at += 1
            n += 1
        return n
