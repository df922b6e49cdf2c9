"""Hardware-in-the-loop scenarios: the same scenarios on virtual readers (CI) or real ones.

    pytest hil_tests                                   # --target=virtual (default)
    pytest hil_tests --target=serial:/dev/ttyACM0      # a real reader on the bench
    pytest hil_tests --target=rp2040                   # stock MicroPython on an emulated RP2040
    pytest hil_tests --target=rp2040:budget=102400     # the same inside an ESP32's heap (.mpy)

The virtual target starts the real firmware on the MicroPython binary behind a pty with a
file-backed flash. On real readers taps are injected through the link's test command (the
reader must be enrolled with --test-mode) and a power cut needs a controllable USB power
switch (TAPCERT_HIL_POWER_CMD, called with "off" / "on"); without one, power-cut scenarios
are skipped on real hardware with that reason, never on the virtual target.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hil_tests.district import District
from hil_tests.targets.choice import TargetError, parse_target as _parse
from hil_tests.targets.serial import SerialTargetUnsupported

# The hubs tests start bind 127.0.0.1 and speak plain HTTP: say so explicitly (a hub refuses
# plain HTTP unless configured, and off loopback always). tests/test_security/test_tls_api.py
# removes this to test HTTPS.
os.environ.setdefault("TAPCERT_HUB_API_PLAIN_HTTP", "true")

RESULTS: list[tuple[str, str, float]] = []


def pytest_addoption(parser):
    group = parser.getgroup("hil")
    group.addoption("--target", default="virtual",
                    help="virtual (default), rp2040 (emulated Pico), rp2040:budget=102400 (the same "
                         "in an ESP32's heap: a /ballast leaves N bytes) or serial:/dev/ttyACM0[,/dev/ttyACM1]")



def parse_target(value: str) -> tuple[str, dict]:
    try:
        return _parse(value)
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config, items):
    # every scenario on the emulated RP2040 takes minutes: rp2040_full, which make test deselects
    if parse_target(config.getoption("--target"))[0] == "rp2040":
        here = os.path.dirname(os.path.abspath(__file__))
        for item in items:
            if str(item.path).startswith(here + os.sep):
                item.add_marker(pytest.mark.rp2040_full)


def pytest_generate_tests(metafunc):
    # scenarios marked rp2040_ci also run on the emulated RP2040 when the target is virtual:
    # the make test subset of the rp2040 target (each costs minutes; docs/hil.md)
    if "district_factory" not in metafunc.fixturenames:
        return
    if (metafunc.config.getoption("--target") == "virtual"
            and metafunc.definition.get_closest_marker("rp2040_ci")):
        metafunc.parametrize("reader_target", ["virtual", "rp2040"])


@pytest.fixture(scope="session")
def target(request) -> str:
    value = request.config.getoption("--target")
    parse_target(value)  # a usage error for anything else
    return value


@pytest.fixture
def reader_target(target) -> str:
    """The target of this test's readers: --target, or a rp2040_ci scenario's parameter."""
    return target


@pytest.fixture
def district_factory(tmp_path, reader_target):
    """make(stations={"S-0001": 1}, provision="fast") -> a started District (stopped after)."""
    made: list[District] = []
    target, options = parse_target(reader_target)

    def make(stations=None, provision="fast", start_agents=True, **kw) -> District:
        stations = stations or {"S-0001": 1}
        if target == "rp2040":
            kw.setdefault("reader_target", "rp2040")
            if "heap_budget" in options:
                kw.setdefault("reader_heap_budget", options["heap_budget"])
        elif target != "virtual":
            ports = target.split(":", 1)[1].split(",")
            need = sum(stations.values())
            if need > len(ports):
                pytest.skip(f"this scenario needs {need} readers on the bench, "
                            f"--target names {len(ports)}")
            kw["serial_ports"] = ports
        # Scripted taps come faster than people: a class of 40 in 10 s would (rightly) trip
        # the hub's tap-burst hold, which is tested on its own in tests/test_hub.
        kw.setdefault("hub_settings", {"integrity": {"burst_cards": 1000}})
        d = District(tmp_path / f"district{len(made)}", stations,
                     provision=provision, **kw)
        made.append(d)
        d.start_broker()
        d.start_hub()
        for sid, count in d.layout.items():
            d.add_station(sid, count)
        if start_agents:
            for sid in d.layout:
                d.start_agent(sid)
        return d

    try:
        yield make
    except SerialTargetUnsupported as exc:  # pragma: no cover - raised into the test instead
        pytest.skip(str(exc))
    finally:
        for d in made:
            d.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """On real readers, a step the bench cannot do (no power switch, no card emulator) skips
    the scenario with the reason; on the virtual target it cannot happen."""
    outcome = yield
    exc = outcome.excinfo[1] if outcome.excinfo else None
    if isinstance(exc, SerialTargetUnsupported):
        outcome.force_exception(pytest.skip.Exception(f"real reader bench: {exc}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        RESULTS.append((item.nodeid.split("::")[-1], report.outcome, report.duration))


def pytest_terminal_summary(terminalreporter):
    rows = [r for r in RESULTS if "scenario" in r[0]]
    if not rows:
        return
    terminalreporter.write_sep("-", "hil scenarios")
    for name, outcome, duration in rows:
        terminalreporter.write_line(f"  {outcome.upper():<7} {duration:6.1f}s  {name}")
