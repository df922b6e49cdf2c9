"""Fixtures of tests/test_security: the hub's (tests/test_hub/hubkit.py), and the agent's
(tests/test_agent/conftest.py) for the poisoned agent inputs of test_poison_agent.py, and the
NATS cluster of tests/test_scale for test_poison_nats.py."""

from hubkit import db_url, hub, hub_config
from test_agent.conftest import agent_config, fake_readers, hub_stub, inproc_agent
from test_bank_pages import bank, browser   # tests/test_dashboard: the bank page's (four-eyes page)
from test_natslink import cluster   # tests/test_scale: a NATS cluster with an MQTT listener

__all__ = ["agent_config", "bank", "browser", "cluster", "db_url", "fake_readers", "hub",
           "hub_config", "hub_stub", "inproc_agent"]   # what pytest collects from here
