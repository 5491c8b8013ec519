"""Preset entries (see presets.py)."""
