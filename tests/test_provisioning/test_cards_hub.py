"""Card issue / read / block: pcscd + vpcd + our virtual card on one side, the real hub's API
(`tapcert-hub run`) on the other, the CLI as a subprocess in between."""

import json

import httpx
import pytest

from provkit import assert_one_line_error, run_cli
from hil_tests.services import free_port
from prov_hub import RealHub

CARD_A = bytes.fromhex("04a1b2c3d4e5f6")
CARD_B = bytes.fromhex("0badcafe")
CARD_C = bytes.fromhex("04112233445566")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with RealHub(tmp_path_factory.mktemp("hub")) as hub:
        hub.api("POST", "/api/v1/learners", json={"id": "L-000123", "name": "Wang Fang"})
        hub.api("POST", "/api/v1/learners", json={"id": "L-000456", "name": "Li Lei"})
        yield hub


def card(hub, op, *args, uid=None, desk=None):
    if uid is not None:
        desk.insert(uid)
    try:
        return run_cli("card", *args, "--hub", hub.url, "--token", hub.token(op), "--wait", "1",
                       env=desk.env)
    finally:
        if uid is not None:
            desk.remove()


def hub_card(hub, uid):
    try:
        return hub.api("GET", "/api/v1/cards/" + uid.hex())
    except httpx.HTTPStatusError as exc:
        assert exc.response.status_code == 404
        return None


def test_issue_registers_the_card_on_the_reader_to_the_learner(hub, pcsc_desk):
    result = card(hub, "operator", "issue", "--learner", "L-000123", uid=CARD_A, desk=pcsc_desk)
    assert result.code == 0, result
    assert result.out.strip().endswith("card 04a1b2c3d4e5f6 issued to learner L-000123")
    assert hub_card(hub, CARD_A)["learner_id"] == "L-000123"


def test_issuing_a_card_twice_or_to_another_learner_is_refused(hub, pcsc_desk):
    card(hub, "operator", "issue", "--learner", "L-000123", uid=CARD_B, desk=pcsc_desk)
    same = card(hub, "operator", "issue", "--learner", "L-000123", uid=CARD_B, desk=pcsc_desk)
    assert_one_line_error(same, "already issued to learner L-000123")
    other = card(hub, "operator", "issue", "--learner", "L-000456", uid=CARD_B, desk=pcsc_desk)
    assert_one_line_error(other, "already belongs to another learner")
    assert hub_card(hub, CARD_B)["learner_id"] == "L-000123"


def test_read_shows_learner_status_and_balance(hub, pcsc_desk):
    card(hub, "operator", "issue", "--learner", "L-000456", uid=CARD_C, desk=pcsc_desk)
    result = card(hub, "operator", "read", uid=CARD_C, desk=pcsc_desk)
    assert result.code == 0, result
    assert "card 04112233445566: learner L-000456, card active, balance 0 credits" in result.out
    unknown = card(hub, "operator", "read", uid=bytes.fromhex("01020304"), desk=pcsc_desk)
    assert "card 01020304: not registered" in unknown.out
    got = card(hub, "operator", "read", "--json", uid=CARD_C, desk=pcsc_desk)    # for scripts
    doc = json.loads(got.out)
    assert (doc["uid"], doc["registered"], doc["learner"], doc["status"], doc["balance"]) == \
        ("04112233445566", True, "L-000456", "active", 0)


def test_block_a_lost_card_by_uid_without_the_card(hub, pcsc_desk):
    card(hub, "operator", "issue", "--learner", "L-000123", uid=bytes.fromhex("0a0b0c0d"),
         desk=pcsc_desk)
    result = card(hub, "operator", "block", "0A:0B:0C:0D", desk=pcsc_desk)
    assert result.code == 0, result
    assert "card 0a0b0c0d blocked (reported lost; learner L-000123)" in result.out
    assert hub_card(hub, bytes.fromhex("0a0b0c0d"))["status"] == "lost"
    read = card(hub, "operator", "read", uid=bytes.fromhex("0a0b0c0d"), desk=pcsc_desk)
    assert "card lost" in read.out
    missing = card(hub, "operator", "block", "0f0f0f0f", desk=pcsc_desk)
    assert_one_line_error(missing, "not registered at the hub")


def test_an_unknown_learner_registers_nothing(hub, pcsc_desk):
    uid = bytes.fromhex("04998877665544")
    result = card(hub, "operator", "issue", "--learner", "L-nobody", uid=uid, desk=pcsc_desk)
    assert_one_line_error(result, "learner L-nobody is not known to the hub")
    assert hub_card(hub, uid) is None


def test_a_technician_token_may_not_touch_cards(hub, pcsc_desk):
    result = card(hub, "technician", "read", uid=CARD_A, desk=pcsc_desk)
    assert_one_line_error(result, "may not do this", "operator token")


def test_a_wrong_token_is_refused(hub, pcsc_desk):
    pcsc_desk.insert(CARD_A)
    try:
        result = run_cli("card", "read", "--hub", hub.url, "--token", "tch_wrong", "--wait", "1",
                         env=pcsc_desk.env)
    finally:
        pcsc_desk.remove()
    assert_one_line_error(result, "refused the token")


def test_an_unreachable_hub_is_a_one_line_error(pcsc_desk):
    url = "http://127.0.0.1:{}".format(free_port())
    result = run_cli("card", "issue", "--learner", "L-000123", "--hub", url, "--token", "x",
                     "--wait", "0", env=pcsc_desk.env)
    assert_one_line_error(result, "is unreachable", "check the network")
