"""The wheel as a user gets it: built from this checkout, installed into a new venv outside
it, and each program run from a directory outside it with nothing of the checkout in reach.

    .venv/bin/python tests/test_packaging/wheelcheck.py [--keep]

Steps, each printing `wheel: PASS <step> (N.N s) ...` or `wheel: FAIL <step>: <why>`:

  build     `pip wheel` of a clean copy of the tree (tracked and new files, no build/ leftovers)
  contents  dashboard static files, the reader firmware (tapcert_firmware), protocol/SPEC.md
            and vectors are in it; hil_tests, tests and __pycache__ are not
  install   a new venv in a temp dir; the wheel with [hub,agent,provision], pinned by
            constraints.txt; its packages import from the venv, not from here
  hub       tapcert-hub init + run (its own Mosquitto, ports and data dir on 127.0.0.1):
            /healthz, /dashboard and a static asset answer 200; SIGTERM stops it
  agent     tapcert-agent show-config with ops/agent.toml (its paths moved into the temp dir)
  cli       tapcert-hub/-agent/-provision --version give the wheel's version; tapcert-hub
            show-config reads ops/hub.toml
  flash     tapcert-provision flash onto a blank virtual reader: the checkout's hil_tests
            plays the board (test code), the firmware comes only from the installed wheel

.ci/run runs this after `make venv`; tests/test_packaging/test_wheel.py runs it under pytest.
Exit status 0 when every step passed, 1 otherwise. Waits scale with TAPCERT_TIMEOUT_SCALE.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# .ci/run runs this file as a script, outside pytest and its pythonpath: the checkout's hil_tests
# (which plays the board) must be importable (allowed in tests/test_imports/test_no_path_edits.py)
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from wheelhouse import EXTRAS, wheelhouse  # noqa: E402  (after the path line above)

MUST_SHIP = ("server_hub/dashboard/static/index.html", "server_hub/dashboard/static/app.js",
             "server_hub/dashboard/static/vendor/uPlot.iife.min.js",
             "server_hub/dashboard/static/vendor/uPlot.LICENSE",
             "tapcert_firmware/main.py", "tapcert_firmware/version.py",
             "tapcert_firmware/fwswap.py", "protocol/SPEC.md", "protocol/vectors/records.json",
             "data/share/tapcert/examples/hub.toml", "data/share/tapcert/examples/agent.toml",
             "data/share/tapcert/mosquitto/tapcert-broker.conf")
NEVER_SHIP = ("hil_tests/", "tests/", "__pycache__", ".pyc", "bench/", "tools/")


class StepFailed(Exception):
    pass


def example_agent_config(etc: Path) -> Path:
    """ops/agent.toml with /etc/tapcert and /var/lib/tapcert-agent moved under etc/ (and the
    certificate files it names present, as `tapcert-provision station create` leaves them)."""
    etc.mkdir(parents=True, exist_ok=True)
    text = (REPO / "ops" / "agent.toml").read_text()
    text = text.replace("/etc/tapcert/", str(etc) + "/").replace(
        "/var/lib/tapcert-agent/", str(etc / "state") + "/")
    for name in ("ca.crt", "station.crt", "station.key"):
        (etc / name).write_text("placeholder\n")
    config = etc / "agent.toml"
    config.write_text(text)
    return config


def scale() -> float:
    try:
        return max(1.0, float(os.environ.get("TAPCERT_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0


def run(cmd, *, timeout, cwd=None, env=None, what=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout * scale())
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-12:]
        raise StepFailed("{} exited {}:\n    {}".format(what or Path(str(cmd[0])).name,
                                                         proc.returncode, "\n    ".join(tail)))
    return proc


class WheelCheck:
    def __init__(self, work: Path, from_index: bool = False):
        self.work = work
        self.from_index = from_index
        self.venv = work / "venv"
        self.outside = work / "outside"      # the cwd of every installed program
        self.wheel: Path | None = None
        self._tls = None                     # the hub's CA, once it serves HTTPS

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    def env(self, **extra) -> dict:
        """What a user's shell has: no PYTHONPATH, no venv of ours, no TAPCERT_* settings."""
        keep = {k: v for k, v in os.environ.items()
                if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
                and not k.startswith("TAPCERT_")}
        keep.update(PATH="{}:/usr/local/bin:/usr/bin:/bin".format(self.venv / "bin"),
                    HOME=str(self.work / "home"), XDG_DATA_HOME=str(self.work / "home" / "data"))
        keep.update(extra)
        return keep

    # -- steps -------------------------------------------------------------------------------

    def build(self) -> str:
        src, dist = self.work / "src", self.work / "dist"
        src.mkdir()
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=REPO, capture_output=True, check=True)
        for rel in filter(None, listed.stdout.decode().split("\0")):
            source = REPO / rel
            if source.is_file():     # a tracked file deleted in the work tree is not copied
                target = src / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src],
            timeout=240, cwd=self.work, what="pip wheel")
        wheels = sorted(dist.glob("tapcert-*.whl"))
        if len(wheels) != 1:
            raise StepFailed("expected one tapcert wheel in {}, found {}".format(dist, wheels))
        self.wheel = wheels[0]
        return "{} ({:.0f} KiB)".format(self.wheel.name, self.wheel.stat().st_size / 1024)

    def contents(self) -> str:
        names = zipfile.ZipFile(self.wheel).namelist()
        tops = sorted({n.split("/")[0] for n in names})
        data = [n.split(".data/", 1)[1] for n in names if ".data/data/" in n]
        names += ["data/" + n.split("data/", 1)[1] for n in data]   # MUST_SHIP's data/ prefix
        # each unit, and the docs its Documentation= names (/opt/tapcert/venv/X -> data X)
        for unit in sorted((REPO / "ops" / "systemd").iterdir()):
            docs = [line.split("=", 1)[1].split() for line in unit.read_text().splitlines()
                    if line.startswith("Documentation=")]
            wanted = ["data/share/tapcert/systemd/" + unit.name] + [
                "data/" + url[len("file:///opt/tapcert/venv/"):] for urls in docs for url in urls]
            names_missing = [w for w in wanted if w not in names]
            if names_missing:
                raise StepFailed("{} or its Documentation= not in the wheel: {}".format(
                    unit.name, names_missing))
        missing = [n for n in MUST_SHIP if n not in names]
        shipped_tests = [n for n in names if any(bad in n for bad in NEVER_SHIP)]
        if missing or shipped_tests:
            raise StepFailed("missing {}; must not ship {}".format(missing, shipped_tests[:8]))
        return "{} files: {}".format(len(names), ", ".join(tops))

    def install(self) -> str:
        # A bare venv (no ensurepip: 20 s on a busy machine) filled by this venv's pip.
        run([sys.executable, "-m", "venv", "--without-pip", self.venv], timeout=120,
            what="python -m venv")
        source = ["--no-index", "--find-links", wheelhouse(self.work / "wheelhouse")]
        if self.from_index:
            source = []
        run([sys.executable, "-m", "pip", "--python", self.bin("python"), "install", "-q",
             "--no-compile", *source, "-c", REPO / "constraints.txt",
             "{}[{}]".format(self.wheel, EXTRAS)], timeout=600, cwd=self.outside,
            env=self.env(PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))),
            what="pip install")
        probe = run([self.bin("python"), "-c",
                     "import agent, provisioning, server_hub, protocol\n"
                     "for m in (agent, provisioning, server_hub, protocol): print(*m.__path__)\n"
                     "from provisioning import firmware\n"
                     "print(firmware.tree_dir('firmware'))"],
                    timeout=60, cwd=self.outside, env=self.env(), what="import probe")
        paths = probe.stdout.split()
        stray = [p for p in paths if not p.startswith(str(self.venv))]
        if stray:
            raise StepFailed("imported from outside the venv: {}".format(stray))
        return "from {}; firmware tree {}".format("the package index" if self.from_index else
                                                   "a wheelhouse of this venv's pinned packages",
                                                   paths[-1])

    def hub(self) -> str:
        from hil_tests.services import Mosquitto, free_port
        data = self.work / "hub"
        data.mkdir()
        api_port = free_port()
        with Mosquitto(self.work / "mosquitto", persistence=False) as broker:
            config = data / "hub.toml"
            config.write_text('[hub]\ndb = "sqlite:///{}"\n\n[mqtt]\nhost = "127.0.0.1"\n'
                              'port = {}\n\n[api]\nhost = "127.0.0.1"\nport = {}\n'.format(
                                  data / "hub.db", broker.port, api_port))
            env = self.env(TAPCERT_HUB_CONFIG=str(config))
            started = time.monotonic()
            run([self.bin("tapcert-hub"), "init", "--token-file", data / "admin.token"],
                timeout=60, cwd=self.outside, env=env, what="tapcert-hub init")
            init_s, started = time.monotonic() - started, time.monotonic()
            log = open(data / "run.log", "wb")
            proc = subprocess.Popen([self.bin("tapcert-hub"), "run"], cwd=self.outside, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                base = self._wait_http(api_port, proc, data / "run.log", data / "ca" / "ca.crt", 30)
                up_s = time.monotonic() - started
                page = self._get(base + "/dashboard")
                asset = self._get(base + "/dashboard/static/app.js")
                if b"<html" not in page.lower() or not asset:
                    raise StepFailed("/dashboard or its app.js came back empty")
            finally:
                code = self._stop(proc)
                log.close()
            if code != 0:
                raise StepFailed("tapcert-hub run exited {} on SIGTERM:\n{}".format(
                    code, self._tail(data / "run.log")))
        return ("init {:.1f} s, run answering after {:.1f} s; {}/healthz, /dashboard ({} B), "
                "/dashboard/static/app.js ({} B): 200".format(init_s, up_s, base.split(":")[0] + " ",
                                                               len(page), len(asset)))

    def agent(self) -> str:
        config = example_agent_config(self.work / "etc")
        out = run([self.bin("tapcert-agent"), "show-config", "--config", config], timeout=60,
                  cwd=self.outside, env=self.env(), what="tapcert-agent show-config").stdout
        if 'station = "S-0001"' not in out or "[mqtt]" not in out:
            raise StepFailed("show-config printed no station/[mqtt]:\n" + out[:400])
        return "{} lines of effective config".format(len(out.splitlines()))

    def cli(self) -> str:
        version = self.wheel.name.split("-")[1]
        for program in ("tapcert-hub", "tapcert-agent", "tapcert-provision"):
            said = run([self.bin(program), "--version"], timeout=60, cwd=self.outside,
                       env=self.env(), what=program + " --version").stdout.strip()
            if said != "{} {}".format(program, version):      # from the wheel's metadata
                raise StepFailed("{} --version said {!r}, the wheel is {}".format(
                    program, said, version))
        shown = run([self.bin("tapcert-hub"), "--config", REPO / "ops" / "hub.toml",
                     "show-config"], timeout=60, cwd=self.outside, env=self.env(),
                    what="tapcert-hub show-config").stdout
        if 'cert_file = "/var/lib/tapcert/ca/tapcert.hub.crt"' not in shown:
            raise StepFailed("tapcert-hub show-config of ops/hub.toml:\n" + shown[:400])
        return "--version {} (hub, agent, provision); hub show-config of ops/hub.toml".format(
            version)

    def flash(self) -> str:
        from hil_tests.targets.virtual import VirtualReader
        reader = VirtualReader(self.work / "reader", label="R-0001")
        reader.start(timeout=30 * scale())
        try:
            out = run([self.bin("tapcert-provision"), "flash", "--port", reader.port],
                      timeout=180, cwd=self.outside, env=self.env(), what="tapcert-provision flash")
        finally:
            reader.stop()
        manifest = json.loads(reader.read_file("/firmware.json"))
        wanted = run([self.bin("python"), "-c", "from provisioning import firmware\n"
                      "print(firmware.version())"], timeout=60, cwd=self.outside,
                     env=self.env(), what="firmware version").stdout.strip()
        if manifest.get("fw") != wanted or "main.py" not in reader.listdir("/"):
            raise StepFailed("flashed manifest {} (wanted version {})".format(manifest, wanted))
        summary = [line for line in out.stdout.splitlines() if line.startswith("flashed")]
        return summary[-1] if summary else "firmware {}".format(wanted)

    # -- helpers -----------------------------------------------------------------------------

    def _get(self, url: str) -> bytes:
        try:
            with urllib.request.urlopen(url, timeout=10 * scale(), context=self._tls) as answer:
                if answer.status != 200:
                    raise StepFailed("GET {} answered {}".format(url, answer.status))
                return answer.read()
        except OSError as exc:
            raise StepFailed("GET {} failed: {}".format(url, exc)) from exc

    def _wait_http(self, port, proc, log_path, cafile, timeout) -> str:
        """Until /healthz answers 200; the scheme is the one the hub's log says it serves
        (HTTPS with a certificate of its fleet CA, checked against ca.crt, or plain HTTP)."""
        deadline = time.monotonic() + timeout * scale()
        base = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StepFailed("tapcert-hub run exited {} before its API answered:\n{}".format(
                    proc.returncode, self._tail(log_path)))
            if base is None:
                said = re.search(r"API on (https?)://", Path(log_path).read_text(errors="replace"))
                if said:
                    base = "{}://127.0.0.1:{}".format(said.group(1), port)
                    self._tls = (ssl.create_default_context(cafile=str(cafile))
                                 if said.group(1) == "https" else None)
            if base is not None:
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2,
                                                context=self._tls) as answer:
                        if answer.status == 200:
                            return base
                except OSError:
                    pass
            time.sleep(0.1)
        raise StepFailed("the API on port {} did not answer /healthz within {:.0f} s:\n{}".format(
            port, timeout * scale(), self._tail(log_path)))

    @staticmethod
    def _stop(proc) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(30 * scale())
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                return -9
        return proc.returncode

    @staticmethod
    def _tail(path, lines=12) -> str:
        try:
            return "    " + "\n    ".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "    (no log)"


