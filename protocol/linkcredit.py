# linkcredit: the bodies of K frames, line credits (SPEC.md §3 "Line credits").
#
# Agent -> reader: an empty K asks the reader to credit the agent's lines from then on.
# Reader -> agent: K with one byte n (1..255): n more of the agent's lines are off its console.
# Apart from protocol/link.py so that a reader's heap does not hold what only the agent and
# the tests need (firmware/linkport.py writes its K frames with link.encode).
from protocol import link
from protocol.errors import LocalProtocolError, RemoteProtocolError


def encode_credit(lines=0):
    """0 -> the agent's request (empty body); n (1..255) -> a reader's credit for n lines."""
    if not 0 <= lines <= 255:
        raise LocalProtocolError("a line credit counts 1 to 255 lines")
    return link.encode(link.CREDIT, bytes((lines,)) if lines else b"")


def decode_credit(body):
    """-> lines credited (1..255), or 0 for the agent's request (an empty body)."""
    if len(body) > 1 or body == b"\x00":
        raise RemoteProtocolError("credit body must be empty or one byte 1..255", "bad_length")
    return body[0] if body else 0
