"""Runs code in the vLLM stack's python (scripts/stacks/vllm.sh) against the gpuplane under test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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
    return env


def run(script: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Runs ``tests/vllm_stack/SCRIPT`` in the stack's python; raises with its output if it fails."""
    cmd = [str(stack_python()), str(HERE / script), *args]
    done = subprocess.run(cmd, env=environment(), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(
            f"{script} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
        )
    return done


def tiny_model(directory: Path) -> Path:
    """The tiny random Llama, built once in ``directory``."""
    run("tiny_model.py", str(directory))
    return directory


def scenario_results(model: Path, out: Path, *engines: str) -> dict[str, Any]:
    """The results of ``scenarios.py`` for ``engines`` (all when none)."""
    run("scenarios.py", str(model), str(out), *engines)
    return json.loads(out.read_text())


def overlap_results(model: Path, out: Path) -> dict[str, Any]:
    """The results of ``overlap.py`` (async scheduling without a model)."""
    run("overlap.py", str(model), str(out))
    return json.loads(out.read_text())


if __name__ == "__main__":
    print(stack_python(), file=sys.stderr)
