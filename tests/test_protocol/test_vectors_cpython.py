"""CPython-only checks of the vectors: signatures verify with `cryptography`, files are fresh,
and SPEC.md's worked examples are the vectors."""

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import record
from test_vectors import RECORDS, BATCH

REPO = Path(__file__).resolve().parents[2]


def test_vector_signatures_verify_with_cryptography():
    pk = Ed25519PublicKey.from_public_bytes(bytes.fromhex(RECORDS["public_key"]))
    for v in RECORDS["valid"]:
        payload, sig = record.split(bytes.fromhex(v["encoded"]))
        pk.verify(sig, payload)
        with pytest.raises(InvalidSignature):
            pk.verify(sig, payload[:-1] + bytes([payload[-1] ^ 1]))


def test_vectors_are_generated_from_the_code():
    proc = subprocess.run([sys.executable, "tools/gen_vectors.py", "--check"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_spec_worked_examples_are_the_vectors():
    spec = (REPO / "protocol" / "SPEC.md").read_text()
    flat = "".join(spec.split())
    assert RECORDS["valid"][0]["encoded"] in flat
    assert BATCH["valid_acks"][0]["hex"] in flat
    assert BATCH["valid_batches"][0]["hex"][:28] in flat
