"""`tapcert-hub learner set-pin`: the PIN comes from stdin or the prompt (never an argument),
weak PINs are refused with the reason, the result is audited and the learner can sign in;
the store path on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest

from learnerkit import DESK, District, Hub, make_config
from server_hub.cli import dispatch as cli
from server_hub.creditbank import audit, learnerauth


@pytest.fixture
def url(tmp_path, monkeypatch):
    monkeypatch.delenv("TAPCERT_HUB_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli.main(["--db", url, "init", "--token-file", str(tmp_path / "t")]) == 0
    h = Hub(url, make_config())
    District(h, learners=1)
    h.close()
    return url


def test_set_pin_from_stdin(url, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("123456\n"))
    assert cli.main(["--db", url, "learner", "set-pin", "L-0", "--pin-stdin"]) == 1
    assert "consecutive digits" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("482915\n"))
    assert cli.main(["--db", url, "learner", "set-pin", "L-0", "--pin-stdin",
                     "--actor", "desk-ann"]) == 0
    assert "PIN set" in capsys.readouterr().out
    hub = Hub(url, make_config())
    try:
        assert learnerauth.sign_in(hub.store, "L-0", "482915", "127.0.0.1").learner_id == "L-0"
        (entry,) = audit.entries(hub.store, subject="L-0", action="learner.pin.*")
        assert (entry["actor"], entry["action"]) == ("desk-ann", "learner.pin.set")
    finally:
        hub.close()


def test_prompted_pins_must_match(url, monkeypatch, capsys):
    answers = iter(["482915", "482916"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert cli.main(["--db", url, "learner", "set-pin", "L-0"]) == 1
    assert "the two PINs differ" in capsys.readouterr().err


def test_lockout_on_both_databases(db_url):
    """The store path: lockout counted, a right PIN refused while locked, reset clears it."""
    hub = Hub(db_url, make_config())
    try:
        District(hub, learners=1)
        learnerauth.set_pin(hub.store, "L-0", "482915", DESK, now=1000.0)
        for i in range(5):
            with pytest.raises(learnerauth.WrongPIN):
                learnerauth.sign_in(hub.store, "L-0", "000111x", "198.51.100.1", now=1001.0 + i)
        with pytest.raises(learnerauth.Locked) as locked:
            learnerauth.sign_in(hub.store, "L-0", "482915", "198.51.100.2", now=1010.0)
        assert locked.value.until == 1005.0 + 15 * 60
        s = learnerauth.sign_in(hub.store, "L-0", "482915", "198.51.100.2", now=1006.0 + 900)
        assert learnerauth.session(hub.store, s.token, now=1906.0)["learner_id"] == "L-0"
        with pytest.raises(learnerauth.AuthError, match="expired"):
            learnerauth.session(hub.store, s.token, now=1906.0 + learnerauth.SESSION_S)
        counts = dict(hub.sql("SELECT name, value FROM counters WHERE name LIKE 'learner_%'"))
        assert counts == {"learner_signin_ok": 1, "learner_signin_wrong": 5,
                          "learner_signin_locked": 1, "learner_signin_refused": 1}
    finally:
        hub.close()


def test_parallel_wrong_tries_are_all_counted(db_url):
    """Eight wrong PINs at once from eight addresses: exactly five are counted as wrong (the
    fifth locks), the other three are refused as locked — none lost, on both databases."""
    import threading
    hub = Hub(db_url, make_config())
    try:
        District(hub, learners=1)
        learnerauth.set_pin(hub.store, "L-0", "482915", DESK)
        start, errors = threading.Barrier(8), []

        def try_once(i):
            start.wait()
            try:
                learnerauth.sign_in(hub.store, "L-0", "000111x", f"198.51.100.{i}")
            except learnerauth.AuthError as exc:
                errors.append(type(exc).__name__)

        threads = [threading.Thread(target=try_once, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        counts = dict(hub.sql("SELECT name, value FROM counters WHERE name LIKE 'learner_%'"))
        assert sorted(errors) == ["Locked"] * 3 + ["WrongPIN"] * 5
        assert (counts["learner_signin_wrong"], counts["learner_signin_locked"],
                counts["learner_signin_refused"]) == (5, 1, 3)
        with pytest.raises(learnerauth.Locked):
            learnerauth.sign_in(hub.store, "L-0", "482915", "198.51.100.99")
    finally:
        hub.close()
