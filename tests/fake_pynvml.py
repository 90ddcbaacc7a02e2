"""A faithful fake of nvidia-ml-py's ``pynvml`` module, for testing the NVML code path without a GPU.

It has the functions gpuplane calls with the real signatures, the real error hierarchy (one
``NVMLError_*`` subclass per ``NVML_ERROR_*`` code, built the way pynvml builds it, so that
``NVMLError(NVML_ERROR_TIMEOUT)`` is an ``NVMLError_Timeout`` with ``.value == 10``) and return
values with the real struct field names (``.total/.free/.used``, ``.gpu/.memory``,
``.pid/.usedGpuMemory``, ``.busId``, ``.device/.eventType/.eventData``). Like the real library,
every device call before ``nvmlInit`` (or after the last ``nvmlShutdown``) raises
``NVMLError_Uninitialized``, and a missing driver makes ``nvmlInit`` raise
``NVMLError_LibraryNotFound`` or ``NVMLError_DriverNotLoaded``.

``test_nvml.py`` checks the names, signatures, codes and fields against the real module.

Tests describe the host with ``install([FakeGpu(...)], driver=...)`` and change it while it runs
(``gpu.processes``, ``gpu.lost``, ``inject_event``).
"""

from __future__ import annotations

import string
import sys
import threading
from dataclasses import dataclass, field

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_IRQ_ISSUE = 11
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_CORRUPTED_INFOROM = 14
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_OPERATING_SYSTEM = 17
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_IN_USE = 19
NVML_ERROR_MEMORY = 20
NVML_ERROR_NO_DATA = 21
NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22
NVML_ERROR_INSUFFICIENT_RESOURCES = 23
NVML_ERROR_FREQ_NOT_SUPPORTED = 24
NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25
NVML_ERROR_DEPRECATED = 26
NVML_ERROR_NOT_READY = 27
NVML_ERROR_GPU_NOT_FOUND = 28
NVML_ERROR_INVALID_STATE = 29
NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30
NVML_ERROR_UNKNOWN = 999

NVML_FEATURE_DISABLED = 0
NVML_FEATURE_ENABLED = 1
NVML_NVLINK_MAX_LINKS = 36

nvmlEventTypeSingleBitEccError = 0x0000000000000001
nvmlEventTypeDoubleBitEccError = 0x0000000000000002
nvmlEventTypePState = 0x0000000000000004
nvmlEventTypeXidCriticalError = 0x0000000000000008
nvmlEventTypeClock = 0x0000000000000010
nvmlEventTypeNone = 0x0000000000000000


class NVMLError(Exception):
    """pynvml's base error: ``NVMLError(code)`` builds the subclass of that code."""

    _valClassMapping: dict[int, type] = {}  # noqa: RUF012 - as in pynvml

    def __new__(cls, value):
        if cls == NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __str__(self):
        return f"NVML Error with code {self.value}"

    def __eq__(self, other):
        return self.value == other.value

    __hash__ = Exception.__hash__


def _extract_errors_as_classes() -> None:
    """``NVML_ERROR_GPU_IS_LOST`` -> ``NVMLError_GpuIsLost``, exactly as pynvml names them."""
    module = sys.modules[__name__]
    for err_name in [x for x in dir(module) if x.startswith("NVML_ERROR_")]:
        class_name = "NVMLError_" + string.capwords(err_name.replace("NVML_ERROR_", ""), "_").replace("_", "")
        value = getattr(module, err_name)

        def gen_new(val):
            def new(typ, *args):
                return NVMLError.__new__(typ, val)

            return new

        cls = type(class_name, (NVMLError,), {"__new__": gen_new(value)})
        cls.__module__ = __name__
        setattr(module, class_name, cls)
        NVMLError._valClassMapping[value] = cls


_extract_errors_as_classes()


class _Struct:
    """A ctypes structure's stand-in: the same field names, set from keywords."""

    _fields_: tuple[str, ...] = ()

    def __init__(self, **values):
        for name in self._fields_:
            setattr(self, name, values.get(name, 0))


