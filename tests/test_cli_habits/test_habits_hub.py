"""tapcert-hub as people expect a CLI to behave: --version, --json on what prints data, a
quiet end on a closed pipe, show-config, CSV imports with a dry run and a report per line,
and one `run` per database and API port, refused before it touches the broker."""

import json
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from hil_tests.services import free_port
from hil_tests.timescale import scaled

from habitkit import REPO, _env, run, run_into_closed_pipe


def hub(db, *args, **kw):
    return run("tapcert-hub", "--db", "sqlite:///{}".format(db), *args, **kw)


@pytest.fixture(scope="module")
def initialised_hub(tmp_path_factory):
    """A folder with hub.db after `tapcert-hub init` (its CA beside it, the admin token),
    made once for the file."""
    folder = tmp_path_factory.mktemp("initialised-hub")
    out = hub(folder / "hub.db", "init", "--token-file", str(folder / "admin.token"))
    assert out.returncode == 0, out.stderr
    return folder


@pytest.fixture
def fresh_db(tmp_path, initialised_hub):
    """This test's own copy of the initialised hub -> its hub.db."""
    shutil.copytree(initialised_hub, tmp_path, dirs_exist_ok=True)
    return tmp_path / "hub.db"


def test_version_and_status_into_a_closed_pipe(fresh_db):
    out = run("tapcert-hub", "--version")
    assert out.returncode == 0 and out.stdout.startswith("tapcert-hub 0.")
    db = fresh_db
    out = run_into_closed_pipe("tapcert-hub", "--db", "sqlite:///{}".format(db), "status", "--json")
    assert out.returncode == 141, out.stderr
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr


def test_learner_csv_import_dry_run_then_real_with_a_report_per_line(tmp_path, fresh_db):
    db = fresh_db
    assert hub(db, "learner", "add", "L-0009").returncode == 0
    csv_file = tmp_path / "learners.csv"
    csv_file.write_bytes("\ufeffid,name\nL-0001,Wang Fang\nL-0002,\"Li, Wei\"\n,nameless\n"
                         "L-0001,twice\nL-0009,exists\n{},long\nL-0003,张敏\n".format("x" * 65)
                         .encode("utf-8"))
    dry = hub(db, "learner", "import", str(csv_file), "--dry-run")
    assert dry.returncode == 1
    assert dry.stdout.splitlines() == [
        "line 4: learner id must be 1-64 characters",
        "line 5: learner L-0001 appears twice in the file (line 2)",
        "line 6: learner L-0009 exists already",
        "line 7: learner id must be 1-64 characters",
        "{}: would import 3 learners, 4 rows refused (nothing written: --dry-run)".format(csv_file)]
    listed = json.loads(hub(db, "learner", "list", "--json").stdout)
    assert [r["id"] for r in listed] == ["L-0009"]                # the dry run wrote nothing
    real = hub(db, "learner", "import", str(csv_file), "--json")
    assert real.returncode == 1
    report = json.loads(real.stdout)
    assert report["ok"] == 3 and [e["line"] for e in report["errors"]] == [4, 5, 6, 7]
    listed = {r["id"]: r["name"] for r in json.loads(hub(db, "learner", "list", "--json").stdout)}
    assert listed == {"L-0001": "Wang Fang", "L-0002": "Li, Wei", "L-0003": "张敏", "L-0009": ""}
    again = hub(db, "learner", "import", str(csv_file))       # importing again doubles nothing
    assert "would" not in again.stdout and "imported 0 learners, 7 rows refused" in again.stdout


def test_card_csv_import_checks_uids_and_learners(tmp_path, fresh_db):
    db = fresh_db
    assert hub(db, "learner", "add", "L-0001").returncode == 0
    csv_file = tmp_path / "cards.csv"
    csv_file.write_text("uid,learner\n04a1b2c3d4e5f6,L-0001\nzz11,L-0001\n0102,L-0001\n"
                        "04A1B2C3D4E5F6,L-0001\n01020304,L-0404\n0a0b0c0d,L-0001\n")
    out = hub(db, "card", "import", str(csv_file))
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        "line 3: uid 'zz11' is not hex",
        "line 4: uid 0102 has 2 bytes (a card UID has 4, 7 or 10)",
        "line 5: card 04a1b2c3d4e5f6 appears twice in the file (line 2)",
        "line 6: learner 'L-0404' is not registered (import the learners first)",
        "{}: imported 2 cards, 4 rows refused".format(csv_file)]
    shown = hub(db, "learner", "show", "L-0001", "--json")
    assert shown.returncode == 0


