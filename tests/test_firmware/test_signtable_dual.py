# dual: micropython
# The signer's table on flash: streamed out of protocol/ed25519_table.py byte for byte, and
# signatures made through it are the signatures made with the table in RAM.

import signtable
from fwkit import Flash


def test_table_file_is_the_protocol_table():
    flash = Flash()
    try:
        path = flash.root + signtable.PATH
        assert signtable.prepare(path) is True
        assert signtable.prepare(path) is False  # there already
        from protocol.ed25519_table import GROUPS
        with open(path, "rb") as f:
            data = f.read()
        assert len(data) == 4 * 12288
        for g in range(4):
            assert data[g * 12288:(g + 1) * 12288] == GROUPS[g]
    finally:
        flash.close()


def test_signatures_through_the_flash_table_are_unchanged():
    import protocol.ed25519 as ed
    seed = bytes(range(1, 33))
    msgs = [b"", b"tapcert", bytes(range(52))]
    ed.set_table(None)
    expected = [ed.Signer(seed).sign(m) for m in msgs]
    flash = Flash()
    f = None
    try:
        f = signtable.install(flash.root + signtable.PATH)
        signer = ed.Signer(seed)
        assert [signer.sign(m) for m in msgs] == expected
        assert signer.public_key == ed.public_key(seed)
    finally:
        ed.set_table(None)
        if f is not None:
            f.close()
        flash.close()


def test_a_damaged_table_file_is_written_again():
    flash = Flash()
    try:
        path = flash.root + "/signtable.bin"
        with open(path, "wb") as f:
            f.write(b"short")
        assert signtable.prepare(path) is True
        import os
        assert os.stat(path)[6] == 4 * 12288
    finally:
        flash.close()


def test_a_frozen_table_is_used_in_place_without_a_file():
    # issue 16: on a frozen image (protocol/ in the firmware's flash) the table is read in
    # place, as fast as from RAM and without heap; no 48 KiB file is written. The frozen
    # package is faked by its __path__ (what MicroPython gives a frozen package).
    import os
    import protocol
    import protocol.ed25519 as ed
    from protocol.ed25519_table import GROUPS  # noqa: F401  (already loaded: no .frozen lookup)
    assert signtable.frozen_groups() is None  # not frozen here
    seed = bytes(range(1, 33))
    ed.set_table(None)
    expected = ed.Signer(seed).sign(b"tapcert")
    saved = protocol.__path__
    flash = Flash()
    try:
        protocol.__path__ = ".frozen/protocol"
        groups = signtable.frozen_groups()
        assert [bytes(g) for g in groups] == list(GROUPS)
        path = flash.root + "/frozen-signtable.bin"
        assert signtable.prepare(path) is False
        assert signtable.install(path) is None
        assert ed.Signer(seed).sign(b"tapcert") == expected
        try:
            os.stat(path)
            raise AssertionError("a table file was written although the table is frozen")
        except OSError:
            pass
    finally:
        protocol.__path__ = saved
        signtable._installed[0] = signtable._installed[1] = None
        ed.set_table(None)
        flash.close()
