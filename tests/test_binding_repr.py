"""The binding's one repr: each frozen value class writes ``Name(field=value, ...)`` with every
value as Python's ``repr`` writes it, so a value's repr is the expression that builds it."""

from __future__ import annotations

import gpuplane
import pytest
from gpuplane import BatchConfig, GpuSpec, Placement, PolicyConfig, PriorityClass, Quota, Request, Workload

VALUES = [
    GpuSpec("H100 'SXM'", 81_920, topology_group="nv\\link", id='gpu"0'),
    Workload(
        "w",
        1_000,
        2,
        tenant="it's",
        allowed_models=["A100", 'H100 "SXM"'],
        node_selector={"zone": "eu's"},
        preemptible=False,
        priority_class="high",
    ),
    Placement("w", "n0", ["n0/0"], 1_000, 0, "fgd", 1e-07, "why\nnot", "t"),
    BatchConfig(tenant_weights={"it's": 2.0, 'say "hi"': 0.5}, w_in=1e-06, preempt_priority_gap=3),
    Request(1, "t", 8, 2, arrival=1e-06, ttft_deadline=1e16, workflow=4, priority_class="high"),
    PolicyConfig(half_life_s=1e-05, gpu_prices={"H100": 2.5}),
    Quota({"gpus": 1.0}, {"gpus": 2.0}, {"gpus": 4.0, "tokens_per_s": 0.0}, over_quota_weight=0.5),
    PriorityClass("gold", 10, preemptible=False),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_a_values_repr_builds_it_again(value):
    assert eval(repr(value), vars(gpuplane)) == value


def test_floats_and_strings_read_as_python_writes_them():
    text = repr(Request(1, "t", 8, 2, arrival=1e-06, ttft_deadline=1e16))
    assert "arrival=1e-06" in text and "ttft_deadline=1e+16" in text
    assert repr(GpuSpec("it's", 1)).startswith('''GpuSpec(model="it's"''')
    assert "gpu_ids=('n0/0',)" in repr(VALUES[2])
