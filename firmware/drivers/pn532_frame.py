# pn532_frame: PN532 frame codec (UM0701-02 6.2.1), pure: no bus, no clock.
#
#   information frame  00 | 00 FF | LEN | LCS | TFI | PD0 .. PDn | DCS | 00
#     LEN counts TFI + PD bytes; LEN + LCS = 0 and TFI + PD0..PDn + DCS = 0
#     (mod 256); TFI is D4 host->PN532, D5 PN532->host; response code = command + 1
#   ACK    00 00 FF 00 FF 00      NACK  00 00 FF FF 00 00 (send the last response again)
#   error  00 00 FF 01 FF 7F 81 00 (the chip found a syntax error in our frame)
# build_frame() writes into a caller's buffer; parse_frame() validates in place
# and returns an index, so the polling path allocates nothing.
try:
    from micropython import const
except ImportError:
    from protocol.compat import const

from drivers.errors import FrameError

ACK_FRAME = const(-1)
NACK_FRAME = const(-2)
_HOST_TO_PN532 = const(0xD4)
_PN532_TO_HOST = const(0xD5)

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"


def build_frame(out, command, params=b""):
    # Writes a host->PN532 information frame into `out`; returns its length.
    length = 2 + len(params)
    if length > 254 or len(out) < length + 7:
        raise ValueError("PN532 frame too long for the buffer")
    out[0] = 0x00
    out[1] = 0x00
    out[2] = 0xFF
    out[3] = length
    out[4] = (256 - length) & 0xFF
    out[5] = _HOST_TO_PN532
    out[6] = command
    total = _HOST_TO_PN532 + command
    i = 7
    for b in params:
        out[i] = b
        total += b
        i += 1
    out[i] = (256 - (total & 0xFF)) & 0xFF
    out[i + 1] = 0x00
    return i + 2


def parse_frame(buf, start, end):
    # Validates the frame in buf[start:end]. Returns ACK_FRAME, NACK_FRAME or the
    # index of the TFI byte of a PN532->host information frame (LEN is buf[i-2]).
    i = start
    while True:
        if i + 1 >= end:
            raise FrameError("PN532 answer has no start code (00 FF)", "no_start_code")
        if buf[i] == 0x00 and buf[i + 1] == 0xFF:
            break
        if buf[i] != 0x00:
            raise FrameError("PN532 answer begins with 0x{:02x}, not a frame".format(buf[i]),
                             "no_start_code")
        i += 1
    i += 2
    if i + 1 >= end:
        raise FrameError("PN532 frame cut off after its start code", "truncated")
    length = buf[i]
    lcs = buf[i + 1]
    if length == 0x00 and lcs == 0xFF:
        return ACK_FRAME
    if length == 0xFF and lcs == 0x00:
        return NACK_FRAME
    if length == 0xFF and lcs == 0xFF:
        raise FrameError("PN532 sent an extended frame; not used by this driver", "extended_frame")
    if (length + lcs) & 0xFF or length == 0:
        raise FrameError("PN532 frame length checksum wrong (LEN {:02x}, LCS {:02x})"
                         .format(length, lcs), "bad_length_checksum")
    tfi = i + 2
    if tfi + length >= end:
        raise FrameError("PN532 frame of {} bytes cut off".format(length), "truncated")
    total = 0
    for k in range(tfi, tfi + length + 1):
        total += buf[k]
    if total & 0xFF:
        raise FrameError("PN532 frame data checksum wrong", "bad_checksum")
    if length == 1 and buf[tfi] == 0x7F:
        raise FrameError("PN532 rejected our command frame (syntax error frame)", "chip_error")
    if buf[tfi] != _PN532_TO_HOST:
        raise FrameError("PN532 frame has TFI 0x{:02x}, expected D5".format(buf[tfi]),
                         "wrong_direction")
    return tfi


def frame_end(buf, n):
    # Total length of the frame being received once its header is in, else 0.
    s = 0
    while s + 3 < n:
        if buf[s] == 0x00 and buf[s + 1] == 0xFF:
            length = buf[s + 2]
            if (length == 0x00 and buf[s + 3] == 0xFF) or (length == 0xFF and buf[s + 3] == 0x00):
                return s + 5
            return s + 6 + length
        s += 1
    return 0
