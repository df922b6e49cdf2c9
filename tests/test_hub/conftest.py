"""Fixtures of tests/test_hub, defined in hubkit.py (helpers the other hub folders share):
db_url (SQLite, and PostgreSQL when it is installed), hub_config, hub, district."""

from hubkit import db_url, district, hub, hub_config

__all__ = ["db_url", "district", "hub", "hub_config"]   # what pytest collects from here
