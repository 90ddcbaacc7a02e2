"""Trace-driven simulation through the same core that serves production decisions."""
