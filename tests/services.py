"""Test access to the real local services (they live in hil_tests/services.py, shared with
the demo and the hil scenarios)."""

from hil_tests.services import Mosquitto, Postgres, free_port, wait_port

__all__ = ["Mosquitto", "Postgres", "free_port", "wait_port"]
