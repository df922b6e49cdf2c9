"""The learner portal's API (server_hub/api/learner_routes.py) on a SQLite hub: sign-in with
a PIN set at the desk, the learner's own statement / points / transcript, and nothing of any
other learner however the request is bent; wrong PINs, lockouts, expiry, sign-out."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from learnerkit import Hub, PINS, client_for, make_config, seed, staff
from server_hub.creditbank import audit, learnerauth, transcript
from server_hub.store.learner_tables import learner_sessions
from server_hub.store.schema import counters

SIGN_IN = "/learner/api/sign-in"


@pytest.fixture
def portal(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url))
    seed(hub)
    client = client_for(hub, tmp_path)
    yield hub, client
    client.close()
    hub.close()


def sign_in(client, account, pin=None):
    return client.post(SIGN_IN, json={"account": account, "pin": pin or PINS[account]})


def counter(hub, name):
    with hub.store.read() as conn:
        return conn.execute(sa.select(counters.c.value).where(counters.c.name == name)).scalar()


def test_signed_in_learner_sees_own_account(portal):
    hub, client = portal
    r = sign_in(client, "L-1")
    assert r.status_code == 200 and r.json()["name"] == "Learner 1"
    cookie = r.headers["set-cookie"]
    for part in ("tapcert_learner=", "HttpOnly", "SameSite=strict", "Path=/learner/api",
                 "Max-Age=1800"):
        assert part.lower() in cookie.lower(), part
    me = client.get("/learner/api/me").json()
    assert (me["learner_id"], me["credits"], me["points_available"]) == ("L-1", 3.0, 30)
    st = client.get("/learner/api/statement")
    assert st.headers["cache-control"] == "no-store"
    st = st.json()
    assert st["learner_id"] == "L-1" and st["balance"] == 3.0
    assert sorted((e["activity_name"], e["amount"]) for e in st["entries"]) == \
        [("Calligraphy", 2.0), ("Tea ceremony", 1.0)]
    ev = st["entries"][0]["evidence"][0]
    assert ev["station_id"] == "S-1" and ev["station_name"] == "Community centre"
    assert ev["reader_label"] == "R-1" and ev["seq"] >= 1 and ev["best_time"]
    ex = client.get("/learner/api/exchange").json()
    assert ex["entries"] == [] and ex["services"][0]["id"] == "swim"
    assert counter(hub, "learner_signin_ok") == 1


def test_redemptions_show_without_staff_fields(portal):
    _, client = portal
    assert sign_in(client, "L-0").status_code == 200
    ex = client.get("/learner/api/exchange").json()
    assert ex["learner_id"] == "L-0" and ex["points_available"] == 15
    (entry,) = ex["entries"]
    assert entry["entry"] == "redeem" and entry["points"] == -5
    assert "key" not in entry and "actor" not in entry


def test_no_other_learners_data_by_tampering(portal):
    hub, client = portal
    assert sign_in(client, "L-1").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    learner_paths = [p for p in paths if p.startswith("/learner/api/")]
    assert len(learner_paths) >= 6
    assert not [p for p in learner_paths if "{" in p], "a learner route takes an id"
    for path in ("/learner/api/statement", "/learner/api/exchange",
                 "/learner/api/me", "/learner/api/transcript"):
        for tamper in ("?learner_id=L-0", "?id=L-0&learner=L-0", "/../../learners/L-0"):
            r = client.get(path + tamper)
            assert '"L-0"' not in r.text and "L-0\"" not in r.text, (path, tamper)
            if r.status_code == 200:
                assert "L-1" in r.text, (path, tamper)
    # the staff routes of another learner need a staff token, not a learner's session
    for path in ("/api/v1/learners/L-0/statement", "/api/v1/learners/L-0/exchange",
                 "/api/v1/learners/L-0/transcript", "/api/v1/learners/L-0/pin"):
        assert client.get(path).status_code == 401, path
    # a learner's session cookie is no bearer token either
    token = client.cookies.get("tapcert_learner")
    assert client.get("/api/v1/learners/L-0/statement",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_wrong_pin_and_unknown_account_answer_alike(portal):
    hub, client = portal
    wrong = sign_in(client, "L-1", "999999x")
    unknown = sign_in(client, "L-404", "999999x")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "PIN is wrong" in wrong.json()["detail"] and "desk" in wrong.json()["detail"]
    assert "set-cookie" not in wrong.headers
    assert client.get("/learner/api/me").status_code == 401
    assert counter(hub, "learner_signin_wrong") == 2


def test_account_lockout_then_desk_reset(portal):
    hub, client = portal
    for _ in range(5):
        assert sign_in(client, "L-2", "111222x").status_code == 401
    r = sign_in(client, "L-2")                        # the right PIN, but locked now
    assert r.status_code == 429
    assert 14 * 60 < int(r.headers["retry-after"]) <= 15 * 60 + 1
    assert "15 more minutes" in r.json()["detail"] and "reset the PIN" in r.json()["detail"]
    assert r.json()["locked_until"] > 0
    assert r.json()["timezone"] == hub.config.hub.timezone   # the page says "until hh:mm" by the hub's clock
    assert (counter(hub, "learner_signin_locked"), counter(hub, "learner_signin_refused")) == (1, 1)
    assert sign_in(client, "L-1").status_code == 200   # other accounts are not locked
    state = client.get("/api/v1/learners/L-2/pin", headers=staff(client, "operator")).json()
    assert state["pin_set"] and state["locked_until"] > 0
    r = client.put("/api/v1/learners/L-2/pin", json={"pin": "570193"},
                   headers=staff(client, "operator"))
    assert r.status_code == 200 and r.json()["reset"]
    assert sign_in(client, "L-2", "570193").status_code == 200


def test_address_lockout_spares_other_addresses(portal, tmp_path):
    hub, client = portal
    for i in range(20):                      # unknown accounts count against the address too
        assert sign_in(client, f"X-{i}", "000111x").status_code == 401
    r = sign_in(client, "L-0")
    assert r.status_code == 429 and "this device's network" in r.json()["detail"]
    from fastapi.testclient import TestClient
    other = TestClient(client.app, base_url="http://127.0.0.1", client=("192.0.2.9", 50001))
    assert sign_in(other, "L-0").status_code == 200
    other.close()


def test_expired_session_and_sign_out(portal):
    hub, client = portal
    assert sign_in(client, "L-0").status_code == 200
    assert client.get("/learner/api/me").status_code == 200
    with hub.store.write() as conn:
        conn.execute(learner_sessions.update().values(expires_at=1.0))
    r = client.get("/learner/api/statement")
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert sign_in(client, "L-0").status_code == 200
    out = client.post("/learner/api/sign-out")
    assert out.json() == {"signed_out": True}
    assert "tapcert_learner=" in out.headers["set-cookie"]
    assert client.get("/learner/api/me").status_code == 401


def test_pin_reset_ends_sessions(portal):
    hub, client = portal
    assert sign_in(client, "L-0").status_code == 200
    learnerauth.set_pin(hub.store, "L-0", "604817", {"name": "desk-bo", "role": "admin"})
    r = client.get("/learner/api/me")
    assert r.status_code == 401 and "PIN was reset" in r.json()["detail"]


def test_set_pin_who_and_what(portal, caplog):
    hub, client = portal
    caplog.set_level(logging.DEBUG)
    r = client.put("/api/v1/learners/L-0/pin", json={"pin": "396150"},
                   headers=staff(client, "technician"))
    assert r.status_code == 403
    r = client.put("/api/v1/learners/L-0/pin", json={"pin": "123456"},
                   headers=staff(client, "admin"))
    assert r.status_code == 422 and "consecutive" in r.json()["detail"]
    r = client.put("/api/v1/learners/L-404/pin", json={"pin": "396150"},
                   headers=staff(client, "admin"))
    assert r.status_code == 404
    r = client.put("/api/v1/learners/L-0/pin", json={"pin": "396150"},
                   headers=staff(client, "admin"))
    assert r.status_code == 200 and r.json()["set_by"] == "admin-1"
    with pytest.raises(learnerauth.NotAllowed):
        learnerauth.set_pin(hub.store, "L-0", "396150", {"name": "t", "role": "technician"})
    entries = audit.entries(hub.store, subject="L-0", action="learner.pin.*")
    assert [e["action"] for e in entries][:1] == ["learner.pin.reset"]
    with hub.store.read() as conn:
        dump = "\n".join(str(tuple(r)) for t in ("bank_audit", "learner_credentials")
                         for r in conn.execute(sa.text(f"SELECT * FROM {t}")))
    assert "396150" not in dump and "scrypt$16384$8$1$" in dump
    assert "396150" not in caplog.text and PINS["L-1"] not in caplog.text


def test_transcript_download_verifies(portal):
    hub, client = portal
    assert sign_in(client, "L-1").status_code == 200
    r = client.get("/learner/api/transcript")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="transcript-L-1.json"'
    doc = r.json()
    got = transcript.verify(doc)
    assert doc["credentialSubject"]["id"] == "urn:tapcert:learner:L-1"
    assert got["total_credits_milli"] == 3000 and got["records"] == 2


def test_hostile_sign_in_bodies(portal):
    _, client = portal
    for body in ({"account": "L-0"}, {"account": "", "pin": "x"}, {"account": "L" * 65, "pin": "1"},
                 {"account": "L-0", "pin": "9" * 129}, ["L-0", "482915"], {"account": 5, "pin": 6}):
        assert client.post(SIGN_IN, json=body).status_code == 422, body
    for raw in (rb'{"account": "L-\ud800", "pin": "482915"}', rb'{"account": "L-0", "pin": "4\ud8009"}',
                rb'{"account": "L-0\u0000", "pin": "482915"}'):    # lone surrogate, NUL
        r = client.post(SIGN_IN, content=raw, headers={"content-type": "application/json"})
        assert r.status_code in (401, 422) and r.json()["detail"], raw
    assert client.post(SIGN_IN, content=b"\xff\xfe", headers={"content-type": "application/json"}
                       ).status_code == 422
    client.cookies.set("tapcert_learner", "x" * 3000)
    assert client.get("/learner/api/me").status_code == 401
