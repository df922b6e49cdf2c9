"""Helpers for provisioning tests: the CLI as a subprocess and the one-line error contract."""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# the checkout whose firmware/ and protocol/ the CLI flashes ($TAPCERT_FIRMWARE, as the CLI)
FIRMWARE_SOURCE = Path(os.environ.get("TAPCERT_FIRMWARE") or REPO)


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return "exit {}\nstdout:\n{}\nstderr:\n{}".format(self.code, self.out, self.err)


def run_cli(*args, env=None, timeout=120, cwd=None) -> Result:
    """Run the real console script `tapcert-provision` (as `python -m provisioning.cli`)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("TAPCERT_HUB", "TAPCERT_TOKEN")}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "provisioning.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=str(cwd or REPO))
    return Result(proc)


def run_hub(*args, timeout=60) -> Result:
    """Run the hub machine's commands (`tapcert-hub`, as `python -m server_hub.cli`)."""
    proc = subprocess.run([sys.executable, "-m", "server_hub.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=str(REPO))
    return Result(proc)


def assert_one_line_error(result, *fragments):
    """Exit status 1, and stderr is one `tapcert-provision: ...; fix` line with the fragments."""
    assert result.code == 1, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("tapcert-provision: "), result
    assert "; " in lines[0], "no fix given: " + lines[0]
    for fragment in fragments:
        assert fragment in lines[0], result
    return lines[0]
