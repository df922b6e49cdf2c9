"""Issue #19: `--json` on every hub command that prints data (the single-record and report
printers too, not only `list`), each answer parseable, on a real SQLite hub database."""

from __future__ import annotations

import argparse
import json

from hubkit import SESSION_START, District, Hub, make_config
from protocol import batch as wire
from server_hub.cli import dispatch

# Commands that change things (and say so in a sentence), or run: no data to print as JSON.
NO_DATA = {
    "init", "migrate", "run", "broker-config", "station add", "station revoke",
    "reader enroll", "reader import", "reader revoke", "token create", "token revoke",
    "learner add", "card add", "card set-status", "activity add", "holds review",
    "quarantine replay", "settle", "recompute", "fleet bundle add", "fleet rollout create",
    "fleet rollout pause", "fleet rollout resume", "fleet rollout cancel",
    "evaluation set-thresholds", "evaluation set-reward-rule", "evaluation assign",
    "external enter", "external decide", "exchange add-service", "exchange set-service",
    "exchange redeem", "exchange reverse", "review decide", "transcript", "verify-transcript",
    "export-xapi", "term add", "term set", "term remove", "category add", "category rename",
    "category retire", "category restore", "operator add", "operator revoke",  # token create/revoke
    "learner set-pin", "learner set-type", "alarms acknowledge", "station crl", "org leave",
    "station sign-csr",     # prints JSON always: {"certificate", "ca"}, read by the provisioning CLI
}


def _commands(parser, prefix=""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub.get_default("handler") is not None:
                    yield prefix + name, any("--json" in a.option_strings for a in sub._actions)
                yield from _commands(sub, prefix + name + " ")


def test_every_command_that_prints_data_takes_json():
    commands = dict(_commands(dispatch.build_parser()))
    lacking = {name for name, has in commands.items() if not has} - NO_DATA
    assert lacking == set(), f"data printers without --json: {sorted(lacking)}"
    assert NO_DATA <= set(commands), sorted(NO_DATA - set(commands))   # the list stays true


def test_single_record_and_report_printers_answer_json(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config())
    district = District(hub)
    hub.ingest("S-1", wire.encode_batch(1, [district.tap("L-0", at=SESSION_START)]),
               now=SESSION_START + 86400)
    reader = district.reader.reader_id.hex()
    hub.close()

    def run(*argv):
        capsys.readouterr()
        assert dispatch.main(["--db", url, *argv]) == 0
        return capsys.readouterr().out

    got = json.loads(run("reader", "show", reader, "--json"))
    assert (got["reader_id"], got["station_id"], got["contiguous"], got["gaps"]) == \
        (reader, "S-1", 1, [])
    assert "contiguous      1" in run("reader", "show", reader)       # people's view unchanged
    st = json.loads(run("statement", "L-0", "--since", "2026-05-01", "--until", "2026-07-01",
                        "--json"))
    assert st["learner_id"] == "L-0" and st["credited"] == 1 and len(st["entries"]) == 1
    rate = json.loads(run("exchange", "rate", "--json"))
    assert list(rate) == ["points_per_credit"] and isinstance(rate["points_per_credit"], int)
    assert isinstance(json.loads(run("exchange", "services", "--json")), list)
    assert isinstance(json.loads(run("review", "queue", "--json")), list)
    assert isinstance(json.loads(run("audit", "--json")), list)
    assert isinstance(json.loads(run("evaluation", "rewards", "--json")), list)
    stations = json.loads(run("evaluation", "stations", "--since", "2026-05-01", "--until",
                              "2026-07-01", "--json"))
    assert [r["station_id"] for r in stations] == ["S-1"]
