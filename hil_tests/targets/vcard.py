"""Our own virtual contactless card for vsmartcard's vpcd, and a private PC/SC desk to put it on.

VirtualCard speaks vpcd's socket protocol: every message is a 2-byte big-endian length and a
payload. A 1-byte payload is a control message (0 power off, 1 power on, 2 reset, 4 = send
the ATR); anything longer is a command APDU, answered with a response APDU. While the card's
socket is connected, pcscd sees a card on the "Virtual PCD" reader; closing it removes the card.
The card answers the PC/SC part 3 pseudo-APDU GET DATA (`FF CA 00 00 Le`) with its UID, as a
USB contactless reader does for a MIFARE card.

PCSCDesk runs a real `pcscd -f` with the vpcd driver in private mount and network namespaces:
its socket lands in a temp dir (clients find it through PCSCLITE_CSOCK_NAME, which `env`
returns) instead of /run/pcscd, and vpcd's listening port exists only on the namespace's own
loopback. Cards are inserted by running `python -m hil_tests.targets.vcard` inside that
network namespace; removing a card stops its process. Needs root (unshare/nsenter).
PCSCD_DEBUG=-d in the environment makes pcscd log every driver call to <workdir>/pcscd.log.

    with PCSCDesk(tmp_path) as desk:
        desk.insert(bytes.fromhex("04a1b2c3d4e5f6"))
        subprocess.run([...], env=desk.env)     # pyscard -> pcscd -> vpcd -> our card
        desk.remove()
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

_VPCD_POWER_OFF = 0
_VPCD_POWER_ON = 1
_VPCD_RESET = 2
_VPCD_GET_ATR = 4

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_WRONG_P1P2 = b"\x6b\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"


def contactless_atr(standard: int = 0x03, card_name: int = 0x0001) -> bytes:
    """The ATR a PC/SC part 3 contactless reader builds for a storage card (default MIFARE 1K)."""
    # 3B 8F 80 01 80 4F 0C | RID A0 00 00 03 06 | standard | card name (2) | RFU (4) | TCK
    body = bytes([0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, standard,
                  card_name >> 8, card_name & 0xFF, 0, 0, 0, 0])
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes([tck])


def answer_apdu(uid: bytes, apdu: bytes) -> bytes:
    """The card's answer to one command APDU (pure: no sockets)."""
    if len(apdu) < 4:
        return SW_WRONG_LENGTH
    cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
    if cla != 0xFF:
        return SW_CLA_NOT_SUPPORTED
    if ins != 0xCA:
        return SW_INS_NOT_SUPPORTED
    if p1 == 0x01:  # historical bytes: none worth returning
        return SW_OK
    if p1 != 0x00 or p2 != 0x00:
        return SW_WRONG_P1P2
    le = apdu[4] if len(apdu) >= 5 else 0
    if le and le < len(uid):
        return bytes([0x6C, len(uid)])  # wrong Le: here is the right one
    return uid + SW_OK


