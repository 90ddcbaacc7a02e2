"""Prometheus metrics of ``gpuplane serve`` (``hooks.MetricsSink``), on their own registry.

Cluster state is pushed by the server (``on_state``, from its event loop, so the core is never
read from the exporter's thread) and exported as it was last pushed; decision latencies and
preemptions are counted as they happen. Engine replicas' load uses vLLM's metric names
(``vllm:num_requests_waiting``, ``vllm:num_requests_running``, ``vllm:kv_cache_usage_perc`` and
its older name ``vllm:gpu_cache_usage_perc``) with a ``model_name`` label, so routers and
dashboards made for vLLM read them; everything else is ``gpuplane_*``. Memory is in bytes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from gpuplane import PROGRAM_COMPLETION_BUCKETS_S
from gpuplane.daemon.config import ServeConfig, host_of
from gpuplane.daemon.metrics_http import serve_metrics

log = logging.getLogger("gpuplane.daemon")

MIB = 1024 * 1024
# Decisions take microseconds in the core; the buckets reach from 10 us to 1 s.
LATENCY_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 1.0)
GPU_LABELS = ("gpu", "node", "model")


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``obj[name]``."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _replica_values(view: Any) -> tuple[str, str, float, float, float, float]:
    """(id, model, waiting, running, kv_usage, routed) of a replica view: a flat object or dict, or a
    ``ReplicaStatus``-like value with ``replica`` and ``load`` parts."""
    replica = _field(view, "replica", view)
    load = _field(view, "load", view)
    return (
        str(_field(replica, "id", "")),
        str(_field(replica, "model", "") or ""),
        float(_field(load, "waiting", 0) or 0),
        float(_field(load, "running", 0) or 0),
        float(_field(load, "kv_usage", 0.0) or 0.0),
        float(_field(view, "routed", 0) or 0),
    )


class StateCollector(Collector):
    """Exports the last pushed state; series of GPUs, tenants or replicas that are gone vanish."""

    def __init__(self) -> None:
        self._state: tuple[Any, list[Any], list[Any], list[Any], int | None] | None = None

    def update(
        self,
        cluster_stats: Any,
        tenants: Iterable[Any] | None,
        replicas: Iterable[Any] | None,
        programs: Iterable[Any] | None = None,
        router_programs: int | None = None,
    ) -> None:
        """Replaces the exported state (one reference swap: safe against a concurrent scrape)."""
        self._state = (
            cluster_stats,
            list(tenants or ()),
            list(replicas or ()),
            list(programs or ()),
            router_programs,
        )

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """The gauges of the current state."""
        if self._state is None:
            return
        stats, tenants, replicas, programs, router_programs = self._state
        yield from _cluster_families(stats)
        yield from _gpu_families(stats.gpus)
        yield from _tenant_families(tenants)
        yield from _replica_families(replicas)
        yield from _program_families(programs)
        if router_programs is not None:
            doc = "Agent programs whose last call's replica the router remembers (bounded by the core)."
            yield GaugeMetricFamily("gpuplane_router_programs", doc, value=float(router_programs))


def _cluster_families(stats: Any) -> Iterator[GaugeMetricFamily]:
    for name, doc, value in (
        ("gpuplane_nodes", "Nodes in the cluster.", stats.nodes),
        ("gpuplane_workloads", "Placed workloads.", stats.workloads),
        ("gpuplane_gpus", "GPUs in the cluster.", stats.totals.gpus),
        ("gpuplane_healthy_gpus", "GPUs not drained.", stats.totals.healthy_gpus),
        ("gpuplane_allocation_ratio", "Share of GPU capacity allocated (0..1).", stats.allocation_ratio),
        ("gpuplane_memory_allocation_ratio", "Share of GPU memory allocated.", stats.memory_allocation_ratio),
        (
            "gpuplane_compute_allocation_ratio",
            "Share of GPU compute allocated.",
            stats.compute_allocation_ratio,
        ),
        (
            "gpuplane_fragmentation_gpus",
            "GPU capacity fragmented for the expected workloads.",
            stats.fragmentation_gpus,
        ),
        (
            "gpuplane_fragmentation_ratio",
            "Share of free GPU capacity that is fragmented.",
            stats.fragmentation_ratio,
        ),
    ):
        yield GaugeMetricFamily(name, doc, value=float(value))


def _gpu_families(gpus: Iterable[Any]) -> Iterator[GaugeMetricFamily]:
    families = {
        "total": GaugeMetricFamily("gpuplane_gpu_memory_total_bytes", "GPU memory.", labels=GPU_LABELS),
        "used": GaugeMetricFamily(
            "gpuplane_gpu_memory_allocated_bytes", "GPU memory held by placed workloads.", labels=GPU_LABELS
        ),
        "external": GaugeMetricFamily(
            "gpuplane_gpu_memory_external_bytes",
            "GPU memory used by processes gpuplane did not place.",
            labels=GPU_LABELS,
        ),
        "free": GaugeMetricFamily(
            "gpuplane_gpu_memory_free_bytes", "GPU memory free to place.", labels=GPU_LABELS
        ),
        "healthy": GaugeMetricFamily(
            "gpuplane_gpu_healthy", "1 if the GPU is healthy, 0 if drained.", labels=GPU_LABELS
        ),
        "workloads": GaugeMetricFamily("gpuplane_gpu_workloads", "Workloads on the GPU.", labels=GPU_LABELS),
        "compute_total": GaugeMetricFamily(
            "gpuplane_gpu_compute_total", "GPU compute (1 = a whole GPU).", labels=GPU_LABELS
        ),
        "compute_used": GaugeMetricFamily(
            "gpuplane_gpu_compute_allocated",
            "GPU compute held by placed workloads (1 = a whole GPU).",
            labels=GPU_LABELS,
        ),
    }
    for gpu in gpus:
        labels = [gpu.id, gpu.node, gpu.model]
        families["total"].add_metric(labels, gpu.memory_total_mib * MIB)
        families["used"].add_metric(labels, gpu.memory_used_mib * MIB)
        families["external"].add_metric(labels, gpu.memory_external_mib * MIB)
        families["free"].add_metric(labels, gpu.memory_free_mib * MIB)
        families["healthy"].add_metric(labels, 1.0 if gpu.healthy else 0.0)
        families["workloads"].add_metric(labels, gpu.workloads)
        families["compute_total"].add_metric(labels, gpu.compute_total_milli / 1000)
        families["compute_used"].add_metric(labels, gpu.compute_used_milli / 1000)
    yield from families.values()


def _tenant_families(tenants: list[Any]) -> Iterator[GaugeMetricFamily]:
    if not tenants:
        return
    counts = {
        "placed_workloads": GaugeMetricFamily(
            "gpuplane_tenant_workloads", "Placed workloads.", labels=["tenant"]
        ),
        "placed_gpus": GaugeMetricFamily(
            "gpuplane_tenant_gpus", "GPUs held by placed workloads.", labels=["tenant"]
        ),
        "placed_memory_mib": GaugeMetricFamily(
            "gpuplane_tenant_memory_mib", "GPU memory held by placed workloads, MiB.", labels=["tenant"]
        ),
        "dominant_share": GaugeMetricFamily(
            "gpuplane_tenant_dominant_share", "Dominant share (DRF) of the cluster.", labels=["tenant"]
        ),
        "admitted": GaugeMetricFamily(
            "gpuplane_tenant_admitted",
            "Work admitted and running (placements and requests).",
            labels=["tenant"],
        ),
        "queued": GaugeMetricFamily(
            "gpuplane_tenant_queued", "Requests waiting in admission.", labels=["tenant"]
        ),
    }
    amounts = {
        "allocated": GaugeMetricFamily(
            "gpuplane_tenant_allocated", "Resources held now, per resource.", labels=["tenant", "resource"]
        ),
        "usage": GaugeMetricFamily(
            "gpuplane_tenant_usage",
            "Decayed usage (service received), per resource.",
            labels=["tenant", "resource"],
        ),
        "fair_share": GaugeMetricFamily(
            "gpuplane_tenant_fair_share",
            "The tenant's fair share, per resource.",
            labels=["tenant", "resource"],
        ),
    }
    for view in tenants:
        name = str(_field(view, "tenant", ""))
        for attr, family in counts.items():
            family.add_metric([name], float(_field(view, attr, 0) or 0))
        for attr, family in amounts.items():
            for resource, value in sorted((_field(view, attr) or {}).items()):
                family.add_metric([name, resource], float(value))
    yield from counts.values()
    yield from amounts.values()


PROGRAM_PHASES = (("waiting", "waiting_s_sum"), ("running", "running_s_sum"), ("tool", "tool_s_sum"))
PROGRAM_QUANTILES = (0.5, 0.9, 0.99)


def _program_families(programs: list[Any]) -> Iterator[Any]:
    """Agent programs per tenant, as the core's ledger counts them (``Policy.program_figures``)."""
    if not programs:
        return
    t = ["tenant"]
    active = GaugeMetricFamily("gpuplane_programs_active", "Agent programs with calls to come.", labels=t)
    completed = CounterMetricFamily("gpuplane_programs_completed", "Agent programs completed.", labels=t)
    aborted = CounterMetricFamily(
        "gpuplane_programs_aborted", "Programs aborted by a rejected call.", labels=t
    )
    calls = CounterMetricFamily("gpuplane_program_calls", "Calls of completed programs.", labels=t)
    phases = CounterMetricFamily(
        "gpuplane_program_phase_seconds",
        "Seconds of completed programs spent waiting, running and in tool calls.",
        labels=["tenant", "phase"],
    )
    completion = HistogramMetricFamily(
        "gpuplane_program_completion_seconds", "First call's arrival to last call's release.", labels=t
    )
    quantiles = GaugeMetricFamily(
        "gpuplane_program_completion_quantile_seconds",
        "Upper bound of the completion bucket holding the quantile (the core's buckets).",
        labels=["tenant", "quantile"],
    )
    for f in programs:
        active.add_metric([f.tenant], f.active)
        completed.add_metric([f.tenant], f.completed)
        aborted.add_metric([f.tenant], f.aborted)
        calls.add_metric([f.tenant], f.calls)
        for phase, attr in PROGRAM_PHASES:
            phases.add_metric([f.tenant, phase], getattr(f, attr))
        cumulative = list(itertools.accumulate(f.completion_buckets))
        bounds = [*map(str, PROGRAM_COMPLETION_BUCKETS_S), "+Inf"]
        completion.add_metric([f.tenant], list(zip(bounds, cumulative, strict=True)), f.completion_s_sum)
        for q in PROGRAM_QUANTILES:
            quantiles.add_metric([f.tenant, str(q)], f.completion_quantile(q))
    yield from (active, completed, aborted, calls, phases, completion, quantiles)


