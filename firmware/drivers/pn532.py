# pn532: NXP PN532 NFC front end over I2C or HSU (UART); reads type A card UIDs.
#
# Theory of operation (PN532 User Manual UM0701-02, 6.2 frames, 7 commands).
# The host sends an information frame (drivers/pn532_frame.py); the chip
# answers with an ACK frame at once, then with a response information frame
# when the command is done.
#
# I2C (address 0x24): every read transaction begins with a status byte whose
# bit 0 says "a frame is ready"; the host polls it, then reads status + frame.
# HSU (UART, 115200 8N1): no status byte; a sleeping chip is woken by 55 55 and
# a run of zeros. An ACK sent by the host aborts the command in progress.
#
# read_uid() is one bounded poll: InListPassiveTarget(1 target, 106 kbps type A)
# with RFConfiguration MaxRetries keeping the chip's own search short, and an
# abort (ACK) if the answer outlives poll_budget_ms. poll_uid() is the same poll
# for an asyncio task: the search is awaited, not slept through (sleep_ms would stop
# the event loop for up to poll_budget_ms). A card resting on the reader is
# reported on every poll; telling taps apart is the caller's job (presence.py).
try:
    from micropython import const
except ImportError:
    from protocol.compat import const

from drivers.errors import BusError, FrameError
from drivers.pn532_frame import (ACK, ACK_FRAME, NACK, NACK_FRAME, build_frame,  # noqa: F401
                                 frame_end, parse_frame)
from drivers.timebase import sleep_ms, ticks_diff, ticks_ms

I2C_ADDRESS = const(0x24)
_CMD_GET_FIRMWARE_VERSION = const(0x02)
_CMD_SAM_CONFIGURATION = const(0x14)
_CMD_RF_CONFIGURATION = const(0x32)
_CMD_IN_LIST_PASSIVE_TARGET = const(0x4A)
_CFG_MAX_RETRIES = const(0x05)

_ACK_TIMEOUT_MS = const(15)
_POLL_STEP_MS = const(2)  # poll_uid(): how often the chip's readiness is looked at
_COMMAND_TIMEOUT_MS = const(100)
_RX_SHORT = const(32)  # no card, or a UID without a long ATS: one short read
_RX_FULL = const(80)  # longer answers: NACK, then read again at this size
_TX_SIZE = const(32)

_HSU_WAKEUP = b"\x55\x55" + bytes(14)


class I2CTransport:
    # PN532 on an I2C bus: status byte before every frame, polled for readiness.
    offset = 1
    short_reads = True

    def __init__(self, i2c, address=I2C_ADDRESS, irq=None):
        self._i2c = i2c
        self._address = address
        self._irq = irq
        self._status = bytearray(1)

    def wake(self):
        pass  # an I2C address match wakes the chip; begin() retries the first command

    def send(self, frame):
        try:
            self._i2c.writeto(self._address, frame)
        except OSError:
            raise BusError("PN532 does not answer at I2C address 0x{:02x}: check SDA/SCL "
                           "wiring, 3.3 V power and that the module's switches select I2C"
                           .format(self._address), "no_answer")

    def ready(self):
        # a frame is waiting (IRQ low, or status bit 0); no allocation, a bus error is "no"
        try:
            if self._irq is not None:
                return self._irq.value() == 0
            self._i2c.readfrom_into(self._address, self._status)
            return self._status[0] & 1
        except OSError:
            return False

    def receive(self, buf, timeout_ms):
        # Fills buf (status byte + frame) once the chip is ready; returns len(buf),
        # or 0 if it was not ready within timeout_ms.
        start = ticks_ms()
        failures = 0
        while True:
            try:
                if self._irq is not None:
                    ready = self._irq.value() == 0
                else:
                    self._i2c.readfrom_into(self._address, self._status)
                    ready = self._status[0] & 1
                if ready:
                    self._i2c.readfrom_into(self._address, buf)
                    if buf[0] & 1:
                        return len(buf)
            except OSError:
                failures += 1
            if ticks_diff(ticks_ms(), start) >= timeout_ms:
                if failures:
                    raise BusError("PN532 stopped answering on I2C (address 0x{:02x}): check "
                                   "wiring and power".format(self._address), "no_answer")
                return 0
            sleep_ms(1)


