"""Fixtures of tests/test_learner: db_url (tests/test_hub/hubkit.py); helpers in learnerkit.py."""

from hubkit import db_url

__all__ = ["db_url"]   # what pytest collects from here
