"""Exponential backoff with jitter, bounded: how long to wait before reconnecting."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays that double after each failure from ``initial_s`` up to ``max_s``, each drawn
    uniformly from the upper half of its step ("equal jitter"), so that many agents restarting
    together spread out yet none retries at once. ``reset()`` after a success."""

    initial_s: float = 0.5
    max_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"backoff needs 0 < initial ({self.initial_s}) <= max ({self.max_s})")

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        return min(self.max_s, self.initial_s * 2 ** min(self.failures, 62))

    def next(self) -> float:
        """The delay before the next attempt (counts one more failure)."""
        top = self.ceiling()
        self.failures += 1
        return self.rng.uniform(top / 2, top)

    def reset(self) -> None:
        """Back to the initial delay."""
        self.failures = 0
