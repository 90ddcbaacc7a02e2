"""A fan-out of acknowledged events to ``WatchEvents`` subscribers (bounded per subscriber)."""

from __future__ import annotations

import asyncio
import contextlib

from gpuplane.daemon.state import Event

QUEUE_LIMIT = 10_000


class Subscription:
    """One subscriber's queue; ``lost`` counts events dropped because it fell behind."""

    def __init__(self, kinds: frozenset[str]):
        self.kinds = kinds
        self.queue: asyncio.Queue[tuple[int, Event] | None] = asyncio.Queue(QUEUE_LIMIT)
        self.lost = 0

    def offer(self, seq: int, event: Event) -> None:
        """Queues an event of a wanted kind, dropping it if the subscriber is too slow."""
        if self.kinds and event.kind not in self.kinds:
            return
        try:
            self.queue.put_nowait((seq, event))
        except asyncio.QueueFull:
            self.lost += 1


class EventBus:
    """Publishes each acknowledged operation's events to every subscriber."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def subscribe(self, kinds: frozenset[str] = frozenset()) -> Subscription:
        """A new subscription (all kinds when ``kinds`` is empty)."""
        sub = Subscription(kinds)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stops delivering to ``sub``."""
        self._subs.discard(sub)

    def has_subscribers(self) -> bool:
        """Whether any stream is watching (events need not be built otherwise)."""
        return bool(self._subs)

    def publish(self, seq: int, events: list[Event]) -> None:
        """Delivers ``events`` (of operation ``seq``) to every subscriber."""
        for sub in self._subs:
            for event in events:
                sub.offer(seq, event)

    def close(self) -> None:
        """Ends every subscription (the streams finish)."""
        for sub in self._subs:
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)
        self._subs.clear()
