# mfrc522: NXP MFRC522 NFC front end over SPI; reads ISO 14443-3 type A UIDs.
#
# Theory of operation (MFRC522 datasheet rev 3.9, 8.1.2 SPI, 9 registers,
# 10 commands; ISO/IEC 14443-3 6.4 anticollision and select).
# SPI address byte: bit 7 = 1 read / 0 write, bits 6..1 register, bit 0 = 0.
# A read sends the address then 00 and takes the second byte back.
# Card exchanges go through the 64-byte FIFO with the Transceive command; the
# chip's timer (TAuto) ends a wait for a card that does not answer (TimerIRq),
# and a host-side deadline catches a chip that does not answer at all.
#
# One poll (read_uid):
#   WUPA (52, 7 bits)            -> ATQA (2 bytes); no answer = no card -> None
#   for cascade level 1..3 (SEL 93, 95, 97):
#     ANTICOLLISION SEL 20         -> UID CLn + BCC; a bit collision (CollErr, which
#       the chip reports with ParityErr) means two cards: CardError "two_cards"
#     check BCC = CLn0 ^ CLn1 ^ CLn2 ^ CLn3
#     SELECT SEL 70 CLn BCC CRC_A -> SAK CRC_A (CRC_A from the chip's coprocessor)
#     SAK bit 2 (cascade) set: CLn was CT 88 + 3 UID bytes, go on one level
#   HLTA (50 00 CRC_A), sent with Transmit: the card sleeps until the next WUPA,
#   so a card resting on the reader is reported on every poll.
try:
    from micropython import const
except ImportError:
    from protocol.compat import const

from drivers.errors import BusError, CardError
from drivers.timebase import sleep_ms, ticks_diff, ticks_ms

# registers
_COMMAND = const(0x01)
_COM_IRQ = const(0x04)
_DIV_IRQ = const(0x05)
_ERROR = const(0x06)
_FIFO_DATA = const(0x09)
_FIFO_LEVEL = const(0x0A)
_CONTROL = const(0x0C)
_BIT_FRAMING = const(0x0D)
_COLL = const(0x0E)
_MODE = const(0x11)
_TX_MODE = const(0x12)
_RX_MODE = const(0x13)
_TX_CONTROL = const(0x14)
_TX_ASK = const(0x15)
_CRC_RESULT_H = const(0x21)
_CRC_RESULT_L = const(0x22)
_MOD_WIDTH = const(0x24)
_T_MODE = const(0x2A)
_T_PRESCALER = const(0x2B)
_T_RELOAD_H = const(0x2C)
_T_RELOAD_L = const(0x2D)
_VERSION = const(0x37)
# commands
_IDLE = const(0x00)
_CALC_CRC = const(0x03)
_TRANSMIT = const(0x04)
_TRANSCEIVE = const(0x0C)
_SOFT_RESET = const(0x0F)
# bits
_POWER_DOWN = const(0x10)
_IRQ_TX = const(0x40)
_IRQ_RX_OR_IDLE = const(0x30)
_IRQ_TIMER = const(0x01)
_DIV_IRQ_CRC = const(0x04)
_ERR_FATAL = const(0x13)  # BufferOvfl | ParityErr | ProtocolErr
_ERR_PARITY = const(0x02)
_ERR_COLLISION = const(0x08)
_START_SEND = const(0x80)
_FLUSH = const(0x80)
# card commands
_WUPA = const(0x52)
_CASCADE_TAG = const(0x88)
_SAK_CASCADE = const(0x04)
# transceive results besides a byte count
NO_ANSWER = const(-1)
COLLISION = const(-2)

_CHIP_DEADLINE_MS = const(20)  # beyond the chip's own timer: the chip is not working


