"""The card desk: a USB PC/SC contactless reader, through pyscard, reduced to "read a UID".

The pure part is the APDU: GET DATA `FF CA 00 00 00` (PC/SC part 3) asks the reader for the
UID of the card in its field; the answer is the UID and `90 00`. `uid_from_response` checks
it. `DeskReader` is the thin adapter over pyscard's low-level `scard` module (not its
Java-style classes): find the reader, wait for a card, connect, transmit, disconnect, and
translate every PC/SC error code into a CardError that says what to do.

pcscd's socket can be moved with PCSCLITE_CSOCK_NAME (tests use a private pcscd).
"""

from __future__ import annotations

import time

from provisioning.errors import CardError

GET_UID = [0xFF, 0xCA, 0x00, 0x00, 0x00]
UID_LENGTHS = (4, 7, 10)


def uid_from_response(data, sw1: int, sw2: int) -> bytes:
    if (sw1, sw2) == (0x90, 0x00):
        uid = bytes(data)
        if len(uid) not in UID_LENGTHS:
            raise CardError("the card answered with a {}-byte UID".format(len(uid)),
                            "use a learner card with a 4, 7 or 10-byte UID (ISO 14443-A)")
        return uid
    if (sw1, sw2) in ((0x6A, 0x81), (0x6D, 0x00), (0x6E, 0x00)):
        raise CardError("this reader does not support reading card UIDs (status {:02X}{:02X})"
                        .format(sw1, sw2), "use a PC/SC part 3 contactless reader (e.g. ACR122U)")
    raise CardError("the card's UID could not be read (status {:02X}{:02X})".format(sw1, sw2),
                    "hold the card still on the reader and retry")


def parse_uid(text: str) -> bytes:
    """'04:A1:B2:C3' / '04a1b2c3' / '04 a1 b2 c3' -> bytes; CardError if it is not a UID."""
    cleaned = "".join(ch for ch in text if ch not in ": -")
    try:
        uid = bytes.fromhex(cleaned)
    except ValueError:
        uid = b""
    if len(uid) not in UID_LENGTHS:
        raise CardError("{!r} is not a card UID".format(text),
                        "give 8, 14 or 20 hex digits, e.g. 04A1B2C3D4E5F6")
    return uid


def _scard():
    try:
        from smartcard import scard
    except ImportError as exc:
        raise CardError("pyscard is not installed",
                        "pip install 'tapcert[cards]' (needs pcscd and libpcsclite)") from exc
    return scard


class DeskReader:
    """One PC/SC reader at the technician's desk. `name` picks a reader by substring."""

    def __init__(self, name: str | None = None):
        self.name = name
        self.scard = _scard()

    def _check(self, hresult: int, what: str) -> None:
        sc = self.scard
        if hresult == sc.SCARD_S_SUCCESS:
            return
        if hresult in (sc.SCARD_E_NO_SERVICE, sc.SCARD_E_SERVICE_STOPPED):
            raise CardError("the PC/SC service is not running",
                            "start it: systemctl start pcscd (or run pcscd)")
        if hresult == sc.SCARD_E_NO_READERS_AVAILABLE:
            raise CardError("no card reader is connected",
                            "plug in the USB card reader and retry")
        if hresult in (sc.SCARD_E_NO_SMARTCARD, sc.SCARD_W_REMOVED_CARD,
                       sc.SCARD_W_UNPOWERED_CARD):
            raise CardError("no card on the reader", "place the learner's card on the reader and retry")
        if hresult in (sc.SCARD_W_UNRESPONSIVE_CARD, sc.SCARD_W_UNSUPPORTED_CARD):
            raise CardError("the card on the reader does not answer",
                            "check it is a learner card and hold it flat on the reader")
        if hresult == sc.SCARD_E_SHARING_VIOLATION:
            raise CardError("another program holds the card reader",
                            "close other card programs and retry")
        raise CardError("PC/SC failed to {}: {}".format(what, sc.SCardGetErrorMessage(hresult)),
                        "unplug and replug the card reader, then retry")

    def _pick(self, context) -> str:
        sc = self.scard
        hresult, readers = sc.SCardListReaders(context, [])
        self._check(hresult, "list readers")
        if self.name:
            readers = [r for r in readers if self.name.lower() in r.lower()]
            if not readers:
                raise CardError("no card reader named like {!r}".format(self.name),
                                "run `tapcert-provision card readers` and pick one")
        if not readers:
            raise CardError("no card reader is connected", "plug in the USB card reader and retry")
        return readers

    def readers(self) -> list[str]:
        context = self._context()
        try:
            return self._pick(context)
        finally:
            self.scard.SCardReleaseContext(context)

    def _context(self):
        hresult, context = self.scard.SCardEstablishContext(self.scard.SCARD_SCOPE_USER)
        self._check(hresult, "connect to the PC/SC service")
        return context

    def _wait_for_card(self, context, readers, wait: float, on_wait) -> str:
        """The first reader with a card present, polling up to `wait` seconds."""
        sc = self.scard
        deadline = time.monotonic() + wait
        while True:
            hresult, states = sc.SCardGetStatusChange(
                context, 0, [(r, sc.SCARD_STATE_UNAWARE) for r in readers])
            if hresult not in (sc.SCARD_S_SUCCESS, sc.SCARD_E_TIMEOUT):
                self._check(hresult, "watch the reader")
            for reader, event, _atr in states:
                if event & sc.SCARD_STATE_PRESENT and not event & sc.SCARD_STATE_MUTE:
                    return reader
            if time.monotonic() >= deadline:
                raise CardError("no card on {}".format(" or ".join(readers)),
                                "place the learner's card on the reader and retry")
            if on_wait:
                on_wait(readers)
                on_wait = None
            time.sleep(0.1)

    def read_uid(self, wait: float = 0.0, on_wait=None) -> tuple[str, bytes]:
        """(reader name, UID) of the card on the reader; waits up to `wait` s for one."""
        sc = self.scard
        context = self._context()
        try:
            reader = self._wait_for_card(context, self._pick(context), wait, on_wait)
            hresult, card, protocol = sc.SCardConnect(
                context, reader, sc.SCARD_SHARE_SHARED, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1)
            self._check(hresult, "connect to the card")
            try:
                apdu = list(GET_UID)
                for _ in range(2):
                    hresult, response = sc.SCardTransmit(card, protocol, apdu)
                    self._check(hresult, "talk to the card")
                    if len(response) < 2:
                        raise CardError("the reader gave a short answer",
                                        "hold the card still on the reader and retry")
                    sw1, sw2 = response[-2], response[-1]
                    if sw1 == 0x6C:  # wrong Le: the reader tells us the right one
                        apdu = GET_UID[:4] + [sw2]
                        continue
                    return reader, uid_from_response(response[:-2], sw1, sw2)
                raise CardError("the reader kept refusing the UID length",
                                "use a PC/SC part 3 contactless reader (e.g. ACR122U)")
            finally:
                sc.SCardDisconnect(card, sc.SCARD_UNPOWER_CARD)
        finally:
            sc.SCardReleaseContext(context)