def _replica_families(replicas: list[Any]) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    if not replicas:
        return
    labels = ["model_name", "replica"]
    waiting = GaugeMetricFamily(
        "vllm:num_requests_waiting", "Requests waiting on the replica.", labels=labels
    )
    running = GaugeMetricFamily(
        "vllm:num_requests_running", "Requests running on the replica.", labels=labels
    )
    kv = GaugeMetricFamily("vllm:kv_cache_usage_perc", "KV-cache usage (1 = full).", labels=labels)
    kv_old = GaugeMetricFamily(
        "vllm:gpu_cache_usage_perc", "KV-cache usage (vLLM's older name).", labels=labels
    )
    routed = CounterMetricFamily(
        "gpuplane_replica_routed", "Route answers that chose the replica since it registered.", labels=labels
    )
    for view in replicas:
        replica_id, model, n_waiting, n_running, kv_usage, n_routed = _replica_values(view)
        for family, value in ((waiting, n_waiting), (running, n_running), (kv, kv_usage), (kv_old, kv_usage)):
            family.add_metric([model, replica_id], value)
        routed.add_metric([model, replica_id], n_routed)
    yield from (waiting, running, kv, kv_old, routed)


class Metrics:
    """``hooks.MetricsSink`` exporting to Prometheus on ``config.metrics_port`` (0: any free port),
    bound to the server's listen host; with TLS configured the endpoint uses the same certificate."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.registry = CollectorRegistry(auto_describe=True)
        self.state = StateCollector()
        self.registry.register(self.state)
        self.latency = Histogram(
            "gpuplane_decision_duration_seconds",
            "Time the core took to decide, per RPC.",
            ["rpc"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.preemptions = Counter("gpuplane_preemptions", "Preemptions executed.", registry=self.registry)
        self.preempted = Counter(
            "gpuplane_preempted_workloads", "Workloads evicted by preemptions.", registry=self.registry
        )
        self._server: Any = None
        self._thread: Any = None

    @property
    def port(self) -> int | None:
        """The port the endpoint listens on (once started)."""
        return None if self._server is None else int(self._server.server_port)

    def start(self) -> None:
        """Serves ``/metrics`` over HTTP(S); does nothing without ``metrics_port``."""
        if self.config.metrics_port is None or self._server is not None:
            return
        tls = None
        if self.config.tls:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(str(self.config.tls_cert), str(self.config.tls_key))
        host = host_of(self.config.listen) or "127.0.0.1"
        self._server, self._thread = serve_metrics(self.registry, host, self.config.metrics_port, tls)
        log.info("metrics on %s://%s:%d/metrics", "https" if tls else "http", host, self.port)

    def observe_decision(self, rpc: str, seconds: float) -> None:
        """Records one decision's latency."""
        self.latency.labels(rpc=rpc).observe(seconds)

    def on_state(
        self,
        cluster_stats: Any,
        tenants: Any = None,
        replicas: Any = None,
        programs: Any = None,
        router_programs: int | None = None,
    ) -> None:
        """Exports this view of the state until the next one."""
        self.state.update(cluster_stats, tenants, replicas, programs, router_programs)

    def on_preemption(self, victims: int) -> None:
        """Counts one preemption and its victims."""
        self.preemptions.inc()
        self.preempted.inc(victims)

    def stop(self) -> None:
        """Stops the HTTP endpoint."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None


async def refresh(metrics: Any, view: Callable[[], tuple[Any, Any, Any]], interval_s: float = 1.0) -> None:
    """Pushes ``view()`` (cluster stats, tenant views, replica views) to ``metrics`` every
    ``interval_s`` until cancelled; run it as a task on the server's event loop."""
    while True:
        try:
            metrics.on_state(*view())
        except Exception:
            log.exception("metrics: reading the state failed")
        await asyncio.sleep(interval_s)
