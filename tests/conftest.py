"""Shared fixtures. Signals live in tests/signals.py so helpers can be imported directly."""
