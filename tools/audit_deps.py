"""Pinned dependencies: write constraints.txt from the venv, and audit it for known
vulnerabilities with pip-audit -- honestly when the advisory service cannot be reached.

    python tools/audit_deps.py --freeze      # rewrite constraints.txt from this venv
    python tools/audit_deps.py               # audit constraints.txt (needs the internet)

Install with the pins: pip install -c constraints.txt -e '.[dev]'.

Exit status: 0 every pinned package was audited and none has a known vulnerability; 1 at
least one has; 2 NOT AUDITED -- pip-audit is missing, or the advisory service (PyPI's JSON
API, or OSV with --service osv) could not be reached or knew none of the packages. A
package the service skipped is never counted as clean.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONSTRAINTS = REPO / "constraints.txt"
HEADER = """\
# Every dependency of tapcert[dev], pinned: what `make test` and CI run on.
# Written by `python tools/audit_deps.py --freeze` from the venv (pip freeze --all, the project
# itself left out); audit it with `python tools/audit_deps.py`; install with
#   pip install -c constraints.txt -e '.[dev]'
"""


def freeze(python: str = sys.executable) -> list[str]:
    out = subprocess.run([python, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                         capture_output=True, text=True, check=True).stdout
    pins = [line.strip() for line in out.splitlines()
            if line.strip() and "==" in line and not line.lower().startswith("tapcert==")]
    return sorted(pins, key=str.lower)


def read_pins(path: Path = CONSTRAINTS) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version:
            raise ValueError(f"{path}: {line!r} is not pinned (name==version)")
        pins[canonical(name)] = version
    return pins


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def judge(report: dict) -> tuple[int, list[str]]:
    """pip-audit's JSON report -> (exit status, lines for a person)."""
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    vulnerable = [d for d in deps if d.get("vulns")]
    audited = len(deps) - len(skipped)
    lines = []
    for d in vulnerable:
        for v in d["vulns"]:
            fixed = ", ".join(v.get("fix_versions") or []) or "no fixed release yet"
            lines.append(f"VULNERABLE {d['name']} {d.get('version', '?')}: {v.get('id')} "
                         f"(fixed in {fixed})")
    if skipped:
        reasons = sorted({d["skip_reason"].split(":")[0] for d in skipped})
        lines.append(f"{len(skipped)} of {len(deps)} packages could not be audited: "
                     + "; ".join(reasons))
    if vulnerable:
        return 1, lines
    if not deps or audited == 0:
        lines.append("NOT AUDITED: the advisory service answered for none of the pinned "
                     "packages (no network to it?); nothing is known about their safety")
        return 2, lines
    if skipped:
        lines.append(f"NOT FULLY AUDITED: {audited} packages have no known vulnerability, "
                     f"{len(skipped)} were not checked")
        return 2, lines
    lines.append(f"{audited} pinned packages audited: no known vulnerabilities")
    return 0, lines


def audit(path: Path, service: str) -> tuple[int, list[str]]:
    cmd = [sys.executable, "-m", "pip_audit", "-r", str(path), "--no-deps", "--disable-pip",
           "--progress-spinner", "off", "-f", "json", "-s", service]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return 2, ["NOT AUDITED: pip-audit did not finish within 10 minutes"]
    if "No module named pip_audit" in proc.stderr:
        return 2, ["NOT AUDITED: pip-audit is not installed (pip install pip-audit)"]
    try:
        report = json.loads(proc.stdout or "{}")
    except ValueError:
        report = {}
    if not report.get("dependencies"):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return 2, [f"NOT AUDITED: pip-audit could not reach the {service} advisory service "
                   f"({last[:300]})"]
    return judge(report)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python tools/audit_deps.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--freeze", action="store_true", help="rewrite constraints.txt from this venv")
    p.add_argument("--service", default="pypi", choices=["pypi", "osv"],
                   help="vulnerability service pip-audit asks (default pypi)")
    p.add_argument("--constraints", default=str(CONSTRAINTS))
    args = p.parse_args(argv)
    path = Path(args.constraints)
    if args.freeze:
        pins = freeze()
        path.write_text(HEADER + "\n".join(pins) + "\n")
        print(f"wrote {len(pins)} pins to {path}")
        return 0
    status, lines = audit(path, args.service)
    for line in lines:
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