class c_nvmlMemory_t(_Struct):
    _fields_ = ("total", "free", "used")


class c_nvmlUtilization_t(_Struct):
    _fields_ = ("gpu", "memory")


class c_nvmlProcessInfo_t(_Struct):
    _fields_ = ("pid", "usedGpuMemory", "gpuInstanceId", "computeInstanceId")


class nvmlPciInfo_t(_Struct):
    _fields_ = ("busIdLegacy", "domain", "bus", "device", "pciDeviceId", "pciSubSystemId", "busId")


class c_nvmlEventData_t(_Struct):
    _fields_ = ("device", "eventType", "eventData", "gpuInstanceId", "computeInstanceId")


class c_nvmlDevice_t:
    """An opaque device handle, as NVML returns."""

    def __init__(self, gpu: FakeGpu):
        self._gpu = gpu


class c_nvmlEventSet_t:
    """An opaque event set."""

    def __init__(self):
        self.registered: dict[int, int] = {}
        self.freed = False


@dataclass
class FakeGpu:
    """One simulated GPU. ``processes`` maps pid -> bytes used (``None``: not available);
    ``reserved`` is the driver's own use; ``nvlink_peers`` are the PCI bus ids at the far end of
    its active links (peer GPUs or NVSwitches)."""

    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    total: int = 81559 * 1024 * 1024
    reserved: int = 512 * 1024 * 1024
    processes: dict[int, int | None] = field(default_factory=dict)
    graphics_processes: dict[int, int | None] = field(default_factory=dict)
    utilization: tuple[int, int] = (0, 0)
    bus_id: str = "00000000:00:00.0"
    nvlink_peers: tuple[str, ...] = ()
    supported_events: int = nvmlEventTypeXidCriticalError | nvmlEventTypeDoubleBitEccError
    lost: bool = False

    @property
    def used(self) -> int:
        """Bytes in use: the driver's reservation plus every process's known usage."""
        both = [*self.processes.values(), *self.graphics_processes.values()]
        return min(self.total, self.reserved + sum(b or 0 for b in both))


class _Host:
    """The simulated machine: its driver state, GPUs and pending events."""

    def __init__(self, gpus: list[FakeGpu], driver: str | None):
        self.gpus = gpus
        self.driver = driver
        self.refcount = 0
        self.cond = threading.Condition()
        self.events: list[tuple[int, int, int]] = []
        self.sets: list[c_nvmlEventSet_t] = []
        self.handles = [c_nvmlDevice_t(g) for g in gpus]


_host = _Host([], driver="ok")

NO_DRIVER = {"library": NVML_ERROR_LIBRARY_NOT_FOUND, "module": NVML_ERROR_DRIVER_NOT_LOADED}


def install(gpus: list[FakeGpu], driver: str | None = "ok") -> None:
    """Sets up the simulated host. ``driver``: ``"ok"``, ``"library"`` (libnvidia-ml.so missing)
    or ``"module"`` (kernel driver not loaded)."""
    global _host
    _host = _Host(list(gpus), driver)


def inject_event(gpu_index: int, event_type: int, data: int) -> None:
    """Raises an event on a GPU, as the driver would (delivered to sets registered for it)."""
    with _host.cond:
        _host.events.append((gpu_index, event_type, data))
        _host.cond.notify_all()


def initialized() -> bool:
    """Whether NVML is initialized (tests check that sessions shut it down)."""
    return _host.refcount > 0


def _check(code: int) -> None:
    if code != NVML_SUCCESS:
        raise NVMLError(code)


def _require_init() -> None:
    if _host.refcount == 0:
        _check(NVML_ERROR_UNINITIALIZED)


def _gpu(handle: c_nvmlDevice_t) -> FakeGpu:
    _require_init()
    if not isinstance(handle, c_nvmlDevice_t) or handle._gpu not in _host.gpus:
        _check(NVML_ERROR_INVALID_ARGUMENT)
    if handle._gpu.lost:
        _check(NVML_ERROR_GPU_IS_LOST)
    return handle._gpu


