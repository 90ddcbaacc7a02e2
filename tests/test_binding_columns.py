"""The binding's one column reader: every bulk call takes integer columns in any numpy layout
(strided, non-contiguous) and refuses float columns naming the column, never truncating."""

from __future__ import annotations

import gpuplane
import numpy as np
import pytest
from gpuplane import BatchConfig, BatchScheduler, Cluster, GpuSpec, InvalidRequest
from gpuplane._core import replay_cluster_json, simulate_llm_json


def cluster() -> Cluster:
    c = Cluster("first_fit")
    c.add_node("n0", [GpuSpec("H100", 81_920)] * 8)
    return c


def test_place_many_reads_non_contiguous_columns():
    memory = np.arange(1_000, 17_000, 1_000)[::2]  # a strided view: not contiguous
    assert not memory.flags["C_CONTIGUOUS"]
    placed, _, _ = cluster().place_many([f"w{i}" for i in range(8)], memory, np.ones(16, np.int32)[::2])
    assert placed.all()


def test_every_bulk_call_refuses_float_columns_naming_them():
    with pytest.raises(InvalidRequest) as e:
        cluster().place_many(["w"], np.array([1_000.5]), [1])
    assert e.value.field == "memory_mib"
    with pytest.raises(InvalidRequest) as e:
        simulate_llm_json(np.zeros(2), np.array([100.7, 200.2]), np.array([10, 10]))
    assert e.value.field == "prompt"
    with pytest.raises(InvalidRequest) as e:
        replay_cluster_json(cluster(), ["p"], np.array([1.5]), [1000], [0], [0], np.zeros(1), np.zeros(1))
    assert e.value.field == "gpu_count"
    with pytest.raises(InvalidRequest) as e:
        BatchScheduler(BatchConfig()).add_many(np.arange(2), np.array([8.5, 9.0]), np.array([4, 4]))
    assert e.value.field == "prompt_len"


def test_admission_outcome_and_resource_names_are_the_cores():
    p = gpuplane.Policy()
    with pytest.raises(InvalidRequest) as e:
        p.add_tenant("t", guaranteed={"gpu": 1.0})
    assert e.value.field == "quota.guaranteed.gpu"
    p.set_capacity(gpus=1.0)
    p.add_tenant("t", deserved={"gpus": 1.0}, limit={"gpus": 1.0})
    assert p.admit("a", "t", {"gpus": 1.0}, now=0.0).outcome == "admit"
    assert p.admit("b", "t", {"gpus": 2.0}, now=0.0).outcome == "reject"
