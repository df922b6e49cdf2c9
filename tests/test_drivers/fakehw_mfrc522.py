# fakehw_mfrc522: an MFRC522 on SPI with ISO 14443-3 type A cards in its field.
#
# Written from the MFRC522 datasheet (rev 3.9) and ISO/IEC 14443-3, not from
# the driver: SPI address bytes (bit 7 read, bit 0 must be 0), the registers
# the driver touches, the FIFO, CommandReg (Idle, CalcCRC, Transmit,
# Transceive started by BitFramingReg.StartSend, SoftReset), ComIrqReg/
# DivIrqReg Set1/Set2 semantics, TxLastBits/RxAlign/RxLastBits, CollReg with
# ValuesAfterColl = 0 (bits after a collision read as 0; CollPos counted from
# bit 0 of the first FIFO byte), TimerIRq when no card answers. Cards follow
# the ISO 14443-3 state machine (IDLE, READY, ACTIVE, HALT; READY*/ACTIVE*
# after HALT) with cascade levels for 4-, 7- and 10-byte UIDs.

IDLE, READY, ACTIVE, HALT = 0, 1, 2, 3


def crc_a(data):
    # ISO/IEC 14443-3 Annex B: CRC-16/ITU-T reflected, preset 6363 -> (lo, hi)
    crc = 0x6363
    for b in data:
        b = (b ^ (crc & 0xFF)) & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        crc = ((crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)) & 0xFFFF
    return crc & 0xFF, crc >> 8


def to_bits(data, nbits):
    bits = []
    for i in range(nbits):
        bits.append((data[i >> 3] >> (i & 7)) & 1)
    return bits