def test_a_file_that_is_not_csv_with_the_columns_is_one_clear_error(tmp_path, fresh_db):
    db = fresh_db
    bad = tmp_path / "x.csv"
    bad.write_text("learner_id;name\nL-1;A\n")
    out = hub(db, "learner", "import", str(bad))
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == ("tapcert-hub: {} needs a header line with the columns id, name, "
                                  "type, organisation (missing: id); e.g. "
                                  "`id,name,type,organisation`".format(bad))
    bad.write_bytes(b"id,name\nL-1,\xff\xfe\n")
    out = hub(db, "learner", "import", str(bad))
    assert "line 2 is not UTF-8: save the file as CSV UTF-8" in out.stderr


def test_show_config_masks_secrets_and_prints_json(tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text('[hub]\ntimezone = "Asia/Shanghai"\n[mqtt]\npassword = "s3cret"\n')
    out = run("tapcert-hub", "--config", str(config), "show-config")
    assert out.returncode == 0
    assert 'timezone = "Asia/Shanghai"' in out.stdout and "[mqtt]" in out.stdout
    assert "s3cret" not in out.stdout and 'password = "********"' in out.stdout
    doc = json.loads(run("tapcert-hub", "--config", str(config), "show-config", "--json").stdout)
    assert doc["hub"]["timezone"] == "Asia/Shanghai" and doc["mqtt"]["password"] == "********"


def start_hub(config, log):
    return subprocess.Popen([sys.executable, "-m", "server_hub.cli", "--config", str(config), "run"],
                            cwd=str(REPO), env=_env(), stdout=log, stderr=subprocess.STDOUT)


def test_a_second_run_is_refused_before_it_touches_the_broker(mosquitto, tmp_path):
    api = free_port()
    config = tmp_path / "hub.toml"
    config.write_text('[hub]\ndb = "sqlite:///{}"\n[mqtt]\nport = {}\n[api]\nhost = "127.0.0.1"\n'
                      'port = {}\n'.format(tmp_path / "hub.db", mosquitto.port, api))
    assert run("tapcert-hub", "--config", str(config), "init", "--token-file",
               str(tmp_path / "admin.token")).returncode == 0
    with open(tmp_path / "hub.log", "ab") as log:
        first = start_hub(config, log)
        try:
            deadline = time.monotonic() + scaled(60)
            while True:
                try:
                    if httpx.get("http://127.0.0.1:{}/healthz".format(api), timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert first.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / "hub.log").read_text()
                time.sleep(0.1)
            second = run("tapcert-hub", "--config", str(config), "run")
            assert second.returncode == 1
            assert second.stderr.strip() == (
                "tapcert-hub: another tapcert-hub (pid {}) is running on the database {}: one hub "
                "process per SQLite database; stop it first (`systemctl stop tapcert-hub`) or give "
                "this one its own [hub] db".format(first.pid, tmp_path / "hub.db"))
            other = tmp_path / "other.toml"        # its own database, but the same API port
            other.write_text(config.read_text().replace("hub.db", "other.db"))
            third = run("tapcert-hub", "--config", str(other), "run")
            assert third.returncode == 1
            assert "tapcert-hub: the API port 127.0.0.1:{} is taken by pid {} (".format(
                api, first.pid) in third.stderr and "systemctl stop tapcert-hub" in third.stderr
        finally:
            first.terminate()
            first.wait(scaled(30))
    connects = [line for line in (mosquitto.workdir / "mosquitto.log").read_text().splitlines()
                if "New client connected" in line and " as tapcert-hub " in line]
    assert len(connects) == 1, connects     # the refused runs never reached the broker


def test_import_progress_says_rate_and_time_left_every_two_seconds():
    import io

    from server_hub.cli.csvimport import Progress

    now = [0.0]
    out = io.StringIO()
    progress = Progress(1000, "imported", out=out, clock=lambda: now[0])
    for done in range(0, 1001, 50):           # 50 rows every half second
        progress.update(done)
        now[0] += 0.5
    assert out.getvalue().splitlines() == [
        "imported 200 of 1,000 rows (20%), 100 rows/s, about 8 s left",
        "imported 400 of 1,000 rows (40%), 100 rows/s, about 6 s left",
        "imported 600 of 1,000 rows (60%), 100 rows/s, about 4 s left",
        "imported 800 of 1,000 rows (80%), 100 rows/s, about 2 s left"]
