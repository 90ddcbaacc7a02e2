"""A short run of the soak (``benches/soak.py``): mixed load on a real ``gpuplane serve`` on
loopback, with the server's memory checked to stay flat. The longer run is in BENCHMARKS.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parent.parent / "benches" / "soak.py"


def test_memory_stays_flat_under_mixed_load():
    done = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "40", "--threads", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "memory flat" in done.stdout
