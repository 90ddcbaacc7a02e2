"""The calls the daemon is handling, and the gate that refuses new ones once it stops.

Why the daemon counts its own calls: ``grpc.aio``'s ``server.stop(grace)`` waits for every call
the C core accepted. A call the core took in while the serving loop was exiting is never given
to a handler (while it hangs, no asyncio task of the daemon runs), and it holds the stop until
the client's deadline (or the grace) runs out: its client sees DEADLINE_EXCEEDED and cannot tell
whether anything happened. So shutdown closes the gate (later calls are refused with UNAVAILABLE
before anything runs), waits only for the unary calls whose handler started (they answer, and
an answered mutation is journaled), then cancels the rest (see ``Daemon.stop``).
"""

from __future__ import annotations

import asyncio
import contextlib

import grpc

from gpuplane.errors import Unavailable

SHUTTING_DOWN = "the server is shutting down; retry on another replica or after restart"


class Calls:
    """Counts the unary calls whose handler started until grpc has sent their status.

    Streams are not waited for: a watch stream ends when the event bus closes, and an agent's
    report stream is cancelled (the agent reconnects and reports its state again)."""

    def __init__(self) -> None:
        self.closed = False
        self._running = 0
        self._changed = asyncio.Event()

    def check_open(self) -> None:
        """Raises Unavailable once the daemon is shutting down."""
        if self.closed:
            raise Unavailable(SHUTTING_DOWN)

    def admit(self, context: grpc.aio.ServicerContext) -> None:
        """Counts a unary call until grpc has sent its status; raises Unavailable once closed."""
        self.check_open()
        self._running += 1
        context.add_done_callback(self._finished)

    @property
    def running(self) -> int:
        """How many unary calls are being handled now."""
        return self._running

    def close(self) -> None:
        """Refuses every call that has not started yet."""
        self.closed = True

    async def drained(self, until: float) -> bool:
        """Waits until no unary call is running, or until the loop time ``until``; says which."""
        loop = asyncio.get_running_loop()
        while self._running:
            remaining = until - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    def _finished(self, _context: object) -> None:
        self._running -= 1
        self._changed.set()
