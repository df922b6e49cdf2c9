"""External credits with four-eyes approval (SQLite and PostgreSQL): nothing reaches the ledger
until a second admin approves; approval writes exactly one entry; every step is audited; an
approved external credit appears in the transcript and verifies."""

import threading

import pytest

from bankkit import District
from server_hub.creditbank import audit, export, external, issuer, transcript
from server_hub.errors import Conflict, NotFound, RegistryError, TranscriptInvalid


@pytest.fixture
def pending(hub):
    District(hub)
    return external.enter(hub.store, "L-0", 1500, "First aid course", "Red Cross Beijing",
                          "RC-2026-0042", "2026-05-20", "admin-a")


def test_pending_until_second_admin_approves(hub, pending):
    assert pending["status"] == "pending" and hub.balance("L-0") == 0
    with pytest.raises(Conflict, match="four-eyes"):
        external.decide(hub.store, pending["id"], "approve", "admin-a")
    assert hub.balance("L-0") == 0
    got = external.decide(hub.store, pending["id"], "approve", "admin-b", "certificate seen")
    assert got["status"] == "approved" and got["decided_by"] == "admin-b"
    assert hub.balance("L-0") == 1500
    row = hub.sql("SELECT entry, activity_id, reason, evidence FROM ledger WHERE id = :i",
                  i=got["ledger_id"])[0]
    assert row[0] == "credit" and row[1] == f"external:{pending['id']}" and row[3] == "[]"
    assert "RC-2026-0042" in row[2] and "admin-a" in row[2] and "admin-b" in row[2]
    with pytest.raises(Conflict, match="already approved"):
        external.decide(hub.store, pending["id"], "reject", "admin-c", "no")
    assert hub.balance("L-0") == 1500
    log = audit.entries(hub.store, subject="L-0", action="external.*")
    assert [(a["actor"], a["action"]) for a in reversed(log)] == [
        ("admin-a", "external.enter"), ("admin-b", "external.approve")]


def test_reject_writes_nothing(hub, pending):
    with pytest.raises(RegistryError, match="comment"):
        external.decide(hub.store, pending["id"], "reject", "admin-b")
    got = external.decide(hub.store, pending["id"], "reject", "admin-b", "proof is a scan of "
                          "another person's certificate")
    assert got["status"] == "rejected" and got["ledger_id"] is None
    assert hub.count("ledger") == 0
    assert external.listing(hub.store, "pending") == []


def test_concurrent_approvals_write_once(hub, pending):
    gate = threading.Barrier(6)
    outcomes = []

    def approve(i):
        gate.wait()
        try:
            external.decide(hub.store, pending["id"], "approve", f"admin-{i}")
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    assert hub.count("ledger") == 1 and hub.balance("L-0") == 1500


@pytest.mark.parametrize("args,match", [
    ((0, "t", "i", "p", "2026-01-01"), "amount"),
    ((1000, "", "i", "p", "2026-01-01"), "title"),
    ((1000, "t", "i", " ", "2026-01-01"), "proof"),
    ((1000, "t", "i", "p", "20-01-2026"), "date"),
])
def test_entry_checked(hub, args, match):
    District(hub)
    with pytest.raises(RegistryError, match=match):
        external.enter(hub.store, "L-0", *args, "admin-a")


def test_unknown(hub):
    District(hub)
    with pytest.raises(NotFound):
        external.enter(hub.store, "L-404", 1000, "t", "i", "p", "2026-01-01", "a")
    with pytest.raises(NotFound):
        external.decide(hub.store, 999, "approve", "b")


def test_in_transcript(hub, pending, tmp_path):
    external.decide(hub.store, pending["id"], "approve", "admin-b")
    key, _ = issuer.open_or_create(tmp_path / "ca")
    doc = export.issue_transcript(hub.store, "L-0", key)
    ext = doc["credentialSubject"]["externalCredits"]
    assert ext == [{"title": "First aid course", "institution": "Red Cross Beijing",
                    "proofReference": "RC-2026-0042", "day": "2026-05-20", "amountMilli": 1500,
                    "enteredBy": "admin-a", "approvedBy": "admin-b"}]
    assert transcript.verify(doc)["total_credits_milli"] == 1500 == hub.balance("L-0")
    doc["credentialSubject"]["externalCredits"][0]["amountMilli"] = 15000
    with pytest.raises(TranscriptInvalid):
        transcript.verify(doc)