def nvmlInit():
    if _host.driver != "ok":
        _check(NO_DRIVER[_host.driver])
    _host.refcount += 1


def nvmlShutdown():
    _require_init()
    _host.refcount -= 1


def nvmlDeviceGetCount():
    _require_init()
    return len(_host.gpus)


def nvmlDeviceGetHandleByIndex(index):
    _require_init()
    if not 0 <= index < len(_host.gpus):
        _check(NVML_ERROR_INVALID_ARGUMENT)
    return _host.handles[index]


def nvmlDeviceGetUUID(handle):
    return _gpu(handle).uuid


def nvmlDeviceGetName(handle):
    return _gpu(handle).name


def nvmlDeviceGetMemoryInfo(handle, version=None):
    gpu = _gpu(handle)
    return c_nvmlMemory_t(total=gpu.total, used=gpu.used, free=gpu.total - gpu.used)


def nvmlDeviceGetUtilizationRates(handle):
    gpu = _gpu(handle)
    return c_nvmlUtilization_t(gpu=gpu.utilization[0], memory=gpu.utilization[1])


def _process_list(found: dict[int, int | None]) -> list[c_nvmlProcessInfo_t]:
    return [c_nvmlProcessInfo_t(pid=pid, usedGpuMemory=used) for pid, used in found.items()]


def nvmlDeviceGetComputeRunningProcesses(handle):
    return _process_list(_gpu(handle).processes)


def nvmlDeviceGetGraphicsRunningProcesses(handle):
    return _process_list(_gpu(handle).graphics_processes)


def nvmlDeviceGetPciInfo(handle):
    bus_id = _gpu(handle).bus_id.encode()
    return nvmlPciInfo_t(busId=bus_id, busIdLegacy=bus_id)


def nvmlDeviceGetNvLinkState(device, link):
    gpu = _gpu(device)
    if not gpu.nvlink_peers:
        _check(NVML_ERROR_NOT_SUPPORTED)
    if not 0 <= link < NVML_NVLINK_MAX_LINKS:
        _check(NVML_ERROR_INVALID_ARGUMENT)
    return NVML_FEATURE_ENABLED if link < len(gpu.nvlink_peers) else NVML_FEATURE_DISABLED


def nvmlDeviceGetNvLinkRemotePciInfo(device, link):
    gpu = _gpu(device)
    if nvmlDeviceGetNvLinkState(device, link) != NVML_FEATURE_ENABLED:
        _check(NVML_ERROR_INVALID_ARGUMENT)
    return nvmlPciInfo_t(busId=gpu.nvlink_peers[link].encode())


def nvmlDeviceGetSupportedEventTypes(handle):
    return _gpu(handle).supported_events


def nvmlEventSetCreate():
    _require_init()
    event_set = c_nvmlEventSet_t()
    _host.sets.append(event_set)
    return event_set


def nvmlDeviceRegisterEvents(handle, eventTypes, eventSet):
    gpu = _gpu(handle)
    if eventTypes & ~gpu.supported_events:
        _check(NVML_ERROR_NOT_SUPPORTED)
    index = _host.gpus.index(gpu)
    eventSet.registered[index] = eventSet.registered.get(index, 0) | eventTypes


def _take_event(event_set: c_nvmlEventSet_t) -> c_nvmlEventData_t | None:
    for i, (index, event_type, data) in enumerate(_host.events):
        if event_set.registered.get(index, 0) & event_type:
            del _host.events[i]
            return c_nvmlEventData_t(device=_host.handles[index], eventType=event_type, eventData=data)
    return None


def nvmlEventSetWait(eventSet, timeoutms):
    _require_init()
    if eventSet.freed:
        _check(NVML_ERROR_INVALID_ARGUMENT)
    with _host.cond:
        found = _host.cond.wait_for(lambda: _take_event(eventSet), timeoutms / 1000)
        if not found:
            _check(NVML_ERROR_TIMEOUT)
        return found


def nvmlEventSetFree(eventSet):
    _require_init()
    eventSet.freed = True
