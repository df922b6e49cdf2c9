"""Fixtures of tests/test_rp2040: make_rp_reader (rpkit.py)."""

from rpkit import make_rp_reader

__all__ = ["make_rp_reader"]   # what pytest collects from here
