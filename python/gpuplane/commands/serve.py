"""``gpuplane serve``: run the placement service."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from gpuplane.daemon.config import (
    DEFAULT_LISTEN,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MIN_RUNTIME_S,
    JOURNAL_SYNC_MODES,
    ServeConfig,
    default_state_dir,
)


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
    p.add_argument("--admin-token", help="bearer token of the admin")
    p.add_argument("--tokens-file", type=Path, help="tokens file: token -> tenant name or 'admin'")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES)
    p.add_argument("--compact-every", type=int, default=10_000, help="snapshot after this many operations")
    p.add_argument(
        "--shutdown-grace", type=float, default=10.0, help="seconds in-flight calls get on SIGTERM"
    )
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(run=run)


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
        admin_token=args.admin_token,
        tokens_file=args.tokens_file,
        metrics_port=args.metrics_port,
        max_message_bytes=args.max_message_bytes,
        compact_every=args.compact_every,
        shutdown_grace_s=args.shutdown_grace,
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
