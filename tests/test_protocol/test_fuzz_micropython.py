"""The mutation fuzzer inside the real micropython binary (see mpy_fuzz.py)."""

from hil_tests import mpy


def test_protocol_decoders_survive_mutation_on_micropython(fuzz_examples):
    cases = max(2000, fuzz_examples // 5)
    proc = mpy.run(["tests/test_protocol/mpy_fuzz.py", str(cases), "1234"], timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "fuzz: {} cases".format(cases) in proc.stdout
