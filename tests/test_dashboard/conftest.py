"""Fixtures of tests/test_dashboard: db_url (dashkit.py); the credit-bank pages' browser and
bank (test_bank_pages.py, which test_bank_admin_pages.py shares)."""

from dashkit import db_url
from test_bank_pages import bank, browser

__all__ = ["bank", "browser", "db_url"]   # what pytest collects from here
