#!/usr/bin/env bash
# Runs every Bevy example in its screenshot mode (`--frames N --screenshot PATH`) under a
# virtual X display (xvfb-run) with Mesa's CPU Vulkan driver (lavapipe), and checks that each
# wrote its PNG. Screenshots go to $OUT (default target/example-screenshots). Prints each
# example's frame-rate line. Needs mesa-vulkan-drivers, libvulkan1 and xvfb (scripts/setup.sh
# installs them).
#
# The examples and the CLI are built as `cargo test --workspace` builds them (the test
# profile, the whole workspace's features), so after the tests nothing is compiled again.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-${CARGO_TARGET_DIR:-target}/example-screenshots}
frames=${FRAMES:-20}
mkdir -p "$out"
command -v xvfb-run >/dev/null || { echo "check_examples.sh: error: xvfb-run is missing (scripts/setup.sh installs xvfb)" >&2; exit 1; }

cargo build --locked --profile test --workspace --examples --bins
bin=${CARGO_TARGET_DIR:-target}/debug
# The examples are started here rather than by cargo, without BEVY_ASSET_ROOT: they find the
# project's assets wherever they start.
unset BEVY_ASSET_ROOT

run() {
    local name=$1
    shift
    echo "check_examples.sh: $name"
    rm -f "$out/$name.png"
    xvfb-run -a -s "-screen 0 1280x720x24" \
        "$bin/examples/$name" "$@" --frames "$frames" --screenshot "$out/$name.png" 2>&1 \
        | grep -E "capture:|error|panicked" || true
    [[ -s $out/$name.png ]] || { echo "check_examples.sh: error: $name wrote no screenshot" >&2; exit 1; }
}

run avatar_scene
run drive_curves
run expression_editor --set jawOpen=0.6 --set browInnerUp=0.65 --set mouthSmileLeft=0.4
run reenact
dataset=$(mktemp -d)
trap 'rm -rf "$dataset"' EXIT
"$bin/nerf-avatar" synth --out "$dataset/synthetic" --frames 12 --size 64
run train --dataset "$dataset/synthetic" --steps 10 --out "$dataset/trained"
# An avatar that fails to load ends the screenshot mode at once with an error.
echo "not an avatar" > "$dataset/broken.avatar.safetensors"
if timeout 300 xvfb-run -a -s "-screen 0 1280x720x24" "$bin/examples/expression_editor" \
    "$dataset/broken.avatar.safetensors" --frames "$frames" --screenshot "$out/broken.png" >/dev/null 2>&1; then
    echo "check_examples.sh: error: expression_editor exited 0 with an avatar that cannot load" >&2
    exit 1
fi
echo "check_examples.sh: an avatar that cannot load ends the capture with an error"
echo "check_examples.sh: all examples wrote their screenshots to $out"
