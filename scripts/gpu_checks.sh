#!/usr/bin/env bash
# The CUDA backend's checks on a GPU machine, as one run: the kernel conformance tests, the
# CLI's CUDA tests, `bench --backend cuda`, and a training benchmark on a tracked dataset
# (GPU beside CPU in the same run). Every log lands in $OUT (default out/gpu).
#
# Needs the NVIDIA driver and NVRTC 13 (found at $NERF_AVATAR_NVRTC, in the cache where
# scripts/setup.sh puts it, under /usr/local/cuda*, or in a Python package nvidia-cuda-nvrtc).
# The binaries come from $BIN (default: built here with cargo):
#   $BIN/nerf-avatar, $BIN/cuda_conformance, $BIN/cuda_backend
# `scripts/gpu_checks.sh --prepare DIR` builds them here and copies them, stripped and
# compressed, into DIR, for a GPU machine without Rust (the test binaries look for the CLI
# at the absolute path cargo built it at, which the run re-creates).
#   DATASET     a tracked dataset for the training benchmark (default: none, skipped)
#   TRAIN_SECONDS  training time per backend (default 60)
#   PRESET      model preset of the training benchmark (default fast)
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} == --prepare ]]; then
    set -e
    dir=${2:?usage: scripts/gpu_checks.sh --prepare DIR}
    mkdir -p "$dir"
    cargo build --release --locked -p nerf_avatar_cli
    tests=$(cargo test --release --locked -p nerf_avatar --test cuda_conformance \
        -p nerf_avatar_cli --test cuda_backend --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])')
    while read -r name path; do
        strip -o "$dir/$name" "$path"
    done <<<"$tests"
    strip -o "$dir/nerf-avatar" target/release/nerf-avatar
    echo "$PWD/target/release/nerf-avatar" >"$dir/cli-path"
    tar -C "$dir" -cJf "$dir/binaries.tar.xz" nerf-avatar cuda_conformance cuda_backend cli-path
    rm "$dir/nerf-avatar" "$dir/cuda_conformance" "$dir/cuda_backend"
    ls -l "$dir"
    exit 0
fi

out=${OUT:-out/gpu}
mkdir -p "$out"
export NERF_AVATAR_REQUIRE_GPU=1
export NERF_AVATAR_CACHE=${NERF_AVATAR_CACHE:-/tmp/nerf-avatar-cache}
export RUST_BACKTRACE=1

step() { echo "=== $* ($(date +%T))"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$out/gpu.txt"
nproc

if [[ -z ${NERF_AVATAR_NVRTC:-} ]]; then
    for candidate in /usr/local/cuda/lib64 /usr/local/cuda*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib \
        $(python3 -c 'import nvidia, os; [print(os.path.join(p, "cu13", "lib")) for p in nvidia.__path__]' 2>/dev/null); do
        if [[ -f $candidate/libnvrtc.so.13 ]]; then
            export NERF_AVATAR_NVRTC=$candidate/libnvrtc.so.13
            break
        fi
    done
fi
echo "NVRTC: ${NERF_AVATAR_NVRTC:-(loader search)}"

if [[ -z ${BIN:-} ]]; then
    cargo build --release --locked -p nerf_avatar_cli || exit 1
    BIN=$out/bin
    mkdir -p "$BIN"
    cp target/release/nerf-avatar "$BIN/"
    for test in cuda_conformance cuda_backend; do
        package=nerf_avatar
        [[ $test == cuda_backend ]] && package=nerf_avatar_cli
        path=$(cargo test --release --locked -p $package --test $test --no-run --message-format=json 2>/dev/null \
            | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])')
        cp "$path" "$BIN/$test"
    done
elif [[ -f $BIN/binaries.tar.xz ]]; then
    tar -C "$BIN" -xJf "$BIN/binaries.tar.xz"
    # The CLI tests run the binary at the path cargo built it at.
    cli=$(cat "$BIN/cli-path")
    mkdir -p "$(dirname "$cli")"
    [[ -e $cli ]] || cp "$BIN/nerf-avatar" "$cli"
fi

step "kernel conformance"
timeout 150 "$BIN/cuda_conformance" --test-threads 4 2>&1 | tee "$out/conformance.log"

step "CLI on the GPU"
timeout 120 "$BIN/cuda_backend" --test-threads 2 2>&1 | tee "$out/cuda_backend.log"

step "bench"
timeout 150 "$BIN/nerf-avatar" bench --backend cuda --quick --json "$out/bench.json" 2>&1 | tee "$out/bench.log"

if [[ -n ${DATASET:-} ]]; then
    seconds=${TRAIN_SECONDS:-60}
    preset=${PRESET:-fast}
    minutes=$(python3 -c "print($seconds / 60)")
    for backend in cuda cpu; do
        step "train $backend ($preset, $seconds s)"
        timeout $((seconds + 60)) "$BIN/nerf-avatar" train "$DATASET" --out "$out/$backend.avatar.safetensors" \
            --preset "$preset" --minutes "$minutes" --no-lpips --checkpoint-every 1000000 \
            --backend "$backend" 2>&1 | tr '\r' '\n' | grep -v '^\s*$' | tail -5 | tee "$out/train-$backend.log"
        timeout 120 "$BIN/nerf-avatar" info "$out/$backend.avatar.safetensors" --json >"$out/info-$backend.json"
        timeout 90 "$BIN/nerf-avatar" eval "$out/$backend.avatar.safetensors" "$DATASET" --split test \
            --no-lpips --backend cuda --report "$out/report-$backend" 2>&1 | tail -5 | tee "$out/eval-$backend.log"
        cp "$out/report-$backend/metrics.json" "$out/metrics-$backend.json" 2>/dev/null
    done
fi
step "done"
