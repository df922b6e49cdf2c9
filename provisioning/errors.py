"""The one error type of tapcert-provision.

    ProvisionError              what happened and what to do; the CLI prints it on one line
    +-- BoardError              the serial port, MicroPython, mpremote, firmware on the reader
    |   +-- BoardRaised         code run on the board raised (board.py)
    +-- HubRequestError         a request to the hub's API failed: unreachable, untrusted
    |   |                       certificate, refused token, an answer that is not JSON
    |   +-- NotFound            the hub answered 404 (hubclient.py): not registered there
    |   +-- Conflict            the hub answered 409 (hubclient.py): registered already
    +-- CardError               the PC/SC desk reader or the card on it
    +-- StationError            the station's identity files, the fleet CA
    +-- BundleRefused           a firmware bundle that must not be installed (fwbundle.py)

An offline enrolment bundle that does not verify raises protocol's BundleError
(protocol/host/enrolbundle.py), caught by the hub's import.

The hub has its own tree (server_hub/errors.py, rooted at HubError); no class name here means
something else there.

A BoardError is also the maintenance link's own BoardError (protocol/host/portcheck.py): the
link's code raises the class its Board names (provisioning/board.py names this one).

Library errors (pyserial, mpremote, httpx, pyscard, cryptography) are translated where they
are caught: ``raise BoardError(...) from exc``. `main()` catches ProvisionError only and
prints ``tapcert-provision: <message>`` on stderr with exit status 1.
"""

from protocol.host import portcheck as link


class ProvisionError(Exception):
    def __init__(self, message, fix=None):
        self.message = message
        self.fix = fix
        super().__init__(message + ("; " + fix if fix else ""))


class BoardError(ProvisionError, link.BoardError):
    """The reader's maintenance link (protocol/host/board.py) failed. Also a link.BoardError,
    so the shared link code (protocol/host/) that catches its own errors catches this one."""

    def __init__(self, message, fix=None):
        Exception.__init__(self, message + ("; " + fix if fix else ""))
        self.message, self.fix = message, fix


class HubRequestError(ProvisionError):
    pass


class CardError(ProvisionError):
    pass


class StationError(ProvisionError):
    pass
