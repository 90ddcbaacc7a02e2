"""scripts/stacks/vllm.sh: its marker holds the hash of the script, so a stack installed by
another version of the install steps is reinstalled and one installed by this version is kept.
The reinstall is cut short by a ``python3`` that fails (no 6 GB download in a test)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "stacks" / "vllm.sh"
VENV = "vllm-0.32.0-torch-2.13.0"


def run_script(stacks: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    failing = bin_dir / "python3"
    failing.write_text("#!/bin/sh\necho 'python3 called' >&2\nexit 3\n")
    failing.chmod(0o755)
    env = {**os.environ, "GPUPLANE_STACKS": str(stacks), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def installed(stacks: Path, marker_text: str) -> Path:
    venv = stacks / VENV
    venv.mkdir(parents=True)
    (venv / ".gpuplane-stack-complete").write_text(marker_text)
    return venv


def test_a_stack_installed_by_this_script_is_kept(tmp_path):
    key = hashlib.sha256(SCRIPT.read_bytes()).hexdigest()
    venv = installed(tmp_path / "stacks", key + "\n")
    done = run_script(tmp_path / "stacks", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "vllm stack present" in done.stdout
    assert venv.exists()


def test_a_stack_installed_by_other_install_steps_is_reinstalled(tmp_path):
    venv = installed(tmp_path / "stacks", "")  # the marker of the version-only key
    done = run_script(tmp_path / "stacks", tmp_path)
    assert "installed by another version" in done.stdout
    assert "python3 called" in done.stderr  # the reinstall began: a fresh venv
    assert done.returncode == 3
    assert not (venv / ".gpuplane-stack-complete").exists()


def test_a_fresh_machine_installs(tmp_path):
    done = run_script(tmp_path / "stacks", tmp_path)
    assert "python3 called" in done.stderr
    assert done.returncode == 3
