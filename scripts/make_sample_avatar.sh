#!/usr/bin/env bash
# Regenerates the sample avatar of the Bevy examples, assets/sample.avatar.safetensors: the
# project's default synthetic talking head (`nerf-avatar synth`, 300 frames of 256²) trained
# with the `tiny` preset on the CPU for $MINUTES minutes (default 10, LPIPS patches in the last
# stage, so scripts/setup.sh runs first) and stored in f16 (~7 MB). The run is time-limited,
# so the result depends on the machine's speed (see assets/README.md for the committed file).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${MINUTES:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

./scripts/setup.sh
cargo build --release -p nerf_avatar_cli
bin=${CARGO_TARGET_DIR:-target}/release/nerf-avatar
"$bin" synth --out "$work/syn300"
"$bin" train "$work/syn300" --out "$work/sample.avatar.safetensors" --preset tiny \
    --minutes "$minutes" --f16
mkdir -p assets
mv "$work/sample.avatar.safetensors" assets/sample.avatar.safetensors
"$bin" info assets/sample.avatar.safetensors
