"""Config files that are not right are refused with the part's own error, never a traceback
(regressions the config fuzzer found: a hub TOML that is not UTF-8 raised UnicodeDecodeError,
an integer key set to inf raised OverflowError)."""

from __future__ import annotations

import pytest

from agent import config as agent_config
from agent.errors import ConfigError as AgentConfigError
from server_hub import config as hub_config
from server_hub.errors import ConfigError as HubConfigError


@pytest.mark.parametrize("data,words", [
    (b"[hub]\ntimezone = \"\x80\"\n", "not valid TOML"),
    (b"[mqtt]\nport = inf\n", "port"),
    (b"[integrity]\nburst_cards = -inf\n", "burst_cards"),
    (b"[crediting]\nmax_per_day = [1]\n", "max_per_day"),
    (b"[nope]\nx = 1\n", "unknown config section"),
    (b"[hub]\ntimezone = \"../../etc/localtime\"\n", "timezone"),
])
def test_hub_config_refusals_name_the_problem(tmp_path, data, words):
    path = tmp_path / "hub.toml"
    path.write_bytes(data)
    with pytest.raises(HubConfigError) as err:
        hub_config.load(str(path), env={})
    assert words in str(err.value)


@pytest.mark.parametrize("data,words", [
    (b"station = \"S-1\"\n[mqtt]\nhost = \"\x80\"\n", "config file"),
    (b"station = \"../../etc\"\n", "station id"),
    (b"station = \"S-1\"\n[mqtt]\nport = inf\n", "mqtt.port"),
    (b"station = \"S-1\"\n[sync]\nbatch_max_records = 100000\n", "batch_max_records"),
])
def test_agent_config_refusals_name_the_problem(tmp_path, data, words):
    path = tmp_path / "agent.toml"
    path.write_bytes(data)
    with pytest.raises(AgentConfigError) as err:
        agent_config.load(str(path), env={})
    assert words in str(err.value)
