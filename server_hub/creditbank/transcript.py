"""Verifiable transcripts: a learner's credits as a signed credential, shaped after Open Badges
3.0 / W3C Verifiable Credentials 2.0, verifiable offline. Pure (no database, clock or files).

Shape (see docs/credit-bank.md):

    {"@context": [VC 2.0, OB 3.0], "type": ["VerifiableCredential", "OpenBadgeCredential"],
     "id": "urn:uuid:…", "issuer": {"id": "urn:tapcert:issuer:<public key hex>", …},
     "validFrom": "…Z",
     "credentialSubject": {"id": "urn:tapcert:learner:<id>", "type": ["AchievementSubject"],
        "achievement": {…}, "totalCreditsMilli": n (station credits + external credits),
        "externalCredits": [{"title", "institution", "proofReference", "day", "amountMilli",
                             "enteredBy", "approvedBy"}]   (only when there are some),
        "credits": [{"activityId", "activityName", "sessionStart", "day", "amountMilli",
                     "records": [{"readerId", "readerPublicKey", "seq", "recordHex"}]}]},
     "proof": {"type": "DataIntegrityProof", "cryptosuite": "tapcert-eddsa-jcs-2026",
               "created", "verificationMethod": "<issuer id>#key",
               "proofPurpose": "assertionMethod", "proofValue": "<signature hex>"}}

Signing: the Ed25519 signature covers canonical JSON of {"credential": <document without
"proof">, "proof": <proof without "proofValue">}. Canonical JSON here is RFC 8785 (JCS) for
documents without floating-point numbers — keys sorted, no whitespace, UTF-8 — which is why
every amount is integer thousandths of a credit ("…Milli").

Each credit names the station-signed records behind it: the record bytes exactly as the reader
signed them, the reader's public key and the reader id (= first 8 bytes of SHA-256 of that
key, SPEC §1), so a verifier checks the reader's signature too. The records contain the
learner's card UID (the learner's own data).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import record as rec
from protocol.errors import ProtocolError
from server_hub.errors import TranscriptInvalid

CONTEXT = ["https://www.w3.org/ns/credentials/v2",
           "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
CRYPTOSUITE = "tapcert-eddsa-jcs-2026"


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _signing_input(credential: dict, proof: dict) -> bytes:
    return canonical({"credential": credential,
                      "proof": {k: v for k, v in proof.items() if k != "proofValue"}})


def build(learner_id: str, credits: list[dict], issuer_key, issuer_name: str, now: float,
          credential_id: str | None = None, external: list[dict] | None = None) -> dict:
    """credits: [{"activityId", "activityName", "sessionStart", "day", "amountMilli",
    "records": [{"readerId", "readerPublicKey", "seq", "recordHex"}]}] -> signed document."""
    from server_hub.creditbank.issuer import public_hex
    pub = public_hex(issuer_key)
    issuer_id = f"urn:tapcert:issuer:{pub}"
    credential = {
        "@context": CONTEXT,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "id": credential_id or f"urn:uuid:{uuid.uuid4()}",
        "name": f"Credit transcript of {learner_id}",
        "issuer": {"id": issuer_id, "type": ["Profile"], "name": issuer_name},
        "validFrom": _iso(now),
        "credentialSubject": {
            "id": f"urn:tapcert:learner:{learner_id}",
            "type": ["AchievementSubject"],
            "achievement": {"id": "urn:tapcert:achievement:credit-transcript",
                            "type": ["Achievement"], "name": "Lifelong-learning credits",
                            "criteria": {"narrative": "Credits granted by the activities' "
                                         "credit standards from station-signed attendance "
                                         "records."}},
            "totalCreditsMilli": sum(c["amountMilli"] for c in credits)
            + sum(c["amountMilli"] for c in external or ()),
            "credits": credits,
        },
    }
    if external:
        credential["credentialSubject"]["externalCredits"] = external
    proof = {"type": "DataIntegrityProof", "cryptosuite": CRYPTOSUITE, "created": _iso(now),
             "verificationMethod": f"{issuer_id}#key", "proofPurpose": "assertionMethod"}
    proof["proofValue"] = issuer_key.sign(_signing_input(credential, proof)).hex()
    return dict(credential, proof=proof)


def _hex(value, n: int | None, what: str) -> bytes:
    try:
        b = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise TranscriptInvalid(f"{what} is not hex") from None
    if n is not None and len(b) != n:
        raise TranscriptInvalid(f"{what} must be {n} bytes, is {len(b)}")
    return b


def _check_record(r: dict, where: str) -> None:
    if not isinstance(r, dict):
        raise TranscriptInvalid(f"{where} is not an object")
    pub = _hex(r.get("readerPublicKey"), 32, f"{where}.readerPublicKey")
    raw = _hex(r.get("recordHex"), None, f"{where}.recordHex")
    if rec.reader_id_from_public_key(pub).hex() != r.get("readerId"):
        raise TranscriptInvalid(f"{where}: readerId is not derived from readerPublicKey")
    try:
        decoded = rec.decode(raw)
        payload, signature = rec.split(raw)
    except ProtocolError as exc:
        raise TranscriptInvalid(f"{where}: the record does not decode ({exc})") from None
    if bytes(decoded.reader_id).hex() != r.get("readerId") or decoded.seq != r.get("seq"):
        raise TranscriptInvalid(f"{where}: readerId/seq differ from the signed record")
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(signature, payload)
    except InvalidSignature:
        raise TranscriptInvalid(f"{where}: the reader's signature does not verify") from None


def verify(doc, trusted_issuers=None) -> dict:
    """Check the issuer's signature and every embedded record's signature. `trusted_issuers`:
    public keys (hex) to accept; None accepts the key named in the document (and reports it).
    -> summary {"issuer", "learner", "credits", "total_credits_milli", "records"}."""
    if not isinstance(doc, dict) or not isinstance(doc.get("proof"), dict):
        raise TranscriptInvalid("not a transcript: no proof")
    proof = doc["proof"]
    credential = {k: v for k, v in doc.items() if k != "proof"}
    if proof.get("cryptosuite") != CRYPTOSUITE or proof.get("type") != "DataIntegrityProof":
        raise TranscriptInvalid(f"unsupported proof: expected {CRYPTOSUITE}")
    issuer = credential.get("issuer") or {}
    issuer_id = issuer.get("id", "") if isinstance(issuer, dict) else ""
    if not issuer_id.startswith("urn:tapcert:issuer:") or \
            proof.get("verificationMethod") != issuer_id + "#key":
        raise TranscriptInvalid("the proof's verificationMethod is not the issuer's key")
    pub_hex = issuer_id.rsplit(":", 1)[1]
    pub = _hex(pub_hex, 32, "issuer key")
    if trusted_issuers is not None and pub_hex not in trusted_issuers:
        raise TranscriptInvalid(f"issuer key {pub_hex} is not one you trust")
    try:
        sig = _hex(proof.get("proofValue"), 64, "proofValue")
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, _signing_input(credential, proof))
    except InvalidSignature:
        raise TranscriptInvalid("the issuer's signature does not verify: the transcript was "
                                "changed after it was issued") from None
    except (TypeError, ValueError) as exc:
        raise TranscriptInvalid(f"the transcript cannot be canonicalised: {exc}") from None
    subject = credential.get("credentialSubject") or {}
    credits = subject.get("credits") or []
    n = 0
    for i, c in enumerate(credits):
        records = c.get("records") or []
        if not records:
            raise TranscriptInvalid(f"credits[{i}] names no records")
        for j, r in enumerate(records):
            _check_record(r, f"credits[{i}].records[{j}]")
            n += 1
    external = subject.get("externalCredits") or []
    total = sum(int(c.get("amountMilli", 0)) for c in list(credits) + list(external))
    if total != subject.get("totalCreditsMilli"):
        raise TranscriptInvalid("totalCreditsMilli is not the sum of the credits")
    return {"issuer": pub_hex, "issuer_name": issuer.get("name", ""),
            "learner": subject.get("id", ""), "credits": len(credits),
            "total_credits_milli": total, "records": n, "external": len(external)}
