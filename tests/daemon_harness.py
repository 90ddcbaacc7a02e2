"""Test harnesses for the daemon: an in-process server on a background event loop, and a real
``gpuplane serve`` subprocess on a loopback port."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from gpuplane.daemon.config import ServeConfig
from gpuplane.daemon.server import Daemon, start

STARTUP_TIMEOUT_S = 30.0


def make_config(tmp_path: Path, **kw: object) -> ServeConfig:
    """An open loopback server on port 0 over a simulated 2 x 8 H100 cluster, state in ``tmp_path``."""
    base = ServeConfig(listen="127.0.0.1:0", state_dir=tmp_path, use_nvml=False, simulate="2x8xH100-80GB")
    return replace(base, **kw)


class InProcess:
    """A daemon served by a grpc.aio server on its own thread's event loop."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.daemon: Daemon = self.run(start(config))

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.daemon.port}"

    def run(self, coro: Any) -> Any:
        """Runs a coroutine on the server's loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(STARTUP_TIMEOUT_S)

    def stop(self) -> None:
        """Graceful stop, then ends the loop."""
        self.run(self.daemon.stop(grace=1.0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(STARTUP_TIMEOUT_S)
        self.loop.close()


@contextmanager
def in_process(config: ServeConfig) -> Iterator[InProcess]:
    """An :class:`InProcess` daemon, stopped on exit."""
    server = InProcess(config)
    try:
        yield server
    finally:
        server.stop()


class Process:
    """A real ``gpuplane serve`` subprocess on ``127.0.0.1:0`` (the port is read from stdout)."""

    def __init__(self, state_dir: Path, *extra: str, simulate: str = "2x8xH100-80GB"):
        self.state_dir = state_dir
        self.log = open(state_dir / "daemon.log", "ab")  # noqa: SIM115 - closed in wait()
        cmd = [sys.executable, "-m", "gpuplane", "serve", "--listen", "127.0.0.1:0", "--no-nvml"]
        cmd += ["--state-dir", str(state_dir), "--simulate", simulate, *extra]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, env=env)
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        timer = threading.Timer(STARTUP_TIMEOUT_S, self.proc.kill)
        timer.start()
        try:
            for raw in self.proc.stdout:
                line = raw.decode()
                if "listening on" in line:
                    return int(line.rsplit(":", 1)[1])
        finally:
            timer.cancel()
        raise RuntimeError(f"daemon exited with {self.proc.wait()} before listening; see {self.log.name}")

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def signal(self, sig: signal.Signals) -> None:
        """Sends ``sig`` to the daemon."""
        self.proc.send_signal(sig)

    def wait(self, timeout: float = STARTUP_TIMEOUT_S) -> int:
        """Waits for exit; returns the exit code."""
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def kill(self) -> int:
        """SIGKILL and wait."""
        self.proc.kill()
        return self.wait()


def watch_until(server: InProcess, last_kind: str) -> tuple[threading.Thread, list[Any]]:
    """Starts a ``WatchEvents`` stream on a thread that collects events until one of
    ``last_kind``; returns once the server has the subscriber (join the thread, then read)."""
    from gpuplane import Client

    events: list[Any] = []

    def watch() -> None:
        with Client(server.target) as c:
            for e in c.watch(timeout=10):
                events.append(e)
                if e.kind == last_kind:
                    return

    thread = threading.Thread(target=watch)
    thread.start()
    for _ in range(500):
        if server.daemon.engine.bus.has_subscribers():
            return thread, events
        threading.Event().wait(0.01)
    raise AssertionError("the watcher never subscribed")
