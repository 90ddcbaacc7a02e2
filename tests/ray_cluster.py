"""A real local Ray cluster for tests/test_ray_*.py: a head without GPUs and GPU nodes with
fake GPUs (``num_gpus`` plus the GPU-memory label the packer reads)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

try:
    import ray
    from ray.cluster_utils import Cluster
except ImportError as e:  # a stack the tests need: fail, naming its install script
    raise ImportError("ray[serve] is not installed: run scripts/stacks/ray.sh (scripts/test does)") from e

from gpuplane.ray.packing import MEMORY_LABEL

STARTS = 3  # Ray gives a raylet 30 s to register; a loaded machine can miss that once


def _start(gpu_nodes: list[tuple[int, int]]) -> Cluster:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 4, "num_gpus": 0})
    try:
        for gpus, mib in gpu_nodes:
            cluster.add_node(num_cpus=2, num_gpus=gpus, labels={MEMORY_LABEL: str(mib)})
    except Exception:
        cluster.shutdown()
        raise
    return cluster


def _start_with_retries(gpu_nodes: list[tuple[int, int]]) -> Cluster:
    for attempt in range(STARTS):
        try:
            return _start(gpu_nodes)
        except Exception as e:  # Ray raises a bare Exception for the startup timeout
            if "timed out during startup" not in str(e) or attempt == STARTS - 1:
                raise
    raise AssertionError("unreachable")


@contextmanager
def ray_cluster(gpu_nodes: list[tuple[int, int]]) -> Iterator[Cluster]:
    """Head plus one node per ``(gpus, memory MiB per GPU)``; ``ray.init`` connected to it."""
    cluster = _start_with_retries(gpu_nodes)
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        cluster.wait_for_nodes()
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def wait_until(check: Callable[[], object], timeout_s: float = 30.0, what: str = "condition") -> object:
    """Polls ``check`` until it returns something truthy; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)
