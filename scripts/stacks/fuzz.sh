#!/usr/bin/env bash
# The fuzzing stack: cargo-fuzz, pinned, under $GPUPLANE_STACKS (scripts/fuzz_smoke runs it).
set -euo pipefail
CARGO_FUZZ_VERSION=0.13.2
STACK="${GPUPLANE_STACKS:-$HOME/.cache/gpuplane-stacks}/cargo-fuzz-$CARGO_FUZZ_VERSION"
if [ ! -x "$STACK/bin/cargo-fuzz" ]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$STACK"
fi
echo "cargo-fuzz $CARGO_FUZZ_VERSION present: $STACK"
