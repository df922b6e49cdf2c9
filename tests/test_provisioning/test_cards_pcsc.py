"""Card commands through a real pcscd, the vpcd driver and our own virtual card.

The desk (tests/test_provisioning/conftest.py: pcsc_desk) runs pcscd in private mount and
network namespaces; the CLI runs as a subprocess pointed at it with PCSCLITE_CSOCK_NAME.
"""

import os

import pytest

from provkit import assert_one_line_error, run_cli
from hil_tests.targets.vcard import answer_apdu, contactless_atr
from provisioning.errors import CardError
from provisioning.pcsc import parse_uid, uid_from_response

UID7 = bytes.fromhex("04a1b2c3d4e5f6")
UID4 = bytes.fromhex("deadbeef")


def test_the_virtual_card_answers_get_uid_like_a_contactless_reader():
    assert answer_apdu(UID7, bytes([0xFF, 0xCA, 0, 0, 0])) == UID7 + b"\x90\x00"
    assert answer_apdu(UID7, bytes([0xFF, 0xCA, 0, 0, 4])) == b"\x6c\x07"
    assert answer_apdu(UID7, bytes([0x00, 0xA4, 4, 0])) == b"\x6e\x00"
    atr = contactless_atr()
    check = 0
    for b in atr[1:]:
        check ^= b
    assert atr[0] == 0x3B and check == 0  # TCK makes the XOR of T0..TCK zero


def test_uid_responses_and_typed_uids_are_checked():
    assert uid_from_response(list(UID4), 0x90, 0x00) == UID4
    with pytest.raises(CardError, match="5-byte UID"):
        uid_from_response([1, 2, 3, 4, 5], 0x90, 0x00)
    with pytest.raises(CardError, match="does not support"):
        uid_from_response([], 0x6A, 0x81)
    with pytest.raises(CardError, match="could not be read"):
        uid_from_response([], 0x63, 0x00)
    assert parse_uid("04:A1:B2:C3:D4:E5:F6") == UID7
    with pytest.raises(CardError, match="not a card UID"):
        parse_uid("04A1B2")


def test_card_read_shows_the_uid_of_the_card_on_the_reader(pcsc_desk):
    pcsc_desk.insert(UID7)
    try:
        result = run_cli("card", "read", "--wait", "2", env=pcsc_desk.env)
    finally:
        pcsc_desk.remove()
    assert result.code == 0, result
    assert "card 04a1b2c3d4e5f6 on Virtual PCD 00 00" in result.out


def test_card_read_json_gives_the_uid_and_reader(pcsc_desk):
    import json
    pcsc_desk.insert(UID4)
    try:
        result = run_cli("card", "read", "--wait", "2", "--json", env=pcsc_desk.env)
    finally:
        pcsc_desk.remove()
    assert result.code == 0, result
    assert json.loads(result.out) == {"uid": "deadbeef", "reader": "Virtual PCD 00 00"}


def test_a_new_card_on_the_reader_is_read_as_itself(pcsc_desk):
    for uid in (UID4, UID7):
        pcsc_desk.insert(uid)
        try:
            result = run_cli("card", "read", "--wait", "2", env=pcsc_desk.env)
        finally:
            pcsc_desk.remove()
        assert "card {} on".format(uid.hex()) in result.out, result


def test_card_readers_lists_the_desk_reader(pcsc_desk):
    result = run_cli("card", "readers", env=pcsc_desk.env)
    assert result.code == 0, result
    assert "Virtual PCD 00 00" in result.out.splitlines()


def test_no_card_on_the_reader_is_a_one_line_error(pcsc_desk):
    pcsc_desk.remove()
    result = run_cli("card", "read", "--wait", "0.3", env=pcsc_desk.env)
    assert_one_line_error(result, "no card on", "place the learner's card")


def test_an_unknown_reader_name_is_a_one_line_error(pcsc_desk):
    result = run_cli("card", "read", "--reader", "ACR122", "--wait", "0", env=pcsc_desk.env)
    assert_one_line_error(result, "no card reader named like 'ACR122'")


def test_no_pcsc_service_is_a_one_line_error(tmp_path):
    env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(tmp_path / "no-pcscd.comm"))
    result = run_cli("card", "read", "--wait", "0", env=env)
    assert_one_line_error(result, "PC/SC service is not running", "pcscd")
