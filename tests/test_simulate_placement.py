"""``gpuplane simulate placement``: the FGD artifact's protocol and the paper's baselines."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import gpuplane as g
import pytest
from gpuplane.errors import InvalidRequest
from gpuplane.simulate.placement import artifact_arrival_order, replay, typical_distribution
from gpuplane.simulate.synthetic import synthetic_nodes, synthetic_pods
from gpuplane.traces.openb import OpenbPod


def _pod(name: str, num_gpu: int, milli: int, cpu: int = 1000) -> OpenbPod:
    return OpenbPod(name, cpu, 1024, num_gpu, milli, ())


def test_artifact_arrivals_are_every_pod_once_then_draws_until_the_target():
    pods = [_pod(f"p{i}", 1, 500) for i in range(10)]  # 5 GPUs requested in all
    order = artifact_arrival_order(pods, capacity_gpus=5.0, target=1.3, seed=4)
    assert sorted(order[:10]) == list(range(10)), "every pod arrives once first"
    requested = [0.5 * k for k in range(1, len(order) + 1)]
    assert requested[-1] >= 6.5 > requested[-2], "draws stop as soon as 130 % is requested"
    assert order == artifact_arrival_order(pods, 5.0, 1.3, 4)
    assert order[:10] != artifact_arrival_order(pods, 5.0, 1.3, 5)[:10]


def test_artifact_arrivals_start_from_pods_sorted_by_name():
    """The shuffle permutes the name order, so the file order does not matter."""
    pods = [_pod(f"p{i}", 1, 1000) for i in range(8)]
    names = [pods[i].name for i in artifact_arrival_order(pods, 8.0, 1.0, 0)]
    flipped = list(reversed(pods))
    assert [flipped[i].name for i in artifact_arrival_order(flipped, 8.0, 1.0, 0)] == names


def test_typical_pods_cover_95_percent_with_cpu_only_pods_included():
    pods = [_pod(f"a{i}", 1, 1000) for i in range(70)]
    pods += [_pod(f"c{i}", 0, 0) for i in range(26)]
    pods += [_pod(f"b{i}", 8, 1000) for i in range(4)]
    shapes = typical_distribution(pods)
    assert [(w.gpu_count, w.compute_milli, n) for w, n in shapes] == [(1, 1000, 70.0), (0, 0, 26.0)]
    everything = typical_distribution(pods, coverage=1.0)
    assert Counter(w.gpu_count for w, _ in everything) == Counter({1: 1, 0: 1, 8: 1})


def test_scoring_modes_and_the_paper_baselines_through_python():
    for policy in ("dotprod", "clustering"):
        for scoring in ("native", "artifact"):
            c = g.Cluster(policy, 0, scoring)
            assert (c.policy, c.scoring) == (policy, scoring)
            c.add_node("n0", [g.GpuSpec("T4", 16_384)] * 2, cpu_milli=64_000, memory_mib=1 << 20)
            p = c.place(g.Workload("w", memory_mib=0, gpu_count=1, compute_milli=500, cpu_milli=1000))
            assert p.reason.startswith(policy), p.reason
    with pytest.raises(InvalidRequest) as e:
        g.Cluster("fgd", 0, "exact")
    assert e.value.field == "scoring" and "exact" in str(e.value)


def test_replay_under_the_artifact_protocol_is_deterministic_and_scored_as_the_artifact():
    nodes, pods = synthetic_nodes(24, 16), synthetic_pods(300)
    a = replay(nodes, pods, "fgd", 1, protocol="artifact")
    b = replay(nodes, pods, "fgd", 1, protocol="artifact")
    assert (a.allocation_ratio, a.placed) == (b.allocation_ratio, b.placed)
    assert a.requested_gpus >= 1.3 * a.capacity_gpus
    assert a.arrived > len(pods), "the draws are appended to every pod"
    with pytest.raises(InvalidRequest) as e:
        replay(nodes, pods, "fgd", 1, protocol="paper")
    assert e.value.field == "protocol"


def test_artifact_ties_first_or_random_as_kubernetes_draws_them():
    nodes, pods = synthetic_nodes(24, 16), synthetic_pods(300)
    assert g.Cluster("best_fit", 0, "kubernetes").scoring == "kubernetes"
    first = [replay(nodes, pods, "best_fit", s, protocol="artifact").allocation_ratio for s in range(3)]
    drawn = [
        replay(nodes, pods, "best_fit", s, protocol="artifact", ties="random").allocation_ratio
        for s in range(3)
    ]
    assert drawn != first, "equal best_fit scores are common, so drawing them changes placements"
    again = replay(nodes, pods, "best_fit", 0, protocol="artifact", ties="random")
    assert again.allocation_ratio == drawn[0], "the draw is seeded"
    with pytest.raises(InvalidRequest) as e:
        replay(nodes, pods, "fgd", 1, protocol="artifact", ties="smallest")
    assert e.value.field == "ties"


def test_cli_prints_the_artifact_table_beside_the_paper(tmp_path):
    nodes, pods = tmp_path / "nodes.csv", tmp_path / "pods.csv"
    nodes.write_text(
        "sn,cpu_milli,memory_mib,gpu,model\n"
        + "".join(f"node-{i},96000,393216,{8 if i % 2 else 2},G2\n" for i in range(12))
    )
    rows = [(f"pod-{i}", 4000, 8192, *((1, 470) if i % 3 else (1, 1000))) for i in range(90)]
    rows += [(f"cpu-{i}", 8000, 8192, 0, 0) for i in range(10)]
    pods.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n"
        + "".join(f"{n},{c},{m},{k},{milli},\n" for n, c, m, k, milli in rows)
    )
    cmd = [sys.executable, "-m", "gpuplane", "simulate", "placement", "--nodes", str(nodes)]
    cmd += ["--pods", str(pods), "--seeds", "2", "--protocol", "artifact", "--no-progress"]
    cmd += ["--policies", "random", "dotprod", "clustering", "packing", "best_fit", "fgd"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "the FGD artifact's protocol" in out
    rows = {line.split()[0]: line for line in out.splitlines()[3:]}
    assert set(rows) == {"random", "dotprod", "clustering", "packing", "best_fit", "fgd"}
    assert "90.85 %" in rows["dotprod"] and "91.88 %" in rows["clustering"]
