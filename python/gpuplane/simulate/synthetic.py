"""A built-in synthetic cluster and workload, shaped like the openb trace, for runs without files."""

from __future__ import annotations

import numpy as np

from gpuplane.traces.openb import OpenbNode, OpenbPod

# (num_gpu, gpu_milli, weight): the openb default trace's most common request shapes.
_GPU_SHAPES = [
    (1, 1000, 3911),
    (0, 0, 1088),
    (1, 810, 1078),
    (1, 470, 750),
    (1, 320, 328),
    (1, 650, 253),
    (1, 230, 140),
    (1, 460, 128),
    (1, 590, 75),
    (1, 160, 74),
    (1, 550, 72),
    (8, 1000, 44),
    (2, 1000, 16),
    (4, 1000, 15),
]


def synthetic_nodes(eight_gpu_nodes: int = 48, two_gpu_nodes: int = 32) -> list[OpenbNode]:
    """8-GPU and 2-GPU nodes, like openb's G2 and T4 nodes."""
    big = [OpenbNode(f"syn-g8-{i:03d}", 96_000, 393_216, 8, "G2") for i in range(eight_gpu_nodes)]
    small = [OpenbNode(f"syn-g2-{i:03d}", 104_000, 524_288, 2, "T4") for i in range(two_gpu_nodes)]
    return big + small


def synthetic_pods(count: int = 2000, seed: int = 0) -> list[OpenbPod]:
    """Pods drawn from the openb shape mix with CPU and memory requests of a similar spread."""
    rng = np.random.default_rng(seed)
    weights = np.array([w for _, _, w in _GPU_SHAPES], dtype=float)
    picks = rng.choice(len(_GPU_SHAPES), size=count, p=weights / weights.sum())
    cpus = rng.choice([2000, 4000, 6000, 8000, 12000, 16000], size=count)
    pods = []
    for k, (i, cpu) in enumerate(zip(picks.tolist(), cpus.tolist(), strict=True)):
        num_gpu, milli, _ = _GPU_SHAPES[i]
        cpu = cpu * max(num_gpu, 1)
        pods.append(OpenbPod(f"syn-pod-{k:05d}", cpu, cpu * 4, num_gpu, milli, ()))
    return pods
