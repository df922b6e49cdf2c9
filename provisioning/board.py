"""A reader on its USB serial port, for this tool: the maintenance link of
protocol/host/board.py (shared with the agent's firmware updates), raising this tool's errors.

    with Board("/dev/ttyACM0") as board:
        board.health()          # the firmware's H frame over the link, while it runs
        board.enter()           # stop it: raw REPL (then exec, hashes, write_file, run_main)

Every failure is a BoardError (a ProvisionError, which main() prints on one line), and code
that raised on the board a BoardRaised.
"""

from __future__ import annotations

from protocol.host import board as link
from provisioning.errors import BoardError


class BoardRaised(BoardError):
    """Code run on the board raised; `message` is the last traceback line."""

    def __init__(self, last_line: str, raw: bytes):
        super().__init__("the reader raised: {}".format(last_line))
        self.raw = raw


class Board(link.Board):
    Error = BoardError
    Raised = BoardRaised
