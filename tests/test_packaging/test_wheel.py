"""The wheel outside the checkout (tests/test_packaging/wheelcheck.py): built, installed into a
new venv in a temp dir, and `tapcert-hub init`/`run` + /dashboard, `tapcert-agent show-config`
and `tapcert-provision flash` onto a virtual reader run from there."""

import os

import pytest

import wheelcheck


@pytest.mark.slow
def test_the_wheel_runs_every_program_outside_the_checkout(tmp_path):
    if os.environ.get("TAPCERT_WHEEL_CHECKED") == "1":
        pytest.skip(".ci/run's wheel step ran this same check on this checkout before `make test`")
    lines = []
    results = wheelcheck.check(tmp_path, out=lines.append)
    assert [name for name, passed, _, _ in results if passed] == list(wheelcheck.STEPS), \
        "\n".join(lines)
