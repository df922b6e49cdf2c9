"""The one error type of tapcert-provision.

    ProvisionError          what happened and what to do; the CLI prints it on one line
    +-- BoardError          the serial port, MicroPython, mpremote, firmware on the reader
    +-- HubError            the hub's API: unreachable, refused token, conflict
    +-- CardError           the PC/SC desk reader or the card on it
    +-- StationError        the station's identity files, the fleet CA

Library errors (pyserial, mpremote, httpx, pyscard, cryptography) are translated where they
are caught: ``raise BoardError(...) from exc``. `main()` catches ProvisionError only and
prints ``tapcert-provision: <message>`` on stderr with exit status 1.
"""


class ProvisionError(Exception):
    def __init__(self, message, fix=None):
        self.message = message
        self.fix = fix
        super().__init__(message + ("; " + fix if fix else ""))


class BoardError(ProvisionError):
    pass


class HubError(ProvisionError):
    pass


class CardError(ProvisionError):
    pass


class StationError(ProvisionError):
    pass
