"""Fixtures of tests/test_audit: the hub's (tests/test_hub/hubkit.py)."""

from hubkit import db_url, hub, hub_config

__all__ = ["db_url", "hub", "hub_config"]   # what pytest collects from here