class VirtualCard:
    """One card on vpcd's port. `serve()` blocks until vpcd closes the socket or `stop()`."""

    def __init__(self, uid: bytes, port: int = 35963, host: str = "127.0.0.1",
                 atr: bytes | None = None):
        if len(uid) not in (4, 7, 10):
            raise ValueError("a card UID is 4, 7 or 10 bytes, got {}".format(len(uid)))
        self.uid = bytes(uid)
        self.atr = atr or contactless_atr(card_name=0x0001 if len(uid) == 4 else 0x0003)
        self.address = (host, port)
        self.apdus = 0
        self._sock: socket.socket | None = None

    def connect(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection(self.address, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock

    def _read_exact(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _send(self, payload: bytes) -> None:
        self._sock.sendall(struct.pack(">H", len(payload)) + payload)

    def serve(self) -> None:
        quickack = getattr(socket, "TCP_QUICKACK", None)
        while self._sock is not None:
            if quickack is not None:
                self._sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
            try:
                head = self._read_exact(2)
                msg = head and self._read_exact(struct.unpack(">H", head)[0])
            except OSError:
                return
            if not msg:
                return
            if len(msg) == 1:
                if msg[0] == _VPCD_GET_ATR:
                    self._send(self.atr)
                continue  # power on/off and reset need no answer
            self.apdus += 1
            self._send(answer_apdu(self.uid, msg))

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _pcscd_binary() -> str:
    for cand in ("/usr/sbin/pcscd", "/usr/bin/pcscd"):
        if os.path.exists(cand):
            return cand
    raise RuntimeError("pcscd not installed: run `make system` (apt-get install pcscd vsmartcard-vpcd)")


def _vpcd_driver() -> str:
    for cand in ("/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
                 "/usr/lib64/pcsc/drivers/serial/libifdvpcd.so"):
        if os.path.exists(cand):
            return cand
    raise RuntimeError("vpcd driver not installed: apt-get install vsmartcard-vpcd")


class PCSCDesk:
    """A real pcscd with one vpcd reader, private to this object (see the module docstring)."""

    VPCD_PORT = 35963  # inside the private network namespace: no clash with anything

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.rundir = self.workdir / "run"
        self.confdir = self.workdir / "reader.conf.d"
        self.socket_path = self.rundir / "pcscd.comm"
        self.proc: subprocess.Popen | None = None
        self.card: subprocess.Popen | None = None
        self.log = self.workdir / "pcscd.log"

    @property
    def env(self) -> dict:
        """Environment for a pyscard client of this desk."""
        return dict(os.environ, PCSCLITE_CSOCK_NAME=str(self.socket_path))

    def start(self) -> "PCSCDesk":
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.confdir.mkdir(parents=True, exist_ok=True)
        (self.confdir / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            "DEVICENAME   /dev/null:{}\n"
            "LIBPATH      {}\n"
            "CHANNELID    {}\n".format(self.VPCD_PORT, _vpcd_driver(), self.VPCD_PORT))
        script = ("ip link set lo up && mount --bind {run} /run/pcscd && exec {pcscd} -f $PCSCD_DEBUG -c {conf}"
                  .format(run=self.rundir, pcscd=_pcscd_binary(), conf=self.confdir))
        os.makedirs("/run/pcscd", exist_ok=True)  # the mount point (empty dir) must exist
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--net", "--propagation", "private", "--", "sh", "-c", script],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while not self._vpcd_listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("pcscd with vpcd did not come up; see {}".format(self.log))
            time.sleep(0.05)
        return self

    def _netns(self) -> str:
        return "/proc/{}/ns/net".format(self.proc.pid)

    def _vpcd_listening(self) -> bool:
        if not self.socket_path.exists():
            return False
        probe = subprocess.run(["nsenter", "--net=" + self._netns(), "--", "ss", "-Hltn",
                                "sport = :{}".format(self.VPCD_PORT)],
                               capture_output=True, text=True)
        return str(self.VPCD_PORT) in probe.stdout

    def insert(self, uid: bytes, settle: float = 5.0) -> None:
        """Put a card with this UID on the reader; returns once pcscd sees it."""
        self.remove()
        self.card = subprocess.Popen(
            ["nsenter", "--net=" + self._netns(), "--", sys.executable, "-m",
             "hil_tests.targets.vcard", "--uid", uid.hex(), "--port", str(self.VPCD_PORT)],
            cwd=str(Path(__file__).resolve().parents[2]), start_new_session=True)
        self._wait_state(present=True, timeout=settle)

    def remove(self) -> None:
        card, self.card = self.card, None
        if card is not None and card.poll() is None:
            card.send_signal(signal.SIGTERM)
            try:
                card.wait(5)
            except subprocess.TimeoutExpired:
                card.kill()
                card.wait(5)
            self._wait_state(present=False, timeout=5)

    def _wait_state(self, present: bool, timeout: float) -> None:
        # Ask pcscd itself (through a throwaway client) so the test never races the daemon.
        code = ("from smartcard.System import readers\n"
                "from smartcard.CardConnection import CardConnection\n"
                "import sys\n"
                "try:\n"
                "    c = readers()[0].createConnection(); c.connect(); c.disconnect(); sys.exit(0)\n"
                "except Exception:\n"
                "    sys.exit(3)\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = subprocess.run([sys.executable, "-c", code], env=self.env,
                                capture_output=True).returncode
            if (rc == 0) == present:
                return
            time.sleep(0.1)
        raise RuntimeError("pcscd did not see the card {} within {}s".format(
            "arrive" if present else "leave", timeout))

    def stop(self) -> None:
        self.remove()
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vcard", description="a virtual contactless card for vpcd")
    parser.add_argument("--uid", required=True, help="card UID in hex, 4/7/10 bytes")
    parser.add_argument("--port", type=int, default=35963)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    card = VirtualCard(bytes.fromhex(args.uid), port=args.port, host=args.host)
    signal.signal(signal.SIGTERM, lambda *_: card.stop())
    card.connect()
    card.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
