"""GPU packing for Ray: actors, Serve replicas and placement-group bundles placed by GPU memory
and compute with gpuplane's ``Cluster`` (``fgd`` by default), from Ray's view of its nodes.

Ray counts GPUs (``num_gpus=0.5``) but not their memory, so replicas of different sizes strand
memory. :class:`GpuPacker` builds a ``Cluster`` from ``ray.nodes()`` (each node's ``GPU``
count; memory per GPU from the node label ``gpuplane.io/gpu-memory-mib`` or the packer's
``gpu_memory_mib``), asks the core where a workload goes, and returns the node
(``NodeAffinitySchedulingStrategy``) and GPU ids (``CUDA_VISIBLE_DEVICES``) as Ray options.
Actors it launches are requested with ``num_gpus=0`` so that Ray does not pick GPUs of its own;
the packer should own the GPUs of the nodes it packs. A placement is freed when its actor exits
or dies (:meth:`GpuPacker.reap`, or the background :meth:`GpuPacker.watch`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gpuplane
from gpuplane.errors import InvalidRequest, NotFound

MEMORY_LABEL = "gpuplane.io/gpu-memory-mib"


@dataclass(frozen=True)
class RayPlacement:
    """Where the core put a workload: Ray node id, GPU indices on it, and the core's reason."""

    workload_id: str
    node_id: str
    gpu_indices: tuple[int, ...]
    memory_mib: int
    reason: str

    @property
    def cuda_visible_devices(self) -> str:
        return ",".join(str(i) for i in self.gpu_indices)

    def options(self) -> dict[str, Any]:
        """``.options(**p.options())`` for an actor or task: pinned to the node, on the GPUs."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        return {
            "num_gpus": 0,
            "scheduling_strategy": NodeAffinitySchedulingStrategy(self.node_id, soft=False),
            "runtime_env": {"env_vars": {"CUDA_VISIBLE_DEVICES": self.cuda_visible_devices}},
        }


@dataclass
class _Owner:
    placements: list[str]
    actor_id: str | None = None
    group: Any = None


@dataclass(frozen=True)
class RayNode:
    """A Ray node as the packer sees it."""

    node_id: str
    gpus: int
    gpu_memory_mib: int
    gpu_model: str = "GPU"
    labels: dict[str, str] = field(default_factory=dict)


def _memory_of(node: dict[str, Any], default: int | None) -> int:
    label = node.get("Labels", {}).get(MEMORY_LABEL)
    if label is not None:
        try:
            return int(label)
        except ValueError:
            raise InvalidRequest(
                f"node label {MEMORY_LABEL}: not an integer: {label!r}", MEMORY_LABEL
            ) from None
    if default is None:
        raise InvalidRequest(
            f"gpu_memory_mib: node {node['NodeID']} has GPUs but no {MEMORY_LABEL} label; "
            "label the node or pass GpuPacker(gpu_memory_mib=...)",
            "gpu_memory_mib",
        )
    return default


def ray_nodes(gpu_memory_mib: int | None = None) -> list[RayNode]:
    """Ray's live nodes that have GPUs."""
    import ray

    out = []
    for n in ray.nodes():
        gpus = int(n.get("Resources", {}).get("GPU", 0))
        if n.get("Alive") and gpus > 0:
            model = next(
                (k.split(":", 1)[1] for k in n["Resources"] if k.startswith("accelerator_type:")), "GPU"
            )
            out.append(
                RayNode(n["NodeID"], gpus, _memory_of(n, gpu_memory_mib), model, dict(n.get("Labels", {})))
            )
    return out


