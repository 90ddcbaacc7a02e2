"""``gpuplane serve``: run the placement service."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from gpuplane.daemon.config import (
    DEFAULT_LIST_PAGE_SIZE,
    DEFAULT_LISTEN,
    DEFAULT_MAX_LOAD_ENTRIES,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_REASON_BYTES,
    DEFAULT_MAX_REPLICAS,
    DEFAULT_MAX_REPLICAS_PER_TENANT,
    DEFAULT_MIN_RUNTIME_S,
    JOURNAL_SYNC_MODES,
    ServeConfig,
    default_state_dir,
)
from gpuplane.daemon.tokens import ADMIN_TOKEN_ENV, TOKENS_FILE_ENV, read_secret


def register(commands: argparse._SubParsersAction) -> None:
    """Adds ``serve`` to the command line."""
    p = commands.add_parser(
        "serve",
        help="run the gRPC placement service",
        description="Serves placement, admission, routing and admin RPCs. GPUs come from NVML when a "
        "driver is present, else from --inventory, else from --simulate (default 1x8xH100-80GB).",
    )
    p.add_argument(
        "--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT (default {DEFAULT_LISTEN}; port 0: any)"
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--simulate", metavar="SPEC", help="simulated GPUs, e.g. 2x8xH100-80GB")
    source.add_argument("--inventory", type=Path, metavar="FILE", help="inventory file (YAML or JSON)")
    p.add_argument("--no-nvml", action="store_true", help="do not look for GPUs through NVML")
    p.add_argument(
        "--state-dir", type=Path, default=None, help=f"journal folder (default {default_state_dir()})"
    )
    p.add_argument("--journal", type=Path, default=None, help="journal file (default STATE_DIR/gpuplane.db)")
    p.add_argument(
        "--journal-sync",
        choices=JOURNAL_SYNC_MODES,
        default="full",
        help="full (default): every acknowledged call survives power loss; normal: survives a "
        "crash of the process, may lose the last calls on power loss, and syncs less often",
    )
    p.add_argument("--policy", default="fgd", help="placement policy (default fgd)")
    p.add_argument("--seed", type=int, default=0, help="seed of randomized policies")
    p.add_argument(
        "--min-runtime",
        type=float,
        default=DEFAULT_MIN_RUNTIME_S,
        help=f"seconds a workload runs before it may be preempted (default {DEFAULT_MIN_RUNTIME_S:g})",
    )
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback bind without TLS and tokens")
    p.add_argument("--tls-cert", type=Path, help="server certificate (PEM)")
    p.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    p.add_argument("--tls-client-ca", type=Path, help="require client certificates from this CA (PEM)")
    secret = p.add_mutually_exclusive_group()
    secret.add_argument(
        "--admin-token-file",
        type=Path,
        help=f"file holding the admin's bearer token (mode 0600); or set ${ADMIN_TOKEN_ENV}",
    )
    secret.add_argument(
        "--admin-token", help="the admin's bearer token (visible to local users in the process list)"
    )
    p.add_argument(
        "--tokens-file",
        type=Path,
        default=os.environ.get(TOKENS_FILE_ENV),
        help=f"tokens file (mode 0600): token -> tenant name, 'agent' or 'admin' (or ${TOKENS_FILE_ENV})",
    )
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument(
        "--http-port", type=int, help="serve the live web page on this port (same host, TLS and tokens)"
    )
    p.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES)
    p.add_argument("--compact-every", type=int, default=10_000, help="snapshot after this many operations")
    p.add_argument(
        "--shutdown-grace", type=float, default=10.0, help="seconds in-flight calls get on SIGTERM"
    )
    add_bounds(p)
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(run=run)


def add_bounds(p: argparse.ArgumentParser) -> None:
    """The flags bounding state callers can grow (exceeding one is refused with a message)."""
    bound = p.add_argument_group("bounds")
    bound.add_argument("--max-replicas", type=int, default=DEFAULT_MAX_REPLICAS, help="replicas in all")
    bound.add_argument(
        "--max-replicas-per-tenant", type=int, default=DEFAULT_MAX_REPLICAS_PER_TENANT, help="per tenant"
    )
    bound.add_argument(
        "--max-load-entries",
        type=int,
        default=DEFAULT_MAX_LOAD_ENTRIES,
        help="tenants (tenant_service) or adapters in one ReportLoad",
    )
    bound.add_argument(
        "--list-page-size", type=int, default=DEFAULT_LIST_PAGE_SIZE, help="replicas per ListReplicas page"
    )
    bound.add_argument(
        "--max-reason-bytes", type=int, default=DEFAULT_MAX_REASON_BYTES, help="bytes of a Drain reason"
    )


def admin_token_of(args: argparse.Namespace) -> str | None:
    """The admin token: from ``--admin-token-file``, ``--admin-token`` or the environment."""
    if args.admin_token_file is not None:
        return read_secret(args.admin_token_file)
    return args.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None


def config_of(args: argparse.Namespace) -> ServeConfig:
    """The ``ServeConfig`` of parsed arguments."""
    return ServeConfig(
        listen=args.listen,
        simulate=args.simulate,
        inventory=args.inventory,
        use_nvml=not args.no_nvml,
        state_dir=args.state_dir or default_state_dir(),
        journal_path=args.journal,
        journal_sync=args.journal_sync,
        policy=args.policy,
        seed=args.seed,
        min_runtime_s=args.min_runtime,
        insecure=args.insecure,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        admin_token=admin_token_of(args),
        tokens_file=Path(args.tokens_file) if args.tokens_file else None,
        metrics_port=args.metrics_port,
        http_port=args.http_port,
        max_message_bytes=args.max_message_bytes,
        compact_every=args.compact_every,
        shutdown_grace_s=args.shutdown_grace,
        max_replicas=args.max_replicas,
        max_replicas_per_tenant=args.max_replicas_per_tenant,
        max_load_entries=args.max_load_entries,
        list_page_size=args.list_page_size,
        max_reason_bytes=args.max_reason_bytes,
    )


def run(args: argparse.Namespace) -> int:
    """Runs the server until SIGTERM or SIGINT."""
    from gpuplane.daemon.server import serve

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(config_of(args)))
    except ValueError as e:
        logging.getLogger("gpuplane.daemon").error("%s", e)
        return 2
    return 0
