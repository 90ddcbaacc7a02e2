"""The NVML code path (``gpuplane.telemetry``) against a faithful fake of pynvml, and the fake
against the real module."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import fake_pynvml as fake
import pytest
from gpuplane import Cluster, Workload
from gpuplane.telemetry import Feeder, Nvml, discover, discover_host
from gpuplane.telemetry.gpu_names import normalize_model
from gpuplane.telemetry.pids import none_placed, placed_by_environ, workload_of
from gpuplane.telemetry.types import GpuSample, HealthEvent, ProcessUsage

MIB = 1024 * 1024
H100 = 81559


def h100(i: int, **kw) -> fake.FakeGpu:
    """An H100 SXM GPU at PCI bus i, linked to two NVSwitches."""
    kw.setdefault("nvlink_peers", ("00000000:A0:00.0", "00000000:A1:00.0"))
    return fake.FakeGpu(uuid=f"GPU-{i:08x}", bus_id=f"00000000:{0x18 + i:02X}:00.0", **kw)


@pytest.fixture
def host():
    """A host with four H100s (installed as ``sys.modules['pynvml']``)."""
    gpus = [h100(i) for i in range(4)]
    fake.install(gpus)
    saved = sys.modules.get("pynvml")
    sys.modules["pynvml"] = fake
    yield gpus
    if saved is None:
        sys.modules.pop("pynvml", None)
    else:
        sys.modules["pynvml"] = saved
    assert not fake.initialized(), "an NVML session was left open"


# --- the fake is faithful ------------------------------------------------------------------


def real_pynvml():
    return pytest.importorskip("pynvml")


FAKED_FUNCTIONS = [n for n, f in vars(fake).items() if n.startswith("nvml") and inspect.isfunction(f)]


@pytest.mark.parametrize("name", FAKED_FUNCTIONS)
def test_fake_functions_have_the_real_signatures(name):
    real = getattr(real_pynvml(), name)
    assert list(inspect.signature(getattr(fake, name)).parameters) == list(inspect.signature(real).parameters)


def test_fake_errors_are_the_real_hierarchy():
    real = real_pynvml()
    real_classes = {n for n in dir(real) if n.startswith("NVMLError_")}
    assert real_classes == {n for n in dir(fake) if n.startswith("NVMLError_")}
    for name in [n for n in dir(real) if n.startswith("NVML_ERROR_")]:
        code = getattr(real, name)
        assert getattr(fake, name) == code
        assert type(fake.NVMLError(code)).__name__ == type(real.NVMLError(code)).__name__
        assert fake.NVMLError(code).value == code
    assert isinstance(fake.NVMLError(fake.NVML_ERROR_TIMEOUT), fake.NVMLError_Timeout)


def test_fake_structs_and_constants_match():
    real = real_pynvml()
    for struct in ("c_nvmlMemory_t", "c_nvmlUtilization_t", "c_nvmlEventData_t", "nvmlPciInfo_t"):
        real_fields = {f[0] for f in getattr(real, struct)._fields_}
        assert set(getattr(fake, struct)._fields_) <= real_fields, struct
    assert set(fake.c_nvmlProcessInfo_t._fields_) == {f[0] for f in real.c_nvmlProcessInfo_v2_t._fields_}
    for const in ("NVML_FEATURE_ENABLED", "NVML_NVLINK_MAX_LINKS", "nvmlEventTypeXidCriticalError"):
        assert getattr(fake, const) == getattr(real, const)


def test_fake_requires_init_like_the_real_library():
    fake.install([h100(0)])
    with pytest.raises(fake.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()


# --- discovery -------------------------------------------------------------------------------


def test_discover_reads_uuid_model_memory_and_nvlink_group(host):
    inventory = discover_host(node="gpu-host-1")
    assert inventory is not None
    assert inventory.node == "gpu-host-1"
    assert [g.id for g in inventory.gpus] == [g.uuid for g in host]
    assert {g.model for g in inventory.gpus} == {"H100-80GB"}
    assert {g.memory_mib for g in inventory.gpus} == {H100}
    assert len({g.topology_group for g in inventory.gpus}) == 1  # one NVSwitch fabric


def test_discover_groups_direct_links_and_leaves_pcie_gpus_ungrouped():
    a, b = "00000000:01:00.0", "00000000:02:00.0"
    fake.install(
        [
            fake.FakeGpu("GPU-a", bus_id=a, nvlink_peers=(b, b)),
            fake.FakeGpu("GPU-b", bus_id=b, nvlink_peers=(a, a)),
            fake.FakeGpu("GPU-c", name="NVIDIA L4", total=23034 * MIB, bus_id="00000000:03:00.0"),
        ]
    )
    inventory = discover_host(fake, node="n")
    groups = [g.topology_group for g in inventory.gpus]
    assert groups[0] == groups[1] is not None
    assert groups[2] is None
    assert inventory.gpus[2].model == "L4-24GB"


def test_discovered_inventory_registers_in_a_cluster(host):
    [node] = discover(node="n1")
    cluster = Cluster()
    cluster.add_node(node.name, node.gpus)
    assert sorted(cluster.gpu_ids()) == sorted(g.uuid for g in host)
    assert cluster.place(Workload("w", 40_000, 4)).node == "n1"


@pytest.mark.parametrize(
    ("name", "mib", "model"),
    [
        ("NVIDIA H100 80GB HBM3", 81559, "H100-80GB"),
        ("NVIDIA A100-SXM4-40GB", 40960, "A100-40GB"),
        ("NVIDIA A100 80GB PCIe", 81920, "A100-80GB"),
        ("NVIDIA H200", 143771, "H200-141GB"),
        ("Tesla T4", 15360, "T4-16GB"),
        ("NVIDIA GeForce RTX 4090", 24564, "RTX-4090-24GB"),
        ("Tesla V100-SXM2-32GB", 32768, "V100-32GB"),
    ],
)
def test_model_names_are_normalized(name, mib, model):
    assert normalize_model(name, mib) == model


# --- no driver -------------------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["library", "module"])
def test_no_driver_means_no_inventory(driver):
    fake.install([h100(0)], driver=driver)
    assert discover(fake) is None
    assert Nvml.open(fake) is None


def test_real_pynvml_without_a_driver_returns_none():
    real = real_pynvml()
    try:
        real.nvmlInit()
    except real.NVMLError:
        assert discover(real) is None
    else:
        real.nvmlShutdown()
        assert discover(real)  # a machine with a driver: it finds the GPUs


def test_a_missing_nvidia_ml_py_means_no_inventory(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    assert discover() is None


# --- sampling and external usage ---------------------------------------------------------------


def test_sample_reports_memory_utilization_and_processes(host):
    host[0].processes = {100: 20_000 * MIB, 200: 1_000 * MIB}
    host[0].graphics_processes = {200: 1_000 * MIB}
    host[0].utilization = (87, 40)
    with Nvml.open(node="n") as nvml:
        gpu = nvml.sample().gpus[0]
    assert gpu.memory_total_mib == H100
    assert gpu.memory_used_mib == 512 + 22_000
    assert gpu.memory_free_mib == H100 - gpu.memory_used_mib
    assert (gpu.utilization_gpu, gpu.utilization_memory) == (87, 40)
    assert gpu.processes == (ProcessUsage(100, 20_000), ProcessUsage(200, 1_000))
    assert gpu.healthy


def test_external_usage_excludes_only_placed_processes(host):
    host[1].processes = {100: 30_000 * MIB, 300: 5_000 * MIB}
    with Nvml.open(node="n") as nvml:
        gpu = nvml.sample().gpus[1]
    assert gpu.external_mib(placed_pids={100}) == 512 + 5_000
    assert gpu.external_mib(placed_pids=set()) == 512 + 35_000
    assert gpu.external_mib(placed_pids={100, 300}) == 512


def test_a_placed_process_of_unknown_usage_counts_as_external():
    gpu = GpuSample("g", 1000, 600, 400, None, None, (ProcessUsage(7, None),))
    assert gpu.external_mib({7}) == 600


def test_feeder_sets_external_usage_in_the_cluster(host):
    host[0].processes = {100: 40_000 * MIB, 999: 10_000 * MIB}
    with Nvml.open(node="n") as nvml:
        inventory = nvml.discover()
        cluster = Cluster()
        cluster.add_node("n", inventory.specs())
        placed = cluster.place(Workload("mine", 40_000, 1), policy="first_fit")
        assert placed.gpu_ids == (host[0].uuid,)
        Feeder(cluster, placed_pids=lambda pids: {100} & pids).apply_sample(nvml.sample())
    stats = {g.id: g for g in cluster.stats().gpus}
    assert stats[host[0].uuid].memory_external_mib == 512 + 10_000
    assert stats[host[0].uuid].memory_free_mib == H100 - 40_000 - 10_512
    assert stats[host[1].uuid].memory_external_mib == 512


def test_a_lost_gpu_is_sampled_unhealthy_and_drained(host):
    with Nvml.open(node="n") as nvml:
        cluster = Cluster()
        cluster.add_node("n", nvml.discover().specs())
        cluster.place(Workload("w", 1000, 1), policy="first_fit")
        host[0].lost = True
        sample = nvml.sample()
        assert not sample.gpus[0].healthy and sample.gpus[1].healthy
        assert Feeder(cluster, placed_pids=none_placed).apply_sample(sample) == ["w"]
    assert not {g.id: g for g in cluster.stats().gpus}[host[0].uuid].healthy


# --- Xid events --------------------------------------------------------------------------------


def test_critical_xid_drains_the_gpu_and_displaces_its_workloads(host):
    with Nvml.open(node="n") as nvml:
        cluster = Cluster()
        cluster.add_node("n", nvml.discover().specs())
        on_2 = [cluster.place(Workload(f"w{i}", 30_000, 1), policy="first_fit") for i in range(6)]
        victims = sorted(p.workload_id for p in on_2 if p.gpu_ids == (host[2].uuid,))
        nvml.watch()
        fake.inject_event(2, fake.nvmlEventTypeXidCriticalError, 79)  # fallen off the bus
        event = nvml.wait_event(timeout_ms=5000)
        assert event == HealthEvent(
            host[2].uuid, fake.nvmlEventTypeXidCriticalError, 79, True, event.description
        )
        displaced = Feeder(cluster).apply_event(event)
    assert victims and sorted(displaced) == victims
    gpu = {g.id: g for g in cluster.stats().gpus}[host[2].uuid]
    assert not gpu.healthy and gpu.workloads == 0
    assert all(w not in cluster for w in victims)
    retry = cluster.place(Workload("again", 30_000, 1), policy="first_fit")
    assert host[2].uuid not in retry.gpu_ids


def test_application_xid_does_not_drain(host):
    with Nvml.open(node="n") as nvml:
        cluster = Cluster()
        cluster.add_node("n", nvml.discover().specs())
        fake.inject_event(0, fake.nvmlEventTypeXidCriticalError, 31)  # a page fault in an application
        event = nvml.wait_event(timeout_ms=5000)
        assert event.xid == 31 and not event.critical
        assert Feeder(cluster).apply_event(event) == []
    assert all(g.healthy for g in cluster.stats().gpus)


def test_double_bit_ecc_is_critical_and_no_event_times_out(host):
    with Nvml.open(node="n") as nvml:
        assert nvml.wait_event(timeout_ms=1) is None
        fake.inject_event(3, fake.nvmlEventTypeDoubleBitEccError, 0)
        event = nvml.wait_event(timeout_ms=5000)
    assert event.gpu_id == host[3].uuid and event.critical and event.xid is None


def test_events_of_unwatched_types_are_not_delivered(host):
    with Nvml.open(node="n") as nvml:
        fake.inject_event(0, fake.nvmlEventTypePState, 0)
        assert nvml.wait_event(timeout_ms=1) is None


def test_an_event_naming_no_gpu_drains_the_whole_node():
    cluster = Cluster()
    from gpuplane import GpuSpec

    cluster.add_node("n", [GpuSpec("H100-80GB", H100, id=f"g{i}") for i in range(2)])
    event = HealthEvent(None, fake.nvmlEventTypeXidCriticalError, 79, True)
    Feeder(cluster, node_gpus=["g0", "g1"]).apply_event(event)
    assert not any(g.healthy for g in cluster.stats().gpus)


# --- which processes gpuplane placed -----------------------------------------------------------


def test_placed_processes_are_those_started_with_a_workload_id():
    env = {k: v for k, v in os.environ.items() if k != "GPUPLANE_WORKLOAD_ID"}
    sleep = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    placed = subprocess.Popen(sleep, stdin=subprocess.PIPE, env={**env, "GPUPLANE_WORKLOAD_ID": "train-7"})
    other = subprocess.Popen(sleep, stdin=subprocess.PIPE, env=env)
    try:
        assert workload_of(placed.pid) == "train-7"
        assert workload_of(other.pid) is None
        assert placed_by_environ({placed.pid, other.pid, 2**22 + 1}) == {placed.pid}
    finally:
        for proc in (placed, other):
            proc.communicate(b"")
