# boundedjson: JSON in with size and depth bounds, finite numbers only, both ways.
#
# Every JSON input of the hub and the agent (station status/health, fleet messages, the
# reader's H frames) goes through loads(); every JSON they emit through dumps(). Theory:
#   1 size: the raw bytes are at most max_bytes            -> reason "json_too_large"
#   2 depth: [ and { outside strings nest at most max_depth -> reason "json_too_deep"
#     (counted before the parser runs: no RecursionError, no MemoryError of a deep stack;
#     a text with fewer openers than max_depth skips the scan)
#   3 syntax: UTF-8, then the interpreter's json            -> reason "bad_json"
#   4 values: NaN, Infinity, -Infinity and numbers that overflow a float (1e999) are refused
#     -> reason "non_finite"; integers beyond +-2^64 (no field of ours is wider; float() of
#     10**400 raises OverflowError) -> reason "number_too_large"; CPython's lone surrogates
#     (\ud800) -> reason "bad_json"
# Errors are RemoteProtocolError with that reason (the peer sent it). dumps() refuses a
# non-finite number with LocalProtocolError("non_finite"): emitting one is our bug.
# Runs on MicroPython (its json has no allow_nan/parse_constant: the walk does it).
import json

from protocol.compat import const
from protocol.errors import LocalProtocolError, RemoteProtocolError

MAX_BYTES = const(65536)
MAX_DEPTH = const(32)
_MAX_INT = 1 << 64

_QUOTE = const(0x22)
_BACKSLASH = const(0x5C)
_OPEN_LIST = const(0x5B)
_OPEN_DICT = const(0x7B)
_CLOSE_LIST = const(0x5D)
_CLOSE_DICT = const(0x7D)


def loads(data, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH):
    """str/bytes/bytearray/memoryview -> the JSON value, or RemoteProtocolError(reason)."""
    if isinstance(data, str):
        data = data.encode()
    elif not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > max_bytes:
        raise RemoteProtocolError("JSON text of {} bytes is over the limit of {}".format(
            len(data), max_bytes), "json_too_large")
    if data.count(b"[") + data.count(b"{") > max_depth:
        _check_depth(data, max_depth)
    try:
        value = json.loads(data.decode("utf-8"))
    except ValueError:          # UnicodeError and json's errors are ValueErrors on both
        raise RemoteProtocolError("not valid JSON in UTF-8", "bad_json")
    _check_values(value, RemoteProtocolError)
    return value


def loads_object(data, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH):
    """loads() of a text that must be a JSON object (reason "not_object" otherwise)."""
    value = loads(data, max_bytes, max_depth)
    if not isinstance(value, dict):
        raise RemoteProtocolError("JSON is not an object", "not_object")
    return value


def dumps(value, separators=None):
    """The JSON text of value; LocalProtocolError("non_finite") for NaN or an infinity."""
    _check_values(value, LocalProtocolError)
    if separators is None:
        return json.dumps(value)
    return json.dumps(value, separators=separators)


def is_finite(number):
    """False for NaN and the infinities (and for anything that is not a number)."""
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        return False
    return isinstance(number, int) or (number == number and number - number == 0)


def _check_depth(data, max_depth):
    depth = 0
    in_string = False
    escaped = False
    for c in data:
        if in_string:
            if escaped:
                escaped = False
            elif c == _BACKSLASH:
                escaped = True
            elif c == _QUOTE:
                in_string = False
        elif c == _QUOTE:
            in_string = True
        elif c == _OPEN_LIST or c == _OPEN_DICT:
            depth += 1
            if depth > max_depth:
                raise RemoteProtocolError("JSON nests deeper than {} levels".format(max_depth),
                                          "json_too_deep")
        elif c == _CLOSE_LIST or c == _CLOSE_DICT:
            depth -= 1


def _check_values(value, error):
    # iterative: the depth is bounded on input, but dumps() may be handed anything
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float):
            if not (v == v and v - v == 0):
                raise error("JSON cannot carry NaN or an infinity", "non_finite")
        elif isinstance(v, int):
            if v > _MAX_INT or v < -_MAX_INT:
                raise error("JSON integer beyond 2^64", "number_too_large")
        elif isinstance(v, str):
            _check_text(v, error)
        elif isinstance(v, dict):
            for k in v:
                if isinstance(k, str):
                    _check_text(k, error)
                stack.append(v[k])
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def _check_text(text, error):
    try:
        text.encode()           # CPython: a lone surrogate from "\ud800" cannot be encoded
    except ValueError:
        raise error("JSON text holds an unpaired surrogate", "bad_json")
