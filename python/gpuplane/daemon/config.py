"""``ServeConfig``: every option of ``gpuplane serve`` in one value, shared by the server, the
journal, the security layer (``auth.py``) and the metrics exporter (``metrics.py``)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from gpuplane._core import PolicyConfig

DEFAULT_LISTEN = "127.0.0.1:50151"
DEFAULT_SIMULATE = "1x8xH100-80GB"
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DEFAULT_MIN_RUNTIME_S = PolicyConfig().min_runtime_s  # the core's default
# Bounds on state a caller can grow (each a ``gpuplane serve`` flag).
DEFAULT_MAX_REPLICAS = 10_000
DEFAULT_MAX_REPLICAS_PER_TENANT = 1_000
DEFAULT_MAX_LOAD_ENTRIES = 1_024
DEFAULT_LIST_PAGE_SIZE = 500
DEFAULT_MAX_REASON_BYTES = 1_024

JOURNAL_SYNC_MODES = ("full", "normal")  # SQLite synchronous= modes the journal accepts


def default_state_dir() -> Path:
    """``$GPUPLANE_STATE_DIR``, else ``$XDG_STATE_HOME/gpuplane``, else ``~/.local/state/gpuplane``."""
    explicit = os.environ.get("GPUPLANE_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "gpuplane"


def host_of(listen: str) -> str:
    """The host part of ``HOST:PORT`` (``[::1]:50151`` -> ``::1``)."""
    host, _, _ = listen.rpartition(":")
    return host.strip("[]")


def is_loopback(listen: str) -> bool:
    """Whether ``listen`` binds only a loopback address (``localhost`` counts)."""
    host = host_of(listen)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeConfig:
    """All options of ``gpuplane serve``.

    Inventory: ``inventory`` (a YAML/JSON file) or ``simulate`` (``2x8xH100-80GB``) are used when
    NVML finds no driver; ``simulate`` defaults to ``1x8xH100-80GB``. Security (read by
    ``auth.py``): a loopback ``listen`` may run open; any other needs ``tls_cert``/``tls_key`` and
    tokens unless ``insecure``. ``tokens_file`` maps tokens to tenants (or ``admin``).

    Bounds (exceeding one is RESOURCE_EXHAUSTED or INVALID_ARGUMENT): ``max_replicas`` in all
    and ``max_replicas_per_tenant``; ``max_load_entries`` tenants or adapters in one load
    report; ``list_page_size`` replicas per ListReplicas page; ``max_reason_bytes`` of a reason.
    """

    listen: str = DEFAULT_LISTEN
    simulate: str | None = None
    inventory: Path | None = None
    use_nvml: bool = True
    state_dir: Path = field(default_factory=default_state_dir)
    journal_path: Path | None = None
    journal_sync: str = "full"
    policy: str = "fgd"
    seed: int = 0
    min_runtime_s: float = DEFAULT_MIN_RUNTIME_S  # the policy engine's: younger work is never preempted
    insecure: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    admin_token: str | None = None
    tokens_file: Path | None = None
    metrics_port: int | None = None
    http_port: int | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    compact_every: int = 10_000
    shutdown_grace_s: float = 10.0
    max_replicas: int = DEFAULT_MAX_REPLICAS
    max_replicas_per_tenant: int = DEFAULT_MAX_REPLICAS_PER_TENANT
    max_load_entries: int = DEFAULT_MAX_LOAD_ENTRIES
    list_page_size: int = DEFAULT_LIST_PAGE_SIZE
    max_reason_bytes: int = DEFAULT_MAX_REASON_BYTES

    @property
    def journal_file(self) -> Path:
        """The SQLite journal: ``journal_path`` if set, else ``state_dir/gpuplane.db``."""
        return self.journal_path or (self.state_dir / "gpuplane.db")

    @property
    def loopback(self) -> bool:
        """Whether the server binds only a loopback address."""
        return is_loopback(self.listen)

    @property
    def tls(self) -> bool:
        """Whether a server certificate is configured."""
        return self.tls_cert is not None and self.tls_key is not None
