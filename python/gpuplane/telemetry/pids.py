"""Which GPU processes gpuplane placed: those started with ``GPUPLANE_WORKLOAD_ID`` in their
environment.

Whatever launches a placed workload (a runtime integration, a job script) exports
``GPUPLANE_WORKLOAD_ID=<workload id>`` next to ``CUDA_VISIBLE_DEVICES``; the memory of such
processes is already accounted for by their placements, so it is not external usage. The
environment is read from ``/proc/PID/environ``; a process whose environment cannot be read
(another user's without privileges, a vanished one) counts as not placed, so that the core
never sees more free memory than there is.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

WORKLOAD_ENV = b"GPUPLANE_WORKLOAD_ID="

# Which of the given PIDs gpuplane placed.
PidFilter = Callable[[Collection[int]], Collection[int]]


def workload_of(pid: int, proc: Path = Path("/proc")) -> str | None:
    """The ``GPUPLANE_WORKLOAD_ID`` of a process, or ``None`` (unset or unreadable)."""
    try:
        environ = (proc / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    for entry in environ.split(b"\0"):
        if entry.startswith(WORKLOAD_ENV):
            return entry[len(WORKLOAD_ENV) :].decode(errors="replace") or None
    return None


def placed_by_environ(pids: Collection[int]) -> set[int]:
    """The PIDs among ``pids`` whose process carries ``GPUPLANE_WORKLOAD_ID``."""
    return {pid for pid in pids if workload_of(pid) is not None}


def none_placed(pids: Collection[int]) -> set[int]:
    """No process was placed by gpuplane (every process's memory is external)."""
    return set()
