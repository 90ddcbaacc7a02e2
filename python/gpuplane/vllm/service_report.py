"""What ``gpuplane.vllm.Scheduler`` pushes back to the gpuplane service it pulled its policy
from (``GPUPLANE_SERVICE``): the engine registers as a replica (``RegisterReplica``) when it
starts and reports its load every ``GPUPLANE_REPORT_S`` seconds (default 1) and when it shuts
down (``ReportLoad``): waiting and running requests, KV usage, the weighted tokens the
core served each tenant (``tenant_service``, ``w_in * input + w_out * output``) and each
tenant's requests waiting in the core (``tenant_waiting``, those with any), which the service's
router weighs when it routes that tenant's next request. The replica id is
``GPUPLANE_REPLICA_ID`` (default ``vllm-HOST-PID``).

No ``reflects_dispatch`` is sent: a request reaches the engine without the service's Route
dispatch number, so a report cannot say which dispatches it includes, and the service counts
every dispatch so far as reported (the field's meaning when absent).

Reports go out from a background thread, so the engine's step never waits on the network; a
report that fails is logged and the next one carries the figures again (they are totals).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from gpuplane.errors import InvalidRequest

logger = logging.getLogger("gpuplane.vllm")
REPLICA_ENV = "GPUPLANE_REPLICA_ID"
INTERVAL_ENV = "GPUPLANE_REPORT_S"
DEFAULT_INTERVAL_S = 1.0


@dataclass(frozen=True)
class EngineLoad:
    """One report: the engine's queues, KV usage, and per tenant the weighted tokens served
    and the requests waiting."""

    waiting: int
    running: int
    kv_usage: float
    tenant_service: dict[str, float] = field(default_factory=dict)
    tenant_waiting: dict[str, int] = field(default_factory=dict)


def replica_id() -> str:
    """``GPUPLANE_REPLICA_ID``, or ``vllm-HOST-PID``."""
    return os.environ.get(REPLICA_ENV) or f"vllm-{socket.gethostname()}-{os.getpid()}"


def report_interval() -> float:
    """``GPUPLANE_REPORT_S`` in seconds (positive, finite); ``InvalidRequest`` naming it."""
    text = os.environ.get(INTERVAL_ENV)
    if not text:
        return DEFAULT_INTERVAL_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InvalidRequest(
            f"{INTERVAL_ENV}: must be a positive number of seconds, got {text!r}", INTERVAL_ENV
        )
    return value


class ServiceReporter:
    """Registers one engine with the service and pushes ``load()`` to it until ``stop()``."""

    def __init__(
        self, target: str, token: str | None, load: Callable[[], EngineLoad], *, model: str = ""
    ) -> None:
        from gpuplane.client import Client  # the gRPC client only where a service is named

        self.replica_id = replica_id()
        self.interval_s = report_interval()
        self._load = load
        self._client = Client(target, token=token)
        self._client.register_replica(self.replica_id, model=model)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpuplane-report", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.report()

    def report(self) -> bool:
        """Pushes the current load once; False (logged) when the service did not take it."""
        load = self._load()
        try:
            self._client.report_load(
                self.replica_id,
                waiting=load.waiting,
                running=load.running,
                kv_usage=load.kv_usage,
                tenant_service=load.tenant_service,
                tenant_waiting=load.tenant_waiting,
            )
        except Exception as e:  # the engine goes on serving; the next report carries the totals
            logger.warning("gpuplane.vllm: load report to the service failed: %s", e)
            return False
        return True

    def stop(self) -> None:
        """Stops the reports after a last one, and closes the connection."""
        self._stop.set()
        self._thread.join()
        self.report()
        self._client.close()

    def __repr__(self) -> str:
        return f"ServiceReporter(replica_id={self.replica_id!r}, interval_s={self.interval_s})"


def start_reporting(load: Callable[[], EngineLoad], model: str = "") -> ServiceReporter | None:
    """A ``ServiceReporter`` to ``GPUPLANE_SERVICE`` (with ``GPUPLANE_TOKEN``), None without one."""
    from gpuplane.vllm.service_policy import SERVICE_ENV, TOKEN_ENV

    target = os.environ.get(SERVICE_ENV)
    if not target:
        return None
    return ServiceReporter(target, os.environ.get(TOKEN_ENV), load, model=model)
