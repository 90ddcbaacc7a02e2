"""Running the core's LLM serving simulator on a trace, and comparing configurations.

The configuration is a dict in the shape of ``gpuplane_core::sim::SimConfig`` (all keys
optional): ``replicas``, ``gpu``, ``model``, ``model_options`` (``tp``, ``compute_efficiency``,
``bandwidth_efficiency``, ``step_overhead_s``, ``allreduce_latency_s``, ``memory_utilization``),
``policy``, ``routing`` (the core router's policy, one of ``ROUTING_POLICIES``; default
``cost``; under ``tenant_fair`` and ``cost`` the ``fair`` policy orders tenants by the router's
fleet-wide counters), ``overlap_weight``, ``workflow_weight`` (the router's workflow term: a
program's next call towards the replica of its last; 0 off), ``queue_weight`` (the router's
queue-share term: a tenant queued mostly on one replica sees it busier; 0 off), ``fleet_lag``
(how far a backlogged tenant's fleet counter may fall behind, in multiples of ``N x U``; default
1, 0 unbounded), ``route_hashes`` (``False``: route requests carry no block hashes), ``engine``
(``token_budget``, ``max_running``, ``block_size``, ``starvation_s``, ...), ``tenants``
(``[{"name", "weight"}]``; by default the trace's), ``max_queue``, ``think_time_s``, ``slo``
(``ttft_s``, ``tpot_s``, ``e2e_s``), ``window_s``, ``name``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tqdm import tqdm

from gpuplane._core import simulate_llm_json
from gpuplane.traces.llm import LlmTrace


def config_for(trace: LlmTrace, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``config`` with the trace's tenants filled in when it names none."""
    cfg = dict(config or {})
    if "tenants" not in cfg:
        weights = trace.tenant_weights or [1.0] * len(trace.tenant_names)
        cfg["tenants"] = [{"name": n, "weight": w} for n, w in zip(trace.tenant_names, weights, strict=True)]
    return cfg


def simulate_llm_text(trace: LlmTrace, config: Mapping[str, Any] | None = None) -> str:
    """The core's JSON report, byte for byte (identical for identical inputs)."""
    return simulate_llm_json(
        trace.arrival,
        trace.prompt,
        trace.output,
        tenant=trace.tenant,
        priority=trace.priority,
        workflow=trace.workflow,
        hash_offsets=trace.hash_offsets,
        hashes=trace.hashes,
        config=json.dumps(config_for(trace, config), sort_keys=True),
        tool_time=trace.tool_time,
    )


def simulate_llm(trace: LlmTrace, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Simulates serving ``trace`` under ``config``; returns the report as a dict."""
    return json.loads(simulate_llm_text(trace, config))


def compare(
    trace: LlmTrace, configs: Sequence[Mapping[str, Any]], progress: bool = False
) -> list[dict[str, Any]]:
    """One report per configuration, on the same trace, in order."""
    bar = tqdm(configs, desc="simulating", unit="run", disable=not progress)
    return [simulate_llm(trace, c) for c in bar]
