#!/usr/bin/env bash
# Ray stack for tests/test_ray_*.py and benches/bench_ray*.py: installs the pinned ray[serve]
# into the Python that runs the tests, only when that exact version is not importable already
# (a metadata check, well under a second, when present). Wheels are cached under $GPUPLANE_STACKS.
set -euo pipefail
RAY_VERSION="2.60.0"
PYTHON="${PYTHON:-python}"
STACKS="${GPUPLANE_STACKS:-$HOME/.cache/gpuplane-stacks}"

# Metadata, not an import (importing ray.serve takes seconds): ray at the pin, and the packages
# its serve extra adds.
present="from importlib.metadata import version as v; import sys
sys.exit(v('ray') != '$RAY_VERSION' or not all(v(p) for p in ('fastapi', 'uvicorn', 'starlette')))"
if "$PYTHON" -c "$present" 2>/dev/null; then
    echo "ray[serve]==$RAY_VERSION present"
    exit 0
fi
mkdir -p "$STACKS/ray-$RAY_VERSION"
"$PYTHON" -m pip install --cache-dir "$STACKS/ray-$RAY_VERSION/pip" "ray[serve]==$RAY_VERSION"
"$PYTHON" -c "import ray, ray.serve; print('ray', ray.__version__, 'installed')"
