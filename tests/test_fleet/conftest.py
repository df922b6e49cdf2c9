"""Fixtures for fleet updates: a release key, bundles built from this checkout and from a
modified copy (another version), virtual readers with keys."""

import shutil
from pathlib import Path

import pytest

from hil_tests.targets.virtual import VirtualReader
from provisioning import fwbundle
from provisioning.firmware import version as fw_version
from hubkit import db_url           # fixtures of this folder from the hub's kit and storekit.py
from storekit import fleet

__all__ = ["bundles", "db_url", "fleet", "release", "variant", "virtual_readers"]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def variant(dest: Path, version: str, break_app: bool = False, break_label: str = "") -> Path:
    """A copy of firmware/ and protocol/ with another FW_VERSION (and app.py/config.py shifted a
    line, so their .mpy differ too); `break_app`: app.main raises, so the reader never answers."""
    for tree in ("firmware", "protocol"):
        shutil.copytree(REPO / tree, dest / tree, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    vpath = dest / "firmware" / "version.py"
    text = vpath.read_text()
    current = fw_version(REPO)
    vpath.write_text(text.replace('"{}"'.format(current), '"{}"'.format(version)))
    for name in ("app.py", "config.py"):
        p = dest / "firmware" / name
        p.write_text("# fleet update test build {}\n".format(version) + p.read_text())
    if break_app:
        p = dest / "firmware" / "app.py"
        p.write_text(p.read_text() + "\n\ndef main():\n    raise RuntimeError('broken build')\n")
    if break_label:   # a build that fails only on one reader (as a hardware-specific bug would)
        p = dest / "firmware" / "app.py"
        p.write_text(p.read_text() + (
            "\n\n_main = main\n\n\ndef main():\n    import config\n"
            "    if config.load()[0].get('label') == {!r}:\n"
            "        raise RuntimeError('broken on this reader')\n    _main()\n").format(break_label))
    return dest


@pytest.fixture(scope="session")
def release(tmp_path_factory):
    base = tmp_path_factory.mktemp("release")
    key = base / "release.key"
    public = fwbundle.keygen(key)
    return key, bytes.fromhex(public)


@pytest.fixture(scope="session")
def bundles(tmp_path_factory, release):
    """{"old": bytes (this checkout), "new": bytes (0.9.0), "broken": bytes (0.9.1, never answers)}"""
    key, _ = release
    base = tmp_path_factory.mktemp("bundles")
    out = {"old": fwbundle.build(key, kinds=("linux",))}
    out["new"] = fwbundle.build(key, kinds=("linux",), source=variant(base / "new", "0.9.0"))
    out["broken"] = fwbundle.build(key, kinds=("linux",),
                                   source=variant(base / "broken", "0.9.1", break_app=True))
    out["fleet"] = fwbundle.build(key, kinds=("linux",),
                                  source=variant(base / "fleet", "0.9.2", break_label="R-0006"))
    return out


@pytest.fixture
def virtual_readers(tmp_path):
    made = []

    def make(label, start=True):
        reader = VirtualReader(tmp_path / label, label=label)
        reader.install_firmware(config={"label": label, "station": "S-0001", "auto_keygen": True,
                                        "debounce_s": 0})
        if start:
            reader.start()
        made.append(reader)
        return reader

    yield make
    for reader in made:
        reader.stop()
