"""A real local Ray cluster for tests/test_ray_*.py: a head without GPUs and GPU nodes with
fake GPUs (``num_gpus`` plus the GPU-memory label the packer reads), every node on loopback.

Loopback: Ray turns ``127.0.0.1`` in a driver's address into the machine's interface address
(``resolve_ip_for_localhost``), so giving the nodes ``node_ip_address="127.0.0.1"`` leaves a
driver that cannot reach them. Ray's single-machine mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``,
the default on macOS and Windows) makes every Ray process of the test session (head, nodes,
workers and the driver, which inherit it) take ``127.0.0.1`` as its node address. ``conftest.py``
sets it before anything imports Ray; :func:`ray_cluster` checks it took effect.

Every wait is explicit and bounded, and fails naming what it waited for.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_DASHBOARD_STARTUP_TIMEOUT_S", "300")

try:
    import ray
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster
except ImportError as e:  # a stack the tests need: fail, naming its install script
    raise ImportError("ray[serve] is not installed: run scripts/stacks/ray.sh (scripts/test does)") from e

from gpuplane.ray.packing import MEMORY_LABEL

STARTS = 5  # Ray gives a raylet 30 s to register (hard-coded); a loaded machine misses that at times
STATE_API_WAIT_S = 120.0
LOOPBACK = ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(gpu_nodes: list[tuple[int, int]], dashboard: bool) -> Cluster:
    head: dict[str, object] = {"num_cpus": 4, "num_gpus": 0, "include_dashboard": dashboard}
    if dashboard:
        # A port of its own: Ray's default, 8265, may be another session's.
        head.update(dashboard_host="127.0.0.1", dashboard_port=_free_port())
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        for gpus, mib in gpu_nodes:
            cluster.add_node(num_cpus=2, num_gpus=gpus, labels={MEMORY_LABEL: str(mib)})
    except Exception:
        cluster.shutdown()
        raise
    return cluster


def _start_with_retries(gpu_nodes: list[tuple[int, int]], dashboard: bool) -> Cluster:
    for attempt in range(STARTS):
        try:
            return _start(gpu_nodes, dashboard)
        except Exception as e:  # Ray raises a bare Exception for the startup timeout
            retry = "timed out during startup" in str(e) or "already occupied" in str(e)
            if not retry or attempt == STARTS - 1:
                raise
    raise AssertionError("unreachable")


def _check_loopback_mode() -> None:
    if ray_constants.ENABLE_RAY_CLUSTER:
        raise RuntimeError(
            "Ray was imported before RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 was set: the test cluster "
            "would bind the machine's interface address (tests/conftest.py sets it first)"
        )


def wait_for_state_api(address: str, timeout_s: float = STATE_API_WAIT_S) -> None:
    """Waits until the dashboard of the cluster at ``address`` answers the state API
    (``ray.util.state``), which starts after the head and can take a minute on a loaded
    machine. The address is explicit: without it the state API takes the machine's latest Ray
    instance, another session's on a shared machine."""
    from ray.util.state import list_nodes

    def answers() -> bool:
        try:
            return bool(list_nodes(address=address, limit=1, raise_on_missing_output=False, timeout=10))
        except Exception:  # connection refused or timed out while the dashboard starts
            return False

    wait_until(answers, timeout_s, "the dashboard's state API (ray.util.state)", interval_s=1.0)


@contextmanager
def ray_cluster(gpu_nodes: list[tuple[int, int]], state_api: bool = False) -> Iterator[Cluster]:
    """Head plus one node per ``(gpus, memory MiB per GPU)``, on loopback; ``ray.init``
    connected to it; with ``state_api``, the dashboard up and answering the state API (the
    packer's reaper reads it), otherwise no dashboard at all (one process less to start)."""
    _check_loopback_mode()
    cluster = _start_with_retries(gpu_nodes, state_api)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes(timeout=60)
        if state_api:
            wait_for_state_api(cluster.address)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def wait_until(
    check: Callable[[], object], timeout_s: float = 30.0, what: str = "condition", interval_s: float = 0.1
) -> object:
    """Polls ``check`` until it returns something truthy; fails naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket of a cluster process."""

    address: str
    port: int
    process: str
    pid: int

    @property
    def loopback(self) -> bool:
        return self.address in LOOPBACK


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # the process ended meanwhile
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def cluster_pids(cluster: Cluster) -> set[int]:
    """The processes of the cluster's nodes (GCS, raylets, dashboard, agents) and everything
    they started (workers, actors), not those of other Ray clusters on the machine."""
    roots = [
        info.process.pid
        for node in [cluster.head_node, *cluster.worker_nodes]
        for infos in node.all_processes.values()
        for info in infos
    ]
    kids, seen = _children(), set()
    while roots:
        pid = roots.pop()
        if pid not in seen:
            seen.add(pid)
            roots.extend(kids.get(pid, []))
    return seen


_SS_USER = re.compile(r'\("([^"]*)",pid=(\d+)')


def listeners(cluster: Cluster) -> list[Listener]:
    """The TCP sockets the cluster's processes listen on (``ss -ltnpH``)."""
    pids = cluster_pids(cluster)
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=30, check=True).stdout
    found = []
    for line in out.splitlines():
        cols = line.split()
        if len(cols) < 6:
            continue
        address, _, port = cols[3].rpartition(":")
        for name, pid in _SS_USER.findall(line):
            if int(pid) in pids:
                found.append(Listener(address, int(port), name, int(pid)))
    return found
