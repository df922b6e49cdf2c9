"""clihabits: what every tapcert command does as people expect of a CLI (issue 19).

--version from the installed package (the checkout's pyproject.toml when run from a
checkout), --json through one printer, and a quiet exit when the reader of our output goes
away (`tapcert-hub status --json | head -1`, `tapcert-agent status | head -1`,
`tapcert-provision doctor --json | head -1`). One module for the three programs: argparse's
`%(prog)s` names the program in `--version`, nothing else here depends on which one runs.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from importlib import metadata
from pathlib import Path

CLOSED_PIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`
CHECKOUT_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def version() -> str:
    try:
        return metadata.version("tapcert")
    except metadata.PackageNotFoundError:
        try:
            project = tomllib.loads(CHECKOUT_PYPROJECT.read_text("utf-8"))["project"]
            return project["version"] + " (checkout)"
        except (OSError, KeyError, ValueError):
            return "unknown (not installed)"


def print_json(data) -> None:
    print(json.dumps(data, indent=1, default=str, ensure_ascii=False))


def run(main, argv) -> int:
    """main(argv) with a closed stdout ending the command quietly instead of a traceback."""
    try:
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse's --help, --version and usage errors print too
            status = exc.code
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # the reader left: point stdout at /dev/null so the interpreter's final flush is silent
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return CLOSED_PIPE_STATUS
