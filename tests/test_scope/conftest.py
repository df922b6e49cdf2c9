"""Fixtures of tests/test_scope: db_url (tests/test_hub/hubkit.py); helpers in scopekit.py."""

from hubkit import db_url

__all__ = ["db_url"]   # what pytest collects from here
