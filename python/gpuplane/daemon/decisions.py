"""The recent decisions of the service, with their reasons, for the web page.

The engine hands over every mutation's outcome: acknowledged events (placements with the
policy's reason, preemptions, drains, displacements, releases), admission verdicts, and
refusals (the error a decision raised: no capacity, quota, invalid request). Only the last
``DECISIONS_KEPT`` are kept, in memory: this is a window for operators, not the journal.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gpuplane.daemon.state import Event, Outcome
from gpuplane.daemon.status import message_of

DECISIONS_KEPT = 200
# Operations whose outcome is a decision an operator asks "why?" about.
DECIDING_OPS = frozenset(
    {"place", "place_batch", "place_columns", "preempt", "admit", "health", "remove_node"}
)


@dataclass(frozen=True)
class Decision:
    """One decision: ``kind`` is an event kind, an admission verdict or ``refused``."""

    seq: int
    at: float
    kind: str
    subject: str
    tenant: str
    node: str
    gpus: tuple[str, ...]
    reason: str


def subject_of(op: dict[str, Any]) -> tuple[str, str]:
    """(workload or request id, tenant) an operation is about, where it names one."""
    for key in ("w", "req"):
        if key in op:
            item = op[key]
            return str(item.get("id") or item.get("request_id") or ""), str(item.get("tenant") or "")
    if "ids" in op:
        return f"{len(op['ids'])} workloads", str(op.get("tenant") or "")
    return "", ""


class DecisionLog:
    """A bounded window of recent decisions, newest last."""

    def __init__(self, kept: int = DECISIONS_KEPT):
        self._items: deque[Decision] = deque(maxlen=kept)

    def __iter__(self) -> Iterator[Decision]:
        return iter(tuple(self._items))

    def recent(self, limit: int = 50) -> list[Decision]:
        """The ``limit`` newest decisions, newest first."""
        items = list(self._items)[-limit:]
        items.reverse()
        return items

    def accepted(self, seq: int, op: dict[str, Any], outcome: Outcome) -> None:
        """Records what an applied operation decided (its events, an admission verdict)."""
        if op.get("op") not in DECIDING_OPS:
            return
        now = time.time()
        if op["op"] == "place_columns":
            self._items.append(columns_decision(seq, now, op, outcome.value[0]))
            return
        for e in outcome.events:
            self._items.append(event_decision(seq, now, e))
        if op["op"] == "admit":
            self._items.append(admit_decision(seq, now, op, outcome.value))
        if op["op"] == "place_batch":
            for w, result in zip(op["ws"], outcome.value, strict=True):
                if isinstance(result, Exception):
                    self.refused({"op": "place", "w": w}, result)

    def refused(self, op: dict[str, Any], error: BaseException) -> None:
        """Records an operation the core refused, with the refusal's message."""
        if op.get("op") not in DECIDING_OPS:
            return
        subject, tenant = subject_of(op)
        self._items.append(Decision(0, time.time(), "refused", subject, tenant, "", (), message_of(error)))


def event_decision(seq: int, at: float, e: Event) -> Decision:
    """An acknowledged event as a decision."""
    return Decision(seq, at, e.kind, e.workload_id, e.tenant, e.node, e.gpu_ids, e.detail)


def columns_decision(seq: int, at: float, op: dict[str, Any], placed: list[bool]) -> Decision:
    """A bulk placement (``PlaceColumns``) as one decision: how many of its workloads fit."""
    subject = f"{sum(placed)} of {len(placed)} workloads"
    reason = "placed in one core call" if all(placed) else f"{placed.count(False)} did not fit"
    return Decision(seq, at, "placed", subject, str(op.get("tenant") or ""), "", (), reason)


def admit_decision(seq: int, at: float, op: dict[str, Any], verdict: dict[str, Any]) -> Decision:
    """An admission verdict (``admit``, ``queue``, ``reject``) as a decision."""
    subject, tenant = subject_of(op)
    return Decision(seq, at, verdict["verdict"], subject, tenant, "", (), verdict["reason"])
