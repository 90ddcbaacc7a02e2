"""``gpuplane agent``: stream this host's GPU state (NVML) to a central ``gpuplane serve``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

import grpc

from gpuplane.agent import Agent, AgentConfig
from gpuplane.telemetry.nvml import Nvml


def register(commands: argparse._SubParsersAction) -> None:
    """Adds ``agent`` to the command line."""
    p = commands.add_parser(
        "agent",
        help="stream this host's GPU state (NVML) to a gpuplane server",
        description="Runs on each GPU host: discovers its GPUs through NVML and streams their memory, "
        "processes and health to a central `gpuplane serve`, reconnecting after failures. Processes "
        "started with GPUPLANE_WORKLOAD_ID in their environment count as placed by gpuplane; the "
        "memory of all others is reported as external usage.",
    )
    p.add_argument("--server", required=True, metavar="HOST:PORT", help="the gpuplane server")
    p.add_argument(
        "--interval", type=float, default=5.0, metavar="S", help="seconds between reports (default 5)"
    )
    p.add_argument(
        "--token",
        default=os.environ.get("GPUPLANE_TOKEN"),
        help="bearer token, an 'agent' or admin token (default: $GPUPLANE_TOKEN)",
    )
    p.add_argument("--tls-ca", type=Path, metavar="PEM", help="CA certificate of the server (enables TLS)")
    p.add_argument("--node", help="node name (default: this host's name)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs the agent until interrupted; 2 without an NVIDIA driver or when the server refuses it."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.interval <= 0:
        print("gpuplane agent: --interval must be positive", file=sys.stderr)
        return 2
    nvml = Nvml.open(node=args.node)
    if nvml is None:
        print(
            "gpuplane agent: no NVIDIA driver on this host (NVML not found); nothing to report",
            file=sys.stderr,
        )
        return 2
    with nvml:
        agent = Agent(AgentConfig(args.server, args.interval, args.token, args.tls_ca), nvml)
        gpus = len(agent.inventory.gpus)
        print(f"gpuplane agent: node {agent.inventory.node}, {gpus} GPU(s) -> {args.server}", flush=True)
        try:
            asyncio.run(agent.run())
        except grpc.aio.AioRpcError as e:
            print(
                f"gpuplane agent: the server refused this agent: {e.code().name}: {e.details()}",
                file=sys.stderr,
            )
            return 2
    return 0
