"""tapcert-hub term / category commands, and `holds review` going through the audited review
queue (creditbank/reviews.py)."""

import pytest

from bankkit import SESSION_START, District, Hub, make_config, wire
from server_hub.cli import dispatch as cli
from server_hub.creditbank import audit


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.delenv("TAPCERT_HUB_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli.main(["--db", url, "init", "--token-file", str(tmp_path / "t")]) == 0
    h = Hub(url, make_config())
    yield url, h
    h.close()


def run(url, *args):
    return cli.main(["--db", url, *args])


def test_holds_review_is_audited_and_exactly_once(env, capsys):
    url, h = env
    d = District(h, learners=1, standard={"type": "fixed", "credits": 2})
    h.registry.set_card_status(d.cards["L-0"].hex(), "lost", since=SESSION_START - 60)
    h.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", at=SESSION_START + 60)]))
    start = str(SESSION_START)
    assert run(url, "holds", "review", "L-0", "A-1", start, "reject") == 1
    assert "needs a comment" in capsys.readouterr().err
    for _ in range(2):
        assert run(url, "holds", "review", "L-0", "A-1", start, "approve", "--comment",
                   "card found", "--actor", "alice") == 0
    assert "audited" in capsys.readouterr().out
    assert h.balance("L-0") == 2000 and h.count("ledger") == 1
    log = audit.entries(h.store, subject="L-0", action="review.*")
    assert [(e["actor"], e["detail"]["changed"], e["detail"]["comment"]) for e in log] == [
        ("alice", False, "card found"), ("alice", True, "card found")]
    assert run(url, "holds", "review", "L-0", "A-1", start, "reject", "--comment",
               "card lent") == 0
    assert h.balance("L-0") == 0
    assert audit.entries(h.store, action="review.reject")[0]["actor"].startswith("cli")


def test_term_commands(env, capsys):
    url, h = env
    d = District(h, learners=1, schedule={"type": "daily", "start": "09:00", "end": "11:00",
                                           "from": "2026-06-01"},
                 standard={"type": "fixed", "credits": 1, "max_per_term": 1})
    h.ingest(d.station, wire.encode_batch(1, [d.tap("L-0", at=SESSION_START + 60 + i * 86400)
                                              for i in range(3)]))
    assert h.balance("L-0") == 3000
    assert run(url, "term", "add", "2026-june", "--name", "June 2026", "--first", "2026-06-01",
               "--last", "2026-06-30", "--actor", "alice") == 0
    assert h.balance("L-0") == 1000                 # two explicit reversals
    assert run(url, "term", "add", "x", "--name", "X", "--first", "2026-06-30", "--last",
               "2026-07-30") == 1
    assert "overlaps term 2026-june" in capsys.readouterr().err
    assert run(url, "term", "set", "2026-june", "--first", "2026-06-02") == 0
    assert h.balance("L-0") == 2000
    capsys.readouterr()
    assert run(url, "term", "list") == 0
    out = capsys.readouterr().out
    assert "2026-june" in out and "2026-06-02" in out
    assert run(url, "term", "remove", "2026-june") == 0
    assert h.balance("L-0") == 3000


def test_category_commands(env, capsys):
    url, h = env
    District(h, learners=1)
    assert run(url, "category", "add", "health", "--zh", "健康课程", "--en", "Health") == 0
    assert run(url, "category", "rename", "health", "--en", "Health courses") == 0
    assert run(url, "activity", "add", "A-2", "--station", "S-1", "--category", "painting",
               "--schedule", '{"type": "daily", "start": "08:00", "end": "09:00"}',
               "--standard", '{"type": "fixed", "credits": 1}') == 1
    err = capsys.readouterr().err
    assert "use one of community-event, cultural-life, health, online" in err
    assert run(url, "category", "retire", "health") == 0
    capsys.readouterr()
    assert run(url, "category", "list") == 0
    assert "health" not in capsys.readouterr().out
    assert run(url, "category", "list", "--all") == 0
    assert "Health courses" in capsys.readouterr().out
    assert run(url, "category", "restore", "health") == 0
    assert run(url, "category", "rename", "nope", "--en", "x") == 1
