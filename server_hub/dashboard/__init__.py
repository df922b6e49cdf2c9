"""Operator dashboard: fleet read model, history samples, alerts monitor, HTTP routes."""
