"""Dependencies point from the edges to the core: the host agent and the client do not load the
daemon (each is checked in a fresh interpreter, so earlier imports cannot hide a violation)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["gpuplane.agent", "gpuplane.telemetry", "gpuplane.client"])
def test_module_does_not_import_the_daemon(module):
    code = (
        f"import sys, {module}\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('gpuplane.daemon'))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} loads {out.stdout.strip()}"
