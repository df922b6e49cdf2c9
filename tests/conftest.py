"""Shared pytest wiring.

Dual-interpreter tests: a test file whose first lines contain the marker
`# dual: micropython` is collected twice — once by pytest on CPython as usual,
and once as `[micropython]` items executed by tests/mpy_runner.py inside the
real `micropython` binary (one process per file). A failure there fails the
suite. Such files use plain `assert` and no fixtures; on MICROPYPATH they find the
folders pytest's `pythonpath` gives the CPython half, and their own. An optional
`# heapsize: 128K` line runs them on a small heap; an optional `# slow: <why>` line marks
all their items `slow` (they cannot import pytest for a pytestmark), so `make test-fast`
leaves them out; a `# full: <why>` line marks them `full_sweep` (the whole of a sweep `make
test` runs a sample of: `make test-full`, not `make test`). Which other tests are `slow` is
decided below (_SLOW_FIXTURES, _SLOW_FILES).
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest


# The hubs tests start bind 127.0.0.1 and speak plain HTTP: say so explicitly (a hub refuses
# plain HTTP unless configured, and off loopback always). tests/test_security/test_tls_api.py
# removes this to test HTTPS.
os.environ.setdefault("TAPCERT_HUB_API_PLAIN_HTTP", "true")
# The command lines speak the locale's language (protocol/host/clitext.py); tests read their
# English whatever the machine's locale (tests/test_cli_habits/test_cli_language.py sets zh).
os.environ["TAPCERT_LANG"] = "en"

from hil_tests import mpy

import filetimes

from hil_tests.timescale import ENV as _SCALE_ENV, scale as _timeout_scale

_MARKER = "# dual: micropython"
_LINE = re.compile(r"^(PASS|FAIL|SKIP) (\S+?)(?::(?: (.*))?)?$")


def _header(path: Path) -> str:
    with open(path, encoding="utf-8") as f:
        return "".join(f.readline() for _ in range(8))


_SLOW = re.compile(r"^# slow: ", re.MULTILINE)
# `# full: <why>`: the whole of a sweep make test runs a sample of (marked full_sweep: make
# test leaves it out, make test-full runs it)
_FULL = re.compile(r"^# full: ", re.MULTILINE)

# What `make test-fast` leaves out (the `slow` mark; `make test` runs everything). Fast: the
# pure and vector tests on both interpreters, and what runs in-process on SQLite. Slow: a
# test that starts another server or device — PostgreSQL, Mosquitto, a NATS cluster, a hub or
# agent process, a virtual reader, a browser — or runs a long search. Marked here, in one
# place, from the fixtures a test uses, its PostgreSQL parameter, or its file:
_SLOW_FIXTURES = {"postgres", "mosquitto", "cluster", "make_reader", "virtual_readers",
                  "make_rp_reader", "browser", "agent_process", "district_factory"}
_SLOW_FILES = {   # files that start such things themselves (path below the repo)
    "tests/test_agent/test_virtual_readers.py", "tests/test_cli_habits/test_habits_timezone.py",
    "tests/test_dashboard/test_browser.py", "tests/test_dashboard/test_district_live.py",
    "tests/test_dashboard/test_offline_backlog_live.py", "tests/test_dashboard/test_stationpage.py",
    "tests/test_fleet/test_agent_service.py", "tests/test_fleet/test_interrupt.py",
    "tests/test_fleet/test_rollouts_browser.py", "tests/test_fleet/test_fleet_tls.py",
    "tests/test_fleet/test_hub_cli.py", "tests/test_fuzz_surfaces/test_fuzz_firmware_micropython.py",
    "tests/test_fuzz_surfaces/test_fuzz_reader_pty.py", "tests/test_fuzz_surfaces/test_fuzz_hub_api.py",
    "tests/test_hil/test_serial_target.py", "tests/test_packaging/test_ops.py",
    "tests/test_protocol/test_sha512_cross.py", "tests/test_protocol/test_fuzz_micropython.py",
    "tests/test_provisioning/test_broker_mtls.py", "tests/test_provisioning/test_cards_hub.py",
    "tests/test_provisioning/test_cards_pcsc.py", "tests/test_provisioning/test_hub_side.py",
    "tests/test_provisioning/test_reader_flow.py", "tests/test_provisioning/test_station_cli.py",
    "tests/test_provisioning/test_up.py", "tests/test_scale/test_failover_nats.py",
    "tests/test_scale/test_natslink.py", "tests/test_scale/test_supervisor.py",
    "tests/test_scale/test_workers_mosquitto.py", "tests/test_security/test_bundles.py",
    "tests/test_security/test_tls_api.py", "tests/test_security/test_sec_secrets.py",
    "tests/test_security/test_sec_api_inputs.py", "tests/test_virtual/test_cli.py",
    # the longest of the rest (measured in test-fast, load 6: 15-100 s each)
    "tests/test_bench/test_harness.py", "tests/test_fuzz_surfaces/test_fuzz_config_files.py",
    "tests/test_cli_habits/test_habits_hub.py", "tests/test_fleet/test_bundle.py",
    "tests/test_rp2040/test_chipsims.py",
}
_REPO = Path(__file__).resolve().parents[1]


def _slow_item(item, path: Path, header_slow: bool) -> bool:
    if header_slow or _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "postgresql" in callspec.params.values():
        return True
    try:
        return path.relative_to(_REPO).as_posix() in _SLOW_FILES
    except ValueError:
        return False


def pytest_collection_modifyitems(config, items):
    slow, full = {}, {}
    for item in items:
        path = Path(str(item.path))
        if path not in slow:
            header = _header(path) if path.suffix == ".py" else ""
            slow[path] = bool(_SLOW.search(header))
            full[path] = bool(_FULL.search(header))
        if _slow_item(item, path, slow[path]):
            item.add_marker(pytest.mark.slow)
        if full[path]:
            item.add_marker(pytest.mark.full_sweep)
    # Longest files first: with --dist loadfile a file is one unit of work for an xdist worker
    # and a long file handed out last sets the wall time. Workers order the files by their
    # seconds in tests/filetimes.json (the Makefile passes --no-loadscope-reorder so xdist keeps
    # this order, not its own: most tests first). Without xdist, pytest's order.
    if hasattr(config, "workerinput"):
        filetimes.longest_first(items)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    # What a run holds from its start (pytest and its plugins, every collected test module and
    # item: all of the suite in an xdist worker) never becomes garbage: freeze it out of
    # CPython's collector, so a full collection (the reader's App.start ends with gc.collect(),
    # as it must on the chip; hypothesis and pytest collect too) scans only what the tests made
    # since, not the whole run's heap each time. The tests' own objects are collected as before.
    gc.collect()
    gc.freeze()


def pytest_collect_file(parent, file_path: Path):
    if file_path.suffix == ".py" and file_path.name.startswith("test_"):
        if _MARKER in _header(file_path):
            return MicroPythonFile.from_parent(parent, path=file_path)
    return None


class MicroPythonFile(pytest.File):
    """The file's test_* functions (found by reading it) as items; the micropython binary
    runs the whole file once, when the first of its items runs."""

    _results = None

    def collect(self):
        source = self.path.read_text(encoding="utf-8")
        names = re.findall(r"^def (test_\w+)\(", source, flags=re.MULTILINE)
        for name in names:
            yield MicroPythonItem.from_parent(self, name="[micropython] " + name, test=name)

    def results(self):
        if self._results is None:
            header = _header(self.path)
            match = re.search(r"# heapsize: (\S+)", header)
            heapsize = match.group(1) if match else None
            # the folders pytest gives the CPython half (the file's own and pyproject's
            # pythonpath: fwkit, fakehw_*, ...) on MICROPYPATH, so neither half edits sys.path
            folders = (self.path.parent,) + tuple(self.config.getini("pythonpath"))
            proc = mpy.run(["tests/mpy_runner.py", str(self.path.relative_to(mpy.REPO))],
                           heapsize=heapsize, timeout=600 * _timeout_scale(),
                           path_extra=folders)
            found = {}
            for line in proc.stdout.splitlines():
                m = _LINE.match(line)
                if m:
                    found[m.group(2).split("::", 1)[1]] = (m.group(1), m.group(3) or "")
            self._results = (found, proc)
        return self._results


class MicroPythonItem(pytest.Item):
    def __init__(self, *, test, **kwargs):
        super().__init__(**kwargs)
        self.test = test

    def runtest(self):
        found, proc = self.parent.results()
        if "<load>" in found:
            raise MicroPythonFailure("the file did not load:\n" + proc.stdout[-4000:] + proc.stderr[-2000:])
        if self.test not in found:
            raise MicroPythonFailure("no result for {} (exit {}):\n{}\n{}".format(
                self.test, proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
        status, detail = found[self.test]
        if status == "SKIP":
            pytest.skip(detail)
        if status == "FAIL":
            raise MicroPythonFailure(detail + "\n" + proc.stdout[-3000:])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "on micropython: " + str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, self.name


class MicroPythonFailure(Exception):
    pass


# Real services ----------------------------------------------------------------------

from services import Mosquitto, Postgres


@pytest.fixture
def mosquitto(tmp_path):
    """A real Mosquitto on a private port for one test (stopped afterwards)."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """One real PostgreSQL cluster for the whole test session (stopped at the end)."""
    # Outside pytest's temp tree: pytest keeps /tmp/pytest-of-<user> at 0700 (and resets it
    # whenever another pytest session starts on the machine), which the postgres user
    # cannot traverse. /tmp is world-searchable; the folder itself is 0711.
    workdir = Path(tempfile.mkdtemp(prefix="tapcert-pg-"))
    if os.geteuid() == 0:
        os.chmod(workdir, 0o711)
    server = Postgres(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# Timeouts that scale ---------------------------------------------------------------

def pytest_configure(config):
    try:
        _timeout_scale()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config):
    # every wait of the tests is a deadline for an observable state; a busy machine raises them
    return "{}={:g} (waits are multiplied by it; raise it on a slow or busy machine)".format(
        _SCALE_ENV, _timeout_scale())


@pytest.fixture(scope="session")
def timeout_scale():
    """TAPCERT_TIMEOUT_SCALE (default 1): multiply a test's own deadlines by it."""
    return _timeout_scale()


# Fuzzing scale -----------------------------------------------------------------------

def pytest_addoption(parser):
    parser.addoption("--fuzz-examples", type=int, default=1500,
                     help="hypothesis examples per fuzz target (make fuzz uses 100000)")


@pytest.fixture(scope="session")
def fuzz_examples(request):
    return request.config.getoption("--fuzz-examples")
