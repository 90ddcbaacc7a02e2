"""FGD-paper-style workload variants (``--variant``) and the ``fgd_fill`` policy through Python."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from gpuplane import Cluster, GpuSpec, Workload
from gpuplane.errors import InvalidRequest
from gpuplane.simulate.variants import derive_variant, parse_variant
from gpuplane.traces.openb import OpenbNode, OpenbPod

NODES = [OpenbNode(f"n{i}", 96_000, 393_216, 8, "G2" if i % 3 else "T4") for i in range(6)]


def _pods(scale: int = 1) -> list[OpenbPod]:
    shapes = (
        [(1, 1000)] * 50 + [(1, 810)] * 20 + [(1, 470)] * 15 + [(2, 1000)] * 3 + [(8, 1000)] * 2
    ) * scale
    pods = [OpenbPod(f"p{i:03d}", 4000, 8192, k, m, ()) for i, (k, m) in enumerate(shapes)]
    return pods + [OpenbPod(f"c{i:03d}", 8000, 8192, 0, 0, ()) for i in range(10 * scale)]


def _gpu_share(pods, emphasised) -> float:
    total = sum(p.gpu_request for p in pods)
    return sum(p.gpu_request for p in pods if emphasised(p)) / total


def test_gpushare_variant_gives_sharing_pods_the_asked_share_of_gpus():
    pods = derive_variant(_pods(50), NODES, "gpushare:80")
    assert len(pods) == len(_pods(50))
    share = _gpu_share(pods, lambda p: p.num_gpu == 1 and p.gpu_milli < 1000)
    assert share == pytest.approx(0.8, abs=0.03)
    assert sum(p.num_gpu == 0 for p in pods) == 500


def test_multigpu_variant_and_cpu_variant():
    multi = derive_variant(_pods(50), NODES, "multigpu:50")
    assert _gpu_share(multi, lambda p: p.num_gpu > 1) == pytest.approx(0.5, abs=0.03)
    cpu = derive_variant(_pods(), NODES, "cpu:200")
    assert sum(p.num_gpu == 0 for p in cpu) == 20
    assert Counter((p.num_gpu, p.gpu_milli) for p in cpu if p.num_gpu) == Counter(
        (p.num_gpu, p.gpu_milli) for p in _pods() if p.num_gpu
    )


def test_gpuspec_variant_constrains_gpu_pods_to_one_cluster_model():
    pods = derive_variant(_pods(), NODES, "gpuspec:100")
    assert all(len(p.gpu_spec) == 1 and p.gpu_spec[0] in {"G2", "T4"} for p in pods if p.num_gpu)
    assert all(p.gpu_spec == () for p in pods if not p.num_gpu)
    assert derive_variant(_pods(), NODES, "gpuspec:100") == pods


@pytest.mark.parametrize("spec", ["gpushare", "gpushare:x", "nope:10", "multigpu:120", "cpu:-1"])
def test_bad_variants_name_the_field(spec):
    with pytest.raises(InvalidRequest) as e:
        parse_variant(spec)
    assert e.value.field == "variant"


def test_fgd_fill_keeps_cpu_rich_nodes_for_cpu_only_pods():
    # n0's 24 cores feed two of its idle GPUs; taking 12 of them strands one more. n1's 120 cores
    # feed all eight. fgd sees one 12-core pod still fitting on both and takes the first node.
    chosen = {}
    for policy in ("fgd", "fgd_fill"):
        c = Cluster(policy)
        c.add_node("n0", [GpuSpec("G2", 32_768)] * 8, cpu_milli=24_000, memory_mib=1 << 20)
        c.add_node("n1", [GpuSpec("G2", 32_768)] * 8, cpu_milli=120_000, memory_mib=1 << 20)
        c.set_workload_distribution([(Workload("shape", 0, 1, compute_milli=1000, cpu_milli=12_000), 1.0)])
        chosen[policy] = c.place(Workload("cpu", 0, 0, cpu_milli=12_000)).node
    assert chosen == {"fgd": "n0", "fgd_fill": "n1"}


def test_cli_runs_a_variant_without_the_paper_column(tmp_path):
    nodes, pods = tmp_path / "nodes.csv", tmp_path / "pods.csv"
    nodes.write_text(
        "sn,cpu_milli,memory_mib,gpu,model\n" + "".join(f"node-{i},96000,393216,8,G2\n" for i in range(6))
    )
    rows = "".join(f"{p.name},{p.cpu_milli},{p.memory_mib},{p.num_gpu},{p.gpu_milli},\n" for p in _pods())
    pods.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n" + rows)
    cmd = [
        sys.executable,
        "-m",
        "gpuplane",
        "simulate",
        "placement",
        "--nodes",
        str(nodes),
        "--pods",
        str(pods),
    ]
    cmd += ["--seeds", "1", "--variant", "gpushare:60", "--policies", "fgd", "fgd_fill", "--no-progress"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "variant gpushare:60" in out
    rows = {line.split()[0]: line for line in out.splitlines()[3:]}
    assert set(rows) == {"fgd", "fgd_fill"} and "95.39" not in rows["fgd"]
