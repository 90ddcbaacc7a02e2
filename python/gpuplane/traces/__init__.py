"""Readers for public traces. Each reader reports malformed rows with their line numbers."""