class UARTTransport:
    # PN532 on a UART (HSU): frames arrive as a byte stream, no status byte.
    offset = 0
    short_reads = False

    def __init__(self, uart):
        self._uart = uart
        self._one = bytearray(1)

    def wake(self):
        self._uart.write(_HSU_WAKEUP)
        sleep_ms(2)
        while self._uart.any():
            self._uart.readinto(self._one)

    def send(self, frame):
        self._uart.write(frame)

    def ready(self):
        return self._uart.any() > 0

    def receive(self, buf, timeout_ms):
        # Reads one frame into buf; returns the bytes read (0 if none in time).
        start = ticks_ms()
        n = 0
        need = 0
        one = self._one
        size = len(buf)
        while n < size:
            if self._uart.any() and self._uart.readinto(one):
                buf[n] = one[0]
                n += 1
                if need == 0:
                    need = frame_end(buf, n)
                if need and n >= need:
                    return n
            elif ticks_diff(ticks_ms(), start) >= timeout_ms:
                return n
            else:
                sleep_ms(1)
        return n


class PN532:
    kind = "pn532"

    def __init__(self, transport, reset=None, poll_budget_ms=40, passive_retries=1):
        self._t = transport
        self._reset = reset
        self._budget = poll_budget_ms
        self._retries = passive_retries
        self._off = transport.offset
        self._tx = bytearray(_TX_SIZE)
        self._rx = bytearray(self._off + _RX_FULL)
        rx = memoryview(self._rx)
        self._rx_ack = rx[:self._off + len(ACK)]
        self._rx_short = rx[:self._off + _RX_SHORT] if transport.short_reads else rx
        self._rx_full = rx
        poll = bytearray(12)
        self._poll_frame = memoryview(poll)[:build_frame(poll, _CMD_IN_LIST_PASSIVE_TARGET,
                                                         b"\x01\x00")]
        self._data_len = 0
        self.firmware = None
        self.last_sens_res = 0
        self.last_sel_res = 0

    def begin(self):
        # Reset (if wired), wake, identify, configure; returns the firmware tuple.
        if self._reset is not None:
            self._reset.value(0)
            sleep_ms(20)
            self._reset.value(1)
            sleep_ms(20)
        self._t.wake()
        error = None
        for _ in range(3):
            try:
                self.firmware = self.firmware_version()
                break
            except BusError as exc:
                error = exc
                sleep_ms(10)
        else:
            raise error
        self.sam_configuration()
        self.set_passive_retries(self._retries)
        return self.firmware

    def firmware_version(self):
        at = self._exchange(_CMD_GET_FIRMWARE_VERSION, b"")
        if self._data_len < 4:
            raise FrameError("GetFirmwareVersion answer too short", "truncated")
        rx = self._rx
        return (rx[at], rx[at + 1], rx[at + 2], rx[at + 3])

    def sam_configuration(self):
        # normal mode (no SAM), virtual card timeout 1 s, use the IRQ line
        self._exchange(_CMD_SAM_CONFIGURATION, b"\x01\x14\x01")

    def set_passive_retries(self, retries):
        # RFConfiguration item 5: MxRtyATR, MxRtyPSL, MxRtyPassiveActivation.
        # 0xFF would make InListPassiveTarget wait for a card forever.
        self._exchange(_CMD_RF_CONFIGURATION,
                       bytes((_CFG_MAX_RETRIES, 0xFF, 0x01, retries & 0xFF)))

    def read_uid(self):
        self._send_and_ack(self._poll_frame)
        return self._listed(self._read_response(_CMD_IN_LIST_PASSIVE_TARGET, self._budget))

    async def poll_uid(self):
        # read_uid() for an asyncio task: the wait for the chip's search (up to
        # poll_budget_ms) is awaited, so the event loop runs taps, the link and feedback
        import asyncio
        self._send_and_ack(self._poll_frame)
        start = ticks_ms()
        ready = self._t.ready
        while not ready() and ticks_diff(ticks_ms(), start) < self._budget:
            await asyncio.sleep_ms(_POLL_STEP_MS)
        return self._listed(self._read_response(_CMD_IN_LIST_PASSIVE_TARGET, _ACK_TIMEOUT_MS))

    def _listed(self, at):
        # the InListPassiveTarget answer at rx[at:] -> UID, or None (no card, or no answer)
        if at < 0:
            self._t.send(ACK)  # abort the search; the chip is idle again
            return None
        rx = self._rx
        n = self._data_len
        if n < 1:
            raise FrameError("InListPassiveTarget answer has no target count", "truncated")
        if rx[at] == 0:
            return None
        if rx[at] != 1:
            raise FrameError("PN532 listed {} targets, asked for 1".format(rx[at]),
                             "unexpected_response")
        # NbTg Tg SENS_RES(2) SEL_RES NFCIDLength NFCID1 [ATS]
        if n < 6:
            raise FrameError("InListPassiveTarget target data cut short", "truncated")
        uid_len = rx[at + 5]
        if uid_len != 4 and uid_len != 7 and uid_len != 10:
            raise FrameError("card UID length {} is not 4, 7 or 10".format(uid_len),
                             "bad_uid_length")
        if 6 + uid_len > n:
            raise FrameError("card UID cut short in the PN532 answer", "truncated")
        self.last_sens_res = (rx[at + 2] << 8) | rx[at + 3]
        self.last_sel_res = rx[at + 4]
        return bytes(self._rx_full[at + 6:at + 6 + uid_len])

    # -- exchange ---------------------------------------------------------

    def _exchange(self, command, params):
        n = build_frame(self._tx, command, params)
        self._send_and_ack(memoryview(self._tx)[:n])
        at = self._read_response(command, _COMMAND_TIMEOUT_MS)
        if at < 0:
            raise BusError("PN532 acknowledged command 0x{:02x} but never answered it"
                           .format(command), "timeout")
        return at

    def _send_and_ack(self, frame):
        self._t.send(frame)
        for _ in range(2):  # a second look skips one stale answer left by an abort
            end = self._t.receive(self._rx_ack, _ACK_TIMEOUT_MS)
            if end == 0:
                raise BusError("PN532 did not acknowledge a command within {} ms: check "
                               "wiring and power".format(_ACK_TIMEOUT_MS), "no_ack")
            try:
                kind = parse_frame(self._rx, self._off, end)
            except FrameError as exc:
                if exc.reason != "truncated":
                    raise
                continue
            if kind == ACK_FRAME:
                return
            if kind == NACK_FRAME:
                raise FrameError("PN532 answered our command with NACK", "nack")
        raise FrameError("PN532 did not answer our command with an ACK frame", "no_ack")

    def _read_response(self, command, timeout_ms):
        # -> index of the first data byte after the response code, or -1 if none in time
        end = self._t.receive(self._rx_short, timeout_ms)
        if end == 0:
            return -1
        try:
            tfi = parse_frame(self._rx, self._off, end)
        except FrameError as exc:
            if exc.reason != "truncated" or end >= len(self._rx):
                raise
            self._t.send(NACK)  # ask for the same answer again, read it whole
            end = self._t.receive(self._rx_full, _ACK_TIMEOUT_MS)
            if end == 0:
                raise BusError("PN532 did not resend its answer after NACK", "timeout")
            tfi = parse_frame(self._rx, self._off, end)
        if tfi < 0:
            raise FrameError("PN532 sent an ACK/NACK where a response was due",
                             "unexpected_frame")
        length = self._rx[tfi - 2]
        if length < 2 or self._rx[tfi + 1] != command + 1:
            raise FrameError("PN532 answered command 0x{:02x} with 0x{:02x}"
                             .format(command, self._rx[tfi + 1] if length > 1 else 0),
                             "unexpected_response")
        self._data_len = length - 2
        return tfi + 2
