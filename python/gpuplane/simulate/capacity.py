"""Capacity planning by bisection over the simulator.

A configuration *meets the SLOs* when at least ``attainment`` of all requests (rejected ones
count as misses) finish within the configured SLOs. Both searches assume monotonicity: more
replicas never hurt, a higher rate never helps.

* :func:`min_replicas`: the smallest replica count that meets the SLOs at the trace's rate
  (doubling until one meets, then bisection between the last miss and the first hit).
* :func:`max_rate`: the largest rate multiplier ``k`` (the trace replayed at ``k`` times its
  rate) at which a given fleet still meets the SLOs, to a relative tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpuplane.errors import InvalidRequest
from gpuplane.simulate.llm import simulate_llm
from gpuplane.traces.llm import LlmTrace


@dataclass(frozen=True)
class Probe:
    """One simulated point of a search."""

    value: float
    attainment: float
    meets: bool
    ttft_p99_s: float
    tpot_p99_s: float


@dataclass
class CapacityResult:
    """The answer of a search (``None`` if no probed point met the SLOs) and every probe."""

    answer: float | None
    probes: list[Probe] = field(default_factory=list)


def _probe(trace: LlmTrace, config: Mapping[str, Any], value: float, attainment: float) -> Probe:
    s = simulate_llm(trace, config)["summary"]
    return Probe(
        value, s["slo_attainment"], s["slo_attainment"] >= attainment, s["ttft_s"]["p99"], s["tpot_s"]["p99"]
    )


def _check(attainment: float) -> None:
    if not 0 < attainment <= 1:
        raise InvalidRequest(f"attainment must be in (0, 1], got {attainment}", field="attainment")


def min_replicas(
    trace: LlmTrace,
    config: Mapping[str, Any],
    attainment: float = 0.99,
    max_replicas: int = 1024,
    on_probe: Callable[[Probe], None] | None = None,
) -> CapacityResult:
    """The smallest replica count meeting the SLOs at the trace's load."""
    _check(attainment)
    result = CapacityResult(None)

    def meets(n: int) -> bool:
        p = _probe(trace, {**config, "replicas": n}, n, attainment)
        result.probes.append(p)
        if on_probe:
            on_probe(p)
        return p.meets

    lo, hi = 0, 1
    while not meets(hi):
        if hi >= max_replicas:
            return result
        lo, hi = hi, min(2 * hi, max_replicas)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if meets(mid) else (mid, hi)
    result.answer = hi
    return result


def max_rate(
    trace: LlmTrace,
    config: Mapping[str, Any],
    attainment: float = 0.99,
    tolerance: float = 0.02,
    max_scale: float = 1024.0,
    on_probe: Callable[[Probe], None] | None = None,
) -> CapacityResult:
    """The largest rate multiplier at which the configured fleet meets the SLOs."""
    _check(attainment)
    result = CapacityResult(None)

    def meets(k: float) -> bool:
        p = _probe(trace.scaled(k), config, k, attainment)
        result.probes.append(p)
        if on_probe:
            on_probe(p)
        return p.meets

    lo, hi = 1.0, 1.0
    if meets(1.0):
        while meets(hi * 2) and hi * 2 < max_scale:
            hi *= 2
        lo, hi = hi, hi * 2
    else:
        while not meets(lo / 2):
            lo /= 2
            if lo < 1e-4:
                return result
        lo, hi = lo / 2, lo
    while hi / lo > 1 + tolerance:
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if meets(mid) else (lo, mid)
    result.answer = lo
    return result
