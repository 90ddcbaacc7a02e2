#!/usr/bin/env bash
# The fuzzing stack: cargo-fuzz (pinned) under $GPUPLANE_STACKS, then a bounded smoke run of
# each target in fuzz/ (FUZZ_RUNS inputs each; default 2000). cargo-fuzz needs nightly
# features: on a stable toolchain RUSTC_BOOTSTRAP=1 enables them.
set -euo pipefail
CARGO_FUZZ_VERSION=0.13.2
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
STACK="${GPUPLANE_STACKS:-$HOME/.cache/gpuplane-stacks}/cargo-fuzz-$CARGO_FUZZ_VERSION"
if [ ! -x "$STACK/bin/cargo-fuzz" ]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$STACK"
fi
export PATH="$STACK/bin:$PATH" RUSTC_BOOTSTRAP=1
cd "$ROOT/fuzz"
for target in snapshot_restore journal_replay request_validation; do
  cargo fuzz run "$target" --release -- -runs="${FUZZ_RUNS:-2000}" -max_len=4096
done
