"""``gpuplane place | release | status``: client commands against a running daemon."""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict

from gpuplane.commands.status_table import render


def add_connection(p: argparse.ArgumentParser) -> None:
    """Options every client command takes (defaults from $GPUPLANE_SERVER / $GPUPLANE_TOKEN)."""
    p.add_argument("--server", default=os.environ.get("GPUPLANE_SERVER", "127.0.0.1:50151"))
    p.add_argument("--token", default=os.environ.get("GPUPLANE_TOKEN"))
    p.add_argument("--tls-ca", help="CA of the server certificate (PEM); enables TLS")
    p.add_argument("--tls-cert", help="client certificate (PEM)")
    p.add_argument("--tls-key", help="client key (PEM)")
    p.add_argument("--timeout", type=float, default=10.0)


def client_of(args: argparse.Namespace):
    """A ``gpuplane.Client`` for the connection options."""
    from gpuplane.client import Client

    return Client(
        args.server,
        token=args.token,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        timeout=args.timeout,
    )


def register(commands: argparse._SubParsersAction) -> None:
    """Adds ``place``, ``release`` and ``status``."""
    place = commands.add_parser("place", help="place a workload on the daemon's GPUs")
    place.add_argument("id")
    place.add_argument("--memory-mib", type=int, default=0, help="memory per GPU")
    place.add_argument("--gpus", type=int, default=1, help="GPUs, all on one node")
    place.add_argument("--tenant", default="default")
    place.add_argument("--compute-milli", type=int, default=0)
    place.add_argument("--priority", type=int, default=0)
    place.add_argument("--not-preemptible", action="store_true")
    place.add_argument("--model", action="append", default=[], help="allowed GPU model (repeatable)")
    place.add_argument("--selector", action="append", default=[], metavar="KEY=VALUE")
    place.add_argument("--policy", default=None)
    place.add_argument("--json", action="store_true", help="print JSON")
    add_connection(place)
    place.set_defaults(run=run_place)

    release = commands.add_parser("release", help="release a placed workload")
    release.add_argument("id")
    release.add_argument("--json", action="store_true")
    add_connection(release)
    release.set_defaults(run=run_release)

    status = commands.add_parser("status", help="live table of GPUs, tenants and queues")
    status.add_argument("--watch", action="store_true", help="refresh until interrupted")
    status.add_argument("--interval", type=float, default=2.0)
    add_connection(status)
    status.set_defaults(run=run_status)


def _selector(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"gpuplane: --selector {item!r} is not KEY=VALUE")
        out[key] = value
    return out


def _print_placement(p: object, as_json: bool, verb: str) -> None:
    if as_json:
        print(json.dumps(asdict(p)))  # type: ignore[call-overload]
    else:
        print(f"{verb} {p.workload_id} on {p.node}: {', '.join(p.gpu_ids)} ({p.reason})")  # type: ignore[attr-defined]


def run_place(args: argparse.Namespace) -> int:
    """``gpuplane place``."""
    from gpuplane._core import Workload

    w = Workload(
        args.id,
        args.memory_mib,
        args.gpus,
        tenant=args.tenant,
        compute_milli=args.compute_milli,
        allowed_models=args.model,
        node_selector=_selector(args.selector),
        priority=args.priority,
        preemptible=not args.not_preemptible,
    )
    with client_of(args) as c:
        _print_placement(c.place(w, args.policy), args.json, "placed")
    return 0


def run_release(args: argparse.Namespace) -> int:
    """``gpuplane release``."""
    with client_of(args) as c:
        _print_placement(c.release(args.id), args.json, "released")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """``gpuplane status`` (``--watch``: redraw every ``--interval`` seconds)."""
    with client_of(args) as c:
        while True:
            table = render(c, args.server)
            if args.watch:
                print("\033[H\033[2J" + table, flush=True)
                time.sleep(args.interval)
            else:
                print(table)
                return 0