class MFRC522:
    kind = "mfrc522"

    # spi: machine.SPI (mode 0, MSB first, <= 10 MHz); cs, reset: output Pins
    def __init__(self, spi, cs, reset=None, card_timeout_ms=5):
        self._spi = spi
        self._cs = cs
        self._reset = reset
        # chip timer: 13.56 MHz / (2 * 169 + 1) = 40 kHz, 25 us per tick
        self._reload = card_timeout_ms * 40
        if self._reload > 0xFFFF:
            raise ValueError("card_timeout_ms above 1638 ms")
        self._wr = bytearray(2)
        self._rd = bytearray(2)
        self._sel = bytearray(9)  # SEL NVB CLn0..3 BCC CRC_A(2)
        self._resp = bytearray(3)  # ATQA / SAK + CRC_A
        self._uid = bytearray(10)
        self._rx_last_bits = 0
        self.version = 0
        self.last_sak = 0
        self.last_atqa = 0
        cs.value(1)

    # -- registers ---------------------------------------------------------

    def _write(self, reg, value):
        wr = self._wr
        wr[0] = (reg << 1) & 0x7E
        wr[1] = value
        self._cs.value(0)
        self._spi.write(wr)
        self._cs.value(1)

    def _read(self, reg):
        wr = self._wr
        wr[0] = ((reg << 1) & 0x7E) | 0x80
        wr[1] = 0
        self._cs.value(0)
        self._spi.write_readinto(wr, self._rd)
        self._cs.value(1)
        return self._rd[1]

    def _set_bits(self, reg, mask):
        self._write(reg, self._read(reg) | mask)

    def _clear_bits(self, reg, mask):
        self._write(reg, self._read(reg) & (~mask & 0xFF))

    # -- set-up ------------------------------------------------------------

    def begin(self):
        # Reset, configure for ISO 14443A at 106 kbps, antenna on; returns VersionReg.
        if self._reset is not None:
            self._reset.value(0)
            sleep_ms(2)
            self._reset.value(1)
            sleep_ms(50)  # oscillator start-up
        version = self._read(_VERSION)
        if version == 0x00 or version == 0xFF:  # MISO stuck low or floating high
            raise BusError("no MFRC522 answering on SPI (VersionReg reads 0x{:02x}): check "
                           "SCK/MOSI/MISO/SDA(CS) wiring and 3.3 V power".format(version),
                           "no_answer")
        self.version = version
        self._write(_COMMAND, _SOFT_RESET)
        start = ticks_ms()
        while self._read(_COMMAND) & _POWER_DOWN:
            if ticks_diff(ticks_ms(), start) > 150:
                raise BusError("MFRC522 stays in soft reset: check its 3.3 V supply", "no_answer")
            sleep_ms(1)
        self._write(_TX_MODE, 0x00)
        self._write(_RX_MODE, 0x00)
        self._write(_MOD_WIDTH, 0x26)
        self._write(_T_MODE, 0x80)  # TAuto: timer starts when a transmission ends
        self._write(_T_PRESCALER, 0xA9)
        self._write(_T_RELOAD_H, self._reload >> 8)
        self._write(_T_RELOAD_L, self._reload & 0xFF)
        self._write(_TX_ASK, 0x40)  # 100 % ASK
        self._write(_MODE, 0x3D)  # CRC preset 6363 (CRC_A)
        self.antenna(True)
        return version

    def antenna(self, on):
        if on:
            self._set_bits(_TX_CONTROL, 0x03)
        else:
            self._clear_bits(_TX_CONTROL, 0x03)

    # -- card exchange -----------------------------------------------------

    def _load_fifo(self, data, count):
        self._write(_COMMAND, _IDLE)
        self._write(_FIFO_LEVEL, _FLUSH)
        for i in range(count):
            self._write(_FIFO_DATA, data[i])

    def _wait_irq(self, reg, mask, what):
        start = ticks_ms()
        while True:
            irq = self._read(reg)
            if irq & mask:
                return irq
            if reg == _COM_IRQ and irq & _IRQ_TIMER:
                return irq
            if ticks_diff(ticks_ms(), start) > _CHIP_DEADLINE_MS:
                raise BusError("MFRC522 did not finish {} in time: check wiring".format(what),
                               "timeout")

    def _transceive(self, tx, tx_len, last_bits, rx, rx_at, rx_align):
        # Sends tx[:tx_len] (last byte: last_bits valid, 0 = 8), receives into
        # rx[rx_at:]. Returns bytes received, NO_ANSWER or COLLISION.
        self._write(_COM_IRQ, 0x7F)
        self._load_fifo(tx, tx_len)
        framing = (rx_align << 4) | last_bits
        self._write(_BIT_FRAMING, framing)
        self._write(_COMMAND, _TRANSCEIVE)
        self._write(_BIT_FRAMING, framing | _START_SEND)
        irq = self._wait_irq(_COM_IRQ, _IRQ_RX_OR_IDLE, "a card exchange")
        self._write(_BIT_FRAMING, framing)
        if not irq & _IRQ_RX_OR_IDLE:
            self._write(_COMMAND, _IDLE)
            return NO_ANSWER
        error = self._read(_ERROR)
        if error & _ERR_COLLISION:
            # two cards answered: the chip flags the garbled byte's parity too, so the
            # collision is looked at first (else two cards read as an RF error)
            self._write(_COMMAND, _IDLE)
            self._write(_FIFO_LEVEL, _FLUSH)
            return COLLISION
        if error & _ERR_FATAL:
            self._write(_COMMAND, _IDLE)
            if error & 0x10:
                raise BusError("MFRC522 FIFO overflow", "fifo_overflow")
            raise CardError("card answer had a {} error; hold the card still".format(
                "parity" if error & _ERR_PARITY else "protocol"), "rf_error")
        count = self._read(_FIFO_LEVEL) & 0x7F
        self._rx_last_bits = self._read(_CONTROL) & 0x07
        if rx_at + count > len(rx):
            self._write(_FIFO_LEVEL, _FLUSH)
            raise CardError("card answered {} bytes, expected at most {}".format(
                count, len(rx) - rx_at), "answer_too_long")
        for i in range(count):
            value = self._read(_FIFO_DATA)
            if i == 0 and rx_align:
                keep = (1 << rx_align) - 1  # bits we sent stay, received bits land above
                value = (rx[rx_at] & keep) | (value & ~keep & 0xFF)
            rx[rx_at + i] = value
        return count

    def _crc_a(self, data, count, out, out_at):
        # CRC_A of data[:count] by the chip's coprocessor -> out[out_at], out[out_at+1]
        self._write(_DIV_IRQ, _DIV_IRQ_CRC)  # clear CRCIRq (Set2 = 0)
        self._load_fifo(data, count)
        self._write(_COMMAND, _CALC_CRC)
        self._wait_irq(_DIV_IRQ, _DIV_IRQ_CRC, "a CRC calculation")
        self._write(_COMMAND, _IDLE)
        out[out_at] = self._read(_CRC_RESULT_L)
        out[out_at + 1] = self._read(_CRC_RESULT_H)

    def _wake_all(self):
        # WUPA: ATQA from every card in the field, halted ones included.
        self._clear_bits(_COLL, 0x80)  # ValuesAfterColl = 0: zero bits after a collision
        resp = self._resp
        resp[0] = _WUPA
        n = self._transceive(resp, 1, 7, resp, 0, 0)
        if n == NO_ANSWER:
            return False
        if n == COLLISION:  # several cards with different ATQAs: still cards
            return True
        if n != 2 or self._rx_last_bits:
            raise CardError("card answered WUPA with {} bytes, expected a 2-byte ATQA"
                            .format(n), "bad_atqa")
        self.last_atqa = resp[0] | (resp[1] << 8)
        return True

    def _anticollision(self, level):
        # Fills sel[2:7] with UID CLn + BCC; False if the card left. Two cards in the
        # field are refused, not resolved: which learner tapped would be a guess.
        sel = self._sel
        sel[0] = 0x93 + 2 * level
        sel[1] = 0x20  # NVB: SEL and NVB only, no UID bits known
        n = self._transceive(sel, 2, 0, sel, 2, 0)
        if n == NO_ANSWER:
            return False
        if n == COLLISION:
            raise CardError("two cards in the field: present one card at a time", "two_cards")
        if n != 5 or self._rx_last_bits:
            raise CardError("anticollision answer of {} bytes at level {}".format(n, level + 1),
                            "bad_anticollision")
        return True

    def _select(self, level):
        # Selects the card whose CLn is in sel[2:6]; returns SAK, or -1 if it left.
        sel = self._sel
        if sel[2] ^ sel[3] ^ sel[4] ^ sel[5] != sel[6]:
            raise CardError("card UID check byte (BCC) wrong at level {}; hold the card still"
                            .format(level + 1), "bad_bcc")
        sel[1] = 0x70
        self._crc_a(sel, 7, sel, 7)
        resp = self._resp
        n = self._transceive(sel, 9, 0, resp, 0, 0)
        if n == NO_ANSWER:
            return -1
        if n != 3 or self._rx_last_bits:
            raise CardError("SELECT answered with {} bytes, expected SAK + CRC_A".format(n),
                            "bad_sak")
        sak = resp[0]
        self._crc_a(resp, 1, self._sel, 7)  # reuse sel[7:9]: the frame was sent
        if self._sel[7] != resp[1] or self._sel[8] != resp[2]:
            raise CardError("SAK CRC_A wrong; hold the card still", "bad_crc")
        return sak

    def _halt(self):
        # HLTA; sent with Transmit: a card must not answer it, so do not wait for one
        sel = self._sel
        sel[0] = 0x50
        sel[1] = 0x00
        self._crc_a(sel, 2, sel, 2)
        self._write(_COM_IRQ, 0x7F)
        self._load_fifo(sel, 4)
        self._write(_BIT_FRAMING, 0)
        self._write(_COMMAND, _TRANSMIT)
        self._wait_irq(_COM_IRQ, _IRQ_TX, "sending HLTA")
        self._write(_COMMAND, _IDLE)

    def read_uid(self):
        if not self._wake_all():
            return None
        uid = self._uid
        size = 0
        for level in range(3):
            if not self._anticollision(level):
                return None
            sak = self._select(level)
            if sak < 0:
                return None
            sel = self._sel
            if sak & _SAK_CASCADE:
                if sel[2] != _CASCADE_TAG or level == 2:
                    raise CardError("SAK asks for another cascade level without a cascade "
                                    "tag (CT 88)", "bad_cascade")
                for i in range(3):
                    uid[size + i] = sel[3 + i]
                size += 3
                continue
            if sel[2] == _CASCADE_TAG:
                raise CardError("cascade tag 88 but SAK says the UID is complete",
                                "bad_cascade")
            for i in range(4):
                uid[size + i] = sel[2 + i]
            size += 4
            self.last_sak = sak
            self._halt()
            return bytes(uid[:size])
        raise CardError("UID longer than three cascade levels", "bad_cascade")  # not reached
