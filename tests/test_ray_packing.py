"""gpuplane.ray.GpuPacker on a real local Ray cluster with fake GPUs of two memory sizes."""

from __future__ import annotations

import os
from collections import defaultdict

import pytest
from gpuplane.errors import CapacityError, InvalidRequest, NotFound
from gpuplane.ray import GpuPacker
from ray_cluster import listeners, ray, ray_cluster, wait_until

H100, A100_40 = 81_559, 40_960


@ray.remote(num_cpus=0)
class Probe:
    def where(self) -> tuple[str, str]:
        return ray.get_runtime_context().get_node_id(), os.environ.get("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(scope="module")
def cluster():
    with ray_cluster([(4, H100), (2, A100_40)], state_api=True) as c:
        yield c


def test_packing_never_overcommits_gpu_memory_across_nodes(cluster):
    packer = GpuPacker()

    sizes = [30_000, 50_000, 20_000, 40_000, 10_000, 70_000, 35_000, 25_000] * 3
    used: dict[tuple[str, int], int] = defaultdict(int)
    placed, refused = 0, 0
    for i, mib in enumerate(sizes):
        try:
            p = packer.place(f"w{i}", mib)
        except CapacityError:
            refused += 1
            continue
        placed += 1
        for g in p.gpu_indices:
            used[(p.node_id, g)] += mib
    nodes = {n["NodeID"]: n for n in ray.nodes()}
    for (node, _gpu), mib in used.items():
        assert mib <= int(nodes[node]["Labels"]["gpuplane.io/gpu-memory-mib"])
    assert placed > 0 and refused > 0


def test_launched_actor_runs_on_its_node_and_gpus_and_is_freed_when_it_dies(cluster):
    packer = GpuPacker()
    actor = packer.launch(Probe, "probe", 60_000, gpu_count=2)
    p = packer.allocation("probe")
    node, visible = ray.get(actor.where.remote(), timeout=60)
    assert (node, visible) == (p.node_id, p.cuda_visible_devices)
    assert len(p.gpu_indices) == 2
    ray.kill(actor)
    wait_until(lambda: packer.reap() == ["probe"] or "probe" not in packer.cluster, what="reap")
    with pytest.raises(NotFound):
        packer.allocation("probe")


def test_placement_group_bundles_are_pinned_to_their_gpus(cluster):
    packer = GpuPacker()
    group = packer.placement_group("tp", [70_000, 70_000])
    ray.get(group.ready(), timeout=60)
    actors = [Probe.options(**packer.bundle_options("tp", i)).remote() for i in range(2)]
    for i, a in enumerate(actors):
        p = packer.allocation(f"tp/{i}")
        assert ray.get(a.where.remote(), timeout=60) == (p.node_id, p.cuda_visible_devices)
    packer.release("tp")
    assert "tp/0" not in packer.cluster and "tp/1" not in packer.cluster


def test_bad_configuration_gets_a_clear_error(cluster):
    with pytest.raises(CapacityError, match="memory"):
        GpuPacker().place("huge", 90_000)
    with pytest.raises(InvalidRequest, match="gpu_memory_mib"):
        GpuPacker(gpu_memory_mib=0)
    with pytest.raises(InvalidRequest, match="policy"):
        GpuPacker("tetris")
    with pytest.raises(NotFound):
        GpuPacker().release("never-launched")


def test_every_node_and_worker_listens_on_loopback_only(cluster):
    actor = Probe.remote()
    ray.get(actor.where.remote(), timeout=60)  # a worker process is up too
    found = listeners(cluster)
    assert {"gcs_server", "raylet"} <= {x.process for x in found}, found
    assert [x for x in found if not x.loopback] == []
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    ray.kill(actor)
