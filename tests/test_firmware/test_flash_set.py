"""What goes onto a reader's flash: firmware/manifest.py is the build host's FROZEN_MANIFEST
(it imports MicroPython's build tooling) and must never land on a reader, by either the
provisioning installer or the HIL targets' flash image."""

from hil_tests.targets.flashimage import firmware_files
from provisioning import firmware


def test_the_frozen_manifest_stays_on_the_build_host():
    installed = {s.flash_path for s in firmware.collect()}
    imaged = set(firmware_files())
    for files in (installed, imaged):
        assert "/main.py" in files and "/journal.py" in files
        assert "/manifest.py" not in files