STEPS = ("build", "contents", "install", "hub", "agent", "cli", "flash")


def check(work: Path, out=print, from_index: bool = False) -> list[tuple[str, bool, str, float]]:
    """Run every step in work/ (stops at the first failure); returns (step, passed, detail, s)."""
    wc = WheelCheck(work, from_index)
    for folder in (wc.outside, work / "home"):
        folder.mkdir(parents=True, exist_ok=True)
    results = []
    for name in STEPS:
        started = time.monotonic()
        try:
            detail, passed = getattr(wc, name)(), True
        except (StepFailed, subprocess.TimeoutExpired, OSError) as exc:
            detail, passed = str(exc), False
        took = time.monotonic() - started
        results.append((name, passed, detail, took))
        out("wheel: {} {} ({:.1f} s) {}".format("PASS" if passed else "FAIL", name, took, detail)
            if passed else "wheel: FAIL {} ({:.1f} s): {}".format(name, took, detail))
        if not passed:
            break
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="wheelcheck", description=__doc__.split("\n\n")[0])
    p.add_argument("--keep", action="store_true", help="keep the temp dir (printed) for a look")
    p.add_argument("--from-index", action="store_true",
                   help="install the dependencies from the package index, as a user does "
                        "(slower) instead of from this venv's pinned packages")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tapcert-wheel-"))
    started = time.monotonic()
    try:
        results = check(work, out=lambda line: print(line, flush=True),
                        from_index=args.from_index)
    finally:
        if args.keep:
            print("wheel: kept {}".format(work))
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    ok = len(results) == len(STEPS) and all(passed for _, passed, _, _ in results)
    print("wheel: {} in {:.0f} s".format("every step PASSED" if ok else "FAILED",
                                         time.monotonic() - started), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
