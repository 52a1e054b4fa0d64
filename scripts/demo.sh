#!/usr/bin/env bash
# Sets up and runs the main job on the built-in default: builds the `nerf-avatar` command,
# makes the default synthetic talking-head dataset, trains a `tiny` avatar on it with the
# CPU backend, evaluates it on the held-out frames (unseen expression combinations) and
# renders it with an edited expression from a turned camera; then shows the sample avatar
# talking in a lit Bevy scene (a window where there is a display, else a screenshot made on
# a virtual display with xvfb-run and Mesa's lavapipe). Everything lands in ./out (or $1).
# MINUTES (default 10) sets the training time.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out}"
minutes="${MINUTES:-10}"
mkdir -p "$out"

./scripts/setup.sh
cargo build --release --locked -p nerf_avatar_cli
bin=target/release/nerf-avatar

"$bin" synth --out "$out/synthetic"
"$bin" train "$out/synthetic" --out "$out/synthetic.avatar.safetensors" --preset tiny --minutes "$minutes"
"$bin" eval "$out/synthetic.avatar.safetensors" "$out/synthetic" --split test --report "$out/report"
"$bin" render "$out/synthetic.avatar.safetensors" --out "$out/edited.png" \
    --expression jawOpen=0.8,mouthSmileLeft=1,mouthSmileRight=1 --yaw 20 --pitch 5 --size 256x256
echo "done: dataset $out/synthetic, avatar $out/synthetic.avatar.safetensors," \
    "report $out/report/report.md, render $out/edited.png"

cargo build --release --locked --example avatar_scene
if [[ -n ${DISPLAY:-} ]]; then
    echo "showing the sample avatar in a Bevy scene (close the window to finish)"
    cargo run --release --locked --example avatar_scene
elif command -v xvfb-run >/dev/null; then
    xvfb-run -a -s "-screen 0 1280x720x24" cargo run --release --locked --example avatar_scene \
        -- --frames 60 --screenshot "$out/scene.png"
    echo "the sample avatar in a Bevy scene: $out/scene.png"
else
    echo "no display and no xvfb-run: run \`cargo run --release --example avatar_scene\` where there is a display"
fi
