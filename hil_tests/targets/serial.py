"""A real reader on the bench, on a serial port (/dev/ttyACM0), as a hil target.

It offers the VirtualReader methods the scenarios use. The agent owns the port while it
runs, so a test tap goes through the agent's control socket (`tapcert-agent inject`): the
reader must be enrolled with --test-mode. A power cut needs a controllable USB power switch:
TAPCERT_HIL_POWER_CMD is run with "off" / "on" (e.g. "uhubctl -l 1-1 -p 2 -a"); without it
the scenario is skipped on real hardware with that reason.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time


# what the reader's display says for each feedback event (firmware/feedback.py)
_TEXTS = {"recorded": "Recorded #{seq}", "warning": "Recorded #{seq} - storage nearly full",
          "duplicate": "Already recorded", "blocked": "Card blocked - see staff",
          "full": "Storage full - call technician"}


class SerialTargetUnsupported(Exception):
    """This bench cannot do what the scenario asks (no power switch, no card emulator)."""


class SerialReader:
    def __init__(self, port: str, label: str):
        self.port = port
        self.label = label
        self.control_path: str | None = None  # the running agent's control socket

    # the VirtualReader surface -------------------------------------------------------------
    def install_firmware(self, files=None, config=None) -> None:
        """Nothing: a bench reader is flashed by `tapcert-provision flash` (District does it)."""

    def start(self, **_kw) -> None:
        pass

    def stop(self, **_kw) -> None:
        pass

    @property
    def card_field_port(self):
        return None

    def tap(self, uid: bytes, kind: int = 1, timeout: float = 10.0) -> dict:
        if not self.control_path:
            raise SerialTargetUnsupported(
                "a tap on a real reader with no agent running needs a card emulator "
                "(the link's test tap goes through the agent)")
        from agent.control import request
        answer = request(self.control_path, {"cmd": "inject", "reader": self.label,
                                             "uid": bytes(uid).hex(), "kind": kind},
                         timeout=timeout + 5)
        if not answer.get("ok"):
            raise RuntimeError(f"{self.label}: {answer.get('error')}")
        event, seq = answer["event"], answer.get("seq")
        return {"event": event, "seq": seq, "text": _TEXTS.get(event, event).format(seq=seq)}

    def _power(self, state: str) -> None:
        cmd = os.environ.get("TAPCERT_HIL_POWER_CMD")
        if not cmd:
            raise SerialTargetUnsupported("no USB power switch configured (TAPCERT_HIL_POWER_CMD)")
        subprocess.run(shlex.split(cmd) + [state], check=True, timeout=30)

    def power_cut(self) -> None:
        self._power("off")

    def power_on(self, wait: bool = True, timeout: float = 20.0) -> None:
        self._power("on")
        if wait:
            time.sleep(min(timeout, 3.0))  # USB re-enumeration and boot
