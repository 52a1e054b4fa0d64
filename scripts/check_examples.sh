#!/usr/bin/env bash
# Runs every Bevy example in its screenshot mode (`--frames N --screenshot PATH`) under a
# virtual X display (xvfb-run) with Mesa's CPU Vulkan driver (lavapipe), and checks that each
# wrote its PNG. Screenshots go to $OUT (default target/example-screenshots). Prints each
# example's frame-rate line. Needs mesa-vulkan-drivers, libvulkan1, xvfb (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-${CARGO_TARGET_DIR:-target}/example-screenshots}
frames=${FRAMES:-20}
mkdir -p "$out"
command -v xvfb-run >/dev/null || { echo "check_examples.sh: error: xvfb-run is missing (apt-get install xvfb)" >&2; exit 1; }

run() {
    local name=$1
    shift
    echo "check_examples.sh: $name"
    rm -f "$out/$name.png"
    xvfb-run -a -s "-screen 0 1280x720x24" \
        cargo run --quiet --example "$name" -- "$@" --frames "$frames" --screenshot "$out/$name.png" 2>&1 \
        | grep -E "capture:|error|panicked" || true
    [[ -s $out/$name.png ]] || { echo "check_examples.sh: error: $name wrote no screenshot" >&2; exit 1; }
}

run avatar_scene
run drive_curves
run expression_editor --set jawOpen=0.6 --set browInnerUp=0.65 --set mouthSmileLeft=0.4
run reenact
dataset=$(mktemp -d)
trap 'rm -rf "$dataset"' EXIT
cargo run --quiet -p nerf_avatar_cli -- synth --out "$dataset/synthetic" --frames 12 --size 64
run train --dataset "$dataset/synthetic" --steps 10 --out "$dataset/trained"
echo "check_examples.sh: all examples wrote their screenshots to $out"
