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
# The VGG16 patch-LPIPS checks need assets/lpips/vgg.safetensors (59 MB, made by
# scripts/setup.sh, not committed); they skip without it. With the device tool, carry it in a
# call of its own before the binaries: the two do not fit in one 64 MiB transfer.
#   SKIP_TESTS  when set, leaves out the conformance and CLI tests; SKIP_BENCH, the bench of
#               the fresh avatar: with them a run fits the device tool's 10 minutes per call
#               (e.g. the tests and bench in one call, SKIP_TESTS=1 SKIP_BENCH=1 DATASET=synth
#               PRESET=paper TRAIN_BACKENDS="cuda cuda-fp16" in the next)
#   PROFILE     when set, Nsight Compute's per-kernel times of one 512×512 frame
#   PROFILE_TRAIN  when set, Nsight Compute's per-kernel times of training steps (the paper
#               preset on DATASET, or on a small synthetic dataset made here), with the MLPs
#               in fp32 and in half precision
#   DATASET     a tracked dataset for the training benchmark (default: none, skipped; `synth`:
#               a synthetic one made here). The avatar the CUDA backend trains is then
#               benchmarked too (`bench --avatar`): its frames stop where it is opaque, as an
#               application's do; the frame goal is judged with PRESET=paper
#   TRAIN_SECONDS  training time per backend (default 60)
#   PRESET      model preset of the training benchmark (default fast)
#   TRAIN_BACKENDS  backends to train on, in turn (default "cuda cuda-fp16 cpu"; cuda-fp16
#               is the CUDA backend with --gpu-mlp fp16)
#   SNAPSHOT_SECONDS  copy the latest checkpoint this often and evaluate each copy on the
#               held-out frames afterwards (with CHECKPOINT_EVERY steps between checkpoints)
set -uo pipefail
cd "$(dirname "$0")/.."

# "NAME PATH" of the two CUDA test executables, built in the release profile.
test_executables() {
    cargo test --release --locked -p nerf_avatar_cuda --test cuda_conformance \
        -p nerf_avatar_cli --test cuda_backend --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])'
}

if [[ ${1:-} == --prepare ]]; then
    set -e
    dir=${2:?usage: scripts/gpu_checks.sh --prepare DIR}
    mkdir -p "$dir"
    cargo build --release --locked -p nerf_avatar_cli
    while read -r name path; do
        strip -o "$dir/$name" "$path"
    done <<<"$(test_executables)"
    strip -o "$dir/nerf-avatar" target/release/nerf-avatar
    echo "$PWD/target/release/nerf-avatar" >"$dir/cli-path"
    tar -C "$dir" -cJf "$dir/binaries.tar.xz" nerf-avatar cuda_conformance cuda_backend cli-path
    rm "$dir/nerf-avatar" "$dir/cuda_conformance" "$dir/cuda_backend"
    ls -l "$dir"
    exit 0
fi

out=${OUT:-out/gpu}
mkdir -p "$out"
# A GPU that cannot be used, or NVRTC missing, fails the tests instead of skipping them.
export NERF_AVATAR_REQUIRE=gpu,nvrtc
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
    while read -r name path; do
        cp "$path" "$BIN/$name"
    done <<<"$(test_executables)"
elif [[ -f $BIN/binaries.tar.xz ]]; then
    tar -C "$BIN" -xJf "$BIN/binaries.tar.xz"
    # The CLI tests run the binary at the path cargo built it at.
    cli=$(cat "$BIN/cli-path")
    mkdir -p "$(dirname "$cli")"
    [[ -e $cli ]] || cp "$BIN/nerf-avatar" "$cli"
fi

if [[ ${DATASET:-} == synth ]]; then
    DATASET=$out/synth
    "$BIN/nerf-avatar" synth --out "$DATASET" --frames 120 --size 256 >/dev/null 2>&1 || exit 1
fi

if [[ -z ${SKIP_TESTS:-} ]]; then
    step "kernel conformance"
    timeout 150 "$BIN/cuda_conformance" --test-threads 4 2>&1 | tee "$out/conformance.log"

    # (The CLI tests' emulated runs are left out: they exercise the CPU emulator, not the GPU.)
    step "CLI on the GPU"
    timeout 120 "$BIN/cuda_backend" --test-threads 2 --skip emulated 2>&1 | tee "$out/cuda_backend.log"
fi

if [[ -z ${SKIP_BENCH:-} ]]; then
    step "bench"
    timeout 150 "$BIN/nerf-avatar" bench --backend cuda --quick --json "$out/bench.json" 2>&1 | tee "$out/bench.log"
fi

