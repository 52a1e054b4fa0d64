#!/usr/bin/env bash
# Sets up and runs the main job on the built-in default: builds the `nerf-avatar` command,
# makes a synthetic talking-head dataset, initialises an avatar for its controls, renders
# it, and runs the quick CPU benchmark. Everything lands in ./out (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out}"
mkdir -p "$out"

cargo build --release --locked -p nerf_avatar_cli
bin=target/release/nerf-avatar

"$bin" synth --out "$out/synthetic" --frames 60 --size 256 --seed 0
"$bin" init --out "$out/tiny.avatar.safetensors" --preset tiny \
    --blendshapes jawOpen,eyeBlinkLeft,eyeBlinkRight,mouthSmileLeft,mouthSmileRight,browInnerUp
"$bin" info "$out/tiny.avatar.safetensors"
"$bin" render "$out/tiny.avatar.safetensors" --out "$out/tiny.png" \
    --expression jawOpen=0.8,eyeBlinkLeft=1 --yaw 20 --pitch 5 --size 256x256
"$bin" bench --quick --json "$out/bench.json"
echo "done: dataset in $out/synthetic, avatar and render in $out/, benchmark in $out/bench.json"
