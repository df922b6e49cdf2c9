"""`tapcert-provision enroll --timeout`: how long enroll waits for the restarted firmware's
answer reaches enroll.enroll (an emulated RP2040 needs minutes, a real Pico seconds)."""

from provisioning import cli, enroll


def _enroll_kwargs(monkeypatch, *extra):
    seen = {}

    def fake_enroll(port, station, report, **kw):  # the reader side is tested in test_reader_flow
        seen.update(kw)
        return {"rid": "r" * 16, "label": "", "revoked": None}
    monkeypatch.setattr(enroll, "enroll", fake_enroll)
    code = cli.main(["-q", "enroll", "--port", "/dev/null", "--station", "S-0001",
                     "--offline-bundle", "/nonexistent/b.json", *extra])
    assert code == 0
    return seen


def test_enroll_waits_20_s_by_default_and_as_long_as_timeout_says(monkeypatch):
    assert _enroll_kwargs(monkeypatch)["confirm_timeout"] == 20.0
    assert _enroll_kwargs(monkeypatch, "--timeout", "360")["confirm_timeout"] == 360.0
