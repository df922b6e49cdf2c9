# dual: micropython
from protocol import blocklist, link
from protocol.errors import RemoteProtocolError


def test_list_round_trip_sorted():
    uids = [b"\x04\x01\x02\x03\x04\x05\x06", b"\xde\xad\xbe\xef", bytes(range(10))]
    payload = blocklist.encode_list(7, uids)
    assert len(payload) == 10 + 3 * 11
    version, got = blocklist.decode_list(payload)
    assert version == 7 and sorted(got) == sorted(uids)


def test_empty_list_still_replaces():
    assert blocklist.decode_list(blocklist.encode_list(1, [])) == (1, [])
    assert blocklist.frame_bodies([]) == [b"\x00"]


def test_frames_fit_the_link_and_rebuild_the_list():
    uids = [bytes((4, 0, i >> 8, i & 0xFF)) for i in range(100)]
    bodies = blocklist.frame_bodies(uids)
    assert bodies[0][0] == blocklist.OP_REPLACE and all(b[0] == blocklist.OP_ADD for b in bodies[1:])
    seen = []
    for body in bodies:
        assert len(link.encode(link.BLOCKED, body)) <= link.MAX_LINE
        pos = 1
        while pos < len(body):
            n = body[pos]
            seen.append(bytes(body[pos + 1:pos + 1 + n]))
            pos += 1 + n
    assert seen == uids


def test_malformed_lists_raise():
    good = blocklist.encode_list(3, [b"\xde\xad\xbe\xef"])
    for bad, reason in ((good[:5], "bad_length"), (b"XX" + good[2:], "bad_magic"),
                        (good[:2] + b"\x09" + good[3:], "bad_version"), (good + b"\x00", "bad_length"),
                        (good[:10] + b"\x05" + good[11:], "bad_entry")):
        try:
            blocklist.decode_list(bad)
            raise AssertionError("decoded " + reason)
        except RemoteProtocolError as exc:
            assert exc.reason == reason
