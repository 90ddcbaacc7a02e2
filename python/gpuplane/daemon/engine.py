"""The daemon's engine: state + journal. Recovery at start, the mutation path, compaction.

:meth:`Engine.mutate` is the only way RPCs change state: apply the operation to memory (the
core decides, or raises and nothing changed), queue it to the journal and wait until it is
durable, then publish its events. The RPC answers after that, so every acknowledged mutation is
on disk. Everything runs on the event loop's thread, so operations are applied and journaled in
one order; replay applies them in that order again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from gpuplane.daemon.access import Access
from gpuplane.daemon.config import ServeConfig
from gpuplane.daemon.decisions import DecisionLog
from gpuplane.daemon.events import EventBus
from gpuplane.daemon.hooks import AuthPolicy, MetricsSink, NullMetrics
from gpuplane.daemon.inventory import InventorySource
from gpuplane.daemon.journal import Journal
from gpuplane.daemon.routing import Router
from gpuplane.daemon.state import Outcome, State, node_op
from gpuplane.errors import GpuplaneError, Unavailable

log = logging.getLogger("gpuplane.daemon")


class Engine:
    """Owns the state and its journal; see the module docs."""

    def __init__(
        self, config: ServeConfig, metrics: MetricsSink | None = None, auth: AuthPolicy | None = None
    ):
        self.config = config
        self.metrics = metrics or NullMetrics()
        self.access = Access(auth)
        self.router = Router(config)
        self.state = State(config.policy, config.seed, min_runtime_s=config.min_runtime_s)
        self.journal = Journal(config.journal_file, config.journal_sync)
        self.bus = EventBus()
        self.decisions = DecisionLog()
        self.state.watched = self.bus.has_subscribers
        self.next_seq = 1
        self.since_snapshot = 0
        self.inventory_source = ""
        self.replayed = 0

    # ---- start-up --------------------------------------------------------------------------

    def recover(self) -> None:
        """Loads the latest snapshot and replays the operations after it."""
        found = self.journal.load()
        if found.snapshot is not None:
            self.state.restore(found.snapshot)
        for seq, op in found.ops:
            try:
                self.state.apply(op)
            except GpuplaneError as e:  # cannot happen for a deterministic core; say so loudly
                log.error("replay of operation %d (%s) failed: %s", seq, op.get("op"), e)
        self.replayed = len(found.ops)
        self.next_seq = found.last_seq + 1
        self.since_snapshot = len(found.ops)
        log.info(
            "recovered state from %s: snapshot at %d, %d operation(s) replayed, %d workload(s), %d tenant(s)",
            self.journal.path,
            found.snapshot_seq,
            len(found.ops),
            len(self.state.owners),
            len(self.state.registry.tenants),
        )

    def add_inventory(self, source: InventorySource) -> None:
        """Adds the discovered nodes the state does not know yet (journaled synchronously)."""
        self.inventory_source = source.describe()
        log.info("inventory source: %s", self.inventory_source)
        known = set(self.state.cluster.node_names())
        for node in source.nodes:
            if node.name in known:
                continue
            op = node_op(node)
            self.state.apply(op)
            self.journal.write_now(self.next_seq, op)
            self.next_seq += 1
            self.since_snapshot += 1

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Compacts what recovery replayed, then starts the journal writer."""
        if self.since_snapshot:
            self.journal.write_now(self.next_seq - 1, state=self.state.snapshot())
            self.since_snapshot = 0
        self.journal.start(loop)

    # ---- the mutation path -----------------------------------------------------------------

    def apply(self, op: dict[str, Any]) -> tuple[int, Outcome]:
        """Applies ``op`` in memory and queues it to the journal; returns its sequence number."""
        if self.journal.failed is not None:
            raise Unavailable(f"journal unavailable: {self.journal.failed}")
        outcome = self.state.apply(op)
        seq = self.next_seq
        self.next_seq += 1
        self.since_snapshot += 1
        return seq, outcome

    async def mutate(self, op: dict[str, Any], rpc: str = "") -> Any:
        """Stamps ``op`` with the time, applies it, waits until it is durable, publishes its
        events; returns its value."""
        op.setdefault("now", time.time())
        started = time.perf_counter()
        try:
            seq, outcome = self.apply(op)
        except GpuplaneError as e:
            self.decisions.refused(op, e)
            raise
        if rpc:
            self.metrics.observe_decision(rpc, time.perf_counter() - started)
        durable = self.journal.submit(seq, op)
        self.maybe_compact()
        await durable  # a cancelled call leaves the write queued: it completes unobserved
        self.bus.publish(seq, outcome.events)
        self.decisions.accepted(seq, op, outcome)
        return outcome.value

    def stamp(self, op: dict[str, Any]) -> dict[str, Any]:
        """``op`` with the current wall-clock time as ``now`` (replayed as recorded)."""
        op["now"] = time.time()
        return op

    def maybe_compact(self) -> None:
        """Queues a snapshot once ``compact_every`` operations were journaled since the last."""
        if self.since_snapshot >= self.config.compact_every:
            self.journal.snapshot(self.next_seq - 1, self.state.snapshot())
            self.since_snapshot = 0

    def close(self) -> None:
        """Writes a final snapshot, flushes the journal and closes it."""
        self.bus.close()
        if self.journal.failed is None:
            self.journal.snapshot(self.next_seq - 1, self.state.snapshot())
        self.journal.close()
        log.info("journal flushed and closed (%s)", self.journal.path)
