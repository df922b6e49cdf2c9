# dual: micropython
# Issue 18, finding 7 (fleet bundles), the rules on both interpreters (protocol/fwpolicy.py):
# only firmware code paths, and no rollback without the explicit override.
from protocol import fwpolicy
from protocol.fwpolicy import PolicyRefused

GOOD = ("/app.mpy", "/main.py", "/keys.mpy", "/lib/protocol/record.mpy", "/board/unix.py",
        "/drivers/pn532.mpy")
BAD = ("/config.json", "/data/seed.bin", "/data/journal/seg/1.mpy", "/../../boot.py",
       "/lib/../config.py", "//app.py", "app.py", "/app.txt", "/host/events.jsonl",
       "/lib/a b.py", "/lib\\x.py", "/.py", "/lib/", "/", "", None, "/x/" * 60 + "a.py",
       "/secrets/key.py", "/app.py/", "/app.mpy.json")


def _refused(fn, *args):
    try:
        fn(*args)
    except PolicyRefused as exc:
        return exc.reason
    raise AssertionError("not refused: {}".format(args))


def test_code_paths_are_allowed():
    for path in GOOD:
        assert fwpolicy.path_allowed(path), path


def test_keys_config_data_and_escapes_are_not():
    for path in BAD:
        assert not fwpolicy.path_allowed(path), path


def test_a_manifest_with_one_bad_path_is_refused():
    manifest = {"builds": {"6.3-x64": {"files": {"/app.mpy": "00", "/config.json": "11"}}}}
    assert _refused(fwpolicy.check_paths, manifest) == "path-not-allowed"
    fwpolicy.check_paths({"builds": {"6.3-x64": {"files": {"/app.mpy": "00"}}}})


def test_versions_compare_as_numbers():
    assert fwpolicy.version("0.10.0") > fwpolicy.version("0.9.9")
    assert fwpolicy.version("1") == fwpolicy.version("1.0.0")
    for bad in ("", "1..2", "v1.2", "1.2.3.4.5", "1.-2", "1234567", None):
        assert _refused(fwpolicy.version, bad) == "malformed", bad


def test_rollback_needs_the_override():
    fwpolicy.check_upgrade("0.3.0", "0.2.0")
    fwpolicy.check_upgrade("0.2.0", "0.2.0")          # a re-install
    fwpolicy.check_upgrade("0.2.0", None)             # nothing to compare with
    assert _refused(fwpolicy.check_upgrade, "0.1.9", "0.2.0") == "rollback"
    fwpolicy.check_upgrade("0.1.9", "0.2.0", True)
