"""Fuzz the configuration files every part reads: the agent's TOML, the hub's TOML and the
reader's /config.json. A file that is not right is refused with the part's own error naming
what is wrong (agent and hub: ConfigError) -- never another exception -- and a reader always
boots (its config.load never raises; wrong keys fall back to defaults with an error text).

Inputs: mutated bytes of real config files, and structured files with every known key given
values of every TOML/JSON type (huge ints, inf, nan, arrays, tables, non-UTF-8 text).
Examples per target: --fuzz-examples / 5, at least 300 (300 in `make test`, 20,000 in `make
fuzz`: each case writes and reads a file, ~5 ms); the reader boot check (a real App on a temp
dir, ~0.25 s each) runs a hundredth, at least 50."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import config as agent_config
from agent.errors import ConfigError as AgentConfigError
from server_hub import config as hub_config
from server_hub.errors import ConfigError as HubConfigError

AGENT_TOML = b"""station = "S-0001"

[mqtt]
host = "127.0.0.1"
port = 1883
keepalive_s = 5
reconnect_min_s = 0.5

[readers]
ports = ["/dev/ttyACM*"]
rescan_s = 0.5

[queue]
path = "/tmp/tapcert-fuzz-never-created/queue.db"
max_size_mb = 0

[sync]
linger_ms = 20
ack_timeout_s = 5.0
"""

HUB_TOML = b"""[hub]
db = "sqlite:////tmp/tapcert-fuzz-never-created/hub.db"
timezone = "Asia/Shanghai"

[mqtt]
host = "127.0.0.1"
port = 1883
keepalive = 30

[crediting]
early_s = 900
max_per_day = 2.5

[integrity]
burst_cards = 10
"""

READER_JSON = json.dumps({"label": "R-0007", "station": "S-0001", "test_mode": False,
                          "debounce_s": 10, "journal_capacity": 10000}).encode()

AGENT_KEYS = [(s, k) for s, k, *_ in agent_config.SCHEMA]
HUB_KEYS = [(sec.name, f.name) for sec in __import__("dataclasses").fields(hub_config.Config)
            for f in __import__("dataclasses").fields(sec.type if not isinstance(sec.type, str)
                                                      else getattr(hub_config, sec.type))]


def _settings(n):
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@st.composite
def mutated(draw, seed: bytes):
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.integers(0, 3))
        pos = draw(st.integers(0, len(data)))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 1:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=12))
        elif op == 2:
            del data[pos:pos + draw(st.integers(1, 12))]
        else:
            data = data[:pos]
    return bytes(data)


TOML_VALUES = st.one_of(
    st.integers(-2**63, 2**63 - 1).map(str),
    st.sampled_from(["inf", "-inf", "nan", "1e400", "0", "-1", "true", "false", "1979-05-27",
                     "[]", "[1, 2]", '["a", 3]', "{}", "{a = 1}", '"../../etc/passwd"',
                     '"\\u0000"', "9223372036854775807", "0.0", "-0.0", "1.5"]),
    st.text(max_size=20).map(json.dumps),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).replace("nan", "nan")),
)


@st.composite
def structured_toml(draw, keys):
    by_section: dict[str, list[str]] = {}
    for _ in range(draw(st.integers(1, 8))):
        section, key = draw(st.sampled_from(keys))
        if draw(st.integers(0, 15)) == 0:
            key = draw(st.text(alphabet="abcdefghij_", min_size=1, max_size=8))
        by_section.setdefault(section, []).append(f"{key} = {draw(TOML_VALUES)}")
    lines = []
    for section, items in by_section.items():
        if section:
            lines.append(f"[{section}]")
        lines += list(dict.fromkeys(items))
    return "\n".join(lines).encode()


def _agent_load(tmp_path, data):
    path = tmp_path / "agent.toml"
    path.write_bytes(data)
    try:
        agent_config.load(str(path), env={})
    except AgentConfigError as exc:
        assert str(exc), "an empty error message"


def _hub_load(tmp_path, data):
    path = tmp_path / "hub.toml"
    path.write_bytes(data)
    try:
        hub_config.load(str(path), env={})
    except HubConfigError as exc:
        assert str(exc), "an empty error message"


@pytest.mark.parametrize("which", ["mutated", "structured"])
def test_fuzz_agent_toml(tmp_path, fuzz_examples, which):
    strategy = mutated(AGENT_TOML) if which == "mutated" else structured_toml(AGENT_KEYS)

    @_settings(max(300, fuzz_examples // 5))
    @given(strategy)
    def run(data):
        _agent_load(tmp_path, data)
    run()


@pytest.mark.parametrize("which", ["mutated", "structured"])
def test_fuzz_hub_toml(tmp_path, fuzz_examples, which):
    strategy = mutated(HUB_TOML) if which == "mutated" else structured_toml(HUB_KEYS)

    @_settings(max(300, fuzz_examples // 5))
    @given(strategy)
    def run(data):
        _hub_load(tmp_path, data)
    run()


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
              st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)


def test_fuzz_reader_config_json_always_loads(tmp_path, fuzz_examples):
    import config as reader_config
    keys = list(reader_config.DEFAULTS)

    @_settings(max(300, fuzz_examples // 5))
    @given(st.one_of(mutated(READER_JSON),
                     st.dictionaries(st.sampled_from(keys), JSON_VALUES, max_size=8)
                     .map(lambda d: json.dumps(d).encode())))
    def run(data):
        path = tmp_path / "config.json"
        path.write_bytes(data)
        cfg, err = reader_config.load(str(path))
        assert isinstance(cfg, dict) and (err is None or isinstance(err, str))
        for key, default in reader_config.DEFAULTS.items():
            if default is not None and key != "events_path":
                assert type(cfg[key]) in ((int, float) if type(default) in (int, float)
                                          else (type(default),)), (key, cfg[key])
    run()


def test_fuzz_reader_boots_with_any_config(tmp_path, fuzz_examples):
    """The whole boot (App on the unix board, a real key and journal) with fuzzed configs."""
    import config as reader_config
    from app import App
    from board.unix import Board
    from fwkit import put_seed, uid
    keys = [k for k in reader_config.DEFAULTS if k not in ("board", "card_field_port")]
    counter = [0]

    @_settings(max(50, fuzz_examples // 100))
    @given(st.dictionaries(st.sampled_from(keys), JSON_VALUES, max_size=6))
    def run(values):
        counter[0] += 1
        root = str(tmp_path / f"r{counter[0]}")
        os.makedirs(root)
        path = root + "/config.json"
        with open(path, "w") as f:
            json.dump(values, f)
        cfg, err = reader_config.load(path)
        cfg["events_path"] = None
        cfg["journal_dir"] = "/data/journal"
        put_seed(root)
        app = App(cfg, Board(cfg), root).start()
        assert app.ready, app.err
        ev = app.tap(uid(1))
        assert ev["event"] in ("recorded", "warning"), (values, ev)
    run()
