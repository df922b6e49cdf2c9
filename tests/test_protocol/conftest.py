"""Fixtures of tests/test_protocol: the hub's (tests/test_hub/hubkit.py), for the conformance
requirements checked against a real hub (test_conformance.py)."""

from hubkit import db_url, hub, hub_config

__all__ = ["db_url", "hub", "hub_config"]   # what pytest collects from here
