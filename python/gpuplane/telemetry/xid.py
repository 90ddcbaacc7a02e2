"""Which NVML health events are critical: a critical event drains the GPU.

As in NVIDIA's Kubernetes device plugin, Xids caused by an application (a bad kernel, a page
fault, a reset channel) leave the GPU usable; every other Xid, and any double-bit ECC error,
marks it unhealthy.
"""

from __future__ import annotations

# Xids that report an application's fault, not the GPU's: 13 graphics engine exception,
# 31 GPU memory page fault, 43 GPU stopped processing, 45 preemptive cleanup, 68 video
# processor exception, 109 context switch timeout.
APPLICATION_XIDS = frozenset({13, 31, 43, 45, 68, 109})

# nvmlEventType bits (pynvml's nvmlEventType* constants, repeated so this module needs no driver).
SINGLE_BIT_ECC = 0x1
DOUBLE_BIT_ECC = 0x2
XID_CRITICAL = 0x8

WATCHED_EVENTS = XID_CRITICAL | DOUBLE_BIT_ECC


def is_critical(event_type: int, data: int) -> bool:
    """Whether an NVML event of ``event_type`` with ``data`` (the Xid for Xid events) means the
    GPU must be drained."""
    if event_type & DOUBLE_BIT_ECC:
        return True
    if event_type & XID_CRITICAL:
        return data not in APPLICATION_XIDS
    return False


def describe(event_type: int, data: int) -> str:
    """A short human description of an NVML event."""
    if event_type & XID_CRITICAL:
        kind = "application error" if data in APPLICATION_XIDS else "critical error"
        return f"Xid {data} ({kind})"
    if event_type & DOUBLE_BIT_ECC:
        return "double-bit ECC error"
    return f"NVML event 0x{event_type:x}"
