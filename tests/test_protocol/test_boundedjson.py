# dual: micropython
from protocol import boundedjson
from protocol.errors import LocalProtocolError, RemoteProtocolError


def _reason(data, **kw):
    try:
        boundedjson.loads(data, **kw)
    except RemoteProtocolError as exc:
        return exc.reason
    return None


def test_ordinary_documents_parse_from_str_bytes_and_views():
    doc = b'{"v": 1, "readers": [{"rid": "ab", "clock_offset_s": -1.5}], "s": "\\u00e9"}'
    for data in (doc, bytearray(doc), memoryview(doc), doc.decode()):
        got = boundedjson.loads(data)
        assert got["readers"][0]["clock_offset_s"] == -1.5 and got["s"] == "\u00e9"
    assert boundedjson.loads(b"[]") == [] and boundedjson.loads(b"7") == 7


def test_deep_nesting_is_refused_before_parsing():
    assert _reason(b"[" * 60000) == "json_too_deep"
    assert _reason(b"{\"a\":" * 40 + b"1" + b"}" * 40) == "json_too_deep"
    limit = boundedjson.MAX_DEPTH
    assert boundedjson.loads(b"[" * limit + b"]" * limit) is not None
    assert _reason(b"[" * (limit + 1) + b"]" * (limit + 1)) == "json_too_deep"


def test_brackets_inside_strings_do_not_count_as_depth():
    text = b'{"a": "' + b"[{" * 100 + b'\\"[[[", "b": ["]]]]"]}'
    got = boundedjson.loads(text)
    assert got["b"] == ["]]]]"] and got["a"].startswith("[{[{")


def test_size_is_bounded():
    assert _reason(b" " * 70000 + b"1") == "json_too_large"
    assert _reason(b"[1,2,3]", max_bytes=6) == "json_too_large"
    assert boundedjson.loads(b"[1,2,3]", max_bytes=7) == [1, 2, 3]


def test_non_finite_numbers_are_refused_on_input():
    for text in (b"1e999", b"-1e999", b'{"time": 1e999}', b"[0, [1e400]]", b"NaN",
                 b"Infinity", b"-Infinity", b'{"x": NaN}'):
        assert _reason(text) in ("non_finite", "bad_json"), text
    assert _reason(b'{"time": 1e999}') == "non_finite"
    assert boundedjson.loads(b"[1e300, -2.5e-300]")[0] == 1e300


def test_integers_are_bounded_to_64_bits():
    assert boundedjson.loads(b"[18446744073709551615, -9223372036854775808]")[0] == (1 << 64) - 1
    assert _reason(b'{"since": 1' + b"0" * 400 + b"}") == "number_too_large"
    assert _reason(b"[-18446744073709551617]") == "number_too_large"


def test_malformed_text_is_bad_json():
    # (MicroPython's json is lenient about a missing colon or a trailing comma: we rely on
    # what both interpreters refuse, and on the bounds and the value walk)
    for text in (b"", b"{", b"[1] x", b'"\xff"', b"\xc3", b"tru"):
        assert _reason(text) == "bad_json", text


def test_loads_object_wants_an_object():
    assert boundedjson.loads_object(b'{"a": 1}') == {"a": 1}
    for text in (b"[1]", b"1", b'"x"', b"null"):
        try:
            boundedjson.loads_object(text)
        except RemoteProtocolError as exc:
            assert exc.reason == "not_object"
        else:
            assert False, text


def test_dumps_never_emits_non_finite_numbers():
    assert boundedjson.loads(boundedjson.dumps({"a": [1, 2.5, "x", None, True]})) == \
        {"a": [1, 2.5, "x", None, True]}
    assert boundedjson.dumps([1, 2], separators=(",", ":")) == "[1,2]"
    for bad in (float("inf"), [float("-inf")], {"a": {"b": float("nan")}}, (1, float("inf"))):
        try:
            boundedjson.dumps(bad)
        except LocalProtocolError as exc:
            assert exc.reason == "non_finite"
        else:
            assert False, bad


def test_is_finite():
    assert boundedjson.is_finite(1) and boundedjson.is_finite(-2.5)
    for v in (float("inf"), float("-inf"), float("nan"), True, None, "1"):
        assert not boundedjson.is_finite(v), v
