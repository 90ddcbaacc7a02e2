"""An LLM request trace as columns, and the deterministic rules that shape it for replay.

Tenants: a trace without a tenant column gets tenants by :func:`assign_tenants`, a documented
deterministic rule: row ``i`` draws ``u_i = ((i * 2654435761) mod 2**32) / 2**32`` (Knuth's
multiplicative hash of the row index) and goes to the first tenant ``k`` with
``u_i < split[0] + ... + split[k]`` (the split normalized to 1). The same file and split always
give the same tenants, and each tenant's rows are spread over the whole trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from gpuplane.errors import InvalidRequest

KNUTH = 2654435761


@dataclass(frozen=True)
class LlmTrace:
    """Requests as columns: one entry per request, arrivals in seconds from the trace start."""

    arrival: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    tenant: np.ndarray
    priority: np.ndarray
    workflow: np.ndarray
    tenant_names: list[str] = field(default_factory=lambda: ["t0"])
    tenant_weights: list[float] | None = None
    hash_offsets: np.ndarray | None = None
    hashes: np.ndarray | None = None
    source: str = ""
    #: Seconds of tool time before each workflow call (after the previous call finishes).
    tool_time: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.arrival)

    def scaled(self, rate_scale: float) -> LlmTrace:
        """The trace replayed at ``rate_scale`` times its rate (arrival times divided by it)."""
        if not rate_scale > 0:
            raise InvalidRequest(f"rate scale must be > 0, got {rate_scale}", field="rate_scale")
        return replace(self, arrival=self.arrival / rate_scale)

    def head(self, n: int) -> LlmTrace:
        """The first ``n`` requests (prefix hashes dropped)."""
        cut = lambda a: a[:n]  # noqa: E731
        return replace(
            self,
            arrival=cut(self.arrival),
            prompt=cut(self.prompt),
            output=cut(self.output),
            tenant=cut(self.tenant),
            priority=cut(self.priority),
            workflow=cut(self.workflow),
            tool_time=None if self.tool_time is None else cut(self.tool_time),
            hash_offsets=None,
            hashes=None,
        )


def from_columns(
    arrival: Sequence[float] | np.ndarray,
    prompt: Sequence[int] | np.ndarray,
    output: Sequence[int] | np.ndarray,
    source: str = "",
    hashes: list[list[int]] | None = None,
) -> LlmTrace:
    """A single-tenant trace; arrivals are shifted so that the first is at 0."""
    arrival = np.asarray(arrival, dtype=np.float64)
    if len(arrival):
        arrival = arrival - arrival.min()
    n = len(arrival)
    offsets = flat = None
    if hashes is not None:
        offsets = np.zeros(n + 1, np.int64)
        offsets[1:] = np.cumsum([len(h) for h in hashes])
        flat = np.fromiter((x for h in hashes for x in h), np.int64, int(offsets[-1]))
    return LlmTrace(
        arrival=arrival,
        prompt=np.asarray(prompt, dtype=np.int64),
        output=np.asarray(output, dtype=np.int64),
        tenant=np.zeros(n, np.int64),
        priority=np.zeros(n, np.int64),
        workflow=np.full(n, -1, np.int64),
        hash_offsets=offsets,
        hashes=flat,
        source=source,
    )


def split_draws(n: int) -> np.ndarray:
    """``u_i`` of the tenant rule for rows ``0..n-1``."""
    i = np.arange(n, dtype=np.uint64)
    return ((i * np.uint64(KNUTH)) % np.uint64(2**32)).astype(np.float64) / 2**32


@dataclass(frozen=True)
class TenantShare:
    """A tenant of a trace: its share of rows, fair-share weight and priority."""

    name: str
    share: float
    weight: float = 1.0
    priority: int = 0


def assign_tenants(trace: LlmTrace, tenants: Sequence[TenantShare]) -> LlmTrace:
    """Tenants and priorities by the module's deterministic rule."""
    if not tenants:
        raise InvalidRequest("at least one tenant is needed", field="tenants")
    shares = np.array([t.share for t in tenants], dtype=np.float64)
    if (shares <= 0).any() or not np.isfinite(shares).all():
        raise InvalidRequest("tenant shares must be finite and > 0", field="tenants")
    bounds = np.cumsum(shares / shares.sum())
    bounds[-1] = 1.0
    index = np.searchsorted(bounds, split_draws(len(trace)), side="right").astype(np.int64)
    priority = np.array([t.priority for t in tenants], dtype=np.int64)[index]
    return replace(
        trace,
        tenant=index,
        priority=priority,
        tenant_names=[t.name for t in tenants],
        tenant_weights=[t.weight for t in tenants],
    )


def parse_tenants(specs: Sequence[str]) -> list[TenantShare]:
    """Parses ``NAME=SHARE[:WEIGHT[:PRIORITY]]`` specs (e.g. ``a=50:2:1``)."""
    out = []
    for spec in specs:
        name, _, rest = spec.partition("=")
        parts = rest.split(":") if rest else []
        if not name or not 1 <= len(parts) <= 3:
            raise InvalidRequest(f"bad tenant {spec!r}; expected NAME=SHARE[:WEIGHT[:PRIORITY]]", "tenants")
        try:
            share = float(parts[0])
            weight = float(parts[1]) if len(parts) > 1 else 1.0
            priority = int(parts[2]) if len(parts) > 2 else 0
        except ValueError:
            raise InvalidRequest(f"bad number in tenant {spec!r}", field="tenants") from None
        out.append(TenantShare(name, share, weight, priority))
    return out
