"""Which files go into the wheel (everything else about the package is in pyproject.toml).

The four programs' Python packages, found anew at every build (server_hub's sub-packages
move), and the reader firmware: firmware/ is shipped as `tapcert_firmware` (no __init__:
MicroPython code that CPython never imports) so `tapcert-provision flash` and `bundle
build` work from an installed wheel (provisioning/firmware.py finds it there). Test code
(hil_tests/, tests/, a tests folder inside a package) is never shipped.

Beside the code, into the venv's share/ (pip puts data files under the venv's prefix, e.g.
/opt/tapcert/venv/share/...): the operator docs the systemd units' Documentation= lines
name, and ops/ (example configs, the units, the Mosquitto drop-in), so an install from the
wheel alone has everything docs/install.md copies into place.
tests/test_packaging/ builds the wheel and checks what it holds.
"""

from glob import glob

from setuptools import find_namespace_packages, setup

PROGRAMS = ("protocol", "agent", "server_hub", "provisioning")
NOT_SHIPPED = ["tests", "tests.*", "*.tests", "*.tests.*", "*__pycache__*"]

programs = find_namespace_packages(
    include=[name for program in PROGRAMS for name in (program, program + ".*")],
    exclude=NOT_SHIPPED)
firmware = ["tapcert_firmware"] + ["tapcert_firmware." + name for name in
                                   find_namespace_packages(where="firmware", exclude=NOT_SHIPPED)]

setup(
    packages=programs + firmware,
    package_dir={"tapcert_firmware": "firmware"},
    package_data={
        "protocol": ["SPEC.md", "vectors/*.json"],
        # the dashboard's files wherever they live; firmware data (bitmaps) beside its modules
        "": ["static/*", "static/vendor/*", "templates/*", "*.sql", "*.bin", "*.pbm"],
    },
    data_files=[
        ("share/doc/tapcert", ["README.md", "docs/install.md", "docs/hub.md", "docs/agent.md",
                               "docs/operator.md", "docs/provisioning.md"]),
        ("share/tapcert/examples", sorted(glob("ops/*.toml"))),
        ("share/tapcert/systemd", sorted(glob("ops/systemd/*.service") + glob("ops/systemd/*.timer"))),
        ("share/tapcert/mosquitto", sorted(glob("ops/mosquitto/*.conf"))),
        ("share/tapcert/grafana", sorted(glob("ops/grafana/*.json"))),
    ],
)
