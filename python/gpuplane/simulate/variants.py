"""Workload variants of a pod list, made the way the FGD paper's are (Weng et al., ATC'23, §6).

Each variant resamples the default pod list, with replacement and a fixed seed, into a list of
the same number of GPU pods that emphasises one kind of work:

- ``gpushare:P`` -- GPU-sharing pods (one GPU, less than all of it) request ``P`` % of the GPU
  capacity requested by GPU pods;
- ``multigpu:P`` -- pods of more than one GPU request ``P`` % of it;
- ``gpuspec:P`` -- ``P`` % of GPU pods may only use one GPU model, drawn in proportion to the
  models' GPU counts in the cluster;
- ``cpu:P`` -- CPU-only pods are resampled to ``P`` % of their number in the list (``cpu:200``
  doubles them); GPU pods are kept as they are.

These are trace transforms only: placement itself is decided in the core.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from gpuplane.errors import InvalidRequest
from gpuplane.traces.openb import OpenbNode, OpenbPod

VARIANT_KINDS = ("gpushare", "multigpu", "gpuspec", "cpu")


def parse_variant(spec: str) -> tuple[str, float]:
    """``"gpushare:80"`` as ``("gpushare", 80.0)``; a clear error naming ``variant`` otherwise."""
    kind, _, percent = spec.partition(":")
    if kind not in VARIANT_KINDS:
        raise InvalidRequest(
            f"unknown variant {spec!r}; expected one of {VARIANT_KINDS} with :PERCENT", field="variant"
        )
    try:
        value = float(percent)
    except ValueError:
        raise InvalidRequest(
            f"variant {spec!r} needs a percentage, e.g. {kind}:50", field="variant"
        ) from None
    upper = 1000.0 if kind == "cpu" else 100.0
    if not 0 <= value <= upper:
        raise InvalidRequest(f"variant {spec!r}: percentage must be in [0, {upper:g}]", field="variant")
    return kind, value


def derive_variant(
    pods: Sequence[OpenbPod], nodes: Sequence[OpenbNode], spec: str, seed: int = 0
) -> list[OpenbPod]:
    """The pod list resampled as ``spec`` says (see the module docstring)."""
    kind, percent = parse_variant(spec)
    rng = np.random.default_rng([seed, 16])
    if kind == "gpushare":
        return _by_gpu_share(pods, lambda p: p.num_gpu == 1 and p.gpu_milli < 1000, percent / 100, rng)
    if kind == "multigpu":
        return _by_gpu_share(pods, lambda p: p.num_gpu > 1, percent / 100, rng)
    if kind == "gpuspec":
        return _constrained(pods, nodes, percent / 100, rng)
    return _cpu_only(pods, percent / 100, rng)


def _by_gpu_share(
    pods: Sequence[OpenbPod], emphasised: Callable[[OpenbPod], bool], share: float, rng: np.random.Generator
) -> list[OpenbPod]:
    """CPU-only pods kept; GPU pods redrawn so the emphasised ones request ``share`` of GPUs."""
    gpu = [p for p in pods if p.num_gpu > 0]
    chosen = [p for p in gpu if emphasised(p)]
    rest = [p for p in gpu if not emphasised(p)]
    if (share > 0 and not chosen) or (share < 1 and not rest):
        raise InvalidRequest("the pod list has no pods of the kind to emphasise or keep", field="variant")
    mean_chosen = np.mean([p.gpu_request for p in chosen]) if chosen else 1.0
    mean_rest = np.mean([p.gpu_request for p in rest]) if rest else 1.0
    # n_c * m_c / (n_c * m_c + n_r * m_r) = share with n_c + n_r = len(gpu)
    weight = share / mean_chosen
    n_chosen = round(len(gpu) * weight / (weight + (1 - share) / mean_rest))
    drawn = _draw(chosen, n_chosen, rng) + _draw(rest, len(gpu) - n_chosen, rng)
    return _renamed([p for p in pods if p.num_gpu == 0] + drawn)


def _constrained(
    pods: Sequence[OpenbPod], nodes: Sequence[OpenbNode], share: float, rng: np.random.Generator
) -> list[OpenbPod]:
    gpus_by_model = Counter()
    for n in nodes:
        gpus_by_model[n.model] += n.gpus
    models = sorted(gpus_by_model)
    weights = np.array([gpus_by_model[m] for m in models], dtype=float)
    out = []
    for p in pods:
        if p.num_gpu > 0 and rng.random() < share:
            p = replace(p, gpu_spec=(models[int(rng.choice(len(models), p=weights / weights.sum()))],))
        out.append(p)
    return out


def _cpu_only(pods: Sequence[OpenbPod], scale: float, rng: np.random.Generator) -> list[OpenbPod]:
    cpu = [p for p in pods if p.num_gpu == 0]
    return _renamed([p for p in pods if p.num_gpu > 0] + _draw(cpu, round(len(cpu) * scale), rng))


def _draw(pool: Sequence[OpenbPod], n: int, rng: np.random.Generator) -> list[OpenbPod]:
    if n <= 0 or not pool:
        return []
    return [pool[i] for i in rng.integers(len(pool), size=n).tolist()]


def _renamed(pods: Sequence[OpenbPod]) -> list[OpenbPod]:
    """Unique names in the list's order (the artifact's protocol sorts pods by name)."""
    return [replace(p, name=f"variant-pod-{i:05d}") for i, p in enumerate(pods)]
