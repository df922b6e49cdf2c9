"""habits: what every tapcert-hub command does as people expect of a CLI (issue 19).

--version from the installed package (the checkout's pyproject.toml when run from a
checkout), --json through one printer, and a quiet exit when the reader of our output goes
away (`tapcert-hub status --json | head -1`). Each program keeps its own copy of this small
module: programs do not import each other.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from importlib import metadata
from pathlib import Path

CLOSED_PIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`


def version() -> str:
    try:
        return metadata.version("tapcert")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text("utf-8"))["project"]["version"] + " (checkout)"
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
