"""Runs code in the vLLM stack's python (scripts/stacks/vllm.sh) against the gpuplane under test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gpuplane

VLLM_VERSION = "0.32.0"
TORCH_VERSION = "2.13.0"
HERE = Path(__file__).parent


def stack_python() -> Path:
    """The vLLM stack's python; fails (never skips) naming the install script when it is missing."""
    stacks = Path(os.environ.get("GPUPLANE_STACKS", Path.home() / ".cache" / "gpuplane-stacks"))
    venv = stacks / f"vllm-{VLLM_VERSION}-torch-{TORCH_VERSION}"
    if not (venv / ".gpuplane-stack-complete").exists():
        raise RuntimeError(f"the vLLM stack is not installed at {venv}: run scripts/stacks/vllm.sh")
    return venv / "bin" / "python"


def package_root() -> Path:
    """A directory holding only the gpuplane package under test (a link to it): where gpuplane is
    installed into site-packages, putting that whole directory on the stack's path would shadow
    the stack's own packages (numpy, protobuf, ...) with the test environment's."""
    package = Path(gpuplane.__file__).resolve().parent
    root = Path(tempfile.gettempdir()) / f"gpuplane-under-test-{os.getpid()}"
    link = root / "gpuplane"
    if not link.exists():
        root.mkdir(exist_ok=True)
        link.symlink_to(package, target_is_directory=True)
    return root


def environment() -> dict[str, str]:
    """The environment of a stack process: the gpuplane package under test first on its path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(package_root()), str(HERE)])
    env.update(VLLM_TARGET_DEVICE="cpu", HF_HUB_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE="1")
    env["GPUPLANE_VLLM_CHECK_MIRROR"] = "1"  # every step checks the core's counters against vLLM's
    return env


def run(
    script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Runs ``tests/vllm_stack/SCRIPT`` in the stack's python (``env`` added to its environment);
    raises with its output if it fails."""
    cmd = [str(stack_python()), str(HERE / script), *args]
    full_env = {**environment(), **(env or {})}
    done = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(
            f"{script} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
        )
    return done


def tiny_model(directory: Path) -> Path:
    """The tiny random Llama, built once in ``directory``."""
    run("tiny_model.py", str(directory))
    return directory


def results(script: str, model: Path, out: Path, *args: str) -> dict[str, Any]:
    """Runs ``tests/vllm_stack/SCRIPT MODEL OUT ARGS...`` in the stack's python and returns
    the JSON it wrote to ``out``."""
    run(script, str(model), str(out), *args)
    return json.loads(out.read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def openai_server(
    model: Path, log: Path, *args: str, env: dict[str, str] | None = None, start_timeout: float = 400
) -> Iterator[str]:
    """vLLM's OpenAI server on the tiny model (``args`` added to its command line, ``env`` to
    its environment), in the stack's python; yields its base URL once ``/health`` answers, and
    stops it after."""
    port = free_port()
    cmd = [str(stack_python()), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--skip-tokenizer-init", "--dtype", "float32"]
    cmd += ["--enforce-eager", "--max-model-len", "512", *args]
    with log.open("w") as out:
        server_env = {**environment(), **(env or {})}
        server = subprocess.Popen(cmd, env=server_env, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(server, url, log, start_timeout)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_healthy(server: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"vLLM's OpenAI server exited ({server.returncode}):\n{log.read_text()[-8000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    raise RuntimeError(f"vLLM's OpenAI server did not answer in {timeout} s:\n{log.read_text()[-8000:]}")


def post_json(url: str, body: dict[str, Any], timeout: float = 120) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, JSON body)`` of a POST."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


if __name__ == "__main__":
    print(stack_python(), file=sys.stderr)