def from_bits(bits):
    out = bytearray((len(bits) + 7) // 8)
    for i in range(len(bits)):
        if bits[i]:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


class FakeCard:
    def __init__(self, uid, sak=None, atqa=None, bad_bcc_level=-1, bad_sak_crc=False,
                 mute_after=-1):
        uid = bytes(uid)
        if len(uid) not in (4, 7, 10):
            raise ValueError("UID must be 4, 7 or 10 bytes")
        self.uid = uid
        if len(uid) == 4:
            self.levels = [uid]
        elif len(uid) == 7:
            self.levels = [b"\x88" + uid[:3], uid[3:]]
        else:
            self.levels = [b"\x88" + uid[:3], b"\x88" + uid[3:6], uid[6:]]
        self.sak = sak if sak is not None else (0x08 if len(uid) == 4 else 0x00)
        size_bits = (len(self.levels) - 1) << 6  # ATQA b8b7: UID size
        self.atqa = atqa if atqa is not None else bytes([0x04 | size_bits, 0x00])
        self.bad_bcc_level = bad_bcc_level
        self.bad_sak_crc = bad_sak_crc
        self.mute_after = mute_after  # answers before it leaves the field (-1: never)
        self.state = IDLE
        self.halted = False
        self.level = 0
        self.answers = 0
        self.selects = 0

    def _cl_bits(self):
        cl = self.levels[self.level]
        bcc = cl[0] ^ cl[1] ^ cl[2] ^ cl[3]
        if self.level == self.bad_bcc_level:
            bcc ^= 0x01
        return to_bits(cl + bytes([bcc]), 40)

    def _fallback(self):
        # "any other" frame in READY/ACTIVE: back to IDLE, or HALT if woken from it
        if self.state in (READY, ACTIVE):
            self.state = HALT if self.halted else IDLE

    def receive(self, bits):
        # -> answer bits or None
        answer = self._receive(bits)
        if answer is not None:
            if self.mute_after == 0:
                return None
            if self.mute_after > 0:
                self.mute_after -= 1
            self.answers += 1
        return answer

    def _receive(self, bits):
        n = len(bits)
        data = from_bits(bits)
        if n == 7:
            if data[0] == 0x52 and self.state in (IDLE, HALT) or \
                    data[0] == 0x26 and self.state == IDLE:
                self.halted = self.state == HALT
                self.state = READY
                self.level = 0
                return to_bits(self.atqa, 16)
            self._fallback()
            return None
        if n == 32 and data[:2] == b"\x50\x00" and crc_a(data[:2]) == (data[2], data[3]):
            if self.state == ACTIVE:
                self.state = HALT
                self.halted = True
                return None
            self._fallback()
            return None
        if n >= 16 and data[0] in (0x93, 0x95, 0x97) and self.state == READY:
            if data[0] != 0x93 + 2 * self.level:
                self._fallback()
                return None
            nvb = data[1]
            if nvb == 0x70:
                return self._select(bits, data)
            known = ((nvb >> 4) - 2) * 8 + (nvb & 7)
            if known < 0 or known > 40 or n != 16 + known:
                self._fallback()
                return None
            mine = self._cl_bits()
            if bits[16:16 + known] != mine[:known]:
                return None  # not addressed: stay READY, stay quiet
            return mine[known:]
        self._fallback()
        return None

    def _select(self, bits, data):
        if len(bits) != 72 or crc_a(data[:7]) != (data[7], data[8]):
            self._fallback()
            return None
        cl = self.levels[self.level]
        if data[2:6] != cl or data[6] != cl[0] ^ cl[1] ^ cl[2] ^ cl[3]:
            return None
        self.selects += 1
        if self.level < len(self.levels) - 1:
            sak = 0x04
            self.level += 1
        else:
            sak = self.sak
            self.state = ACTIVE
        lo, hi = crc_a(bytes([sak]))
        if self.bad_sak_crc:
            lo ^= 0xFF
        return to_bits(bytes([sak, lo, hi]), 24)


# registers (datasheet table 20)
_COMMAND, _COM_IRQ, _DIV_IRQ, _ERROR = 0x01, 0x04, 0x05, 0x06
_FIFO_DATA, _FIFO_LEVEL, _CONTROL, _BIT_FRAMING, _COLL = 0x09, 0x0A, 0x0C, 0x0D, 0x0E
_TX_CONTROL, _CRC_H, _CRC_L, _VERSION = 0x14, 0x21, 0x22, 0x37

_RESET_VALUES = {0x01: 0x20, 0x02: 0x80, 0x04: 0x14, 0x07: 0x21, 0x0B: 0x08, 0x0C: 0x10,
                 0x0E: 0xA0, 0x11: 0x3F, 0x14: 0x80, 0x16: 0x10, 0x17: 0x84, 0x18: 0x84,
                 0x19: 0x4D, 0x1A: 0x10, 0x1C: 0x62, 0x21: 0xFF, 0x22: 0xFF, 0x24: 0x26,
                 0x26: 0x48, 0x27: 0x88, 0x28: 0x20, 0x29: 0x20}


class FakeMFRC522:
    def __init__(self, cards=(), version=0x92, reset_busy_reads=2):
        self.cards = list(cards)
        self.version = version
        self.reset_busy_reads = reset_busy_reads
        self.regs = bytearray(64)
        self.fifo = bytearray(64)
        self.fifo_len = 0
        self.fifo_at = 0
        self.errors = []  # SPI traffic a real chip would misread
        self.stuck = False  # never signals the end of a card exchange
        self.parity_error_next = False
        self.transceives = 0
        self.frames = []  # (bytes, nbits) sent to cards, while record is True
        self.record = True
        self._busy = 0
        self._reset()

    def _reset(self):
        for i in range(64):
            self.regs[i] = 0
        for reg in _RESET_VALUES:
            self.regs[reg] = _RESET_VALUES[reg]
        self.fifo_len = 0
        self.fifo_at = 0

    # -- SPI -----------------------------------------------------------------

    def spi_transfer(self, tx, rx):
        n = len(tx)
        if tx[0] & 0x01:
            self.errors.append("address byte with bit 0 set")
        if rx is not None:
            rx[0] = 0
        if tx[0] & 0x80:
            for i in range(1, n):
                value = self._read((tx[i - 1] >> 1) & 0x3F)
                if rx is not None:
                    rx[i] = value
                if i < n - 1 and not tx[i] & 0x80:
                    self.errors.append("read burst mixes in a write address")
        else:
            reg = (tx[0] >> 1) & 0x3F
            for i in range(1, n):
                self._write(reg, tx[i])
                if rx is not None:
                    rx[i] = 0

    def _read(self, reg):
        if reg == _FIFO_DATA:
            if self.fifo_at < self.fifo_len:
                value = self.fifo[self.fifo_at]
                self.fifo_at += 1
                return value
            return 0
        if reg == _FIFO_LEVEL:
            return self.fifo_len - self.fifo_at
        if reg == _VERSION:
            return self.version
        if reg == _COMMAND and self._busy:
            self._busy -= 1
            return self.regs[_COMMAND] | 0x10
        return self.regs[reg]

    def _write(self, reg, value):
        regs = self.regs
        if reg == _COMMAND:
            regs[_COMMAND] = value & 0x3F
            command = value & 0x0F
            if command == 0x0F:
                self._reset()
                self._busy = self.reset_busy_reads
            elif command == 0x03:
                self._calc_crc()
            elif command == 0x04:
                self._transmit(False)
                regs[_COM_IRQ] |= 0x10  # IdleIRq: Transmit ends by itself
                regs[_COMMAND] &= 0xF0
        elif reg == _COM_IRQ:
            if value & 0x80:
                regs[_COM_IRQ] |= value & 0x7F
            else:
                regs[_COM_IRQ] &= ~value & 0x7F
        elif reg == _DIV_IRQ:
            if value & 0x80:
                regs[_DIV_IRQ] |= value & 0x7F
            else:
                regs[_DIV_IRQ] &= ~value & 0x7F
        elif reg == _FIFO_DATA:
            if self.fifo_len >= 64:
                regs[_ERROR] |= 0x10
            else:
                self.fifo[self.fifo_len] = value
                self.fifo_len += 1
        elif reg == _FIFO_LEVEL:
            if value & 0x80:
                self.fifo_len = 0
                self.fifo_at = 0
                regs[_ERROR] &= ~0x10 & 0xFF
        elif reg == _BIT_FRAMING:
            regs[_BIT_FRAMING] = value
            if value & 0x80 and regs[_COMMAND] & 0x0F == 0x0C:
                self._transmit(True)
        elif reg == _ERROR or reg == 0x07 or reg == _VERSION:
            self.errors.append("write to read-only register 0x{:02x}".format(reg))
        else:
            regs[reg] = value

    def _fifo_bytes(self):
        out = bytes(self.fifo[self.fifo_at:self.fifo_len])
        self.fifo_len = 0
        self.fifo_at = 0
        return out

    def _calc_crc(self):
        lo, hi = crc_a(self._fifo_bytes())
        self.regs[_CRC_L] = lo
        self.regs[_CRC_H] = hi
        self.regs[_DIV_IRQ] |= 0x04

    # -- RF --------------------------------------------------------------------

    def _transmit(self, then_receive):
        regs = self.regs
        regs[_ERROR] = 0
        regs[_COLL] = (regs[_COLL] & 0x80) | 0x20
        regs[_COM_IRQ] |= 0x40  # TxIRq
        self.transceives += 1
        if self.stuck:
            return
        if not self.cards or not regs[_TX_CONTROL] & 0x03:
            self.fifo_len = 0
            self.fifo_at = 0
            if then_receive:
                regs[_COM_IRQ] |= 0x01  # TimerIRq: nobody answered
            return
        last = regs[_BIT_FRAMING] & 0x07
        align = (regs[_BIT_FRAMING] >> 4) & 0x07
        data = self._fifo_bytes()
        nbits = len(data) * 8 - ((8 - last) if last else 0)
        if self.record:
            self.frames.append((data, nbits))
        bits = to_bits(data, nbits)
        answers = []
        for card in self.cards:
            answer = card.receive(bits)
            if answer is not None:
                answers.append(answer)
        if not then_receive:
            return
        if not answers:
            regs[_COM_IRQ] |= 0x01
            return
        merged, collision = _merge(answers)
        if collision >= 0:
            merged = merged[:collision] + [0] * (len(merged) - collision)
            position = align + collision + 1
            regs[_ERROR] |= 0x0A  # CollErr, and ParityErr: a real chip flags both
            if position > 32:
                regs[_COLL] = (regs[_COLL] & 0x80) | 0x20
            else:
                regs[_COLL] = (regs[_COLL] & 0x80) | (position & 0x1F)
        if self.parity_error_next:
            self.parity_error_next = False
            regs[_ERROR] |= 0x02
        stored = [0] * align + merged
        received = from_bits(stored)
        for b in received:
            self.fifo[self.fifo_len] = b
            self.fifo_len += 1
        regs[_CONTROL] = (regs[_CONTROL] & 0xF8) | (len(stored) & 7)
        regs[_COM_IRQ] |= 0x20  # RxIRq


def _merge(answers):
    # Superimposes card answers bit by bit -> (bits of the first, first collision or -1)
    first = answers[0]
    longest = max(len(a) for a in answers)
    for i in range(longest):
        for other in answers[1:]:
            a = first[i] if i < len(first) else None
            b = other[i] if i < len(other) else None
            if a != b:
                return first + [0] * (longest - len(first)), i
    return first, -1