class GpuPacker:
    """Places Ray work on GPUs by memory and compute through a core ``Cluster``."""

    def __init__(self, policy: str = "fgd", *, gpu_memory_mib: int | None = None, seed: int = 0) -> None:
        if gpu_memory_mib is not None and gpu_memory_mib < 1:
            raise InvalidRequest(f"gpu_memory_mib: must be >= 1, got {gpu_memory_mib}", "gpu_memory_mib")
        self.cluster = gpuplane.Cluster(policy, seed)
        for n in ray_nodes(gpu_memory_mib):
            self.cluster.add_node(n.node_id, [gpuplane.GpuSpec(n.gpu_model, n.gpu_memory_mib)] * n.gpus)
        self._owners: dict[str, _Owner] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def place(self, name: str, memory_mib: int, gpu_count: int = 1, compute_milli: int = 0) -> RayPlacement:
        """The core's placement; ``CapacityError`` (with the reasons) when nothing fits."""
        w = gpuplane.Workload(name, memory_mib=memory_mib, gpu_count=gpu_count, compute_milli=compute_milli)
        with self._lock:
            return _ray_placement(self.cluster.place(w))

    def launch(
        self, actor_cls: Any, name: str, memory_mib: int, *args: Any, gpu_count: int = 1, **kwargs: Any
    ) -> Any:
        """Places and starts ``actor_cls`` (a ``@ray.remote`` class); freed when it exits or dies."""
        p = self.place(name, memory_mib, gpu_count)
        try:
            actor = actor_cls.options(**p.options()).remote(*args, **kwargs)
        except Exception:
            self._release([name])
            raise
        with self._lock:
            self._owners[name] = _Owner([name], actor_id=actor._actor_id.hex())
        return actor

    def placement_group(
        self, name: str, bundle_memory_mib: Sequence[int], cpus_per_bundle: float = 0.01
    ) -> Any:
        """A placement group of one-GPU bundles, each placed by the core (all or none) and pinned
        to its node; ``bundle_options(name, i)`` runs an actor in bundle ``i`` on its GPU."""
        from ray.util.placement_group import placement_group

        placed: list[RayPlacement] = []
        try:
            for i, mib in enumerate(bundle_memory_mib):
                placed.append(self.place(f"{name}/{i}", mib))
        except Exception:
            self._release([p.workload_id for p in placed])
            raise
        selectors = [{"ray.io/node-id": p.node_id} for p in placed]
        group = placement_group([{"CPU": cpus_per_bundle}] * len(placed), bundle_label_selector=selectors)
        with self._lock:
            self._owners[name] = _Owner([p.workload_id for p in placed], group=group)
        return group

    def bundle_options(self, name: str, index: int) -> dict[str, Any]:
        """Options for an actor in bundle ``index`` of placement group ``name``."""
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        owner = self._owner(name)
        p = self.allocation(owner.placements[index])
        return {
            "num_gpus": 0,
            "scheduling_strategy": PlacementGroupSchedulingStrategy(
                owner.group, placement_group_bundle_index=index
            ),
            "runtime_env": {"env_vars": {"CUDA_VISIBLE_DEVICES": p.cuda_visible_devices}},
        }

    def allocation(self, workload_id: str) -> RayPlacement:
        """A live placement; ``NotFound`` otherwise."""
        with self._lock:
            p = self.cluster.allocation(workload_id)
        if p is None:
            raise NotFound(f"workload {workload_id!r} is not placed")
        return _ray_placement(p)

    def release(self, name: str) -> None:
        """Frees an actor's or a placement group's GPUs (and removes the group)."""
        owner = self._owner(name)
        if owner.group is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(owner.group)
        with self._lock:
            self._owners.pop(name, None)
        self._release(owner.placements)

    def reap(self) -> list[str]:
        """Frees the placements of launched actors that exited or died; returns their names."""
        with self._lock:
            watched = {o.actor_id: n for n, o in self._owners.items() if o.actor_id}
        if not watched:
            return []
        dead = [watched[a] for a in _dead_actor_ids(watched)]
        for name in dead:
            self.release(name)
        return dead

    def watch(self, interval_s: float = 1.0) -> threading.Thread:
        """Reaps in a daemon thread every ``interval_s`` until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.reap()

        t = threading.Thread(target=loop, name="gpuplane-ray-reaper", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self._stop.set()

    def _owner(self, name: str) -> _Owner:
        with self._lock:
            owner = self._owners.get(name)
        if owner is None:
            raise NotFound(f"{name!r} was not launched or grouped by this packer")
        return owner

    def _release(self, workload_ids: Sequence[str]) -> None:
        with self._lock:
            for w in workload_ids:
                if w in self.cluster:
                    self.cluster.release(w)


def _ray_placement(p: gpuplane.Placement) -> RayPlacement:
    # Core GPU ids are "<node>/<index>"; the index is the GPU's CUDA index on that Ray node.
    return RayPlacement(
        p.workload_id, p.node, tuple(int(g.rsplit("/", 1)[1]) for g in p.gpu_ids), p.memory_mib, p.reason
    )


def _dead_actor_ids(actor_ids: Sequence[str]) -> list[str]:
    import ray
    from ray.util.state import list_actors

    wanted = set(actor_ids)
    # The connected cluster's own address: without one, the state API takes the machine's
    # latest Ray instance, which need not be this driver's.
    address = ray.get_runtime_context().gcs_address
    dead = list_actors(
        address=address, filters=[("state", "=", "DEAD")], limit=10_000, raise_on_missing_output=False
    )
    return [a.actor_id for a in dead if a.actor_id in wanted]
