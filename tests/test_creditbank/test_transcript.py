"""Verifiable transcripts: issued from the store (SQLite and PostgreSQL) they verify offline;
any edit makes verification fail; embedded station records are checked on their own too."""

import copy
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bankkit import SESSION_START, credited_district, wire
from server_hub.creditbank import export, issuer, transcript
from server_hub.errors import HubError, TranscriptInvalid


@pytest.fixture
def issued(hub, tmp_path):
    d = credited_district(hub, credits=2)
    # a second session: an extra activity with its own record
    hub.registry.add_activity("A-2", d.station, "Tea ceremony",
                              {"type": "once", "sessions": [[SESSION_START + 7200,
                                                             SESSION_START + 9000]]},
                              {"type": "fixed", "credits": 1})
    hub.ingest(d.station, wire.encode_batch(2, [d.tap("L-0", at=SESSION_START + 7300)]))
    key, created = issuer.open_or_create(tmp_path / "ca")
    assert created
    doc = export.issue_transcript(hub.store, "L-0", key, "Xicheng credit bank", now=1.79e9)
    return key, doc


def test_issued_transcript_verifies(hub, issued):
    key, doc = issued
    got = transcript.verify(json.loads(json.dumps(doc)))      # through a file's JSON
    assert got["issuer"] == issuer.public_hex(key)
    assert got["credits"] == 2 and got["records"] == 2
    assert got["total_credits_milli"] == hub.balance("L-0") == 3000
    assert transcript.verify(doc, trusted_issuers={issuer.public_hex(key)})
    subj = doc["credentialSubject"]
    assert subj["id"] == "urn:tapcert:learner:L-0"
    assert [c["activityId"] for c in subj["credits"]] == ["A-1", "A-2"]
    assert "VerifiableCredential" in doc["type"] and "OpenBadgeCredential" in doc["type"]


def _set(path, value):
    def edit(doc):
        node = doc
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value(node[path[-1]]) if callable(value) else value
    return edit


def _flip_hex(h):
    return ("1" if h[0] == "0" else "0") + h[1:]


EDITS = {
    "amount": _set(["credentialSubject", "credits", 0, "amountMilli"], 9000),
    "total": _set(["credentialSubject", "totalCreditsMilli"], 1),
    "learner": _set(["credentialSubject", "id"], "urn:tapcert:learner:L-1"),
    "drop credit": _set(["credentialSubject", "credits"], lambda c: c[:1]),
    "record byte": _set(["credentialSubject", "credits", 0, "records", 0, "recordHex"],
                        _flip_hex),
    "record seq": _set(["credentialSubject", "credits", 0, "records", 0, "seq"], 99),
    "reader key": _set(["credentialSubject", "credits", 0, "records", 0, "readerPublicKey"],
                       "00" * 32),
    "issuer name": _set(["issuer", "name"], "Another bank"),
    "valid from": _set(["validFrom"], "2020-01-01T00:00:00Z"),
    "proof created": _set(["proof", "created"], "2020-01-01T00:00:00Z"),
    "proof value": _set(["proof", "proofValue"], _flip_hex),
    "issuer id": _set(["issuer", "id"], "urn:tapcert:issuer:" + "11" * 32),
    "no proof": lambda d: d.pop("proof"),
    "extra field": lambda d: d.__setitem__("note", "trust me"),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_any_edit_fails(issued, name):
    _, doc = issued
    bad = copy.deepcopy(doc)
    EDITS[name](bad)
    with pytest.raises(TranscriptInvalid):
        transcript.verify(bad)


RESIGNED = {
    # the issuer signs whatever it is given; a record edit must still be caught on its own
    "record byte": ["recordHex", _flip_hex],
    "record signature": ["recordHex", lambda h: h[:-2] + ("00" if h[-2:] != "00" else "01")],
    "record seq": ["seq", lambda s: s + 1],
    "other reader key": ["readerPublicKey",
                         lambda _: issuer.public_hex(Ed25519PrivateKey.generate())],
}


@pytest.mark.parametrize("name", sorted(RESIGNED))
def test_forged_records_fail_even_when_issuer_signs(issued, name):
    key, doc = issued
    credits = copy.deepcopy(doc["credentialSubject"]["credits"])
    field, change = RESIGNED[name]
    credits[0]["records"][0][field] = change(credits[0]["records"][0][field])
    forged = transcript.build("L-0", credits, key, "Xicheng credit bank", 1.79e9)
    with pytest.raises(TranscriptInvalid, match=r"credits\[0\]\.records\[0\]"):
        transcript.verify(forged)


def test_untrusted_issuer_is_refused(issued):
    _, doc = issued
    other = Ed25519PrivateKey.generate()
    resigned = transcript.build("L-0", doc["credentialSubject"]["credits"], other, "Fake", 1.79e9)
    assert transcript.verify(resigned)                     # self-consistent …
    with pytest.raises(TranscriptInvalid, match="not one you trust"):
        transcript.verify(resigned, trusted_issuers={doc["issuer"]["id"].rsplit(":", 1)[1]})


def test_issuer_key_file_is_private_and_reused(tmp_path):
    key, created = issuer.open_or_create(tmp_path / "ca")
    mode = stat.S_IMODE(os.stat(tmp_path / "ca" / issuer.KEY_FILE).st_mode)
    assert created and mode == 0o600
    again, created2 = issuer.open_or_create(tmp_path / "ca")
    assert not created2 and issuer.public_hex(again) == issuer.public_hex(key)
    assert (tmp_path / "ca" / issuer.PUB_FILE).read_text().strip() == issuer.public_hex(key)


def test_xapi_statements(hub):
    d = credited_district(hub, credits=1)
    stmts = export.xapi_statements(hub.store, "L-1")
    assert len(stmts) == 1
    s = stmts[0]
    assert s["actor"]["account"]["name"] == "L-1" and "name" not in s["actor"]
    assert s["object"]["id"].endswith("/activities/A-1")
    ext = s["context"]["extensions"]
    assert ext["https://tapcert.example/xapi/reader"] == d.reader.reader_id.hex()
    assert ext["https://tapcert.example/xapi/credit-status"] == "credited"
    assert s["timestamp"].endswith("Z")
    assert export.xapi_statements(hub.store, "L-1", since=SESSION_START + 3600) == []
    assert stmts[0]["id"] == export.xapi_statements(hub.store, "L-1")[0]["id"]   # stable


def test_transcript_invalid_in_the_hub_tree():
    assert issubclass(TranscriptInvalid, HubError)
