"""Fixtures for provisioning tests: a private PC/SC desk (pcscd + vpcd in its own namespaces).
Helpers live in provkit.py, prov_hub.py and prov_broker.py (on sys.path: pyproject.toml pythonpath)."""

import os
import sys

import pytest



@pytest.fixture(scope="session")
def pcsc_desk(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the PC/SC desk needs root (unshare/nsenter) — run the tests as root, as CI does")
    from hil_tests.targets.vcard import PCSCDesk
    with PCSCDesk(tmp_path_factory.mktemp("pcsc")) as desk:
        yield desk
