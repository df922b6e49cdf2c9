"""Build tapcert-agent_<version>_all.deb for a station's Pi from a built tapcert wheel.

    python ops/deb/build.py --wheel dist/tapcert-0.1.0-py3-none-any.whl [--out dist]
    (or `make deb`, which builds the wheel first)

The package holds the wheel, constraints.txt, the unit and docs; its postinst makes the
`tapcert` user and /opt/tapcert/venv and pip-installs the wheel's [agent] extra there
(ops/deb/postinst). Architecture `all`: the compiled dependencies come from pip on the Pi.
Built with dpkg-deb (Debian package dpkg); tests/test_packaging/test_deb.py installs it into
a throwaway root with `dpkg --root`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NAME = "tapcert-agent"

# (source in the checkout, destination in the package)
FILES = (
    ("constraints.txt", "usr/share/tapcert-agent/constraints.txt"),
    ("ops/agent.toml", "usr/share/tapcert-agent/agent.toml.example"),
    ("ops/systemd/tapcert-agent.service", "lib/systemd/system/tapcert-agent.service"),
    ("docs/install.md", "usr/share/doc/tapcert-agent/install.md"),
    ("docs/agent.md", "usr/share/doc/tapcert-agent/agent.md"),
)
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tapcert
Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
"""


class BuildError(Exception):
    pass


def wheel_version(wheel: Path) -> str:
    found = re.match(r"tapcert-([0-9][^-]*)-py3-none-any\.whl$", wheel.name)
    if not found:
        raise BuildError("{} is not a tapcert wheel (tapcert-VERSION-py3-none-any.whl); build "
                         "one with `make wheel`".format(wheel))
    return found.group(1)


def build(wheel: Path, out: Path) -> Path:
    if not shutil.which("dpkg-deb"):
        raise BuildError("dpkg-deb is not installed: apt-get install dpkg")
    version = wheel_version(wheel)
    with tempfile.TemporaryDirectory(prefix="tapcert-deb-") as tmp:
        stage = Path(tmp) / NAME
        debian = stage / "DEBIAN"
        debian.mkdir(parents=True)
        control = (HERE / "control.in").read_text().replace("@VERSION@", version)
        (debian / "control").write_text(control)
        for script in ("postinst", "prerm", "postrm"):
            shutil.copy(HERE / script, debian / script)
            (debian / script).chmod(0o755)
        wheels = stage / "usr/share/tapcert-agent/wheels"
        wheels.mkdir(parents=True)
        shutil.copy(wheel, wheels / wheel.name)
        for source, target in FILES:
            (stage / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / source, stage / target)
        (stage / "usr/share/doc/tapcert-agent/copyright").write_text(COPYRIGHT)
        for path in stage.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
            elif path.parent != debian:
                path.chmod(0o644)
        out.mkdir(parents=True, exist_ok=True)
        deb = out / "{}_{}_all.deb".format(NAME, version)
        proc = subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(stage), str(deb)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError("dpkg-deb failed: " + (proc.stderr or proc.stdout).strip())
    return deb


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="ops/deb/build.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--wheel", required=True, type=Path, help="the tapcert wheel to package")
    p.add_argument("--out", default=REPO / "dist", type=Path, help="where the .deb goes")
    args = p.parse_args(argv)
    try:
        deb = build(args.wheel, args.out)
    except BuildError as exc:
        print("ops/deb/build.py: {}".format(exc), file=sys.stderr)
        return 1
    print("built {}".format(deb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