if [[ -n ${PROFILE:-} ]]; then
    # Per-kernel GPU time of one 512×512 frame of a fresh paper avatar (Nsight Compute).
    step "profile"
    ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
    "$BIN/nerf-avatar" init --out "$out/profile.avatar.safetensors" --preset paper >/dev/null 2>&1
    timeout 120 "$ncu" --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
        "$BIN/nerf-avatar" render "$out/profile.avatar.safetensors" --out "$out/profile.png" \
        --size 512x512 --backend cuda >"$out/profile.log" 2>&1
    grep -E "^  [a-z_0-9]+|gpu__time_duration" "$out/profile.log" | head -60
fi

if [[ -n ${PROFILE_TRAIN:-} ]]; then
    # Per-kernel GPU time of training steps after the first ones: where a step's time goes.
    ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
    profile_data=${DATASET:-$out/profile-synth}
    [[ -n ${DATASET:-} ]] || "$BIN/nerf-avatar" synth --out "$profile_data" --frames 40 --size 128 >/dev/null 2>&1
    for mlp in fp32 fp16; do
        step "profile training ($mlp MLPs)"
        timeout 240 "$ncu" --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
            --launch-skip 300 --launch-count 400 \
            "$BIN/nerf-avatar" train "$profile_data" --out "$out/profile-train.avatar.safetensors" \
            --preset paper --steps 40 --no-lpips --backend cuda --gpu-mlp "$mlp" \
            >"$out/profile-train-$mlp.log" 2>&1
        grep -E "^  [a-z_0-9]+|gpu__time_duration" "$out/profile-train-$mlp.log" | head -80
    done
fi

if [[ -n ${DATASET:-} ]]; then
    seconds=${TRAIN_SECONDS:-60}
    preset=${PRESET:-fast}
    minutes=$(python3 -c "print($seconds / 60)")
    for backend in ${TRAIN_BACKENDS:-cuda cuda-fp16 cpu}; do
        case $backend in
            cuda-fp16) backend_args=(--backend cuda --gpu-mlp fp16) ;;
            *) backend_args=(--backend "$backend") ;;
        esac
        step "train $backend ($preset, $seconds s)"
        avatar=$out/$backend.avatar.safetensors
        checkpoint=$out/$backend.checkpoint.safetensors
        snapshots=
        if [[ -n ${SNAPSHOT_SECONDS:-} ]]; then
            # Copies of the latest checkpoint as the run goes (each records its step and
            # training time), evaluated afterwards: held-out quality against training time.
            (for ((i = 1; ; i++)); do
                sleep "$SNAPSHOT_SECONDS"
                [[ -f $checkpoint ]] && cp "$checkpoint" "$out/snapshot-$i.checkpoint"
            done) &
            snapshots=$!
        fi
        timeout $((seconds + 60)) "$BIN/nerf-avatar" train "$DATASET" --out "$avatar" \
            --preset "$preset" --minutes "$minutes" --no-lpips \
            --checkpoint-every "${CHECKPOINT_EVERY:-1000000}" \
            "${backend_args[@]}" 2>&1 | tr '\r' '\n' | grep -v '^\s*$' | tail -5 | tee "$out/train-$backend.log"
        [[ -n $snapshots ]] && kill "$snapshots"
        timeout 120 "$BIN/nerf-avatar" info "$avatar" --json >"$out/info-$backend.json"
        timeout 90 "$BIN/nerf-avatar" eval "$avatar" "$DATASET" --split test \
            --no-lpips --backend cuda --report "$out/report-$backend" 2>&1 | tail -5 | tee "$out/eval-$backend.log"
        cp "$out/report-$backend/metrics.json" "$out/metrics-$backend.json" 2>/dev/null
        for snapshot in "$out"/snapshot-*.checkpoint; do
            [[ -f $snapshot ]] || continue
            name=$(basename "$snapshot" .checkpoint)
            # The avatar inside a checkpoint is its own asset file, stored as a U8 tensor.
            python3 -c 'import json, sys
from safetensors import safe_open
from safetensors.numpy import load_file
open(sys.argv[2], "wb").write(load_file(sys.argv[1])["avatar"].tobytes())
with safe_open(sys.argv[1], "np") as f:
    print(f.metadata()["nerf_avatar.checkpoint"])' "$snapshot" "$out/$name.avatar.safetensors" >"$out/$name.state.json"
            timeout 60 "$BIN/nerf-avatar" eval "$out/$name.avatar.safetensors" "$DATASET" --split test \
                --no-lpips --backend cuda --report "$out/report-$name" >/dev/null 2>&1
            echo "$name: $(cat "$out/$name.state.json") held-out PSNR" \
                "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["psnr"])' "$out/report-$name/metrics.json" 2>/dev/null)"
            rm -f "$snapshot" "$out/$name.avatar.safetensors"
        done
    done
    if [[ -f $out/cuda.avatar.safetensors ]]; then
        step "bench of the avatar trained on the GPU"
        timeout 150 "$BIN/nerf-avatar" bench --backend cuda --quick --avatar "$out/cuda.avatar.safetensors" \
            --json "$out/bench-trained.json" 2>&1 | tee "$out/bench-trained.log"
    fi
fi
step "done"
