"""tapcert-hub exchange / review / audit / transcript / verify-transcript / export-xapi."""

import json
import os
import stat

import pytest

from bankkit import Hub, credited_district, make_config
from server_hub.cli import dispatch as cli


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.delenv("TAPCERT_HUB_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli.main(["--db", url, "init", "--token-file", str(tmp_path / "t")]) == 0
    h = Hub(url, make_config())
    credited_district(h, credits=3)
    yield url, tmp_path
    h.close()


def run(url, *args):
    return cli.main(["--db", url, *args])


def test_exchange_commands(env, capsys):
    url, _ = env
    assert run(url, "exchange", "rate", "10", "--actor", "alice") == 0
    assert run(url, "exchange", "add-service", "swim", "--name", "Swimming", "--price",
               "25") == 0
    assert run(url, "exchange", "redeem", "L-0", "swim", "--key", "cli-key-001") == 0
    assert run(url, "exchange", "redeem", "L-0", "swim", "--key", "cli-key-001") == 0
    out = capsys.readouterr().out
    assert "already done with this key" in out
    assert run(url, "exchange", "redeem", "L-0", "swim", "--key", "cli-key-002") == 1
    assert "not enough points" in capsys.readouterr().err
    assert run(url, "exchange", "reverse", "cli-key-001", "--comment", "cancelled") == 0
    assert "back to L-0" in capsys.readouterr().out
    assert run(url, "exchange", "account", "L-0", "--json") == 0
    acct = json.loads(capsys.readouterr().out)
    assert acct["points_available"] == 30
    assert [e["entry"] for e in acct["entries"]] == ["reversal", "redeem"]
    assert run(url, "audit", "--subject", "L-0") == 0
    out = capsys.readouterr().out
    assert "exchange.reverse" in out and "exchange.redeem" in out


def test_transcript_round_trip_and_tamper(env, capsys):
    url, tmp = env
    out = tmp / "L-1.json"
    assert run(url, "transcript", "L-1", "--out", str(out)) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp / "ca" / "issuer.key").st_mode) == 0o600
    capsys.readouterr()
    assert run(url, "verify-transcript", str(out)) == 0
    assert "VALID" in capsys.readouterr().out
    pub = (tmp / "ca" / "issuer.pub").read_text().strip()
    assert run(url, "verify-transcript", str(out), "--issuer-key", pub) == 0
    assert run(url, "verify-transcript", str(out), "--issuer-key", "ab" * 32) == 1
    doc = json.loads(out.read_text())
    doc["credentialSubject"]["credits"][0]["amountMilli"] += 1000
    doc["credentialSubject"]["totalCreditsMilli"] += 1000
    out.write_text(json.dumps(doc))
    capsys.readouterr()
    assert run(url, "verify-transcript", str(out)) == 1
    assert "INVALID" in capsys.readouterr().err


def test_verify_needs_no_database(env, tmp_path, capsys):
    url, tmp = env
    out = tmp / "t.json"
    assert run(url, "transcript", "L-2", "--out", str(out)) == 0
    assert cli.main(["--db", f"sqlite:///{tmp_path / 'nothing' / 'x.db'}", "verify-transcript",
                     str(out)]) == 0
    assert not (tmp_path / "nothing" / "x.db").exists()


def test_export_xapi_and_review_queue(env, capsys):
    url, tmp = env
    assert run(url, "export-xapi", "L-0", "--out", str(tmp / "x.json")) == 0
    stmts = json.loads((tmp / "x.json").read_text())
    assert len(stmts) == 1 and stmts[0]["actor"]["account"]["name"] == "L-0"
    assert run(url, "review", "queue") == 0
    assert "(none)" in capsys.readouterr().out
    assert run(url, "review", "decide", "L-0", "A-1", "1", "approve") == 1


def test_external_credit_commands(env, capsys):
    url, _ = env
    assert run(url, "external", "enter", "L-0", "--credits", "1.25", "--title", "Choir",
               "--institution", "Xicheng arts", "--proof", "XA-1", "--day", "2026-02-01",
               "--actor", "alice") == 0
    assert run(url, "external", "decide", "1", "approve", "--actor", "alice") == 1
    assert "four-eyes" in capsys.readouterr().err
    assert run(url, "external", "decide", "1", "approve", "--actor", "bob") == 0
    assert run(url, "exchange", "account", "L-0", "--json") == 0
    capsys.readouterr()
    assert run(url, "external", "enter", "L-0", "--credits", "1.0001", "--title", "x",
               "--institution", "y", "--proof", "z", "--day", "2026-02-01") == 1
    assert run(url, "external", "list", "--status", "approved") == 0
    out = capsys.readouterr().out
    assert "Choir" in out and "bob" in out


def test_evaluation_commands(env, capsys, tmp_path):
    url, _ = env
    assert run(url, "evaluation", "assign", "A-1", "ann") == 0
    assert run(url, "evaluation", "set-reward-rule", '{"per_learner_credited": 2}') == 0
    assert run(url, "evaluation", "set-thresholds", '{"grades": [["A", {"min_learners": 3}]]}') == 0
    assert run(url, "evaluation", "set-thresholds", '{"grades": 1}') == 1
    out = tmp_path / "rewards.csv"
    assert run(url, "evaluation", "rewards", "--since", "2026-01-01", "--until", "2027-01-01",
               "--csv", str(out)) == 0
    assert out.read_text().splitlines() == ["admin,activities,sessions,learners_credited,points",
                                            "ann,1,1,3,11"]
    capsys.readouterr()
    assert run(url, "evaluation", "stations", "--since", "2026-01-01", "--until",
               "2027-01-01") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[0] == "S-1" and lines[2].split()[-1] == "A"


def test_statement_command(env, capsys, tmp_path):
    url, _ = env
    out = tmp_path / "st.csv"
    assert run(url, "statement", "L-1", "--since", "2020-01-01", "--csv", str(out)) == 0
    text = capsys.readouterr().out
    assert "opening balance 0, credited +3, closing balance 3" in text
    assert out.read_text().splitlines()[0] == ",".join(
        ["id", "recorded_at", "entry", "amount", "activity_id", "session_start", "day",
         "reason", "records", "category", "category_name"])
