"""A synthetic LLM request trace: Poisson or bursty (gamma) arrivals, lognormal lengths, tenants
with shares, weights and priorities, and agent workflows of several dependent calls.

Everything comes from one seeded numpy generator, so a spec and a seed give the same trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from gpuplane.errors import InvalidRequest
from gpuplane.traces.llm import LlmTrace, TenantShare, from_columns


@dataclass(frozen=True)
class SyntheticLlm:
    """What to generate.

    ``arrivals`` is ``poisson`` (exponential gaps) or ``gamma`` (gamma gaps with coefficient of
    variation ``burstiness``, shape ``1 / burstiness**2``; above 1 is burstier than Poisson).
    Lengths are lognormal with the given mean and log-space sigma, clipped to
    ``1..max_tokens``. A ``workflow_share`` of the requests belong to workflows of
    ``workflow_calls`` calls each; a workflow's calls share its first call's tenant, and the
    simulator releases each call only after the previous one finishes.
    """

    requests: int = 10_000
    rate: float = 10.0
    arrivals: str = "poisson"
    burstiness: float = 2.0
    prompt_mean: float = 1000.0
    prompt_sigma: float = 1.0
    output_mean: float = 200.0
    output_sigma: float = 1.0
    max_tokens: int = 8192
    tenants: tuple[TenantShare, ...] = field(default_factory=lambda: (TenantShare("t0", 1.0),))
    workflow_share: float = 0.0
    workflow_calls: int = 4
    seed: int = 0


def _gaps(spec: SyntheticLlm, rng: np.random.Generator) -> np.ndarray:
    mean = 1.0 / spec.rate
    if spec.arrivals == "poisson":
        return rng.exponential(mean, spec.requests)
    if spec.arrivals == "gamma":
        shape = 1.0 / spec.burstiness**2
        return rng.gamma(shape, mean / shape, spec.requests)
    raise InvalidRequest(f"unknown arrivals {spec.arrivals!r}; expected poisson or gamma", field="arrivals")


def _lengths(mean: float, sigma: float, cap: int, n: int, rng: np.random.Generator) -> np.ndarray:
    mu = np.log(mean) - sigma**2 / 2
    return np.clip(np.rint(rng.lognormal(mu, sigma, n)), 1, cap).astype(np.int64)


def _check(spec: SyntheticLlm) -> None:
    if spec.requests < 1 or not spec.rate > 0:
        raise InvalidRequest("requests must be >= 1 and rate > 0", field="requests")
    if not 0 <= spec.workflow_share <= 1 or spec.workflow_calls < 1:
        raise InvalidRequest("workflow_share must be in [0, 1], workflow_calls >= 1", field="workflow_share")
    if not spec.tenants or any(t.share <= 0 for t in spec.tenants):
        raise InvalidRequest("tenant shares must be > 0", field="tenants")


def synthetic_llm(spec: SyntheticLlm) -> LlmTrace:
    """Generates the trace described by ``spec``."""
    _check(spec)
    rng = np.random.default_rng(spec.seed)
    n = spec.requests
    arrival = np.cumsum(_gaps(spec, rng))
    prompt = _lengths(spec.prompt_mean, spec.prompt_sigma, spec.max_tokens, n, rng)
    output = _lengths(spec.output_mean, spec.output_sigma, spec.max_tokens, n, rng)
    shares = np.array([t.share for t in spec.tenants])
    tenant = rng.choice(len(shares), n, p=shares / shares.sum()).astype(np.int64)
    workflow = np.full(n, -1, np.int64)
    calls = spec.workflow_calls
    count = round(n * spec.workflow_share / calls) if calls > 1 else 0
    if count:
        members = np.sort(rng.choice(n, (count, calls), replace=False), axis=1)
        workflow[members] = np.arange(count)[:, None]
        tenant[members] = tenant[members[:, :1]]
        arrival[members] = arrival[members[:, :1]]
    trace = from_columns(arrival, prompt, output, source=f"synthetic(seed={spec.seed})")
    priorities = np.array([t.priority for t in spec.tenants], np.int64)
    return replace(
        trace,
        tenant=tenant,
        priority=priorities[tenant],
        workflow=workflow,
        tenant_names=[t.name for t in spec.tenants],
        tenant_weights=[t.weight for t in spec.tenants],
    )
