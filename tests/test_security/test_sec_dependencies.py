"""Dependencies are pinned (constraints.txt) and audited honestly (tools/audit_deps.py).

The audit itself needs the internet, so it is a CI step, not a test (tests talk to 127.0.0.1
only); here: every package tapcert[dev] pulls in, transitively, is pinned at the version this
venv runs, and the audit's verdict never calls an unaudited package clean."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

from packaging.requirements import Requirement

from tools import audit_deps

REPO = Path(__file__).resolve().parents[2]


def _needed(root="tapcert", extras=("dev",)) -> dict[str, str]:
    """{canonical name: installed version} of everything root[extras] requires, transitively."""
    seen: dict[str, str] = {}
    todo = [(root, set(extras))]
    done = set()
    while todo:
        name, want = todo.pop()
        key = (audit_deps.canonical(name), frozenset(want))
        if key in done:
            continue
        done.add(key)
        dist = md.distribution(name)
        if audit_deps.canonical(name) != "tapcert":
            seen[audit_deps.canonical(name)] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            envs = [{"extra": e} for e in want] or [{"extra": ""}]
            if req.marker is not None and not any(req.marker.evaluate(env) for env in envs):
                continue
            todo.append((req.name, set(req.extras)))
    return seen


def test_every_dependency_of_the_dev_install_is_pinned_at_its_installed_version():
    pins = audit_deps.read_pins(REPO / "constraints.txt")
    needed = _needed()
    assert len(needed) >= 20
    missing = sorted(n for n in needed if n not in pins)
    assert not missing, f"not pinned in constraints.txt: {missing}; run tools/audit_deps.py --freeze"
    drift = {n: (pins[n], v) for n, v in needed.items() if pins[n] != v}
    assert not drift, f"constraints.txt pins differ from the venv (pinned, installed): {drift}"
    assert "tapcert" not in pins


def test_audit_verdicts_never_call_an_unaudited_package_clean():
    clean = {"dependencies": [{"name": "a", "version": "1", "vulns": []},
                              {"name": "b", "version": "2", "vulns": []}]}
    assert audit_deps.judge(clean)[0] == 0
    vuln = {"dependencies": [{"name": "a", "version": "1", "vulns": [
        {"id": "PYSEC-1", "fix_versions": ["1.1"]}]}, {"name": "b", "skip_reason": "x: y"}]}
    status, lines = audit_deps.judge(vuln)
    assert status == 1 and any("PYSEC-1" in line and "1.1" in line for line in lines)
    offline = {"dependencies": [{"name": "a", "skip_reason": "Dependency not found on PyPI: a"}]}
    status, lines = audit_deps.judge(offline)
    assert status == 2 and "NOT AUDITED" in lines[-1]
    partial = {"dependencies": [{"name": "a", "version": "1", "vulns": []},
                                {"name": "b", "skip_reason": "Dependency not found on PyPI: b"}]}
    status, lines = audit_deps.judge(partial)
    assert status == 2 and "NOT FULLY AUDITED" in lines[-1]
    assert audit_deps.judge({})[0] == 2


def test_pins_parse_and_refuse_unpinned_lines(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("# comment\nFoo_Bar==1.2  # why\n\nbaz.qux==3\n")
    assert audit_deps.read_pins(path) == {"foo-bar": "1.2", "baz-qux": "3"}
    path.write_text("foo>=1\n")
    try:
        audit_deps.read_pins(path)
    except ValueError as exc:
        assert "not pinned" in str(exc)
    else:
        raise AssertionError("an unpinned line was accepted")
